#!/usr/bin/env python3
"""`heapgraph report` on the golden captures of tests/golden/ (exact numbers,
text and JSON carrying the same facts, damage, options and their errors), and
the JSON of golden and freshly recorded captures validated against
docs/report.schema.json with jsonschema_lite. Standard library only.

The golden captures' contents are spelled out in tests/unit/test_reader.c
(write_counts, write_snapshots)."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsonschema_lite  # noqa: E402
from ci_helpers import inline_stacks  # noqa: E402

HG = os.environ["HEAPGRAPH"]
SRC = os.environ["HG_SOURCE_DIR"]
GOLDEN = os.path.join(SRC, "tests", "golden")
with open(os.path.join(SRC, "docs", "report.schema.json")) as f:
    SCHEMA = json.load(f)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def report(*args, env=None):
    return subprocess.run([HG, "report", *args], cwd=GOLDEN, capture_output=True, text=True,
                          env=env)


def json_report(name, *args):
    r = report("--format", "json", *args, name)
    check(r.returncode == 0, "%s: exit %d (%s)" % (name, r.returncode, r.stderr))
    doc = json.loads(r.stdout)
    errs = jsonschema_lite.validate(doc, SCHEMA)
    check(not errs, "%s: schema: %s" % (name, errs[:5]))
    return inline_stacks(doc), r


def site(proc, function_line):
    """The site whose stack is empty is named by its totals in these captures."""
    return [s for s in proc["sites"] if (s["allocations"], s["bytes"]) == function_line]


def test_counts():
    doc, _ = json_report("valid.hgcap")
    check(doc["complete"] is True and doc["damage"] is None, "valid: complete, no damage")
    check(doc["events"] == 13, "valid: 13 events")
    p = doc["processes"][0]
    s = p["summary"]
    check((p["pid"], p["ppid"], p["command"]) == (100, 1, ["./app", "--flag"]), "valid: identity")
    check(p["exit"] == {"status": 3}, "valid: exit status 3: %r" % p["exit"])
    check((s["allocations"], s["frees"], s["allocated_bytes"]) == (7, 6, 3660),
          "valid: totals %r" % s)
    check((s["peak_bytes"], s["live_blocks"], s["live_bytes"]) == (2010, 1, 10),
          "valid: peak and live %r" % s)
    check(p["frees_unknown"] == 1 and p["reallocs"] == 1, "valid: unknown frees, reallocs")
    check(p["peak"]["time_us"] == 110 and p["peak"]["blocks"] == 2, "valid: peak time/blocks")
    check([(x["bytes"], x["blocks"]) for x in p["peak"]["sites"]] == [(2000, 1), (10, 1)],
          "valid: peak sites %r" % p["peak"]["sites"])
    rows = [(x["allocations"], x["bytes"], x["temporary"], x["live_bytes"]) for x in p["sites"]]
    check(rows == [(2, 2050, 2, 0), (2, 1100, 0, 0), (3, 510, 1, 10)], "valid: sites %r" % rows)
    check([x["allocations"] for x in p["sites_by_count"]] == [3, 2, 2], "valid: by count")
    check([x["temporary"] for x in p["sites_by_temporary"]] == [2, 1], "valid: by temporary")
    check(p["snapshot"] is False, "valid: no exit snapshot")
    check([(l["kind"], l["blocks"], l["bytes"]) for l in p["leaks"]] == [("not_freed", 1, 10)],
          "valid: not freed %r" % p["leaks"])
    check(s["definite"] == {"blocks": 0, "bytes": 0}, "valid: class counts 0 without snapshot")
    check([t["name"] for t in p["threads"]] == ["main", "worker"], "valid: threads")


def test_top():
    doc, _ = json_report("valid.hgcap", "--top", "1")
    p = doc["processes"][0]
    check(len(p["sites"]) == 1 and p["sites"][0]["bytes"] == 2050, "--top 1")
    check(len(p["peak"]["sites"]) == 1, "--top 1 limits peak sites")


def test_damaged():
    for name, msg in (("truncated.hgcap", "chunk of 90 bytes runs past the end of the file"),
                      ("corrupt.hgcap", "zstd: ")):
        doc, r = json_report(name)
        check(doc["complete"] is False, name + ": not complete")
        check(doc["damage"] and doc["damage"]["offset"] == 197 and msg in doc["damage"]["message"],
              name + ": damage %r" % doc["damage"])
        s = doc["processes"][0]["summary"]
        check((s["allocations"], s["frees"], s["live_bytes"]) == (4, 2, 1100),
              name + ": the events before the damage %r" % s)
        check(r.stderr.count("\n") == 1 and "damaged at byte 197" in r.stderr,
              name + ": one stderr line %r" % r.stderr)
        t = report(name)
        check(t.returncode == 0 and "damaged capture" in t.stdout and "byte 197" in t.stdout,
              name + ": text says where the damage starts")
        check("no exit snapshot: the capture ends before this process did" in t.stdout,
              name + ": text says why nothing is classified")


def test_snapshots():
    doc, _ = json_report("snapshots.hgcap", "--show-reachable")
    p = doc["processes"][0]
    s = p["summary"]
    check(p["snapshot"] is True, "snapshots: exit snapshot")
    check(s["cycle"] == {"blocks": 2, "bytes": 80} and s["definite"] == {"blocks": 2, "bytes": 32}
          and s["reachable"] == {"blocks": 1, "bytes": 64} and s["indirect"]["blocks"] == 0,
          "snapshots: summary %r" % s)
    kinds = [(l["kind"], l["blocks"], l["bytes"], l["groups"]) for l in p["leaks"]]
    check(kinds == [("cycle", 2, 80, 1), ("definite", 2, 32, 2), ("reachable", 1, 64, 0)],
          "snapshots: leaks %r" % kinds)
    plain = json_report("snapshots.hgcap")[0]["processes"][0]
    check([l["kind"] for l in plain["leaks"]] == ["cycle", "definite"] and
          plain["summary"]["reachable"] == {"blocks": 1, "bytes": 64},
          "snapshots: reachable entries only with --show-reachable, counted either way")
    rb = p["leaks"][2].get("retained_by")
    check(rb and rb["kind"] == "global" and [(s["size"], s["offset"], len(s["stack"]))
                                               for s in rb["path"]] == [(64, 16, 0)],
          "snapshots: retained_by %r" % rb)
    check(len(p["cycles"]) == 1, "snapshots: one cycle")
    c = p["cycles"][0]
    check(c["root"] is True and (c["blocks"], c["bytes"]) == (2, 80), "snapshots: cycle %r" % c)
    check([m["points_to"] for m in c["members"]] == [[{"member": 1, "offset": 8, "label": None}],
                                                      [{"member": 0, "offset": 0, "label": None}]],
          "snapshots: cycle edges %r" % [m["points_to"] for m in c["members"]])
    snaps = p["snapshots"]
    check([(x["id"], x["reason"], x["blocks"], x["bytes"]) for x in snaps] ==
          [(1, "request", 1, 16), (2, "exit", 5, 176)], "snapshots: list %r" % snaps)
    grew = sorted((g["kind"], g["delta_bytes"]) for g in snaps[1]["grew"])
    check(grew == [("cycle", 80), ("definite", 16), ("reachable", 64)], "snapshots: grew %r" % grew)
    t = report("snapshots.hgcap").stdout
    check("lost in cycles: 80 bytes in 2 blocks" in t, "text: cycle class in LEAK SUMMARY")
    check("definitely lost: 32 bytes in 2 blocks" in t, "text: definite in LEAK SUMMARY")
    check("[0] block+8 -> [1] block" in t, "text: the edge closing the cycle with its offset")
    check("REACHABLE" not in t, "text: reachable entries only with --show-reachable")
    t = report("--show-reachable", "snapshots.hgcap").stdout
    check("REACHABLE  64 B in 1 blocks" in t and "retained by global" in t,
          "text --show-reachable: entry and retention")


def test_processes():
    """Two processes: a parent and a forked child killed by SIGKILL; --process."""
    doc, _ = json_report("fork.hgcap")
    check([p["pid"] for p in doc["processes"]] == [50, 51], "fork: both processes")
    c = doc["processes"][1]
    check(c["origin"] == "fork" and c["ppid"] == 50, "fork: child origin and parent")
    check(c["exit"] == {"signal": 9, "core": False}, "fork: killed by 9 %r" % c["exit"])
    check(c["inherited_blocks"] == 3, "fork: inherited blocks")
    s = c["summary"]
    check((s["allocations"], s["frees"], s["live_blocks"], s["live_bytes"], s["peak_bytes"]) ==
          (1, 1, 3, 45, 60), "fork: child totals %r" % s)
    # Of the 3 blocks live at its end, 2 (40 bytes) are inherited blocks it
    # did not touch: its parent's. Its own 5-byte block is its leak.
    check([(l["kind"], l["blocks"], l["bytes"]) for l in c["leaks"]] ==
          [("not_freed", 1, 5)], "fork: not freed %r" % c["leaks"])
    check(c["unjudged"] == {"blocks": 2, "bytes": 40}, "fork: the parent's %r" % c["unjudged"])
    doc, _ = json_report("fork.hgcap", "--inherited")
    c = doc["processes"][1]
    check([(l["kind"], l["blocks"], l["bytes"]) for l in c["leaks"]] ==
          [("not_freed", 2, 40), ("not_freed", 1, 5)], "--inherited: not freed %r" % c["leaks"])
    check(c["unjudged"] == {"blocks": 0, "bytes": 0}, "--inherited: judged whole")
    doc, _ = json_report("fork.hgcap", "--process", "51")
    check([p["pid"] for p in doc["processes"]] == [51], "--process 51 keeps only the child")
    t = report("--process", "51", "fork.hgcap").stdout
    check("== process 51 ==" in t and "== process 50 ==" not in t, "text --process 51")
    check("killed by signal 9 (SIGKILL)" in t, "text: the signal by name")
    check("no exit snapshot: it was killed by signal 9 (SIGKILL)" in t, "text: why not classified")
    check("not freed:" in t, "text: LEAK SUMMARY of an unclassified process")


def test_stack_depth():
    """Addresses in no module stay frames (module "?"); --stack-depth cuts stacks."""
    doc, _ = json_report("fork.hgcap")
    sites = doc["processes"][0]["sites"]
    check([len(x["stack"]) for x in sites] == [2, 1], "fork: full stacks")
    check(sites[0]["stack"][0]["module"] == "?" and sites[0]["stack"][0]["offset"] == 0x401000,
          "fork: an address in no module %r" % sites[0]["stack"][0])
    doc, _ = json_report("fork.hgcap", "--stack-depth", "1")
    check([len(x["stack"]) for x in doc["processes"][0]["sites"]] == [1, 1], "--stack-depth 1")


def test_text_width_and_colour():
    for name in ("valid.hgcap", "snapshots.hgcap", "truncated.hgcap"):
        out = report(name).stdout
        wide = [l for l in out.splitlines() if len(l) > 100]
        check(not wide, name + ": lines over 100 columns: %r" % wide)
        check("\033[" not in out, name + ": no colour when not a terminal")
    env = dict(os.environ, NO_COLOR="1")
    check("\033[" in report("--color", "always", "valid.hgcap", env=env).stdout,
          "--color always colours")
    check("\033[" not in report("--color", "never", "valid.hgcap").stdout, "--color never")


def test_errors():
    cases = [
        (["not-a-capture.hgcap"], "heapgraph: not-a-capture.hgcap: not a heapgraph capture\n"),
        (["newer.hgcap"],
         "heapgraph: newer.hgcap: capture format version 4 is newer than this heapgraph (3)\n"),
        (["-o", "/nonexistent/dir/out.txt", "valid.hgcap"],
         "heapgraph: /nonexistent/dir/out.txt: No such file or directory\n"),
        (["--process", "4242", "valid.hgcap"], "heapgraph: valid.hgcap: no process with pid 4242\n"),
    ]
    for args, want in cases:
        r = report(*args)
        check(r.returncode == 2, "%r: exit %d" % (args, r.returncode))
        check(r.stderr == want, "%r: stderr %r" % (args, r.stderr))
    for args in (["--format", "yaml", "valid.hgcap"], ["--top", "0", "valid.hgcap"],
                 ["--color", "sometimes", "valid.hgcap"], []):
        r = report(*args)
        check(r.returncode == 2 and r.stderr.startswith("heapgraph: "), "%r: usage error" % args)


def test_output_file():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        r = report("--format", "json", "-o", out, "valid.hgcap")
        check(r.returncode == 0 and r.stdout == "", "-o: nothing on stdout")
        with open(out) as f:
            check(json.load(f)["events"] == 13, "-o: the report is in the file")


def test_schema_rejects():
    doc = json.loads(json_report("snapshots.hgcap")[1].stdout)
    del doc["processes"][0]["summary"]["cycle"]
    doc["processes"][0]["leaks"][0]["kind"] = "lost"
    errs = jsonschema_lite.validate(doc, SCHEMA)
    check(len(errs) == 2, "the validator catches a missing field and a bad enum: %r" % errs)


def test_non_utf8_names():
    """A program whose name is not UTF-8 still gives valid JSON (U+FFFD)."""
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "p.c")
        with open(c, "w") as f:
            f.write("int main(void) { return 0; }\n")
        exe = os.path.join(d.encode(), b"caf\xe9-\xc3\xa9")
        subprocess.run(["cc", c, "-o", exe], check=True)
        cap = os.path.join(d, "u.hgcap")
        r = subprocess.run([HG, "run", "-q", "-o", cap, "--", exe], capture_output=True)
        check(r.returncode == 0, "non-UTF-8 name: recorded")
        r = subprocess.run([HG, "report", "--format", "json", cap], capture_output=True)
        doc = json.loads(r.stdout.decode("utf-8"))
        check(doc["processes"][0]["command"][0].endswith("caf\ufffd-\u00e9"),
              "non-UTF-8 name: %r" % doc["processes"][0]["command"])


def test_recorded_capture():
    """A real recording validates too (leaks, cycles, retention, frames)."""
    src = r'''
#include <stdlib.h>
struct node { struct node *next; long v; };
static void *g_keep;
int main(void) {
    struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    a->next = b; b->next = a;
    g_keep = malloc(64);
    for (int i = 0; i < 10; i++) free(malloc(100 + i));
    void *volatile lost = malloc(24);
    lost = 0;
    return lost != 0;
}
'''
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "p.c")
        with open(c, "w") as f:
            f.write(src)
        exe = os.path.join(d, "p")
        subprocess.run(["cc", "-O0", "-g", c, "-o", exe], check=True)
        cap = os.path.join(d, "p.hgcap")
        r = subprocess.run([HG, "run", "-q", "-o", cap, "--", exe], capture_output=True, text=True)
        check(r.returncode == 0, "recording: exit %d %s" % (r.returncode, r.stderr))
        if r.returncode:
            return
        doc, _ = json_report(cap)
        s = doc["processes"][0]["summary"]
        check(s["cycle"] == {"blocks": 2, "bytes": 32}, "recorded: the cycle %r" % s["cycle"])
        check(s["definite"] == {"blocks": 1, "bytes": 24}, "recorded: definite %r" % s["definite"])


for t in (test_counts, test_top, test_damaged, test_snapshots, test_processes, test_stack_depth,
          test_text_width_and_colour,
          test_errors, test_output_file, test_schema_rejects, test_recorded_capture,
          test_non_utf8_names):
    t()
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
