/* reach_chunk_header: five lost blocks of 24 bytes; each fills its 32-byte
 * chunk, so glibc's main_arena.top (a root in libc's data) points 16 bytes
 * into the last one, at the next chunk's header. That pointer is malloc's,
 * not the program's: all five are definite, none possible.
 *
 * expect: proc(0).summary.definite.blocks == 5
 * expect: proc(0).summary.definite.bytes == 120
 * expect: proc(0).summary.possible.blocks == 0
 */
#include <stdlib.h>

void *volatile g_hold;

int main(void)
{
    for (int i = 0; i < 5; i++)
        g_hold = malloc(24);
    g_hold = NULL;
    return 0;
}
