/* SPDX-License-Identifier: MIT
 *
 * col_launch.h - starting a program to record: the checks that refuse, before
 * anything runs, programs LD_PRELOAD cannot reach; finding the runtime
 * library; and col_record, which starts the program with the runtime
 * preloaded and runs the collector (col_collect.h) until it and every
 * descendant have ended.
 *
 * Nothing here prints or exits: a failure fills a struct col_err, whose
 * status is the exit status `heapgraph run` gives for it and whose message
 * the caller prints as one line.
 */
#ifndef HG_COL_LAUNCH_H
#define HG_COL_LAUNCH_H

#include "profiler/collector/col_collect.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define COL_RUNTIME_NAME "libheapgraph-rt.so"

/* Why a launch failed. The values are the exit statuses of `heapgraph run`
 * (cmd/cmd.h), and also the child's own exit status when it cannot become
 * the program, which passes through as the program's. */
enum col_status {
    COL_FAILED = 125,   /* heapgraph failed (socket, fork, output, collector) */
    COL_NOEXEC = 126,   /* the program cannot be recorded */
    COL_NOTFOUND = 127, /* the program does not exist */
};

struct col_err {
    enum col_status status;
    char msg[PATH_MAX + 256]; /* one line, no "heapgraph: " prefix; may be empty */
};

/* Looks `name` up as execvp would (PATH, unless it holds a '/') and checks
 * that LD_PRELOAD will reach it: a regular, executable, dynamically linked,
 * not set-id ELF file, or a #! script whose interpreter is one. Fills path;
 * returns 0, or -1 with e filled. */
int col_check_program(const char *name, char *path, size_t pathlen, struct col_err *e);

/* The runtime library: beside this executable (build tree), else in
 * ../LIBDIR/heapgraph/ (install tree). Returns 0, or -1 with e filled. */
int col_find_runtime(char *path, size_t pathlen, struct col_err *e);

/* How the Python processes of the recorded tree allocate their objects. */
enum col_pyalloc {
    COL_PYALLOC_MALLOC = 0, /* PYTHONMALLOC=malloc (unless the environment sets
                               PYTHONMALLOC): every object is its own block */
    COL_PYALLOC_PYMALLOC,   /* the interpreter's own pymalloc, whose domains the
                               runtime wraps to record every object */
};

struct col_launch {
    const char *path;    /* the program, as col_check_program resolved it */
    char **argv;         /* PROGRAM ARGS..., NULL-terminated */
    const char *runtime; /* col_find_runtime's path */
    const char *output;  /* the capture; NULL: heapgraph.PROGRAM.PID.hgcap */
    uint64_t sample_ns;  /* heap and RSS sample interval */
    enum col_pyalloc python_allocator;
};

/* Creates the capture (mode 0600), starts the program with the runtime in
 * front of LD_PRELOAD once the capture exists, and collects until the
 * program and every descendant have ended. Fills out with the capture's
 * path (also on failure, once it is known) and sum with the program's wait
 * status and the counts. Returns 0, or -1 with e filled; the capture then
 * holds what was recorded before a write error. Makes this process a child
 * subreaper and leaves SIGINT, SIGQUIT, SIGXFSZ and SIGPIPE ignored. */
int col_record(const struct col_launch *l, char *out, size_t outlen, struct col_summary *sum,
               struct col_err *e);

#endif
