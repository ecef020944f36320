/* SPDX-License-Identifier: MIT
 *
 * pyobj.h - the Python view of a classified snapshot. From the runtime's
 * object records (which block is an object of which type, which blocks
 * belong to an object) and the scanner's edges, it names references as a
 * Python developer writes them (Node.peer, list[3], dict['parent'],
 * app.CACHE), explains every unreachable cycle (its objects, the references
 * that close it, how many references each member gets from inside the
 * cycle, whether the garbage collector can free it), groups cycles of the
 * same shape made at the same site, summarises live objects by type with
 * the growth since the previous snapshot, and says in Python terms what
 * keeps a reachable block alive.
 *
 * Usage (classify.c): after rep_graph_classify() has filled a snapshot's
 * cycles and leaks, rep_py_open(); rep_py_cycles(); rep_py_types();
 * rep_py_retention() for each retention path; rep_py_close(). Everything
 * it adds to the model lives in the capture's arena.
 */
#ifndef HG_REP_PYOBJ_H
#define HG_REP_PYOBJ_H

#include <stddef.h>

#include "report/model/arena.h"
#include "report/model/model.h"

struct rep_py;

/* The context of snapshot s of process p, or NULL: when s has no Python
 * objects (*oom stays 0) or when out of memory (*oom = 1). */
struct rep_py *rep_py_open(struct rep_arena *a, const struct rep_process *p,
                           const struct rep_snapshot *s, int *oom);
void rep_py_close(struct rep_py *x);

/* Fills nobjects, py_state, labels and internal_refs of the snapshot's
 * cycles (`cycles`: s->cycles, writable, as classify made them) and builds
 * its cycle groups. 0, or -1 when out of memory. */
int rep_py_cycles(struct rep_py *x, struct rep_snapshot *s, struct rep_cycle *cycles);

/* Counts the live objects per type (and the change since `prev`, the
 * process's snapshot before s, or NULL) into s->typestats. 0 or -1. */
int rep_py_types(struct rep_py *x, struct rep_snapshot *s, const struct rep_snapshot *prev);

/* Sets r->py_holder and r->py_expr from r's root and path. -1 when out
 * of memory. */
int rep_py_retention(struct rep_py *x, struct rep_retention *r);

#endif
