#!/usr/bin/env python3
"""What Python's cyclic garbage collector did while the process was
recorded, under each interpreter here and in both allocator modes, with the
collector disabled so that only the script's own gc.collect() calls
collect (and the exit snapshot's collection does nothing):
- the collections per generation, and the objects collected and
  uncollectable, equal gc.get_stats() at the end of the script (the runtime
  counts what came before it was installed, then every collection);
- the last two collections are the script's: a full one that found what
  gc.collect() returned, then one of generation 0 that found 50 objects;
- 40 objects that each refer to themselves, made at one line and freed by
  gc.collect(), are 40 objects (and as many blocks of inline values, made
  there too) that only the collector freed at that line; 25 pairs made at
  another line and freed by gc.collect(0) are 50 objects there;
- the text report says so, per line;
- the exit snapshot says how long it took (within the process's life);
- 200 self-referring objects made at one line, each holding a bytearray
  whose 24-byte buffer malloc puts right before a str of five letters made
  there too: the strs, freed just before gc.collect(), give the "start"
  string CPython makes to call the callbacks a block 32 bytes after a
  buffer that the collector frees; the collector freed 200 objects and 600
  blocks at that line (598 or 599 in malloc mode when the runtime took a
  buffer's free for the string's).
Standard library only."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import PythonCase, hg, report_json  # noqa: E402

# Line numbers matter: BOX_LINE and PAIR_LINE name them.
SCRIPT = """import gc, json, sys
gc.disable()
class Box:
    pass
def boxes(n):
    for _ in range(n):
        b = Box()
        b.me = b
class Pair:
    pass
def pairs(n):
    for _ in range(n):
        a = Pair(); b = Pair()
        a.peer = b; b.peer = a
boxes(40)
full = gc.collect()
pairs(25)
young = gc.collect(0)
stats = gc.get_stats()
with open(sys.argv[1], "w") as f:
    json.dump({"full": full, "young": young, "stats": stats}, f)
"""
BOX_LINE, PAIR_LINE = 7, 13

# NODE_LINE makes a Node, its bytearray and its buffer, then a str as long
# as "start" (so of its size in every version): once `spent` has used up
# the free blocks of those sizes, one after the other in fresh memory.
# Deleting `words` frees the strs last first, so that the blocks malloc
# hands out next (last in, first out) are those of the last nodes made,
# each right after a buffer.
NEIGHBOURS = """import gc
gc.disable()
class Node:
    __slots__ = ("me", "buf")
WORDS = "abcdefghijklmnopqrstuvwxyz" * 10
def nodes(n, words):
    for i in range(n):
        a = Node(); a.me = a; a.buf = bytearray(8); words[i] = WORDS[i:i + 5]
spent = [bytearray(8) for _ in range(4000)], [WORDS[i % 200:i % 200 + 5] for i in range(4000)]
words = [None] * 200
nodes(200, words)
del words
gc.collect()
"""
NODE_LINE = 8


class PythonGcTest(PythonCase):
    prefix = "hg_pygc_"
    script_name = "gcwork.py"
    SCRIPT = SCRIPT

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.neighbours = os.path.join(cls.dir, "neighbours.py")
        with open(cls.neighbours, "w") as f:
            f.write(NEIGHBOURS)

    def record(self, python, mode, script):
        tag = "%s-%s-%s" % (os.path.basename(os.path.dirname(os.path.dirname(python))), mode,
                            os.path.basename(script))
        cap = os.path.join(self.dir, tag + ".hgcap")
        out = os.path.join(self.dir, tag + ".json")
        r = hg("run", "-q", "-o", cap, "--python-allocator=" + mode, "--", python, script,
               out, cwd=self.dir, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return cap, out

    @staticmethod
    def freed_at(proc, script, line):
        """Objects and blocks the collector freed, made at script:line."""
        objects = blocks = 0
        for s in proc["sites"]:
            py = [f for f in s["stack"] if f.get("language") == "python"]
            if py and py[0]["file"] == script and py[0]["line"] == line:
                objects += s["gc_freed_objects"]
                blocks += s["gc_freed"]
        return objects, blocks

    def check(self, python, mode):
        cap, out = self.record(python, mode, self.script)
        with open(out) as f:
            peer = json.load(f)
        proc = report_json(cap, "--top", "100000")["processes"][0]
        gc = proc["gc"]
        stats = peer["stats"]
        for key in ("collections", "collected", "uncollectable"):
            self.assertEqual(gc[key], [s[key] for s in stats], key)
        events = gc["events"]
        recorded = [sum(1 for e in events if e["generation"] == g) for g in range(3)]
        self.assertEqual(recorded, [gc["collections"][g] - gc["collections_before"][g]
                                    for g in range(3)])
        self.assertEqual([(e["generation"], e["collected"], e["uncollectable"])
                          for e in events[-2:]], [(2, peer["full"], 0), (0, 50, 0)])
        self.assertEqual(peer["young"], 50)
        self.assertEqual(self.freed_at(proc, self.script, BOX_LINE), (40, 80))
        self.assertEqual(self.freed_at(proc, self.script, PAIR_LINE), (50, 100))
        snap = proc["snapshots"][-1]
        self.assertGreater(snap["duration_us"], 0)
        self.assertLessEqual(snap["time_us"] + snap["duration_us"], proc["end_us"])
        text = hg("report", cap).stdout
        self.assertRegex(text, r"boxes \(gcwork\.py:%d\) < <module> made 40 objects \(80 blocks, "
                         r"[^)]*\) that only the garbage\s+collector freed" % BOX_LINE)
        self.assertRegex(text, r"pairs \(gcwork\.py:%d\) < <module> made 50 objects \(100 blocks, "
                         % PAIR_LINE)

    def test_collections(self):
        self.each_python_and_allocator(self.check)

    def check_neighbours(self, python, mode):
        cap, _ = self.record(python, mode, self.neighbours)
        proc = report_json(cap, "--top", "100000")["processes"][0]
        self.assertEqual(self.freed_at(proc, self.neighbours, NODE_LINE), (200, 600))

    def test_block_before_a_handed_string(self):
        self.each_python_and_allocator(self.check_neighbours)


if __name__ == "__main__":
    unittest.main()
