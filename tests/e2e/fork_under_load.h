/* fork_under_load.h - the main of rec_fork_jemalloc and rec_fork_tcmalloc:
 * four threads allocate and free without pause while the main thread forks
 * 5 children, one after the other, then another thread 5 more. Each child allocates 100 blocks of 32
 * bytes, frees 95, drops the other 5 and exits with status 7. An allocator that brings its
 * own fork handlers holds its locks from just before the fork until its
 * child handler runs; anything the runtime did in between that allocated
 * (the child's stack bounds came from pthread_getattr_np, which reads
 * /proc/self/maps through fopen) waited on them forever. The forking
 * thread empties its allocator's thread cache first (EMPTY_THREAD_CACHE,
 * given by the including test), so that such an allocation needs the
 * allocator's locks rather than the cache. A child that does not end
 * within 20 s is killed and the program exits 1. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILDREN 10

static atomic_int stop;
static void *volatile kept[100];
static void *volatile anchor;

static void *churn(void *arg)
{
    size_t size = 16 + 16 * (size_t)(long)arg;
    while (!atomic_load(&stop)) {
        void *p[64];
        for (int i = 0; i < 64; i++)
            p[i] = malloc(size + (size_t)i * 8);
        for (int i = 0; i < 64; i++)
            free(p[i]);
    }
    return NULL;
}

/* With jemalloc (HOLD_FIRST_BLOCK, given by its test), the child's first
 * block of its size may open a fresh slab on a 1 GiB boundary; jemalloc's
 * per-thread lookup cache keeps addresses rounded down to 1 GiB, so that
 * block's address sits in the thread's TLS and a conservative scan finds it
 * reachable (4 runs in 1,625 under load). A global holds that first block,
 * so the 5 dropped ones are never it. Other allocators keep no such word,
 * and their metadata may point next to an extra block instead. */
__attribute__((noinline)) static void child_work(void)
{
#ifdef HOLD_FIRST_BLOCK
    anchor = malloc(32);
#endif
    for (int i = 0; i < 100; i++) {
        kept[i] = malloc(32);
        memset(kept[i], 0, 32); /* no free-list link of the allocator's left in it */
    }
    for (int i = 5; i < 100; i++)
        free(kept[i]);
    for (int i = 0; i < 5; i++)
        kept[i] = NULL;
    exit(7);
}

/* Waits up to 20 s for pid; kills it after that. Returns its status or -1. */
static int wait_for(pid_t pid)
{
    for (int i = 0; i < 2000; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void *forker(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < CHILDREN / 2; i++) {
        EMPTY_THREAD_CACHE();
        pid_t pid = fork();
        if (pid == 0)
            child_work();
        *ok += pid > 0 && wait_for(pid) == 7;
    }
    return NULL;
}

int main(void)
{
    pthread_t workers[4], f;
    int ok = 0, ok_main = 0;
    for (long i = 0; i < 4; i++)
        pthread_create(&workers[i], NULL, churn, (void *)i);
    forker(&ok_main);
    pthread_create(&f, NULL, forker, &ok);
    pthread_join(f, NULL);
    ok += ok_main;
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(workers[i], NULL);
    return ok == CHILDREN ? 0 : 1;
}
