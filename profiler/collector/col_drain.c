/* SPDX-License-Identifier: MIT
 *
 * col_drain.c - draining and merging a process's rings (profiler/ring.h).
 * Every tick moves what each ring holds out of shared memory: records that
 * are not time-ordered (stacks, modules, threads, snapshot roots and edges)
 * are transcoded at once; events are queued per ring. Every MERGE_NS the
 * queues are merged by time up to the watermark (the stream's clock once
 * every busy flag set before it is visible) and handed in that order to the
 * encoder (col_encode.c). A ring whose thread has ended is handed back once
 * it is empty.
 */
#include "profiler/collector/col_int.h"

#include <linux/membarrier.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_MASK (RT_RING_SLOTS - 1)
#define BUSY_SPINS 8 /* a publication is short; past this, use the ring's last time (many threads!) */
#define MAX_FRAMES 4096u

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static int queue_push(struct col_queue *q, const struct rt_rec *r)
{
    if (q->len == q->cap) {
        if (q->head) {
            memmove(q->v, q->v + q->head, (q->len - q->head) * sizeof *q->v);
            q->len -= q->head;
            q->head = 0;
        }
        if (q->len == q->cap) {
            size_t n = q->cap ? q->cap * 2 : 1024;
            struct rt_rec *v = realloc(q->v, n * sizeof *v);
            if (!v)
                return -1;
            q->v = v;
            q->cap = n;
        }
    }
    q->v[q->len++] = *r;
    return 0;
}

static size_t rec_slots(const struct rt_rec *r)
{
    switch (r->type & RT_REC_TYPE_MASK) {
    case RT_REC_STACK:
        return (size_t)RT_STACK_SLOTS(r->a);
    case RT_REC_BLOB:
        return RT_BLOB_SLOTS((size_t)r->u32);
    default:
        return 1;
    }
}

/* Copies the continuation slots of the record at `pos` into c->blob. */
static void copy_cont(struct col *c, const struct rt_ring *ring, uint64_t pos, size_t n)
{
    for (size_t i = 0; i < n; i++)
        memcpy(c->blob + i * sizeof(struct rt_rec), &ring->slots[(pos + 1 + i) & RING_MASK],
               sizeof(struct rt_rec));
}

/* Handles one record that is not time-ordered. Returns -1 if malformed. */
static int immediate(struct col *c, struct col_stream *s, const struct rt_ring *ring, uint64_t pos,
                     const struct rt_rec *r, size_t nslots)
{
    switch (r->type & RT_REC_TYPE_MASK) {
    case RT_REC_STACK:
        if (r->a > MAX_FRAMES)
            return -1;
        copy_cont(c, ring, pos, nslots - 1);
        col_transcode_stack(c, s, r, (const uint64_t *)c->blob);
        return 0;
    case RT_REC_BLOB: {
        struct rt_rec h = *r;
        if (r->time_ns) /* 0: no time (rec_time then takes the collector's) */
            h.time_ns = col_ev_ns(c, s, r->time_ns);
        copy_cont(c, ring, pos, nslots - 1);
        return col_transcode_blob(c, s, &h, c->blob);
    }
    case RT_REC_EDGE:
        col_transcode_edge(c, s, r);
        return 0;
    case RT_REC_SNAP_END:
        col_transcode_snap_end(c, s, r);
        return 0;
    case RT_REC_PYOBJ:
    case RT_REC_PYPART:
        col_transcode_pyrec(c, s, r);
        return 0;
    default:
        return 0; /* unknown: skip */
    }
}

static int is_event(uint32_t type)
{
    type &= RT_REC_TYPE_MASK;
    return type == RT_REC_ALLOC || type == RT_REC_FREE || type == RT_REC_FORK ||
           type == RT_REC_EXEC || type == RT_REC_EXIT || type == RT_REC_SPAWN;
}

/* Moves everything published in ring i into its queue (events) or the
 * capture (the rest), and hands the slots back to the producer. */
static void read_ring(struct col *c, struct col_stream *s, unsigned i, uint64_t head)
{
    struct rt_ring *ring = &s->shm->rings[i];
    struct col_queue *q = &s->q[i];
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (tail == head)
        return;
    if (head - tail > RT_RING_SLOTS) {
        /* more than a ring holds: a second writer (a child the runtime did
         * not see, writing into its parent's rings) or a damaged ring. Its
         * records cannot be trusted; skipping them keeps the queues bounded
         * and lets the producer go on. */
        if (!s->overrun++)
            col_loss(c, s, "ring %u held %llu records, more than its %u slots (a second writer?): "
                     "its records were skipped", i, (unsigned long long)(head - tail), RT_RING_SLOTS);
        atomic_store_explicit(&ring->tail, head, memory_order_release);
        return;
    }
    if (q->head == q->len)
        q->thread = ring->thread_index;
    while (tail != head) {
        struct rt_rec r = ring->slots[tail & RING_MASK];
        size_t n = rec_slots(&r);
        if (n > head - tail || n > RT_RING_SLOTS) {
            if (!s->malformed++)
                col_note(c, s, "ring %u: malformed record; the rest of the ring was skipped", i);
            tail = head;
            break;
        }
        if (is_event(r.type)) {
            if (queue_push(q, &r) < 0 && !s->malformed++)
                col_note(c, s, "out of memory queueing events");
            q->last_ns = r.time_ns;
        } else if (immediate(c, s, ring, tail, &r, n) < 0 && !s->malformed++) {
            col_note(c, s, "ring %u: malformed record of type %u", i, r.type & RT_REC_TYPE_MASK);
        }
        tail += n;
    }
    atomic_store_explicit(&ring->tail, tail, memory_order_release);
}

/* Handles the event at the head of queue q that is neither an allocation
 * nor a free (col_emit_run takes those). */
static void apply_other(struct col *c, struct col_stream *s, struct col_queue *q)
{
    const struct rt_rec *r = &q->v[q->head++];
    uint64_t t = col_ev_ns(c, s, r->time_ns);
    switch (r->type & RT_REC_TYPE_MASK) {
    case RT_REC_FORK:
        col_on_fork(c, s, q->thread, t, (pid_t)r->a);
        break;
    case RT_REC_EXEC:
        col_emit_mark(c, s, q->thread, t, HG_MARK_EXEC, r->a);
        s->exec_pending = r->a == 0;
        break;
    case RT_REC_SPAWN:
        col_on_spawn(c, s, (pid_t)r->a, r->b != 0);
        break;
    case RT_REC_EXIT:
        s->have_exit = 1;
        s->exit_ns = t;
        s->exit_status = r->a;
        s->exit_how = r->b;
        break;
    }
}

/* Merges the queued events with time < W in time order (frees first at
 * equal times, the order ring.h promises for address reuse). Once the
 * earliest queue is found it is taken from for as long as its next event
 * comes no later than the earliest of the others (threads often publish
 * runs of events between the other threads' ones). */
static void merge(struct col *c, struct col_stream *s, uint64_t W)
{
    uint8_t act[RT_SHM_RINGS];
    size_t nact = 0;
    for (unsigned i = 0; i < RT_SHM_RINGS; i++)
        if (s->q[i].head < s->q[i].len)
            act[nact++] = (uint8_t)i;
    for (;;) {
        int best = -1;
        const struct rt_rec *br = NULL, *next = NULL;
        for (size_t k = 0; k < nact; k++) {
            struct col_queue *q = &s->q[act[k]];
            if (q->head == q->len)
                continue;
            const struct rt_rec *r = &q->v[q->head];
            if (r->time_ns < W && (!br || col_ev_before(r, br))) {
                if (br && (!next || col_ev_before(br, next)))
                    next = br;
                best = act[k];
                br = r;
            } else if (!next || col_ev_before(r, next)) {
                next = r;
            }
        }
        if (best < 0)
            break;
        struct col_queue *q = &s->q[best];
        do {
            size_t n = col_emit_run(c, s, q->thread, q->v + q->head, q->len - q->head, W, next);
            q->head += n;
            if (!n)
                apply_other(c, s, q);
        } while (q->head < q->len && q->v[q->head].time_ns < W &&
                 (!next || !col_ev_before(next, &q->v[q->head])));
    }
    for (size_t k = 0; k < nact; k++) {
        struct col_queue *q = &s->q[act[k]];
        if (q->head == q->len)
            q->head = q->len = 0;
    }
}

/* The watermark: the stream's clock now, once every busy flag set before
 * it is visible (ring.h). 0 when that cannot be known this time, which only
 * defers merging to a later drain. */
static uint64_t watermark(const struct col_stream *s)
{
    uint64_t W = col_stream_now(s);
    if (s->membarrier &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0)
        return 0;
    atomic_thread_fence(memory_order_seq_cst);
    return W;
}

/* How many rings to look at: those ever claimed (ring.h). Read after the
 * watermark's fence. */
static unsigned rings_used(const struct col_stream *s)
{
    unsigned n = atomic_load_explicit(&s->shm->rings_used, memory_order_acquire);
    return n < RT_SHM_RINGS ? n : RT_SHM_RINGS;
}

void col_drain(struct col *c, struct col_stream *s, enum col_drain_mode mode)
{
    if (s->state != COL_ST_LIVE || !s->shm)
        return;
    atomic_fetch_add_explicit(&s->shm->tick, 1, memory_order_relaxed);
    if (mode == COL_DRAIN_READ) {
        for (unsigned i = 0, n = rings_used(s); i < n; i++)
            read_ring(c, s, i, atomic_load_explicit(&s->shm->rings[i].head, memory_order_acquire));
        return;
    }
    int final = mode == COL_DRAIN_FINAL;
    uint64_t W = final ? UINT64_MAX : watermark(s);
    unsigned n = rings_used(s);
    for (unsigned i = 0; i < n; i++) {
        struct rt_ring *ring = &s->shm->rings[i];
        int busy = 0;
        if (!final) {
            busy = atomic_load(&ring->busy) != 0;
            for (int k = 0; busy && k < BUSY_SPINS; k++) {
                cpu_relax();
                busy = atomic_load(&ring->busy) != 0;
            }
        }
        read_ring(c, s, i, atomic_load_explicit(&ring->head, memory_order_acquire));
        /* A busy producer's next event is no older than its last one. */
        if (busy && s->q[i].last_ns < W)
            W = s->q[i].last_ns;
    }
    merge(c, s, W);
    for (unsigned i = 0; i < n; i++) {
        struct rt_ring *ring = &s->shm->rings[i];
        if (atomic_load_explicit(&ring->state, memory_order_acquire) == RT_RING_CLOSED &&
            s->q[i].head == s->q[i].len &&
            atomic_load(&ring->tail) == atomic_load_explicit(&ring->head, memory_order_acquire)) {
            col_thread_done(s, ring->thread_index);
            atomic_store_explicit(&ring->state, RT_RING_FREE, memory_order_release);
        }
    }
}
