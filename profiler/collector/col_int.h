/* SPDX-License-Identifier: MIT
 *
 * col_int.h - what the collector's files share: the per-process stream
 * state, the session, and each file's entry points. col_collect.c runs the
 * event loop; col_stream.c, col_origin.c, col_drain.c, col_snap.c,
 * col_sample.c and col_clock.c decide when to write (stream life, where
 * streams come from, draining and merging the rings, snapshots, samples,
 * the TSC clock); col_encode.c turns events and runtime records into
 * capture records (what to write). Not an interface for anything outside
 * profiler/collector/.
 */
#ifndef HG_COL_INT_H
#define HG_COL_INT_H

#include "profiler/capture.h"
#include "profiler/collector/col_collect.h"
#include "profiler/collector/col_live.h"
#include "profiler/ring.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum col_state { COL_ST_NEW, COL_ST_HELD, COL_ST_LIVE, COL_ST_ENDED, COL_ST_MOVED };

/* How long a fork child may wait, held, for its parent's RT_REC_FORK before
 * it starts alone: it blocks once its rings are full. */
#define COL_HOLD_NS (1000ull * 1000000)

/* COL_DRAIN_READ only moves what the rings hold into the queues,
 * COL_DRAIN_MERGE also merges up to the watermark; COL_DRAIN_FINAL: the
 * process is gone or stopped, so everything published is final and busy
 * flags mean nothing. */
enum col_drain_mode { COL_DRAIN_READ, COL_DRAIN_MERGE, COL_DRAIN_FINAL };

/* Events taken out of one ring and not yet merged (time >= the watermark). */
struct col_queue {
    struct rt_rec *v;
    size_t head, len, cap;
    uint32_t thread;  /* the ring's thread index when these were read */
    uint64_t last_ns; /* time of the last event read from the ring */
};

struct col_column {
    uint8_t *p;
    size_t len, cap;
};


/* Per thread index: the address delta base and the reuse stacks. */
struct col_thr {
    uint64_t prev_addr;
    uint8_t n[HG_EV_REUSE_CLASSES];
    uint64_t reuse[HG_EV_REUSE_CLASSES][HG_EV_REUSE_DEPTH];
};

/* One process image: its connection and rings, the events waiting to be
 * merged, its live blocks and the encoder's state. NEW: connected, no HELLO
 * yet; HELD: a fork child waiting for its parent's RT_REC_FORK; LIVE: has a
 * stream number (connected, or started by its parent's fork and not yet
 * connected); ENDED: PROCESS_END written; MOVED: a connection handed over. */
struct col_stream {
    enum col_state state;
    uint32_t id, parent_id, origin;
    pid_t pid, ppid;
    pid_t peer;          /* the connected process (SO_PEERCRED) */
    int peer_gone;       /* it had exited when accepted: its ancestry is unknown */
    int unlinked;        /* live, its connection closed by the program (col_conn_closed) */
    int fd;              /* connection, -1 once closed */
    struct rt_shm *shm;  /* NULL when not connected */
    int statm_fd;
    uint64_t hello_ns;
    int tsc;             /* its events carry TSC ticks (rt_shm.clock) */
    int membarrier;      /* the watermark's fence is ours to run (rt_shm.fence) */
    char *argv, *exe;    /* from HELLO (argv NUL-separated) */
    size_t argv_len, exe_len;
    struct col_queue *q; /* RT_SHM_RINGS queues while connected, else NULL */
    struct col_live live;
    uint64_t nalloc;
    /* event encoder (capture.h "Events") */
    struct col_column col[HG_EV_COLUMNS];
    size_t ev_bytes;     /* in all columns */
    size_t ev_room;      /* every column has room for this many bytes */
    uint64_t ev_count, last_us;
    uint32_t last_thread;
    struct col_thr **thr;/* per thread index */
    size_t nthr;
    /* life */
    int exec_pending, have_exit, exit_snapshot, end_pending;
    uint64_t held_ns;    /* HELD since (the collector's clock) */
    int gone;            /* HELD, its connection closed: its rings wait for the fork */
    int alone;           /* a fork child started without its parent's RT_REC_FORK */
    unsigned end_how;    /* enum hg_end, once ENDED */
    uint64_t exit_status, exit_how, exit_ns;
    /* snapshot in progress */
    uint32_t snap_id, snap_reason;
    uint8_t *ed;
    size_t ed_len, ed_cap;
    uint64_t ed_batch, ed_total;
    /* Python objects and parts of the snapshot under way (col_pyenc.c) */
    uint8_t *po, *pp;
    size_t po_len, po_cap, pp_len, pp_cap;
    uint64_t po_batch, pp_batch, po_next;
    uint64_t conflicts, malformed;
    uint64_t overrun;      /* drains that found a ring holding more than its size */
    uint64_t losses;       /* losses noted for this stream (HG_NOTE_LOSS) */
};

struct col_reaped {
    pid_t pid;
    int status;
};

/* A program started with posix_spawn or from a vfork child (RT_REC_SPAWN)
 * that has not said HELLO. */
struct col_spawn {
    pid_t pid, ppid;
};

/* The session: every stream ever seen (freed at the end), the statuses
 * reaped before their stream ended, the timers. */
struct col {
    const struct col_config *cfg;
    struct col_writer *w;
    int ep, sigfd, timerfd;
    struct col_stream **s;
    size_t ns, cap;
    uint32_t next_id;
    uint64_t events;
    struct col_reaped *reaped;
    size_t nreaped, reaped_cap;
    struct col_spawn *spawns;
    size_t nspawns, spawns_cap;
    int child_done, child_status, no_children;
    size_t open_conns;
    uint64_t next_sample, next_flush, next_merge;
    long page;
    uint8_t *blob;       /* scratch for multi-slot records */
    uint8_t *hello_buf;  /* col_read_hellos' message (the loop's may hold another) */
    size_t hello_cap;
    int reading_hellos;
    /* TSC ticks -> ns: ns = tsc_ns + (ticks - tsc_at) * tsc_mult / 2^32,
     * fixed once the first TSC stream says HELLO (tsc_mult 0 before). */
    uint64_t tsc_at, tsc_ns, tsc_mult;
    uint64_t cal_tsc, cal_ns; /* the pair read at setup */
};

static inline uint64_t col_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t col_to_us(const struct col *c, uint64_t ns)
{
    return ns > c->cfg->start_ns ? (ns - c->cfg->start_ns) / 1000 : 0;
}

/* An event time of stream s in CLOCK_MONOTONIC ns (converted when the
 * stream's runtime stamps with the TSC). */
static inline uint64_t col_ev_ns(const struct col *c, const struct col_stream *s, uint64_t t)
{
    if (!s->tsc)
        return t;
    __int128 d = (__int128)(int64_t)(t - c->tsc_at) * (__int128)c->tsc_mult;
    return c->tsc_ns + (uint64_t)(int64_t)(d >> 32);
}

/* The TSC, read after every earlier instruction and before any later load
 * (the watermark's reads of busy must not pass it). */
static inline uint64_t col_tsc_read(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) :: "memory");
    return (uint64_t)hi << 32 | lo;
#else
    return 0;
#endif
}

/* The stream's event clock now (the watermark). */
static inline uint64_t col_stream_now(const struct col_stream *s)
{
    return s->tsc ? col_tsc_read() : col_now_ns();
}

/* The merge order of two events of one stream: by time as read, and at
 * equal times a free first (ring.h: the address it gives back may be the
 * other's). */
static inline int col_ev_before(const struct rt_rec *a, const struct rt_rec *b)
{
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns;
    return (a->type & RT_REC_TYPE_MASK) == RT_REC_FREE && (b->type & RT_REC_TYPE_MASK) != RT_REC_FREE;
}

/* ---------------------------------------------------------- col_collect.c */

/* Reads the HELLO of every connection accepted before `upto` (all when
 * NULL) that has not said it yet, in the order they connected: the image
 * that connected first is known first, whatever order epoll reports them. */
void col_read_hellos(struct col *c, const struct col_stream *upto);

/* ------------------------------------------------------------ col_clock.c */

/* Reads the setup pair of the TSC calibration. */
void col_clock_start(struct col *c);
/* Fixes the TSC rate (once; the first TSC stream's HELLO calls it). */
void col_tsc_calibrate(struct col *c);

/* ----------------------------------------------------------- col_stream.c */

/* A new stream in state NEW (NULL when out of memory); the session owns it. */
struct col_stream *col_stream_new(struct col *c);
void col_stream_free(struct col_stream *s);
/* The stream of pid in one of the given states (a mask of 1u << state)
 * that appeared last, or NULL. */
struct col_stream *col_find_pid(struct col *c, pid_t pid, unsigned states);
/* Gives the stream its number and writes its HG_REC_PROCESS. */
void col_stream_start(struct col *c, struct col_stream *s, uint32_t origin,
                      const struct col_stream *parent, uint64_t time_ns);
/* Writes the stream's pending events and its HG_REC_PROCESS_END. */
void col_stream_end(struct col *c, struct col_stream *s, unsigned how, uint64_t code, unsigned flags);
/* Ends the stream with a wait status. */
void col_stream_end_status(struct col *c, struct col_stream *s, int status);
/* Ends the stream with the runtime's RT_REC_EXIT status, else as unknown. */
void col_stream_end_known(struct col *c, struct col_stream *s);
/* Copies len bytes of src into a new NUL-terminated *dst. Returns 0 or -1. */
int col_copy_str(char **dst, size_t *dlen, const char *src, size_t len);
/* Closes the stream's connection and unmaps its rings. */
void col_close_conn(struct col *c, struct col_stream *s);
/* Takes pid's status from those reaped before its stream ended. Returns 1
 * when there was one. */
int col_reaped_status(struct col *c, pid_t pid, int *status);
/* Starts a held fork child now, with its inherited blocks if its parent's
 * RT_REC_FORK can still be reached. */
void col_resolve_held(struct col *c, struct col_stream *s);
/* A held child has just started: if its connection closed while it was
 * held (gone), it ends now, or like an unlinked stream if it still runs. */
void col_after_hold(struct col *c, struct col_stream *s);
/* Resolves the fork children held longer than COL_HOLD_NS (at `now`). */
void col_resolve_stale(struct col *c, uint64_t now);
/* The image behind s is gone (EOF, or, with exec_seen, a new image of its
 * pid said HELLO). */
void col_image_gone(struct col *c, struct col_stream *s, int exec_seen);
/* The control connection of s reached EOF: the image is gone, or the
 * program closed the runtime's descriptor (a daemon closing what it
 * inherited) and goes on recording into its rings: then the stream stays
 * live without a connection until the process ends (col_check_orphans) or
 * the runtime connects again (RT_ORIGIN_RECONNECT). */
void col_conn_closed(struct col *c, struct col_stream *s);
/* Ends the streams left without a connection whose process is gone. */
void col_check_orphans(struct col *c);

/* ------------------------------------------------------------ col_drain.c */

/* Drains every ring of a connected stream (see enum col_drain_mode). */
void col_drain(struct col *c, struct col_stream *s, enum col_drain_mode mode);

/* ----------------------------------------------------------- col_origin.c */

/* The parent's RT_REC_FORK, merged at time t: starts the child's stream. */
void col_on_fork(struct col *c, struct col_stream *parent, uint32_t thread, uint64_t t, pid_t pid);
/* RT_REC_SPAWN: parent started program `pid` (failed: its vfork child's
 * exec failed). A program that never says HELLO is a loss at the end. */
void col_on_spawn(struct col *c, const struct col_stream *parent, pid_t pid, int failed);
/* A HELLO on the connection of s, with the ring memfd it passed (closed
 * here). Returns the stream that owns the connection afterwards. */
struct col_stream *col_on_hello(struct col *c, struct col_stream *s, const struct rt_msg *m,
                                const uint8_t *data, size_t len, int memfd);

/* ------------------------------------------------------------- col_snap.c */

/* RT_MSG_SNAP_REQ: writes the snapshot's live set and sends it back. */
void col_on_snap_req(struct col *c, struct col_stream *s, const struct rt_msg *m);

/* ----------------------------------------------------------- col_sample.c */

/* Writes an HG_REC_SAMPLE for every connected stream. */
void col_sample(struct col *c, uint64_t now);

/* ------------------------------------------------------------ col_encode.c */

/* Grows *b to hold `need` bytes. Returns 0 or -1 (out of memory). */
int col_buf_grow(uint8_t **b, size_t *cap, size_t need);

/* The parent pid of a live or zombie process, -1 if it is gone
 * (col_stream.c). */
pid_t col_parent_of(pid_t pid);
/* 1 when pid is this process or one of its descendants, 0 when not, -1
 * when it is gone. This process is a child subreaper: a descendant whose
 * parent died is its child. */
int col_of_this_run(pid_t pid);

/* Writes an HG_REC_NOTE for stream s (NULL: the capture), printf-style;
 * col_loss one of kind HG_NOTE_LOSS: something was not recorded. */
void col_note(struct col *c, struct col_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void col_loss(struct col *c, struct col_stream *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Events, in the stream's order (capture.h "Events"). col_emit_run encodes
 * the ALLOC and FREE records at the start of v[0..n), the queued events of
 * the ring of thread index `thread`: the first unconditionally, each later
 * one while it comes before W and no later than *next (the earliest event
 * of the other rings; NULL: there is none). Allocations enter the live map;
 * a free becomes a reference to its live block, or FREE_UNKNOWN; the FREE
 * half of a realloc whose ALLOC half follows and also qualifies (strictly
 * before *next) becomes one REALLOC. Returns the records consumed: it stops
 * at any other type of event, which the caller handles. One call per run
 * of a ring's events keeps the per-event work in this file's inlined code. */
size_t col_emit_run(struct col *c, struct col_stream *s, uint32_t thread, const struct rt_rec *v,
                    size_t n, uint64_t W, const struct rt_rec *next);
void col_emit_mark(struct col *c, struct col_stream *s, uint32_t thread, uint64_t t, unsigned kind,
                   uint64_t value);

/* Frees the encoder state of a thread index whose thread has ended and
 * whose events are all written (its ring went from CLOSED to FREE): thread
 * indexes are never reused, so a program that starts threads all its life
 * does not grow the collector. */
void col_thread_done(struct col_stream *s, uint32_t thread);

/* Writes the stream's pending events as one HG_REC_EVENTS record (none if
 * there are none); before any record that must follow them. */
void col_flush_events(struct col *c, struct col_stream *s);

/* Runtime records that are not time-ordered, written as they are drained.
 * col_transcode_blob returns -1 when the payload is malformed. */
void col_transcode_stack(struct col *c, struct col_stream *s, const struct rt_rec *r,
                         const uint64_t *frames);
int col_transcode_blob(struct col *c, struct col_stream *s, const struct rt_rec *r, const uint8_t *p);
void col_transcode_edge(struct col *c, struct col_stream *s, const struct rt_rec *r);
void col_transcode_snap_end(struct col *c, struct col_stream *s, const struct rt_rec *r);
void col_flush_edges(struct col *c, struct col_stream *s);

/* ------------------------------------------------------------ col_pyenc.c */

/* Python objects of a snapshot: RT_REC_PYOBJ and RT_REC_PYPART records
 * become HG_REC_PYOBJECTS and HG_REC_PYPARTS (batched), the RT_BLOB_PY*
 * blobs their records. col_flush_py writes what is batched (at the end of
 * the snapshot). col_transcode_pyblob returns -1 for a malformed payload, 0
 * for anything else, a blob kind it does not know included. */
void col_transcode_pyrec(struct col *c, struct col_stream *s, const struct rt_rec *r);
int col_transcode_pyblob(struct col *c, struct col_stream *s, uint64_t kind, const uint8_t *p,
                         size_t len);
void col_flush_py(struct col *c, struct col_stream *s);

/* Writes the HG_REC_FORKED of a fork child and gives it a copy of its
 * parent's live map, numbers and all. */
void col_write_forked(struct col *c, struct col_stream *child, const struct col_stream *parent);

#endif
