/* rec_threads8_locked: the program of rec_threads8.c recorded the way a
 * kernel without membarrier makes the runtime work (HEAPGRAPH_FENCE=locked:
 * a locked exchange sets each ring's busy flag and every clock read has its
 * lfence; ring.h): the same exact totals, no free out of order.
 * env: HEAPGRAPH_FENCE=locked
 * report-opts: --top 100
 * expect: sum(s.allocations for s in proc(0).sites if frames(s)[0] == "work") == 16000
 * expect: sum(s.bytes for s in proc(0).sites if frames(s)[0] == "work") == 640000
 * expect: sum(s.live_blocks for s in proc(0).sites if frames(s)[0] == "work") == 0
 * expect: proc(0).frees_unknown == 0
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: len(proc(0).threads) == 9
 */
#include "rec_threads8.c"
