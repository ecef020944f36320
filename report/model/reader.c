/* SPDX-License-Identifier: MIT
 *
 * reader.c - reads a capture file (profiler/capture.h) chunk by chunk, one
 * decompressed chunk in memory at a time, and hands each record to the
 * replay (replay.c) or files it in the stream it belongs to.
 *
 * Every size in the file is checked against the bytes left before it is used.
 * The first damaged chunk or malformed record stops the reading: what came
 * before stays in the model, and the capture records the damaged chunk's
 * offset and what was wrong. Only a file that is not a capture, or one of a
 * newer format version, is an error.
 */
#include "report/model/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "profiler/capture.h"
#include "report/model/infile.h"
#include "report/model/replay.h"
#include "symbolize/sym.h"

_Static_assert((int)REP_ORIGIN_SPAWN == HG_ORIGIN_SPAWN && (int)REP_ORIGIN_EXEC == HG_ORIGIN_EXEC &&
               (int)REP_ORIGIN_FORK == HG_ORIGIN_FORK, "model.h mirrors the capture's origins");
_Static_assert((int)REP_END_UNKNOWN == HG_END_UNKNOWN && (int)REP_END_EXEC == HG_END_EXEC &&
               (int)REP_END_SIGNAL == HG_END_SIGNAL && REP_END_F_CORE == HG_END_F_CORE &&
               REP_END_F_SNAPSHOT == HG_END_F_SNAPSHOT, "model.h mirrors the capture's ends");
_Static_assert((int)REP_ROOT_MAPPED == HG_ROOT_MAPPED && (int)REP_ROOT_OTHER == HG_ROOT_OTHER &&
               (int)REP_ROOT_REGISTER == HG_ROOT_REGISTER &&
               (int)REP_ROOT_TLS == HG_ROOT_TLS && (int)REP_ROOT_STACK == HG_ROOT_STACK,
               "model.h mirrors the capture's root kinds");
_Static_assert((int)REP_PYALLOC_MALLOC == HG_PYALLOC_MALLOC && (int)REP_PYALLOC_PYMALLOC == HG_PYALLOC_PYMALLOC &&
               (int)REP_PYALLOC_PYMALLOC_UNSEEN == HG_PYALLOC_PYMALLOC_UNSEEN,
               "model.h mirrors the capture's Python allocators");

struct reader {
    FILE *f;
    uint64_t off, size;
    uint8_t *comp, *raw;
    size_t comp_cap;
    ZSTD_DCtx *dctx;
    int ended;                  /* HG_REC_END seen */
    uint64_t end_streams, end_events;
    uint32_t version;           /* the file's format version */
};

static void damage(struct rep_capture *cap, uint64_t off, const char *msg)
{
    cap->damaged = 1;
    cap->damage_offset = off;
    cap->damage_message = rep_arena_strndup(cap->arena, msg, strlen(msg));
}

/* ---- records ------------------------------------------------------------- */

/* Reads a string field into the arena; -1 when cut short or out of memory. */
static int rd_str(struct rep_replay *r, struct rep_cursor *c, const char **out)
{
    uint64_t len;
    if (rep_cur_u64(c, &len) < 0 || len > (uint64_t)(c->end - c->p))
        return -1;
    *out = rep_arena_strndup(r->arena, (const char *)c->p, len);
    c->p += len;
    return *out ? 0 : -1;
}

static int rd_n(struct rep_cursor *c, uint64_t *v, int n)
{
    for (int i = 0; i < n; i++)
        if (rep_cur_u64(c, &v[i]) < 0)
            return -1;
    return 0;
}

static int rec_process(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[5], argc;
    if (rd_n(c, v, 5) < 0 || rd_str(r, c, &s->p.exe) < 0 || rep_cur_u64(c, &argc) < 0 ||
        argc > (uint64_t)(c->end - c->p))
        return -1;
    const char **argv = rep_arena_alloc(r->arena, (argc + 1) * sizeof *argv);
    if (!argv)
        return -1;
    for (uint64_t i = 0; i < argc; i++)
        if (rd_str(r, c, &argv[i]) < 0)
            return -1;
    s->p.pid = (int32_t)v[0];
    s->p.ppid = (int32_t)v[1];
    s->parent_stream = v[2] <= UINT32_MAX ? (uint32_t)v[2] : 0;
    s->p.origin = (uint8_t)v[3];
    s->p.start_us = v[4];
    s->p.argc = argc;
    s->p.argv = argv;
    s->have_process = 1;
    return 0;
}

static int rec_process_end(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[4];
    if (rd_n(c, v, 4) < 0)
        return -1;
    s->p.ended = 1;
    s->p.end_us = v[0];
    s->p.end_how = v[1] <= HG_END_UNKNOWN ? (uint8_t)v[1] : HG_END_UNKNOWN;
    s->p.end_code = (int32_t)v[2];
    s->p.end_flags = (uint32_t)v[3];
    return 0;
}

static int rec_module(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[4], idlen, nseg;
    struct rep_module m = {0};
    if (rd_n(c, v, 4) < 0 || rd_str(r, c, &m.path) < 0 || rep_cur_u64(c, &idlen) < 0 ||
        idlen > (uint64_t)(c->end - c->p))
        return -1;
    m.build_id = idlen ? rep_arena_dup(r->arena, c->p, idlen) : NULL;
    if (idlen && !m.build_id)
        return -1;
    c->p += idlen;
    if (rep_cur_u64(c, &nseg) < 0 || nseg > (uint64_t)(c->end - c->p) / 3)
        return -1;
    struct rep_segment *seg = rep_arena_alloc(r->arena, (nseg + 1) * sizeof *seg);
    if (!seg)
        return -1;
    for (uint64_t i = 0; i < nseg; i++) {
        uint64_t f[3];
        if (rd_n(c, f, 3) < 0)
            return -1;
        seg[i] = (struct rep_segment){f[0], f[1], (uint32_t)f[2]};
    }
    m.id = (uint32_t)v[0];
    m.generation = (uint32_t)v[1];
    m.unload_generation = UINT32_MAX;
    m.load_us = v[2];
    m.bias = v[3];
    m.build_id_len = idlen;
    m.nsegments = (uint32_t)nseg;
    m.segments = seg;
    if (rep_grow((void **)&s->modules, &s->modules_cap, s->nmodules + 1, sizeof m) < 0)
        return -1;
    s->modules[s->nmodules++] = m;
    return 0;
}

static int rec_module_unload(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[3];
    if (rd_n(c, v, 3) < 0)
        return -1;
    /* The latest mapping of that module id that is still loaded ends here. */
    for (size_t i = s->nmodules; i-- > 0;) {
        struct rep_module *m = &s->modules[i];
        if (m->id == v[0] && m->unload_generation == UINT32_MAX) {
            m->unload_generation = (uint32_t)v[1];
            m->unload_us = v[2];
            break;
        }
    }
    return 0;
}

static int rec_thread(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c, int type)
{
    uint64_t v[4], index;
    if (rep_cur_u64(c, &index) < 0)
        return -1;
    struct rep_thread *t = rep_stream_thread(s, index);
    if (!t)
        return -1;
    if (type == HG_REC_THREAD_NAME)
        return rd_str(r, c, &t->name);
    if (type == HG_REC_THREAD_END) {
        if (rep_cur_u64(c, &v[0]) < 0)
            return -1;
        t->end_us = v[0];
        return 0;
    }
    if (rd_n(c, v, 4) < 0 || rd_str(r, c, &t->name) < 0)
        return -1;
    if (!*t->name)
        t->name = NULL;
    t->tid = (int32_t)v[0];
    t->start_us = v[1];
    t->stack_lo = v[2];
    t->stack_hi = v[3];
    t->seen = 1;
    return 0;
}

static int rec_stack(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t id, gen, n;
    if (rep_cur_u64(c, &id) < 0 || rep_cur_u64(c, &gen) < 0 || rep_cur_u64(c, &n) < 0 ||
        n > (uint64_t)(c->end - c->p))
        return -1;
    int64_t i = rep_stream_stack(s, id);
    uint64_t *raw = rep_arena_alloc(r->arena, (n + 1) * sizeof *raw);
    if (i < 0 || !raw || rd_n(c, raw, (int)n) < 0)
        return -1;
    struct rep_stack *st = &s->stacks[i];
    if (st->defined)
        return 0;
    st->generation = (uint32_t)gen;
    st->nraw = (uint32_t)n;
    st->raw = raw;
    st->defined = 1;
    return 0;
}

static int rec_sample(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[3];
    if (rd_n(c, v, 3) < 0 ||
        rep_grow((void **)&s->samples, &s->samples_cap, s->nsamples + 1, sizeof *s->samples) < 0)
        return -1;
    s->samples[s->nsamples++] = (struct rep_sample){v[0], v[1], v[2]};
    return 0;
}

static int rec_snapshot(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[4], id;
    if (rep_cur_u64(c, &id) < 0 || rd_n(c, v, 3) < 0)
        return -1;
    struct rep_snap_rt *snap = rep_stream_snapshot(s, id);
    if (!snap || snap->have_record)
        return -1;
    snap->have_record = 1;
    snap->pub.time_us = v[0];
    snap->pub.reason = v[1] ? 1 : 0;
    snap->declared_blocks = v[2];
    return 0;
}

static int rec_root(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t id, v[5];
    if (rep_cur_u64(c, &id) < 0 || rd_n(c, v, 5) < 0 || v[0] >= REP_GRAPH_ROOT)
        return -1;
    struct rep_snap_rt *snap = rep_stream_snapshot(s, id);
    if (!snap || rep_grow((void **)&snap->roots, &snap->roots_cap, snap->pub.nroots + 1,
                          sizeof *snap->roots) < 0)
        return -1;
    snap->roots[snap->pub.nroots++] =
        (struct rep_root){(uint32_t)v[0], (uint8_t)v[1], (uint32_t)v[2], v[3], v[4]};
    return 0;
}

/* Edges are checked against the block count the SNAPSHOT record announced. */
static int rec_edges(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t id, n;
    if (rep_cur_u64(c, &id) < 0 || rep_cur_u64(c, &n) < 0 || n > (uint64_t)(c->end - c->p) / 4)
        return -1;
    struct rep_snap_rt *snap = rep_stream_snapshot(s, id);
    if (!snap || !snap->have_record ||
        rep_grow((void **)&snap->edges, &snap->edges_cap, snap->pub.nedges + n,
                 sizeof *snap->edges) < 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e[4];
        if (rd_n(c, e, 4) < 0 || e[2] >= snap->declared_blocks || e[3] > UINT32_MAX)
            return -1;
        uint64_t src = e[0] >> 1;
        if ((e[0] & 1) ? src >= REP_GRAPH_ROOT : src >= snap->declared_blocks)
            return -1;
        snap->edges[snap->pub.nedges++] = (struct rep_graph_edge){
            (e[0] & 1) ? REP_GRAPH_ROOT | (uint32_t)src : (uint32_t)src, (uint32_t)e[2], e[1],
            (uint32_t)e[3]};
    }
    return 0;
}

/* The end time is absent from older captures. */
static int rec_snapshot_end(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t id, v[2], end = 0;
    if (rep_cur_u64(c, &id) < 0 || rd_n(c, v, 2) < 0 ||
        (c->p < c->end && rep_cur_u64(c, &end) < 0))
        return -1;
    struct rep_snap_rt *snap = rep_stream_snapshot(s, id);
    if (!snap)
        return -1;
    snap->pub.ended = 1;
    snap->pub.end_us = end;
    snap->pub.partial = v[1] != 0 || v[0] != snap->pub.nedges;
    return 0;
}

/* The allocator field is absent from older captures; an unknown value
 * reads as not said. */
static int rec_python(struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t v[3], alloc = HG_PYALLOC_UNKNOWN;
    if (rd_n(c, v, 3) < 0 || v[0] > UINT32_MAX || v[1] > UINT32_MAX ||
        (c->p < c->end && rep_cur_u64(c, &alloc) < 0))
        return -1;
    s->p.python_version = (uint32_t)v[0];
    s->p.python_module = (uint32_t)v[1];
    s->p.python_frames = v[2] != 0;
    s->p.python_allocator = alloc <= HG_PYALLOC_PYMALLOC_UNSEEN ? (uint8_t)alloc : HG_PYALLOC_UNKNOWN;
    return 0;
}

static int rec_pycode(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t id, line, len;
    struct rep_pycode k;
    if (rep_cur_u64(c, &id) < 0 || rep_cur_u64(c, &line) < 0 || rd_str(r, c, &k.name) < 0 ||
        rd_str(r, c, &k.file) < 0 || rep_cur_u64(c, &len) < 0 ||
        len > (uint64_t)(c->end - c->p) || id > UINT32_MAX || line > UINT32_MAX ||
        s->npycodes >= UINT32_MAX - 1)
        return -1;
    k.first_line = (unsigned)line;
    k.table_len = len;
    k.table = rep_arena_dup(r->arena, c->p, len ? len : 1);
    c->p += len;
    if (!k.table || rep_index_get(&s->pycode_index, id) != REP_INDEX_NONE)
        return k.table ? 0 : -1;    /* a code id is defined once */
    if (rep_grow((void **)&s->pycodes, &s->pycodes_cap, s->npycodes + 1, sizeof k) < 0 ||
        rep_index_put(&s->pycode_index, id, (uint32_t)s->npycodes) < 0)
        return -1;
    s->pycodes[s->npycodes++] = k;
    return 0;
}

/* A type name's index among the stream's distinct names, added if new. */
static int64_t type_name(struct rep_replay *r, struct rep_stream *s, const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    uint32_t i = rep_index_get(&s->type_names, h);
    if (i != REP_INDEX_NONE && !strncmp(s->types[i], (const char *)p, len) && !s->types[i][len])
        return i;
    const char *name = rep_arena_strndup(r->arena, (const char *)p, len);
    if (!name || s->ntypes >= UINT32_MAX - 1 ||
        rep_grow((void **)&s->types, &s->types_cap, s->ntypes + 1, sizeof name) < 0 ||
        rep_index_put(&s->type_names, h, (uint32_t)s->ntypes) < 0)
        return -1;
    s->types[s->ntypes] = name;
    return (int64_t)s->ntypes++;
}

static int rec_blocktype(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t number, len;
    if (rep_cur_u64(c, &number) < 0 || rep_cur_u64(c, &len) < 0 || len > (uint64_t)(c->end - c->p))
        return -1;
    int64_t t = type_name(r, s, c->p, len);
    c->p += len;
    return t < 0 ? -1 : rep_index_put(&s->type_index, number, (uint32_t)t);
}

static int rec_note(struct rep_replay *r, struct rep_stream *s, struct rep_cursor *c)
{
    uint64_t time, len, kind = HG_NOTE_INFO;
    if (rep_cur_u64(c, &time) < 0 || rep_cur_u64(c, &len) < 0 || len > (uint64_t)(c->end - c->p))
        return -1;
    const char *text = (const char *)c->p;
    c->p += len;
    if (c->p < c->end && rep_cur_u64(c, &kind) < 0)
        return -1;
    return rep_replay_note(r, s, text, len, kind == HG_NOTE_LOSS);
}

/* Applies one record. -1 + err on malformed input. */
static int record(struct reader *rd, struct rep_replay *r, unsigned type, struct rep_cursor *c,
                  char *err, size_t errlen)
{
    uint64_t stream;
    if (type == HG_REC_END) {
        if (rep_cur_u64(c, &rd->end_streams) < 0 || rep_cur_u64(c, &rd->end_events) < 0)
            return snprintf(err, errlen, "malformed end record"), -1;
        rd->ended = 1;
        return 0;
    }
    if (type < HG_REC_PROCESS || type > HG_REC_LAST)
        return 0;   /* a newer record type of the same version: skipped */
    if (rep_cur_u64(c, &stream) < 0)
        return snprintf(err, errlen, "record of type %u cut short", type), -1;
    if (type == HG_REC_NOTE && stream == 0)
        return rec_note(r, NULL, c) < 0 ? (snprintf(err, errlen, "malformed note record"), -1) : 0;
    struct rep_stream *s = rep_replay_stream(r, stream);
    if (!s)
        return snprintf(err, errlen, "record of type %u names stream %llu", type,
                        (unsigned long long)stream), -1;
    int rc;
    switch (type) {
    case HG_REC_EVENTS: return rep_replay_events(r, s, c, err, errlen);
    case HG_REC_INHERIT: return rep_replay_inherit(r, s, c, err, errlen);
    case HG_REC_FORKED: return rep_replay_forked(r, s, c, err, errlen);
    case HG_REC_PROCESS: rc = rec_process(r, s, c); break;
    case HG_REC_PROCESS_END: rc = rec_process_end(s, c); break;
    case HG_REC_MODULE: rc = rec_module(r, s, c); break;
    case HG_REC_MODULE_UNLOAD: rc = rec_module_unload(s, c); break;
    case HG_REC_THREAD:
    case HG_REC_THREAD_NAME:
    case HG_REC_THREAD_END: rc = rec_thread(r, s, c, (int)type); break;
    case HG_REC_STACK: rc = rec_stack(r, s, c); break;
    case HG_REC_SAMPLE: rc = rec_sample(s, c); break;
    case HG_REC_SNAPSHOT: rc = rec_snapshot(s, c); break;
    case HG_REC_ROOT: rc = rec_root(s, c); break;
    case HG_REC_EDGES: rc = rec_edges(s, c); break;
    case HG_REC_SNAPSHOT_END: rc = rec_snapshot_end(s, c); break;
    case HG_REC_PYCODE:
        /* Format 1 had another record here (never written by a runtime). */
        rc = rd->version < 2 ? 0 : rec_pycode(r, s, c);
        break;
    case HG_REC_PYTHON: rc = rec_python(s, c); break;
    case HG_REC_BLOCKTYPE: rc = rec_blocktype(r, s, c); break;
    case HG_REC_NOTE: rc = rec_note(r, s, c); break;
    default: rc = rep_read_py(r, s, type, c); break;
    }
    if (rc < 0)
        snprintf(err, errlen, "malformed record of type %u (stream %llu)", type,
                 (unsigned long long)stream);
    return rc;
}

/* Applies every record of one decompressed chunk. */
static int chunk_records(struct reader *rd, struct rep_replay *r, const uint8_t *p, size_t n,
                         char *err, size_t errlen)
{
    struct rep_cursor c = {p, p + n};
    while (c.p < c.end && !rd->ended) {
        unsigned type = *c.p++;
        uint64_t len;
        if (rep_cur_u64(&c, &len) < 0 || len > (uint64_t)(c.end - c.p))
            return snprintf(err, errlen, "record runs past the end of its chunk"), -1;
        struct rep_cursor payload = {c.p, c.p + len};
        if (record(rd, r, type, &payload, err, errlen) < 0)
            return -1;
        c.p += len;
    }
    return 0;
}

/* ---- chunks -------------------------------------------------------------- */

/* Reads and decompresses the chunk at rd->off into rd->raw. Returns its raw
 * size, 0 at a clean end of file, or -1 + err for damage. */
static long long read_chunk(struct reader *rd, char *err, size_t errlen)
{
    struct hg_chunk_header h;
    uint64_t left = rd->size - rd->off;
    if (left == 0)
        return 0;
    if (left < sizeof h || fread(&h, sizeof h, 1, rd->f) != 1)
        return snprintf(err, errlen, "chunk header cut short (%llu bytes left)",
                        (unsigned long long)left), -1;
    if (h.magic != HG_CHUNK_MAGIC)
        return snprintf(err, errlen, "bad chunk magic"), -1;
    if (h.raw_size > HG_CHUNK_MAX_RAW || h.raw_size == 0)
        return snprintf(err, errlen, "chunk raw size %u out of range", h.raw_size), -1;
    if (h.comp_size > left - sizeof h)
        return snprintf(err, errlen, "chunk of %u bytes runs past the end of the file "
                        "(%llu bytes left)", h.comp_size,
                        (unsigned long long)(left - sizeof h)), -1;
    if (h.comp_size > rd->comp_cap)
        return snprintf(err, errlen, "chunk compressed size %u out of range", h.comp_size), -1;
    if (fread(rd->comp, 1, h.comp_size, rd->f) != h.comp_size)
        return snprintf(err, errlen, "read error: %s", strerror(errno)), -1;
    size_t got = ZSTD_decompressDCtx(rd->dctx, rd->raw, h.raw_size, rd->comp, h.comp_size);
    if (ZSTD_isError(got))
        return snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(got)), -1;
    if (got != h.raw_size)
        return snprintf(err, errlen, "chunk decompresses to %zu bytes, its header says %u",
                        got, h.raw_size), -1;
    return (long long)h.raw_size;
}

/* Reads chunk after chunk until the end record, the end of the file or
 * damage. Returns -1 only for out of memory. */
static int read_chunks(struct reader *rd, struct rep_replay *r, struct rep_capture *cap,
                       const struct rep_open_opts *opts)
{
    char msg[256];
    while (!rd->ended) {
        uint64_t at = rd->off;
        long long n = read_chunk(rd, msg, sizeof msg);
        if (n == 0)
            break;
        if (n < 0 || chunk_records(rd, r, rd->raw, (size_t)n, msg, sizeof msg) < 0) {
            damage(cap, at, msg);
            if (!strcmp(msg, "out of memory"))
                return -1;
            break;
        }
        cap->chunks++;
        rd->off = (uint64_t)ftello(rd->f);
        if (opts && opts->progress)
            opts->progress(opts->progress_arg, rd->off, rd->size);
    }
    cap->complete = rd->ended;
    return 0;
}

/* ---- open and close ------------------------------------------------------ */

static int read_header(struct reader *rd, struct rep_capture *cap, char *err, size_t errlen)
{
    struct hg_cap_header h;
    size_t got = fread(&h, 1, sizeof h, rd->f);
    if (got < sizeof h.magic || memcmp(h.magic, HG_CAP_MAGIC, sizeof h.magic))
        return snprintf(err, errlen, "not a heapgraph capture"), -1;
    if (got < sizeof h)
        return snprintf(err, errlen, "capture header cut short (%zu bytes)", got), -1;
    if (h.version > HG_CAP_VERSION)
        return snprintf(err, errlen, "capture format version %u is newer than this heapgraph "
                        "(%u)", h.version, HG_CAP_VERSION), -1;
    if (h.version == 0 || h.header_size < sizeof h || h.header_size > rd->size)
        return snprintf(err, errlen, "bad capture header"), -1;
    if (fseeko(rd->f, h.header_size, SEEK_SET) != 0)
        return snprintf(err, errlen, "seek: %s", strerror(errno)), -1;
    cap->version = h.version;
    rd->version = h.version;
    cap->start_realtime_ns = h.start_realtime_ns;
    cap->start_monotonic_ns = h.start_monotonic_ns;
    rd->off = h.header_size;
    return 0;
}

/* Counts that disagree with the end record become a note, not damage. */
static int check_end(struct reader *rd, struct rep_replay *r)
{
    char buf[160];
    if (!rd->ended || (rd->end_streams == r->nstreams && rd->end_events == r->events))
        return 0;
    int n = snprintf(buf, sizeof buf, "the end record counts %llu streams and %llu events; "
                     "%zu and %llu were read", (unsigned long long)rd->end_streams,
                     (unsigned long long)rd->end_events, r->nstreams,
                     (unsigned long long)r->events);
    return rep_replay_note(r, NULL, buf, (size_t)n, 0);
}

static int open_reader(struct reader *rd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char why[128];
    rd->f = rep_open_input(path, why, sizeof why);
    if (!rd->f || fstat(fileno(rd->f), &st) < 0)
        return snprintf(err, errlen, "%s", rd->f ? strerror(errno) : why), -1;
    rd->size = (uint64_t)st.st_size;
    rd->comp_cap = ZSTD_compressBound(HG_CHUNK_MAX_RAW);
    rd->comp = malloc(rd->comp_cap);
    rd->raw = malloc(HG_CHUNK_MAX_RAW);
    rd->dctx = ZSTD_createDCtx();
    if (!rd->comp || !rd->raw || !rd->dctx)
        return snprintf(err, errlen, "out of memory"), -1;
    return 0;
}

static void close_reader(struct reader *rd)
{
    if (rd->f)
        fclose(rd->f);
    free(rd->comp);
    free(rd->raw);
    ZSTD_freeDCtx(rd->dctx);
}

struct rep_capture *rep_capture_open(const char *path, const struct rep_open_opts *opts,
                                     char *err, size_t errlen)
{
    struct reader rd = {0};
    struct rep_capture *cap = calloc(1, sizeof *cap);
    struct rep_replay *r = calloc(1, sizeof *r);
    int ok = 0;
    if (!cap || !r || !(cap->arena = rep_arena_new())) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    r->arena = cap->arena;
    r->opts = opts;
    cap->replay = r;
    cap->path = rep_arena_strndup(cap->arena, path, strlen(path));
    if (!cap->path || open_reader(&rd, path, err, errlen) < 0)
        goto out;
    cap->file_size = rd.size;
    if (read_header(&rd, cap, err, errlen) < 0)
        goto out;
    if (read_chunks(&rd, r, cap, opts) < 0 || check_end(&rd, r) < 0 ||
        rep_replay_publish(r, cap, err, errlen) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ok = 1;
out:
    close_reader(&rd);
    if (ok)
        return cap;
    if (!cap || !cap->replay)
        rep_replay_free(r);
    rep_capture_close(cap);
    return NULL;
}

void rep_capture_close(struct rep_capture *cap)
{
    if (!cap)
        return;
    rep_replay_free(cap->replay);
    if (cap->sym)
        sym_close(cap->sym);
    rep_arena_free(cap->arena);
    free(cap);
}

/* ---- helpers for renderers ------------------------------------------------ */

const struct rep_frame *rep_stack_top(const struct rep_stack *s)
{
    if (!s || !s->nframes)
        return NULL;
    for (uint32_t i = 0; i < s->nframes; i++)
        if (s->frames[i].function)
            return &s->frames[i];
    return &s->frames[0];
}

static const char *last_part(const char *path)
{
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path;
}

int rep_process_selected(const struct rep_process *p, const char *sel)
{
    if (!sel)
        return 1;
    size_t digits = strspn(sel, "0123456789");
    if (digits && !sel[digits])
        return p->pid == atoi(sel);
    const char *argv0 = p->argc ? last_part(p->argv[0]) : NULL;
    return (argv0 && !strcmp(argv0, sel)) || (p->exe && !strcmp(last_part(p->exe), sel));
}

const struct rep_thread *rep_process_thread(const struct rep_process *p, uint32_t index)
{
    return index < p->nthreads ? &p->threads[index] : NULL;
}

const struct rep_root *rep_snapshot_root(const struct rep_snapshot *s, uint32_t id)
{
    for (size_t i = 0; i < s->nroots; i++)
        if (s->roots[i].id == id)
            return &s->roots[i];
    return NULL;
}

uint32_t rep_cycle_member(const struct rep_cycle *c, uint32_t block)
{
    uint32_t lo = 0, hi = c->nmembers;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->members[mid] < block)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const char *rep_leak_kind_name(unsigned kind)
{
    static const char *const names[REP_LEAK_NKINDS] = {
        "definite", "cycle", "indirect", "possible", "reachable", "not_freed",
    };
    return kind < REP_LEAK_NKINDS ? names[kind] : "?";
}

const char *rep_py_allocator_name(unsigned a)
{
    static const char *const names[] = {NULL, "malloc", "pymalloc", "pymalloc-unrecorded"};
    return a < sizeof names / sizeof names[0] ? names[a] : NULL;
}
