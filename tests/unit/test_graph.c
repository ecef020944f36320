/* SPDX-License-Identifier: MIT
 *
 * test_graph.c - report/analysis/graph.c on small graphs whose classification is known
 * by hand (the shapes of issue 4's acceptance list), and on 10-million-block
 * lists and chains that would overflow any recursive walk.
 */
#include "report/analysis/graph.h"

#include "tests/unit/harness.h"

#include <stdlib.h>

/* A graph under construction: blocks of the given sizes, edges appended. */
struct build {
    uint64_t *size;
    struct rep_graph_edge *e;
    size_t ne, cap;
    struct rep_graph g;
};

static void build_init(struct build *b, uint32_t nblocks, uint64_t size, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->size = malloc((nblocks + 1) * sizeof *b->size);
    b->e = malloc((cap + 1) * sizeof *b->e);
    for (uint32_t i = 0; i < nblocks; i++)
        b->size[i] = size;
    b->cap = cap;
    b->g.nblocks = nblocks;
}

static void edge(struct build *b, uint32_t src, uint64_t src_off, uint32_t dst, uint32_t dst_off)
{
    if (b->ne == b->cap)
        abort();
    b->e[b->ne++] = (struct rep_graph_edge){.src = src, .dst = dst, .src_off = src_off, .dst_off = dst_off};
}

static int classify(struct build *b)
{
    char err[256] = "";
    b->g.size = b->size;
    b->g.edges = b->e;
    b->g.nedges = b->ne;
    int r = rep_graph_classify(&b->g, err, sizeof err);
    if (r)
        fprintf(stderr, "classify: %s\n", err);
    return r;
}

static void build_release(struct build *b)
{
    rep_graph_release(&b->g);
    free(b->size);
    free(b->e);
}

static uint32_t count_kind(const struct build *b, int kind)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < b->g.nblocks; i++)
        n += b->g.kind[i] == kind;
    return n;
}

/* The one leak group a graph must have: its kind, blocks, first member and
 * bytes, and the indirect blocks and bytes attributed to it. */
struct one_group {
    uint8_t kind;
    uint32_t nmembers, first;
    uint64_t bytes, indirect_blocks, indirect_bytes;
};

static void check_one_group(const struct build *b, struct one_group w)
{
    CHECK_EQ(b->g.ngroups, 1);
    if (b->g.ngroups < 1)
        return;
    const struct rep_graph_group *g = &b->g.groups[0];
    CHECK_EQ(g->kind, w.kind);
    CHECK_EQ(g->nmembers, w.nmembers);
    CHECK_EQ(g->members[0], w.first);
    CHECK_EQ(g->bytes, w.bytes);
    CHECK_EQ(g->indirect_blocks, w.indirect_blocks);
    CHECK_EQ(g->indirect_bytes, w.indirect_bytes);
}

/* The one cycle a graph must list: its blocks, whether it roots a leak
 * group (no other lost block points into it), and the edges that close it. */
static void check_one_cycle(const struct build *b, uint32_t nmembers, int root, size_t nedges)
{
    CHECK_EQ(b->g.ncycles, 1);
    if (b->g.ncycles < 1)
        return;
    CHECK_EQ(b->g.cycles[0].nmembers, nmembers);
    CHECK_EQ(b->g.cycles[0].root, root);
    CHECK_EQ(b->g.cycles[0].nedges, nedges);
}

#define ROOT(id) (REP_GRAPH_ROOT | (id))

static void test_pure_cycle_of_3(void)
{
    struct build b;
    build_init(&b, 4, 16, 8);
    edge(&b, 0, 8, 1, 0);
    edge(&b, 1, 8, 2, 0);
    edge(&b, 2, 8, 0, 0);
    edge(&b, ROOT(0), 24, 3, 0);
    CHECK_EQ(classify(&b), 0);
    check_one_group(&b, (struct one_group){ REP_KIND_CYCLE, 3, 0, 48, 0, 0 });
    CHECK_EQ(b.g.groups[0].cycle, 0);
    check_one_cycle(&b, 3, 1, 3);
    CHECK_EQ(b.g.cycles[0].members[0], 0);
    CHECK_EQ(b.g.cycles[0].members[2], 2);
    CHECK_EQ(b.g.cycles[0].edges[2].src, 2);
    CHECK_EQ(b.g.cycles[0].edges[2].src_off, 8);
    CHECK_EQ(b.g.cycles[0].bytes, 48);
    CHECK_EQ(count_kind(&b, REP_KIND_CYCLE), 3);
    CHECK_EQ(count_kind(&b, REP_KIND_DEFINITE), 0);
    CHECK_EQ(b.g.kind[3], REP_KIND_REACHABLE);
    CHECK_EQ(b.g.parent[3], ROOT(0));
    CHECK_EQ(b.g.parent_off[3], 24);
    CHECK_EQ(b.g.group[0], 0);
    CHECK_EQ(b.g.group[3], UINT32_MAX);
    CHECK_EQ(b.g.parent[0], UINT32_MAX);
    build_release(&b);
}

static void test_self_loop(void)
{
    struct build b;
    build_init(&b, 2, 32, 4);
    edge(&b, 1, 16, 1, 0);
    CHECK_EQ(classify(&b), 0);
    CHECK_EQ(b.g.ngroups, 2);
    /* equal bytes: the lower member first */
    CHECK_EQ(b.g.groups[0].kind, REP_KIND_DEFINITE);
    CHECK_EQ(b.g.groups[0].members[0], 0);
    CHECK_EQ(b.g.groups[0].cycle, UINT32_MAX);
    CHECK_EQ(b.g.groups[1].kind, REP_KIND_CYCLE);
    CHECK_EQ(b.g.groups[1].nmembers, 1);
    check_one_cycle(&b, 1, 1, 1);
    CHECK_EQ(b.g.cycles[0].members[0], 1);
    CHECK_EQ(b.g.cycles[0].edges[0].src_off, 16);
    CHECK_EQ(b.g.kind[0], REP_KIND_DEFINITE);
    CHECK_EQ(b.g.kind[1], REP_KIND_CYCLE);
    build_release(&b);
}

static void test_lost_tree(void)
{
    struct build b;
    build_init(&b, 15, 40, 32);
    for (uint32_t i = 0; i < 7; i++) {
        edge(&b, i, 8, 2 * i + 1, 0);
        edge(&b, i, 16, 2 * i + 2, 0);
    }
    CHECK_EQ(classify(&b), 0);
    check_one_group(&b, (struct one_group){ REP_KIND_DEFINITE, 1, 0, 40, 14, 560 });
    CHECK_EQ(b.g.ncycles, 0);
    CHECK_EQ(count_kind(&b, REP_KIND_DEFINITE), 1);
    CHECK_EQ(count_kind(&b, REP_KIND_INDIRECT), 14);
    build_release(&b);
}

/* Block 3 points into a ring 0 -> 1 -> 2 -> 0 at member 1, at an interior
 * offset: still lost, the ring indirect and listed as a non-root cycle. */
static void test_block_into_ring(void)
{
    struct build b;
    build_init(&b, 4, 24, 8);
    edge(&b, 0, 0, 1, 0);
    edge(&b, 1, 0, 2, 0);
    edge(&b, 2, 0, 0, 0);
    edge(&b, 3, 8, 1, 8);
    CHECK_EQ(classify(&b), 0);
    check_one_group(&b, (struct one_group){ REP_KIND_DEFINITE, 1, 3, 24, 3, 72 });
    check_one_cycle(&b, 3, 0, 3);
    CHECK_EQ(count_kind(&b, REP_KIND_INDIRECT), 3);
    CHECK_EQ(count_kind(&b, REP_KIND_CYCLE), 0);
    CHECK_EQ(b.g.group[1], 0);
    build_release(&b);
}

/* A ring of 2 (blocks 5 and 6) with a tail of 5 hanging off block 6. */
static void test_ring_with_tail(void)
{
    struct build b;
    build_init(&b, 7, 48, 8);
    edge(&b, 5, 0, 6, 0);
    edge(&b, 6, 0, 5, 0);
    edge(&b, 6, 8, 0, 0);
    for (uint32_t i = 0; i < 4; i++)
        edge(&b, i, 8, i + 1, 0);
    CHECK_EQ(classify(&b), 0);
    check_one_group(&b, (struct one_group){ REP_KIND_CYCLE, 2, 5, 96, 5, 240 });
    check_one_cycle(&b, 2, 1, 2);
    CHECK_EQ(count_kind(&b, REP_KIND_CYCLE), 2);
    CHECK_EQ(count_kind(&b, REP_KIND_INDIRECT), 5);
    build_release(&b);
}

/* Root -> 0 at an interior offset, 0 -> 1 by a start pointer: both are
 * possible; root -> 2 -> 3 by start pointers: both reachable. */
static void test_interior_only(void)
{
    struct build b;
    build_init(&b, 4, 64, 8);
    edge(&b, ROOT(2), 0, 0, 8);
    edge(&b, 0, 40, 1, 0);
    edge(&b, ROOT(1), 8, 2, 0);
    edge(&b, 2, 16, 3, 0);
    edge(&b, 3, 0, 0, 16);
    CHECK_EQ(classify(&b), 0);
    CHECK_EQ(b.g.kind[0], REP_KIND_POSSIBLE);
    CHECK_EQ(b.g.kind[1], REP_KIND_POSSIBLE);
    CHECK_EQ(b.g.kind[2], REP_KIND_REACHABLE);
    CHECK_EQ(b.g.kind[3], REP_KIND_REACHABLE);
    CHECK_EQ(b.g.parent[0], ROOT(2));
    CHECK_EQ(b.g.parent[1], 0);
    CHECK_EQ(b.g.parent_off[1], 40);
    CHECK_EQ(b.g.parent[3], 2);
    CHECK_EQ(b.g.parent_off[3], 16);
    CHECK_EQ(b.g.ngroups, 0);
    CHECK_EQ(b.g.ncycles, 0);
    build_release(&b);
}

/* Everything at once, with group ordering and shared indirect blocks:
 *   0 reachable from root 0; 0 -> 1 start -> reachable; 1 -> 2 interior -> possible
 *   3 definite (8 bytes) -> 4 indirect (1000 bytes)
 *   5 definite (100 bytes) -> 4 as well: 4 goes to the lower group root, 3
 *   6 <-> 7 cycle (16 + 16) -> 8 indirect (10)
 *   9 definite (2000 bytes), nothing below
 *   10 points to itself (a cycle of 1) and to 8, which the cycle 6-7 claims
 *   first (its lowest member is lower) */
static void test_mixed(void)
{
    struct build b;
    build_init(&b, 11, 16, 16);
    b.size[3] = 8;
    b.size[4] = 1000;
    b.size[5] = 100;
    b.size[8] = 10;
    b.size[9] = 2000;
    edge(&b, ROOT(0), 0, 0, 0);
    edge(&b, 0, 8, 1, 0);
    edge(&b, 1, 8, 2, 4);
    edge(&b, 5, 0, 4, 0);
    edge(&b, 3, 0, 4, 0);
    edge(&b, 6, 0, 7, 0);
    edge(&b, 7, 0, 6, 0);
    edge(&b, 7, 8, 8, 0);
    edge(&b, 10, 0, 10, 0);
    edge(&b, 10, 8, 8, 0);
    edge(&b, 4, 0, 0, 0);
    CHECK_EQ(classify(&b), 0);
    CHECK_EQ(b.g.kind[0], REP_KIND_REACHABLE);
    CHECK_EQ(b.g.kind[1], REP_KIND_REACHABLE);
    CHECK_EQ(b.g.kind[2], REP_KIND_POSSIBLE);
    CHECK_EQ(b.g.kind[3], REP_KIND_DEFINITE);
    CHECK_EQ(b.g.kind[4], REP_KIND_INDIRECT);
    CHECK_EQ(b.g.kind[5], REP_KIND_DEFINITE);
    CHECK_EQ(b.g.kind[6], REP_KIND_CYCLE);
    CHECK_EQ(b.g.kind[8], REP_KIND_INDIRECT);
    CHECK_EQ(b.g.kind[9], REP_KIND_DEFINITE);
    CHECK_EQ(b.g.kind[10], REP_KIND_CYCLE);
    CHECK_EQ(b.g.ngroups, 5);
    /* totals: 9: 2000; 3: 8+1000; 5: 100; {6,7}: 32+10; {10}: 16 */
    CHECK_EQ(b.g.groups[0].members[0], 9);
    CHECK_EQ(b.g.groups[1].members[0], 3);
    CHECK_EQ(b.g.groups[1].indirect_bytes, 1000);
    CHECK_EQ(b.g.groups[2].members[0], 5);
    CHECK_EQ(b.g.groups[2].indirect_blocks, 0);
    CHECK_EQ(b.g.groups[3].members[0], 6);
    CHECK_EQ(b.g.groups[3].indirect_blocks, 1);
    CHECK_EQ(b.g.groups[3].kind, REP_KIND_CYCLE);
    CHECK_EQ(b.g.groups[4].members[0], 10);
    CHECK_EQ(b.g.groups[4].indirect_blocks, 0);
    CHECK_EQ(b.g.group[4], 1);
    CHECK_EQ(b.g.group[8], 3);
    CHECK_EQ(b.g.group[7], 3);
    CHECK_EQ(b.g.ncycles, 2);
    CHECK_EQ(b.g.cycles[0].members[0], 6);
    CHECK_EQ(b.g.cycles[1].members[0], 10);
    CHECK_EQ(b.g.groups[3].cycle, 0);
    CHECK_EQ(b.g.groups[4].cycle, 1);
    /* the sum over groups is every lost block, once */
    uint64_t blocks = 0, bytes = 0;
    for (uint32_t i = 0; i < b.g.ngroups; i++) {
        blocks += b.g.groups[i].nmembers + b.g.groups[i].indirect_blocks;
        bytes += b.g.groups[i].bytes + b.g.groups[i].indirect_bytes;
    }
    CHECK_EQ(blocks, 8);
    CHECK_EQ(bytes, 8 + 1000 + 100 + 32 + 10 + 2000 + 16);
    build_release(&b);
}

/* A shorter path found later in edge order still wins: BFS, not DFS. */
static void test_shortest_path(void)
{
    struct build b;
    build_init(&b, 4, 8, 8);
    edge(&b, ROOT(0), 0, 0, 0);
    edge(&b, 0, 0, 1, 0);
    edge(&b, 1, 0, 2, 0);
    edge(&b, 2, 0, 3, 0);
    edge(&b, ROOT(1), 0, 3, 0);
    CHECK_EQ(classify(&b), 0);
    CHECK_EQ(b.g.parent[3], ROOT(1));
    CHECK_EQ(b.g.parent[2], 1);
    CHECK_EQ(count_kind(&b, REP_KIND_REACHABLE), 4);
    build_release(&b);
}

static void test_errors(void)
{
    struct build b;
    char err[128] = "";
    build_init(&b, 2, 8, 4);
    edge(&b, 0, 0, 2, 0);
    b.g.size = b.size;
    b.g.edges = b.e;
    b.g.nedges = b.ne;
    CHECK_EQ(rep_graph_classify(&b.g, err, sizeof err), -1);
    CHECK_STR(err, "edge 0: block index out of range (2 blocks)");
    b.e[0] = (struct rep_graph_edge){.src = 5, .dst = 1};
    CHECK_EQ(rep_graph_classify(&b.g, err, sizeof err), -1);
    CHECK(b.g.kind == NULL);
    build_release(&b);
    build_init(&b, 0, 8, 0);
    CHECK_EQ(classify(&b), 0);
    CHECK_EQ(b.g.ngroups, 0);
    CHECK_EQ(b.g.ncycles, 0);
    build_release(&b);
}

#define BIG 10000000u   /* the lost list and the reachable chain */
#define DEEP 1000000u   /* the other deep shapes, cheaper in a sanitizer build */

/* A lost list of n blocks; forward, the head (block 0) is definite,
 * backward (each block points to the one before), the last block is. */
static void lost_list(uint32_t n, int backward)
{
    struct build b;
    build_init(&b, n, 32, n);
    for (uint32_t i = 0; i + 1 < n; i++)
        edge(&b, backward ? i + 1 : i, 8, backward ? i : i + 1, 0);
    CHECK_EQ(classify(&b), 0);
    check_one_group(&b, (struct one_group){ REP_KIND_DEFINITE, 1, backward ? n - 1 : 0, 32, n - 1,
                                            (uint64_t)(n - 1) * 32 });
    CHECK_EQ(b.g.ncycles, 0);
    build_release(&b);
}

static void test_big_lost_list(void)
{
    lost_list(BIG, 0);
    lost_list(DEEP, 1);
}

/* A lost ring: one cycle; Tarjan's deepest case (every block stays on its
 * stack until the walk comes back round). */
static void test_big_lost_ring(void)
{
    struct build b;
    build_init(&b, DEEP, 16, DEEP);
    for (uint32_t i = 0; i < DEEP; i++)
        edge(&b, i, 0, (i + 1) % DEEP, 0);
    CHECK_EQ(classify(&b), 0);
    check_one_group(&b, (struct one_group){ REP_KIND_CYCLE, DEEP, 0, (uint64_t)DEEP * 16, 0, 0 });
    check_one_cycle(&b, DEEP, 1, DEEP);
    CHECK_EQ(b.g.cycles[0].members[DEEP - 1], DEEP - 1);
    build_release(&b);
}

/* A chain of 10 million blocks hanging off one root: all reachable, each
 * block's parent its predecessor. */
static void test_big_reachable_chain(void)
{
    struct build b;
    build_init(&b, BIG, 24, BIG);
    edge(&b, ROOT(7), 0, 0, 0);
    for (uint32_t i = 0; i + 1 < BIG; i++)
        edge(&b, i, 16, i + 1, 0);
    CHECK_EQ(classify(&b), 0);
    CHECK_EQ(count_kind(&b, REP_KIND_REACHABLE), BIG);
    CHECK_EQ(b.g.parent[0], ROOT(7));
    CHECK_EQ(b.g.parent[BIG - 1], BIG - 2);
    CHECK_EQ(b.g.parent_off[BIG - 1], 16);
    CHECK_EQ(b.g.ngroups, 0);
    build_release(&b);
}

int main(void)
{
    RUN(test_pure_cycle_of_3);
    RUN(test_self_loop);
    RUN(test_lost_tree);
    RUN(test_block_into_ring);
    RUN(test_ring_with_tail);
    RUN(test_interior_only);
    RUN(test_mixed);
    RUN(test_shortest_path);
    RUN(test_errors);
    RUN(test_big_lost_list);
    RUN(test_big_lost_ring);
    RUN(test_big_reachable_chain);
    return DONE();
}
