/* SPDX-License-Identifier: MIT
 *
 * replay.h - private to report/: the working state of rep_capture_open()
 * while it reads a capture (reader.c) and replays each stream's events
 * (replay.c); rep_replay_publish() copies the model out of it into the
 * arena. It stays with the capture after that for what the passes that
 * finish the model need: the Python code tables (symbols.c) and the
 * writable view of the published model (rep_rw_process, rep_rw_snapshot).
 */
#ifndef HG_REP_REPLAY_H
#define HG_REP_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "report/model/arena.h"
#include "report/model/index.h"
#include "report/model/live.h"
#include "report/model/model.h"

/* A bounded view of a record payload. Every read checks the bytes left. */
struct rep_cursor {
    const uint8_t *p, *end;
};

/* Reads one LEB128 varint; -1 when it runs past the end or exceeds 64 bits. */
static inline int rep_cur_u64(struct rep_cursor *c, uint64_t *v)
{
    const uint8_t *p = c->p;
    if (p < c->end && *p < 0x80) {
        *v = *p;
        c->p = p + 1;
        return 0;
    }
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= c->end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *v = x;
            c->p = p;
            return 0;
        }
    }
    return -1;
}

static inline int64_t rep_unzz(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Per-site counters during replay. peak_* hold the site's live figures at the
 * last peak once `stamp` equals the stream's peak_id (see replay.c). */
struct rep_site_rt {
    uint64_t allocations, bytes, temporary;
    uint64_t live_blocks, live_bytes;
    uint64_t peak_blocks, peak_bytes;
    uint64_t stamp;
    uint64_t gc_freed, gc_freed_bytes, gc_freed_objects;
};

struct rep_reuse;

struct rep_thread_rt {
    uint64_t prev_addr;      /* the event address delta base of this thread */
    uint64_t last_alloc;     /* allocation number of its last allocation, or UINT64_MAX */
    struct rep_reuse *reuse; /* its address reuse stacks (replay.c), NULL until used */
};

/* A Python code object (HG_REC_PYCODE); strings and table in the arena. */
struct rep_pycode {
    const char *name, *file;
    unsigned first_line;
    const uint8_t *table;       /* line table, format by the stream's Python version */
    size_t table_len;
};

/* Python records of a snapshot as read (pyread.c); they may come before
 * the snapshot's mark gives its blocks, so the per-block view is built when
 * the model is published. */
struct rep_py_robj {
    uint32_t block, type, offset;   /* type: index into the stream's pytypes */
    uint8_t flags;
    uint64_t refcnt;
};

struct rep_py_rpart {
    uint32_t block, owner, a, b;
    uint8_t role;
};

struct rep_py_rname {
    uint32_t block, len;
    uint8_t kind;
    const char *text;               /* in the arena, len bytes (and a NUL) */
};

struct rep_snap_py {
    struct rep_py_robj *objs;
    size_t nobjs, objs_cap;
    struct rep_py_rpart *parts;
    size_t nparts, parts_cap;
    struct rep_py_rname *names;
    size_t nnames, names_cap;
    struct rep_pyframe_root *frames;
    size_t nframes, frames_cap;
};

/* A snapshot being assembled: the public struct plus capacities. */
struct rep_snap_rt {
    struct rep_snapshot pub;
    struct rep_block *blocks;
    struct rep_root *roots;
    struct rep_graph_edge *edges;
    size_t roots_cap, edges_cap;
    int have_record;
    uint64_t declared_blocks;
    struct rep_snap_py py;
};

/* A retention path made by rep_capture_classify(), writable, with the
 * snapshot it belongs to: symbolizing names its root later (symbols.c). */
struct rep_retention_rt {
    struct rep_retention *r;
    const struct rep_snapshot *snap;
};

struct rep_stream {
    struct rep_process p;            /* scalar fields filled as records come */
    uint32_t parent_stream;
    int have_process;
    uint32_t fork_from;              /* HG_REC_FORKED: the parent whose fork mark gives
                                        this stream its blocks; 0 once given */

    /* event decoder state, carried across HG_REC_EVENTS records */
    uint64_t time, nalloc;
    uint32_t thread;
    struct rep_thread_rt *thr;
    size_t nthr;                     /* entries of thr in use (max index + 1) */
    size_t thr_cap;

    struct rep_live_table live;
    uint64_t heap, heap_blocks;      /* in use now */
    uint64_t peak_id;

    struct rep_stack *stacks;        /* raw part only during replay */
    struct rep_site_rt *sites;
    size_t nstacks, stacks_cap;
    uint32_t *direct;                /* stack id -> index, for small ids */
    size_t direct_cap;
    struct rep_index stack_index;    /* stack id -> index, for the others */
    struct rep_index inherited_from; /* index of a site standing for a parent's
                                        (a fork's) -> the parent's site index */

    struct rep_module *modules;
    size_t nmodules, modules_cap;
    struct rep_thread *threads;
    size_t nthreads, threads_cap;
    struct rep_sample *samples;
    size_t nsamples, samples_cap;
    struct rep_snap_rt *snaps;
    size_t nsnaps, snaps_cap;
    const char **notes;
    size_t nnotes, notes_cap;
    const char **losses;
    size_t nlosses, losses_cap;

    struct rep_pycode *pycodes;
    size_t npycodes, pycodes_cap;
    struct rep_index pycode_index;   /* code id -> index */
    /* Python type names: per allocation number of a live (or not yet
     * replayed) block, an index into the distinct names. Entries go when the
     * block is freed, so this stays bounded by live blocks. */
    struct rep_index type_index;
    struct rep_index type_names;     /* hash of a name -> index into types */
    const char **types;              /* distinct names */
    size_t ntypes, types_cap;

    /* Python types (HG_REC_PYTYPE) and the collector (HG_REC_GC) */
    struct rep_pytype *pytypes;
    size_t npytypes, pytypes_cap;
    struct rep_index pytype_index;   /* type id -> index */
    struct rep_gc *gc;
    size_t ngc, gc_cap;
    struct rep_gc_gen gc_gens[3];
    int gc_seen;

    /* The published model of this stream, writable, from
     * rep_replay_publish() on. Renderers and gates see the model through its
     * const pointers; the passes that finish it (rep_capture_symbolize,
     * rep_capture_classify, rep_supp_filter_capture) change it through
     * these (rep_rw_process, rep_rw_snapshot) instead of casting const away. */
    struct rep_process *pub;
    struct rep_stack *pub_stacks;    /* pub->stacks */
    struct rep_snapshot *pub_snaps;  /* pub->snapshots */
    struct rep_retention_rt *rets;   /* every retention path of its snapshots */
    size_t nrets, rets_cap;
};

struct rep_replay {
    struct rep_arena *arena;
    const struct rep_open_opts *opts;   /* may be NULL */
    struct rep_stream **streams;     /* streams[i] is stream i+1 */
    size_t nstreams, streams_cap;
    const char **notes;
    size_t nnotes, notes_cap;
    const char **losses;
    size_t nlosses, losses_cap;
    uint64_t events;
    uint32_t module_keys;            /* sym_key of the next module published */
};

/* The stream with number `stream`, created (with every lower one) if new.
 * NULL for stream 0, a number absurdly far ahead, or out of memory. */
struct rep_stream *rep_replay_stream(struct rep_replay *r, uint64_t stream);

/* Index of the stack with id `id` in s, created undefined if new; -1 when
 * out of memory. */
int64_t rep_stream_stack(struct rep_stream *s, uint64_t id);

/* Thread record for `index`, created unseen if new; NULL when the index is
 * absurd or out of memory. */
struct rep_thread *rep_stream_thread(struct rep_stream *s, uint64_t index);

/* The snapshot with `id`, created if new; NULL when out of memory. */
struct rep_snap_rt *rep_stream_snapshot(struct rep_stream *s, uint64_t id);

/* Adds a note (copied into the arena) to the stream, or to the capture when
 * s is NULL; with `loss`, to the losses. -1 when out of memory. */
int rep_replay_note(struct rep_replay *r, struct rep_stream *s, const char *text, size_t len,
                    int loss);

/* Replays the payload of an HG_REC_EVENTS record after its stream field.
 * Events before a malformed one stay applied. 0, or -1 + err. */
int rep_replay_events(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c,
                      char *err, size_t errlen);

/* Replays an HG_REC_INHERIT payload after its stream field. 0, or -1 + err. */
int rep_replay_inherit(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c,
                       char *err, size_t errlen);

/* Replays an HG_REC_FORKED payload after its stream field. 0, or -1 + err. */
int rep_replay_forked(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c,
                      char *err, size_t errlen);

/* Copies everything into the capture's arena as the public model and sets
 * the final per-site and per-process figures. 0, or -1 + err. */
int rep_replay_publish(struct rep_replay *r, struct rep_capture *cap, char *err, size_t errlen);

/* Reads a Python record (HG_REC_PYTYPE .. HG_REC_GC) after its stream
 * field (pyread.c). 0, or -1 when malformed or out of memory. */
int rep_read_py(struct rep_replay *r, struct rep_stream *s, unsigned type, struct rep_cursor *c);

/* Builds a published snapshot's per-block Python view from what was read
 * (pyread.c). 0, or -1 when out of memory. */
int rep_publish_py(struct rep_arena *a, const struct rep_stream *s, struct rep_snap_rt *rt,
                   struct rep_snapshot *out);

/* Frees a snapshot's Python working state. */
void rep_snap_py_free(struct rep_snap_py *py);

/* Fills symbol, module and thread names of every retention path of a
 * classified capture (symbols.c); needs cap->sym for symbol names. */
void rep_retention_symbols(struct rep_capture *cap);

/* The indexes of the n sites with bytes at the peak, by peak_bytes desc,
 * in the arena (*npeak of them); NULL when out of memory. */
uint32_t *rep_peak_sites(struct rep_arena *a, const struct rep_site *sites, size_t n,
                         size_t *npeak);

/* Makes the sites of each Python process that read alike count under the
 * first of them (alike.c; rep_process.site_canon), once symbolized and
 * before classification; nothing with interpreter_frames. 0, or -1 when
 * out of memory. */
int rep_capture_merge_alike(struct rep_capture *cap);

/* Process i of a published capture, writable: for the passes that finish
 * the model, which say so by taking a non-const capture. */
static inline struct rep_process *rep_rw_process(struct rep_capture *cap, size_t i)
{
    return cap->replay->streams[i]->pub;
}

/* Snapshot s (one of process i's, or NULL) of a published capture, writable. */
static inline struct rep_snapshot *rep_rw_snapshot(struct rep_capture *cap, size_t i,
                                                   const struct rep_snapshot *s)
{
    return s ? &cap->replay->streams[i]->pub_snaps[s - cap->processes[i].snapshots] : NULL;
}

/* Frees the working state (not the arena). */
void rep_replay_free(struct rep_replay *r);

#endif
