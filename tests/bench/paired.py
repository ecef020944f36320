#!/usr/bin/env python3
"""Paired recording benchmark: runs a workload natively and under several
heapgraph builds in turn (native, A, B, native, A, B, ...), so that the
drift of a shared machine touches every row alike, and prints medians of
wall time, CPU time of the whole tree (wait4) and the collector's own CPU
(`perf stat --no-inherit` around the launcher, which is the collector; the
recorded program is its child). Wall time follows whatever else the machine
runs; the CPU columns are the steadier measure. docs/benchmarks.md uses it.

usage: paired.py [--runs N] NAME=HEAPGRAPH... -- PROGRAM [ARGS...]

PROGRAM may be a C source file (built here with -O2 -g -pthread). The
heapgraph rows run `HEAPGRAPH run -q -o <tmp> -- PROGRAM ARGS` with the
launcher's defaults (PYTHONMALLOC=malloc for Python); the native row runs
PROGRAM as it is. A row given as NAME=env:VAR=VALUE[,VAR=VALUE...] runs
PROGRAM without heapgraph in that environment (PYTHONMALLOC=malloc alone,
or LD_PRELOAD of tests/bench/floor_hooks.c). Needs perf.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time


def run_once(cmd, cwd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd,
                         env=env)
    _, status, ru = os.wait4(p.pid, 0)
    return time.perf_counter() - t0, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)


def recorded(hg, prog, work):
    stat = os.path.join(work, "stat")
    cmd = ["perf", "stat", "--no-inherit", "-x,", "-e", "task-clock", "-o", stat,
           hg, "run", "-q", "-o", os.path.join(work, "capture"), "--"] + prog
    wall, cpu, code = run_once(cmd, work)
    with open(stat) as f:
        ms = next(float(l.split(",")[0]) for l in f if "task-clock" in l)
    return wall, cpu, ms / 1e3, code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if "--" not in a.rest:
        ap.error("no -- PROGRAM given")
    cut = a.rest.index("--")
    tools = [t.split("=", 1) for t in a.rest[:cut]]
    prog = a.rest[cut + 1:]
    if not prog or any(len(t) != 2 for t in tools):
        ap.error("usage: paired.py [--runs N] NAME=HEAPGRAPH... -- PROGRAM [ARGS...]")
    work = tempfile.mkdtemp(prefix="hgpaired-")
    if prog[0].endswith(".c"):
        exe = os.path.join(work, "prog")
        subprocess.run(["cc", "-O2", "-g", "-pthread", prog[0], "-o", exe], check=True)
        prog = [exe] + prog[1:]
    rows = {"native": None}
    rows.update({name: hg if hg.startswith("env:") else os.path.abspath(hg) for name, hg in tools})
    results = {name: [] for name in rows}
    for r in range(a.runs + 1):  # the first round warms up
        for name, hg in rows.items():
            if hg is None or hg.startswith("env:"):
                env = dict(os.environ)
                if hg:
                    env.update(kv.split("=", 1) for kv in hg[4:].split(","))
                wall, cpu, code = run_once(prog, work, env)
                got = (wall, cpu, 0.0)
            else:
                wall, cpu, col, code = recorded(hg, prog, work)
                got = (wall, cpu, col)
            if code:
                print(f"note: {name} exited {code}", file=sys.stderr)
            if r:
                results[name].append(got)
    shutil.rmtree(work, ignore_errors=True)
    med = {n: [statistics.median(x[i] for x in v) for i in range(3)] for n, v in results.items()}
    bw, bc, _ = med["native"]
    print("load average %.1f %.1f %.1f" % os.getloadavg())
    print(f"{'row':<10} {'wall s':>7} {'x':>6} {'CPU s':>7} {'x':>6} {'collector':>10} {'program':>8}")
    for n, (w, c, col) in med.items():
        print(f"{n:<10} {w:7.3f} {w / bw:6.2f} {c:7.3f} {c / bc:6.2f} {col:10.3f} {c - col:8.3f}")


if __name__ == "__main__":
    main()
