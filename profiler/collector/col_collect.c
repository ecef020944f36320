/* SPDX-License-Identifier: MIT
 *
 * col_collect.c - the collector's event loop. One epoll set watches the
 * listening socket, one connection per recorded process image, a signalfd
 * (SIGCHLD, SIGTERM, SIGHUP) and a 1 ms timer. Each tick drains every ring
 * of every process (profiler/ring.h): records that are not time-ordered
 * (stacks, modules, threads, snapshot roots and edges) are transcoded at
 * once; events are queued per ring and, every other tick, merged by time up
 * to the busy-flag watermark, then handed in that order to the encoder
 * (col_encode.c), which writes them against the process's live map (frees
 * become back-references) into HG_REC_EVENTS records (profiler/capture.h).
 *
 * Process life: a HELLO starts a stream. A fork child waits until its
 * parent's RT_REC_FORK is merged, which writes the child's PROCESS and the
 * blocks it inherited; an exec ends the stream and the new image's HELLO
 * starts one whose parent it is. EOF ends a stream with the status waitpid
 * gives (this process is a child subreaper), else the runtime's RT_REC_EXIT.
 */
#include "profiler/collector/col_collect.h"

#include "profiler/collector/col_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING_MASK (RT_RING_SLOTS - 1)
#define BUSY_SPINS 8 /* a publication is short; past this, use the ring's last time (many threads!) */
#define MAX_FRAMES 4096u
/* Merge (and pay for the watermark: a membarrier that interrupts every CPU
 * running the program, 10% of the collector's time at one a millisecond)
 * at most this often; the rings are still drained every tick. */
#define MERGE_NS 2000000u

enum drain_mode { DRAIN_READ, DRAIN_MERGE, DRAIN_FINAL };

static char tag_listen, tag_sig, tag_timer;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* ---------------------------------------------------------- the TSC clock */

#define CAL_NS 2000000u /* at least this long between the two calibration pairs */

/* The TSC, read after every earlier instruction and before any later load
 * (the watermark's reads of busy must not pass it). */
static uint64_t tsc_read(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) :: "memory");
    return (uint64_t)hi << 32 | lo;
#else
    return 0;
#endif
}

/* A (TSC, CLOCK_MONOTONIC) pair: the best bracketed of three reads. */
static void clock_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = tsc_read(), n = col_now_ns(), t1 = tsc_read();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}

/* Fixes the rate from the setup pair and one read now, at least CAL_NS
 * later. The rate is anchored at the later pair, so its error (about 1e-5)
 * only grows with the distance from the start of the recording. */
static void tsc_calibrate(struct col *c)
{
    if (c->tsc_mult)
        return;
    uint64_t t = 0, n = 0;
    clock_pair(&t, &n);
    if (n - c->cal_ns < CAL_NS) {
        struct timespec ts = {0, (long)(CAL_NS - (n - c->cal_ns))};
        nanosleep(&ts, NULL);
        clock_pair(&t, &n);
    }
    uint64_t dt = t > c->cal_tsc ? t - c->cal_tsc : 1;
    c->tsc_mult = (uint64_t)(((unsigned __int128)(n - c->cal_ns) << 32) / dt);
    if (!c->tsc_mult)
        c->tsc_mult = 1;
    c->tsc_at = t;
    c->tsc_ns = n;
}

/* The stream's event clock now (the watermark). */
static uint64_t stream_now(const struct col_stream *s)
{
    return s->tsc ? tsc_read() : col_now_ns();
}

/* ------------------------------------------------------------------ streams */

static struct col_stream *stream_new(struct col *c)
{
    if (c->ns == c->cap) {
        size_t n = c->cap ? c->cap * 2 : 16;
        struct col_stream **v = realloc(c->s, n * sizeof *v);
        if (!v)
            return NULL;
        c->s = v;
        c->cap = n;
    }
    struct col_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = -1;
    s->statm_fd = -1;
    c->s[c->ns++] = s;
    return s;
}

static void free_queues(struct col_stream *s)
{
    for (size_t i = 0; s->q && i < RT_SHM_RINGS; i++)
        free(s->q[i].v);
    free(s->q);
    s->q = NULL;
}

/* What an ended stream no longer needs: a program that forks thousands of
 * children keeps only their small stream structs until the end. */
static void free_encoder(struct col_stream *s)
{
    col_live_release(&s->live);
    for (int k = 0; k < HG_EV_COLUMNS; k++) {
        free(s->col[k].p);
        s->col[k] = (struct col_column){0};
    }
    s->ev_room = 0;
    for (size_t i = 0; i < s->nthr; i++)
        free(s->thr[i]);
    free(s->thr);
    s->thr = NULL;
    s->nthr = 0;
    free(s->ed);
    s->ed = NULL;
    s->ed_len = s->ed_cap = 0;
}

static void stream_free(struct col_stream *s)
{
    free_queues(s);
    free_encoder(s);
    free(s->argv);
    free(s->exe);
    free(s);
}

/* The stream of pid in one of the given states that appeared last. */
static struct col_stream *find_pid(struct col *c, pid_t pid, unsigned states)
{
    for (size_t i = c->ns; i-- > 0;)
        if (c->s[i]->pid == pid && (states & 1u << c->s[i]->state))
            return c->s[i];
    return NULL;
}

static void put_cmdline(struct col *c, const struct col_stream *s)
{
    col_put_str(c->w, s->exe ? s->exe : "", s->exe_len);
    size_t argc = 0;
    for (size_t i = 0; i < s->argv_len; i++)
        argc += s->argv[i] == 0 || i + 1 == s->argv_len;
    col_put_u(c->w, argc);
    for (size_t i = 0, start = 0; i < s->argv_len; i++) {
        if (s->argv[i] == 0 || i + 1 == s->argv_len) {
            size_t end = s->argv[i] == 0 ? i : i + 1;
            col_put_str(c->w, s->argv + start, end - start);
            start = i + 1;
        }
    }
}

/* Gives the stream its number and writes its HG_REC_PROCESS. */
static void stream_start(struct col *c, struct col_stream *s, uint32_t origin,
                         const struct col_stream *parent, uint64_t time_ns)
{
    s->state = COL_ST_LIVE;
    s->id = ++c->next_id;
    s->origin = origin;
    s->parent_id = parent ? parent->id : 0;
    col_rec_begin(c->w, HG_REC_PROCESS);
    col_put_u(c->w, s->id);
    col_put_u(c->w, (uint64_t)s->pid);
    col_put_u(c->w, (uint64_t)s->ppid);
    col_put_u(c->w, s->parent_id);
    col_put_u(c->w, origin);
    col_put_u(c->w, col_to_us(c, time_ns));
    put_cmdline(c, s);
    col_rec_end(c->w);
}

static void stream_end(struct col *c, struct col_stream *s, unsigned how, uint64_t code, unsigned flags)
{
    col_flush_events(c, s);
    col_rec_begin(c->w, HG_REC_PROCESS_END);
    col_put_u(c->w, s->id);
    col_put_u(c->w, col_to_us(c, s->have_exit ? s->exit_ns : col_now_ns()));
    col_put_u(c->w, how);
    col_put_u(c->w, code);
    col_put_u(c->w, flags | (s->exit_snapshot ? HG_END_F_SNAPSHOT : 0));
    col_rec_end(c->w);
    s->state = COL_ST_ENDED;
    s->end_pending = 0;
    free_encoder(s);
}

static void stream_end_status(struct col *c, struct col_stream *s, int status)
{
    if (WIFSIGNALED(status))
        stream_end(c, s, HG_END_SIGNAL, (uint64_t)WTERMSIG(status), WCOREDUMP(status) ? HG_END_F_CORE : 0);
    else
        stream_end(c, s, HG_END_EXIT, (uint64_t)WEXITSTATUS(status), 0);
}

/* Ends a stream whose image is gone, with the best status known now. */
static void stream_end_known(struct col *c, struct col_stream *s)
{
    if (s->have_exit)
        stream_end(c, s, HG_END_EXIT, s->exit_status, 0);
    else
        stream_end(c, s, HG_END_UNKNOWN, 0, 0);
}

/* ------------------------------------------------------------------ fork */

static int copy_str(char **dst, size_t *dlen, const char *src, size_t len)
{
    *dst = malloc(len + 1);
    if (!*dst)
        return -1;
    memcpy(*dst, src, len);
    (*dst)[len] = 0;
    *dlen = len;
    return 0;
}

/* The parent's RT_REC_FORK, in time order: the child's stream starts here
 * with the parent's live blocks; its rings are drained from now on. */
static void on_fork(struct col *c, struct col_stream *parent, uint32_t thread, uint64_t t, pid_t pid)
{
    struct col_stream *ch = find_pid(c, pid, 1u << COL_ST_HELD);
    if (!ch) {
        ch = stream_new(c);
        if (!ch) {
            col_emit_mark(c, parent, thread, t, HG_MARK_FORK, 0);
            return;
        }
        ch->pid = pid;
        ch->ppid = parent->pid;
        if (parent->argv)
            copy_str(&ch->argv, &ch->argv_len, parent->argv, parent->argv_len);
        if (parent->exe)
            copy_str(&ch->exe, &ch->exe_len, parent->exe, parent->exe_len);
    }
    stream_start(c, ch, HG_ORIGIN_FORK, parent, t);
    col_write_inherit(c, ch, parent);
    col_emit_mark(c, parent, thread, t, HG_MARK_FORK, ch->id);
}

/* ------------------------------------------------------------------- drain */

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
    switch (r->type & 0xff) {
    case RT_REC_STACK:
        return 1 + (size_t)((r->a + 3) / 4);
    case RT_REC_BLOB:
        return 1 + ((size_t)r->u32 + 31) / 32;
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
    switch (r->type & 0xff) {
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
    default:
        return 0; /* unknown: skip */
    }
}

static int is_event(uint32_t type)
{
    type &= 0xff;
    return type == RT_REC_ALLOC || type == RT_REC_FREE || type == RT_REC_FORK ||
           type == RT_REC_EXEC || type == RT_REC_EXIT;
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
            col_note(c, s, "ring %u: malformed record of type %u", i, r.type & 0xff);
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
    switch (r->type & 0xff) {
    case RT_REC_FORK:
        on_fork(c, s, q->thread, t, (pid_t)r->a);
        break;
    case RT_REC_EXEC:
        col_emit_mark(c, s, q->thread, t, HG_MARK_EXEC, r->a);
        s->exec_pending = r->a == 0;
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
    uint64_t W = stream_now(s);
    if (s->membarrier &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0)
        return 0;
    atomic_thread_fence(memory_order_seq_cst);
    return W;
}

/* Drains every ring of a connected stream. DRAIN_READ only moves what the
 * rings hold into the queues, DRAIN_MERGE also merges up to the watermark;
 * DRAIN_FINAL: the process is gone or stopped, so everything published is
 * final and busy flags mean nothing. */
static void drain(struct col *c, struct col_stream *s, enum drain_mode mode)
{
    if (s->state != COL_ST_LIVE || !s->shm)
        return;
    if (mode == DRAIN_READ) {
        for (unsigned i = 0; i < RT_SHM_RINGS; i++)
            read_ring(c, s, i, atomic_load_explicit(&s->shm->rings[i].head, memory_order_acquire));
        return;
    }
    int final = mode == DRAIN_FINAL;
    uint64_t W = final ? UINT64_MAX : watermark(s);
    for (unsigned i = 0; i < RT_SHM_RINGS; i++) {
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
    for (unsigned i = 0; i < RT_SHM_RINGS; i++) {
        struct rt_ring *ring = &s->shm->rings[i];
        if (atomic_load_explicit(&ring->state, memory_order_acquire) == RT_RING_CLOSED &&
            s->q[i].head == s->q[i].len &&
            atomic_load(&ring->tail) == atomic_load_explicit(&ring->head, memory_order_acquire)) {
            col_thread_done(s, ring->thread_index);
            atomic_store_explicit(&ring->state, RT_RING_FREE, memory_order_release);
        }
    }
}

/* ------------------------------------------------------------- connections */

static void close_conn(struct col *c, struct col_stream *s)
{
    if (s->fd >= 0) {
        epoll_ctl(c->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
        c->open_conns--;
    }
    if (s->shm) {
        munmap(s->shm, RT_SHM_SIZE);
        s->shm = NULL;
    }
    free_queues(s);
    if (s->statm_fd >= 0) {
        close(s->statm_fd);
        s->statm_fd = -1;
    }
}

static int reaped_status(struct col *c, pid_t pid, int *status)
{
    for (size_t i = 0; i < c->nreaped; i++) {
        if (c->reaped[i].pid == pid) {
            *status = c->reaped[i].status;
            c->reaped[i] = c->reaped[--c->nreaped];
            return 1;
        }
    }
    return 0;
}

/* The parent pid of a live or zombie process, -1 if it is gone. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    int ppid;
    return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* A held fork child must start now (it asked for a snapshot, or it is gone):
 * give its parent's drain a few chances to reach the RT_REC_FORK, which
 * starts it with its inherited blocks; start it without them if that fails. */
static void resolve_held(struct col *c, struct col_stream *s)
{
    for (int i = 0; s->state == COL_ST_HELD && i < 50; i++) {
        struct col_stream *p = find_pid(c, s->ppid, 1u << COL_ST_LIVE);
        if (!p || !p->shm)
            break;
        drain(c, p, DRAIN_MERGE);
        struct timespec ts = {0, 200000};
        if (s->state == COL_ST_HELD)
            nanosleep(&ts, NULL);
    }
    if (s->state == COL_ST_HELD)
        stream_start(c, s, HG_ORIGIN_FORK, find_pid(c, s->ppid, 1u << COL_ST_LIVE), s->hello_ns);
}

static void start_held_children(struct col *c, struct col_stream *parent)
{
    for (size_t i = 0; i < c->ns; i++) {
        struct col_stream *h = c->s[i];
        if (h->state == COL_ST_HELD && h->ppid == parent->pid)
            stream_start(c, h, HG_ORIGIN_FORK, parent, h->hello_ns);
    }
}

/* The image behind s is gone (EOF, or a new image of its pid said HELLO):
 * drain what it left, then end the stream now or once waitpid says how. */
static void image_gone(struct col *c, struct col_stream *s, int exec_seen)
{
    if (s->state == COL_ST_NEW || s->state == COL_ST_MOVED) {
        close_conn(c, s);
        s->state = COL_ST_MOVED;
        return;
    }
    resolve_held(c, s);
    drain(c, s, DRAIN_FINAL);
    col_flush_edges(c, s);
    close_conn(c, s);
    int status;
    if (s->state != COL_ST_LIVE)
        return;
    if (s->exec_pending || exec_seen)
        stream_end(c, s, HG_END_EXEC, 0, 0);
    else if (reaped_status(c, s->pid, &status))
        stream_end_status(c, s, status);
    else if (s->pid == c->cfg->child || parent_of(s->pid) == getpid())
        s->end_pending = 1; /* ours to reap: SIGCHLD brings the status */
    else
        stream_end_known(c, s);
    start_held_children(c, s);
}

static int map_rings(struct col *c, struct col_stream *s, int memfd)
{
    struct stat st;
    if (memfd < 0 || fstat(memfd, &st) < 0 || (uint64_t)st.st_size < RT_SHM_SIZE)
        return -1;
    void *p = mmap(NULL, RT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (p == MAP_FAILED)
        return -1;
    struct rt_shm *shm = p;
    uint32_t clock = shm->clock;
    if (shm->magic != RT_SHM_MAGIC || shm->version != RT_PROTO_VERSION ||
        shm->nrings != RT_SHM_RINGS || shm->ring_slots != RT_RING_SLOTS ||
        (clock != RT_CLOCK_MONOTONIC && !(clock == RT_CLOCK_TSC && tsc_read())) ||
        shm->fence > RT_FENCE_MEMBARRIER ||
        !(s->q = calloc(RT_SHM_RINGS, sizeof *s->q))) {
        munmap(p, RT_SHM_SIZE);
        return -1;
    }
    s->shm = shm;
    s->tsc = clock == RT_CLOCK_TSC;
    s->membarrier = shm->fence == RT_FENCE_MEMBARRIER;
    if (s->tsc)
        tsc_calibrate(c);
    return 0;
}

/* Moves the connection of `from` (a fork child's HELLO) into `to`, the
 * stream its parent's RT_REC_FORK already started. */
static void move_conn(struct col *c, struct col_stream *from, struct col_stream *to)
{
    to->fd = from->fd;
    to->shm = from->shm;
    to->tsc = from->tsc;
    to->membarrier = from->membarrier;
    to->q = from->q;
    from->q = NULL;
    to->statm_fd = from->statm_fd;
    to->hello_ns = from->hello_ns;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = to};
    epoll_ctl(c->ep, EPOLL_CTL_MOD, to->fd, &e);
    from->fd = -1;
    from->shm = NULL;
    from->statm_fd = -1;
    from->state = COL_ST_MOVED;
}

/* HELLO of a forked child: join the stream its parent's fork started, wait
 * for that fork to be merged, or start alone when the parent is unknown. */
static struct col_stream *hello_fork(struct col *c, struct col_stream *s)
{
    struct col_stream *r = find_pid(c, s->pid, 1u << COL_ST_LIVE);
    if (r && r != s && r->fd < 0 && !r->shm && r->origin == HG_ORIGIN_FORK) {
        move_conn(c, s, r);
        return r;
    }
    struct col_stream *parent = find_pid(c, s->ppid, 1u << COL_ST_LIVE);
    if (parent && parent->shm)
        s->state = COL_ST_HELD;
    else
        stream_start(c, s, HG_ORIGIN_FORK, parent, s->hello_ns);
    return s;
}

/* HELLO of a fresh image: after an exec of a recorded image, the root
 * program, or a program started some other way (posix_spawn, vfork). */
static void hello_image(struct col *c, struct col_stream *s)
{
    struct col_stream *old = find_pid(c, s->pid, 1u << COL_ST_LIVE | 1u << COL_ST_HELD);
    if (old == s)
        old = NULL;
    if (old) {
        old->exec_pending = 1;
        image_gone(c, old, 1);
    }
    struct col_stream *prev = old ? old : find_pid(c, s->pid, 1u << COL_ST_ENDED);
    if (prev && prev->exec_pending)
        stream_start(c, s, HG_ORIGIN_EXEC, prev, s->hello_ns);
    else if (s->pid == c->cfg->child)
        stream_start(c, s, HG_ORIGIN_ROOT, NULL, s->hello_ns);
    else
        stream_start(c, s, HG_ORIGIN_SPAWN,
                     find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_ENDED), s->hello_ns);
}

static struct col_stream *on_hello(struct col *c, struct col_stream *s, const struct rt_msg *m,
                                   const uint8_t *data, size_t len, int memfd)
{
    int mapped = s->state == COL_ST_NEW && map_rings(c, s, memfd) == 0;
    if (memfd >= 0)
        close(memfd);
    if (!mapped || (size_t)m->argv_len + m->exe_len > len) {
        col_note(c, NULL, "process %d: bad HELLO (protocol version or rings); not recorded", (int)m->pid);
        close_conn(c, s);
        s->state = COL_ST_MOVED;
        return s;
    }
    s->pid = m->pid;
    s->ppid = m->ppid;
    s->hello_ns = m->time_ns;
    copy_str(&s->argv, &s->argv_len, (const char *)data, m->argv_len);
    copy_str(&s->exe, &s->exe_len, (const char *)data + m->argv_len, m->exe_len);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)s->pid);
    s->statm_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->origin == RT_ORIGIN_FORK)
        return hello_fork(c, s);
    hello_image(c, s);
    return s;
}

static int send_live(struct col_stream *s, const struct rt_msg *req, const struct col_block *v, size_t n)
{
    int fd = memfd_create("heapgraph-live", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t bytes = n * sizeof(struct rt_live);
    struct rt_live *lv = NULL;
    if (n && ftruncate(fd, (off_t)bytes) == 0) {
        lv = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (lv == MAP_FAILED)
            lv = NULL;
    }
    if (n && !lv) {
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        lv[i] = (struct rt_live){.addr = v[i].addr, .size = v[i].size};
    if (lv)
        munmap(lv, bytes);
    struct rt_msg msg = {.type = RT_MSG_SNAP_LIVE, .pid = req->pid, .snapshot_id = req->snapshot_id,
                         .count = n, .time_ns = req->time_ns};
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = &msg, .iov_len = sizeof msg};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    ssize_t k = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
    close(fd);
    return k == (ssize_t)sizeof msg ? 0 : -1;
}

/* RT_MSG_SNAP_REQ: the process's other threads are stopped, so everything
 * it published is final. The live set after it is the snapshot's block
 * list; the runtime scans against it and then sends roots and edges. */
static void on_snap_req(struct col *c, struct col_stream *s, const struct rt_msg *m)
{
    resolve_held(c, s);
    if (s->state != COL_ST_LIVE)
        return;
    drain(c, s, DRAIN_FINAL);
    col_emit_mark(c, s, s->last_thread, m->time_ns, HG_MARK_SNAPSHOT, m->snapshot_id);
    col_flush_events(c, s);
    size_t n = s->live.count;
    struct col_block *v = col_live_sorted(&s->live);
    if (n && !v) {
        col_note(c, s, "out of memory listing the live blocks of snapshot %u", m->snapshot_id);
        n = 0;
    }
    col_rec_begin(c->w, HG_REC_SNAPSHOT);
    col_put_u(c->w, s->id);
    col_put_u(c->w, m->snapshot_id);
    col_put_u(c->w, col_to_us(c, m->time_ns));
    col_put_u(c->w, m->reason);
    col_put_u(c->w, n);
    col_rec_end(c->w);
    s->snap_id = m->snapshot_id;
    s->snap_reason = m->reason;
    s->ed_total = 0;
    if (send_live(s, m, v, n) < 0)
        col_note(c, s, "snapshot %u: could not send the live blocks: %s", m->snapshot_id, strerror(errno));
    free(v);
}

/* Receives one message with at most one passed fd. Returns its length, 0 at
 * EOF, -1 with errno (EAGAIN: nothing waiting). */
static ssize_t recv_msg(int fd, uint8_t **buf, size_t *cap, int *passed)
{
    *passed = -1;
    ssize_t want = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (want <= 0)
        return want;
    if (col_buf_grow(buf, cap, (size_t)want) < 0) {
        errno = ENOMEM;
        return -1;
    }
    union {
        char b[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = *buf, .iov_len = *cap};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return n;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof f, sizeof f);
            if (*passed < 0)
                *passed = f;
            else
                close(f);
        }
    }
    return n;
}

static void on_readable(struct col *c, struct col_stream *s, uint8_t **buf, size_t *cap)
{
    while (s->fd >= 0) {
        int memfd;
        ssize_t n = recv_msg(s->fd, buf, cap, &memfd);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            image_gone(c, s, 0);
            return;
        }
        struct rt_msg m;
        if ((size_t)n < sizeof m) {
            if (memfd >= 0)
                close(memfd);
            continue;
        }
        memcpy(&m, *buf, sizeof m);
        if (m.type == RT_MSG_HELLO) {
            s = on_hello(c, s, &m, *buf + sizeof m, (size_t)n - sizeof m, memfd);
            continue;
        }
        if (memfd >= 0)
            close(memfd);
        if (m.type == RT_MSG_SNAP_REQ)
            on_snap_req(c, s, &m);
    }
}

static void accept_all(struct col *c)
{
    for (;;) {
        int fd = accept4(c->cfg->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct col_stream *s = stream_new(c);
        if (!s) {
            close(fd);
            continue;
        }
        s->fd = fd;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = s};
        if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
            close(fd);
            s->fd = -1;
            s->state = COL_ST_MOVED;
            continue;
        }
        c->open_conns++;
    }
}

/* ------------------------------------------------------------ signals, time */

static void reap_all(struct col *c)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            c->no_children = errno == ECHILD;
            return;
        }
        if (pid == 0)
            return;
        if (pid == c->cfg->child) {
            c->child_done = 1;
            c->child_status = status;
        }
        struct col_stream *s = find_pid(c, pid, 1u << COL_ST_LIVE);
        if (s && s->end_pending) {
            stream_end_status(c, s, status);
            continue;
        }
        if (c->nreaped == c->reaped_cap) {
            size_t n = c->reaped_cap ? c->reaped_cap * 2 : 16;
            struct col_reaped *v = realloc(c->reaped, n * sizeof *v);
            if (!v)
                continue;
            c->reaped = v;
            c->reaped_cap = n;
        }
        c->reaped[c->nreaped++] = (struct col_reaped){pid, status};
    }
}

static void on_signal(struct col *c)
{
    struct signalfd_siginfo si;
    while (read(c->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            reap_all(c);
        else if (!c->child_done)
            kill(c->cfg->child, (int)si.ssi_signo);
    }
}

static uint64_t rss_bytes(const struct col *c, const struct col_stream *s)
{
    char buf[128];
    if (s->statm_fd < 0)
        return 0;
    ssize_t n = pread(s->statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return resident * (uint64_t)c->page;
}

static void on_tick(struct col *c)
{
    uint64_t t;
    if (read(c->timerfd, &t, sizeof t) < 0 && errno != EAGAIN)
        return;
    uint64_t now = col_now_ns();
    enum drain_mode mode = now >= c->next_merge ? DRAIN_MERGE : DRAIN_READ;
    if (mode == DRAIN_MERGE)
        c->next_merge = now + MERGE_NS;
    for (size_t i = 0; i < c->ns; i++)
        drain(c, c->s[i], mode);
    if (now >= c->next_sample) {
        c->next_sample = now + c->cfg->sample_ns;
        for (size_t i = 0; i < c->ns; i++) {
            struct col_stream *s = c->s[i];
            if (s->state != COL_ST_LIVE || !s->shm)
                continue;
            col_rec_begin(c->w, HG_REC_SAMPLE);
            col_put_u(c->w, s->id);
            col_put_u(c->w, col_to_us(c, now));
            col_put_u(c->w, s->live.bytes);
            col_put_u(c->w, rss_bytes(c, s));
            col_rec_end(c->w);
        }
    }
    if (now >= c->next_flush) {
        c->next_flush = now + COL_FLUSH_NS;
        for (size_t i = 0; i < c->ns; i++)
            col_flush_events(c, c->s[i]);
        col_writer_tick(c->w, now);
    }
}

/* ---------------------------------------------------------------- the loop */

static int setup(struct col *c, char *err, size_t errlen)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    c->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->blob = malloc(RT_RING_SLOTS * sizeof(struct rt_rec));
    struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
    struct epoll_event el = {.events = EPOLLIN, .data.ptr = &tag_listen};
    struct epoll_event es = {.events = EPOLLIN, .data.ptr = &tag_sig};
    struct epoll_event et = {.events = EPOLLIN, .data.ptr = &tag_timer};
    if (c->sigfd < 0 || c->timerfd < 0 || c->ep < 0 || !c->blob ||
        timerfd_settime(c->timerfd, 0, &its, NULL) < 0 ||
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->cfg->listen_fd, &el) < 0 ||
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->sigfd, &es) < 0 ||
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->timerfd, &et) < 0) {
        snprintf(err, errlen, "starting the collector: %s", strerror(errno ? errno : ENOMEM));
        return -1;
    }
    uint64_t now = col_now_ns();
    c->next_sample = now + c->cfg->sample_ns;
    c->next_flush = now + COL_FLUSH_NS;
    clock_pair(&c->cal_tsc, &c->cal_ns);
    return 0;
}

/* Finished when the program and every descendant are reaped and every
 * connection (including any still in the listen backlog) is closed. */
static int finished(struct col *c)
{
    if (!c->child_done || !c->no_children || c->open_conns)
        return 0;
    accept_all(c);
    return c->open_conns == 0;
}

static void loop(struct col *c)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    reap_all(c);
    while (!finished(c)) {
        struct epoll_event ev[32];
        int n = epoll_wait(c->ep, ev, 32, -1);
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &tag_listen)
                accept_all(c);
            else if (p == &tag_sig)
                on_signal(c);
            else if (p == &tag_timer)
                on_tick(c);
            else
                on_readable(c, p, &buf, &cap);
        }
        if (c->child_done && !c->no_children)
            reap_all(c);
    }
    free(buf);
}

/* Ends whatever is still open: held fork children, streams whose status
 * never came, fork children that never connected. */
static void wrap_up(struct col *c)
{
    for (size_t i = 0; i < c->ns; i++) {
        struct col_stream *s = c->s[i];
        if (s->state == COL_ST_HELD)
            stream_start(c, s, HG_ORIGIN_FORK, find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_ENDED), s->hello_ns);
        if (s->state != COL_ST_LIVE)
            continue;
        int status;
        if (reaped_status(c, s->pid, &status))
            stream_end_status(c, s, status);
        else
            stream_end_known(c, s);
    }
}

int col_run(const struct col_config *cfg, struct col_summary *sum, char *err, size_t errlen)
{
    struct col c = {.cfg = cfg, .w = cfg->w, .ep = -1, .sigfd = -1, .timerfd = -1};
    c.page = sysconf(_SC_PAGESIZE);
    int ret = setup(&c, err, errlen);
    if (ret == 0) {
        loop(&c);
        wrap_up(&c);
    }
    sum->child_status = c.child_status;
    sum->streams = c.next_id;
    sum->events = c.events;
    for (size_t i = 0; i < c.ns; i++) {
        close_conn(&c, c.s[i]);
        stream_free(c.s[i]);
    }
    free(c.s);
    free(c.reaped);
    free(c.blob);
    if (c.ep >= 0)
        close(c.ep);
    if (c.sigfd >= 0)
        close(c.sigfd);
    if (c.timerfd >= 0)
        close(c.timerfd);
    close(cfg->listen_fd);
    return ret;
}
