/* SPDX-License-Identifier: MIT
 *
 * col_sample.c - heap and RSS samples. Every sample interval each connected
 * stream gets an HG_REC_SAMPLE: the bytes its live map holds and its
 * resident set from /proc/PID/statm (opened at HELLO, read with pread).
 */
#include "profiler/collector/col_int.h"

#include <stdio.h>
#include <unistd.h>

static uint64_t rss_bytes(const struct col *c, const struct col_stream *s)
{
    char buf[128];
    if (s->statm_fd < 0)
        return 0;
    ssize_t n = pread(s->statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long long size, resident;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
        return 0;
    return resident * (uint64_t)c->page;
}

/* Writes an HG_REC_SAMPLE (heap bytes in use, RSS) for every connected
 * stream. */
void col_sample(struct col *c, uint64_t now)
{
    for (size_t i = 0; i < c->ns; i++) {
        struct col_stream *s = c->s[i];
        if (s->state != COL_ST_LIVE || !s->shm)
            continue;
        col_rec_begin(c->w, HG_REC_SAMPLE);
        col_put_u(c->w, s->id);
        col_put_u(c->w, col_to_us(c, now));
        col_put_u(c->w, s->live.bytes);
        col_put_u(c->w, rss_bytes(c, s));
        col_rec_end(c->w);
    }
}
