/* reach_thread_local: a 2,500-byte block held only by the main thread's
 * __thread variable t_cache is reachable, retained by TLS.
 *
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.bytes == 2500 and l.retained_by.kind == 'tls' for l in leaks(0, 'reachable'))
 */
#include <stdlib.h>

__thread void *volatile t_cache;

__attribute__((noinline)) static void fill(void)
{
    t_cache = malloc(2500);
}

int main(void)
{
    fill();
    return 0;
}
