/* SPDX-License-Identifier: MIT
 *
 * col_encode.c - the collector's encoder: turns a process's merged events
 * into the columns of HG_REC_EVENTS records (frees as references to their
 * live block, addresses as per-thread deltas or reuse-stack hits, see
 * capture.h "Events"), and the runtime's other records (stacks, modules,
 * threads, notes, Python frames, snapshot roots and edges) into their capture
 * records. col_collect.c decides when; this file decides the bytes.
 */
#include "profiler/collector/col_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EV_FLUSH_BYTES (900u << 10) /* big records: each column compresses as one run */
#define EDGE_BATCH 4096u           /* edges per HG_REC_EDGES record */
#define PREFETCH_AHEAD 8u          /* events: about as long as a live-map miss takes */

/* ---------------------------------------------------------------- buffers */

int col_buf_grow(uint8_t **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    uint8_t *p = realloc(*b, n);
    if (!p)
        return -1;
    *b = p;
    *cap = n;
    return 0;
}

static void note(struct col *c, struct col_stream *s, unsigned kind, const char *fmt, va_list ap)
{
    char text[320];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    col_rec_begin(c->w, HG_REC_NOTE);
    col_put_u(c->w, s ? s->id : 0);
    col_put_u(c->w, col_to_us(c, col_now_ns()));
    col_put_str(c->w, text, n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
    if (kind != HG_NOTE_INFO)
        col_put_u(c->w, kind);
    col_rec_end(c->w);
}

void col_note(struct col *c, struct col_stream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note(c, s, HG_NOTE_INFO, fmt, ap);
    va_end(ap);
}

void col_loss(struct col *c, struct col_stream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note(c, s, HG_NOTE_LOSS, fmt, ap);
    va_end(ap);
}

/* ----------------------------------------------------------- event encoder */

static int size_class(uint64_t size)
{
    return size <= HG_EV_REUSE_MAX_SIZE ? (int)HG_EV_REUSE_CLASS(size) : -1;
}

/* Writes the stream's pending events as one HG_REC_EVENTS record. */
void col_flush_events(struct col *c, struct col_stream *s)
{
    if (!s->ev_count)
        return;
    col_rec_begin(c->w, HG_REC_EVENTS);
    col_put_u(c->w, s->id);
    col_put_u(c->w, s->ev_count);
    const uint8_t *part[HG_EV_COLUMNS];
    size_t len[HG_EV_COLUMNS];
    for (int k = 0; k < HG_EV_COLUMNS; k++) {
        col_put_u(c->w, s->col[k].len);
        part[k] = s->col[k].p;
        len[k] = s->col[k].len;
        s->col[k].len = 0;
    }
    col_rec_end_parts(c->w, part, len, HG_EV_COLUMNS);
    c->events += s->ev_count;
    s->ev_bytes = 0;
    s->ev_count = 0;
}

/* The encoder's working copy of a stream's event state: where the next byte
 * of each column goes, and the counters. A store through a byte pointer may
 * alias any field of the stream, so encoding into s->col directly made the
 * compiler reload and store back every field around every byte; a local
 * copy stays in registers. out_load and out_store move it. */
struct ev_out {
    uint8_t *p[HG_EV_COLUMNS];
    size_t bytes, room;  /* s->ev_bytes, s->ev_room */
    uint64_t count, last_us, nalloc, start_ns;
    uint32_t last_thread;
};

/* For everything that takes a struct ev_out: a call that is not inlined
 * takes its address, and the copy is back in memory that bytes may alias. */
#define EV_INLINE static inline __attribute__((always_inline))

EV_INLINE void out_load(const struct col *c, const struct col_stream *s, struct ev_out *o)
{
    for (int k = 0; k < HG_EV_COLUMNS; k++)
        o->p[k] = s->col[k].p + s->col[k].len;
    o->bytes = s->ev_bytes;
    o->room = s->ev_room;
    o->count = s->ev_count;
    o->last_us = s->last_us;
    o->nalloc = s->nalloc;
    o->start_ns = c->cfg->start_ns;
    o->last_thread = s->last_thread;
}

EV_INLINE void out_store(struct col_stream *s, const struct ev_out *o)
{
    for (int k = 0; k < HG_EV_COLUMNS; k++)
        s->col[k].len = (size_t)(o->p[k] - s->col[k].p);
    s->ev_bytes = o->bytes;
    s->ev_count = o->count;
    s->last_us = o->last_us;
    s->nalloc = o->nalloc;
    s->last_thread = o->last_thread;
}

EV_INLINE void put(struct ev_out *o, int k, uint64_t v)
{
    size_t n = col_varint(o->p[k], v);
    o->p[k] += n;
    o->bytes += n;
}

/* The encoder state of a thread index, created on first use; NULL when out
 * of memory. */
static struct col_thr *thr(struct col_stream *s, uint32_t thread)
{
    if (thread >= s->nthr) {
        size_t n = s->nthr ? s->nthr : 8;
        while (n <= thread)
            n *= 2;
        struct col_thr **v = realloc(s->thr, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + s->nthr, 0, (n - s->nthr) * sizeof *v);
        s->thr = v;
        s->nthr = n;
    }
    if (!s->thr[thread])
        s->thr[thread] = calloc(1, sizeof(struct col_thr));
    return s->thr[thread];
}

void col_thread_done(struct col_stream *s, uint32_t thread)
{
    if (thread < s->nthr) {
        free(s->thr[thread]);
        s->thr[thread] = NULL;
    }
}

static inline void reuse_push(struct col_thr *t, uint64_t size, uint64_t addr)
{
    int k = size_class(size);
    if (k < 0)
        return;
    if (t->n[k] == HG_EV_REUSE_DEPTH) {
        memmove(t->reuse[k], t->reuse[k] + 1, (HG_EV_REUSE_DEPTH - 1) * sizeof t->reuse[k][0]);
        t->n[k]--;
    }
    t->reuse[k][t->n[k]++] = addr;
}

/* 1 (and pops it) when addr is the top of its class's reuse stack. */
static inline int reuse_hit(struct col_thr *t, uint64_t size, uint64_t addr)
{
    int k = size_class(size);
    if (k < 0 || !t->n[k] || t->reuse[k][t->n[k] - 1] != addr)
        return 0;
    t->n[k]--;
    return 1;
}

/* Grows every column to hold `need` bytes. No column holds more than all
 * of them together (ev_bytes) and an event adds at most EV_MAX bytes to
 * one, so room for ev_bytes + EV_MAX in each spares the per-column checks
 * on every event. */
#define EV_MAX 24

static int grow_columns(struct col_stream *s, size_t need)
{
    for (int k = 0; k < HG_EV_COLUMNS; k++)
        if (col_buf_grow(&s->col[k].p, &s->col[k].cap, need) < 0)
            return -1;
    s->ev_room = need;
    return 0;
}

/* Writes the pending events once they make a big record, and grows the
 * columns when an event might not fit. Returns 0 or -1 (out of memory). */
static int make_room(struct col *c, struct col_stream *s)
{
    if (s->ev_bytes >= EV_FLUSH_BYTES)
        col_flush_events(c, s);
    if (s->ev_bytes + EV_MAX > s->ev_room && grow_columns(s, s->ev_bytes + 4096) < 0)
        return -1;
    return 0;
}

/* Starts an event: room in every column, the tag (and thread), the time
 * delta. Returns 0, or -1 when out of memory (the event is not written). */
EV_INLINE int ev_begin(struct col *c, struct col_stream *s, struct ev_out *o, unsigned op,
                           unsigned flags, uint32_t thread, uint64_t time_ns)
{
    if (o->bytes >= EV_FLUSH_BYTES || o->bytes + EV_MAX > o->room) {
        out_store(s, o);
        int ret = make_room(c, s);
        out_load(c, s, o);
        if (ret < 0)
            return -1;
    }
    unsigned code = thread == o->last_thread ? HG_EV_SEL_SAME : thread < HG_EV_SEL_DIRECT ? thread + 1 : HG_EV_SEL_VARINT;
    *o->p[HG_EV_COL_TAG]++ = (uint8_t)(op | flags | code << HG_EV_SEL_SHIFT);
    o->bytes++;
    if (code == HG_EV_SEL_VARINT)
        put(o, HG_EV_COL_TAG, thread);
    o->last_thread = thread;
    uint64_t us = time_ns > o->start_ns ? (time_ns - o->start_ns) / 1000 : 0;
    if (us < o->last_us)
        us = o->last_us;
    put(o, HG_EV_COL_TIME, us - o->last_us);
    o->last_us = us;
    o->count++;
    return 0;
}

/* The address delta from the thread's prev_addr, and the flag it needs. */
static inline uint64_t addr_delta(struct col_thr *t, uint64_t addr, unsigned *flag)
{
    int64_t d = (int64_t)(addr - t->prev_addr);
    t->prev_addr = addr;
    *flag = (d & (HG_EV_ADDR_UNIT - 1)) ? HG_EV_F_RAWADDR : 0;
    return col_zz(*flag ? d : d >> HG_EV_ADDR_SHIFT);
}

/* The tag flags of a free the runtime marked as the garbage collector's. */
static inline unsigned gc_flags(uint32_t type)
{
    return ((type & RT_F_GC) ? HG_EV_F_GC : 0) | ((type & RT_F_GC) && (type & RT_F_PYOBJ) ? HG_EV_F_PYOBJ : 0);
}

EV_INLINE void emit_free(struct col *c, struct col_stream *s, struct ev_out *o, struct col_thr *th,
                      uint32_t thread, uint64_t t, const struct col_block *b, unsigned flags)
{
    if (ev_begin(c, s, o, HG_EV_FREE, flags, thread, t) < 0)
        return;
    put(o, HG_EV_COL_REF, o->nalloc - 1 - b->number);
    reuse_push(th, b->size, b->addr);
}

EV_INLINE void emit_free_unknown(struct col *c, struct col_stream *s, struct ev_out *o,
                              struct col_thr *th, uint32_t thread, uint64_t t, uint64_t addr)
{
    unsigned flag;
    uint64_t v = addr_delta(th, addr, &flag);
    if (ev_begin(c, s, o, HG_EV_FREE_UNKNOWN, flag, thread, t) == 0)
        put(o, HG_EV_COL_ADDR, v);
}

void col_emit_mark(struct col *c, struct col_stream *s, uint32_t thread, uint64_t t,
                   unsigned kind, uint64_t value)
{
    struct ev_out o;
    out_load(c, s, &o);
    if (ev_begin(c, s, &o, HG_EV_MARK, 0, thread, t) == 0) {
        put(&o, HG_EV_COL_REF, kind);
        put(&o, HG_EV_COL_REF, value);
    }
    out_store(s, &o);
}

/* Encodes an allocation (old == NULL) or a realloc whose old block is *old,
 * and adds the new block to the live map. */
EV_INLINE void emit_alloc(struct col *c, struct col_stream *s, struct ev_out *o, struct col_thr *th,
                       uint32_t thread, const struct rt_rec *r, const struct col_block *old)
{
    uint64_t addr = r->a, size = r->b, t = col_ev_ns(c, s, r->time_ns);
    unsigned align = (r->type & RT_F_ALIGN_MASK) >> RT_F_ALIGN_SHIFT;
    struct col_block stale;
    int added = col_live_add(&s->live, addr, size, o->nalloc, r->u32, &stale);
    if (added < 0 && !s->malformed++)
        col_note(c, s, "out of memory tracking live blocks");
    if (!th)
        return;
    if (added == 1) {
        /* A free we never saw (or saw out of order): end the stale block
         * first so the live set stays true. */
        if (!s->conflicts++)
            col_note(c, s, "an allocation returned an address that was still live; its earlier block is counted as freed");
        emit_free(c, s, o, th, thread, t, &stale, 0);
    }
    if (old)
        reuse_push(th, old->size, old->addr);
    unsigned flag = 0;
    uint64_t naddr = 0;
    if (reuse_hit(th, size, addr))
        th->prev_addr = addr;
    else
        naddr = 1 + addr_delta(th, addr, &flag);
    if (ev_begin(c, s, o, old ? HG_EV_REALLOC : HG_EV_ALLOC, flag | (align ? HG_EV_F_ALIGN : 0),
                 thread, t) < 0)
        return;
    if (old)
        put(o, HG_EV_COL_REF, o->nalloc - 1 - old->number);
    put(o, HG_EV_COL_STACK, r->u32);
    put(o, HG_EV_COL_SIZE, size);
    if (align)
        put(o, HG_EV_COL_SIZE, align);
    put(o, HG_EV_COL_ADDR, naddr);
    o->nalloc++;
}

/* Whether record r of a run may be encoded now (see col_emit_run). */
static inline int in_run(const struct rt_rec *r, uint64_t W, const struct rt_rec *next)
{
    return r->time_ns < W && (!next || !col_ev_before(next, r));
}

/* The FREE record v[0]: with the ALLOC half of its realloc when that is
 * v[1] (n > 1) and comes strictly before every other ring's next event, else
 * a free of its live block or FREE_UNKNOWN. Returns the records used. */
EV_INLINE size_t emit_free_rec(struct col *c, struct col_stream *s, struct ev_out *o, struct col_thr *th,
                            uint32_t thread, const struct rt_rec *v, size_t n, uint64_t W,
                            const struct rt_rec *next)
{
    const struct rt_rec *r = v, *h = v + 1;
    struct col_block b;
    int live = col_live_remove(&s->live, r->a, &b);
    if (!th)
        return 1;
    if (live && (r->type & RT_F_REALLOC) && n > 1 && (h->type & RT_REC_TYPE_MASK) == RT_REC_ALLOC &&
        (h->type & RT_F_REALLOC) && h->time_ns < W && (!next || col_ev_before(h, next))) {
        emit_alloc(c, s, o, th, thread, h, &b);
        return 2;
    }
    uint64_t t = col_ev_ns(c, s, r->time_ns);
    if (live)
        emit_free(c, s, o, th, thread, t, &b, gc_flags(r->type));
    else
        emit_free_unknown(c, s, o, th, thread, t, r->a);
    return 1;
}

size_t col_emit_run(struct col *c, struct col_stream *s, uint32_t thread, const struct rt_rec *v,
                    size_t n, uint64_t W, const struct rt_rec *next)
{
    struct col_thr *th = thr(s, thread);
    struct ev_out o;
    out_load(c, s, &o);
    size_t i = 0;
    while (i < n && (i == 0 || in_run(&v[i], W, next))) {
        if (i + PREFETCH_AHEAD < n)
            col_live_prefetch(&s->live, v[i + PREFETCH_AHEAD].a);
        unsigned type = v[i].type & RT_REC_TYPE_MASK;
        if (type == RT_REC_ALLOC) {
            emit_alloc(c, s, &o, th, thread, &v[i], NULL);
            i++;
        } else if (type == RT_REC_FREE) {
            i += emit_free_rec(c, s, &o, th, thread, &v[i], n - i, W, next);
        } else {
            break;
        }
    }
    out_store(s, &o);
    return i;
}

/* --------------------------------------------------------------- transcode */

void col_transcode_stack(struct col *c, struct col_stream *s, const struct rt_rec *r,
                            const uint64_t *frames)
{
    col_rec_begin(c->w, HG_REC_STACK);
    col_put_u(c->w, s->id);
    col_put_u(c->w, r->u32);
    col_put_u(c->w, r->b);
    col_put_u(c->w, r->a);
    for (uint64_t i = 0; i < r->a; i++)
        col_put_u(c->w, frames[i]);
    col_rec_end(c->w);
}

static uint64_t rec_time(const struct col *c, const struct rt_rec *r)
{
    return col_to_us(c, r->time_ns ? r->time_ns : col_now_ns());
}

static int blob_module(struct col *c, struct col_stream *s, const struct rt_rec *r,
                       const uint8_t *p, size_t len)
{
    struct rt_blob_module m;
    if (len < sizeof m)
        return -1;
    memcpy(&m, p, sizeof m);
    size_t segs = (size_t)m.nseg * sizeof(struct rt_blob_seg);
    if (len - sizeof m < segs + m.build_id_len + (size_t)m.path_len)
        return -1;
    const uint8_t *seg = p + sizeof m, *bid = seg + segs, *path = bid + m.build_id_len;
    col_rec_begin(c->w, HG_REC_MODULE);
    col_put_u(c->w, s->id);
    col_put_u(c->w, m.module_id);
    col_put_u(c->w, m.generation);
    col_put_u(c->w, rec_time(c, r));
    col_put_u(c->w, m.bias);
    col_put_str(c->w, path, m.path_len);
    col_put_str(c->w, bid, m.build_id_len);
    col_put_u(c->w, m.nseg);
    for (unsigned i = 0; i < m.nseg; i++) {
        struct rt_blob_seg g;
        memcpy(&g, seg + i * sizeof g, sizeof g);
        col_put_u(c->w, g.vaddr);
        col_put_u(c->w, g.memsz);
        col_put_u(c->w, g.flags);
    }
    col_rec_end(c->w);
    return 0;
}

static int blob_thread(struct col *c, struct col_stream *s, const struct rt_rec *r,
                       uint64_t kind, const uint8_t *p, size_t len)
{
    struct rt_blob_thread t;
    if (len < sizeof t)
        return -1;
    memcpy(&t, p, sizeof t);
    if (kind != RT_BLOB_THREAD_END && len - sizeof t < t.name_len)
        return -1;
    const uint8_t *name = p + sizeof t;
    if (kind == RT_BLOB_THREAD) {
        col_rec_begin(c->w, HG_REC_THREAD);
        col_put_u(c->w, s->id);
        col_put_u(c->w, t.thread_index);
        col_put_u(c->w, (uint64_t)(uint32_t)t.tid);
        col_put_u(c->w, rec_time(c, r));
        col_put_u(c->w, t.stack_lo);
        col_put_u(c->w, t.stack_hi);
        col_put_str(c->w, name, t.name_len);
    } else if (kind == RT_BLOB_THREAD_NAME) {
        col_rec_begin(c->w, HG_REC_THREAD_NAME);
        col_put_u(c->w, s->id);
        col_put_u(c->w, t.thread_index);
        col_put_str(c->w, name, t.name_len);
    } else {
        col_rec_begin(c->w, HG_REC_THREAD_END);
        col_put_u(c->w, s->id);
        col_put_u(c->w, t.thread_index);
        col_put_u(c->w, rec_time(c, r));
    }
    col_rec_end(c->w);
    return 0;
}

static int blob_other(struct col *c, struct col_stream *s, const struct rt_rec *r,
                      uint64_t kind, const uint8_t *p, size_t len)
{
    if (kind == RT_BLOB_MODULE_UNLOAD) {
        struct rt_blob_module_unload u;
        if (len < sizeof u)
            return -1;
        memcpy(&u, p, sizeof u);
        col_rec_begin(c->w, HG_REC_MODULE_UNLOAD);
        col_put_u(c->w, s->id);
        col_put_u(c->w, u.module_id);
        col_put_u(c->w, u.generation);
        col_put_u(c->w, rec_time(c, r));
    } else if (kind == RT_BLOB_ROOT) {
        _Static_assert((int)RT_ROOT_OTHER == (int)HG_ROOT_OTHER && (int)RT_ROOT_MAPPED == (int)HG_ROOT_MAPPED,
                       "root kinds are copied into the capture as they are");
        struct rt_blob_root t;
        if (len < sizeof t)
            return -1;
        memcpy(&t, p, sizeof t);
        col_rec_begin(c->w, HG_REC_ROOT);
        col_put_u(c->w, s->id);
        col_put_u(c->w, t.snapshot_id);
        col_put_u(c->w, t.root_id);
        col_put_u(c->w, t.kind);
        col_put_u(c->w, t.owner);
        col_put_u(c->w, t.start);
        col_put_u(c->w, t.size);
    } else if (kind == RT_BLOB_NOTE || kind == RT_BLOB_LOSS) {
        col_rec_begin(c->w, HG_REC_NOTE);
        col_put_u(c->w, s->id);
        col_put_u(c->w, rec_time(c, r));
        col_put_str(c->w, p, len);
        if (kind == RT_BLOB_LOSS) {
            col_put_u(c->w, HG_NOTE_LOSS);
            s->losses++;
        }
    } else if (kind == RT_BLOB_PYTHON) {
        struct rt_blob_python py;
        if (len < sizeof py)
            return -1;
        memcpy(&py, p, sizeof py);
        col_rec_begin(c->w, HG_REC_PYTHON);
        col_put_u(c->w, s->id);
        col_put_u(c->w, py.version);
        col_put_u(c->w, py.module_id);
        col_put_u(c->w, py.frames);
        col_put_u(c->w, py.allocator);
    } else if (kind == RT_BLOB_PYCODE) {
        struct rt_blob_pycode k;
        if (len < sizeof k)
            return -1;
        memcpy(&k, p, sizeof k);
        const uint8_t *name = p + sizeof k, *file = name + k.name_len, *table = file + k.file_len;
        if (len - sizeof k < (size_t)k.name_len + k.file_len + k.table_len)
            return -1;
        col_rec_begin(c->w, HG_REC_PYCODE);
        col_put_u(c->w, s->id);
        col_put_u(c->w, k.code_id);
        col_put_u(c->w, k.first_line < 0 ? 0 : (uint64_t)k.first_line);
        col_put_str(c->w, name, k.name_len);
        col_put_str(c->w, file, k.file_len);
        col_put_str(c->w, table, k.table_len);
    } else {
        return col_transcode_pyblob(c, s, kind, p, len);
    }
    col_rec_end(c->w);
    return 0;
}

int col_transcode_blob(struct col *c, struct col_stream *s, const struct rt_rec *r, const uint8_t *p)
{
    size_t len = r->u32;
    if (r->a == RT_BLOB_MODULE)
        return blob_module(c, s, r, p, len);
    if (r->a == RT_BLOB_THREAD || r->a == RT_BLOB_THREAD_NAME || r->a == RT_BLOB_THREAD_END)
        return blob_thread(c, s, r, r->a, p, len);
    return blob_other(c, s, r, r->a, p, len);
}

void col_flush_edges(struct col *c, struct col_stream *s)
{
    if (!s->ed_batch)
        return;
    col_rec_begin(c->w, HG_REC_EDGES);
    col_put_u(c->w, s->id);
    col_put_u(c->w, s->snap_id);
    col_put_u(c->w, s->ed_batch);
    col_put_bytes(c->w, s->ed, s->ed_len);
    col_rec_end(c->w);
    s->ed_len = 0;
    s->ed_batch = 0;
}

void col_transcode_edge(struct col *c, struct col_stream *s, const struct rt_rec *r)
{
    if (col_buf_grow(&s->ed, &s->ed_cap, s->ed_len + 40) < 0)
        return;
    uint64_t src = r->a & RT_EDGE_ROOT ? (r->a & ~RT_EDGE_ROOT) * 2 + 1 : r->a * 2;
    uint8_t *p = s->ed + s->ed_len;
    p += col_varint(p, src);
    p += col_varint(p, r->time_ns);
    p += col_varint(p, r->b);
    p += col_varint(p, r->u32);
    s->ed_len = (size_t)(p - s->ed);
    s->ed_total++;
    if (++s->ed_batch == EDGE_BATCH)
        col_flush_edges(c, s);
}

void col_transcode_snap_end(struct col *c, struct col_stream *s, const struct rt_rec *r)
{
    col_flush_edges(c, s);
    col_flush_py(c, s);
    col_rec_begin(c->w, HG_REC_SNAPSHOT_END);
    col_put_u(c->w, s->id);
    col_put_u(c->w, r->a);
    col_put_u(c->w, s->ed_total);
    col_put_u(c->w, r->u32);
    col_put_u(c->w, col_to_us(c, col_ev_ns(c, s, r->time_ns)));
    col_rec_end(c->w);
    if (s->snap_reason == 0 && r->a == s->snap_id)
        s->exit_snapshot = 1;
    s->ed_total = 0;
}

/* ------------------------------------------------------------------ fork */

/* A copy of the table, not a list of its blocks: a shell forks for every
 * command, and sorting and writing its heap each time was most of the
 * collector's work on a script of short commands (and of its capture). */
void col_write_forked(struct col *c, struct col_stream *child, const struct col_stream *parent)
{
    col_rec_begin(c->w, HG_REC_FORKED);
    col_put_u(c->w, child->id);
    col_put_u(c->w, parent->id);
    col_rec_end(c->w);
    col_live_release(&child->live);
    if (col_live_clone(&child->live, &parent->live) < 0)
        col_note(c, child, "out of memory copying the blocks inherited at fork");
    child->nalloc = parent->nalloc;
}
