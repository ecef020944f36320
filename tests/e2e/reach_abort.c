/* reach_abort: a program killed by abort() gets no snapshot; its 4 blocks
 * of 64 bytes are all listed as not_freed and its exit is signal 6.
 *
 * exit: 134
 * expect: proc(0).snapshot == False
 * expect: proc(0).exit.signal == 6
 * expect: sum(l.blocks for l in leaks(0, 'not_freed')) == 4
 * expect: sum(l.bytes for l in leaks(0, 'not_freed')) == 256
 * expect: proc(0).summary.definite.blocks == 0
 */
#include <stdlib.h>

void *volatile g_hold;

int main(void)
{
    for (int i = 0; i < 4; i++)
        g_hold = malloc(64);
    abort();
}
