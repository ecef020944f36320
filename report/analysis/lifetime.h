/* SPDX-License-Identifier: MIT
 *
 * lifetime.h - block lifetimes per allocation site, bucketed in time, and the
 * exact heap in use over time: gathered while the capture is read (the
 * struct rep_open_opts.block callback), in memory bounded by a fixed number
 * of (site, time bucket) cells (buckets widen to stay within). Renderers that
 * show when blocks were made and ended (the HTML report's time-range
 * selection) read one process's lifetimes as per-bucket rows.
 *
 * Usage:
 *
 *     struct rep_life *life = rep_life_new();
 *     struct rep_open_opts oo = { .block = rep_life_block, .arg = life };
 *     cap = rep_capture_open(path, &oo, ...); symbolize; classify;
 *     per process: rep_life_view_init(&v, life, p), rep_life_view_add_site()
 *     for the sites it shows, rep_life_view_release(&v);
 *     rep_life_free(life);
 */
#ifndef HG_REP_LIFETIME_H
#define HG_REP_LIFETIME_H

#include <stddef.h>
#include <stdint.h>

#include "report/model/model.h"

struct rep_life;

/* NULL when out of memory. */
struct rep_life *rep_life_new(void);

/* NULL is fine. */
void rep_life_free(struct rep_life *life);

/* The struct rep_open_opts.block callback; arg is a struct rep_life.
 * Running out of memory here is remembered (rep_life_failed): a renderer then
 * shows no lifetimes rather than wrong ones. */
void rep_life_block(void *arg, uint32_t stream, int op, uint64_t number, uint32_t site,
                    uint64_t size, uint64_t time_us, int temporary);

/* 1 when gathering ran out of memory: there are no lifetimes at all. */
int rep_life_failed(const struct rep_life *life);

/* The columns of a bucket's row: allocations made (count, bytes), blocks
 * that ended (count, bytes) and the temporaries among them, all at the
 * bucket of the event; and the leaked blocks (count, bytes) at the bucket
 * they were made in: a classified exit snapshot's lost blocks, or without
 * one the blocks made minus those that ended. */
enum {
    REP_LIFE_MADE_N, REP_LIFE_MADE_B, REP_LIFE_ENDED_N, REP_LIFE_ENDED_B,
    REP_LIFE_TEMP_N, REP_LIFE_LEAKED_N, REP_LIFE_LEAKED_B, REP_LIFE_NCOLS
};

struct rep_life_ref;
struct rep_life_lost;

/* One process's lifetimes. */
struct rep_life_view {
    uint64_t t0, width;              /* bucket b covers [t0 + b*width, t0 + (b+1)*width) */
    uint32_t nbuckets;
    /* The heap in use over time, exact: the largest value within each of
     * heap_n buckets of heap_width us from t0 (its own grid: it does not widen
     * with the cells). Relative to the inherited blocks, hence signed. */
    const int64_t *heap;
    uint64_t heap_width;
    uint32_t heap_n;
    /* private */
    struct rep_life_ref *cells;      /* of this stream, by (site, bucket); the site is
                                        the one its figures count under (site_canon) */
    size_t ncells;
    struct rep_life_lost *z;         /* lost blocks by (site, bucket), snapshot case */
    size_t nz;
};

/* Fills v with the lifetimes of process p. Returns 1; 0 when there are none
 * (life is NULL or failed, or p's stream had no events); -1 when out of
 * memory. v is zeroed unless 1 is returned. life must outlive v. */
int rep_life_view_init(struct rep_life_view *v, const struct rep_life *life,
                       const struct rep_process *p);

/* Adds site's figures into rows (nbuckets rows of REP_LIFE_NCOLS). */
void rep_life_view_add_site(const struct rep_life_view *v, uint32_t site, uint64_t *rows);

/* Frees what init allocated; a zeroed view is fine. */
void rep_life_view_release(struct rep_life_view *v);

#endif
