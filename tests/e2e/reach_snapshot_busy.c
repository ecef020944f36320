/* reach_snapshot_busy: three snapshots requested (100 ms apart) while four
 * threads allocate and free as fast as they can. Each request is served by
 * the next allocation; the other threads are stopped, those inside a hook
 * when the stop arrives park at the hook's end, so every snapshot is
 * complete (not partial) and the program runs to its end. Nothing leaks.
 * The main thread allocates right after each request: a request still
 * pending when the next comes is served with it (one snapshot), and on a
 * loaded machine the four threads could all wait in their hooks for ring
 * room, past the pending check, for over a second (2 requests served
 * instead of 3 in 1 run of 60 under load, before).
 *
 * expect: [s.reason for s in proc(0).snapshots] == ['request', 'request', 'request', 'exit']
 * expect: not any(s.partial for s in proc(0).snapshots)
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.cycle.blocks == 0
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_int g_stop;
static void *volatile sink;

static void *churn(void *arg)
{
    void *keep[64] = {0};
    (void)arg;
    for (unsigned i = 0; !atomic_load(&g_stop); i++) {
        unsigned k = i % 64;
        free(keep[k]);
        keep[k] = malloc(16 + k);
    }
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    return NULL;
}

int main(void)
{
    pthread_t t[4];
    struct timespec pause = {0, 50 * 1000 * 1000};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < 3; i++) {
        nanosleep(&pause, NULL);
        raise(SIGRTMIN + 7);
        sink = malloc(16); /* served here, or by a snapshot under way */
        free(sink);
        nanosleep(&pause, NULL);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    return 0;
}
