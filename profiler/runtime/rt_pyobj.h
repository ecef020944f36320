/* SPDX-License-Identifier: MIT
 *
 * rt_pyobj.h - Python objects in heap snapshots (docs/architecture.md,
 * "Python objects"). Once the scanner (rt_scan.c) has the live blocks and
 * every other thread is stopped, rt_pyobj_begin finds which blocks hold a
 * Python object (a header whose type is a type object, at the offset the
 * type's flags put it: after the GC header and 3.11's managed-dict
 * pre-header) and which blocks an object owns (a list's items, a dict's
 * keys and values, an instance's inline values, attribute dicts). The
 * scanner then asks how to take each pointer: into an object's block only
 * the object's address is a reference (the collector's links between GC
 * headers are not), into a part the address its owner keeps is a start
 * pointer. It adds the local variables of every thread's Python frames as
 * roots, scans blocks only as far as they hold references (a list's items
 * up to its length, not a weak reference's referent), and at the end
 * rt_pyobj_emit publishes the types, objects, parts, texts, frames and the
 * collector's state (ring.h RT_REC_PYOBJ ...).
 *
 * In a process without a supported CPython everything here is a no-op and
 * every pointer is taken as it is. For a version without an object layout
 * (rt_python.h) only the header rule of pointers applies.
 */
#ifndef HG_RT_PYOBJ_H
#define HG_RT_PYOBJ_H

#include "profiler/ring.h"

#include <stddef.h>
#include <stdint.h>

/* The GC header before every object the collector tracks (PyGC_Head, 3.8+). */
#define RT_PY_GC_HEAD 16u

/* How the scanner takes a pointer into a live block. */
enum rt_pyref {
    RT_PYREF_ASIS = 0,   /* as for any block: start or interior by its offset */
    RT_PYREF_START,      /* how CPython refers to the block: a start pointer */
    RT_PYREF_DROP,       /* no reference (a GC header link, the inside of an object
                            or of a block an object owns) */
};

/* What the snapshot lends rt_pyobj: the live blocks (sorted by address),
 * the block containing an address, and whether memory is readable. */
struct rt_pyobj_scan {
    uint32_t snapshot_id;
    const struct rt_live *live;
    int64_t nlive;
    int64_t (*find)(const void *ctx, uintptr_t p);
    int (*readable)(const void *ctx, size_t *cursor, uintptr_t addr, uintptr_t end);
    uint32_t (*thread_index)(const void *ctx, int32_t tid);  /* UINT32_MAX: not known */
    const void *ctx;
    const uintptr_t (*data)[2];     /* the modules' writable segments, sorted, where static
                                       type objects live */
    size_t ndata;
};

/* Finds the objects and their parts. The struct must stay valid until
 * rt_pyobj_end. */
void rt_pyobj_begin(const struct rt_pyobj_scan *scan);

/* How to take a pointer `off` bytes into live block b. */
int rt_pyobj_ref(int64_t b, uint64_t off);

/* The bytes of block b (of `size`) that hold references: [*from, *len),
 * minus up to 4 words at the offsets put in skip (borrowed pointers such as
 * a weak reference's referent, a str's hash and state). Returns the number
 * of skip words. */
int rt_pyobj_words(int64_t b, uint64_t size, uint64_t *from, uint64_t *len, uint64_t skip[4]);

/* How many frame roots rt_pyobj_roots may add (room to reserve). */
size_t rt_pyobj_nframes(void);

/* Adds the locals and evaluation stack of every running Python frame as a
 * root: add(ctx, start, size, thread index) returns the root's id, or
 * UINT32_MAX when there is no room. */
void rt_pyobj_roots(uint32_t (*add)(void *ctx, uintptr_t start, uintptr_t size, uint32_t thread),
                    void *ctx);

/* Memory inside the roots that holds no references although it may read
 * as pointers: the stale entries of the interpreter's free lists, the
 * borrowed values of its attribute cache, the code units of the code
 * objects built into the interpreter's data. In [start, end), the `width`
 * bytes at each multiple of `stride` (stride 0: all of it). */
struct rt_pyhole {
    uintptr_t start, end;
    uint32_t stride, width;
};

/* The holes of this snapshot, sorted and apart, *n of them; valid until
 * rt_pyobj_end. */
const struct rt_pyhole *rt_pyobj_holes(size_t *n);

/* Publishes the snapshot's Python records (after its roots and edges). */
void rt_pyobj_emit(void);

/* Frees the snapshot's tables. */
void rt_pyobj_end(void);

/* For a free made during a garbage collection by the collecting thread
 * (rt_pygc.h): RT_F_GC, with RT_F_PYOBJ when the block held an object the
 * collector tracks (its GC header unlinked, its reference count 0 and a
 * type object as its type). p is still allocated; `size` is its usable size, 0
 * when not known (a pymalloc block: read with reads that cannot fault). */
uint32_t rt_pyobj_gc_free(const void *p, size_t size);

#endif
