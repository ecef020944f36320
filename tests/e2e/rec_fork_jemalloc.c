/* rec_fork_jemalloc: a program linked with jemalloc forks 10 times from a thread
 * while four others allocate (fork_under_load.h): every child ends and is
 * recorded, with its own 5 blocks of 32 bytes left (and a first one that a
 * global holds: see HOLD_FIRST_BLOCK in fork_under_load.h).
 *
 * build: -ljemalloc
 * expect: len(processes) == 11
 * expect: all(p.origin == "fork" and p.exit.status == 7 and p.snapshot for p in processes[1:])
 * expect: all(sum(l.blocks for l in p.leaks if l.kind == "definite" and frames(l)[0] == "child_work") == 5 for p in processes[1:])
 * expect: proc(0).exit.status == 0
 */
#include <jemalloc/jemalloc.h>
#define EMPTY_THREAD_CACHE() mallctl("thread.tcache.flush", NULL, NULL, NULL, 0)
#define HOLD_FIRST_BLOCK
#include "fork_under_load.h"
