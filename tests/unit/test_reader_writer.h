/* SPDX-License-Identifier: MIT
 *
 * test_reader_writer.h - a tiny capture writer for the reporter's unit tests:
 * builds records in memory exactly as profiler/capture.h lays them out, cuts
 * them into zstd chunks and writes a file. It is independent of the
 * collector's writer on purpose, so the reader is tested against the format
 * document, not against the other implementation.
 */
#ifndef HG_TEST_READER_WRITER_H
#define HG_TEST_READER_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "profiler/capture.h"

struct tw_buf {
    uint8_t *p;
    size_t n, cap;
};

static inline void tw_bytes(struct tw_buf *b, const void *src, size_t n)
{
    if (!n)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void tw_u(struct tw_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = v & 0x7f;
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    tw_bytes(b, tmp, n);
}

/* Appends each value as a varint: TW_U(&w->rec, stream, id, 0). */
#define TW_U(b, ...) tw_un((b), (const uint64_t[]){__VA_ARGS__}, \
                           sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

static inline void tw_un(struct tw_buf *b, const uint64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tw_u(b, v[i]);
}

static inline uint64_t tw_zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline void tw_s(struct tw_buf *b, const char *s)
{
    tw_u(b, strlen(s));
    tw_bytes(b, s, strlen(s));
}

#define TW_THREADS 16

/* The encoder's per-thread reuse stacks, mirroring the decoder's. */
struct tw_reuse {
    uint64_t addr[HG_EV_REUSE_CLASSES][HG_EV_REUSE_DEPTH];
    int top[HG_EV_REUSE_CLASSES], count[HG_EV_REUSE_CLASSES];
};

/* A capture being written: finished chunks in `file`, records of the open
 * chunk in `chunk`, and the event encoder's per-stream state (including
 * every block's size and address by allocation number, for the reuse
 * stacks). */
struct tw {
    struct tw_buf file, chunk, rec, col[HG_EV_COLUMNS];
    struct {
        uint64_t time, nalloc, prev[TW_THREADS];
        int thread;
        struct tw_reuse reuse[TW_THREADS];
        uint64_t *size, *addr;
        size_t cap;
    } st[4];
    uint64_t events;
    uint32_t streams;
};

static inline void tw_begin(struct tw *w, uint32_t version)
{
    memset(w, 0, sizeof *w);
    struct hg_cap_header h = {{0}, version, 32, 1000, 2000};
    memcpy(h.magic, HG_CAP_MAGIC, 8);
    tw_bytes(&w->file, &h, sizeof h);
    for (int i = 0; i < 4; i++)
        w->st[i].thread = -1;
}

/* Ends the record under construction in w->rec as a record of `type`. */
static inline void tw_rec(struct tw *w, unsigned type)
{
    uint8_t t = (uint8_t)type;
    tw_bytes(&w->chunk, &t, 1);
    tw_u(&w->chunk, w->rec.n);
    tw_bytes(&w->chunk, w->rec.p, w->rec.n);
    w->rec.n = 0;
}

static inline void tw_flush(struct tw *w)
{
    if (!w->chunk.n)
        return;
    size_t bound = ZSTD_compressBound(w->chunk.n);
    uint8_t *frame = malloc(bound);
    size_t n = ZSTD_compress(frame, bound, w->chunk.p, w->chunk.n, 1);
    if (ZSTD_isError(n))
        abort();
    struct hg_chunk_header h = {HG_CHUNK_MAGIC, (uint32_t)n, (uint32_t)w->chunk.n, 0};
    tw_bytes(&w->file, &h, sizeof h);
    tw_bytes(&w->file, frame, n);
    free(frame);
    w->chunk.n = 0;
}

static inline void tw_process(struct tw *w, uint32_t stream, int pid, int ppid, uint32_t parent,
                       unsigned origin, const char *exe, int argc, const char *const *argv)
{
    TW_U(&w->rec, stream, pid, ppid, parent, origin, w->st[stream].time);
    tw_s(&w->rec, exe);
    tw_u(&w->rec, argc);
    for (int i = 0; i < argc; i++)
        tw_s(&w->rec, argv[i]);
    tw_rec(w, HG_REC_PROCESS);
    if (stream > w->streams)
        w->streams = stream;
}

static inline void tw_end_process(struct tw *w, uint32_t stream, unsigned how, int code, unsigned flags)
{
    TW_U(&w->rec, stream, w->st[stream].time, how, code, flags);
    tw_rec(w, HG_REC_PROCESS_END);
}

static inline void tw_stack(struct tw *w, uint32_t stream, uint32_t id, int n, const uint64_t *frames)
{
    TW_U(&w->rec, stream, id, 0, n);
    for (int i = 0; i < n; i++)
        tw_u(&w->rec, frames[i]);
    tw_rec(w, HG_REC_STACK);
}

static inline void tw_thread(struct tw *w, uint32_t stream, uint32_t index, int tid, const char *name)
{
    TW_U(&w->rec, stream, index, tid, 0, 0x7000, 0x8000);
    tw_s(&w->rec, name);
    tw_rec(w, HG_REC_THREAD);
}

static inline void tw_note_block(struct tw *w, uint32_t stream, uint64_t number, uint64_t size,
                          uint64_t addr)
{
    if (number >= w->st[stream].cap) {
        size_t cap = (size_t)number * 2 + 64;
        w->st[stream].size = realloc(w->st[stream].size, cap * sizeof(uint64_t));
        w->st[stream].addr = realloc(w->st[stream].addr, cap * sizeof(uint64_t));
        if (!w->st[stream].size || !w->st[stream].addr)
            abort();
        w->st[stream].cap = cap;
    }
    w->st[stream].size[number] = size;
    w->st[stream].addr[number] = addr;
}

/* Events are written one per HG_REC_EVENTS record, in columns: simple, and
 * the decoder state must carry across records anyway. */
static inline void tw_ev_head(struct tw *w, uint32_t stream, unsigned op, unsigned flags, int thread,
                       uint64_t dt)
{
    unsigned sel = thread == w->st[stream].thread ? HG_EV_SEL_SAME
                  : thread < HG_EV_SEL_DIRECT ? (unsigned)thread + 1 : HG_EV_SEL_VARINT;
    uint8_t tag = (uint8_t)(op | flags | sel << HG_EV_SEL_SHIFT);
    tw_bytes(&w->col[HG_EV_COL_TAG], &tag, 1);
    if (sel == HG_EV_SEL_VARINT)
        tw_u(&w->col[HG_EV_COL_TAG], thread);
    w->st[stream].thread = thread;
    w->st[stream].time += dt;
    tw_u(&w->col[HG_EV_COL_TIME], dt);
    w->events++;
}

static inline void tw_ev_end(struct tw *w, uint32_t stream)
{
    TW_U(&w->rec, stream, 1);
    for (int i = 0; i < HG_EV_COLUMNS; i++)
        tw_u(&w->rec, w->col[i].n);
    for (int i = 0; i < HG_EV_COLUMNS; i++) {
        tw_bytes(&w->rec, w->col[i].p, w->col[i].n);
        w->col[i].n = 0;
    }
    tw_rec(w, HG_REC_EVENTS);
}

static inline uint64_t tw_delta(struct tw *w, uint32_t stream, int thread, uint64_t addr)
{
    uint64_t *prev = &w->st[stream].prev[thread];
    int64_t d = (int64_t)(addr - *prev);
    *prev = addr;
    return tw_zz(d / HG_EV_ADDR_UNIT);
}

/* ALLOC/REALLOC address: 0 when the reuse stack predicts it. */
static inline void tw_naddr(struct tw *w, uint32_t stream, int thread, uint64_t size, uint64_t addr)
{
    struct tw_reuse *r = &w->st[stream].reuse[thread];
    int c = (int)HG_EV_REUSE_CLASS(size);
    if (size <= HG_EV_REUSE_MAX_SIZE && r->count[c] && r->addr[c][r->top[c]] == addr) {
        r->top[c] = (r->top[c] + HG_EV_REUSE_DEPTH - 1) % HG_EV_REUSE_DEPTH;
        r->count[c]--;
        w->st[stream].prev[thread] = addr;
        tw_u(&w->col[HG_EV_COL_ADDR], 0);
        return;
    }
    tw_u(&w->col[HG_EV_COL_ADDR], tw_delta(w, stream, thread, addr) + 1);
}

static inline void tw_push(struct tw *w, uint32_t stream, int thread, uint64_t number)
{
    uint64_t size = w->st[stream].size[number];
    if (size > HG_EV_REUSE_MAX_SIZE)
        return;
    struct tw_reuse *r = &w->st[stream].reuse[thread];
    int c = (int)HG_EV_REUSE_CLASS(size);
    r->top[c] = (r->top[c] + 1) % HG_EV_REUSE_DEPTH;
    r->addr[c][r->top[c]] = w->st[stream].addr[number];
    if (r->count[c] < (int)HG_EV_REUSE_DEPTH)
        r->count[c]++;
}

static inline uint64_t tw_ref(struct tw *w, uint32_t stream, uint64_t number)
{
    return w->st[stream].nalloc - 1 - number;
}

/* Returns the block's allocation number. addr must be a multiple of 16. */
static inline uint64_t tw_alloc(struct tw *w, uint32_t stream, int thread, uint64_t dt, uint32_t stack,
                         uint64_t size, uint64_t addr)
{
    tw_ev_head(w, stream, HG_EV_ALLOC, 0, thread, dt);
    tw_u(&w->col[HG_EV_COL_STACK], stack);
    tw_u(&w->col[HG_EV_COL_SIZE], size);
    tw_naddr(w, stream, thread, size, addr);
    tw_ev_end(w, stream);
    tw_note_block(w, stream, w->st[stream].nalloc, size, addr);
    return w->st[stream].nalloc++;
}

static inline void tw_free(struct tw *w, uint32_t stream, int thread, uint64_t dt, uint64_t number)
{
    tw_ev_head(w, stream, HG_EV_FREE, 0, thread, dt);
    tw_u(&w->col[HG_EV_COL_REF], tw_ref(w, stream, number));
    tw_push(w, stream, thread, number);
    tw_ev_end(w, stream);
}

static inline void tw_free_unknown(struct tw *w, uint32_t stream, int thread, uint64_t addr)
{
    tw_ev_head(w, stream, HG_EV_FREE_UNKNOWN, 0, thread, 0);
    tw_u(&w->col[HG_EV_COL_ADDR], tw_delta(w, stream, thread, addr));
    tw_ev_end(w, stream);
}

static inline uint64_t tw_realloc(struct tw *w, uint32_t stream, int thread, uint64_t dt, uint64_t old,
                           uint32_t stack, uint64_t size, uint64_t addr)
{
    tw_ev_head(w, stream, HG_EV_REALLOC, 0, thread, dt);
    tw_u(&w->col[HG_EV_COL_REF], tw_ref(w, stream, old));
    tw_push(w, stream, thread, old);
    tw_u(&w->col[HG_EV_COL_STACK], stack);
    tw_u(&w->col[HG_EV_COL_SIZE], size);
    tw_naddr(w, stream, thread, size, addr);
    tw_ev_end(w, stream);
    tw_note_block(w, stream, w->st[stream].nalloc, size, addr);
    return w->st[stream].nalloc++;
}

static inline void tw_mark(struct tw *w, uint32_t stream, int thread, unsigned kind, uint64_t value)
{
    tw_ev_head(w, stream, HG_EV_MARK, 0, thread, 0);
    tw_u(&w->col[HG_EV_COL_REF], kind);
    tw_u(&w->col[HG_EV_COL_REF], value);
    tw_ev_end(w, stream);
}

/* Inherited blocks: n blocks (addr, size, stack) taking numbers 0..n-1. */
static inline void tw_inherit(struct tw *w, uint32_t child, uint32_t parent, int n,
                       const uint64_t (*blocks)[3])
{
    uint64_t prev = 0;
    TW_U(&w->rec, child, parent, n);
    for (int i = 0; i < n; i++) {
        tw_u(&w->rec, tw_zz((int64_t)(blocks[i][0] - prev)));
        prev = blocks[i][0];
        TW_U(&w->rec, blocks[i][1], blocks[i][2]);
    }
    tw_rec(w, HG_REC_INHERIT);
    for (int i = 0; i < n; i++)
        tw_note_block(w, child, (uint64_t)i, blocks[i][1], blocks[i][0]);
    w->st[child].nalloc = (uint64_t)n;
}

/* Format 3: the child gets the parent's blocks at the parent's fork mark,
 * numbers and all; its own numbers go on from the parent's. */
static inline void tw_forked(struct tw *w, uint32_t child, uint32_t parent)
{
    TW_U(&w->rec, child, parent);
    tw_rec(w, HG_REC_FORKED);
    for (uint64_t i = 0; i < w->st[parent].nalloc; i++)
        tw_note_block(w, child, i, w->st[parent].size[i], w->st[parent].addr[i]);
    w->st[child].nalloc = w->st[parent].nalloc;
}

static inline void tw_snapshot(struct tw *w, uint32_t stream, uint32_t id, unsigned reason,
                        uint64_t nblocks)
{
    TW_U(&w->rec, stream, id, w->st[stream].time, reason, nblocks);
    tw_rec(w, HG_REC_SNAPSHOT);
}

static inline void tw_root(struct tw *w, uint32_t stream, uint32_t snap, uint32_t id, unsigned kind,
                    uint32_t owner, uint64_t start, uint64_t size)
{
    TW_U(&w->rec, stream, snap, id, kind, owner, start, size);
    tw_rec(w, HG_REC_ROOT);
}

/* edges: n x (src as in the file: 2*block or 2*root+1, src offset, dst, dst offset) */
static inline void tw_edges(struct tw *w, uint32_t stream, uint32_t snap, int n, const uint64_t (*e)[4])
{
    TW_U(&w->rec, stream, snap, n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            tw_u(&w->rec, e[i][k]);
    tw_rec(w, HG_REC_EDGES);
}

static inline void tw_snapshot_end(struct tw *w, uint32_t stream, uint32_t snap, uint64_t nedges)
{
    TW_U(&w->rec, stream, snap, nedges, 0);
    tw_rec(w, HG_REC_SNAPSHOT_END);
}

/* A free by Python's garbage collector (HG_EV_F_GC), of an object or not. */
static inline void tw_free_gc(struct tw *w, uint32_t stream, int thread, uint64_t dt, uint64_t number,
                              int object)
{
    tw_ev_head(w, stream, HG_EV_FREE, HG_EV_F_GC | (object ? HG_EV_F_PYOBJ : 0), thread, dt);
    tw_u(&w->col[HG_EV_COL_REF], tw_ref(w, stream, number));
    tw_push(w, stream, thread, number);
    tw_ev_end(w, stream);
}

/* A Python type: fields are nfields x (offset from the object, name). */
struct tw_field {
    int64_t offset;
    const char *name;
};

static inline void tw_pytype(struct tw *w, uint32_t stream, uint32_t id, unsigned kind, unsigned flags,
                             uint64_t items_off, const char *name, int nfields,
                             const struct tw_field *f)
{
    TW_U(&w->rec, stream, id, kind, flags, items_off);
    tw_s(&w->rec, name);
    tw_u(&w->rec, nfields);
    for (int i = 0; i < nfields; i++) {
        tw_u(&w->rec, tw_zz(f[i].offset));
        tw_s(&w->rec, f[i].name);
    }
    tw_rec(w, HG_REC_PYTYPE);
}

/* objs: n x (block index, offset, type id, refcount, flags), by block index */
static inline void tw_pyobjects(struct tw *w, uint32_t stream, uint32_t snap, int n,
                                const uint64_t (*o)[5])
{
    uint64_t next = 0;
    TW_U(&w->rec, stream, snap, n);
    for (int i = 0; i < n; i++) {
        tw_u(&w->rec, o[i][0] - next);
        next = o[i][0] + 1;
        for (int k = 1; k < 5; k++)
            tw_u(&w->rec, o[i][k]);
    }
    tw_rec(w, HG_REC_PYOBJECTS);
}

/* parts: n x (block index, owner block index, role, a, b) */
static inline void tw_pyparts(struct tw *w, uint32_t stream, uint32_t snap, int n,
                              const uint64_t (*p)[5])
{
    TW_U(&w->rec, stream, snap, n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 5; k++)
            tw_u(&w->rec, p[i][k]);
    tw_rec(w, HG_REC_PYPARTS);
}

/* A text of len bytes (keys tables' texts hold NULs). */
static inline void tw_pytext(struct tw *w, uint32_t stream, uint32_t snap, uint64_t block,
                             unsigned kind, const char *text, size_t len)
{
    tw_u(&w->rec, stream);
    tw_u(&w->rec, snap);
    tw_u(&w->rec, 1);
    tw_u(&w->rec, block);
    tw_u(&w->rec, kind);
    tw_u(&w->rec, len);
    tw_bytes(&w->rec, text, len);
    tw_rec(w, HG_REC_PYNAMES);
}

static inline void tw_pyname(struct tw *w, uint32_t stream, uint32_t snap, uint64_t block,
                             unsigned kind, const char *text)
{
    tw_pytext(w, stream, snap, block, kind, text, strlen(text));
}

static inline void tw_pyframeroot(struct tw *w, uint32_t stream, uint32_t snap, uint32_t root,
                                  uint32_t thread, unsigned line, const char *fn, const char *file,
                                  int nnames, const char *const *names)
{
    tw_u(&w->rec, stream);
    tw_u(&w->rec, snap);
    tw_u(&w->rec, root);
    tw_u(&w->rec, thread);
    tw_u(&w->rec, line);
    tw_s(&w->rec, fn);
    tw_s(&w->rec, file);
    tw_u(&w->rec, nnames);
    for (int i = 0; i < nnames; i++)
        tw_s(&w->rec, names[i]);
    tw_rec(w, HG_REC_PYFRAMEROOT);
}

/* An HG_REC_GC of `kind` with its fields (5 for COLLECTION and BEFORE, 3 for STATE). */
static inline void tw_gc(struct tw *w, uint32_t stream, unsigned kind, int n, const uint64_t *v)
{
    TW_U(&w->rec, stream, kind);
    for (int i = 0; i < n; i++)
        tw_u(&w->rec, v[i]);
    tw_rec(w, HG_REC_GC);
}

static inline void tw_end(struct tw *w)
{
    TW_U(&w->rec, w->streams, w->events);
    tw_rec(w, HG_REC_END);
    tw_flush(w);
}

static inline int tw_write(const struct tw *w, const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = len < w->file.n ? len : w->file.n;
    int ok = fwrite(w->file.p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static inline void tw_release(struct tw *w)
{
    free(w->file.p);
    free(w->chunk.p);
    free(w->rec.p);
    for (int i = 0; i < HG_EV_COLUMNS; i++)
        free(w->col[i].p);
    for (int i = 0; i < 4; i++) {
        free(w->st[i].size);
        free(w->st[i].addr);
    }
}

#endif
