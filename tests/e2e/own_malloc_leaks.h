/* own_malloc_leaks.h - the main of reach_jemalloc and reach_tcmalloc: a
 * program linked with an allocator of its own leaks 100 small blocks of 32
 * bytes, 10 of 100,000 and 3 of 5 MiB, and keeps 50 blocks of 200 bytes in
 * a global. Each block is written whole, so no free-list link the
 * allocator left in it points on to the next. */
#include <stdlib.h>
#include <string.h>

void *volatile sink;
void *g_kept[50];

__attribute__((noinline)) static void leak(int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        sink = malloc(size);
        memset(sink, 0, size);
    }
}

int main(void)
{
    leak(100, 32);
    leak(10, 100000);
    leak(3, 5u << 20);
    sink = NULL;
    for (int i = 0; i < 50; i++) {
        g_kept[i] = malloc(200);
        memset(g_kept[i], 0, 200);
    }
    return 0;
}
