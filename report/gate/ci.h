/* SPDX-License-Identifier: MIT
 *
 * ci.h - renderers of a check's verdict: the terminal text of `heapgraph
 * check`, and the formats CI systems display: JUnit XML (one testcase per
 * gate), SARIF 2.1.0 (one result per leak entry, for GitHub code scanning),
 * GitHub Actions workflow commands plus a step-summary table, and GitLab
 * code quality JSON.
 *
 * Every writer takes the run and its evaluated check; leak entries that are
 * suppressed or matched in the baseline are not reported. Each returns 0, or
 * -1 when writing failed (the caller names the file).
 */
#ifndef HG_REPORT_CI_H
#define HG_REPORT_CI_H

#include <stdio.h>

#include "report/gate/gates.h"

struct rep_ci_opts {
    const char *source_root;   /* absolute path; locations are made relative to it */
    unsigned leak_kinds;       /* mask as in rep_gates (0 = default) */
    unsigned max_frames;       /* frames printed per stack in text/JUnit (0 = all) */
    unsigned max_leaks;        /* leak entries listed per failed gate in text (0 = all) */
};

int rep_ci_text(FILE *f, const struct rep_run *run, const struct rep_check *c,
                const struct rep_ci_opts *o);
int rep_ci_junit(FILE *f, const struct rep_run *run, const struct rep_check *c,
                 const struct rep_ci_opts *o);
int rep_ci_sarif(FILE *f, const struct rep_run *run, const struct rep_check *c,
                 const struct rep_ci_opts *o);
/* Annotations (::error file=F,line=L::...) for the 10 biggest offending leak
 * entries and one per failed gate go to f; when summary is not NULL a
 * markdown table of the gates and leaks is appended to it. */
int rep_ci_github(FILE *f, FILE *summary, const struct rep_run *run,
                  const struct rep_check *c, const struct rep_ci_opts *o);
int rep_ci_gitlab(FILE *f, const struct rep_run *run, const struct rep_check *c,
                  const struct rep_ci_opts *o);

/* The frame a CI system should point at: the innermost frame whose file is
 * inside source_root, else the innermost frame with a file, else NULL.
 * *rel gets the file relative to source_root when it is inside it (a
 * pointer into the frame's string), else the file as recorded. */
const struct rep_frame *rep_ci_location(const struct rep_ck_stack *st,
                                           const char *source_root, const char **rel);

#endif
