/* SPDX-License-Identifier: MIT
 *
 * baseline.h - a run's figures saved to a JSON file (schema
 * "heapgraph-baseline/2", documented in docs/baseline.md), so that a later
 * run can be gated on growth and on leak sites that are new. The file keeps
 * totals, every leak entry and every allocation site with its stack;
 * matching uses function names only (rep_ck_stack_key), never addresses or
 * line numbers, so rebuilds and unrelated edits keep matching.
 */
#ifndef HG_REPORT_BASELINE_H
#define HG_REPORT_BASELINE_H

#include <stddef.h>
#include <stdio.h>

#include "report/gate/gates.h"

#define REP_BASELINE_SCHEMA "heapgraph-baseline/2"
/* The first version, whose entries carry their stacks inline; still read. */
#define REP_BASELINE_SCHEMA_1 "heapgraph-baseline/1"

/* Writes run as a baseline. Suppressed leak entries are left out (they are
 * not part of what the gates count). Returns 0, or -1 when a write failed. */
int rep_baseline_write(FILE *f, const struct rep_run *run);

/* Reads a baseline (a regular file of at most REP_BASELINE_MAX_FILE bytes)
 * into an empty run: one process carrying the totals, the leak entries and
 * the sites. Returns 0, or -1 + err (unreadable, not a regular file, too
 * large, not JSON, wrong schema, missing or ill-typed field). */
#define REP_BASELINE_MAX_FILE ((size_t)256 << 20)
int rep_baseline_read(const char *path, struct rep_run *out, char *err, size_t errlen);
int rep_baseline_parse(const char *text, size_t len, struct rep_run *out,
                       char *err, size_t errlen);

/* 1 when the file starts (after blanks) with '{', i.e. is a baseline or
 * other JSON rather than a capture. -1 when unreadable. */
int rep_baseline_sniff(const char *path);

#endif
