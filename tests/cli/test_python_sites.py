#!/usr/bin/env python3
"""One site per way a Python stack reads (report/model/alike.c), under each
interpreter here, every object its own block, with exact values:
- `a, b = Node(i), Node(i)` run 1,000 times makes its objects through two
  call instructions: with the interpreter's frames hidden (the default) the
  line is two sites, its 2,000 Node objects of 56 bytes and their 2,000
  blocks of attribute values, each made by another function (made_by), and
  the text report ends their lines with it; with --interpreter-frames each
  of the four stacks (two instructions, two kinds of block) that made 1,000
  of them is a site of its own;
- the line's 1,000 cycles (gc.disable()) are one cycle entry of 1,000
  groups and 4,000 blocks, under the site of its Node objects, and the text
  report has one CYCLE entry for them (the site of a cycle's lowest block
  split them by address between the objects and their values, and the
  instructions split them again);
- `out.append(bytes(1000))` run 1,500 times keeps its 1,500 bytes objects of
  1,033 bytes apart from the list's storage, which the same line grows;
- the garbage collector's lines of the text report say "made 300 blocks of
  objects" for the line that grew the objects' lists and made no object;
- no site line of the text report starts at the process's entry (`_start`,
  `main`): the interpreter's own allocations, with no Python frame, name
  the interpreter's function that made them (with a shared libpython, whose
  frames the line otherwise skips as a library's).
Standard library only."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import PythonCase, hg, report_json  # noqa: E402

SCRIPT = r"""
import gc
gc.disable()
class Node:
    def __init__(self, n):
        self.n = n
        self.peer = None
def make_pairs(count):
    for i in range(count):
        a, b = Node(i), Node(i)
        a.peer = b; b.peer = a
def make_blocks(count):
    out = []
    for _ in range(count):
        out.append(bytes(1000))
    return out
make_pairs(1000)
KEPT = make_blocks(1500)
"""
# 300 objects that refer to themselves through a list, made at one line;
# the list's storage is made at the next, which makes no object; then a
# collection frees them all.
GROW = r"""
import gc
gc.disable()
class T:
    def __init__(self):
        self.kids = []
def grow(count):
    for _ in range(count):
        t = T()
        t.kids.append(t)
grow(300)
gc.collect()
"""

LINES = SCRIPT.splitlines()
PAIR_LINE = 1 + next(i for i, l in enumerate(LINES) if "a, b = Node(i)" in l)
BLOCKS_LINE = 1 + next(i for i, l in enumerate(LINES) if "out.append" in l)


def innermost_python(entry):
    for f in entry["stack"]:
        if f["language"] == "python":
            return f["function"], os.path.basename(f["file"]), f["line"]
    return None


class PythonSitesTest(PythonCase):
    prefix = "hg_pysites_"
    script_name = "alike.py"

    @classmethod
    def setUpClass(cls):
        cls.SCRIPT = SCRIPT
        super().setUpClass()

    def record(self, python):
        tag = os.path.basename(os.path.dirname(os.path.dirname(python)))
        cap = os.path.join(self.dir, tag + ".hgcap")
        r = hg("run", "-q", "-o", cap, "--", python, self.script, cwd=self.dir, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return cap

    @staticmethod
    def process(cap, *args):
        doc = report_json(cap, "-n", "100000", *args)
        procs = [p for p in doc["processes"] if p["python"]]
        assert len(procs) == 1, procs
        return doc, procs[0]

    @staticmethod
    def at(proc, function, line):
        return [s for s in proc["sites"] if innermost_python(s) == (function, "alike.py", line)]

    def test_one_site_per_reading(self):
        for py in self.pythons:
            with self.subTest(python=py):
                cap = self.record(py)
                doc, proc = self.process(cap)
                pairs = self.at(proc, "make_pairs", PAIR_LINE)
                self.assertEqual(sorted(s["allocations"] for s in pairs), [2000, 2000], pairs)
                self.assertIn(2000 * 56, [s["bytes"] for s in pairs])
                self.assertTrue(all("made_by" in s for s in pairs))
                self.assertNotEqual(pairs[0]["made_by"], pairs[1]["made_by"])
                blocks = self.at(proc, "make_blocks", BLOCKS_LINE)
                self.assertEqual(len(blocks), 2, blocks)
                self.assertIn((1500, 1500 * 1033), [(s["allocations"], s["bytes"]) for s in blocks])

                _, full = self.process(cap, "--interpreter-frames")
                raw = self.at(full, "make_pairs", PAIR_LINE)
                self.assertEqual(sorted(s["allocations"] for s in raw), [1000] * 4, raw)
                self.assertTrue(all("made_by" not in s for s in raw))

    def test_one_cycle_entry_per_line(self):
        for py in self.pythons:
            with self.subTest(python=py):
                cap = self.record(py)
                _, proc = self.process(cap)
                cycles = [(l["groups"], l["blocks"], innermost_python(l)) for l in proc["leaks"]
                          if l["kind"] == "cycle"]
                self.assertEqual(cycles, [(1000, 4000, ("make_pairs", "alike.py", PAIR_LINE))])
                lead = [s for s in self.at(proc, "make_pairs", PAIR_LINE) if s["bytes"] == 2000 * 56]
                self.assertEqual(proc["leaks"][0]["made_by"], lead[0]["made_by"])

                r = hg("report", "-p", "python3.11", cap)
                self.assertEqual(r.returncode, 0, r.stderr)
                entries = [l for l in r.stdout.splitlines() if l.lstrip().startswith("CYCLE")]
                self.assertEqual(len(entries), 1, entries)
                self.assertIn("(1000 cycles)", entries[0])

    def test_text_lines_read_apart(self):
        for py in self.pythons:
            with self.subTest(python=py):
                cap = self.record(py)
                r = hg("report", "-p", "python3.11", "--width", "120", "-n", "4", cap)
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = r.stdout.splitlines()
                start = lines.index(next(l for l in lines if "Top sites by number" in l))
                table = [l[40:] for l in lines[start + 2:start + 6]]
                pair_lines = [l for l in table if "make_pairs (alike.py:%d)" % PAIR_LINE in l]
                self.assertEqual(len(pair_lines), 2, table)
                self.assertEqual(len(set(pair_lines)), 2, table)
                self.assertTrue(all(l.rstrip().endswith("]") for l in pair_lines), table)

    def test_interpreter_sites_name_the_interpreter(self):
        for py in self.pythons:
            with self.subTest(python=py):
                cap = self.record(py)
                r = hg("report", "-p", "python3.11", "--width", "120", "-n", "30", cap)
                self.assertEqual(r.returncode, 0, r.stderr)
                sites = [l[40:].strip() for l in r.stdout.splitlines()
                         if l.startswith("  ") and l[2:12].strip().endswith(("B", "KiB", "MiB"))]
                self.assertGreater(len(sites), 60)
                entries = [l for l in sites if l.split(" ")[0] in ("_start", "main", "start_thread")]
                self.assertEqual(entries, [])


    def test_gc_lines_of_parts(self):
        grow = os.path.join(self.dir, "grow.py")
        with open(grow, "w") as f:
            f.write(GROW)
        line = 1 + next(i for i, l in enumerate(GROW.splitlines()) if "t.kids.append" in l)
        for py in self.pythons:
            with self.subTest(python=py):
                cap = os.path.join(self.dir, "grow.hgcap")
                r = hg("run", "-q", "-o", cap, "--", py, grow, cwd=self.dir, env=self.env)
                self.assertEqual(r.returncode, 0, r.stderr)
                text = hg("report", "-p", "python3.11", "--width", "200", cap).stdout
                self.assertRegex(text, r"grow \(grow\.py:%d\) < <module> made 300 blocks \([^)]*\) "
                                       r"of objects that only the garbage collector freed\n" % line)
                self.assertRegex(text, r"grow \(grow\.py:%d\) < <module> made 300 objects \(600 "
                                       r"blocks, [^)]*\) that only the garbage collector freed: "
                                       % (line - 1))


if __name__ == "__main__":
    unittest.main()
