/* reach_interior: a 64-byte block whose only pointer (a global) points 16
 * bytes into it is a possible leak, not reachable and not definite.
 *
 * expect: proc(0).summary.possible.blocks == 1
 * expect: proc(0).summary.possible.bytes == 64
 * expect: proc(0).summary.definite.blocks == 0
 * expect: len(leaks(0, 'possible')) == 1
 * expect: leaks(0, 'possible')[0].blocks == 1
 */
#include <stdlib.h>

char *volatile g_inside;

__attribute__((noinline)) static void hold(void)
{
    char *p = malloc(64);
    g_inside = p + 16;
}

int main(void)
{
    hold();
    return 0;
}
