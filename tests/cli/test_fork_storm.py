#!/usr/bin/env python3
"""Every process that ran is recorded exactly once, with how it ended and
the blocks it inherited, however fast forks follow each other. Regression:
a child that forked at once, before its own parent's fork had reached the
collector, was started without its inherited blocks (its frees of them
counted as unknown) and its parent's fork then started a second, phantom
copy of it: no events, "end not recorded", 64 not-freed blocks.

The program is a tree of 200 forks, each child forking its own two at once
(process k forks 2k+1 and 2k+2); odd ones wait for their children, even ones
exit at once, so parents end before, during and after their children's
start. A quarter of the leaves exec /bin/true (a second image of their pid)
and another quarter start it with posix_spawn (a vfork-like clone that
execs). Recorded 20 times. Standard library only."""
import collections
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import compile_c, hg  # noqa: E402

PROCESSES = 201
EXECS = 25       # leaves 101, 105, ... 197
SPAWNS = 25      # leaves 103, 107, ... 199
RUNS = 20

PROG = r"""
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
static void *volatile keep[64];
int main(int argc, char **argv)
{
    int n = atoi(argv[1]);
    for (int i = 0; i < 64; i++)
        keep[i] = malloc(16);
    int k = 0;
    for (;;) {
        pid_t kids[2];
        int nk = 0;
        for (int c = 2 * k + 1; c <= 2 * k + 2 && c < n; c++) {
            pid_t pid = fork();
            if (pid == 0) {
                k = c;
                free(keep[k % 64]);       /* an inherited block */
                keep[k % 64] = malloc(16);
                goto next;
            }
            kids[nk++] = pid;
        }
        if (k % 2)
            for (int i = 0; i < nk; i++)
                waitpid(kids[i], NULL, 0);
        char *argv_true[] = {"true", NULL};
        pid_t spawned;
        if (!nk && k % 4 == 1)
            execv("/bin/true", argv_true);
        if (!nk && k % 4 == 3 && posix_spawn(&spawned, "/bin/true", NULL, NULL, argv_true,
                                             environ) == 0)
            waitpid(spawned, NULL, 0);
        return 0;
    next:;
    }
}
"""


def main():
    work = tempfile.mkdtemp(prefix="hg-storm-")
    failures = []
    try:
        exe = compile_c(work, "storm", PROG)
        cap = os.path.join(work, "storm.hgcap")
        for run in range(RUNS):
            r = hg("run", "-q", "-o", cap, "--", exe, PROCESSES, cwd=work)
            if r.returncode != 0:
                failures.append("run %d: heapgraph run exit %d: %s" % (run, r.returncode, r.stderr))
                continue
            procs = json.loads(hg("report", "--format", "json", cap).stdout)["processes"]
            forked = [p for p in procs if p["origin"] in ("root", "fork")]
            images = collections.Counter((p["pid"], p["origin"]) for p in procs)
            got = {
                "images": collections.Counter(p["origin"] for p in procs),
                "recorded twice": sum(1 for n in images.values() if n > 1),
                "ends": collections.Counter(json.dumps(p["exit"]) for p in procs),
                "unknown frees": sum(p["frees_unknown"] for p in forked),
                "inherited": collections.Counter(p["inherited_blocks"] for p in forked),
                "allocations": sum(p["summary"]["allocations"] for p in forked),
            }
            want = {
                "images": collections.Counter({"root": 1, "fork": PROCESSES - 1, "exec": EXECS,
                                               "spawn": SPAWNS}),
                "recorded twice": 0,
                "ends": collections.Counter({json.dumps({"status": 0}): PROCESSES + SPAWNS,
                                             json.dumps({"exec": True}): EXECS}),
                "unknown frees": 0,
                "inherited": collections.Counter({64: PROCESSES - 1, 0: 1}),
                "allocations": 64 + PROCESSES - 1,
            }
            if got != want:
                failures.append("run %d: %r, expected %r" % (run, got, want))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f)
    print("%d runs, %d failed" % (RUNS, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
