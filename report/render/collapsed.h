/* SPDX-License-Identifier: MIT
 *
 * collapsed.h - folded stacks ("collapsed" format): one line per allocation
 * site, "outer;...;inner VALUE", the input of flamegraph.pl, inferno and
 * speedscope. The leaked figures are rep_leaked_by_site's
 * (report/analysis/leaked.h), which the HTML report's flame graph shares.
 */
#ifndef HG_REP_COLLAPSED_H
#define HG_REP_COLLAPSED_H

#include <stdint.h>
#include <stdio.h>

#include "report/model/model.h"

enum rep_metric {
    REP_METRIC_LEAKED = 0,   /* lost bytes (definite, cycle, indirect) by their own
                                allocation site; without an exit snapshot, bytes not
                                freed at the end */
    REP_METRIC_PEAK,         /* bytes live at the process's peak */
    REP_METRIC_ALLOCATED,    /* bytes allocated over the run */
    REP_METRIC_ALLOCATIONS,  /* number of allocations */
};

/* Parses "leaked", "peak", "allocated" or "allocations"; -1 for anything else. */
int rep_metric_parse(const char *name);

/* Writes the folded stacks of `metric` for every process of cap (only those
 * `process` names when it is not NULL, rep_process_selected; their stacks
 * then carry no process frame, nor do they when the capture has one process), sorted, one line per distinct
 * folded stack (sites that fold alike are summed). Sites whose value is 0 are
 * left out. Frame names: the function, else "module+0xoffset"; ';' and line breaks
 * in names become ':' and ' '. Returns 0, or -1 + err (out of memory, no
 * process of that name, a write error). */
int rep_collapsed_write(FILE *out, const struct rep_capture *cap, int metric,
                        const char *process, char *err, size_t errlen);

#endif
