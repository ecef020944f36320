#!/usr/bin/env python3
"""`heapgraph info` on the golden captures of tests/golden/: each NAME.hgcap
has its expected standard output in NAME.info or its expected one-line error
in NAME.err (exit 2). The captures were written by `test_reader --golden`
(tests/unit/test_reader.c) and are kept as bytes so that the reader is held
to files written in the past. Standard library only."""
import os
import subprocess
import sys

HG = os.environ["HEAPGRAPH"]
GOLDEN = os.path.join(os.environ["HG_SOURCE_DIR"], "tests", "golden")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def info(*args):
    return subprocess.run([HG, "info", *args], cwd=GOLDEN, capture_output=True, text=True)


def test_golden():
    names = sorted(f[:-6] for f in os.listdir(GOLDEN) if f.endswith(".hgcap"))
    check(len(names) >= 6, "at least 6 golden captures, found %d" % len(names))
    for name in names:
        r = info(name + ".hgcap")
        out_path = os.path.join(GOLDEN, name + ".info")
        err_path = os.path.join(GOLDEN, name + ".err")
        if os.path.exists(out_path):
            with open(out_path) as f:
                want = f.read()
            check(r.returncode == 0, "%s: exit %d" % (name, r.returncode))
            check(r.stdout == want, "%s: output differs:\n%s" % (name, r.stdout))
            check(r.stderr == "", "%s: stderr %r" % (name, r.stderr))
        else:
            with open(err_path) as f:
                want = f.read()
            check(r.returncode == 2, "%s: exit %d, expected 2" % (name, r.returncode))
            check(r.stderr == want, "%s: stderr %r, expected %r" % (name, r.stderr, want))
            check(r.stdout == "", "%s: stdout %r" % (name, r.stdout))


def test_damage_is_reported():
    r = info("truncated.hgcap")
    check("complete   no: damaged at byte 197: chunk of 90 bytes runs past the end" in r.stdout,
          "truncated capture names where the damage starts")
    check("events     6\n" in r.stdout, "events before the damage are counted")


def test_errors():
    r = info("/nonexistent/none.hgcap")
    check(r.returncode == 2, "missing file: exit %d" % r.returncode)
    check(r.stderr == "heapgraph: /nonexistent/none.hgcap: No such file or directory\n",
          "missing file message %r" % r.stderr)
    r = info()
    check(r.returncode == 2 and r.stderr.startswith("heapgraph: info needs one CAPTURE\n"),
          "no argument: %d %r" % (r.returncode, r.stderr))
    r = info(GOLDEN)
    check(r.returncode == 2 and r.stderr.count("\n") == 1, "a directory: %r" % r.stderr)
    r = info("-h")
    check(r.returncode == 0 and r.stdout.startswith("usage: heapgraph info"), "-h")


for t in (test_golden, test_damage_is_reported, test_errors):
    t()
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
