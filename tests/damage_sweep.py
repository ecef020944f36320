#!/usr/bin/env python3
"""Damaged captures, every way one byte at a time: records a small program
(a leak, a cycle, a fork child), then runs `heapgraph info` and `heapgraph
report -f json` on the capture cut after every byte, and on the capture with
each byte inverted. Each run must end within 10 s with exit status 0 (a
damaged capture reports what was recorded before the damage) or 2 (not a
capture), and, with a sanitizer build of heapgraph, without an ASan or
UBSan report. Prints the counts; exits 1 on any failure.

It takes several minutes (two runs per byte), so it is run by hand and its
result is in docs/reliability.md:

    python3 tests/damage_sweep.py --heapgraph build-asan/heapgraph --workdir /tmp/sweep

Standard library only.
"""
import argparse
import os
import subprocess
import sys

PROG = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
struct node { struct node *next; char pad[24]; };
void *volatile sink;
int main(void)
{
    for (int i = 0; i < 20; i++)
        sink = malloc(24 + i);
    struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    a->next = b;
    b->next = a;
    sink = 0;
    pid_t pid = fork();
    if (pid == 0) {
        sink = malloc(100);
        exit(3);
    }
    waitpid(pid, NULL, 0);
    return 0;
}
"""

SANITIZER = (b"ERROR: AddressSanitizer", b"runtime error:", b"ERROR: LeakSanitizer")


def run(hg, args):
    try:
        p = subprocess.run([hg] + args, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "timeout"
    if p.returncode not in (0, 2):
        return "exit %d" % p.returncode
    if any(s in p.stderr for s in SANITIZER):
        return "sanitizer: " + p.stderr.decode(errors="replace").splitlines()[0]
    return None


def sweep(hg, data, path, make):
    bad = []
    for i in range(len(data)):
        with open(path, "wb") as f:
            f.write(make(data, i))
        for args in (["info", path], ["report", "-f", "json", "-o", os.devnull, path]):
            why = run(hg, args)
            if why:
                bad.append((i, args[0], why))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heapgraph", default="build-asan/heapgraph")
    ap.add_argument("--workdir", default="damage_sweep")
    a = ap.parse_args()
    hg = os.path.abspath(a.heapgraph)
    os.makedirs(a.workdir, exist_ok=True)
    src = os.path.join(a.workdir, "prog.c")
    exe = os.path.join(a.workdir, "prog")
    with open(src, "w") as f:
        f.write(PROG)
    subprocess.run(["cc", "-O2", "-g", src, "-o", exe], check=True)
    cap = os.path.join(a.workdir, "whole.hgcap")
    subprocess.run([hg, "run", "-q", "-o", cap, "--", exe], check=True)
    data = open(cap, "rb").read()
    path = os.path.join(a.workdir, "damaged.hgcap")
    cut = sweep(hg, data, path, lambda d, i: d[:i])
    flip = sweep(hg, data, path, lambda d, i: d[:i] + bytes([d[i] ^ 0xff]) + d[i + 1:])
    print("capture of %d bytes: %d cuts, %d inverted bytes, 2 commands each: %d runs" %
          (len(data), len(data), len(data), 4 * len(data)))
    for i, cmd, why in cut + flip:
        print("  byte %d, %s: %s" % (i, cmd, why))
    print("failures: %d" % (len(cut) + len(flip)))
    return 1 if cut or flip else 0


if __name__ == "__main__":
    sys.exit(main())
