/* SPDX-License-Identifier: MIT
 *
 * rt_scan.h - heap snapshots: stop the other threads, ask the collector for
 * the live blocks, scan the roots and the blocks for pointers, and publish
 * the roots (RT_BLOB_ROOT), the pointers (RT_REC_EDGE) and RT_REC_SNAP_END.
 * The recording core calls in here; the scanner calls only rt_core.h.
 */
#ifndef HG_RT_SCAN_H
#define HG_RT_SCAN_H

#include <stdint.h>

/* Set (to 1) by the snapshot-request signal handler; every hook tests it with
 * one relaxed load and, outside the real allocator, calls rt_scan_snapshot(1). */
extern _Atomic int rt_scan_pending;

/* Called once at runtime start: installs the snapshot-request signal handler
 * (RT_ENV_SNAPSIG, default SIGRTMIN + RT_SNAPSHOT_SIGNAL_OFFSET) unless the
 * program already handles that signal, and the thread-stop signal handler. */
void rt_scan_init(void);

/* Takes one snapshot. reason 0: at normal exit (called by the core from its
 * exit handler, after the program's own atexit handlers and destructors);
 * 1: on request. Does nothing when not recording. */
void rt_scan_snapshot(uint32_t reason);

/* The core calls this at the end of every hook: it parks the calling thread
 * if a stop was requested while the thread was inside the hook. */
void rt_scan_park_if_requested(void);

#endif
