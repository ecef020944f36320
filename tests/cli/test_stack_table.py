#!/usr/bin/env python3
"""The runtime's stack table (profiler/runtime/rt_stack.c) deduplicates exactly, in
both of its levels: a program allocates from 2^19 distinct call paths, twice
over, and `heapgraph info` must count each path once. The first level holds
at most 262,144 stacks, so about half of them land in the second level, which
the runtime makes only then. A small program must not pay for the second
level: its stack table stays within the first level's 4 MiB. Standard
library only."""
import re
import tempfile

from ci_helpers import check, compile_c, finish, hg

PATHS = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#define NI __attribute__((noinline))
static void *volatile sink;
static unsigned bits;
NI static void leaf(void) { sink = malloc(16); free(sink); }
/* Each level calls on from one of two call sites, chosen by one bit of
 * `bits` (the different asm after each keeps the compiler from merging
 * them): every value of `bits` is its own call path. */
NI static void a(int d)
{
    if (d == 0) {
        leaf();
    } else if (bits >> (d - 1) & 1) {
        a(d - 1);
        __asm__ volatile("nop" ::: "memory");
    } else {
        a(d - 1);
        __asm__ volatile("nop\n\tnop" ::: "memory");
    }
}
int main(int argc, char **argv)
{
    int depth = atoi(argv[1]);
    for (volatile int pass = 0; pass < 2; pass++)
        for (unsigned v = 0; v < (1u << depth); v++) {
            bits = v;
            a(depth);
        }
    /* The table's memory shows as anonymous memory of this process (read
     * without stdio, which would allocate). */
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof buf);
    if (n > 0)
        write(2, buf, (size_t)n);
    return 0;
}
"""


def record(work, exe, depth):
    cap = "paths%d.hgcap" % depth
    r = hg("run", "-q", "-o", cap, "--", exe, depth, cwd=work, timeout=300)
    check(r.returncode == 0, "run exited %d: %s" % (r.returncode, r.stderr))
    rss = re.search(r"RssAnon:\s+(\d+) kB", r.stderr)
    info = hg("info", cap, cwd=work).stdout
    stacks = re.search(r"stacks\s+(\d+) distinct", info)
    allocs = re.search(r"events\s+[\d,]+: ([\d,]+) allocations", info)
    return (int(rss.group(1)) if rss else None,
            int(stacks.group(1)) if stacks else None,
            int(allocs.group(1).replace(",", "")) if allocs else None)


def main():
    with tempfile.TemporaryDirectory() as work:
        exe = compile_c(work, "paths", PATHS)
        _, stacks, allocs = record(work, exe, 19)
        check(allocs == 2 * 2**19, "allocations %r, expected %d" % (allocs, 2 * 2**19))
        check(stacks == 2**19, "distinct stacks %r, expected %d" % (stacks, 2**19))
        rss, stacks, allocs = record(work, exe, 10)
        check(stacks == 2**10, "small run: distinct stacks %r, expected %d" % (stacks, 2**10))
        # 4 MiB of first level plus the program's own few hundred KiB; one
        # level of the whole capacity was 32 MiB.
        check(rss is not None and rss < 8 * 1024, "small run: anonymous memory %r kB" % rss)
    finish()


if __name__ == "__main__":
    main()
