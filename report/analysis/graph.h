/* SPDX-License-Identifier: MIT
 *
 * graph.h - reachability of a heap snapshot: classifies every live block as
 * reachable, possible, definite, cycle or indirect (docs/architecture.md,
 * "Classification"), groups the lost blocks into leak groups and lists every
 * unreachable cycle with the edges that close it.
 *
 * Usage: zero a struct rep_graph, fill the input fields, call
 * rep_graph_classify(), read the output fields, call rep_graph_release().
 * A zeroed struct is a valid empty one; release may be called on it.
 */
#ifndef HG_REP_GRAPH_H
#define HG_REP_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "report/model/model.h"

/* A leak group: its root is a definite block or a root cycle. */
struct rep_graph_group {
    uint8_t kind;                 /* REP_KIND_DEFINITE or REP_KIND_CYCLE */
    uint32_t cycle;               /* index into cycles, UINT32_MAX for a definite block */
    uint32_t nmembers;
    uint32_t *members;            /* blocks of the root (1 for definite), ascending */
    uint64_t bytes;               /* bytes of the members */
    uint64_t indirect_blocks, indirect_bytes; /* indirect blocks attributed to this group */
};

/* Every strongly connected component of >= 2 lost blocks, or a lost block
 * pointing to itself. Cycles are sorted by bytes, descending, ties by their
 * lowest member. */
struct rep_graph_cycle {
    uint32_t nmembers;
    uint32_t *members;            /* block indexes, ascending */
    int root;                     /* 1: no other lost block points into it (a leak group) */
    uint32_t nedges;
    struct rep_graph_edge *edges; /* the edges between members, in input order */
    uint64_t bytes;
};

struct rep_graph {
    /* input, owned by the caller, must stay valid during rep_graph_classify */
    uint32_t nblocks;
    const uint64_t *size;         /* block i, sorted by address */
    size_t nedges;
    const struct rep_graph_edge *edges;
    /* output, owned by the graph, freed by rep_graph_release */
    uint8_t *kind;          /* per block: enum rep_kind */
    uint32_t *group;        /* per lost block: index into groups (each lost block in exactly
                               one group: the sum over groups equals the summary);
                               UINT32_MAX for reachable and possible blocks */
    uint32_t *parent;       /* per reachable/possible block: predecessor on a shortest path
                               from a root: a block index or REP_GRAPH_ROOT|root id;
                               UINT32_MAX for lost blocks */
    uint64_t *parent_off;   /* offset of that pointer inside the predecessor */
    uint32_t ngroups;
    struct rep_graph_group *groups;   /* sorted by bytes+indirect bytes, desc, ties by lowest member */
    uint32_t ncycles;
    struct rep_graph_cycle *cycles;
};

/* Classifies exactly as docs/architecture.md says. Iterative everywhere: a lost list or
 * a reachable chain of 10 million blocks needs no stack depth. An indirect
 * block reached from several groups is attributed to the one whose lowest
 * member is lowest, so that every lost block counts once. Returns 0, or -1 and
 * a message in err (out of memory, more than 2^32-1 edges, an edge whose block
 * index is out of range); on failure the output fields are released. */
int rep_graph_classify(struct rep_graph *g, char *err, size_t errlen);

/* Frees the output fields and zeroes them; the input fields are untouched. */
void rep_graph_release(struct rep_graph *g);

#endif
