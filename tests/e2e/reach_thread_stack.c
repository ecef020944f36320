/* reach_thread_stack: a 1,234-byte block held only by a local variable of
 * another thread ("holder"), blocked in read() when main returns, is
 * reachable, retained by that thread's stack.
 *
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.bytes == 1234 and l.retained_by.kind == 'stack' and l.retained_by.thread == 'holder' for l in leaks(0, 'reachable'))
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static int g_pipe[2];
static int g_ready[2];

static void *holder(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "holder");
    void *volatile held = malloc(1234);
    char c;
    if (write(g_ready[1], "r", 1) != 1)
        return NULL;
    while (read(g_pipe[0], &c, 1) < 0)
        ;
    free(held);
    return NULL;
}

int main(void)
{
    pthread_t t;
    char c;
    if (pipe(g_pipe) || pipe(g_ready))
        return 1;
    pthread_create(&t, NULL, holder, NULL);
    if (read(g_ready[0], &c, 1) != 1)
        return 1;
    return 0;
}
