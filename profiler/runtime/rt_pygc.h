/* SPDX-License-Identifier: MIT
 *
 * rt_pygc.h - what CPython's cyclic garbage collector does while the
 * process is recorded. At the interpreter's first safe point (rt_pyexit.c)
 * the runtime appends a C function to gc.callbacks and says what
 * gc.get_stats() counted until then (RT_GC_BEFORE per generation). The
 * function records each collection (RT_GC_COLLECTION: generation, start and
 * end, collected, uncollectable) and, between its "start" and "stop" calls,
 * marks the collecting thread, so that the frees it makes are said to be
 * the collector's (RT_F_GC, with RT_F_PYOBJ for an object).
 */
#ifndef HG_RT_PYGC_H
#define HG_RT_PYGC_H

#include <stddef.h>
#include <stdint.h>

/* Set on the thread that collects, from the end of the "start" callback to
 * the beginning of the "stop" one. */
extern __thread int rt_pygc_collecting __attribute__((tls_model("initial-exec")));

/* Holding the GIL, in the main interpreter: installs the callback and sends
 * the totals before it. Errors are cleared: the program never sees them. */
void rt_pygc_install(void);

/* For a free on the collecting thread: the record's flags (RT_F_GC and
 * RT_F_PYOBJ), 0 for the first free of a block that begins where one of the
 * objects the callbacks themselves were handed does (its GC header first).
 * `size` is the block's usable size, 0 when not known (pymalloc). */
uint32_t rt_pygc_free_flags(const void *p, size_t size);

#endif
