#!/usr/bin/env python3
"""Python objects in the exit snapshot, under each interpreter here (pyenv's
python3 with a shared libpython, Debian's static python3.11), every object
its own block (PYTHONMALLOC=malloc), with exact values:
- with gc.disable(), 50 pairs of Node objects that point at each other are
  50 cycles of 2 Node objects joined by Node.peer, each member with
  reference count 1, all from the cycle; a list that contains itself is a
  cycle of 1 list closed by list[3]; both pending (the collector would
  free them) and nothing else is lost;
- a pointer 3 bytes into a pair's inline values, from memory the program
  mapped, leaves the pair a cycle (it is no reference CPython has), not
  "possible";
- the address of a pair's Node written into the code units of a code object
  built into the interpreter's data leaves the pair a cycle (code units are
  no reference; as bytecode they read as heap addresses in Debian's
  non-PIE python3.11);
- a tree of 13 nodes whose children point at their parent, dropped whole,
  is one cycle of its 13 nodes and its 4 non-empty child lists, the 9 empty
  lists of the leaves indirect;
- a class with __del__ in a cycle is a pending cycle whose members have a
  finalizer; with the collector enabled it is freed before the exit
  snapshot (no cycle left);
- the 50 pairs and the list, found by the collector but kept in gc.garbage
  (gc.DEBUG_SAVEALL), are no cycle: the snapshot counts 101 objects in
  gc.garbage and the pairs' 200 blocks are reachable, each held through it;
- the 50 pairs are made at make_pair (pairs.py:8);
- a module global holds its object as `__main__.CACHE[1]`, a local of a
  thread blocked at exit as `rows[0]` in its function; a class attribute,
  a closure's cell and a module only in sys.modules each hold theirs as
  `Registry.ITEMS[0]`, `__main__.counter.__closure__[0].cell_contents` and
  `plugin.blob`.
Standard library only."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import PythonCase, hg, report_json  # noqa: E402

NODES = r"""
import gc
gc.disable()
class Node:
    def __init__(self):
        self.peer = None
def make_pair():
    a = Node(); b = Node()
    a.peer = b; b.peer = a
"""

PAIRS = NODES + r"""for i in range(50):
    make_pair()
l = [1, 2, 3]
l.append(l)
del l
"""

# A pointer 3 bytes into a Node's inline values, from memory the program
# mapped, points at no reference CPython has: the pair stays a cycle.
INTERIOR = NODES + r"""import ctypes, mmap
make_pair()
a = next(o for o in gc.get_objects() if type(o) is Node)
values = ctypes.c_void_p.from_address(id(a) - 32).value  # 3.11: four words before
page = mmap.mmap(-1, 4096)
ctypes.c_void_p.from_buffer(page).value = values + 3
del a
"""

# The address of a pair's Node written into the code units of a code
# object built into the interpreter's data (__hello__.main, frozen and never
# run): code units are no references, so the pair stays a cycle.
FROZEN = NODES + r"""import ctypes, __hello__
make_pair()
a = next(o for o in gc.get_objects() if type(o) is Node)
code = __hello__.main.__code__
units = id(code) + ctypes.string_at(id(code), 512).find(code.co_code)
word = units + (-units % 8)
assert units > id(code) and word + 8 <= units + len(code.co_code)
ctypes.c_void_p.from_address(word).value = id(a)
del a
"""

TREE = r"""
import gc
gc.disable()
class T:
    def __init__(self, parent):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)
def tree(depth, parent=None):
    node = T(parent)
    if depth:
        for _ in range(3):
            tree(depth - 1, node)
    return node
tree(2)
"""

FINALIZER = r"""
import gc, sys
if sys.argv[1] == "off":
    gc.disable()
class F:
    def __del__(self):
        pass
def make():
    a = F(); b = F()
    a.other = b; b.other = a
for i in range(7):
    make()
"""

# the pairs and the list above, found by the collector and kept in gc.garbage
SAVED = PAIRS.replace("gc.disable()", "gc.disable()\ngc.set_debug(gc.DEBUG_SAVEALL)") + "gc.collect()\n"

HELD = r"""
import threading
CACHE = [0, bytes(123457)]
ready, stop = threading.Event(), threading.Event()
def worker():
    rows = [bytes(123458)]
    ready.set()
    stop.wait()
threading.Thread(target=worker, daemon=True).start()
ready.wait()
"""

KEPT = r"""
class Registry:
    ITEMS = [bytes(200001)]
def make_counter():
    data = bytes(200002)
    def get():
        return data
    return get
counter = make_counter()
import sys, types
m = types.ModuleType("plugin")
m.blob = bytes(200003)
sys.modules["plugin"] = m
del m
"""


class PythonObjectsTest(PythonCase):
    prefix = "hg_pyobj_"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["PYTHONMALLOC"] = "malloc"

    def record(self, python, name, source, *args):
        script = os.path.join(self.dir, name + ".py")
        with open(script, "w") as f:
            f.write(source)
        tag = os.path.basename(os.path.dirname(os.path.dirname(python))) + "-" + name
        cap = os.path.join(self.dir, tag + "-".join(args) + ".hgcap")
        r = hg("run", "-q", "-o", cap, "--", python, script, *args, cwd=self.dir, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        procs = report_json(cap, "--show-reachable")["processes"]
        self.assertEqual(len(procs), 1)
        return procs[0]

    @staticmethod
    def groups(proc):
        return [{k: g[k] for k in ("cycles", "objects", "types", "labels", "state")}
                for g in proc["python_cycles"]]

    def test_pairs_and_self_list(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "pairs", PAIRS)
                self.assertEqual(self.groups(proc), [
                    {"cycles": 50, "objects": 2, "types": "Node", "labels": "Node.peer",
                     "state": "pending"},
                    {"cycles": 1, "objects": 1, "types": "list", "labels": "list[3]",
                     "state": "pending"}])
                top = proc["python_cycles"][0]["stack"][0]
                self.assertEqual((top["function"], os.path.basename(top["file"]), top["line"]),
                                 ("make_pair", "pairs.py", 8))
                s = proc["summary"]
                self.assertEqual((s["definite"]["blocks"], s["possible"]["blocks"],
                                  s["indirect"]["blocks"]), (0, 0, 0))
                # each pair: two Node objects and their two blocks of inline values
                self.assertEqual(s["cycle"]["blocks"], 50 * 4 + 2)
                nodes = [m["python"] for c in proc["cycles"] for m in c["members"]
                         if m["type"] == "Node"]
                self.assertEqual(len(nodes), 100)
                self.assertTrue(all(n["refcount"] == 1 and n["refs_from_cycle"] == 1 and
                                    not n["finalizer"] for n in nodes))

    def test_pointer_inside_owned_block(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "interior", INTERIOR)
                self.assertEqual(self.groups(proc), [
                    {"cycles": 1, "objects": 2, "types": "Node", "labels": "Node.peer",
                     "state": "pending"}])
                s = proc["summary"]
                self.assertEqual((s["cycle"]["blocks"], s["possible"]["blocks"]), (4, 0))

    def test_pointer_in_frozen_code(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "frozen", FROZEN)
                self.assertEqual(self.groups(proc), [
                    {"cycles": 1, "objects": 2, "types": "Node", "labels": "Node.peer",
                     "state": "pending"}])
                s = proc["summary"]
                self.assertEqual((s["cycle"]["blocks"], s["possible"]["blocks"]), (4, 0))

    def test_tree(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "tree", TREE)
                self.assertEqual(self.groups(proc), [
                    {"cycles": 1, "objects": 17, "types": "T, list",
                     "labels": "T.children, T.parent, list[0], list[1], list[2]",
                     "state": "pending"}])
                s = proc["summary"]
                # 13 nodes, their inline values, 4 lists and their items
                self.assertEqual(s["cycle"]["blocks"], 13 * 2 + 4 * 2)
                self.assertEqual(s["indirect"]["blocks"], 9)
                self.assertEqual((s["definite"]["blocks"], s["possible"]["blocks"]), (0, 0))

    def test_finalizer(self):
        for py in self.pythons:
            with self.subTest(python=py):
                off = self.record(py, "finalizer", FINALIZER, "off")
                self.assertEqual(self.groups(off), [
                    {"cycles": 7, "objects": 2, "types": "F", "labels": "F.other",
                     "state": "pending"}])
                members = [m["python"] for c in off["cycles"] for m in c["members"]
                           if m["type"] == "F"]
                self.assertEqual(len(members), 14)
                self.assertTrue(all(m["finalizer"] for m in members))
                on = self.record(py, "finalizer", FINALIZER, "on")
                self.assertEqual(on["python_cycles"], [])
                self.assertEqual(on["summary"]["cycle"], {"blocks": 0, "bytes": 0})

    def test_gc_garbage(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "saved", SAVED)
                self.assertEqual(proc["python_cycles"], [])
                self.assertEqual(proc["snapshots"][-1]["python"]["gc_garbage"], 101)
                made = [e for e in proc["leaks"]
                        if e["stack"] and e["stack"][0]["function"] == "make_pair"]
                self.assertEqual(sum(e["blocks"] for e in made), 200)
                self.assertEqual({e["kind"] for e in made}, {"reachable"})
                self.assertEqual({e["retained_by"]["python"]["holder"] for e in made},
                                 {"gc.garbage"})

    @staticmethod
    def reachable_at(proc, line, size):
        """The reachable entry of `size` bytes made at held.py:line."""
        found = [e for e in proc["leaks"] if e["kind"] == "reachable" and e["stack"] and
                 os.path.basename(e["stack"][0]["file"] or "") == "held.py" and
                 e["stack"][0]["line"] == line and e["bytes"] == size]
        assert len(found) == 1, found
        return found[0]["retained_by"]

    def test_held(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "held", HELD)
                # a bytes object of n bytes is a block of n + 33
                cache = self.reachable_at(proc, 3, 123457 + 33)
                # the whole entry on failure: a C global's symbol and module
                self.assertEqual(cache["python"], {"holder": "module global",
                                                   "expression": "__main__.CACHE[1]"}, cache)
                rows = self.reachable_at(proc, 6, 123458 + 33)
                self.assertEqual(rows["kind"], "python_frame")
                self.assertEqual(rows["python"]["expression"], "rows[0]")
                self.assertTrue(rows["python"]["holder"].startswith(
                    "local variable in worker (held.py:5), thread "), rows["python"])

    def test_kept(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "kept", KEPT)
                holders = [(self.kept_by(proc, 3, 200001), "class attribute",
                            "Registry.ITEMS[0]"),
                           (self.kept_by(proc, 5, 200002), "module global",
                            "__main__.counter.__closure__[0].cell_contents"),
                           (self.kept_by(proc, 12, 200003), "module global", "plugin.blob")]
                for by, holder, expression in holders:
                    self.assertEqual(by["kind"], "global")
                    self.assertEqual(by["python"], {"holder": holder, "expression": expression}, by)

    @staticmethod
    def kept_by(proc, line, n):
        """What holds the bytes object of n bytes (a block of n + 33) made at kept.py:line."""
        found = [e for e in proc["leaks"] if e["kind"] == "reachable" and e["stack"] and
                 os.path.basename(e["stack"][0]["file"] or "") == "kept.py" and
                 e["stack"][0]["line"] == line and e["bytes"] == n + 33]
        assert len(found) == 1, found
        return found[0]["retained_by"]


if __name__ == "__main__":
    unittest.main()
