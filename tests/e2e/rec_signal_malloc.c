/* rec_signal_malloc: allocations made by a signal handler are counted
 * exactly, also when the signal lands inside a hook (the main thread does
 * nothing but malloc and free while a second thread sends 500 signals, one
 * at a time). The handler allocates and frees 2 blocks of 33 bytes per
 * signal: 1,000 blocks, 33,000 bytes, spread over several sites (the
 * stack below the handler is wherever the signal landed).
 *
 * report-opts: --top 1000
 * expect: sum(s.allocations for s in proc(0).sites if frames(s)[0] == "handler") == 1000
 * expect: sum(s.bytes for s in proc(0).sites if frames(s)[0] == "handler") == 33000
 * expect: sum(s.live_blocks for s in proc(0).sites if frames(s)[0] == "handler") == 0
 * expect: proc(0).frees_unknown == 0
 * expect: proc(0).summary.definite.blocks == 0
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SIGNALS 500

static atomic_int handled;
static void *volatile sink, *volatile sink2;

__attribute__((noinline)) static void handler(int sig)
{
    (void)sig;
    void *a = malloc(33), *b = malloc(33);
    sink = a;
    sink2 = b;
    free(a);
    free(b);
    atomic_fetch_add(&handled, 1);
}

static void *sender(void *arg)
{
    pthread_t main_thread = *(pthread_t *)arg;
    for (int i = 0; i < SIGNALS; i++) {
        pthread_kill(main_thread, SIGUSR1);
        while (atomic_load(&handled) <= i)
            ;
    }
    return NULL;
}

int main(void)
{
    struct sigaction sa = { .sa_handler = handler };
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), t;
    pthread_create(&t, NULL, sender, &self);
    while (atomic_load(&handled) < SIGNALS) {
        void *p = malloc(100);
        sink = p;
        free(p);
    }
    pthread_join(t, NULL);
    return 0;
}
