/* reach_scan_unstoppable: memory that changes under a snapshot never
 * crashes the program. A thread that blocks every signal cannot be
 * stopped for the exit snapshot, and goes on making the pages of a
 * region it mapped and of eight large blocks inaccessible and accessible
 * again, 50 microseconds each way. The scanner, which read those pages in
 * place, died of SIGSEGV in 6 runs of 6; it now reads what a thread that
 * did not stop can change through copies that come back short instead of
 * faulting, skips what it cannot read and says the snapshot is partial.
 * The ten lost blocks of 48 bytes are still found, exactly, and the eight
 * blocks of 1 MiB that globals hold are reachable.
 *
 * expect: [s.partial for s in proc(0).snapshots] == [True]
 * expect: proc(0).summary.definite.blocks == 10
 * expect: proc(0).summary.definite.bytes == 480
 * expect: any(l.blocks == 8 and l.bytes == 8 << 20 for l in leaks(0, 'reachable'))
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NBIG 8
#define BIG (1u << 20)
#define REGION (1u << 20)

static char *volatile g_big[NBIG];
static char *volatile g_region;
static int g_ready[2];
static void *volatile sink;

/* The pages inside block i (its first and last page hold malloc's
 * header and are left alone). */
static void *inner(int i, size_t *len)
{
    uintptr_t page = ((uintptr_t)g_big[i] + 4095) & ~(uintptr_t)4095;
    *len = BIG - 8192;
    return (void *)page;
}

static void *toggle(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    if (write(g_ready[1], "r", 1) != 1)
        return NULL;
    for (unsigned i = 0;; i++) {
        size_t len;
        void *p = inner(i % NBIG, &len);
        mprotect(p, len, PROT_NONE);
        mprotect(g_region, REGION, PROT_NONE);
        usleep(50);
        mprotect(p, len, PROT_READ | PROT_WRITE);
        mprotect(g_region, REGION, PROT_READ | PROT_WRITE);
        usleep(50);
    }
    return NULL;
}

__attribute__((noinline)) static void lost(void)
{
    for (int i = 0; i < 10; i++)
        sink = malloc(48);
    sink = NULL;
}

int main(void)
{
    for (int i = 0; i < NBIG; i++) {
        g_big[i] = malloc(BIG);
        memset(g_big[i], 0, BIG);
    }
    g_region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g_region == MAP_FAILED)
        return 2;
    memset(g_region, 0, REGION);
    lost();
    pthread_t t;
    char c;
    if (pipe(g_ready) || pthread_create(&t, NULL, toggle, NULL) || read(g_ready[0], &c, 1) != 1)
        return 2;
    return 0;
}
