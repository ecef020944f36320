/* rec_threads8: eight threads allocate 1,000 blocks of 40 bytes each, wait
 * for each other, free their neighbour's blocks (cross-thread frees), then
 * allocate 1,000 more (getting freed addresses back on other threads) and
 * free them: 16,000 blocks, 640,000 bytes, none left, none lost. Each of the
 * eight threads and the main thread is recorded.
 *
 * report-opts: --top 100
 * expect: sum(s.allocations for s in proc(0).sites if frames(s)[0] == "work") == 16000
 * expect: sum(s.bytes for s in proc(0).sites if frames(s)[0] == "work") == 640000
 * expect: sum(s.live_blocks for s in proc(0).sites if frames(s)[0] == "work") == 0
 * expect: proc(0).frees_unknown == 0
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: len(proc(0).threads) == 9
 */
#include <pthread.h>
#include <stdlib.h>

#define THREADS 8
#define BLOCKS 1000

static void *blocks[THREADS][BLOCKS];
static pthread_barrier_t barrier;

static void *work(void *arg)
{
    long me = (long)arg, next = (me + 1) % THREADS;
    for (int i = 0; i < BLOCKS; i++)
        blocks[me][i] = malloc(40);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[next][i]);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < BLOCKS; i++)
        blocks[me][i] = malloc(40);
    for (int i = 0; i < BLOCKS; i++)
        free(blocks[me][i]);
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    return 0;
}
