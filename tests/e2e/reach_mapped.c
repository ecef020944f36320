/* reach_mapped: blocks held only from memory the program mapped itself are
 * reachable, as they are for valgrind: 100 blocks of 40 bytes listed in an
 * anonymous private mapping (an interpreter's arena), 10 blocks of 56 bytes
 * in a shared mapping of a file (the file is unlinked, the mapping stays).
 * Blocks pointed to only from a read-only mapping (5 of 24 bytes) or from a
 * region the program unmapped (3 of 72 bytes) are lost, and so are 7 blocks
 * of 32 bytes that nothing points to. A 1 GiB mapping that is never touched
 * costs the scan nothing. A large block (1 MiB, its own mmap by malloc)
 * keeps one pointer to a block of 88 bytes, which stays lost with it.
 *
 * expect: proc(0).summary.definite.blocks == 5 + 3 + 7 + 1
 * expect: proc(0).summary.definite.bytes == 5 * 24 + 3 * 72 + 7 * 32 + 1048576
 * expect: proc(0).summary.indirect.blocks == 1
 * expect: proc(0).summary.indirect.bytes == 88
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.blocks == 100 and l.bytes == 4000 and l.retained_by.kind == 'mapped' for l in leaks(0, 'reachable'))
 * expect: any(l.blocks == 10 and l.bytes == 560 and l.retained_by.kind == 'mapped' for l in leaks(0, 'reachable'))
 * expect: sum(l.bytes for l in leaks(0, 'definite') if frames(l)[0] == 'readonly_region') == 120
 * expect: sum(l.bytes for l in leaks(0, 'definite') if frames(l)[0] == 'unmapped_region') == 216
 * expect: sum(l.bytes for l in leaks(0, 'definite') if frames(l)[0] == 'lost') == 224 + 1048576
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAP(len, prot, flags, fd) mmap(NULL, (len), (prot), (flags), (fd), 0)

static void *volatile sink;

__attribute__((noinline)) static void **anon_region(void)
{
    void **r = MAP(1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    for (int i = 0; i < 100; i++)
        r[i * 7] = malloc(40);
    return r;
}

__attribute__((noinline)) static void **file_region(void)
{
    char path[] = "/tmp/hg-reach-mapped-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 8192) < 0)
        exit(2);
    unlink(path);
    void **r = MAP(8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
    close(fd);
    for (int i = 0; i < 10; i++)
        r[512 + i] = malloc(56);
    return r;
}

__attribute__((noinline)) static void readonly_region(void)
{
    void **r = MAP(4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    for (int i = 0; i < 5; i++)
        r[i] = malloc(24);
    mprotect(r, 4096, PROT_READ);
}

__attribute__((noinline)) static void unmapped_region(void)
{
    void **r = MAP(4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    for (int i = 0; i < 3; i++)
        r[i] = malloc(72);
    munmap(r, 4096);
}

__attribute__((noinline)) static void lost(void)
{
    for (int i = 0; i < 7; i++)
        sink = malloc(32);
    void **big = malloc(1 << 20);
    memset(big, 0, 1 << 20);
    big[100] = malloc(88);
    sink = big;
    sink = NULL;
}

static void **g_anon, **g_file;

int main(void)
{
    void *untouched = MAP((size_t)1 << 30, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
    void **anon = anon_region(), **file = file_region();
    readonly_region();
    unmapped_region();
    lost();
    /* the regions' addresses live in mapped memory only */
    anon[1] = file;
    ((void **)untouched)[0] = NULL;
    g_anon = anon + 1; /* interior: the region is not a block anyway */
    g_file = NULL;
    printf("%p\n", (void *)g_anon);
    return 0;
}
