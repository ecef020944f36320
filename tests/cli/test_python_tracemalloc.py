#!/usr/bin/env python3
"""heapgraph against a real peer: the standard library's tracemalloc, in the
same run. A script allocates known objects at known lines, takes a
tracemalloc snapshot (one frame per trace), stops tracemalloc and writes
its count and bytes per line of the script; at interpreter exit heapgraph
takes its snapshot, and its live blocks whose innermost Python frame is
that line must add up to the same, under each interpreter here and in
both allocator modes.

One systematic difference, explained and checked exactly: tracemalloc
interns a traceback for every distinct (line, stack depth) it records, a
24-byte block on 3.11 (hash, frame counts, one packed frame) allocated at
the allocation that first needs it, so under that line. tracemalloc.stop()
frees the table of tracebacks but not the tracebacks (3.8 to 3.12; 3.13
frees them): heapgraph sees them still live, with nothing pointing at them
(definite leaks). A line run in two frames (a comprehension and the
function around it) has two. So heapgraph's blocks at a line are
tracemalloc's plus those tracebacks, and its bytes 24 more per traceback.
Nothing else happens at these lines between the two snapshots: the script
collects before its snapshot, as heapgraph's exit snapshot does (class
Point leaves garbage behind that only the collector frees), through a
function of another file name made before tracing starts, and only then:
CPython makes a dict and strings for the gc.callbacks heapgraph adds, and
keeps the dict on its free list, under whatever line a collection starts
at. The tuple that build() returns comes from the interpreter's free list
(one is put there before tracing starts), so that line 17 allocates
nothing, whatever the runtime's own calls at start-up left there.
Standard library only."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import hg, python_interpreters, report_json  # noqa: E402

# Line numbers matter: TRACEBACKS names them.
SCRIPT = '''import gc, json, sys, tracemalloc
gc.disable(); collect = eval(compile("lambda: gc.collect()", "collect", "eval")); tuple(range(4))
tracemalloc.start(1)


class Point:
    def __init__(self, x):
        self.x = x
        self.tags = [x] * 4


def build():
    names = ["name-%d" % i for i in range(500)]
    points = [Point(i) for i in range(200)]
    table = {i: bytes(100 + i % 7) for i in range(300)}
    text = "-".join(names)
    return names, points, table, text


KEEP = build()
collect()
snap = tracemalloc.take_snapshot()
tracemalloc.stop()
lines = {}
for s in snap.statistics("lineno"):
    frame = s.traceback[0]
    if frame.filename == __file__:
        lines[frame.lineno] = [s.count, s.size]
with open(sys.argv[1], "w") as f:
    json.dump(lines, f)
'''

# tracemalloc's interned tracebacks per line: one per stack depth the line
# allocated at (13-15 run in build and in their comprehension's frame).
TRACEBACKS = {6: 1, 7: 1, 9: 1, 12: 1, 13: 2, 14: 2, 15: 2, 16: 1}
TRACEBACK_SIZE = 24
LINES = range(6, 17)    # class Point and build()


class TracemallocPeerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.script = os.path.join(cls.dir, "peer.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)
        cls.pythons = python_interpreters()
        assert cls.pythons, "no Python interpreter to test with"
        cls.env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def line_of(self, entry):
        """The script's line an entry was allocated at (its innermost Python
        frame), None for another file or a native-only stack."""
        py = [f for f in entry["stack"] if f.get("language") == "python"]
        return py[0]["line"] if py and py[0]["file"] == self.script else None

    def per_line(self, proc):
        """Live blocks and bytes at the exit snapshot per line of class Point
        and build(), whatever their class."""
        lines = {}
        for e in proc["leaks"]:
            line = self.line_of(e)
            if line in LINES:
                got = lines.setdefault(line, [0, 0])
                got[0] += e["blocks"]
                got[1] += e["bytes"]
        return lines

    def compare(self, python, mode):
        tag = "%s-%s" % (os.path.basename(os.path.dirname(os.path.dirname(python))), mode)
        cap = os.path.join(self.dir, tag + ".hgcap")
        out = os.path.join(self.dir, tag + ".json")
        r = hg("run", "-q", "-o", cap, "--python-allocator=" + mode, "--", python, self.script, out,
               cwd=self.dir, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            peer = {int(k): v for k, v in json.load(f).items()}
        self.assertEqual(sorted(peer), sorted(TRACEBACKS))
        proc = report_json(cap, "--show-reachable")["processes"][0]
        self.assertEqual(proc["python"]["allocator"], mode)
        want = {k: [n + TRACEBACKS[k], size + TRACEBACK_SIZE * TRACEBACKS[k]]
                for k, (n, size) in peer.items()}
        self.assertEqual(self.per_line(proc), want)
        # the tracebacks are the definite blocks there (a stale word may hold
        # one); the program's own objects are all held
        definite = [e for e in proc["leaks"] if e["kind"] == "definite" and self.line_of(e) in LINES]
        self.assertTrue(all(e["bytes"] == TRACEBACK_SIZE * e["blocks"] for e in definite))
        self.assertLessEqual(sum(e["blocks"] for e in definite), sum(TRACEBACKS.values()))

    def test_lines_match(self):
        for py in self.pythons:
            for mode in ("malloc", "pymalloc"):
                with self.subTest(python=py, mode=mode):
                    self.compare(py, mode)


if __name__ == "__main__":
    unittest.main()
