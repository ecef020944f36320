/* reach_global: a 4,096-byte cache and the 10 entries of 100 bytes it
 * points to are held only by the global g_cache: all reachable, retained
 * by the global of that name in the executable. Nothing is lost.
 *
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: proc(0).summary.cycle.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: any(l.bytes == 4096 and l.retained_by.kind == 'global' and l.retained_by.symbol == 'g_cache' for l in leaks(0, 'reachable'))
 * expect: any(l.blocks == 10 and l.bytes == 1000 and l.retained_by.kind == 'global' and l.retained_by.symbol == 'g_cache' for l in leaks(0, 'reachable'))
 */
#include <stdlib.h>

struct cache {
    void *entry[512];
};

struct cache *g_cache;

__attribute__((noinline)) static void fill(void)
{
    g_cache = calloc(1, sizeof *g_cache);
    for (int i = 0; i < 10; i++)
        g_cache->entry[i] = malloc(100);
}

int main(void)
{
    fill();
    return 0;
}
