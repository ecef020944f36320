#!/usr/bin/env python3
"""heapgraph report --format collapsed --metric M: folded stacks of
tests/e2e/html_leak_cycle.c, exact per metric: leaked gives the 100-byte
buffer and the 96-byte cycle at their own stacks; allocations, allocated and
peak add up to the JSON report's summary; a bad metric is a usage error."""
import json, os, subprocess, tempfile

from ci_helpers import check, check_output_errors, finish, hg

SRC = os.path.join(os.environ["HG_SOURCE_DIR"], "tests/e2e/html_leak_cycle.c")


def folded(cap, metric):
    r = hg("report", "--format", "collapsed", "--metric", metric, cap)
    check(r.returncode == 0, f"--metric {metric} exits 0 {r.stderr.strip()}")
    lines = [l.rsplit(" ", 1) for l in r.stdout.splitlines()]
    return [(stack.split(";"), int(v)) for stack, v in lines]


def main():
    work = tempfile.mkdtemp(prefix="hg-folded-")
    exe, cap = os.path.join(work, "prog"), os.path.join(work, "prog.hgcap")
    subprocess.run(["cc", "-O2", "-g", SRC, "-o", exe], check=True)
    check(hg("run", "-q", "-o", cap, "--", exe).returncode == 0, "recorded")
    r = hg("report", "--format", "json", cap)
    summary = json.loads(r.stdout)["processes"][0]["summary"]

    leaked = folded(cap, "leaked")
    check(len(leaked) == 2, f"two leaked stacks ({len(leaked)})")
    by_top = {s[-1]: (s, v) for s, v in leaked}
    check("leak_buffer" in by_top and by_top["leak_buffer"][1] == 100, "leak_buffer 100")
    check("make_node" in by_top and by_top["make_node"][1] == 96
          and by_top["make_node"][0][-2:] == ["leak_cycle", "make_node"], "...;leak_cycle;make_node 96")
    check(all("main" in s for s, _ in leaked), "stacks run from main outwards-in")

    allocs = folded(cap, "allocations")
    check(sum(v for _, v in allocs) == summary["allocations"] == 3005, "allocations add up to 3005")
    check(sorted(v for _, v in allocs)[-2:] == [1000, 2000], "the two temporary loops: 1000 and 2000")
    allocated = folded(cap, "allocated")
    check(sum(v for _, v in allocated) == summary["allocated_bytes"], "allocated bytes add up")
    peak = folded(cap, "peak")
    check(sum(v for _, v in peak) == summary["peak_bytes"], f"peak bytes add up to {summary['peak_bytes']}")

    # Two processes (tests/e2e/rec_fork.c): a process frame first, unless --process.
    fork_src = os.path.join(os.environ["HG_SOURCE_DIR"], "tests/e2e/rec_fork.c")
    fexe, fcap = os.path.join(work, "fork"), os.path.join(work, "fork.hgcap")
    subprocess.run(["cc", "-O2", "-g", fork_src, "-o", fexe], check=True)
    check(hg("run", "-q", "-o", fcap, "--", fexe).returncode == 0, "recorded the fork program")
    pids = [p["pid"] for p in json.loads(hg("report", "--format", "json", fcap).stdout)["processes"]]
    both = folded(fcap, "allocations")
    want = {(f"fork [{pids[0]}]", "before", 100), (f"fork [{pids[0]}]", "after", 20),
            (f"fork [{pids[1]}]", "in_child", 50)}
    check({(s[0], s[-1], v) for s, v in both} == want, f"per-process frames: {both}")
    r = hg("report", "--format", "collapsed", "--metric", "allocations", "--process", str(pids[1]), fcap)
    lines = r.stdout.splitlines()
    check(len(lines) == 1 and lines[0].endswith(";main;in_child 50") and not lines[0].startswith("fork ["),
          f"--process {pids[1]}: {lines}")

    r = hg("report", "--format", "collapsed", "--metric", "bytes", cap)
    check(r.returncode == 2 and r.stderr.count("\n") >= 1 and "metric" in r.stderr,
          f"bad metric: exit {r.returncode}, {r.stderr.splitlines()[:1]}")
    check_output_errors(cap, "--format", "collapsed")


if __name__ == "__main__":
    main()
    finish()
