/* SPDX-License-Identifier: MIT
 *
 * pyread.c - reads the Python object records of a capture (HG_REC_PYTYPE,
 * PYOBJECTS, PYPARTS, PYNAMES, PYFRAMEROOT and GC; docs/capture-format.md,
 * "Python objects") into the stream being replayed, and gives each published
 * snapshot its per-block Python view (struct rep_pyblock).
 *
 * A snapshot's object records name blocks by their index in the snapshot's
 * block list, which the replay only knows once it reaches the snapshot's
 * mark in the event stream; the collector may write the records first. So
 * the records are kept as read (checked against the block count the
 * SNAPSHOT record announced) and joined to the blocks at publication.
 */
#include "report/model/replay.h"

#include <stdlib.h>
#include <string.h>

#include "profiler/capture.h"

_Static_assert((int)REP_ROOT_PYFRAME == HG_ROOT_PYFRAME && (int)REP_PYK_WEAKREF == HG_PYK_WEAKREF &&
               (int)REP_PYP_ATTR_DICT == HG_PYP_ATTR_DICT &&
               (int)REP_PYN_KEYS == HG_PYN_KEYS && REP_PYT_HEAP == HG_PYT_HEAP &&
               REP_PYT_GC == HG_PYT_GC && REP_PYO_FINALIZED == HG_PYO_FINALIZED,
               "model.h mirrors the capture's Python values");

#define MAX_GENERATIONS 3

static int rd_n(struct rep_cursor *c, uint64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        if (rep_cur_u64(c, &v[i]) < 0)
            return -1;
    return 0;
}

/* A string field copied into the arena (NUL-terminated, *len bytes before
 * it, which may hold NULs); -1 when cut short or out of memory. */
static int rd_text(struct rep_replay *r, struct rep_cursor *c, const char **out, uint64_t *len)
{
    if (rep_cur_u64(c, len) < 0 || *len > (uint64_t)(c->end - c->p) || *len > UINT32_MAX)
        return -1;
    char *t = rep_arena_alloc(r->arena, *len + 1);
    if (!t)
        return -1;
    memcpy(t, c->p, *len);
    c->p += *len;
    *out = t;
    return 0;
}

static int rd_str(struct rep_replay *r, struct rep_cursor *c, const char **out)
{
    uint64_t len;
    return rd_text(r, c, out, &len);
}

/* The snapshot a record names; it must have its SNAPSHOT record, whose
 * block count bounds the block indexes. */
static struct rep_snap_rt *snap_of(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t id;
    if (rep_cur_u64(c, &id) < 0)
        return NULL;
    struct rep_snap_rt *snap = rep_stream_snapshot(s, id);
    return snap && snap->have_record ? snap : NULL;
}

/* The count of a record's entries, each at least `min` bytes. */
static int rd_count(struct rep_cursor *c, uint64_t *n, size_t min)
{
    return rep_cur_u64(c, n) < 0 || *n > (uint64_t)(c->end - c->p) / min ? -1 : 0;
}

/* ---- types and the collector ---------------------------------------------- */

static int rec_pytype(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[4], n;
    struct rep_pytype t = {0};
    if (rd_n(c, v, 4) < 0 || !v[0] || v[0] > UINT32_MAX || v[1] >= HG_PYK_COUNT ||
        rd_str(r, c, &t.name) < 0 || rd_count(c, &n, 2) < 0 ||
        rep_index_get(&s->pytype_index, v[0]) != REP_INDEX_NONE)
        return -1;
    struct rep_pyfield *f = rep_arena_alloc(r->arena, (n + 1) * sizeof *f);
    if (!f)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t off;
        if (rep_cur_u64(c, &off) < 0 || rd_str(r, c, &f[i].name) < 0)
            return -1;
        f[i].offset = rep_unzz(off);
    }
    t.id = (uint32_t)v[0];
    t.kind = (uint8_t)v[1];
    t.flags = (uint32_t)v[2];
    t.items_offset = v[3];
    t.nfields = (uint32_t)n;
    t.fields = f;
    if (s->npytypes >= UINT32_MAX - 1 ||
        rep_grow((void **)&s->pytypes, &s->pytypes_cap, s->npytypes + 1, sizeof t) < 0 ||
        rep_index_put(&s->pytype_index, t.id, (uint32_t)s->npytypes) < 0)
        return -1;
    s->pytypes[s->npytypes++] = t;
    return 0;
}

static int gc_collection(struct rep_stream *s, const uint64_t *v)
{
    struct rep_gc g = {v[1], v[2], (uint32_t)v[0], v[3], v[4]};
    struct rep_gc_gen *gen = &s->gc_gens[g.generation];
    if (rep_grow((void **)&s->gc, &s->gc_cap, s->ngc + 1, sizeof g) < 0)
        return -1;
    s->gc[s->ngc++] = g;
    gen->collections++;
    gen->collected += g.collected;
    gen->uncollectable += g.uncollectable;
    gen->pause_us += g.duration_us;
    if (g.duration_us > gen->longest_us)
        gen->longest_us = g.duration_us;
    return 0;
}

static int rec_gc(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t kind, v[5];
    if (rep_cur_u64(c, &kind) < 0)
        return -1;
    if (kind == HG_GC_STATE) {
        struct rep_snap_rt *snap = snap_of(s, c);
        if (!snap || rd_n(c, v, 2) < 0)
            return -1;
        snap->pub.gc_state_known = 1;
        snap->pub.gc_enabled = v[0] != 0;
        snap->pub.gc_garbage = v[1];
        return 0;
    }
    if (rd_n(c, v, 5) < 0 || v[0] >= MAX_GENERATIONS)
        return -1;
    s->gc_seen = 1;
    if (kind == HG_GC_COLLECTION)
        return gc_collection(s, v);
    if (kind == HG_GC_BEFORE) {
        struct rep_gc_gen *gen = &s->gc_gens[v[0]];
        gen->before_collections += v[2];
        gen->before_collected += v[3];
        gen->before_uncollectable += v[4];
        gen->collections += v[2];
        gen->collected += v[3];
        gen->uncollectable += v[4];
    }
    return 0;   /* a newer kind: nothing to say about it */
}

/* ---- per-snapshot records --------------------------------------------------- */

static int rec_pyobjects(struct rep_stream *s, struct rep_cursor *c)
{
    struct rep_snap_rt *snap = snap_of(s, c);
    uint64_t n, block = 0;
    if (!snap || rd_count(c, &n, 5) < 0)
        return -1;
    struct rep_snap_py *py = &snap->py;
    if (rep_grow((void **)&py->objs, &py->objs_cap, py->nobjs + n, sizeof *py->objs) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v[5];
        if (rd_n(c, v, 5) < 0)
            return -1;
        block += v[0];
        uint32_t t = rep_index_get(&s->pytype_index, v[2]);
        if (block >= snap->declared_blocks || v[1] > UINT32_MAX || t == REP_INDEX_NONE)
            return -1;
        py->objs[py->nobjs++] = (struct rep_py_robj){(uint32_t)block, t, (uint32_t)v[1],
                                                    (uint8_t)v[4], v[3]};
        block++;
    }
    return 0;
}

static int rec_pyparts(struct rep_stream *s, struct rep_cursor *c)
{
    struct rep_snap_rt *snap = snap_of(s, c);
    uint64_t n;
    if (!snap || rd_count(c, &n, 5) < 0)
        return -1;
    struct rep_snap_py *py = &snap->py;
    if (rep_grow((void **)&py->parts, &py->parts_cap, py->nparts + n, sizeof *py->parts) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v[5];
        if (rd_n(c, v, 5) < 0 || v[0] >= snap->declared_blocks || v[1] >= snap->declared_blocks ||
            !v[2] || v[2] > HG_PYP_ATTR_DICT || v[3] > UINT32_MAX || v[4] > UINT32_MAX)
            return -1;
        py->parts[py->nparts++] = (struct rep_py_rpart){(uint32_t)v[0], (uint32_t)v[1],
                                                      (uint32_t)v[3], (uint32_t)v[4], (uint8_t)v[2]};
    }
    return 0;
}

static int rec_pynames(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    struct rep_snap_rt *snap = snap_of(s, c);
    uint64_t n;
    if (!snap || rd_count(c, &n, 3) < 0)
        return -1;
    struct rep_snap_py *py = &snap->py;
    if (rep_grow((void **)&py->names, &py->names_cap, py->nnames + n, sizeof *py->names) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v[2];
        struct rep_py_rname *nm = &py->names[py->nnames];
        uint64_t len;
        if (rd_n(c, v, 2) < 0 || v[0] >= snap->declared_blocks || v[1] > HG_PYN_KEYS ||
            rd_text(r, c, &nm->text, &len) < 0)
            return -1;
        nm->len = (uint32_t)len;
        nm->block = (uint32_t)v[0];
        nm->kind = (uint8_t)v[1];
        py->nnames++;
    }
    return 0;
}

static int rec_pyframeroot(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    struct rep_snap_rt *snap = snap_of(s, c);
    uint64_t v[3], n;
    struct rep_pyframe_root f = {0};
    if (!snap || rd_n(c, v, 3) < 0 || v[0] >= REP_GRAPH_ROOT || v[1] > UINT32_MAX ||
        rd_str(r, c, &f.function) < 0 || rd_str(r, c, &f.file) < 0 || rd_count(c, &n, 1) < 0)
        return -1;
    const char **names = rep_arena_alloc(r->arena, (n + 1) * sizeof *names);
    if (!names)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (rd_str(r, c, &names[i]) < 0)
            return -1;
    f.root_id = (uint32_t)v[0];
    f.thread = (uint32_t)v[1];
    f.line = (unsigned)v[2];
    f.nnames = (uint32_t)n;
    f.names = names;
    struct rep_snap_py *py = &snap->py;
    if (rep_grow((void **)&py->frames, &py->frames_cap, py->nframes + 1, sizeof f) < 0)
        return -1;
    py->frames[py->nframes++] = f;
    return 0;
}

int rep_read_py(struct rep_replay *r, struct rep_stream *s, unsigned type, struct rep_cursor *c)
{
    switch (type) {
    case HG_REC_PYTYPE: return rec_pytype(r, s, c);
    case HG_REC_PYOBJECTS: return rec_pyobjects(s, c);
    case HG_REC_PYPARTS: return rec_pyparts(s, c);
    case HG_REC_PYNAMES: return rec_pynames(r, s, c);
    case HG_REC_PYFRAMEROOT: return rec_pyframeroot(r, s, c);
    case HG_REC_GC: return rec_gc(s, c);
    default: return 0;
    }
}

/* ---- publication -------------------------------------------------------------- */

int rep_publish_py(struct rep_arena *a, const struct rep_stream *s, struct rep_snap_rt *rt,
                   struct rep_snapshot *out)
{
    const struct rep_snap_py *py = &rt->py;
    (void)s;
    out->py = NULL;
    out->npyobjects = 0;
    out->pyframes = py->nframes ? rep_arena_dup(a, py->frames, py->nframes * sizeof *py->frames)
                                : NULL;
    out->npyframes = py->nframes;
    if (py->nframes && !out->pyframes)
        return -1;
    if (!out->have_blocks || (!py->nobjs && !py->nparts && !py->nnames))
        return 0;
    struct rep_pyblock *v = rep_arena_alloc(a, (out->nblocks + 1) * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < py->nobjs; i++) {
        const struct rep_py_robj *o = &py->objs[i];
        if (o->block >= out->nblocks)
            continue;   /* a block list cut short by damage */
        v[o->block].type = o->type + 1;
        v[o->block].offset = o->offset;
        v[o->block].refcnt = o->refcnt;
        v[o->block].flags = o->flags;
        out->npyobjects++;
    }
    for (size_t i = 0; i < py->nparts; i++) {
        const struct rep_py_rpart *p = &py->parts[i];
        if (p->block >= out->nblocks || p->owner >= out->nblocks)
            continue;
        v[p->block].role = p->role;
        v[p->block].owner = p->owner;
        v[p->block].a = p->a;
        v[p->block].b = p->b;
    }
    for (size_t i = 0; i < py->nnames; i++) {
        const struct rep_py_rname *nm = &py->names[i];
        if (nm->block >= out->nblocks)
            continue;
        v[nm->block].text = nm->text;
        v[nm->block].text_len = nm->len;
        v[nm->block].text_kind = nm->kind;
    }
    out->py = v;
    return 0;
}

void rep_snap_py_free(struct rep_snap_py *py)
{
    free(py->objs);
    free(py->parts);
    free(py->names);
    free(py->frames);
}
