/* SPDX-License-Identifier: MIT
 *
 * col_pyenc.c - the collector's encoder for Python objects: the runtime's
 * RT_REC_PYOBJ and RT_REC_PYPART records (one per object or part, in block
 * order) become batched HG_REC_PYOBJECTS and HG_REC_PYPARTS records of the
 * snapshot under way, and its RT_BLOB_PYTYPE, PYNAME, PYFRAMEROOT and PYGC
 * blobs become HG_REC_PYTYPE, PYNAMES, PYFRAMEROOT and GC
 * (docs/capture-format.md, "Python objects"). Types come before the objects
 * that use them because the runtime sends them first and blobs are written
 * as they are drained, while objects wait in their batch.
 */
#include "profiler/collector/col_int.h"

#include <string.h>

#define PY_BATCH 4096u /* objects or parts per record */

_Static_assert((int)RT_PYK_WEAKREF == (int)HG_PYK_WEAKREF && RT_PYT_HEAP == HG_PYT_HEAP &&
               RT_PYO_FINALIZED == HG_PYO_FINALIZED &&
               (int)RT_PYP_ATTR_DICT == (int)HG_PYP_ATTR_DICT &&
               (int)RT_PYN_KEYS == (int)HG_PYN_KEYS &&
               (int)RT_GC_STATE == (int)HG_GC_STATE && (int)RT_ROOT_PYFRAME == (int)HG_ROOT_PYFRAME,
               "ring.h mirrors capture.h's Python values");

static void flush_objects(struct col *c, struct col_stream *s)
{
    if (!s->po_batch)
        return;
    col_rec_begin(c->w, HG_REC_PYOBJECTS);
    col_put_u(c->w, s->id);
    col_put_u(c->w, s->snap_id);
    col_put_u(c->w, s->po_batch);
    col_put_bytes(c->w, s->po, s->po_len);
    col_rec_end(c->w);
    s->po_len = 0;
    s->po_batch = 0;
    s->po_next = 0;
}

static void flush_parts(struct col *c, struct col_stream *s)
{
    if (!s->pp_batch)
        return;
    col_rec_begin(c->w, HG_REC_PYPARTS);
    col_put_u(c->w, s->id);
    col_put_u(c->w, s->snap_id);
    col_put_u(c->w, s->pp_batch);
    col_put_bytes(c->w, s->pp, s->pp_len);
    col_rec_end(c->w);
    s->pp_len = 0;
    s->pp_batch = 0;
}

void col_flush_py(struct col *c, struct col_stream *s)
{
    flush_objects(c, s);
    flush_parts(c, s);
}

/* An object: (block index delta, offset, type id, refcount, flags), the
 * delta from the previous object's index + 1 (a record's first from 0). */
static void put_object(struct col *c, struct col_stream *s, const struct rt_rec *r)
{
    if (r->a < s->po_next || col_buf_grow(&s->po, &s->po_cap, s->po_len + 50) < 0)
        return;
    uint8_t *p = s->po + s->po_len;
    p += col_varint(p, r->a - s->po_next);
    p += col_varint(p, (uint32_t)r->time_ns);
    p += col_varint(p, r->u32);
    p += col_varint(p, r->b);
    p += col_varint(p, r->time_ns >> 32);
    s->po_len = (size_t)(p - s->po);
    s->po_next = r->a + 1;
    if (++s->po_batch == PY_BATCH)
        flush_objects(c, s);
}

static void put_part(struct col *c, struct col_stream *s, const struct rt_rec *r)
{
    if (col_buf_grow(&s->pp, &s->pp_cap, s->pp_len + 50) < 0)
        return;
    uint8_t *p = s->pp + s->pp_len;
    p += col_varint(p, r->a);
    p += col_varint(p, r->b);
    p += col_varint(p, r->u32);
    p += col_varint(p, (uint32_t)r->time_ns);
    p += col_varint(p, r->time_ns >> 32);
    s->pp_len = (size_t)(p - s->pp);
    if (++s->pp_batch == PY_BATCH)
        flush_parts(c, s);
}

void col_transcode_pyrec(struct col *c, struct col_stream *s, const struct rt_rec *r)
{
    if ((r->type & RT_REC_TYPE_MASK) == RT_REC_PYOBJ)
        put_object(c, s, r);
    else
        put_part(c, s, r);
}

/* ---------------------------------------------------------------- blobs */

static int blob_pytype(struct col *c, struct col_stream *s, const uint8_t *p, size_t len)
{
    struct rt_blob_pytype t;
    if (len < sizeof t)
        return -1;
    memcpy(&t, p, sizeof t);
    const uint8_t *at = p + sizeof t, *end = p + len;
    if ((size_t)(end - at) < t.name_len)
        return -1;
    col_rec_begin(c->w, HG_REC_PYTYPE);
    col_put_u(c->w, s->id);
    col_put_u(c->w, t.type_id);
    col_put_u(c->w, t.kind);
    col_put_u(c->w, t.flags);
    col_put_u(c->w, t.items_off);
    col_put_str(c->w, at, t.name_len);
    at += t.name_len;
    col_put_u(c->w, t.nfields);
    for (uint32_t i = 0; i < t.nfields; i++) {
        struct rt_blob_pyfield f;
        if ((size_t)(end - at) < sizeof f)
            return -1;
        memcpy(&f, at, sizeof f);
        at += sizeof f;
        if ((size_t)(end - at) < f.name_len)
            return -1;
        col_put_zz(c->w, f.offset);
        col_put_str(c->w, at, f.name_len);
        at += f.name_len;
    }
    col_rec_end(c->w);
    return 0;
}

static int blob_pyname(struct col *c, struct col_stream *s, const uint8_t *p, size_t len)
{
    struct rt_blob_pyname n;
    if (len < sizeof n)
        return -1;
    memcpy(&n, p, sizeof n);
    if (len - sizeof n < n.len)
        return -1;
    col_rec_begin(c->w, HG_REC_PYNAMES);
    col_put_u(c->w, s->id);
    col_put_u(c->w, n.snapshot_id);
    col_put_u(c->w, 1);
    col_put_u(c->w, n.block);
    col_put_u(c->w, n.kind);
    col_put_str(c->w, p + sizeof n, n.len);
    col_rec_end(c->w);
    return 0;
}

static int blob_pyframeroot(struct col *c, struct col_stream *s, const uint8_t *p, size_t len)
{
    struct rt_blob_pyframeroot f;
    if (len < sizeof f)
        return -1;
    memcpy(&f, p, sizeof f);
    const uint8_t *at = p + sizeof f, *end = p + len;
    if ((size_t)(end - at) < (size_t)f.func_len + f.file_len)
        return -1;
    col_rec_begin(c->w, HG_REC_PYFRAMEROOT);
    col_put_u(c->w, s->id);
    col_put_u(c->w, f.snapshot_id);
    col_put_u(c->w, f.root_id);
    col_put_u(c->w, f.thread_index);
    col_put_u(c->w, f.line);
    col_put_str(c->w, at, f.func_len);
    col_put_str(c->w, at + f.func_len, f.file_len);
    at += f.func_len + f.file_len;
    col_put_u(c->w, f.nnames);
    for (uint32_t i = 0; i < f.nnames; i++) {
        uint32_t n;
        if ((size_t)(end - at) < sizeof n)
            return -1;
        memcpy(&n, at, sizeof n);
        at += sizeof n;
        if ((size_t)(end - at) < n)
            return -1;
        col_put_str(c->w, at, n);
        at += n;
    }
    col_rec_end(c->w);
    return 0;
}

static int blob_pygc(struct col *c, struct col_stream *s, const uint8_t *p, size_t len)
{
    struct rt_blob_pygc g;
    if (len < sizeof g)
        return -1;
    memcpy(&g, p, sizeof g);
    col_rec_begin(c->w, HG_REC_GC);
    col_put_u(c->w, s->id);
    col_put_u(c->w, g.kind);
    if (g.kind == RT_GC_STATE) {
        col_put_u(c->w, g.generation);
        col_put_u(c->w, g.collections);
        col_put_u(c->w, g.collected);
    } else {
        uint64_t t0 = col_ev_ns(c, s, g.t0), t1 = col_ev_ns(c, s, g.t1);
        col_put_u(c->w, g.generation);
        col_put_u(c->w, col_to_us(c, t0));
        if (g.kind == RT_GC_COLLECTION)
            col_put_u(c->w, t1 > t0 ? (t1 - t0) / 1000 : 0);
        else
            col_put_u(c->w, g.collections);
        col_put_u(c->w, g.collected);
        col_put_u(c->w, g.uncollectable);
    }
    col_rec_end(c->w);
    return 0;
}

int col_transcode_pyblob(struct col *c, struct col_stream *s, uint64_t kind, const uint8_t *p,
                         size_t len)
{
    switch (kind) {
    case RT_BLOB_PYTYPE: return blob_pytype(c, s, p, len);
    case RT_BLOB_PYNAME: return blob_pyname(c, s, p, len);
    case RT_BLOB_PYFRAMEROOT: return blob_pyframeroot(c, s, p, len);
    case RT_BLOB_PYGC: return blob_pygc(c, s, p, len);
    default: return 0; /* a newer runtime's blob: nothing to say about it */
    }
}
