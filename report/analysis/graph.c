/* SPDX-License-Identifier: MIT
 *
 * graph.c - classification of a heap snapshot's reference graph.
 *
 * The scanner gives edges from roots (globals, stacks, TLS, registers) and
 * from blocks to blocks; an edge is a start pointer when it points at the
 * block's first byte, an interior pointer otherwise. A breadth-first walk
 * from the roots over start pointers marks the reachable blocks, a second
 * walk over every edge marks the possible ones (reached only through an
 * interior pointer); both walks record the shortest retention path. The
 * rest is lost. Tarjan's algorithm (iterative: explicit stacks, so a lost
 * list of millions of blocks is no deeper than a short one) finds the
 * strongly connected components of the lost subgraph. A component no other
 * lost block points into roots a leak group: one block without a self-edge is
 * definite, anything else a cycle. Each remaining lost block is indirect and
 * belongs to the first group (by lowest member) whose flood reaches it.
 * docs/architecture.md, "Classification", is the specification.
 */
#include "report/analysis/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define KIND_LOST 0xffu /* before the lost blocks get their final kind */

/* Out-edges of every block in compressed form: the edges leaving block b are
 * edges[adj[off[b]]] .. edges[adj[off[b+1]-1]], in input order. */
struct adjacency {
    uint32_t *off;
    uint32_t *adj;
};

/* Strongly connected components of the lost blocks: component c holds
 * members[start[c]] .. members[start[c+1]-1], ascending. */
struct components {
    uint32_t n;
    uint32_t *of;        /* per block: its component, NONE when not lost */
    uint32_t *start;     /* n + 1 */
    uint32_t *members;
    uint8_t *self_loop;  /* per component */
    uint8_t *pointed_to; /* per component: another lost block points into it */
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int is_lost(const struct rep_graph *g, uint32_t b)
{
    return g->kind[b] == KIND_LOST;
}

/* ---------------------------------------------------------------- input */

static int check_edges(const struct rep_graph *g, char *err, size_t errlen)
{
    if (g->nedges >= UINT32_MAX)
        return fail(err, errlen, "too many edges (%zu)", g->nedges);
    for (size_t i = 0; i < g->nedges; i++) {
        const struct rep_graph_edge *e = &g->edges[i];
        if (e->dst >= g->nblocks || (!(e->src & REP_GRAPH_ROOT) && e->src >= g->nblocks))
            return fail(err, errlen, "edge %zu: block index out of range (%u blocks)", i, g->nblocks);
    }
    return 0;
}

/* Counting sort of the block-to-block edges by source. Returns 0 or -1. */
static int build_adjacency(const struct rep_graph *g, struct adjacency *a)
{
    a->off = calloc((size_t)g->nblocks + 1, sizeof *a->off);
    a->adj = malloc((g->nedges + 1) * sizeof *a->adj);
    if (!a->off || !a->adj)
        return -1;
    for (size_t i = 0; i < g->nedges; i++)
        if (!(g->edges[i].src & REP_GRAPH_ROOT))
            a->off[g->edges[i].src + 1]++;
    for (uint32_t b = 0; b < g->nblocks; b++)
        a->off[b + 1] += a->off[b];
    uint32_t *fill = malloc(((size_t)g->nblocks + 1) * sizeof *fill);
    if (!fill)
        return -1;
    memcpy(fill, a->off, ((size_t)g->nblocks + 1) * sizeof *fill);
    for (size_t i = 0; i < g->nedges; i++)
        if (!(g->edges[i].src & REP_GRAPH_ROOT))
            a->adj[fill[g->edges[i].src]++] = (uint32_t)i;
    free(fill);
    return 0;
}

/* ------------------------------------------------------ reachable, possible */

/* Breadth-first walk from every root at once, in edge order, so that the
 * first predecessor recorded lies on a shortest path. With start_only, only
 * start pointers are followed and the blocks reached become reachable;
 * otherwise every edge is followed and blocks not yet reachable become
 * possible. `seen` is scratch of nblocks bytes. */
static void walk_from_roots(struct rep_graph *g, const struct adjacency *a, int start_only,
                            uint32_t *queue, uint8_t *seen)
{
    size_t head = 0, tail = 0;
    memset(seen, 0, g->nblocks);
    for (size_t i = 0; i < g->nedges; i++) {
        const struct rep_graph_edge *e = &g->edges[i];
        if (!(e->src & REP_GRAPH_ROOT) || (start_only && e->dst_off) || seen[e->dst])
            continue;
        seen[e->dst] = 1;
        queue[tail++] = e->dst;
        if (g->kind[e->dst] == KIND_LOST) {
            g->parent[e->dst] = e->src;
            g->parent_off[e->dst] = e->src_off;
        }
    }
    uint8_t mark = start_only ? REP_KIND_REACHABLE : REP_KIND_POSSIBLE;
    while (head < tail) {
        uint32_t b = queue[head++];
        if (g->kind[b] == KIND_LOST)
            g->kind[b] = mark;
        for (uint32_t k = a->off[b]; k < a->off[b + 1]; k++) {
            const struct rep_graph_edge *e = &g->edges[a->adj[k]];
            if ((start_only && e->dst_off) || seen[e->dst])
                continue;
            seen[e->dst] = 1;
            queue[tail++] = e->dst;
            if (g->kind[e->dst] == KIND_LOST) {
                g->parent[e->dst] = b;
                g->parent_off[e->dst] = e->src_off;
            }
        }
    }
}

/* ------------------------------------------------------------ components */

/* Tarjan's algorithm over the lost blocks with explicit stacks: `call` holds
 * the depth-first path with each node's next out-edge in `pos`, `stack` the
 * nodes not yet assigned to a component. Fills c->of and c->n. */
static int tarjan(const struct rep_graph *g, const struct adjacency *a, struct components *c)
{
    uint32_t n = g->nblocks, counter = 0, sp = 0, cp = 0;
    uint32_t *index = malloc(((size_t)n + 1) * sizeof *index);
    uint32_t *low = malloc(((size_t)n + 1) * sizeof *low);
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof *stack);
    uint32_t *call = malloc(((size_t)n + 1) * sizeof *call);
    uint32_t *pos = malloc(((size_t)n + 1) * sizeof *pos);
    int ret = -1;
    if (!index || !low || !stack || !call || !pos)
        goto out;
    memset(index, 0xff, (size_t)n * sizeof *index);
    for (uint32_t root = 0; root < n; root++) {
        if (!is_lost(g, root) || index[root] != NONE)
            continue;
        index[root] = low[root] = counter++;
        stack[sp++] = root;
        call[cp] = root;
        pos[cp++] = a->off[root];
        while (cp) {
            uint32_t u = call[cp - 1];
            if (pos[cp - 1] < a->off[u + 1]) {
                uint32_t w = g->edges[a->adj[pos[cp - 1]++]].dst;
                if (!is_lost(g, w))
                    continue;
                if (index[w] == NONE) {
                    index[w] = low[w] = counter++;
                    stack[sp++] = w;
                    call[cp] = w;
                    pos[cp++] = a->off[w];
                } else if (c->of[w] == NONE && index[w] < low[u]) {
                    low[u] = index[w];
                }
                continue;
            }
            cp--;
            if (low[u] == index[u]) {
                uint32_t w;
                do {
                    w = stack[--sp];
                    c->of[w] = c->n;
                } while (w != u);
                c->n++;
            }
            if (cp && low[u] < low[call[cp - 1]])
                low[call[cp - 1]] = low[u];
        }
    }
    ret = 0;
out:
    free(index);
    free(low);
    free(stack);
    free(call);
    free(pos);
    return ret;
}

/* Lists each component's members (counting sort, so ascending) and marks
 * self-loops and components that another lost block points into. */
static int describe_components(const struct rep_graph *g, struct components *c)
{
    c->start = calloc((size_t)c->n + 1, sizeof *c->start);
    c->self_loop = calloc((size_t)c->n + 1, 1);
    c->pointed_to = calloc((size_t)c->n + 1, 1);
    uint32_t *fill = malloc(((size_t)c->n + 1) * sizeof *fill);
    int ret = -1;
    if (!c->start || !c->self_loop || !c->pointed_to || !fill)
        goto out;
    uint32_t nlost = 0;
    for (uint32_t b = 0; b < g->nblocks; b++)
        if (c->of[b] != NONE) {
            c->start[c->of[b] + 1]++;
            nlost++;
        }
    c->members = malloc(((size_t)nlost + 1) * sizeof *c->members);
    if (!c->members)
        goto out;
    for (uint32_t k = 0; k < c->n; k++)
        c->start[k + 1] += c->start[k];
    memcpy(fill, c->start, (size_t)c->n * sizeof *fill);
    for (uint32_t b = 0; b < g->nblocks; b++)
        if (c->of[b] != NONE)
            c->members[fill[c->of[b]]++] = b;
    for (size_t i = 0; i < g->nedges; i++) {
        const struct rep_graph_edge *e = &g->edges[i];
        if ((e->src & REP_GRAPH_ROOT) || c->of[e->src] == NONE || c->of[e->dst] == NONE)
            continue;
        if (e->src == e->dst)
            c->self_loop[c->of[e->src]] = 1;
        else if (c->of[e->src] != c->of[e->dst])
            c->pointed_to[c->of[e->dst]] = 1;
    }
    ret = 0;
out:
    free(fill);
    return ret;
}

static uint32_t comp_size(const struct components *c, uint32_t k)
{
    return c->start[k + 1] - c->start[k];
}

static int is_cycle(const struct components *c, uint32_t k)
{
    return comp_size(c, k) >= 2 || c->self_loop[k];
}

static uint64_t member_bytes(const struct rep_graph *g, const uint32_t *m, uint32_t n)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += g->size[m[i]];
    return sum;
}

/* ---------------------------------------------------------------- cycles */

static int cmp_cycles(const void *pa, const void *pb)
{
    const struct rep_graph_cycle *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return a->members[0] < b->members[0] ? -1 : a->members[0] > b->members[0];
}

/* Lists every cyclic component in final order; members still point into
 * c->members until place_members(). cycle_of gets each component's cycle. */
static int list_cycles(struct rep_graph *g, const struct components *c, uint32_t *cycle_of)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < c->n; k++)
        n += is_cycle(c, k);
    g->cycles = calloc((size_t)n + 1, sizeof *g->cycles);
    if (!g->cycles)
        return -1;
    for (uint32_t k = 0; k < c->n; k++) {
        cycle_of[k] = NONE;
        if (!is_cycle(c, k))
            continue;
        struct rep_graph_cycle *cy = &g->cycles[g->ncycles++];
        cy->nmembers = comp_size(c, k);
        cy->members = &c->members[c->start[k]];
        cy->root = !c->pointed_to[k];
        cy->bytes = member_bytes(g, cy->members, cy->nmembers);
    }
    qsort(g->cycles, g->ncycles, sizeof *g->cycles, cmp_cycles);
    for (uint32_t i = 0; i < g->ncycles; i++)
        cycle_of[c->of[g->cycles[i].members[0]]] = i;
    return 0;
}

/* The cycle whose members an edge links, or NONE. An edge inside a
 * component always belongs to a cycle: inside a single block it is the
 * self-edge that makes that block one. */
static uint32_t edge_cycle(const struct components *c, const uint32_t *cycle_of, const struct rep_graph_edge *e)
{
    if ((e->src & REP_GRAPH_ROOT) || c->of[e->src] == NONE || c->of[e->src] != c->of[e->dst])
        return NONE;
    return cycle_of[c->of[e->src]];
}

/* Copies the edges that close each cycle into one array, in cycle order
 * (so cycles[0].edges is the array rep_graph_release frees). */
static int collect_cycle_edges(struct rep_graph *g, const struct components *c, const uint32_t *cycle_of)
{
    uint32_t *fill = calloc((size_t)g->ncycles + 1, sizeof *fill);
    if (!fill)
        return -1;
    size_t total = 0;
    for (size_t i = 0; i < g->nedges; i++) {
        uint32_t y = edge_cycle(c, cycle_of, &g->edges[i]);
        if (y != NONE) {
            g->cycles[y].nedges++;
            total++;
        }
    }
    struct rep_graph_edge *pool = malloc((total + 1) * sizeof *pool);
    if (!pool) {
        free(fill);
        return -1;
    }
    for (size_t i = 0, at = 0; i < g->ncycles; i++) {
        g->cycles[i].edges = pool + at;
        at += g->cycles[i].nedges;
    }
    for (size_t i = 0; i < g->nedges; i++) {
        uint32_t y = edge_cycle(c, cycle_of, &g->edges[i]);
        if (y != NONE)
            g->cycles[y].edges[fill[y]++] = g->edges[i];
    }
    free(fill);
    if (!g->ncycles)
        free(pool);
    return 0;
}

/* ---------------------------------------------------------------- groups */

static int cmp_lowest(const void *pa, const void *pb)
{
    const struct rep_graph_group *a = pa, *b = pb;
    return a->members[0] < b->members[0] ? -1 : a->members[0] > b->members[0];
}

static int cmp_groups(const void *pa, const void *pb)
{
    const struct rep_graph_group *a = pa, *b = pb;
    uint64_t ta = a->bytes + a->indirect_bytes, tb = b->bytes + b->indirect_bytes;
    if (ta != tb)
        return ta > tb ? -1 : 1;
    return cmp_lowest(pa, pb);
}

/* One group per component that no other lost block points into, ordered
 * by lowest member for the attribution that follows. */
static int list_groups(struct rep_graph *g, const struct components *c, const uint32_t *cycle_of)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < c->n; k++)
        n += !c->pointed_to[k];
    g->groups = calloc((size_t)n + 1, sizeof *g->groups);
    if (!g->groups)
        return -1;
    for (uint32_t k = 0; k < c->n; k++) {
        if (c->pointed_to[k])
            continue;
        struct rep_graph_group *gr = &g->groups[g->ngroups++];
        gr->kind = is_cycle(c, k) ? REP_KIND_CYCLE : REP_KIND_DEFINITE;
        gr->cycle = cycle_of[k];
        gr->nmembers = comp_size(c, k);
        gr->members = &c->members[c->start[k]];
        gr->bytes = member_bytes(g, gr->members, gr->nmembers);
    }
    qsort(g->groups, g->ngroups, sizeof *g->groups, cmp_lowest);
    return 0;
}

/* Floods from each group in turn over lost edges; every lost block not yet
 * claimed becomes indirect and is attributed to the flooding group. A block
 * already claimed stops the flood: all it reaches was claimed with it. */
static void attribute_indirect(struct rep_graph *g, const struct adjacency *a, uint32_t *queue)
{
    for (uint32_t i = 0; i < g->ngroups; i++)
        for (uint32_t m = 0; m < g->groups[i].nmembers; m++)
            g->group[g->groups[i].members[m]] = i;
    for (uint32_t i = 0; i < g->ngroups; i++) {
        struct rep_graph_group *gr = &g->groups[i];
        size_t head = 0, tail = 0;
        for (uint32_t m = 0; m < gr->nmembers; m++)
            queue[tail++] = gr->members[m];
        while (head < tail) {
            uint32_t b = queue[head++];
            for (uint32_t k = a->off[b]; k < a->off[b + 1]; k++) {
                uint32_t w = g->edges[a->adj[k]].dst;
                if (!is_lost(g, w) || g->group[w] != NONE)
                    continue;
                g->group[w] = i;
                gr->indirect_blocks++;
                gr->indirect_bytes += g->size[w];
                queue[tail++] = w;
            }
        }
    }
}

/* Sorts the groups into their final order and renumbers group[]. The
 * members of distinct groups are distinct, so scratch (per block) maps a
 * group's lowest member back to its index before the sort. */
static int order_groups(struct rep_graph *g, uint32_t *scratch)
{
    uint32_t *order = malloc(((size_t)g->ngroups + 1) * sizeof *order);
    if (!order)
        return -1;
    for (uint32_t i = 0; i < g->ngroups; i++)
        scratch[g->groups[i].members[0]] = i;
    qsort(g->groups, g->ngroups, sizeof *g->groups, cmp_groups);
    for (uint32_t i = 0; i < g->ngroups; i++)
        order[scratch[g->groups[i].members[0]]] = i;
    for (uint32_t b = 0; b < g->nblocks; b++)
        if (g->group[b] != NONE)
            g->group[b] = order[g->group[b]];
    free(order);
    return 0;
}

/* Moves every member list into one array owned by the graph: the cycles'
 * members in cycle order, then the definite groups' in group order, so the
 * array starts at cycles[0].members, or at groups[0].members when there is
 * no cycle (rep_graph_release relies on it). A cycle group shares its
 * cycle's list. Sets the final kind of every lost block. */
static int place_members(struct rep_graph *g)
{
    size_t total = 0;
    for (uint32_t i = 0; i < g->ncycles; i++)
        total += g->cycles[i].nmembers;
    for (uint32_t i = 0; i < g->ngroups; i++)
        total += g->groups[i].kind == REP_KIND_DEFINITE;
    uint32_t *pool = malloc((total + 1) * sizeof *pool), *at = pool;
    if (!pool)
        return -1;
    for (uint32_t i = 0; i < g->ncycles; i++) {
        memcpy(at, g->cycles[i].members, g->cycles[i].nmembers * sizeof *at);
        g->cycles[i].members = at;
        at += g->cycles[i].nmembers;
    }
    for (uint32_t i = 0; i < g->ngroups; i++) {
        struct rep_graph_group *gr = &g->groups[i];
        if (gr->kind == REP_KIND_CYCLE) {
            gr->members = g->cycles[gr->cycle].members;
            continue;
        }
        *at = gr->members[0];
        gr->members = at++;
    }
    if (!total)
        free(pool);
    for (uint32_t b = 0; b < g->nblocks; b++)
        if (is_lost(g, b))
            g->kind[b] = REP_KIND_INDIRECT;
    for (uint32_t i = 0; i < g->ngroups; i++)
        for (uint32_t m = 0; m < g->groups[i].nmembers; m++)
            g->kind[g->groups[i].members[m]] = g->groups[i].kind;
    return 0;
}

/* ------------------------------------------------------------- the whole */

static int alloc_outputs(struct rep_graph *g)
{
    size_t n = (size_t)g->nblocks + 1;
    g->kind = malloc(n);
    g->group = malloc(n * sizeof *g->group);
    g->parent = malloc(n * sizeof *g->parent);
    g->parent_off = calloc(n, sizeof *g->parent_off);
    if (!g->kind || !g->group || !g->parent || !g->parent_off)
        return -1;
    memset(g->kind, KIND_LOST, n);
    memset(g->group, 0xff, n * sizeof *g->group);
    memset(g->parent, 0xff, n * sizeof *g->parent);
    return 0;
}

static void release_components(struct components *c)
{
    free(c->of);
    free(c->start);
    free(c->members);
    free(c->self_loop);
    free(c->pointed_to);
}

/* The lost blocks: components, cycles, groups, attribution, final layout. */
static int classify_lost(struct rep_graph *g, const struct adjacency *a, uint32_t *queue)
{
    struct components c = {0};
    uint32_t *cycle_of = NULL;
    int placed = 0, ret = -1;
    c.of = malloc(((size_t)g->nblocks + 1) * sizeof *c.of);
    if (!c.of)
        goto out;
    memset(c.of, 0xff, ((size_t)g->nblocks + 1) * sizeof *c.of);
    if (tarjan(g, a, &c) || describe_components(g, &c))
        goto out;
    cycle_of = malloc(((size_t)c.n + 1) * sizeof *cycle_of);
    if (!cycle_of || list_cycles(g, &c, cycle_of) || list_groups(g, &c, cycle_of))
        goto out;
    attribute_indirect(g, a, queue);
    if (order_groups(g, queue) || place_members(g))
        goto out;
    placed = 1;
    if (collect_cycle_edges(g, &c, cycle_of))
        goto out;
    ret = 0;
out:
    if (ret && !placed) {
        /* member lists still point into c.members: free only the arrays */
        free(g->groups);
        free(g->cycles);
        g->groups = NULL;
        g->cycles = NULL;
        g->ngroups = g->ncycles = 0;
    }
    free(cycle_of);
    release_components(&c);
    return ret;
}

int rep_graph_classify(struct rep_graph *g, char *err, size_t errlen)
{
    struct adjacency a = {0};
    uint32_t *queue = NULL;
    uint8_t *seen = NULL;
    int ret = -1;
    if (check_edges(g, err, errlen))
        return -1;
    if (alloc_outputs(g) || build_adjacency(g, &a))
        goto oom;
    queue = malloc(((size_t)g->nblocks + 1) * sizeof *queue);
    seen = malloc((size_t)g->nblocks + 1);
    if (!queue || !seen)
        goto oom;
    walk_from_roots(g, &a, 1, queue, seen);
    walk_from_roots(g, &a, 0, queue, seen);
    free(seen);
    seen = NULL;
    if (classify_lost(g, &a, queue))
        goto oom;
    ret = 0;
    goto out;
oom:
    fail(err, errlen, "out of memory classifying %u blocks and %zu edges", g->nblocks, g->nedges);
    rep_graph_release(g);
out:
    free(a.off);
    free(a.adj);
    free(queue);
    free(seen);
    return ret;
}

void rep_graph_release(struct rep_graph *g)
{
    if (g->ncycles) {
        free(g->cycles[0].members);
        free(g->cycles[0].edges);
    } else if (g->ngroups) {
        free(g->groups[0].members);
    }
    free(g->cycles);
    free(g->groups);
    free(g->kind);
    free(g->group);
    free(g->parent);
    free(g->parent_off);
    g->kind = NULL;
    g->group = NULL;
    g->parent = NULL;
    g->parent_off = NULL;
    g->groups = NULL;
    g->cycles = NULL;
    g->ngroups = g->ncycles = 0;
}
