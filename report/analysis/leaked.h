/* SPDX-License-Identifier: MIT
 *
 * leaked.h - what a classified process leaked, in the two ways the outputs
 * count it: per allocation site, every lost block at its own site (the
 * folded stacks and the HTML flame graph, which then add up to the
 * summary), and per process, as its leak list says (the process tree).
 */
#ifndef HG_REP_LEAKED_H
#define HG_REP_LEAKED_H

#include <stdint.h>

#include "report/model/model.h"

/* 1 for the kinds of lost blocks: definite, cycle, indirect. */
int rep_kind_is_lost(uint8_t kind);

/* Fills bytes[i] and blocks[i] (arrays of p->nstacks, zeroed by the caller)
 * with the leaked figures of site i: its lost blocks (definite, cycle,
 * indirect) by their own allocation site; without an exit snapshot, its
 * blocks not freed at the end. Only blocks the process answers for count
 * (a fork child's inherited blocks whose fate it did not change, an image
 * replaced by exec: none), as in its leak list. The exit snapshot must be
 * classified, if there is one. */
void rep_leaked_by_site(const struct rep_process *p, uint64_t *bytes, uint64_t *blocks);

/* What p leaked, as its leak list says: definite and cycle entries with
 * their indirect blocks, and not-freed blocks. */
void rep_process_leaked(const struct rep_process *p, uint64_t *bytes, uint64_t *blocks);

#endif
