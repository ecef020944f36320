/* reach_snapshot_request: a program raises the snapshot signal itself
 * (SIGRTMIN + 7, what `heapgraph snapshot PID` sends) after leaking 10
 * blocks of 100 bytes; its next allocation takes a snapshot. It then leaks
 * 20 more from the same site and exits: two snapshots, and the exit one
 * lists the grown leak group (2,000 bytes more, from `leak`).
 *
 * expect: len(proc(0).snapshots) == 2
 * expect: proc(0).snapshots[0].reason == 'request'
 * expect: proc(0).snapshots[1].reason == 'exit'
 * expect: proc(0).summary.definite.blocks == 30
 * expect: proc(0).summary.definite.bytes == 3000
 * expect: proc(0).snapshots[0].blocks == 10
 * expect: proc(0).snapshots[1].blocks == 30
 * expect: len(proc(0).snapshots[1].grew) == 1
 * expect: any(g.kind == 'definite' and g.delta_bytes == 2000 and 'leak' in frames(g) for g in proc(0).snapshots[1].grew)
 */
#include <signal.h>
#include <stdlib.h>

void *volatile g_hold;

__attribute__((noinline)) static void leak(int n)
{
    for (int i = 0; i < n; i++)
        g_hold = malloc(100);
    g_hold = NULL;
}

int main(void)
{
    for (int phase = 0; phase < 2; phase++) {
        leak(phase ? 20 : 10);
        if (phase == 0) {
            raise(SIGRTMIN + 7);
            g_hold = malloc(1); /* the snapshot happens here */
            free(g_hold);
            g_hold = NULL;
        }
    }
    return 0;
}
