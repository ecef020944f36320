#!/usr/bin/env python3
"""Children the runtime cannot see being made (a fork made with the syscall
instruction, glibc's clone() without CLONE_VM, clone3) run no fork handler
and used to write into their parent's rings: the collector then queued
whatever it found and grew until the kernel's OOM killer ended it (about
23 GB), leaving a 32-byte capture. Now such a child notices at its first
allocation that it is one (the runtime's state page is wiped in it,
MADV_WIPEONFORK), stays passive and tells the collector, and the collector
checks that a ring never holds more than its size. The program's three
children each allocate and free 200,000 blocks: the launcher's peak
resident size (and the program's) stays under 100 MB, the parent is
recorded exactly (1,010 allocations, 10 blocks of 24 bytes definitely
lost, 1,000 of 48 reachable), the capture names the three children in
its losses, and `check` fails its capture gate because of them. Standard
library only."""
import json
import os
import subprocess
import tempfile

from ci_helpers import HG, check, compile_c, finish, hg

PROG = r"""
/* Three children the runtime cannot see being made: a fork made with the
 * syscall instruction itself, a glibc clone() with a stack of its own and
 * no CLONE_VM, and clone3. Each allocates and frees 200,000 blocks and
 * exits 0. Before the runtime noticed such children, they wrote into their
 * parent's rings and the collector grew without bound. The parent keeps
 * 1,000 blocks of 48 bytes in a global and leaks 10 of 24. */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;
void *kept[1000]; /* external: the compiler keeps the allocations */

static int work(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200000; i++) {
        sink = malloc(32 + (i & 63));
        free(sink);
    }
    _exit(0);
}

static long raw_syscall2(long nr, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static pid_t raw_fork(void)
{
    return (pid_t)raw_syscall2(SYS_fork, 0, 0);
}

static pid_t raw_clone3(void)
{
    struct clone_args args = {.exit_signal = SIGCHLD};
    return (pid_t)raw_syscall2(SYS_clone3, (long)&args, sizeof args);
}

static char clone_stack[1 << 16] __attribute__((aligned(16)));

int main(void)
{
    for (int i = 0; i < 1000; i++)
        kept[i] = malloc(48);
    for (int i = 0; i < 10; i++)
        sink = malloc(24);
    sink = NULL;
    pid_t pids[3];
    if ((pids[0] = raw_fork()) == 0)
        work(NULL);
    pids[1] = clone(work, clone_stack + sizeof clone_stack, SIGCHLD, NULL);
    if ((pids[2] = raw_clone3()) == 0)
        work(NULL);
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        int st;
        ok += pids[i] > 0 && waitpid(pids[i], &st, 0) == pids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    return ok == 3 ? 0 : 1;
}
"""


def run_measured(args, cwd):
    """Runs args; returns (exit status, peak resident size in kB, stderr). The
    peak is wait4's ru_maxrss: the largest of the launcher and the processes
    it waited for (the program), however short the run; polling
    /proc/PID/status could miss a run that ended before its first read."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        return p.returncode, usage.ru_maxrss, err.read().decode(errors="replace")


def main():
    with tempfile.TemporaryDirectory() as d:
        exe = compile_c(d, "raw_clone", PROG)
        cap = os.path.join(d, "raw.hgcap")
        rc, hwm, err = run_measured([HG, "run", "-q", "-o", cap, "--", exe], d)
        check(rc == 0, "run exits 0, got %d: %s" % (rc, err[-300:]))
        print("launcher peak RSS: %d kB" % hwm)
        check(0 < hwm < 100 * 1024, "launcher peak memory under 100 MB, got %d kB" % hwm)
        r = hg("report", "-f", "json", cap)
        check(r.returncode == 0, "report exits 0: " + r.stderr[-300:])
        rep = json.loads(r.stdout)
        procs = rep["processes"]
        check(len(procs) == 1, "one process recorded, got %d" % len(procs))
        p = procs[0]
        s = p["summary"]
        check(s["allocations"] == 1010, "parent: 1,010 allocations, got %d" % s["allocations"])
        check((s["definite"]["blocks"], s["definite"]["bytes"]) == (10, 240),
              "parent: 10 blocks of 24 bytes lost, got %s" % s["definite"])
        check(s["reachable"]["blocks"] >= 1000, "parent: the kept blocks are reachable")
        unseen = [x for x in rep["losses"] if "ran no fork handler" in x]
        check(len(unseen) == 3, "three losses name the unseen children, got %s" % rep["losses"])
        check(all(("child of %d" % p["pid"]) in x for x in unseen), "each names its parent")
        c = hg("check", cap)
        check(c.returncode == 1 and "capture" in c.stdout,
              "check fails its capture gate, got %d: %s" % (c.returncode, c.stdout[-300:]))
    finish()


if __name__ == "__main__":
    main()
