/* reach_main_pthread_exit: main ends with pthread_exit; the process exits
 * when its other thread returns, after leaking 55 bytes. The exit snapshot
 * is taken, and it is complete: the main thread, a zombie by then, counts
 * as gone instead of being waited for (and its stale stack is no root).
 *
 * expect: proc(0).snapshot == True
 * expect: [s.partial for s in proc(0).snapshots] == [False]
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 55
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

void *volatile g_hold;

static void *last(void *arg)
{
    (void)arg;
    usleep(50000);
    g_hold = malloc(55);
    g_hold = NULL;
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, last, NULL);
    pthread_exit(NULL);
}
