/* SPDX-License-Identifier: MIT
 *
 * rt_pyobj.c - where a CPython object starts inside its heap block, for the
 * heap scanner (rt_scan.c).
 *
 * CPython allocates a tracked object as [pre-header][PyGC_Head][PyObject]:
 * the pre-header is two words (managed __dict__ and values) in 3.11 for
 * types with Py_TPFLAGS_MANAGED_DICT, and in 3.12 and 3.13 for types with
 * MANAGED_DICT or MANAGED_WEAKREF; PyGC_Head is two words from 3.8 on.
 * References point at the PyObject. A candidate header (a pointer 16 or 32
 * bytes into a block) is taken when its reference count is not negative
 * (0 for objects on the interpreter's free lists) and
 * its ob_type is a ready type object whose own type is a metatype
 * (Py_TPFLAGS_TYPE_SUBCLASS), and the type's flags put the header at that
 * offset. The first part of PyTypeObject (up to tp_flags at byte 168) has
 * not changed from 3.0 to 3.13. Type objects are read with
 * process_vm_readv, which fails instead of faulting on unmapped memory, and
 * each verdict is kept in a small table for the rest of the snapshot.
 */
#include "profiler/runtime/rt_pyobj.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_python.h"

#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define TP_FLAGS_OFF 168
#define F_MANAGED_WEAKREF (1ul << 3)
#define F_MANAGED_DICT (1ul << 4)
#define F_READY (1ul << 12)
#define F_HAVE_GC (1ul << 14)
#define F_TYPE_SUBCLASS (1ul << 31)
#define GC_HEAD 16u
#define PRE_HEADER 16u

#define TYPES 1024u /* power of two; the verdicts of one snapshot */

struct type_verdict {
    uintptr_t type;
    unsigned long flags; /* 0: not a type object */
};

static unsigned long preheader_flags;
static int values_prefix;
static struct type_verdict *types; /* NULL: not a CPython process */

void rt_pyobj_begin(void)
{
    const struct rt_py *py = rt_py_get();
    if (!py)
        return;
    uint32_t v = py->layout->version;
    preheader_flags = v >= 0x030c0000 ? F_MANAGED_DICT | F_MANAGED_WEAKREF
                    : v >= 0x030b0000 ? F_MANAGED_DICT : 0;
    values_prefix = v >= 0x030b0000 && v < 0x030d0000;
    if (!types)
        types = rt_arena_alloc(TYPES * sizeof *types);
    else
        memset(types, 0, TYPES * sizeof *types);
}

/* Reads one word at addr; 0 when it is not mapped readable. */
static int read_word(uintptr_t addr, unsigned long *out)
{
    struct iovec local = { out, sizeof *out };
    struct iovec remote = { (void *)addr, sizeof *out };
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)sizeof *out;
}

/* The flags of the type object at t, or 0 when t is not one. */
static unsigned long check_type(uintptr_t t)
{
    unsigned long flags, meta, meta_flags;
    if (!read_word(t + TP_FLAGS_OFF, &flags) || !(flags & F_READY))
        return 0;
    if (!read_word(t + 8, &meta) || !read_word(meta + TP_FLAGS_OFF, &meta_flags))
        return 0;
    return meta_flags & F_TYPE_SUBCLASS ? flags : 0;
}

static unsigned long type_flags(uintptr_t t)
{
    if (t & 7)
        return 0;
    struct type_verdict *v = &types[(t >> 4) * 0x9E3779B97F4A7C15ull >> 54 & (TYPES - 1)];
    if (v->type != t) {
        v->type = t;
        v->flags = check_type(t);
    }
    return v->flags;
}

/* A GC-tracked object's header after its GC header (and pre-header). */
static int object_header(uintptr_t addr, uint64_t size, uint64_t off)
{
    if ((off != GC_HEAD && off != GC_HEAD + PRE_HEADER) || size < off + 16)
        return 0;
    const uintptr_t *obj = (const uintptr_t *)(addr + off);
    if ((intptr_t)obj[0] < 0) /* 0: kept on a free list for reuse */
        return 0;
    unsigned long flags = type_flags(obj[1]);
    if (!(flags & F_HAVE_GC))
        return 0;
    return off == GC_HEAD + (flags & preheader_flags ? PRE_HEADER : 0);
}

/* The values of a split dict (3.11, 3.12): n pointers after a prefix of
 * round_up(n + 2, 8) bytes whose last byte holds the prefix's size; the
 * dict and the object's pre-header point past the prefix. */
static int dict_values(uintptr_t addr, uint64_t size, uint64_t off)
{
    if (!values_prefix || off % 8 || off > 255 || size <= off || (size - off) % 8)
        return 0;
    uint64_t n = (size - off) / 8;
    return ((n + 2 + 7) & ~(uint64_t)7) == off && *(const uint8_t *)(addr + off - 1) == off;
}

int rt_pyobj_ref(uintptr_t addr, uint64_t size, uint64_t off)
{
    return types && (object_header(addr, size, off) || dict_values(addr, size, off));
}
