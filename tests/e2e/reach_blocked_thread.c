/* reach_blocked_thread: a thread that blocks every signal cannot be
 * stopped for the exit snapshot. The scanner gives up on it after 100 ms
 * (not the full 1 s) since it blocks the stop signal, marks the snapshot
 * partial, and still finds the 4,321-byte block the thread holds on its
 * stack by copying that stack.
 *
 * expect: [s.partial for s in proc(0).snapshots] == [True]
 * expect: proc(0).duration_us < 900000
 * expect: proc(0).summary.definite.blocks == 0
 * expect: any(l.bytes == 4321 and l.retained_by.kind == 'stack' for l in leaks(0, 'reachable'))
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int g_ready[2];

static void *hold(void *arg)
{
    sigset_t all;
    (void)arg;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    void *volatile held = malloc(4321);
    if (write(g_ready[1], "r", 1) != 1)
        return NULL;
    for (;;)
        pause();
    return held;
}

int main(void)
{
    pthread_t t;
    char c;
    if (pipe(g_ready))
        return 1;
    pthread_create(&t, NULL, hold, NULL);
    if (read(g_ready[0], &c, 1) != 1)
        return 1;
    return 0;
}
