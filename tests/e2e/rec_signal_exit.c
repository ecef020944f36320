/* rec_signal_exit: a signal handler that allocates and then calls _exit.
 * When the signal lands inside a hook, the handler's records wait in the
 * thread's deferred queue for the interrupted publication to end; _exit
 * ends the process first, and the allocation was lost about half the time.
 * 20 children each allocate and free in a loop until a second thread
 * signals them; the handler allocates 4,242 bytes and calls _exit(5).
 * Every child has that block, not freed, and its exit.
 *
 * report-opts: --top 1000
 * expect: len(processes) == 21
 * expect: all(p.exit.status == 5 for p in processes[1:])
 * expect: all(sum(l.blocks for l in p.leaks if l.kind == "not_freed" and l.bytes == 4242 and frames(l)[0] == "handler") == 1 for p in processes[1:])
 * expect: proc(0).exit.status == 0
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILDREN 20

static void *volatile sink;
static atomic_int looping;

__attribute__((noinline)) static void handler(int sig)
{
    (void)sig;
    sink = malloc(4242);
    _exit(5);
}

static void *sender(void *arg)
{
    pthread_t target = *(pthread_t *)arg;
    while (!atomic_load(&looping))
        ;
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_kill(target, SIGUSR1);
    return NULL;
}

static void child(void)
{
    struct sigaction sa = {.sa_handler = handler};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), t;
    pthread_create(&t, NULL, sender, &self);
    for (;;) {
        atomic_store(&looping, 1);
        void *p = malloc(100);
        sink = p;
        free(p);
    }
}

int main(void)
{
    int ok = 0;
    for (int i = 0; i < CHILDREN; i++) {
        pid_t pid = fork();
        if (pid == 0)
            child();
        int st;
        ok += waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 5;
    }
    return ok == CHILDREN ? 0 : 1;
}
