/* SPDX-License-Identifier: MIT
 *
 * rt_scan_stop.h - stopping every other thread of the process for a heap
 * snapshot, and what each stopped thread left behind: its stack pointer,
 * its registers and its thread pointer. Internal to the scanner
 * (rt_scan*.c); the recording core sees only rt_scan.h.
 *
 * A stop is a real-time signal (RT_STOP_SIGNAL) sent with tgkill. Its handler
 * saves the interrupted context and parks the thread on a futex until the
 * scanner releases it. A thread interrupted inside a recording hook is not
 * parked there: it parks when the hook ends (rt_scan_park_if_requested), so
 * that no thread is stopped between taking an event's time and publishing
 * the event, as rt_proc_request_live requires.
 */
#ifndef HG_RT_SCAN_STOP_H
#define HG_RT_SCAN_STOP_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* SIGRTMIN + 6: real-time, so queued and never merged with the program's
 * classic signals; the snapshot request uses SIGRTMIN + 7 by default. */
#define RT_STOP_SIGNAL (SIGRTMIN + 6)
#define RT_STOP_TIMEOUT_MS 1000
#define RT_STOP_BLOCKED_MS 100  /* give up sooner on threads that block the stop signal */

#define RT_STOP_NREGS 32

enum rt_stop_state {
    RT_STOP_SENT = 0, /* signalled, not yet answered */
    RT_STOP_IN_HOOK,  /* interrupted inside a hook: will park when it ends */
    RT_STOP_PARKED,   /* stopped; sp, regs and tp are valid */
    RT_STOP_GONE,     /* exited before it could be stopped */
    RT_STOP_TIMEOUT,  /* did not answer within RT_STOP_TIMEOUT_MS: still running */
};

struct rt_stopped {
    pid_t tid;
    uint32_t index;       /* thread index, UINT32_MAX for a thread the core never saw */
    uintptr_t stack_lo;   /* from the core; both 0 for a thread it never saw */
    uintptr_t stack_hi;
    int is_main;
    _Atomic int state;    /* enum rt_stop_state */
    uintptr_t sp;         /* stack pointer of the interrupted context */
    uintptr_t tp;         /* thread pointer (TCB address) */
    uintptr_t alt_lo;     /* the thread's alternate signal stack, if any */
    uintptr_t alt_hi;
    uint32_t nregs;
    uint64_t regs[RT_STOP_NREGS]; /* general-purpose registers, scanned as a root */
};

/* The threads of one stop; the array lives in runtime arena memory and is
 * never unmapped, because a signal that arrives late may still read it. */
struct rt_stop_set {
    struct rt_stopped *t;
    size_t n;
    struct rt_stopped self; /* the calling thread: tid, index, stack, tp, alternate stack
                               (no sp, no regs) */
    int partial;          /* some thread timed out */
};

/* Installs the stop signal's handler (SA_SIGINFO | SA_RESTART). */
void rt_stop_init(void);

/* Stops every thread but the caller: the core's threads, plus threads in
 * /proc/self/task that it never saw. Waits up to RT_STOP_TIMEOUT_MS for all
 * of them to park. Returns 0, or -1 when no memory could be had (nothing is
 * stopped then). */
int rt_stop_all(struct rt_stop_set *s);

/* Lets every parked thread run again. */
void rt_stop_release(struct rt_stop_set *s);

/* Address of the static TLS + TCB area of the thread whose thread pointer is
 * tp: [*lo, *hi). Returns 0, or -1 when glibc does not tell its layout. */
int rt_stop_tls_area(uintptr_t tp, uintptr_t *lo, uintptr_t *hi);

/* Where glibc puts the thread pointer of a thread whose stack mapping ends
 * at stack_end (a cached stack of an exited thread). 0 if unknown. */
uintptr_t rt_stop_tp_for_stack_end(uintptr_t stack_end);

/* The calling thread's thread pointer. */
uintptr_t rt_stop_self_tp(void);

#endif
