/* SPDX-License-Identifier: MIT
 *
 * compare.h - what changed between two runs (captures or baselines): per
 * allocation site the change in allocations, bytes allocated and blocks and
 * bytes live at exit; leak sites that are new, fixed or changed; totals and
 * peak. Sites and leaks are matched by the function names of their stacks
 * (rep_ck_stack_key), summed over processes, so two builds of the same code
 * match although addresses and line numbers moved.
 */
#ifndef HG_REP_GATE_COMPARE_H
#define HG_REP_GATE_COMPARE_H

#include <stdio.h>

#include "report/gate/gates.h"

struct rep_diff_counts {
    uint64_t allocations, bytes, live_blocks, live_bytes;
};

struct rep_diff_site {
    const struct rep_ck_stack *stack;   /* NEW's stack when present, else BASE's */
    struct rep_diff_counts base, now;
};

enum rep_diff_status { REP_DIFF_NEW, REP_DIFF_FIXED, REP_DIFF_GREW, REP_DIFF_SHRANK,
                       REP_DIFF_SAME };

struct rep_diff_leak {
    const struct rep_ck_stack *stack;
    int kind;                           /* enum rep_leak_kind */
    int status;                         /* enum rep_diff_status */
    uint64_t base_blocks, base_bytes;   /* with indirect blocks */
    uint64_t new_blocks, new_bytes;
};

struct rep_diff {
    struct rep_run_totals base, now;
    size_t nsites;
    struct rep_diff_site *sites;        /* changed sites, by |bytes delta| desc */
    size_t nleaks;
    struct rep_diff_leak *leaks;        /* NEW, then FIXED, then GREW/SHRANK, by bytes */
};

/* Computes the diff. Pointers in the result point into base and now, which
 * must outlive it. Suppressed entries are ignored; leak kinds as `kinds`
 * (0 = default). Returns 0, or -1 + err (out of memory). */
int rep_diff_compute(const struct rep_run *base, const struct rep_run *now, unsigned kinds,
                     struct rep_diff *out, char *err, size_t errlen);
void rep_diff_release(struct rep_diff *d);

/* Text for people (top sites at most, 0 = all; frames per stack) and JSON
 * (schema "heapgraph-diff/1", every changed site). 0, or -1 on write error. */
int rep_diff_write_text(FILE *f, const struct rep_diff *d, size_t top, unsigned frames);
int rep_diff_write_json(FILE *f, const struct rep_diff *d);

#endif
