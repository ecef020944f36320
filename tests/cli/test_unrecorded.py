#!/usr/bin/env python3
"""A process the run made that heapgraph could not record is a loss in the
capture, which `info` shows and `check`'s capture gate fails on; before,
the capture said "complete yes" and its leaks were simply missing:
- a recorded program that execs a static program (the runtime cannot load
  into it): its 7 leaked blocks were nowhere;
- as root, a child that drops to the user nobody and execs a program: the
  runtime cannot reach the collector's private socket from there;
- a forked child that cannot reach the collector (no descriptor left for
  the connection);
- a static program started with posix_spawn, and one exec'd by a vfork
  child (after another vfork child's exec failed): no trace at all before;
and a program that execs, spawns or vforks and execs a program the runtime
can record has no loss. Each loss names the process. Standard library
only."""
import json
import os
import sys
import tempfile

from ci_helpers import compile_c, hg

# argv[1]: "static" or "dynamic" exec that program; "nobody": a child drops
# to the user nobody and execs argv[2]; "nofd": a child is forked while no
# descriptor is free; "spawn": posix_spawn argv[2]; "vfork": a vfork child
# execs a missing program, then another argv[2]. The program exec'd leaks 7
# blocks of 40 bytes. "spawn" and "vfork" print the pid of argv[2].
PROG = r"""
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
void *volatile sink;
static int wait_child(pid_t pid)
{
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 9;
}
extern char **environ;
static int spawned(const char *how, char *path)
{
    char *args[] = {path, NULL};
    pid_t pid = -1;
    if (!strcmp(how, "spawn")) {
        if (posix_spawn(&pid, path, NULL, NULL, args, environ))
            return 6;
    } else {
        pid_t bad = vfork();
        if (bad == 0) {
            execl("/nonexistent/heapgraph-test", "x", (char *)0);
            _exit(7);
        }
        if (wait_child(bad) != 7)
            return 6;
        pid = vfork();
        if (pid == 0) {
            execv(path, args);
            _exit(4);
        }
    }
    printf("%d\n", (int)pid);
    return wait_child(pid);
}
static int forked_without_fds(void)
{
    struct rlimit rl = {64, 64};
    int fds[64], n = 0;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        return 8;
    while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY)) >= 0)
        n++;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    while (n > 0)
        close(fds[--n]);
    return wait_child(pid);
}
int main(int argc, char **argv)
{
    sink = malloc(100);
    sink = 0;
    if (argc < 3)
        return 2;
    if (!strcmp(argv[1], "nofd"))
        return forked_without_fds();
    if (!strcmp(argv[1], "spawn") || !strcmp(argv[1], "vfork"))
        return spawned(argv[1], argv[2]);
    if (!strcmp(argv[1], "nobody")) {
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) || setuid(65534))
                _exit(3);
            execl(argv[2], argv[2], (char *)0);
            _exit(4);
        }
        return wait_child(pid);
    }
    execl(argv[2], argv[2], (char *)0);
    return 5;
}
"""

LEAKER = r"""
#include <stdlib.h>
void *volatile sink;
int main(void)
{
    for (int i = 0; i < 7; i++)
        sink = malloc(40);
    sink = 0;
    return 0;
}
"""

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def run(d, name, *args):
    cap = os.path.join(d, name + ".hgcap")
    r = hg("run", "-q", "-o", cap, "--", *args, cwd=d)
    check(r.returncode == 0, "%s: the run exits 0, got %d: %s" % (name, r.returncode, r.stderr[-300:]))
    rep = json.loads(hg("report", "-f", "json", cap).stdout)
    rep["stdout"] = r.stdout
    return cap, rep


def lost(d, name, expect, *args):
    """Runs args; checks that the capture has exactly one loss, holding
    `expect`, and that info and check say so."""
    cap, rep = run(d, name, *args)
    check(len(rep["losses"]) == 1 and expect in rep["losses"][0],
          "%s: one loss saying %r, got %s" % (name, expect, rep["losses"]))
    info = hg("info", cap).stdout
    check("complete   no: 1 loss" in info, "%s: info says the capture has a loss: %s" % (name, info[:300]))
    c = hg("check", cap)
    check(c.returncode == 1 and "1 loss: not everything was recorded" in c.stdout,
          "%s: check fails its capture gate, got %d: %s" % (name, c.returncode, c.stdout[-300:]))
    return rep


def spawned(d, prog, how, dynamic, static):
    """posix_spawn or vfork+exec: of a program the runtime records, no loss
    and its 7 blocks; of a static one, a loss naming the program's pid."""
    _, rep = run(d, how + "_dynamic", prog, how, dynamic)
    check(rep["losses"] == [], "%s of a program it can record: no loss, got %s" % (how, rep["losses"]))
    images = [(p["origin"], p["summary"]["definite"]) for p in rep["processes"]]
    check(len(images) == 2 and images[1] == ("spawn", {"blocks": 7, "bytes": 280}),
          "%s of a program it can record: its 7 blocks of 40 bytes lost, got %s" % (how, images))
    rep = lost(d, how + "_static", "with posix_spawn or vfork) was not recorded", prog, how, static)
    parent = rep["processes"][0]["pid"] if rep["processes"] else -1
    child = rep["stdout"].strip()
    check(rep["losses"] and ("process %s (started by %d " % (child, parent)) in rep["losses"][0],
          "%s: the loss names process %s started by %d: %s" % (how, child, parent, rep["losses"]))


def main():
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)  # the user nobody runs a program in it
        prog = compile_c(d, "prog", PROG)
        dynamic = compile_c(d, "leaker", LEAKER)
        static = compile_c(d, "leaker_static", LEAKER, "-static")
        _, rep = run(d, "dynamic", prog, "dynamic", dynamic)
        check(rep["losses"] == [], "exec of a program it can record: no loss, got %s" % rep["losses"])
        images = [(p["origin"], p["summary"]["definite"]) for p in rep["processes"]]
        check(len(images) == 2 and images[1] == ("exec", {"blocks": 7, "bytes": 280}),
              "exec of a program it can record: its 7 blocks of 40 bytes lost, got %s" % images)
        rep = lost(d, "static", "exec'd was not recorded", prog, "static", static)
        pid = rep["processes"][0]["pid"] if rep["processes"] else -1
        check(rep["losses"] and ("process %d exec'd" % pid) in rep["losses"][0],
              "static: the loss names process %d: %s" % (pid, rep["losses"]))
        rep = lost(d, "nofd", "was not recorded: it never reached the collector", prog, "nofd", "-")
        forked = [p["pid"] for p in rep["processes"] if p["origin"] == "fork"]
        check(len(forked) == 1 and rep["losses"] and ("process %d (forked by" % forked[0]) in rep["losses"][0],
              "nofd: the loss names the child: %s %s" % (forked, rep["losses"]))
        for how in ("spawn", "vfork"):
            spawned(d, prog, how, dynamic, static)
        if os.geteuid() == 0:
            lost(d, "nobody", "exec'd was not recorded", prog, "nobody", dynamic)
        else:
            print("skip: dropping to the user nobody needs root")
    if failures:
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
