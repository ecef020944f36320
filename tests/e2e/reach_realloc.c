/* reach_realloc: an array of pointers grown by realloc from 1 to 1,024
 * entries (8 KiB at the end) holds 1,000 blocks of 24 bytes; dropping the
 * array leaks it as one definite block of 8,192 bytes with 1,000 indirect
 * blocks: the scanner sees the array at its last address and size.
 *
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 8192
 * expect: proc(0).summary.indirect.blocks == 1000
 * expect: proc(0).summary.indirect.bytes == 24000
 * expect: proc(0).summary.possible.blocks == 0
 * expect: leaks(0, 'definite')[0].indirect_blocks == 1000
 */
#include <stdlib.h>

void **volatile g_array;

__attribute__((noinline)) static void grow(void)
{
    size_t cap = 1, n = 0;
    void **a = malloc(cap * sizeof *a);
    for (int i = 0; i < 1000; i++) {
        if (n == cap) {
            cap *= 2;
            a = realloc(a, cap * sizeof *a);
        }
        a[n++] = malloc(24);
        g_array = a;
    }
    if (cap < 1024)
        a = realloc(a, 1024 * sizeof *a);
    g_array = a;
}

int main(void)
{
    grow();
    g_array = NULL;
    return 0;
}
