/* rec_own_malloc_static: a program with jemalloc linked into it (as
 * redis-server builds it) defines malloc itself, and the dynamic linker
 * prefers the program's definition to the runtime's: nothing can be
 * recorded. The capture says so as a loss (and the runtime on stderr)
 * instead of passing for a program that allocates nothing.
 *
 * build: -Wl,-Bstatic -ljemalloc_pic -Wl,-Bdynamic -lm -ldl
 * expect: proc(0).summary.allocations == 0
 * expect: any("malloc of its own" in n for n in proc(0).losses)
 * expect-stderr: heapgraph: the program has a malloc of its own
 */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

int main(void)
{
    for (int i = 0; i < 100; i++) {
        sink = malloc(64);
        memset(sink, 1, 64);
    }
    return 0;
}
