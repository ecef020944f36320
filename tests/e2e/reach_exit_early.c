/* reach_exit_early: a program that ends with _exit(3) runs no exit
 * handler, so there is no snapshot; the report says so and still lists
 * every block it did not free (5 of 100 bytes held, 3 of 50 dropped) as
 * not_freed, with every leak class at 0.
 *
 * exit: 3
 * expect: proc(0).snapshot == False
 * expect: proc(0).exit.status == 3
 * expect: len(proc(0).snapshots) == 0
 * expect: sum(l.blocks for l in leaks(0, 'not_freed')) == 8
 * expect: sum(l.bytes for l in leaks(0, 'not_freed')) == 650
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.reachable.blocks == 0
 */
#include <stdlib.h>
#include <unistd.h>

void *volatile g_held[5];
void *volatile g_hold;

int main(void)
{
    for (int i = 0; i < 5; i++)
        g_held[i] = malloc(100);
    for (int i = 0; i < 3; i++)
        g_hold = malloc(50);
    g_hold = NULL;
    _exit(3);
}
