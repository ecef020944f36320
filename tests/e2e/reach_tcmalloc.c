/* reach_tcmalloc: a program linked with tcmalloc (own_malloc_leaks.h). The heap
 * scanner reads the memory a program maps as a root but must leave out
 * what the allocator maps for itself: with tcmalloc's metadata read as a
 * root, every large block looked reachable.
 *
 * build: -ltcmalloc
 * expect: proc(0).summary.definite.blocks == 113
 * expect: proc(0).summary.definite.bytes == 100 * 32 + 10 * 100000 + 3 * 5 * 1048576
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.blocks == 50 and l.bytes == 10000 and l.retained_by.symbol == 'g_kept' for l in leaks(0, 'reachable'))
 */
#include "own_malloc_leaks.h"
