/* SPDX-License-Identifier: MIT
 *
 * rt_rec.c - writes records into the calling thread's ring (ring.h).
 *
 * Each thread is the only producer of its ring, so publishing is plain
 * stores and one release store of head; where the kernel has membarrier the
 * collector pays for the watermark's fence (ring.h), else a full fence after
 * setting busy is the only cross-thread cost. A
 * thread may still be interrupted by a signal handler that allocates: such a
 * nested publication queues its records (rt_tls.dq) and the interrupted one
 * moves them into the ring before it clears busy. A full ring makes the
 * producer wait; if the collector has gone away the runtime stops recording
 * instead of hanging the program.
 */
#include "profiler/runtime/rt_rec.h"

#include "profiler/runtime/rt_proc.h"
#include "profiler/runtime/rt_thread.h"

#if defined(__x86_64__)
#include <sys/platform/x86.h>
#endif
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__thread struct rt_tls rt_tls __attribute__((tls_model("initial-exec")));

static struct rt_shm *shm;

#define SLOT_MASK (RT_RING_SLOTS - 1)
#define CLAIM_TRIES 2500 /* about half a second of waiting for a free ring */

int rt_guard_enter(void)
{
    int prev = rt_tls.guard;
    rt_tls.guard = 1;
    return prev;
}

void rt_guard_leave(int prev)
{
    rt_tls.guard = prev;
}

int rt_in_hook(void)
{
    return rt_tls.in_hook || rt_tls.pub;
}

uint64_t rt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int tsc_clock; /* rt_shm.clock is RT_CLOCK_TSC */
static int locked_fence = 1; /* rt_shm.fence is RT_FENCE_LOCKED */
static _Atomic uint32_t rings_claimed; /* by the threads of this image */

static const _Atomic uint32_t no_tick;
struct rt_rec_fast rt_rec_fast = { .tick = &no_tick };

/* Set while the image has one thread (its start, a fork child). */
static void plain_update(void)
{
    int plain = tsc_clock && !locked_fence;
    atomic_store(&rt_rec_fast.free_time, plain);
    atomic_store(&rt_rec_fast.alloc_time, plain && atomic_load(&rings_claimed) < 2);
    atomic_store(&rt_rec_fast.plain_busy, !locked_fence);
}

uint64_t rt_event_time(void)
{
    rt_tls.time_reuse = 0;
#if defined(__x86_64__)
    if (RT_LIKELY(tsc_clock)) {
        uint32_t lo, hi;
        /* lfence: the read waits for every earlier load (ring.h,
         * "Ordering across threads") and a locked busy exchange. */
        __asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) :: "memory");
        return (uint64_t)hi << 32 | lo;
    }
#endif
    return rt_now_ns();
}

/* 1 when the kernel keeps time with the TSC: it does so only while the TSC
 * is synchronized across CPUs and stable, and demotes it otherwise. */
static int kernel_uses_tsc(void)
{
    char buf[32];
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n == 4 && memcmp(buf, "tsc\n", 4) == 0;
}

/* Chosen once per image: a fork child keeps its parent's choice (the file
 * costs three system calls, on every fork otherwise). */
uint32_t rt_clock_choose(void)
{
    static int chosen;
    if (chosen)
        return tsc_clock ? RT_CLOCK_TSC : RT_CLOCK_MONOTONIC;
    tsc_clock = 0;
#if defined(__x86_64__)
    /* CPUID 0x80000007 EDX bit 8: invariant TSC (Linux's constant_tsc and
     * nonstop_tsc), as the dynamic linker read it at start: a CPUID of our
     * own traps to the hypervisor in a VM (two of them were 30 us of every
     * recorded process's start-up here). */
    if (CPU_FEATURE_PRESENT(INVARIANT_TSC) && kernel_uses_tsc())
        tsc_clock = 1;
#endif
    chosen = 1;
    plain_update();
    return tsc_clock ? RT_CLOCK_TSC : RT_CLOCK_MONOTONIC;
}

uint32_t rt_fence_choose(void)
{
    /* Registration is per process image: a fork child or a new image
     * registers again (the kernel does not carry it over).
     * HEAPGRAPH_FENCE=locked takes the other way, as a kernel without
     * membarrier would (the tests run both). */
    const char *want = getenv("HEAPGRAPH_FENCE");
    long r = want && strcmp(want, "locked") == 0
                 ? -1 : syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0);
    locked_fence = r != 0;
    plain_update();
    return locked_fence ? RT_FENCE_LOCKED : RT_FENCE_MEMBARRIER;
}

void rt_rec_bind(struct rt_shm *s)
{
    shm = s;
    rt_rec_fast.tick = s ? &s->tick : &no_tick;
}

static void backoff(unsigned i)
{
    if (i < 64) {
        __builtin_ia32_pause();
    } else if (i < 512) {
        sched_yield();
    } else {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

/* Waits until slots [pos, pos + need) are free. -1 when the collector is gone. */
static int wait_room(struct rt_tls *t, struct rt_ring *r, uint64_t pos, uint32_t need)
{
    uint64_t end = pos + need;
    for (unsigned i = 0;; i++) {
        if (end <= t->room_end)
            return 0;
        t->room_end = atomic_load_explicit(&r->tail, memory_order_acquire) + RT_RING_SLOTS;
        if (end <= t->room_end)
            return 0;
        if ((i & 1023) == 1023 && rt_proc_collector_gone())
            return -1;
        backoff(i);
    }
}

struct rt_ring *rt_rec_claim(uint32_t thread_index, pid_t tid, int wait, int *gone)
{
    *gone = 0;
    if (!shm)
        return NULL;
    for (unsigned i = 0;; i++) {
        for (uint32_t k = 0; k < RT_SHM_RINGS; k++) {
            struct rt_ring *r = &shm->rings[k];
            uint32_t want = RT_RING_FREE;
            if (atomic_load_explicit(&r->state, memory_order_relaxed) != RT_RING_FREE)
                continue;
            if (!atomic_compare_exchange_strong(&r->state, &want, RT_RING_ACTIVE))
                continue;
            r->thread_index = thread_index;
            r->tid = tid;
            /* before this thread's first free: another thread that gets
             * the block back then sees the count in its allocation time */
            if (atomic_fetch_add(&rings_claimed, 1) > 0)
                atomic_store(&rt_rec_fast.alloc_time, 0);
            uint32_t used = atomic_load(&shm->rings_used);
            while (used < k + 1 && !atomic_compare_exchange_weak(&shm->rings_used, &used, k + 1))
                ;
            rt_tls.ring = r;
            rt_tls.room_end = 0;
            return r;
        }
        if (!wait || i == CLAIM_TRIES)
            return NULL;
        if ((i & 255) == 255 && rt_proc_collector_gone()) {
            *gone = 1;
            return NULL;
        }
        backoff(i < 512 ? 512 : i);
    }
}

void rt_rec_close(void)
{
    struct rt_ring *r = rt_tls.ring;
    if (!r)
        return;
    rt_tls.ring = NULL;
    rt_tls.room_end = 0;
    atomic_store_explicit(&r->state, RT_RING_CLOSED, memory_order_release);
}

void rt_rec_forget(void)
{
    shm = NULL;
    rt_rec_fast.tick = &no_tick;
    rt_tls.time_reuse = 0;
    atomic_store(&rings_claimed, 0);
    plain_update();
    rt_tls.ring = NULL;
    rt_tls.pub = 0;
    rt_tls.room_end = 0;
    rt_tls.dq_head = rt_tls.dq_tail = 0;
}

/* busy = 1, ordered before the clock read that follows (ring.h). With the
 * locked fence: a locked exchange, cheaper than a store and mfence. */
static void set_busy(struct rt_ring *r)
{
    if (RT_UNLIKELY(locked_fence)) {
        atomic_exchange_explicit(&r->busy, 1, memory_order_seq_cst);
        return;
    }
    atomic_store_explicit(&r->busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
}

int rt_pub_begin_slow(uint32_t need)
{
    struct rt_tls *t = &rt_tls;
    if (t->pub) {
        if (t->ring)
            set_busy(t->ring);
        return RT_PUB_DEFERRED;
    }
    if (!t->ring && rt_thread_attach() < 0)
        return RT_PUB_NONE;
    if (!rt_proc_recording())
        return RT_PUB_NONE;
    struct rt_ring *r = t->ring;
    /* Wait for room before claiming the publication: a signal handler that
     * runs during a long wait (the collector descheduled) then publishes
     * directly instead of filling the small deferred queue. If one did
     * publish, the head moved and the room is checked again. */
    for (;;) {
        uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        if (wait_room(t, r, head, need + RT_DQ_SLOTS) < 0) {
            rt_proc_stop_recording();
            return RT_PUB_NONE;
        }
        t->pub = 1;
        atomic_signal_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&r->head, memory_order_relaxed) == head) {
            set_busy(r);
            t->wpos = head;
            return RT_PUB_DIRECT;
        }
        t->pub = 0;
        atomic_signal_fence(memory_order_seq_cst);
    }
}

static void write_ring(struct rt_tls *t, const struct rt_rec *recs, uint32_t n)
{
    struct rt_rec *slots = t->ring->slots;
    for (uint32_t i = 0; i < n; i++)
        slots[(t->wpos + i) & SLOT_MASK] = recs[i];
    t->wpos += n;
}

static void write_queue(struct rt_tls *t, const struct rt_rec *recs, uint32_t n)
{
    uint32_t h = t->dq_head;
    if (h - t->dq_tail + n > RT_DQ_SLOTS) {
        rt_degrade("signal-handler events lost: deferred queue full");
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        t->dq[(h + i) % RT_DQ_SLOTS] = recs[i];
    atomic_signal_fence(memory_order_seq_cst);
    t->dq_head = h + n;
}

void rt_pub_write(int how, const struct rt_rec *recs, uint32_t n)
{
    if (how == RT_PUB_DIRECT)
        write_ring(&rt_tls, recs, n);
    else if (how == RT_PUB_DEFERRED)
        write_queue(&rt_tls, recs, n);
}

void rt_pub_blob(int how, uint32_t kind, const void *payload, uint32_t len, uint64_t time)
{
    struct rt_rec slot = { .type = RT_REC_BLOB, .u32 = len, .time_ns = time, .a = kind };
    rt_pub_write(how, &slot, 1);
    const char *p = payload;
    while (len > 0) {
        struct rt_rec chunk;
        uint32_t k = len < sizeof chunk ? len : (uint32_t)sizeof chunk;
        memset(&chunk, 0, sizeof chunk);
        memcpy(&chunk, p, k);
        rt_pub_write(how, &chunk, 1);
        p += k;
        len -= k;
    }
}

/* Moves queued signal-handler records into the ring, in their order. */
static void drain_queue(struct rt_tls *t)
{
    uint32_t h = t->dq_head;
    uint32_t n = h - t->dq_tail;
    if (n == 0)
        return;
    wait_room(t, t->ring, t->wpos, n);
    for (uint32_t i = t->dq_tail; i != h; i++)
        write_ring(t, &t->dq[i % RT_DQ_SLOTS], 1);
    t->dq_tail = h;
}

/* The rest of rt_pub_end: the publication is still open, or it was closed
 * and a signal handler queued records meanwhile, or the thread ended. */
void rt_pub_end_slow(void)
{
    struct rt_tls *t = &rt_tls;
    struct rt_ring *r = t->ring;
    if (!t->pub && t->dq_head != t->dq_tail) {
        t->pub = 1;
        atomic_signal_fence(memory_order_seq_cst);
        set_busy(r);
    }
    while (t->pub) {
        drain_queue(t);
        atomic_store_explicit(&r->head, t->wpos, memory_order_release);
        if (t->dq_head != t->dq_tail)
            continue;
        atomic_store_explicit(&r->busy, 0, memory_order_release);
        t->pub = 0;
        atomic_signal_fence(memory_order_seq_cst);
        if (t->dq_head == t->dq_tail)
            break;
        t->pub = 1;
        atomic_signal_fence(memory_order_seq_cst);
        set_busy(r);
    }
    __builtin_prefetch(&r->slots[t->wpos & SLOT_MASK], 1); /* as rt_pub_end */
    if (t->ended)
        rt_rec_close();
}

/* Slots of the record whose first slot is r (ring.h). */
static uint64_t rec_slots(const struct rt_rec *r)
{
    switch (r->type & RT_REC_TYPE_MASK) {
    case RT_REC_STACK:
        return RT_STACK_SLOTS(r->a);
    case RT_REC_BLOB:
        return RT_BLOB_SLOTS((uint64_t)r->u32);
    default:
        return 1;
    }
}

void rt_pub_abandon(void)
{
    struct rt_tls *t = &rt_tls;
    struct rt_ring *r = t->ring;
    if (!t->pub || !r)
        return;
    /* keep the interrupted publication's whole records: a blob is written
     * slot by slot, so the last one may be cut */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed), end = head;
    for (uint64_t pos = head; pos < t->wpos;) {
        uint64_t n = rec_slots(&r->slots[pos & SLOT_MASK]);
        if (pos + n > t->wpos)
            break;
        pos += n;
        end = pos;
    }
    t->wpos = end;
    rt_pub_end(RT_PUB_DIRECT);
}

void rt_ring_push(const struct rt_rec *recs, uint32_t nslots)
{
    int how = rt_pub_begin(nslots);
    rt_pub_write(how, recs, nslots);
    rt_pub_end(how);
}

void rt_ring_push_blob(uint32_t kind, const void *payload, uint32_t len)
{
    int how = rt_pub_begin(rt_blob_slots(len));
    rt_pub_blob(how, kind, payload, len, rt_event_time());
    rt_pub_end(how);
}

void rt_ring_push_parts(uint32_t kind, const struct rt_blob_part *parts, unsigned n)
{
    uint32_t len = 0;
    for (unsigned i = 0; i < n; i++)
        len += parts[i].len;
    int how = rt_pub_begin(rt_blob_slots(len));
    struct rt_rec slot = { .type = RT_REC_BLOB, .u32 = len, .time_ns = rt_event_time(), .a = kind };
    rt_pub_write(how, &slot, 1);
    union {
        struct rt_rec r;
        unsigned char b[sizeof(struct rt_rec)];
    } chunk;
    uint32_t fill = 0;
    for (unsigned i = 0; i < n; i++) {
        const unsigned char *p = parts[i].p;
        for (uint32_t left = parts[i].len; left > 0;) {
            uint32_t k = left < sizeof chunk - fill ? left : (uint32_t)sizeof chunk - fill;
            memcpy(chunk.b + fill, p, k);
            fill += k;
            p += k;
            left -= k;
            if (fill == sizeof chunk) {
                rt_pub_write(how, &chunk.r, 1);
                fill = 0;
            }
        }
    }
    if (fill) {
        memset(chunk.b + fill, 0, sizeof chunk - fill);
        rt_pub_write(how, &chunk.r, 1);
    }
    rt_pub_end(how);
}

#define MAX_SAID 16

/* The messages said in this image (their addresses: string literals). */
static const char *_Atomic said[MAX_SAID];

static int first_time(const char *msg)
{
    for (int i = 0; i < MAX_SAID; i++) {
        const char *cur = atomic_load(&said[i]);
        if (cur == msg)
            return 0;
        if (!cur && atomic_compare_exchange_strong(&said[i], &cur, msg))
            return 1;
        if (cur == msg)
            return 0;
    }
    return 0;
}

void rt_said_forget(void)
{
    for (int i = 0; i < MAX_SAID; i++)
        atomic_store(&said[i], NULL);
}

static void say(uint32_t kind, const char *msg)
{
    if (!first_time(msg))
        return;
    char line[256];
    size_t n = strlen(msg);
    if (n > sizeof line - 13)
        n = sizeof line - 13;
    memcpy(line, "heapgraph: ", 11);
    memcpy(line + 11, msg, n);
    line[11 + n] = '\n';
    if (write(2, line, 12 + n) < 0)
        line[0] = 0;
    if (rt_proc_recording())
        rt_ring_push_blob(kind, msg, (uint32_t)strlen(msg));
}

void rt_degrade(const char *msg)
{
    if (shm)
        atomic_store(&shm->degraded, 1);
    say(RT_BLOB_LOSS, msg);
}

void rt_note(const char *msg)
{
    say(RT_BLOB_NOTE, msg);
}
