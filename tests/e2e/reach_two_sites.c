/* reach_two_sites: 1,010 leaks from two allocation sites (1,000 of 24
 * bytes in leak_small, 10 of 500 bytes in leak_big) are two definite leak
 * groups with exact counts, the bigger total first.
 *
 * expect: proc(0).summary.definite.blocks == 1010
 * expect: proc(0).summary.definite.bytes == 29000
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: len(leaks(0, 'definite')) == 2
 * expect: [(l.blocks, l.bytes) for l in leaks(0, 'definite')] == [(1000, 24000), (10, 5000)]
 * expect: 'leak_small' in frames(leaks(0, 'definite')[0])
 * expect: 'leak_big' in frames(leaks(0, 'definite')[1])
 */
#include <stdlib.h>

void *volatile g_hold;

__attribute__((noinline)) static void leak_small(void)
{
    g_hold = malloc(24);
}

__attribute__((noinline)) static void leak_big(void)
{
    g_hold = malloc(500);
}

int main(void)
{
    for (int i = 0; i < 1000; i++)
        leak_small();
    for (int i = 0; i < 10; i++)
        leak_big();
    g_hold = NULL;
    return 0;
}
