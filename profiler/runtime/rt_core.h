/* SPDX-License-Identifier: MIT
 *
 * rt_core.h - what the runtime's recording core (hooks, rings, threads,
 * modules, process life) offers to the runtime's other parts, chiefly the heap
 * scanner (rt_scan.c). Everything here is safe to call from inside a hook and
 * never calls the allocator that the runtime watches.
 */
#ifndef HG_RT_CORE_H
#define HG_RT_CORE_H

#include "profiler/ring.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Memory for the runtime's own use: mmap-backed, zeroed, never a root and
 * never counted. Returns NULL when mmap fails. rt_arena_free takes the size
 * that was asked for. */
void *rt_arena_alloc(size_t size);
void rt_arena_free(void *p, size_t size);

/* System calls made directly, past any interposed libc function:
 * rt_raw_syscall returns the kernel's result (-errno on failure) and sets
 * no errno; rt_raw_mmap returns MAP_FAILED on failure. */
long rt_raw_syscall(long nr, long a, long b, long c, long d, long e, long f);
void *rt_raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int rt_raw_munmap(void *addr, size_t len);

/* Address ranges that are mapped but are not the program's own memory, which
 * the heap scanner must not read as roots: the runtime's arena and rings,
 * and what the program's allocator maps for itself (its heaps and metadata,
 * rt_mmap.c). rt_region_add enters a range of the runtime's,
 * [start, start + size); rt_region_remove drops the one that starts at
 * `start`. rt_region_add_alloc enters an allocator's mapping;
 * rt_region_unmapped takes [start, start + size) out of the allocator's
 * ranges (a munmap of any part of them) and returns 1 if it overlapped one.
 * rt_regions_list copies up to `max` ranges of both kinds into `out` and
 * returns how many there are. All are lock-free and safe in signal
 * handlers. */
struct rt_range {
    uintptr_t start, end;
};
void rt_region_add(uintptr_t start, size_t size);
void rt_region_remove(uintptr_t start);
void rt_region_add_alloc(uintptr_t start, size_t size);
int rt_region_unmapped(uintptr_t start, size_t size);
size_t rt_regions_list(struct rt_range *out, size_t max);

/* Per-thread re-entry guard. While it is held, allocations by the calling
 * thread go to libc unrecorded (the runtime's own calls into libc, libunwind
 * or the dynamic linker). Returns the previous state for rt_guard_leave. */
int rt_guard_enter(void);
void rt_guard_leave(int prev);

/* Nonzero while the calling thread is inside a recording hook (between taking
 * its event time and publishing the event), when it must not be parked. */
int rt_in_hook(void);

/* Publishes records into the calling thread's ring, waiting while it is full.
 * rt_ring_push takes nslots contiguous slots (a record and its continuation
 * slots); rt_ring_push_blob frames a payload as RT_REC_BLOB of `kind`. */
void rt_ring_push(const struct rt_rec *recs, uint32_t nslots);
void rt_ring_push_blob(uint32_t kind, const void *payload, uint32_t len);

/* CLOCK_MONOTONIC in nanoseconds (messages, timeouts). */
uint64_t rt_now_ns(void);

/* The event clock of ring records (ring.h, rt_shm.clock). */
uint64_t rt_event_time(void);

struct rt_thread_info {
    pid_t tid;
    uint32_t index;       /* the thread index used in ring records */
    pthread_t handle;
    uintptr_t stack_lo;   /* lowest address of the thread's stack mapping */
    uintptr_t stack_hi;   /* one past its highest address (static TLS and the TCB lie below it) */
    int is_main;
};

/* Copies up to `max` entries describing the live threads of the process
 * (the main thread included) into `out`; returns how many there are, which
 * may exceed `max`. */
size_t rt_threads_list(struct rt_thread_info *out, size_t max);

/* The module id (as sent in RT_BLOB_MODULE) of the loaded object whose
 * segments contain `addr`, 0 if none. rt_modules_self() is the runtime's own. */
uint32_t rt_modules_id_at(uintptr_t addr);
uint32_t rt_modules_self(void);

/* 1 when this process image is connected to a collector and recording. */
int rt_proc_recording(void);

/* 1 when this process image can hold no recorded block: it made none and
 * inherited none (it is not a fork child). */
int rt_proc_no_blocks(void);

/* Asks the collector for the process's live blocks (RT_MSG_SNAP_REQ, answered
 * by RT_MSG_SNAP_LIVE). Every other thread must be stopped outside a hook. On
 * success maps the blocks read-only into *out and returns their count; the
 * caller releases them with rt_proc_release_live. Returns -1 when the
 * collector is gone or the answer is malformed. */
int64_t rt_proc_request_live(uint32_t snapshot_id, uint32_t reason, const struct rt_live **out);
void rt_proc_release_live(const struct rt_live *live, int64_t count);

/* The main thread's clean point: the stack pointer in the __libc_start_main
 * wrapper, above every frame of main and its callees. 0 if unknown. */
uintptr_t rt_proc_clean_sp(void);

/* The stack pointer of the program's explicit call to exit() (0 if the
 * program returned from main instead), and the thread that made it. */
uintptr_t rt_proc_exit_sp(void);
pid_t rt_proc_exit_tid(void);

#endif
