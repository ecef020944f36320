/* SPDX-License-Identifier: MIT
 *
 * replay.c - replays each stream's events as capture.h defines them and keeps
 * only what a report needs: the live blocks (live.h, keyed by
 * allocation number), per-site counters, per-thread decoder state. Memory is
 * bounded by live blocks and distinct stacks, never by the number of events.
 *
 * The peak is exact without a second pass: every time the heap in use reaches
 * a new maximum the stream's peak_id moves on, and a site copies its live
 * figures into peak_* the first time it changes after that (its `stamp` lags
 * peak_id). A site untouched since the last peak still holds its value at the
 * peak in live_*, which rep_replay_publish() copies at the end.
 */
#include "report/model/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/capture.h"

#define MAX_STREAMS 65536u
#define MAX_THREADS (1u << 20)
#define NO_NUMBER UINT64_MAX

/* ---- streams, stacks, threads, snapshots ---------------------------------- */

struct rep_stream *rep_replay_stream(struct rep_replay *r, uint64_t stream)
{
    if (stream == 0 || stream > MAX_STREAMS || stream > r->nstreams + 64)
        return NULL;
    while (r->nstreams < stream) {
        if (rep_grow((void **)&r->streams, &r->streams_cap, r->nstreams + 1, sizeof *r->streams) < 0)
            return NULL;
        struct rep_stream *s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->p.stream = (uint32_t)(r->nstreams + 1);
        s->p.end_how = HG_END_UNKNOWN;
        s->p.exe = "?";
        r->streams[r->nstreams++] = s;
    }
    return r->streams[stream - 1];
}

/* Stack ids are small and dense in practice: they index an array, and only
 * ids far beyond the number of stacks seen go to the hash map. */
#define DIRECT_MAX (1u << 22)

static int direct_ok(struct rep_stream *s, uint64_t id)
{
    if (id < s->direct_cap)
        return 1;
    if (id >= DIRECT_MAX || id >= 8 * ((uint64_t)s->nstacks + 65536))
        return 0;
    size_t old = s->direct_cap;
    if (rep_grow((void **)&s->direct, &s->direct_cap, id + 1, sizeof *s->direct) < 0)
        return 0;
    for (size_t i = old; i < s->direct_cap; i++)
        s->direct[i] = REP_INDEX_NONE;
    return 1;
}

/* A new stack entry (and its site) with id `id`, in no id index; -1 when out
 * of memory. */
static int64_t new_stack(struct rep_stream *s, uint64_t id)
{
    if (s->nstacks >= UINT32_MAX - 1)
        return -1;
    size_t old_cap = s->stacks_cap;
    if (rep_grow((void **)&s->stacks, &s->stacks_cap, s->nstacks + 1, sizeof *s->stacks) < 0)
        return -1;
    if (s->stacks_cap != old_cap) {
        /* sites share the stacks' capacity */
        struct rep_site_rt *sites = realloc(s->sites, s->stacks_cap * sizeof *sites);
        if (!sites)
            return -1;
        s->sites = sites;
    }
    memset(&s->stacks[s->nstacks], 0, sizeof s->stacks[0]);
    memset(&s->sites[s->nstacks], 0, sizeof s->sites[0]);
    s->stacks[s->nstacks].id = (uint32_t)id;
    return (int64_t)s->nstacks++;
}

int64_t rep_stream_stack(struct rep_stream *s, uint64_t id)
{
    int direct = direct_ok(s, id);
    uint32_t i = direct ? s->direct[id] : rep_index_get(&s->stack_index, id);
    if (i != REP_INDEX_NONE)
        return i;
    int64_t n = new_stack(s, id);
    if (n < 0)
        return -1;
    if (direct)
        s->direct[id] = (uint32_t)n;
    else if (rep_index_put(&s->stack_index, id, (uint32_t)n) < 0)
        return -1;
    return n;
}

static struct rep_thread_rt *thread_rt(struct rep_stream *s, uint64_t index)
{
    if (index < s->nthr)
        return &s->thr[index];
    if (index >= MAX_THREADS)
        return NULL;
    if (rep_grow((void **)&s->thr, &s->thr_cap, index + 1, sizeof *s->thr) < 0)
        return NULL;
    for (size_t i = s->nthr; i <= index; i++) {
        s->thr[i].prev_addr = 0;
        s->thr[i].last_alloc = NO_NUMBER;
        s->thr[i].reuse = NULL;
    }
    s->nthr = index + 1;
    return &s->thr[index];
}

struct rep_thread *rep_stream_thread(struct rep_stream *s, uint64_t index)
{
    if (index >= MAX_THREADS)
        return NULL;
    if (index >= s->nthreads) {
        if (rep_grow((void **)&s->threads, &s->threads_cap, index + 1, sizeof *s->threads) < 0)
            return NULL;
        for (size_t i = s->nthreads; i <= index; i++) {
            memset(&s->threads[i], 0, sizeof s->threads[i]);
            s->threads[i].index = (uint32_t)i;
        }
        s->nthreads = index + 1;
    }
    return &s->threads[index];
}

struct rep_snap_rt *rep_stream_snapshot(struct rep_stream *s, uint64_t id)
{
    for (size_t i = 0; i < s->nsnaps; i++)
        if (s->snaps[i].pub.id == id)
            return &s->snaps[i];
    if (id > UINT32_MAX)
        return NULL;
    if (rep_grow((void **)&s->snaps, &s->snaps_cap, s->nsnaps + 1, sizeof *s->snaps) < 0)
        return NULL;
    struct rep_snap_rt *n = &s->snaps[s->nsnaps++];
    memset(n, 0, sizeof *n);
    n->pub.id = (uint32_t)id;
    return n;
}

int rep_replay_note(struct rep_replay *r, struct rep_stream *s, const char *text, size_t len,
                    int loss)
{
    const char ***arr = loss ? (s ? &s->losses : &r->losses) : (s ? &s->notes : &r->notes);
    size_t *n = loss ? (s ? &s->nlosses : &r->nlosses) : (s ? &s->nnotes : &r->nnotes);
    size_t *cap = loss ? (s ? &s->losses_cap : &r->losses_cap) : (s ? &s->notes_cap : &r->notes_cap);
    char *copy = rep_arena_strndup(r->arena, text, len);
    if (!copy || rep_grow((void **)arr, cap, *n + 1, sizeof **arr) < 0)
        return -1;
    (*arr)[(*n)++] = copy;
    return 0;
}

/* ---- blocks ------------------------------------------------------------------ */

/* Brings a site's peak figures up to date before its live figures change. */
static inline void site_touch(struct rep_stream *s, struct rep_site_rt *site)
{
    if (site->stamp != s->peak_id) {
        site->peak_blocks = site->live_blocks;
        site->peak_bytes = site->live_bytes;
        site->stamp = s->peak_id;
    }
}

static int add_block(struct rep_stream *s, uint64_t number, uint64_t addr, uint64_t size,
                     uint32_t site_index)
{
    struct rep_live b = {number, addr, size, site_index};
    if (rep_live_put(&s->live, &b) < 0)
        return -1;
    struct rep_site_rt *site = &s->sites[site_index];
    site_touch(s, site);
    site->live_blocks++;
    site->live_bytes += size;
    s->heap += size;
    s->heap_blocks++;
    if (s->heap > s->p.peak_bytes) {
        s->p.peak_bytes = s->heap;
        s->p.peak_blocks = s->heap_blocks;
        s->p.peak_time_us = s->time;
        s->peak_id++;
    }
    return 0;
}

static void end_block(struct rep_stream *s, const struct rep_live *b)
{
    struct rep_site_rt *site = &s->sites[b->site];
    site_touch(s, site);
    site->live_blocks--;
    site->live_bytes -= b->size;
    s->heap -= b->size;
    s->heap_blocks--;
}

/* ---- address reuse stacks -------------------------------------------------
 * The writer predicts that an allocation gets back the block its thread freed
 * last in the same size class (glibc's tcache); a correct prediction costs
 * one byte. The decoder keeps the same stacks: per thread index and class,
 * the HG_EV_REUSE_DEPTH latest freed addresses. */

struct rep_reuse {
    uint64_t addr[HG_EV_REUSE_CLASSES][HG_EV_REUSE_DEPTH];
    uint8_t top[HG_EV_REUSE_CLASSES], count[HG_EV_REUSE_CLASSES];
};

static int reuse_push(struct rep_thread_rt *t, uint64_t size, uint64_t addr)
{
    if (size > HG_EV_REUSE_MAX_SIZE)
        return 0;
    if (!t->reuse && !(t->reuse = calloc(1, sizeof *t->reuse)))
        return -1;
    size_t c = (size_t)HG_EV_REUSE_CLASS(size);
    struct rep_reuse *r = t->reuse;
    r->top[c] = (uint8_t)((r->top[c] + 1) % HG_EV_REUSE_DEPTH);
    r->addr[c][r->top[c]] = addr;
    if (r->count[c] < HG_EV_REUSE_DEPTH)
        r->count[c]++;
    return 0;
}

static int reuse_pop(struct rep_thread_rt *t, uint64_t size, uint64_t *addr)
{
    size_t c = (size_t)HG_EV_REUSE_CLASS(size);
    if (size > HG_EV_REUSE_MAX_SIZE || !t->reuse || !t->reuse->count[c])
        return -1;
    struct rep_reuse *r = t->reuse;
    *addr = r->addr[c][r->top[c]];
    r->top[c] = (uint8_t)((r->top[c] + HG_EV_REUSE_DEPTH - 1) % HG_EV_REUSE_DEPTH);
    r->count[c]--;
    return 0;
}

/* ---- events ------------------------------------------------------------------ */

/* The columns of one HG_REC_EVENTS record (enum hg_ev_column). */
struct cols {
    struct rep_cursor c[HG_EV_COLUMNS];
};

/* Decodes a delta-coded address v against the thread's previous address. */
static inline uint64_t delta_addr(struct rep_thread_rt *t, unsigned tag, uint64_t v)
{
    uint64_t d = (uint64_t)rep_unzz(v);
    t->prev_addr += (tag & HG_EV_F_RAWADDR) ? d : d * HG_EV_ADDR_UNIT;
    return t->prev_addr;
}

/* An ALLOC/REALLOC address: 0 pops the reuse stack, else delta + 1. */
static int read_naddr(struct cols *k, struct rep_thread_rt *t, unsigned tag, uint64_t size,
                      uint64_t *addr, const char **why)
{
    uint64_t v;
    if (rep_cur_u64(&k->c[HG_EV_COL_ADDR], &v) < 0)
        return *why = "event cut short", -1;
    if (v)
        *addr = delta_addr(t, tag, v - 1);
    else if (reuse_pop(t, size, addr) < 0)
        return *why = "address reuse stack is empty", -1;
    else
        t->prev_addr = *addr;
    return 0;
}

/* Reads the new-block fields of ALLOC and REALLOC and makes the block. */
static int alloc_event(struct rep_replay *r, struct rep_stream *s, struct cols *k,
                       struct rep_thread_rt *t, unsigned tag, const char **why)
{
    uint64_t stack_id, size, align, addr;
    if (rep_cur_u64(&k->c[HG_EV_COL_STACK], &stack_id) < 0 ||
        rep_cur_u64(&k->c[HG_EV_COL_SIZE], &size) < 0 ||
        ((tag & HG_EV_F_ALIGN) && rep_cur_u64(&k->c[HG_EV_COL_SIZE], &align) < 0))
        return *why = "event cut short", -1;
    if (read_naddr(k, t, tag, size, &addr, why) < 0)
        return -1;
    int64_t site = rep_stream_stack(s, stack_id);
    if (site < 0)
        return *why = "out of memory", -1;
    /* The site is a likely cache miss: start loading it while the block goes
     * into the live table. */
    __builtin_prefetch(&s->sites[site], 1);
    uint64_t number = s->nalloc++;
    if (add_block(s, number, addr, size, (uint32_t)site) < 0)
        return *why = "out of memory", -1;
    s->sites[site].allocations++;
    s->sites[site].bytes += size;
    s->p.allocations++;
    s->p.allocated_bytes += size;
    t->last_alloc = number;
    if (r->opts && r->opts->block)
        r->opts->block(r->opts->arg, s->p.stream, 0, number, (uint32_t)site, size, s->time, 0);
    return 0;
}

/* A block the garbage collector freed, counted at its site. */
static void gc_freed(struct rep_stream *s, const struct rep_live *b, int object)
{
    struct rep_site_rt *site = &s->sites[b->site];
    site->gc_freed++;
    site->gc_freed_bytes += b->size;
    site->gc_freed_objects += object != 0;
    s->p.gc_freed++;
    s->p.gc_freed_objects += object != 0;
}

/* How a block ended, for free_ref: its FREE tag's HG_EV_F_GC and
 * HG_EV_F_PYOBJ bits, or BY_REALLOC (the old block of a realloc). */
#define BY_REALLOC 0x100u

/* Reads a ref and ends that block: a free, or the old block of a realloc.
 * Its address goes on the freeing thread's reuse stack. */
static int free_ref(struct rep_replay *r, struct rep_stream *s, struct cols *k,
                    struct rep_thread_rt *t, unsigned how, const char **why)
{
    int by_realloc = how == BY_REALLOC;
    uint64_t ref;
    struct rep_live b;
    if (rep_cur_u64(&k->c[HG_EV_COL_REF], &ref) < 0)
        return *why = "event cut short", -1;
    if (ref >= s->nalloc)
        return *why = "free refers to a block never allocated", -1;
    uint64_t number = s->nalloc - 1 - ref;
    if (rep_live_take(&s->live, number, &b) < 0)
        return *why = "free refers to a block that is not live", -1;
    end_block(s, &b);
    if (s->type_index.count)
        rep_index_del(&s->type_index, number);
    if (reuse_push(t, b.size, b.addr) < 0)
        return *why = "out of memory", -1;
    s->p.frees++;
    int temporary = !by_realloc && t->last_alloc == number;
    s->sites[b.site].temporary += temporary;
    if (!by_realloc && (how & HG_EV_F_GC))
        gc_freed(s, &b, how & HG_EV_F_PYOBJ);
    if (r->opts && r->opts->block)
        r->opts->block(r->opts->arg, s->p.stream, 1, number, b.site, b.size, s->time, temporary);
    return 0;
}

static int cmp_block_addr(const void *a, const void *b)
{
    const struct rep_block *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The live set at a snapshot mark becomes the snapshot's block list. */
static int mark_snapshot(struct rep_replay *r, struct rep_stream *s, uint64_t id,
                         const char **why)
{
    struct rep_snap_rt *snap = rep_stream_snapshot(s, id);
    if (!snap)
        return *why = "out of memory", -1;
    if (snap->pub.have_blocks)
        return *why = "snapshot marked twice", -1;
    struct rep_block *blocks = rep_arena_alloc(r->arena, (s->live.count + 1) * sizeof *blocks);
    if (!blocks)
        return *why = "out of memory", -1;
    size_t n = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; s->live.slots && i <= s->live.mask; i++) {
        const struct rep_live *l = &s->live.slots[i];
        if (l->number == REP_LIVE_EMPTY)
            continue;
        uint32_t ti = s->type_index.count ? rep_index_get(&s->type_index, l->number)
                                          : REP_INDEX_NONE;
        blocks[n++] = (struct rep_block){l->addr, l->size, l->number, l->site,
                                         ti == REP_INDEX_NONE ? NULL : s->types[ti]};
        bytes += l->size;
    }
    qsort(blocks, n, sizeof *blocks, cmp_block_addr);
    snap->blocks = blocks;
    snap->pub.nblocks = n;
    snap->pub.bytes = bytes;
    snap->pub.have_blocks = 1;
    if (!snap->have_record)
        snap->pub.time_us = s->time;
    return 0;
}

/* The child's site for the blocks of parent site `ps`: a site of its own,
 * reached by no stack id. A child's stack ids go on from its parent's
 * next id at the fork, but a thread of the parent that read its allocation's
 * time before the fork and took the stack's id after it gives a block
 * inherited by the child an id that the child's first new stack takes too
 * (rt_stack.c): looked up by id, that block went to the child's site. */
static int64_t inherited_site(struct rep_stream *s, struct rep_stream *c, uint32_t ps,
                              struct rep_index *sites)
{
    uint32_t cs = rep_index_get(sites, ps);
    if (cs != REP_INDEX_NONE)
        return cs;
    int64_t n = new_stack(c, s->stacks[ps].id);
    if (n < 0 || rep_index_put(sites, ps, (uint32_t)n) < 0 ||
        rep_index_put(&c->inherited_from, (uint64_t)n, ps) < 0)
        return -1;
    return n;
}

/* The blocks live in parent s at its fork mark become the child's, with
 * their numbers and stacks, at sites of the child that stand for the
 * parent's (inherited_site). */
static int give_blocks(struct rep_stream *s, struct rep_stream *c, const char **why)
{
    if (c->p.events)
        return *why = "a fork mark after its child's first events", -1;
    struct rep_index sites = {0};
    int rc = 0;
    for (size_t i = 0; s->live.slots && i <= s->live.mask && rc == 0; i++) {
        struct rep_live b = s->live.slots[i];
        if (b.number == REP_LIVE_EMPTY)
            continue;
        int64_t site = inherited_site(s, c, b.site, &sites);
        if (site < 0 || add_block(c, b.number, b.addr, b.size, (uint32_t)site) < 0) {
            rc = -1;
            break;
        }
        c->p.inherited_blocks++;
        c->p.inherited_bytes += b.size;
    }
    rep_index_release(&sites);
    if (rc < 0)
        return *why = "out of memory", -1;
    c->nalloc = c->p.own_from = s->nalloc;
    c->fork_from = 0;
    return 0;
}

/* A fork mark: the child learns which of the parent's blocks existed at the
 * fork, which tells later whose doing a lost inherited block was, and (from
 * format 3) gets them. */
static int mark_fork(struct rep_replay *r, struct rep_stream *s, uint64_t child,
                     const char **why)
{
    if (!child || child == s->p.stream)
        return 0;   /* the child was not recorded */
    struct rep_stream *c = rep_replay_stream(r, child);
    if (!c)
        return 0;
    c->p.fork_number = s->nalloc;
    return c->fork_from == s->p.stream ? give_blocks(s, c, why) : 0;
}

/* One event; returns -1 with *why set on malformed input. */
static int one_event(struct rep_replay *r, struct rep_stream *s, struct cols *k, const char **why)
{
    struct rep_cursor *tc = &k->c[HG_EV_COL_TAG];
    if (tc->p >= tc->end)
        return *why = "event cut short", -1;
    unsigned tag = *tc->p++;
    unsigned sel = tag >> HG_EV_SEL_SHIFT;
    uint64_t v, dt;
    if (sel == HG_EV_SEL_VARINT) {
        if (rep_cur_u64(tc, &v) < 0)
            return *why = "event cut short", -1;
        if (v >= MAX_THREADS)
            return *why = "thread index out of range", -1;
        s->thread = (uint32_t)v;
    } else if (sel != HG_EV_SEL_SAME) {
        s->thread = sel - 1;
    }
    struct rep_thread_rt *t = thread_rt(s, s->thread);
    if (!t)
        return *why = "out of memory", -1;
    if (rep_cur_u64(&k->c[HG_EV_COL_TIME], &dt) < 0)
        return *why = "event cut short", -1;
    s->time += dt;
    s->p.events++;
    uint64_t kind, addr;
    switch (tag & HG_EV_OP_MASK) {
    case HG_EV_ALLOC:
        return alloc_event(r, s, k, t, tag, why);
    case HG_EV_FREE:
        return free_ref(r, s, k, t, tag & (HG_EV_F_GC | HG_EV_F_PYOBJ), why);
    case HG_EV_FREE_UNKNOWN:
        if (rep_cur_u64(&k->c[HG_EV_COL_ADDR], &addr) < 0)
            return *why = "event cut short", -1;
        delta_addr(t, tag, addr);
        s->p.frees_unknown++;
        return 0;
    case HG_EV_REALLOC:
        if (free_ref(r, s, k, t, BY_REALLOC, why) < 0)
            return -1;
        s->p.reallocs++;
        return alloc_event(r, s, k, t, tag, why);
    case HG_EV_MARK:
        if (rep_cur_u64(&k->c[HG_EV_COL_REF], &kind) < 0 ||
            rep_cur_u64(&k->c[HG_EV_COL_REF], &v) < 0)
            return *why = "event cut short", -1;
        if (kind == HG_MARK_FORK)
            return mark_fork(r, s, v, why);
        return kind == HG_MARK_SNAPSHOT ? mark_snapshot(r, s, v, why) : 0;
    default:
        return *why = "unknown event op", -1;
    }
}

/* Splits the payload into its columns; their lengths must add up to it. */
static int split_columns(struct rep_cursor *c, struct cols *k)
{
    uint64_t len[HG_EV_COLUMNS], total = 0;
    for (int i = 0; i < HG_EV_COLUMNS; i++) {
        if (rep_cur_u64(c, &len[i]) < 0 || len[i] > (uint64_t)(c->end - c->p))
            return -1;
        total += len[i];
    }
    if (total != (uint64_t)(c->end - c->p))
        return -1;
    const uint8_t *p = c->p;
    for (int i = 0; i < HG_EV_COLUMNS; i++) {
        k->c[i] = (struct rep_cursor){p, p + len[i]};
        p += len[i];
    }
    c->p = c->end;
    return 0;
}

int rep_replay_events(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c,
                      char *err, size_t errlen)
{
    uint64_t n;
    struct cols k;
    const char *why = NULL;
    if (rep_cur_u64(c, &n) < 0 || split_columns(c, &k) < 0 ||
        n > (uint64_t)(k.c[HG_EV_COL_TAG].end - k.c[HG_EV_COL_TAG].p))
        return snprintf(err, errlen, "events record: bad event count or column lengths"), -1;
    for (uint64_t i = 0; i < n; i++) {
        if (one_event(r, s, &k, &why) < 0) {
            snprintf(err, errlen, "stream %u, event %llu of a record: %s", s->p.stream,
                     (unsigned long long)i, why);
            return -1;
        }
        r->events++;
    }
    if (s->time > s->p.end_us)
        s->p.end_us = s->time;
    return 0;
}

int rep_replay_inherit(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c,
                       char *err, size_t errlen)
{
    uint64_t parent, n, prev = 0;
    (void)r;
    if (rep_cur_u64(c, &parent) < 0 || rep_cur_u64(c, &n) < 0 || n > (uint64_t)(c->end - c->p))
        return snprintf(err, errlen, "inherit record: bad block count"), -1;
    /* Several records may carry one fork's blocks; all come before events. */
    if (s->p.events)
        return snprintf(err, errlen, "inherit record after the stream's first events"), -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t d, size, stack_id;
        if (rep_cur_u64(c, &d) < 0 || rep_cur_u64(c, &size) < 0 || rep_cur_u64(c, &stack_id) < 0)
            return snprintf(err, errlen, "inherit record cut short"), -1;
        prev += (uint64_t)rep_unzz(d);
        int64_t site = rep_stream_stack(s, stack_id);
        if (site < 0 || add_block(s, s->nalloc++, prev, size, (uint32_t)site) < 0)
            return snprintf(err, errlen, "out of memory"), -1;
        s->p.inherited_blocks++;
        s->p.inherited_bytes += size;
    }
    s->p.own_from = s->nalloc;
    return 0;
}

int rep_replay_forked(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c,
                      char *err, size_t errlen)
{
    uint64_t parent;
    (void)r;
    if (rep_cur_u64(c, &parent) < 0 || !parent || parent >= s->p.stream)
        return snprintf(err, errlen, "forked record: bad parent stream"), -1;
    if (s->p.events || s->nalloc)
        return snprintf(err, errlen, "forked record after the stream's first blocks"), -1;
    s->fork_from = (uint32_t)parent;
    return 0;
}

/* ---- publishing the model ------------------------------------------------ */

static void *copy_array(struct rep_arena *a, const void *src, size_t n, size_t size)
{
    if (n && size > SIZE_MAX / n)
        return NULL;
    return rep_arena_dup(a, src, n * size);
}

/* The parent's stack that site i of s stands for, following forks up; i
 * itself when it is no inherited site. */
static const struct rep_stack *origin_stack(struct rep_replay *r, const struct rep_stream *s,
                                            size_t i)
{
    uint32_t ps;
    while (s->parent_stream && s->parent_stream < s->p.stream &&
           (ps = rep_index_get(&s->inherited_from, i)) != REP_INDEX_NONE) {
        s = r->streams[s->parent_stream - 1];
        i = ps;
    }
    return &s->stacks[i];
}

/* The stacks of inherited sites are the parent's. A forked child's runtime
 * may keep its parent's stack ids (format versions 1 and 2 gave inherited
 * blocks by stack id): a stack the child used but never defined takes the
 * parent's definition of the same id. */
static void inherit_parent_stacks(struct rep_replay *r, struct rep_stream *s)
{
    for (size_t i = 0; i < s->nstacks; i++) {
        struct rep_stack *st = &s->stacks[i];
        const struct rep_stack *o = origin_stack(r, s, i);
        if (o != st && o->defined) {
            st->generation = o->generation;
            st->nraw = o->nraw;
            st->raw = o->raw;
            st->defined = 1;
        }
        const struct rep_stream *p = s;
        while (!st->defined && p->p.origin == HG_ORIGIN_FORK && p->parent_stream &&
               p->parent_stream < p->p.stream) {
            p = r->streams[p->parent_stream - 1];
            uint32_t j = st->id < p->direct_cap ? p->direct[st->id]
                                                : rep_index_get(&p->stack_index, st->id);
            if (j != REP_INDEX_NONE && p->stacks[j].defined) {
                st->generation = p->stacks[j].generation;
                st->nraw = p->stacks[j].nraw;
                st->raw = p->stacks[j].raw;
                st->defined = 1;
            }
        }
    }
}

struct peak_ctx {
    const struct rep_site *sites;
};

static int cmp_peak(const void *a, const void *b, void *ctx)
{
    const struct rep_site *sites = ((const struct peak_ctx *)ctx)->sites;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (sites[x].peak_bytes != sites[y].peak_bytes)
        return sites[x].peak_bytes > sites[y].peak_bytes ? -1 : 1;
    return x < y ? -1 : x > y;
}

uint32_t *rep_peak_sites(struct rep_arena *a, const struct rep_site *sites, size_t n,
                         size_t *npeak)
{
    uint32_t *peak = rep_arena_alloc(a, (n + 1) * sizeof *peak);
    if (!peak)
        return NULL;
    *npeak = 0;
    for (size_t i = 0; i < n; i++)
        if (sites[i].peak_bytes)
            peak[(*npeak)++] = (uint32_t)i;
    struct peak_ctx c = {sites};
    qsort_r(peak, *npeak, sizeof *peak, cmp_peak, &c);
    return peak;
}

static int cmp_leak_bytes(const void *a, const void *b, void *ctx)
{
    const struct rep_leak *x = a, *y = b;
    (void)ctx;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

/* Per site, the blocks live at the end that p answers for: for a fork
 * child, those it made (an inherited block still live is as its parent
 * left it: the child did not change its fate). NULL when out of memory. */
static struct rep_class_count *own_live(struct rep_stream *s, const struct rep_process *p)
{
    struct rep_class_count *own = calloc(s->nstacks + 1, sizeof *own);
    for (size_t i = 0; own && s->live.slots && i <= s->live.mask; i++) {
        const struct rep_live *l = &s->live.slots[i];
        if (l->number == REP_LIVE_EMPTY || l->number < p->own_from)
            continue;
        own[l->site].blocks++;
        own[l->site].bytes += l->size;
    }
    return own;
}

/* The not-freed entries of a process without an exit snapshot, of the
 * blocks it answers for: none for an image replaced by exec (its address
 * space is gone), a fork child's own blocks, else every live block. */
static int not_freed(struct rep_arena *a, struct rep_stream *s, struct rep_process *p,
                     const struct rep_site *sites, int whole_heap)
{
    size_t n = s->nstacks, nlive = 0;
    if (p->ended && p->end_how == REP_END_EXEC) {
        p->unjudged_blocks = p->live_blocks;
        p->unjudged_bytes = p->live_bytes;
        return 0;
    }
    struct rep_class_count *own = NULL;
    if (p->inherited_blocks && !whole_heap && !(own = own_live(s, p)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t blocks = own ? own[i].blocks : sites[i].live_blocks;
        nlive += blocks != 0;
    }
    struct rep_leak *leaks = rep_arena_alloc(a, (nlive + 1) * sizeof *leaks);
    if (!leaks)
        return free(own), -1;
    size_t k = 0;
    uint64_t blocks = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) {
        struct rep_class_count c = own ? own[i]
                                       : (struct rep_class_count){sites[i].live_blocks,
                                                                  sites[i].live_bytes};
        if (c.blocks)
            leaks[k++] = (struct rep_leak){REP_LEAK_NOT_FREED, (uint32_t)i, c.blocks, c.bytes,
                                           0, 0, 0, UINT32_MAX, NULL};
        blocks += c.blocks;
        bytes += c.bytes;
    }
    free(own);
    qsort_r(leaks, k, sizeof *leaks, cmp_leak_bytes, NULL);
    p->nleaks = k;
    p->leaks = leaks;
    p->unjudged_blocks = p->live_blocks - blocks;
    p->unjudged_bytes = p->live_bytes - bytes;
    return 0;
}

/* Final site figures, the sites of the peak, and the not-freed entries. */
static int publish_sites(struct rep_arena *a, struct rep_stream *s, struct rep_process *p,
                         int whole_heap)
{
    size_t n = s->nstacks;
    struct rep_stack *stacks = copy_array(a, s->stacks, n, sizeof *stacks);
    struct rep_site *sites = rep_arena_alloc(a, (n + 1) * sizeof *sites);
    if (!stacks || !sites)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct rep_site_rt *rt = &s->sites[i];
        site_touch(s, rt);
        sites[i] = (struct rep_site){&stacks[i], rt->allocations, rt->bytes, rt->temporary,
                                     rt->live_blocks, rt->live_bytes, rt->peak_blocks,
                                     rt->peak_bytes, rt->gc_freed, rt->gc_freed_bytes,
                                     rt->gc_freed_objects};
    }
    size_t npeak;
    uint32_t *peak = rep_peak_sites(a, sites, n, &npeak);
    if (!peak)
        return -1;
    p->nstacks = n;
    p->stacks = s->pub_stacks = stacks;
    p->sites = sites;
    p->npeak_sites = npeak;
    p->peak_sites = peak;
    if (p->exit_snapshot)
        return 0;
    return not_freed(a, s, p, sites, whole_heap);
}

static int cmp_snap_id(const void *a, const void *b)
{
    const struct rep_snapshot *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int publish_snapshots(struct rep_arena *a, struct rep_stream *s, struct rep_process *p)
{
    struct rep_snapshot *snaps = rep_arena_alloc(a, (s->nsnaps + 1) * sizeof *snaps);
    if (!snaps)
        return -1;
    for (size_t i = 0; i < s->nsnaps; i++) {
        struct rep_snap_rt *rt = &s->snaps[i];
        struct rep_snapshot *o = &snaps[i];
        *o = rt->pub;
        o->blocks = rt->blocks;
        o->roots = copy_array(a, rt->roots, rt->pub.nroots, sizeof *rt->roots);
        o->edges = copy_array(a, rt->edges, rt->pub.nedges, sizeof *rt->edges);
        if (!o->roots || !o->edges || rep_publish_py(a, s, rt, o) < 0)
            return -1;
        /* Anything short of mark + record + end (or a count that disagrees)
         * means the scan is not whole. */
        if (!o->have_blocks || !rt->have_record || !o->ended ||
            rt->declared_blocks != o->nblocks)
            o->partial = 1;
    }
    /* The exit snapshot needs its record (for the reason) and its blocks. */
    uint64_t exit_id = UINT64_MAX;
    for (size_t i = 0; i < s->nsnaps; i++)
        if (s->snaps[i].have_record && s->snaps[i].pub.reason == 0 &&
            s->snaps[i].pub.have_blocks && s->snaps[i].pub.id < exit_id)
            exit_id = s->snaps[i].pub.id;
    qsort(snaps, s->nsnaps, sizeof *snaps, cmp_snap_id);
    p->nsnapshots = s->nsnaps;
    p->snapshots = s->pub_snaps = snaps;
    for (size_t i = 0; i < s->nsnaps; i++)
        if (snaps[i].id == exit_id)
            p->exit_snapshot = &snaps[i];
    return 0;
}

static int publish_stream(struct rep_replay *r, struct rep_stream *s, struct rep_process *p)
{
    struct rep_arena *a = r->arena;
    inherit_parent_stacks(r, s);
    *p = s->p;
    p->live_blocks = s->heap_blocks;
    p->live_bytes = s->heap;
    if (s->time > p->end_us && !p->ended)
        p->end_us = s->time;
    struct rep_module *modules = copy_array(a, s->modules, s->nmodules, sizeof *s->modules);
    for (size_t i = 0; modules && i < s->nmodules; i++)
        modules[i].sym_key = r->module_keys++;
    p->modules = modules;
    p->threads = copy_array(a, s->threads, s->nthreads, sizeof *s->threads);
    p->samples = copy_array(a, s->samples, s->nsamples, sizeof *s->samples);
    p->notes = copy_array(a, s->notes, s->nnotes, sizeof *s->notes);
    p->losses = copy_array(a, s->losses, s->nlosses, sizeof *s->losses);
    p->pytypes = copy_array(a, s->pytypes, s->npytypes, sizeof *s->pytypes);
    p->gc = copy_array(a, s->gc, s->ngc, sizeof *s->gc);
    if (!p->modules || !p->threads || !p->samples || !p->notes || !p->losses || !p->pytypes ||
        !p->gc)
        return -1;
    p->nlosses = s->nlosses;
    p->npytypes = s->npytypes;
    p->ngc = s->ngc;
    memcpy(p->gc_gens, s->gc_gens, sizeof p->gc_gens);
    p->gc_seen = s->gc_seen;
    p->nmodules = s->nmodules;
    p->nthreads = s->nthreads;
    p->nsamples = s->nsamples;
    p->nnotes = s->nnotes;
    if (publish_snapshots(a, s, p) < 0)
        return -1;
    return publish_sites(a, s, p, r->opts && r->opts->whole_heap);
}

int rep_replay_publish(struct rep_replay *r, struct rep_capture *cap, char *err, size_t errlen)
{
    struct rep_process *procs = rep_arena_alloc(r->arena, (r->nstreams + 1) * sizeof *procs);
    const char **notes = copy_array(r->arena, r->notes, r->nnotes, sizeof *r->notes);
    const char **losses = copy_array(r->arena, r->losses, r->nlosses, sizeof *r->losses);
    if (!procs || !notes || !losses)
        return snprintf(err, errlen, "out of memory"), -1;
    for (size_t i = 0; i < r->nstreams; i++) {
        r->streams[i]->pub = &procs[i];
        if (publish_stream(r, r->streams[i], &procs[i]) < 0)
            return snprintf(err, errlen, "out of memory"), -1;
    }
    for (size_t i = 0; i < r->nstreams; i++) {
        uint32_t ps = r->streams[i]->parent_stream;
        struct rep_process *from = ps && ps <= r->nstreams && ps != i + 1 ? &procs[ps - 1] : NULL;
        procs[i].parent = from;
        if (procs[i].origin == REP_ORIGIN_EXEC && from && from < &procs[i] && !from->exec_next)
            from->exec_next = &procs[i];
    }
    cap->processes = procs;
    cap->nprocesses = r->nstreams;
    cap->notes = notes;
    cap->nnotes = r->nnotes;
    cap->losses = losses;
    cap->nlosses = r->nlosses;
    cap->events = r->events;
    cap->whole_heap = r->opts && r->opts->whole_heap;
    return 0;
}

static void stream_free(struct rep_stream *s)
{
    for (size_t i = 0; i < s->nthr; i++)
        free(s->thr[i].reuse);
    free(s->thr);
    rep_live_release(&s->live);
    free(s->stacks);
    free(s->sites);
    free(s->direct);
    rep_index_release(&s->stack_index);
    rep_index_release(&s->inherited_from);
    free(s->modules);
    free(s->threads);
    free(s->samples);
    for (size_t i = 0; i < s->nsnaps; i++) {
        free(s->snaps[i].roots);
        free(s->snaps[i].edges);
        rep_snap_py_free(&s->snaps[i].py);
    }
    free(s->snaps);
    free(s->notes);
    free(s->losses);
    free(s->pycodes);
    rep_index_release(&s->pycode_index);
    rep_index_release(&s->type_index);
    rep_index_release(&s->type_names);
    free(s->types);
    free(s->pytypes);
    rep_index_release(&s->pytype_index);
    free(s->gc);
    free(s->rets);
    free(s);
}

void rep_replay_free(struct rep_replay *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nstreams; i++)
        stream_free(r->streams[i]);
    free(r->streams);
    free(r->notes);
    free(r->losses);
    free(r);
}
