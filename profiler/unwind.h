/* SPDX-License-Identifier: MIT
 *
 * unwind.h - call stacks for allocation events. One interface, one backend
 * (rt_unwind.c): libunwind's unw_backtrace, which on x86-64 walks with a
 * per-thread cache of unwind rules keyed by instruction address, so it is
 * right for code built without frame pointers (Debian's default) and costs
 * a hash lookup per frame once warm.
 */
#ifndef HG_UNWIND_H
#define HG_UNWIND_H

#include <stdint.h>

#define RT_MAX_FRAMES 64

/* Once per process image, before the first rt_unwind; may allocate (call it
 * under the re-entry guard). Finds the runtime's and libunwind's own code so
 * that their frames are never part of a recorded stack. */
void rt_unwind_init(void);

/* Once per thread before its first rt_unwind, under the guard: libunwind
 * sets up its per-thread cache on first use. */
void rt_unwind_thread_init(void);

/* Fills `out` with return addresses, innermost first, starting at the caller
 * of the hook (the runtime's and the unwinder's frames are dropped); at most
 * RT_MAX_FRAMES. A signal handler that interrupted the unwinder on the same
 * thread gets its stack from a second, independent unwinder (libgcc's);
 * one that interrupted both gets 0 frames. */
unsigned rt_unwind(uint64_t *out);

#endif
