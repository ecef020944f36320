/* SPDX-License-Identifier: MIT
 *
 * col_collect.h - the collector: the part of `heapgraph run` that stays
 * alive beside the program, takes the events every recorded process image
 * publishes in its shared-memory rings (profiler/ring.h), puts each process's
 * events in time order and writes them to the capture (profiler/capture.h)
 * through col_writer.
 */
#ifndef HG_COL_COLLECT_H
#define HG_COL_COLLECT_H

#include "profiler/collector/col_writer.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define COL_SAMPLE_NS_DEFAULT (10ull * 1000000)

struct col_config {
    int listen_fd;       /* bound, listening SOCK_SEQPACKET socket; col_run closes it */
    struct col_writer *w;/* an open writer; the caller finishes and releases it */
    pid_t child;         /* the launched program */
    uint64_t sample_ns;  /* heap/RSS sample interval */
    uint64_t start_ns;   /* CLOCK_MONOTONIC start of the capture (the header's) */
};

struct col_summary {
    int child_status;    /* wait status of the launched program */
    uint64_t streams;    /* process images recorded */
    uint64_t events;     /* events written */
};

/* Runs until the launched program and every descendant have ended and every
 * connection is closed, then writes the end of each stream (not the capture's
 * HG_REC_END: col_writer_finish does that with the summary's counts).
 *
 * The caller has made this process a child subreaper (so orphaned
 * descendants are reaped here, with their status) and blocked SIGCHLD,
 * SIGTERM and SIGHUP; col_run takes them through a signalfd and forwards
 * SIGTERM and SIGHUP to the program. A capture write error does not stop it:
 * the writer goes quiet and the program runs to its end.
 * Returns 0, or -1 with `err` filled when the collector cannot run at all
 * (epoll, signalfd or timerfd failed); the program is then left running. */
int col_run(const struct col_config *cfg, struct col_summary *sum, char *err, size_t errlen);

#endif
