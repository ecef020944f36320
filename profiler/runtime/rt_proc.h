/* SPDX-License-Identifier: MIT
 *
 * rt_proc.h - the life of the process image as the runtime sees it: start
 * (connect to the collector, HELLO with the shared memory), the recording
 * mode the hooks test, fork, exec and exit.
 */
#ifndef HG_RT_PROC_H
#define HG_RT_PROC_H

#include "profiler/ring.h"

#include <stdatomic.h>
#include <stdint.h>

enum rt_mode {
    RT_MODE_BOOT = 0, /* nothing resolved yet */
    RT_MODE_INIT,     /* starting: hooks pass through */
    RT_MODE_RECORD,   /* hooks record */
    RT_MODE_PASSIVE,  /* no collector: hooks pass through */
};

/* What a child the runtime did not see being made must not inherit: a
 * clone or fork system call made directly (raw clone, clone3,
 * syscall(SYS_fork), _Fork) runs no fork handler, and such a child would
 * go on writing into its parent's rings, which are shared memory. The page
 * holding this is marked MADV_WIPEONFORK, so such a child reads zeros here
 * (RT_MODE_BOOT, not connected): its first hook finds out what it is. */
struct rt_image {
    _Atomic int mode;      /* enum rt_mode; read by every hook with one relaxed load */
    _Atomic int connected; /* connected to the collector: recording */
    _Atomic int made;      /* 1 once this image recorded an allocation */
    char pad[4096 - 3 * sizeof(int)];
} __attribute__((aligned(4096)));

extern struct rt_image rt_image;

/* Starts the runtime once: resolves the real functions and, when
 * RT_ENV_SOCK is set, connects and begins recording. Called by the first
 * hook and by the library constructor, whichever comes first; a call made
 * while starting returns at once. */
void rt_proc_boot(void);

/* The shared memory of this process image, NULL when not connected. */
struct rt_shm *rt_proc_shm(void);

/* 1 when the collector hung up (checked while waiting for ring room). */
int rt_proc_collector_gone(void);

/* Stops recording for good (the collector is gone); says so once. */
void rt_proc_stop_recording(void);

/* Takes the exit snapshot of this process image, once: from the exit
 * handler, or earlier when an interpreter is about to tear itself down
 * (rt_pyexit.c). `sp`, when not 0, is where the calling thread's live frames
 * start (its stack is scanned from there, as from a call to exit()). */
void rt_proc_exit_snapshot(uintptr_t sp);

#endif
