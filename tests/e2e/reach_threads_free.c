/* reach_threads_free: eight threads (joined), each allocating and freeing
 * 1,000 blocks and writing with stdio, leak nothing: glibc's own blocks
 * (the threads' DTVs in its stack cache, stdio buffers) are reachable,
 * never lost or possible.
 *
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.cycle.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: proc(0).snapshot == True
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *work(void *arg)
{
    void *p[1000];
    for (int i = 0; i < 1000; i++)
        p[i] = malloc(16 + (size_t)i);
    for (int i = 0; i < 1000; i++)
        free(p[i]);
    printf("thread %ld done\n", (long)arg);
    return NULL;
}

int main(void)
{
    pthread_t t[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    fflush(stdout);
    return 0;
}
