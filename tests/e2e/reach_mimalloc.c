/* reach_mimalloc: a program linked with mimalloc (own_malloc_leaks.h).
 * mimalloc maps its segments itself and keeps its page metadata inside
 * them: the scanner must leave what the allocator maps out of the program's
 * own memory, or its metadata would hold every block.
 *
 * build: -lmimalloc
 * expect: proc(0).summary.definite.blocks == 113
 * expect: proc(0).summary.definite.bytes == 100 * 32 + 10 * 100000 + 3 * 5 * 1048576
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.blocks == 50 and l.bytes == 10000 and l.retained_by.symbol == 'g_kept' for l in leaks(0, 'reachable'))
 */
#include "own_malloc_leaks.h"
