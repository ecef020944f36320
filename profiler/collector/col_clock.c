/* SPDX-License-Identifier: MIT
 *
 * col_clock.c - the TSC clock. A runtime that stamps its events with TSC
 * ticks (rt_shm.clock) saves a clock_gettime per event; the collector turns
 * the ticks into CLOCK_MONOTONIC ns with one rate, fixed from a pair read at
 * setup and one read when the first TSC stream says HELLO (col_ev_ns in
 * col_int.h applies it).
 */
#include "profiler/collector/col_int.h"

#include <stdint.h>
#include <time.h>

#define CAL_NS 2000000u /* at least this long between the two calibration pairs */

/* A (TSC, CLOCK_MONOTONIC) pair: the best bracketed of three reads. */
static void clock_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = col_tsc_read(), n = col_now_ns(), t1 = col_tsc_read();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *ns = n;
        }
    }
}

/* Fixes the rate from the setup pair and one read now, at least CAL_NS
 * later. The rate is anchored at the later pair, so its error (about 1e-5)
 * only grows with the distance from the start of the recording. */
void col_tsc_calibrate(struct col *c)
{
    if (c->tsc_mult)
        return;
    uint64_t t = 0, n = 0;
    clock_pair(&t, &n);
    if (n - c->cal_ns < CAL_NS) {
        struct timespec ts = {0, (long)(CAL_NS - (n - c->cal_ns))};
        nanosleep(&ts, NULL);
        clock_pair(&t, &n);
    }
    uint64_t dt = t > c->cal_tsc ? t - c->cal_tsc : 1;
    c->tsc_mult = (uint64_t)(((unsigned __int128)(n - c->cal_ns) << 32) / dt);
    if (!c->tsc_mult)
        c->tsc_mult = 1;
    c->tsc_at = t;
    c->tsc_ns = n;
}

void col_clock_start(struct col *c)
{
    clock_pair(&c->cal_tsc, &c->cal_ns);
}
