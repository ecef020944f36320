/* daemon_work.h - what the daemon-style children of rec_daemon_close_fds
 * and rec_daemon_raw_close do once they closed every descriptor: 100,000
 * blocks allocated and freed, then 10 blocks of 40 bytes leaked in leak().
 * Each block is written whole, so the allocations are kept at -O2. */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

__attribute__((noinline)) static void leak(void)
{
    for (int i = 0; i < 10; i++) {
        sink = malloc(40);
        memset(sink, 0, 40);
    }
    sink = NULL;
}

static void daemon_work(void)
{
    for (int i = 0; i < 100000; i++) {
        sink = malloc(16 + (size_t)(i & 63));
        free(sink);
    }
    leak();
}
