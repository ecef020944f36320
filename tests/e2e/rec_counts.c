/* rec_counts: every allocation and free of a known program is recorded with
 * its size: 1,000 malloc(24), 500 calloc(4, 8), 10 posix_memalign(64, 100),
 * one malloc(16) grown by 9 reallocs to 8,192 bytes and by reallocarray to
 * 2 x 8,192, all freed. That is 1,521 blocks (a realloc ends one block and
 * starts another) and 24,000 + 16,000 + 1,000 + 16 + 16,352 + 16,384 =
 * 73,752 bytes. The program uses no stdio, so nothing else is allocated.
 *
 * expect: proc(0).summary.allocations == 1521
 * expect: proc(0).summary.allocated_bytes == 73752
 * expect: proc(0).summary.frees == 1521
 * expect: proc(0).summary.live_blocks == 0
 * expect: proc(0).frees_unknown == 0
 * expect: proc(0).exit.status == 0
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] == "make"] == [1000]
 * expect: [s.bytes for s in proc(0).sites if frames(s)[0] == "zeroed"] == [16000]
 * expect: [s.bytes for s in proc(0).sites if frames(s)[0] == "aligned"] == [1000]
 * expect: frames([s for s in proc(0).sites if frames(s)[0] == "make"][0])[1] == "main"
 */
#include <stdlib.h>

static void *volatile keep[1000];

__attribute__((noinline)) static void make(int i)
{
    keep[i] = malloc(24);
}

__attribute__((noinline)) static void zeroed(int i)
{
    keep[i] = calloc(4, 8);
}

__attribute__((noinline)) static void aligned(int i)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 100) == 0)
        keep[i] = p;
}

__attribute__((noinline)) static void grow(void)
{
    char *p = malloc(16);
    for (size_t n = 32; n <= 8192; n *= 2)
        p = realloc(p, n);
    p = reallocarray(p, 2, 8192);
    keep[0] = p;
    free(keep[0]);
}

static void release(int n)
{
    for (int i = 0; i < n; i++)
        free(keep[i]);
}

int main(void)
{
    for (int i = 0; i < 1000; i++)
        make(i);
    release(1000);
    for (int i = 0; i < 500; i++)
        zeroed(i);
    release(500);
    for (int i = 0; i < 10; i++)
        aligned(i);
    release(10);
    grow();
    return 0;
}
