/* SPDX-License-Identifier: MIT
 *
 * unwind.h - call stacks for allocation events, with their stack-table key.
 * One interface, one implementation (rt_unwind.c): a walker that reads
 * .eh_frame rules (rt_cfi.c), so it is right for code built without frame
 * pointers (Debian's default), reuses the unchanged outer part of the
 * thread's previous stack, and hands a stack it cannot walk to libunwind.
 */
#ifndef HG_UNWIND_H
#define HG_UNWIND_H

#include "profiler/runtime/rt_stack.h"

#include <stdint.h>

#define RT_MAX_FRAMES 64

/* The registers of a hook's caller as the hook returns to it. */
struct rt_unwind_start {
    uint64_t ip; /* the hook's return address */
    uint64_t sp; /* the caller's stack pointer after the return */
    uint64_t bp; /* the caller's rbp */
};

/* Fills *at in a hook. The hook's file must be built with frame pointers
 * (profiler/CMakeLists.txt), which puts the caller's rbp and the return address at
 * the hook's frame address. */
#define RT_UNWIND_HERE(at) \
    do { \
        const uint64_t *fp_ = __builtin_frame_address(0); \
        (at)->ip = fp_[1]; \
        (at)->sp = (uint64_t)(uintptr_t)(fp_ + 2); \
        (at)->bp = fp_[0]; \
    } while (0)

/* Once per process image, before the first rt_unwind; may allocate (call it
 * under the re-entry guard). Finds the runtime's and libunwind's own code so
 * that their frames are never part of a recorded stack, and reads
 * HEAPGRAPH_UNWIND: "libunwind" (never walk), "check" (walk, compare with
 * libunwind, report differences), else the walker; takes libgcc's unwinder
 * from the libgcc_s the runtime links. libunwind is set up at its first use. */
void rt_unwind_init(void);

/* Once per thread before its first rt_unwind, under the guard: libunwind,
 * when the process has used it, sets up its per-thread cache on first use. */
void rt_unwind_thread_init(void);

/* 1 when ip is in libunwind's code (rt_fds.c: the pipe libunwind makes is
 * the runtime's). */
int rt_unwind_in_libunwind(uintptr_t ip);

/* Fork handlers. Before a fork: waits while another thread is inside
 * libunwind (a child copied then would find libunwind's lock held forever)
 * and keeps the others out until the fork is done. In the child: a walk
 * the fork interrupted (a signal handler of the walking thread forked)
 * leaves libunwind unused there; libgcc unwinds instead. */
void rt_unwind_fork_prepare(void);
void rt_unwind_fork_parent(void);
void rt_unwind_fork_child(void);

/* The calling thread's stack mapping; the walker starts only once it is
 * known and never reads outside it. rt_unwind_thread_end releases the
 * thread's walker when the thread ends (libunwind serves what follows). */
void rt_unwind_thread_bounds(uintptr_t lo, uintptr_t hi);
void rt_unwind_thread_end(void);

/* Fills `out` with return addresses, innermost first, starting at `at`
 * (the runtime's frames are dropped), at most RT_MAX_FRAMES, and *key with
 * their stack-table key; returns how many. A signal handler that
 * interrupted the unwinder on the same thread gets its stack from a second,
 * independent unwinder (libgcc's); one that interrupted both gets 0 frames. */
unsigned rt_unwind(const struct rt_unwind_start *at, uint64_t *out, struct rt_stack_key *key);

#endif
