/* SPDX-License-Identifier: MIT
 *
 * classify.c - rep_capture_classify(): runs rep_graph_classify() (graph.c) on
 * every snapshot and turns its per-block answer into what reports show: the
 * summary counts, leak entries aggregated by allocation site (a leak group
 * counts under the site of its lowest-address root block), the cycles with
 * their closing edges, one retention path per reachable entry, and the
 * entries that grew since the previous snapshot of the same process.
 */
#include "report/analysis/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis/graph.h"
#include "report/analysis/pyobj.h"
#include "report/model/arena.h"
#include "report/model/index.h"
#include "report/model/replay.h"
#include "symbolize/sym.h"

#define MAX_PATH 64     /* retention steps kept, counted from the root */
/* Rows of accumulators, one per kind up to REACHABLE; the INDIRECT row stays
 * empty (indirect blocks are counted with their group). */
#define NKINDS (REP_LEAK_REACHABLE + 1)

struct acc {
    uint64_t blocks, bytes, ind_blocks, ind_bytes;
    uint32_t ngroups, cycle, first;
};

struct job {
    struct rep_capture *cap;
    const struct rep_process *p;
    struct rep_stream *rs;           /* p's stream: its writable model (replay.h) */
    struct rep_snapshot *snap;
    struct rep_cycle *cycles;        /* snap->cycles, writable */
    size_t first_ret;                /* snap's retention paths: rs->rets from here */
    struct rep_graph g;
    const uint8_t *judged;   /* snap->judged, or NULL: every block */
    uint32_t *cycle_map;     /* graph cycle -> index in snap->cycles, UINT32_MAX if dropped */
};

static int judged(const struct job *j, uint32_t b)
{
    return !j->judged || j->judged[b];
}

static void add_count(struct rep_class_count *c, uint64_t size)
{
    c->blocks++;
    c->bytes += size;
}

static void summarize(struct job *j)
{
    struct rep_summary *s = &j->snap->summary;
    for (uint32_t i = 0; i < j->g.nblocks; i++) {
        uint64_t size = j->snap->blocks[i].size;
        if (!judged(j, i)) {
            add_count(&j->snap->unjudged, size);
            continue;
        }
        switch (j->g.kind[i]) {
        case REP_KIND_REACHABLE: add_count(&s->reachable, size); break;
        case REP_KIND_POSSIBLE: add_count(&s->possible, size); break;
        case REP_KIND_DEFINITE: add_count(&s->definite, size); break;
        case REP_KIND_CYCLE: add_count(&s->cycle, size); break;
        default: add_count(&s->indirect, size); break;
        }
    }
}

static int has_judged_member(const struct job *j, const struct rep_graph_cycle *gc)
{
    for (uint32_t m = 0; m < gc->nmembers; m++)
        if (judged(j, gc->members[m]))
            return 1;
    return 0;
}

/* The cycles with a member the process answers for. */
static int copy_cycles(struct job *j)
{
    struct rep_arena *a = j->cap->arena;
    struct rep_cycle *c = rep_arena_alloc(a, (j->g.ncycles + 1) * sizeof *c);
    j->cycle_map = malloc((j->g.ncycles + 1) * sizeof *j->cycle_map);
    if (!c || !j->cycle_map)
        return -1;
    size_t n = 0;
    for (uint32_t i = 0; i < j->g.ncycles; i++) {
        const struct rep_graph_cycle *gc = &j->g.cycles[i];
        j->cycle_map[i] = UINT32_MAX;
        if (!has_judged_member(j, gc))
            continue;
        j->cycle_map[i] = (uint32_t)n;
        c[n].root = gc->root;
        c[n].bytes = gc->bytes;
        c[n].nmembers = gc->nmembers;
        c[n].members = rep_arena_dup(a, gc->members, gc->nmembers * sizeof *gc->members);
        c[n].nedges = gc->nedges;
        c[n].edges = rep_arena_dup(a, gc->edges, gc->nedges * sizeof *gc->edges);
        if (!c[n].members || !c[n].edges)
            return -1;
        n++;
    }
    j->snap->cycles = j->cycles = c;
    j->snap->ncycles = n;
    return 0;
}

/* The chain of blocks from a root down to block b, root side first. */
static struct rep_retention *retention(struct job *j, uint32_t b)
{
    uint32_t chain[MAX_PATH];
    size_t n = 0;
    uint32_t cur = b;
    /* Walk up; keep the last MAX_PATH blocks seen, which are the root side. */
    for (size_t guard = 0; !(cur & REP_GRAPH_ROOT) && guard <= j->g.nblocks; guard++) {
        if (cur >= j->g.nblocks || j->g.parent[cur] == UINT32_MAX)
            return NULL;
        if (n == MAX_PATH)
            memmove(chain, chain + 1, (MAX_PATH - 1) * sizeof *chain), n--;
        chain[n++] = cur;
        cur = j->g.parent[cur];
    }
    if (!(cur & REP_GRAPH_ROOT) || n == 0)
        return NULL;
    struct rep_retention *r = rep_arena_alloc(j->cap->arena, sizeof *r);
    struct rep_path_step *path = rep_arena_alloc(j->cap->arena, n * sizeof *path);
    struct rep_stream *rs = j->rs;
    if (!r || !path || rep_grow((void **)&rs->rets, &rs->rets_cap, rs->nrets + 1,
                                sizeof *rs->rets) < 0)
        return NULL;
    rs->rets[rs->nrets++] = (struct rep_retention_rt){r, j->snap};
    for (size_t i = 0; i < n; i++) {
        uint32_t blk = chain[n - 1 - i];
        path[i] = (struct rep_path_step){blk, j->snap->blocks[blk].size, j->g.parent_off[blk],
                                         j->snap->blocks[blk].site};
    }
    const struct rep_root *root = rep_snapshot_root(j->snap, cur & ~REP_GRAPH_ROOT);
    r->root_id = cur & ~REP_GRAPH_ROOT;
    r->root_kind = root ? root->kind : REP_ROOT_OTHER;
    r->owner = root ? root->owner : 0;
    r->root_addr = (root ? root->start : 0) + path[0].offset;
    r->npath = (uint32_t)n;
    r->path = path;
    return r;
}

/* The block whose site a leak group counts under: its lowest member, or
 * in a Python snapshot its lowest Python object. A cycle of objects is
 * made where its objects were; by address alone, the same line's cycles
 * went to whichever block came first, an object or the memory of its
 * attributes, and read as two entries of one line. */
static uint32_t group_lead(const struct job *j, const struct rep_graph_group *gr)
{
    const struct rep_pyblock *py = j->snap->py;
    for (uint32_t m = 0; py && m < gr->nmembers; m++)
        if (py[gr->members[m]].type)
            return gr->members[m];
    return gr->members[0];
}

/* The entry a leak group counts under: its kind and its lead's site. */
static struct acc *group_acc(struct job *j, struct acc *acc, size_t nsites,
                             const struct rep_graph_group *gr)
{
    int k = gr->kind == REP_KIND_CYCLE ? REP_LEAK_CYCLE : REP_LEAK_DEFINITE;
    return &acc[k * nsites + j->snap->blocks[group_lead(j, gr)].site];
}

static void count_group(struct job *j, struct acc *a, const struct rep_graph_group *gr)
{
    uint32_t cycle = gr->cycle == UINT32_MAX ? UINT32_MAX : j->cycle_map[gr->cycle];
    if (cycle < a->cycle)
        a->cycle = cycle;
    a->ngroups++;
}

/* Leak groups with only the blocks the process answers for: a group counts
 * once if any of its blocks does. */
static int gather_judged_groups(struct job *j, struct acc *acc, size_t nsites)
{
    uint8_t *seen = calloc(j->g.ngroups + 1, 1);
    if (!seen)
        return -1;
    for (uint32_t i = 0; i < j->g.nblocks; i++) {
        uint8_t kind = j->g.kind[i];
        if (!judged(j, i) || kind == REP_KIND_REACHABLE || kind == REP_KIND_POSSIBLE)
            continue;
        const struct rep_graph_group *gr = &j->g.groups[j->g.group[i]];
        struct acc *a = group_acc(j, acc, nsites, gr);
        if (!seen[j->g.group[i]]++)
            count_group(j, a, gr);
        if (kind == REP_KIND_INDIRECT)
            a->ind_blocks++, a->ind_bytes += j->snap->blocks[i].size;
        else
            a->blocks++, a->bytes += j->snap->blocks[i].size;
    }
    free(seen);
    return 0;
}

static int gather(struct job *j, struct acc *acc, size_t nsites)
{
    if (j->judged && gather_judged_groups(j, acc, nsites) < 0)
        return -1;
    for (uint32_t i = 0; !j->judged && i < j->g.ngroups; i++) {
        const struct rep_graph_group *gr = &j->g.groups[i];
        struct acc *a = group_acc(j, acc, nsites, gr);
        a->blocks += gr->nmembers;
        a->bytes += gr->bytes;
        a->ind_blocks += gr->indirect_blocks;
        a->ind_bytes += gr->indirect_bytes;
        count_group(j, a, gr);
    }
    for (uint32_t i = 0; i < j->g.nblocks; i++) {
        int k = j->g.kind[i] == REP_KIND_REACHABLE  ? REP_LEAK_REACHABLE
                : j->g.kind[i] == REP_KIND_POSSIBLE ? REP_LEAK_POSSIBLE
                                                    : -1;
        if (k < 0 || !judged(j, i))
            continue;
        struct acc *a = &acc[k * nsites + j->snap->blocks[i].site];
        if (!a->blocks)
            a->first = i;
        a->blocks++;
        a->bytes += j->snap->blocks[i].size;
    }
    return 0;
}

static int leak_rank(unsigned kind)
{
    return kind <= REP_LEAK_CYCLE ? 0 : (int)kind;
}

static int cmp_leak(const void *x, const void *y)
{
    const struct rep_leak *a = x, *b = y;
    if (leak_rank(a->kind) != leak_rank(b->kind))
        return leak_rank(a->kind) - leak_rank(b->kind);
    uint64_t ta = a->bytes + a->indirect_bytes, tb = b->bytes + b->indirect_bytes;
    if (ta != tb)
        return ta > tb ? -1 : 1;
    if (a->site != b->site)
        return a->site < b->site ? -1 : 1;
    return (int)a->kind - (int)b->kind;
}

static int build_leaks(struct job *j)
{
    size_t nsites = j->p->nstacks;
    struct acc *acc = calloc(NKINDS * nsites + 1, sizeof *acc);
    if (!acc)
        return -1;
    for (size_t i = 0; i < NKINDS * nsites; i++)
        acc[i].cycle = UINT32_MAX;
    if (gather(j, acc, nsites) < 0)
        return free(acc), -1;
    size_t n = 0;
    for (size_t i = 0; i < NKINDS * nsites; i++)
        n += acc[i].blocks != 0;
    struct rep_leak *leaks = rep_arena_alloc(j->cap->arena, (n + 1) * sizeof *leaks);
    if (!leaks)
        return free(acc), -1;
    size_t k = 0;
    for (size_t i = 0; i < NKINDS * nsites; i++) {
        const struct acc *a = &acc[i];
        if (!a->blocks)
            continue;
        unsigned kind = (unsigned)(i / nsites);
        leaks[k] = (struct rep_leak){(uint8_t)kind, (uint32_t)(i % nsites), a->blocks, a->bytes,
                                     a->ind_blocks, a->ind_bytes, a->ngroups, a->cycle, NULL};
        if (kind == REP_LEAK_REACHABLE)
            leaks[k].retained_by = retention(j, a->first);
        k++;
    }
    free(acc);
    qsort(leaks, k, sizeof *leaks, cmp_leak);
    j->snap->leaks = leaks;
    j->snap->nleaks = k;
    return 0;
}

/* ---- who answers for a block --------------------------------------------
 * A fork child starts with a copy of its parent's heap. Those blocks are
 * the parent's to answer for unless the child changed their fate: it freed
 * them (then they are no longer live) or lost them. A lost inherited block
 * is the child's doing when the parent did not lose it too: the parent
 * still reached it at its exit, or freed it after the fork (so it held a
 * pointer the child dropped). Without the parent's classified exit
 * snapshot that cannot be told, and the block stays the parent's. */

/* Index of the block at addr in the parent's snapshot ps if the parent made
 * it before the fork (number below fork_number), else -1. */
static long parent_block(const struct rep_snapshot *ps, uint64_t addr, uint64_t fork_number)
{
    size_t lo = 0, hi = ps->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->blocks[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ps->nblocks && ps->blocks[lo].addr == addr && ps->blocks[lo].number < fork_number)
        return (long)lo;
    return -1;
}

static int child_lost_it(const struct rep_process *p, const struct rep_block *b)
{
    const struct rep_snapshot *ps = p->parent ? p->parent->exit_snapshot : NULL;
    if (!ps || !ps->classified || !p->fork_number)
        return 0;
    long k = parent_block(ps, b->addr, p->fork_number);
    return k < 0 || ps->kind[k] == REP_KIND_REACHABLE || ps->kind[k] == REP_KIND_POSSIBLE;
}

/* Sets snap->judged for a fork child (unless the capture judges whole
 * heaps); -1 when out of memory. */
static int judge_blocks(struct job *j)
{
    const struct rep_process *p = j->p;
    if (j->cap->whole_heap || p->origin != REP_ORIGIN_FORK || !p->inherited_blocks)
        return 0;
    uint8_t *m = rep_arena_alloc(j->cap->arena, j->snap->nblocks + 1);
    if (!m)
        return -1;
    for (uint32_t i = 0; i < j->g.nblocks; i++) {
        const struct rep_block *b = &j->snap->blocks[i];
        uint8_t kind = j->g.kind[i];
        int lost = kind != REP_KIND_REACHABLE && kind != REP_KIND_POSSIBLE;
        m[i] = b->number >= p->own_from || (lost && child_lost_it(p, b));
    }
    j->judged = j->snap->judged = m;
    return 0;
}

/* Edges past a short block list (a snapshot cut by damage) are dropped. */
static struct rep_graph_edge *usable_edges(const struct rep_snapshot *s, size_t *n)
{
    struct rep_graph_edge *e = malloc((s->nedges + 1) * sizeof *e);
    if (!e)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < s->nedges; i++) {
        const struct rep_graph_edge *x = &s->edges[i];
        if (x->dst < s->nblocks && ((x->src & REP_GRAPH_ROOT) || x->src < s->nblocks))
            e[(*n)++] = *x;
    }
    return e;
}

/* The Python view of a classified snapshot (pyobj.h); nothing without
 * Python objects. */
static int python_view(struct job *j, const struct rep_snapshot *prev)
{
    int oom;
    struct rep_py *x = rep_py_open(j->cap->arena, j->p, j->snap, &oom);
    if (!x)
        return oom ? -1 : 0;
    int rc = rep_py_cycles(x, j->snap, j->cycles) < 0 || rep_py_types(x, j->snap, prev) < 0
           ? -1 : 0;
    for (size_t i = j->first_ret; !rc && i < j->rs->nrets; i++)
        rc = rep_py_retention(x, j->rs->rets[i].r);
    rep_py_close(x);
    return rc;
}

static int classify_snapshot(struct job *j, const struct rep_snapshot *prev, char *err,
                             size_t errlen)
{
    struct rep_snapshot *s = j->snap;
    size_t nedges;
    uint64_t *sizes = malloc((s->nblocks + 1) * sizeof *sizes);
    struct rep_graph_edge *edges = usable_edges(s, &nedges);
    int rc = -1;
    if (!sizes || !edges) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->nblocks; i++)
        sizes[i] = s->blocks[i].size;
    memset(&j->g, 0, sizeof j->g);
    j->g.nblocks = (uint32_t)s->nblocks;
    j->g.size = sizes;
    j->g.nedges = nedges;
    j->g.edges = edges;
    if (rep_graph_classify(&j->g, err, errlen) < 0)
        goto out;
    s->kind = rep_arena_dup(j->cap->arena, j->g.kind, s->nblocks);
    if (!s->kind || judge_blocks(j) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    summarize(j);
    if (copy_cycles(j) < 0 || build_leaks(j) < 0 || python_view(j, prev) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    s->classified = 1;
    rc = 0;
out:
    rep_graph_release(&j->g);
    free(j->cycle_map);
    j->cycle_map = NULL;
    j->judged = NULL;
    free(sizes);
    free(edges);
    return rc;
}

/* Entries of `cur` whose bytes grew since `prev` (new entries count whole). */
static int growth(struct rep_arena *a, const struct rep_snapshot *prev, struct rep_snapshot *cur)
{
    struct rep_index idx = {0};
    struct rep_growth *g = rep_arena_alloc(a, (cur->nleaks + 1) * sizeof *g);
    if (!g)
        return -1;
    for (size_t i = 0; i < prev->nleaks; i++)
        if (rep_index_put(&idx, (uint64_t)prev->leaks[i].kind << 32 | prev->leaks[i].site,
                          (uint32_t)i) < 0)
            return rep_index_release(&idx), -1;
    size_t n = 0;
    for (size_t i = 0; i < cur->nleaks; i++) {
        const struct rep_leak *l = &cur->leaks[i];
        uint32_t k = rep_index_get(&idx, (uint64_t)l->kind << 32 | l->site);
        uint64_t before = k == REP_INDEX_NONE ? 0 : prev->leaks[k].bytes;
        if (l->bytes > before)
            g[n++] = (struct rep_growth){l->kind, l->site, l->blocks, l->bytes,
                                         (int64_t)(l->bytes - before)};
    }
    rep_index_release(&idx);
    cur->grew = g;
    cur->ngrew = n;
    return 0;
}

static int classify_process(struct rep_capture *cap, size_t index, char *err, size_t errlen)
{
    struct rep_process *p = rep_rw_process(cap, index);
    struct job j = {.cap = cap, .p = p, .rs = cap->replay->streams[index]};
    struct rep_snapshot *prev = NULL;
    for (size_t i = 0; i < p->nsnapshots; i++) {
        struct rep_snapshot *s = &j.rs->pub_snaps[i];
        if (!s->have_blocks)
            continue;
        j.snap = s;
        j.first_ret = j.rs->nrets;
        if (classify_snapshot(&j, prev, err, errlen) < 0)
            return -1;
        if (prev && growth(cap->arena, prev, s) < 0)
            return snprintf(err, errlen, "out of memory"), -1;
        prev = s;
    }
    if (p->exit_snapshot) {
        p->leaks = p->exit_snapshot->leaks;
        p->nleaks = p->exit_snapshot->nleaks;
        p->unjudged_blocks = p->exit_snapshot->unjudged.blocks;
        p->unjudged_bytes = p->exit_snapshot->unjudged.bytes;
    }
    return 0;
}

int rep_capture_classify(struct rep_capture *cap, char *err, size_t errlen)
{
    if (cap->classified)
        return 0;
    for (size_t i = 0; i < cap->nprocesses; i++)
        if (classify_process(cap, i, err, errlen) < 0)
            return -1;
    cap->classified = 1;
    rep_retention_symbols(cap);
    return 0;
}
