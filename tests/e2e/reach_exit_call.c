/* reach_exit_call: a program that calls exit() itself (from a helper) is
 * scanned from the point of that call, so a block held by a local variable
 * of main, whose frame is still live then, is reachable and retained by
 * the main thread's stack; a block dropped before is still definite.
 *
 * expect: proc(0).snapshot == True
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 111
 * expect: any(l.bytes == 2222 and l.retained_by.kind == 'stack' for l in leaks(0, 'reachable'))
 */
#include <stdlib.h>

void *volatile g_hold;

__attribute__((noinline)) static void finish(void)
{
    exit(0);
}

int main(void)
{
    void *volatile held = malloc(2222);
    g_hold = malloc(111);
    g_hold = NULL;
    finish();
    return held != NULL;
}
