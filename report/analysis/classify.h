/* SPDX-License-Identifier: MIT
 *
 * classify.h - the analysis pass over a model: every snapshot's blocks get
 * their reachability class (graph.h), and the model gets its leak entries,
 * cycles, retention paths and growth between snapshots. This is the one pass
 * that changes a model after reading; renderers only read it afterwards.
 */
#ifndef HG_REP_CLASSIFY_H
#define HG_REP_CLASSIFY_H

#include <stddef.h>

#include "report/model/model.h"

/* Classifies every snapshot's blocks (rep_graph_classify), builds the leak
 * entries, cycles, retention paths and growth between snapshots, and points
 * each process's leaks at its exit snapshot's. Either order with
 * rep_capture_symbolize() works: whichever runs second names the roots of
 * the retention paths. Returns 0, or -1 + err. Calling it twice does nothing
 * the second time. */
int rep_capture_classify(struct rep_capture *cap, char *err, size_t errlen);

#endif
