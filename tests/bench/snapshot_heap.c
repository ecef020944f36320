/* snapshot_heap: the heap-snapshot benchmark of docs/benchmarks.md. Builds
 * a heap of NBLOCKS blocks (default 1,048,576) of SIZE bytes (default 1,024:
 * 1 GiB in all), every block reachable from a global array and linked to
 * the next one, the rest of each block filled with non-pointer data; then
 * leaks every 1,024th block by unlinking it, and exits, so that the exit
 * snapshot scans the whole heap. Not a test: run it under `heapgraph run`.
 *
 * usage: snapshot_heap [NBLOCKS [SIZE]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    uint64_t data[];
};

struct block **volatile g_blocks;

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1u << 20;
    size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
    if (n < 2 || size < sizeof(struct block) + 8)
        return 2;
    struct block **all = malloc(n * sizeof *all);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        all[i] = malloc(size);
        for (size_t w = 0; w < (size - sizeof(struct block)) / 8; w++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            all[i]->data[w] = x;
        }
    }
    for (size_t i = 0; i + 1 < n; i++)
        all[i]->next = all[i + 1];
    all[n - 1]->next = NULL;
    for (size_t i = 1024; i < n; i += 1024) {
        all[i - 1]->next = NULL;
        all[i] = NULL;
    }
    g_blocks = all;
    printf("%zu blocks of %zu bytes\n", n, size);
    return 0;
}
