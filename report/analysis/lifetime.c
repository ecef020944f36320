/* SPDX-License-Identifier: MIT
 *
 * lifetime.c - block lifetimes per allocation site in time buckets, from the
 * replay's block callback (lifetime.h). Per stream, a hash table of (site,
 * bucket) cells holds what was made and ended in each bucket; when it holds
 * LIFE_MAX_CELLS cells, or time runs past LIFE_MAX_BUCKETS buckets, the
 * buckets double in width and their cells merge, so memory stays bounded
 * however long the run. A block ended is also counted at the bucket it was
 * made in, found from its allocation number (numbers grow with time: the
 * first number of each bucket is kept). The heap in use is kept apart, on its
 * own grid of maxima, so that the peak is exact.
 */
#include "report/analysis/lifetime.h"

#include <stdlib.h>
#include <string.h>

#include "report/analysis/leaked.h"
#include "report/model/arena.h"

#define LIFE_MAX_BUCKETS 2048        /* lifetime buckets per process */
#define LIFE_MAX_CELLS (1 << 20)     /* (site, bucket) cells per process before widening */
#define LIFE_MIN_BUCKETS 4           /* never widen below this many buckets */

/* ---- gathering ------------------------------------------------------------- */

/* One site in one time bucket: allocations made, blocks ended, temporaries,
 * and blocks ended counted at the bucket of their allocation. */
struct rep_life_cell {
    uint32_t site, bucket;
    uint64_t a_n, a_b, f_n, f_b, x_n, e_n, e_b;
};

struct life_start {
    uint32_t bucket;
    uint64_t number;                 /* first allocation number made in that bucket */
};

struct life_stream {
    int started;
    uint64_t t0, width;              /* bucket b covers [t0 + b*width, t0 + (b+1)*width) */
    uint32_t nbuckets;               /* highest bucket used + 1 */
    struct rep_life_cell *cells;         /* open addressing; site UINT32_MAX = empty */
    size_t ncells, mask;
    struct life_start *starts;       /* by bucket, ascending */
    size_t nstarts, starts_cap;
    /* The heap in use over time, exact: the largest value within each of
     * hm_n buckets of hm_width us from t0 (its own grid: it does not widen
     * with the cells). Relative to the inherited blocks, hence signed. */
    int64_t heap, *hm;
    uint64_t hm_width;
    uint32_t hm_n;
};

struct rep_life {
    struct life_stream *streams;     /* streams[i] is stream i+1 */
    size_t nstreams;
    int failed;                      /* out of memory: no lifetimes at all */
};

struct rep_life *rep_life_new(void)
{
    return calloc(1, sizeof(struct rep_life));
}

void rep_life_free(struct rep_life *life)
{
    if (!life)
        return;
    for (size_t i = 0; i < life->nstreams; i++) {
        free(life->streams[i].cells);
        free(life->streams[i].starts);
        free(life->streams[i].hm);
    }
    free(life->streams);
    free(life);
}

static size_t cell_hash(uint32_t site, uint32_t bucket, size_t mask)
{
    uint64_t h = (uint64_t)site * 0x9e3779b97f4a7c15ull ^ (uint64_t)bucket * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (size_t)(h ^ (h >> 32)) & mask;
}

static struct rep_life_cell *cell_slot(struct rep_life_cell *cells, size_t mask, uint32_t site,
                                       uint32_t bucket)
{
    size_t i = cell_hash(site, bucket, mask);
    while (cells[i].site != UINT32_MAX && (cells[i].site != site || cells[i].bucket != bucket))
        i = (i + 1) & mask;
    return &cells[i];
}

static void cell_add(struct rep_life_cell *to, const struct rep_life_cell *from)
{
    to->a_n += from->a_n; to->a_b += from->a_b;
    to->f_n += from->f_n; to->f_b += from->f_b;
    to->x_n += from->x_n;
    to->e_n += from->e_n; to->e_b += from->e_b;
}

/* Rebuilds the cell table with room for `cap` cells, dividing every bucket
 * by `shift` powers of two. -1 when out of memory (the old table stays). */
static int cells_rebuild(struct life_stream *s, size_t cap, unsigned shift)
{
    struct rep_life_cell *cells = malloc(cap * sizeof *cells);
    if (!cells)
        return -1;
    for (size_t i = 0; i < cap; i++)
        cells[i].site = UINT32_MAX;
    size_t n = 0;
    for (size_t i = 0; s->cells && i <= s->mask; i++) {
        const struct rep_life_cell *c = &s->cells[i];
        if (c->site == UINT32_MAX)
            continue;
        struct rep_life_cell *d = cell_slot(cells, cap - 1, c->site, c->bucket >> shift);
        if (d->site == UINT32_MAX) {
            memset(d, 0, sizeof *d);
            d->site = c->site;
            d->bucket = c->bucket >> shift;
            n++;
        }
        cell_add(d, c);
    }
    free(s->cells);
    s->cells = cells;
    s->mask = cap - 1;
    s->ncells = n;
    return 0;
}

/* Halves the time resolution: bucket widths double, cells and starts merge. */
static int widen(struct life_stream *s)
{
    if (cells_rebuild(s, s->mask + 1, 1) < 0)
        return -1;
    s->width *= 2;
    s->nbuckets = (s->nbuckets + 1) / 2;
    size_t n = 0;
    for (size_t i = 0; i < s->nstarts; i++) {
        uint32_t b = s->starts[i].bucket / 2;
        if (n && s->starts[n - 1].bucket == b)
            continue;
        s->starts[n].bucket = b;
        s->starts[n++].number = s->starts[i].number;
    }
    s->nstarts = n;
    return 0;
}

static struct life_stream *life_stream(struct rep_life *life, uint32_t stream)
{
    if (stream == 0 || stream > 1u << 20)
        return NULL;
    if (stream > life->nstreams) {
        struct life_stream *v = realloc(life->streams, stream * sizeof *v);
        if (!v)
            return NULL;
        memset(v + life->nstreams, 0, (stream - life->nstreams) * sizeof *v);
        life->streams = v;
        life->nstreams = stream;
    }
    return &life->streams[stream - 1];
}

/* The bucket of time t, widening buckets until it fits; -1 on failure. */
static int64_t bucket_of(struct life_stream *s, uint64_t t)
{
    if (!s->started) {
        s->started = 1;
        s->t0 = t;
        s->width = s->hm_width = 1;
        if (!(s->hm = malloc(LIFE_MAX_BUCKETS * sizeof *s->hm)) || cells_rebuild(s, 1024, 0) < 0)
            return -1;
    }
    uint64_t d = t > s->t0 ? t - s->t0 : 0;
    while (d / s->width >= LIFE_MAX_BUCKETS)
        if (widen(s) < 0)
            return -1;
    uint32_t b = (uint32_t)(d / s->width);
    if (b >= s->nbuckets)
        s->nbuckets = b + 1;
    return b;
}

/* The cell of (site, bucket), created if new; the table grows up to
 * LIFE_MAX_CELLS and buckets widen beyond that. NULL when out of memory. */
static struct rep_life_cell *cell_get(struct life_stream *s, uint32_t site, uint32_t *bucket)
{
    struct rep_life_cell *c = cell_slot(s->cells, s->mask, site, *bucket);
    if (c->site != UINT32_MAX)
        return c;
    if (s->ncells + 1 > (s->mask + 1) / 2) {
        int wide = s->ncells >= LIFE_MAX_CELLS && s->nbuckets > LIFE_MIN_BUCKETS;
        if ((wide ? widen(s) : cells_rebuild(s, (s->mask + 1) * 2, 0)) < 0)
            return NULL;
        if (wide)
            *bucket >>= 1;
        return cell_get(s, site, bucket);
    }
    memset(c, 0, sizeof *c);
    c->site = site;
    c->bucket = *bucket;
    s->ncells++;
    return c;
}

/* How many of the n elements of v (each `size` bytes, sorted by key) have
 * a key below x: a binary search. */
static size_t count_below(const void *v, size_t n, size_t size, uint64_t (*key)(const void *),
                          uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key((const char *)v + mid * size) < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t start_number(const void *e)
{
    return ((const struct life_start *)e)->number;
}

/* Bucket in which allocation `number` was made: the last bucket whose first
 * allocation is not after it (0 for blocks older than the stream's events). */
static uint32_t alloc_bucket(const struct life_stream *s, uint64_t number)
{
    size_t k = number == UINT64_MAX ? s->nstarts
             : count_below(s->starts, s->nstarts, sizeof *s->starts, start_number, number + 1);
    return k ? s->starts[k - 1].bucket : 0;
}

static int note_start(struct life_stream *s, uint32_t bucket, uint64_t number)
{
    if (s->nstarts && s->starts[s->nstarts - 1].bucket >= bucket)
        return 0;
    if (rep_grow((void **)&s->starts, &s->starts_cap, s->nstarts + 1, sizeof *s->starts) < 0)
        return -1;
    s->starts[s->nstarts].bucket = bucket;
    s->starts[s->nstarts++].number = number;
    return 0;
}

/* Applies a change of the heap at time t (after bucket_of() started s). */
static void heap_event(struct life_stream *s, uint64_t t, int64_t delta)
{
    uint64_t d = t > s->t0 ? t - s->t0 : 0;
    while (d / s->hm_width >= LIFE_MAX_BUCKETS) {
        for (uint32_t i = 0; 2 * i < s->hm_n; i++)
            s->hm[i] = 2 * i + 1 < s->hm_n && s->hm[2 * i + 1] > s->hm[2 * i] ? s->hm[2 * i + 1] : s->hm[2 * i];
        s->hm_n = (s->hm_n + 1) / 2;
        s->hm_width *= 2;
    }
    uint32_t b = (uint32_t)(d / s->hm_width);
    for (; s->hm_n <= b; s->hm_n++)
        s->hm[s->hm_n] = s->heap;
    s->heap += delta;
    if (s->heap > s->hm[b])
        s->hm[b] = s->heap;
}

static int life_event(struct life_stream *s, int op, uint64_t number, uint32_t site,
                      uint64_t size, uint64_t time_us, int temporary)
{
    int64_t b = bucket_of(s, time_us);
    if (b < 0)
        return -1;
    heap_event(s, time_us, op == 0 ? (int64_t)size : -(int64_t)size);
    uint32_t bucket = (uint32_t)b;
    if (op == 0) {
        if (note_start(s, bucket, number) < 0)
            return -1;
        struct rep_life_cell *c = cell_get(s, site, &bucket);
        if (!c)
            return -1;
        c->a_n++;
        c->a_b += size;
        return 0;
    }
    struct rep_life_cell *c = cell_get(s, site, &bucket);
    if (!c)
        return -1;
    c->f_n++;
    c->f_b += size;
    c->x_n += temporary != 0;
    /* The table may have widened: look the allocation bucket up afterwards.
     * A short-lived block ends in the bucket it was made in: same cell. */
    uint32_t ab = alloc_bucket(s, number);
    struct rep_life_cell *e = ab == c->bucket && site == c->site ? c : cell_get(s, site, &ab);
    if (!e)
        return -1;
    e->e_n++;
    e->e_b += size;
    return 0;
}

void rep_life_block(void *arg, uint32_t stream, int op, uint64_t number, uint32_t site,
                    uint64_t size, uint64_t time_us, int temporary)
{
    struct rep_life *life = arg;
    if (life->failed)
        return;
    struct life_stream *s = life_stream(life, stream);
    if (!s || life_event(s, op, number, site, size, time_us, temporary) < 0)
        life->failed = 1;
}

int rep_life_failed(const struct rep_life *life)
{
    return life->failed;
}

/* ---- one process's view ------------------------------------------------------ */

/* A lost block's contribution to the leaked columns: its site and allocation bucket. */
struct rep_life_lost {
    uint32_t site, bucket;
    uint64_t size;
};

/* A cell of the stream under the site its figures count under. */
struct rep_life_ref {
    uint32_t site;
    const struct rep_life_cell *cell;
};

static int cell_cmp(const void *a, const void *b)
{
    const struct rep_life_ref *x = a, *y = b;
    if (x->site != y->site)
        return x->site < y->site ? -1 : 1;
    return x->cell->bucket < y->cell->bucket ? -1 : x->cell->bucket > y->cell->bucket;
}

static int lost_cmp(const void *a, const void *b)
{
    const struct rep_life_lost *x = a, *y = b;
    if (x->site != y->site)
        return x->site < y->site ? -1 : 1;
    return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

/* Sorts the stream's cells and, with a classified exit snapshot, buckets its
 * lost blocks by allocation time. -1 when out of memory. */
static int view_lifetimes(struct rep_life_view *v, const struct life_stream *s,
                          const struct rep_process *p)
{
    v->cells = malloc((s->ncells ? s->ncells : 1) * sizeof *v->cells);
    if (!v->cells)
        return -1;
    for (size_t i = 0; i <= s->mask; i++) {
        uint32_t site = s->cells[i].site;
        if (site != UINT32_MAX)
            v->cells[v->ncells++] = (struct rep_life_ref){
                p->site_canon && site < p->nstacks ? p->site_canon[site] : site, &s->cells[i]};
    }
    qsort(v->cells, v->ncells, sizeof *v->cells, cell_cmp);
    const struct rep_snapshot *snap = p->exit_snapshot;
    if (!snap || !snap->classified || !snap->kind)
        return 0;
    v->z = malloc((snap->nblocks ? snap->nblocks : 1) * sizeof *v->z);
    if (!v->z)
        return -1;
    for (size_t i = 0; i < snap->nblocks; i++) {
        if (!rep_kind_is_lost(snap->kind[i]))
            continue;
        const struct rep_block *b = &snap->blocks[i];
        v->z[v->nz++] = (struct rep_life_lost){ b->site, alloc_bucket(s, b->number), b->size };
    }
    qsort(v->z, v->nz, sizeof *v->z, lost_cmp);
    return 0;
}

int rep_life_view_init(struct rep_life_view *v, const struct rep_life *life,
                       const struct rep_process *p)
{
    memset(v, 0, sizeof *v);
    if (!life || life->failed || p->stream < 1 || p->stream > life->nstreams ||
        !life->streams[p->stream - 1].started)
        return 0;
    const struct life_stream *s = &life->streams[p->stream - 1];
    *v = (struct rep_life_view){ .t0 = s->t0, .width = s->width, .nbuckets = s->nbuckets,
                                 .heap = s->hm, .heap_width = s->hm_width, .heap_n = s->hm_n };
    if (view_lifetimes(v, s, p) < 0) {
        rep_life_view_release(v);
        return -1;
    }
    return 1;
}

static uint64_t cell_site(const void *e)
{
    return ((const struct rep_life_ref *)e)->site;
}

static uint64_t lost_site(const void *e)
{
    return ((const struct rep_life_lost *)e)->site;
}

void rep_life_view_add_site(const struct rep_life_view *v, uint32_t site, uint64_t *rows)
{
    size_t i = count_below(v->cells, v->ncells, sizeof *v->cells, cell_site, site);
    for (; i < v->ncells && v->cells[i].site == site; i++) {
        const struct rep_life_cell *c = v->cells[i].cell;
        uint64_t *r = &rows[(size_t)c->bucket * REP_LIFE_NCOLS];
        r[REP_LIFE_MADE_N] += c->a_n;
        r[REP_LIFE_MADE_B] += c->a_b;
        r[REP_LIFE_ENDED_N] += c->f_n;
        r[REP_LIFE_ENDED_B] += c->f_b;
        r[REP_LIFE_TEMP_N] += c->x_n;
        if (!v->z) {                 /* no snapshot: leaked = made here minus ended */
            r[REP_LIFE_LEAKED_N] += c->a_n > c->e_n ? c->a_n - c->e_n : 0;
            r[REP_LIFE_LEAKED_B] += c->a_b > c->e_b ? c->a_b - c->e_b : 0;
        }
    }
    i = count_below(v->z, v->nz, sizeof *v->z, lost_site, site);
    for (; i < v->nz && v->z[i].site == site; i++) {
        uint64_t *r = &rows[(size_t)v->z[i].bucket * REP_LIFE_NCOLS];
        r[REP_LIFE_LEAKED_N]++;
        r[REP_LIFE_LEAKED_B] += v->z[i].size;
    }
}

void rep_life_view_release(struct rep_life_view *v)
{
    free(v->cells);
    free(v->z);
    memset(v, 0, sizeof *v);
}
