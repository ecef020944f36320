/* rec_fork_mimalloc: a program linked with mimalloc forks 10 times from a thread
 * while four others allocate (fork_under_load.h): every child ends and is
 * recorded, with its own 5 blocks of 32 bytes left.
 *
 * build: -lmimalloc
 * expect: len(processes) == 11
 * expect: all(p.origin == "fork" and p.exit.status == 7 and p.snapshot for p in processes[1:])
 * expect: all(sum(l.blocks for l in p.leaks if l.kind == "definite" and frames(l)[0] == "child_work") == 5 for p in processes[1:])
 * expect: proc(0).exit.status == 0
 */
#include <mimalloc.h>
#define EMPTY_THREAD_CACHE() mi_collect(true)
#include "fork_under_load.h"
