/* SPDX-License-Identifier: MIT
 *
 * rt_pytype.h - CPython's type objects as the heap snapshot sees them: which
 * addresses are type objects (validated with reads that cannot fault), what
 * their instances look like (flags, sizes, the container kind, the named
 * pointer fields), and the id each one has in the capture, sent once per
 * type (RT_BLOB_PYTYPE). Also the few safe reads the Python side of the
 * runtime shares: a word, a struct, the text of a str object.
 *
 * A type is validated again in each snapshot (rt_pytype_begin starts one):
 * a class may have died and another object taken its address, which then
 * gets a new id. Between snapshots (the garbage collector's free hook) the
 * last verdict stands. One thread at a time: the snapshot runs with every
 * other thread stopped, the collector's hook holding the GIL.
 */
#ifndef HG_RT_PYTYPE_H
#define HG_RT_PYTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "profiler/runtime/rt_python.h"

/* Py_TPFLAGS_* that the runtime reads (stable from 3.8 to 3.13). */
#define RT_TPF_MANAGED_WEAKREF (1ul << 3)
#define RT_TPF_MANAGED_DICT (1ul << 4)
#define RT_TPF_HEAPTYPE (1ul << 9)
#define RT_TPF_READY (1ul << 12)
#define RT_TPF_HAVE_GC (1ul << 14)
#define RT_TPF_TYPE_SUBCLASS (1ul << 31)

struct rt_pytype {
    uintptr_t addr;              /* the type object */
    uintptr_t name_ptr;          /* tp_name: with flags and size, what tells a reused address */
    unsigned long flags;         /* tp_flags */
    int64_t basicsize, itemsize, dictoffset, weaklistoffset;
    uintptr_t cached_keys;       /* heap types: ht_cached_keys (3.11+), else 0 */
    uintptr_t members;           /* tp_members */
    uint32_t id;                 /* capture id, 0 until the type is first used */
    uint32_t stamp;              /* the snapshot that validated it */
    uint8_t is_type;             /* 0: the address is not a type object */
    uint8_t kind;                /* enum rt_py_kind */
    uint8_t sent;                /* its RT_BLOB_PYTYPE was published */
    uint8_t finalizer;           /* tp_del or tp_finalize */
};

/* Starts a snapshot: every type is validated again on first use. Returns 0,
 * or -1 when there is no interpreter or no memory for the table. */
int rt_pytype_begin(void);

/* The type object at t, or NULL when t is not one. With `revalidate` (in
 * snapshots), a verdict from an earlier snapshot is checked again. */
const struct rt_pytype *rt_pytype_get(uintptr_t t, int revalidate);

/* The type's capture id; publishes its RT_BLOB_PYTYPE the first time. */
uint32_t rt_pytype_id(const struct rt_pytype *t);

/* The text of the str object at `str` as UTF-8, at most cap - 1 bytes and
 * NUL-terminated; returns its length, 0 when it is not a compact str or
 * cannot be read. With `end` 0 every read is safe; otherwise the caller
 * vouches that [str, end) is readable (a live heap block), and the object
 * is read directly, within those bounds. */
size_t rt_pytype_str(uintptr_t str, uintptr_t end, char *buf, size_t cap);

#endif
