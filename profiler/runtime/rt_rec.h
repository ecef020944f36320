/* SPDX-License-Identifier: MIT
 *
 * rt_rec.h - the producer side of the rings (ring.h): per-thread state, the
 * re-entry guard and publication of records.
 *
 * A publication is rt_pub_begin, any number of rt_pub_write, rt_pub_end. Begin
 * waits for room, sets the ring's busy flag (ring.h, rt_shm.fence) and returns; the
 * caller then reads the clock, so every record it writes is covered by busy
 * (ring.h, "Ordering across threads"). A signal handler that allocates while
 * its thread is inside a publication gets RT_PUB_DEFERRED: its records go to
 * a small per-thread queue that the interrupted publication moves into the
 * ring before it ends, so the ring is never written by two contexts at once.
 */
#ifndef HG_RT_REC_H
#define HG_RT_REC_H

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_proc.h"

#include <stdint.h>

#define RT_EXPORT __attribute__((visibility("default")))
#define RT_LIKELY(x) __builtin_expect(!!(x), 1)
#define RT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Slots of the deferred queue: room for a few signal-handler events with
 * their stack records. A publication reserves this much extra ring space so
 * that draining the queue never has to wait while busy is set. */
#define RT_DQ_SLOTS 128u

struct rt_tls {
    int guard;           /* rt_guard_enter depth: allocations pass unrecorded */
    int in_hook;         /* inside a recording hook */
    int pub;             /* a publication owns this thread's ring */
    int unwinding;       /* inside the unwinder (not re-entrant) */
    int has_index;       /* thread_index is assigned */
    int registered;      /* RT_BLOB_THREAD was sent */
    int ringless;        /* found no free ring: later tries do not wait */
    int ended;           /* RT_BLOB_THREAD_END was sent */
    int is_main;
    uint32_t thread_index;
    struct rt_ring *ring;
    uint64_t wpos;       /* next slot to fill while pub is set */
    uint64_t room_end;   /* head may grow to here without reloading tail */
    uint64_t time_last;  /* the last event time read (rt_time_reused) */
    uint32_t time_tick;  /* rt_shm.tick when it was read */
    uint32_t time_reuse; /* events that may still take it */
    volatile uint32_t dq_head, dq_tail;
    struct rt_rec dq[RT_DQ_SLOTS];
};

extern __thread struct rt_tls rt_tls __attribute__((tls_model("initial-exec")));

enum rt_pub_how {
    RT_PUB_NONE = -1,    /* not recording (collector gone): write nothing */
    RT_PUB_DIRECT = 0,
    RT_PUB_DEFERRED = 1,
};

/* What the inline paths below may take for granted, set when the clock
 * and the fence are chosen (ring.h, "Ordering across threads"):
 * - free_time: a free's time may be a bare rdtsc (the TSC and membarrier).
 *   It only has to come before the free's own stores, which no CPU sees
 *   before the read retires, and under membarrier busy = 1 needs no lfence.
 * - alloc_time: an allocation's too, while no second thread of the process
 *   claimed a ring. Its lfence makes the read wait for the loads through
 *   which its allocator saw another thread's free; a thread claims a ring
 *   before its first free, and the flag is read after the real allocator
 *   returned (x86 keeps loads in order). rt_rec_claim only ever clears it.
 * - plain_busy: busy = 1 is a plain store (membarrier).
 * - tick: the collector's rt_shm.tick (a word never raised while there is
 *   no shared memory). */
struct rt_rec_fast {
    _Atomic int free_time, alloc_time, plain_busy;
    const _Atomic uint32_t *tick;
};
extern struct rt_rec_fast rt_rec_fast;

int rt_pub_begin_slow(uint32_t need);
void rt_pub_end_slow(void);

/* Opens a publication of at most `need` slots (at most RT_RING_SLOTS / 2).
 * Inline for the usual case (a ring with room, no signal handler inside a
 * publication, membarrier), which is every event's cost. */
static inline int rt_pub_begin(uint32_t need)
{
    struct rt_tls *t = &rt_tls;
    struct rt_ring *r = t->ring;
    if (RT_LIKELY(r && !t->pub &&
                  atomic_load_explicit(&rt_image.connected, memory_order_relaxed) &&
                  atomic_load_explicit(&rt_rec_fast.plain_busy, memory_order_relaxed))) {
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        if (RT_LIKELY(head + need + RT_DQ_SLOTS <= t->room_end)) {
            t->pub = 1;
            atomic_signal_fence(memory_order_seq_cst);
            /* a signal handler published before pub was set: the slow way */
            if (RT_LIKELY(atomic_load_explicit(&r->head, memory_order_relaxed) == head)) {
                atomic_store_explicit(&r->busy, 1, memory_order_relaxed);
                atomic_signal_fence(memory_order_seq_cst);
                t->wpos = head;
                return RT_PUB_DIRECT;
            }
            t->pub = 0;
            atomic_signal_fence(memory_order_seq_cst);
        }
    }
    return rt_pub_begin_slow(need);
}

void rt_pub_write(int how, const struct rt_rec *recs, uint32_t n);

/* Writes one record from its fields. Inline and straight into the ring: a
 * record built on the stack and copied was loaded back in wider pieces
 * than it had been stored in, which stalls store-to-load forwarding
 * (rt_pub_write was 4% of all CPU on ../shared/bench/pyalloc.py). */
static inline void rt_pub_rec(int how, uint32_t type, uint32_t u32, uint64_t time, uint64_t a,
                              uint64_t b)
{
    if (RT_LIKELY(how == RT_PUB_DIRECT)) {
        struct rt_tls *t = &rt_tls;
        struct rt_rec *s = &t->ring->slots[t->wpos & (RT_RING_SLOTS - 1)];
        s->type = type;
        s->u32 = u32;
        s->time_ns = time;
        s->a = a;
        s->b = b;
        t->wpos++;
        return;
    }
    struct rt_rec r = { .type = type, .u32 = u32, .time_ns = time, .a = a, .b = b };
    rt_pub_write(how, &r, 1);
}
/* Writes the header slot and payload of an RT_REC_BLOB at `time`. */
void rt_pub_blob(int how, uint32_t kind, const void *payload, uint32_t len, uint64_t time);

/* A payload in pieces, written back to back without a copy of the whole. */
struct rt_blob_part {
    const void *p;
    uint32_t len;
};

/* Publishes one RT_REC_BLOB of `kind` whose payload is the n parts in order
 * (at most RT_RING_SLOTS / 2 slots in all). */
void rt_ring_push_parts(uint32_t kind, const struct rt_blob_part *parts, unsigned n);

/* Ends a publication: publishes head and clears busy. Inline while no
 * signal handler queued records and the thread goes on. */
static inline void rt_pub_end(int how)
{
    if (how != RT_PUB_DIRECT)
        return;
    struct rt_tls *t = &rt_tls;
    struct rt_ring *r = t->ring;
    if (RT_LIKELY(t->dq_head == t->dq_tail)) {
        atomic_store_explicit(&r->head, t->wpos, memory_order_release);
        if (RT_LIKELY(t->dq_head == t->dq_tail)) {
            atomic_store_explicit(&r->busy, 0, memory_order_release);
            t->pub = 0;
            atomic_signal_fence(memory_order_seq_cst);
            if (RT_LIKELY(t->dq_head == t->dq_tail && !t->ended)) {
                /* The next record's line was last read by the collector:
                 * asking for it now hides the cross-core transfer behind
                 * the program's own work. */
                __builtin_prefetch(&r->slots[t->wpos & (RT_RING_SLOTS - 1)], 1);
                return;
            }
        }
    }
    rt_pub_end_slow();
}

/* The process ends here (_exit, or exit from a signal handler): if the
 * calling thread interrupted its own publication, that publication will
 * never resume. Publishes its complete records and then the signal
 * handlers' queued ones, so that what a handler allocated before ending
 * the process is not lost with the queue. */
void rt_pub_abandon(void);

/* Slots an RT_REC_BLOB of `len` payload bytes takes. */
static inline uint32_t rt_blob_slots(uint32_t len)
{
    return RT_BLOB_SLOTS(len);
}

/* Picks the event clock for a new shared memory (enum rt_clock, for
 * rt_shm.clock): the TSC where it is invariant and the kernel's clocksource,
 * else CLOCK_MONOTONIC. rt_event_time reads it from then on. */
uint32_t rt_clock_choose(void);


static inline uint64_t rt_rdtsc(void)
{
    uint32_t lo = 0, hi = 0;
#if defined(__x86_64__)
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
#endif
    return (uint64_t)hi << 32 | lo;
}

#define RT_TIME_REUSE 7u

/* Event times in a process whose one thread with a ring is the caller
 * (rt_rec_fast.alloc_time). An event takes the thread's last clock read
 * again, for up to RT_TIME_REUSE events within one collector tick
 * (rt_shm.tick), else reads the clock and notes it: the TSC read was 5-8%
 * of such a program's CPU (docs/benchmarks.md, "Python"), and after
 * allocations stopped reading it, a free's read was still 40% of the free's
 * hook. The ring's times then never step back, and its order is the
 * program's: the collector keeps a ring's order and compares times only
 * between rings (ring.h). An older time is safe across threads: another
 * thread's allocation of a block freed here reads the clock, since that
 * thread claimed a ring before, which ended the reuse; rt_event_time ends
 * it too, so no event is older than a record stamped by it (a collection,
 * a snapshot, a fork). A signal handler that runs in between can only give
 * an event a newer time, that of its own read. */
static inline uint64_t rt_time_noted(struct rt_tls *t, uint32_t tick)
{
    uint64_t v = rt_rdtsc();
    t->time_last = v;
    t->time_tick = tick;
    t->time_reuse = RT_TIME_REUSE;
    return v;
}

static inline uint64_t rt_time_reused(void)
{
    struct rt_tls *t = &rt_tls;
    uint32_t tick = atomic_load_explicit(rt_rec_fast.tick, memory_order_relaxed);
    if (RT_LIKELY(t->time_reuse && tick == t->time_tick)) {
        t->time_reuse--;
        return t->time_last;
    }
    return rt_time_noted(t, tick);
}

/* The event time of a free (or of the free half of a realloc), taken
 * before the block is released (rt_rec_fast). */
static inline uint64_t rt_free_time(void)
{
    if (RT_LIKELY(atomic_load_explicit(&rt_rec_fast.alloc_time, memory_order_relaxed)))
        return rt_time_reused();
    return RT_LIKELY(atomic_load_explicit(&rt_rec_fast.free_time, memory_order_relaxed))
               ? rt_rdtsc() : rt_event_time();
}

/* The event time of an allocation, taken after the real allocator returned. */
static inline uint64_t rt_alloc_time(void)
{
    return RT_LIKELY(atomic_load_explicit(&rt_rec_fast.alloc_time, memory_order_relaxed))
               ? rt_time_reused() : rt_event_time();
}

/* Picks how busy = 1 is made visible for a new shared memory (enum
 * rt_fence, for rt_shm.fence): registers the process for membarrier where
 * the kernel allows it. set_busy follows the choice from then on. */
uint32_t rt_fence_choose(void);

/* The shared memory new rings come from (NULL: none, not recording). */
void rt_rec_bind(struct rt_shm *shm);

/* Claims a free ring for the calling thread (CAS FREE -> ACTIVE). With
 * `wait`, waits about half a second while none is free (threads that end
 * give theirs back); not forever, since a program whose threads wait for
 * each other (a barrier of 200) would never go on. Returns NULL when no ring
 * became free, or when the collector went away (*gone = 1). */
struct rt_ring *rt_rec_claim(uint32_t thread_index, pid_t tid, int wait, int *gone);

/* Marks the calling thread's ring closed after its last record. */
void rt_rec_close(void);

/* In a forked child: forget the parent's rings and queue. */
void rt_rec_forget(void);

/* Reports that events were lost (a capture with a loss fails check's
 * capture gate): sets rt_shm.degraded, which the collector reads when the
 * image ends, and says it once per message and process image (a stderr
 * line and an RT_BLOB_LOSS). rt_note says something that is no loss (an
 * unwinder check's finding) the same way, as an RT_BLOB_NOTE. Neither ever
 * ends the target. rt_said_forget: a fork child says everything again. */
void rt_degrade(const char *msg);
void rt_note(const char *msg);
void rt_said_forget(void);

#endif
