/* reach_scan_stale_maps: the exit snapshot survives a list of mappings
 * that is older than the memory. The scanner reads /proc/self/maps into a
 * 64 KiB buffer of its own; it used to unmap that buffer before scanning,
 * and its probe for glibc's thread heaps then read the word at every
 * 64 MiB boundary of the anonymous mappings listed, the unmapped buffer
 * included. When the buffer had held such a boundary (about one run in a
 * thousand, by address randomization) the program died of SIGSEGV in its
 * exit snapshot, which was left partial: CI saw it in test_check.py.
 *
 * This program makes the layout certain. It reserves 17 x 64 MiB and
 * opens holes of exactly 64 KiB at 16 of the 64 MiB boundaries in it; at
 * exit (before the runtime's exit handler) it fills every other free gap
 * above the reservation, so the runtime's 64 KiB mappings land in the
 * holes, each starting on a boundary. Every read of the scan now comes
 * back short instead of faulting where memory is gone (and the buffer
 * stays mapped until the scan ends): 1,000 blocks of 24 bytes lost,
 * exactly, and a whole snapshot.
 *
 * expect: [s.partial for s in proc(0).snapshots] == [False]
 * expect: proc(0).notes == []
 * expect: proc(0).summary.definite.blocks == 1000
 * expect: proc(0).summary.definite.bytes == 24000
 * expect: proc(0).summary.possible.blocks == 0
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BOUNDARY ((uintptr_t)64 << 20)
#define HOLE ((uintptr_t)64 << 10)
#define NHOLES 16
#define MAX_GAPS 512

void *volatile sink;
static uintptr_t reserved_end;

/* Fills every gap between mappings above the reservation (below the
 * stack's region, which mmap does not use) with PROT_NONE memory. */
static void fill_gaps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        exit(2);
    static uintptr_t gaps[MAX_GAPS][2];
    uintptr_t start, end, prev = 0;
    int n = 0;
    char line[512];
    while (fgets(line, sizeof line, f) && n < MAX_GAPS) {
        if (sscanf(line, "%lx-%lx", &start, &end) != 2)
            continue;
        if (prev >= reserved_end && start > prev && start < 0x7ff000000000ul) {
            gaps[n][0] = prev;
            gaps[n][1] = start;
            n++;
        }
        prev = end;
    }
    fclose(f);
    for (int i = 0; i < n; i++)
        mmap((void *)gaps[i][0], gaps[i][1] - gaps[i][0], PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
}

__attribute__((noinline)) static void reserve_with_holes(void)
{
    size_t len = (NHOLES + 1) * BOUNDARY;
    char *r = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        exit(2);
    reserved_end = (uintptr_t)r + len;
    uintptr_t first = ((uintptr_t)r + BOUNDARY - 1) & ~(BOUNDARY - 1);
    for (int k = 0; k < NHOLES; k++)
        munmap((void *)(first + k * BOUNDARY), HOLE);
}

__attribute__((noinline)) static void lost(void)
{
    for (int i = 0; i < 1000; i++)
        sink = malloc(24);
    sink = NULL;
}

int main(void)
{
    reserve_with_holes();
    lost();
    atexit(fill_gaps);
    return 0;
}
