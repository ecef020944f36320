/* SPDX-License-Identifier: MIT
 *
 * html.h - the HTML report: one self-contained page (CSS, JavaScript and data
 * inline, nothing loaded from the network) with the header figures, memory
 * over time, a flame graph, leak groups, cycle graphs and allocation-site
 * tables. docs/html-report.md describes the page and its embedded data.
 *
 * Usage, for a page whose time-range selection works (the block lifetimes
 * are gathered while the capture is read, report/analysis/lifetime.h):
 *
 *     struct rep_life *life = rep_life_new();
 *     struct rep_open_opts oo = { .block = rep_life_block, .arg = life };
 *     cap = rep_capture_open(path, &oo, ...); symbolize; classify;
 *     rep_html_write(out, cap, &(struct rep_html_opts){ .life = life, ... }, ...);
 *     rep_life_free(life);
 */
#ifndef HG_REP_HTML_H
#define HG_REP_HTML_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/model/model.h"

struct rep_life;
struct rep_stacktab;

struct rep_html_opts {
    const struct rep_life *life;        /* NULL: no time-range selection */
    /* Writes the JSON report (schema heapgraph-report/2) of the same capture
     * and the same process selection, its stacks put into `stacks` (struct
     * rep_render_opts) and not written: the page writes the table once for
     * the report and its views. The page shows the report's figures, so the
     * page and the JSON report cannot disagree. Returns 0, or -1 + err. */
    int (*write_json)(FILE *f, void *arg, struct rep_stacktab *stacks, char *err, size_t errlen);
    void *json_arg;
    const char *process;                /* only the processes it names (rep_process_selected) */
};

/* Writes the page to out. cap should be symbolized and classified. Returns 0,
 * or -1 + err (out of memory, the JSON writer's error, a write error). */
int rep_html_write(FILE *out, const struct rep_capture *cap, const struct rep_html_opts *o,
                   char *err, size_t errlen);

#endif
