#!/usr/bin/env python3
"""Python processes under `heapgraph run`, each interpreter here (pyenv's
python3 with a shared libpython, Debian's static python3.11), in both
allocator modes: the default (`PYTHONMALLOC=malloc`, every object its own
block) and `--python-allocator=pymalloc` (the interpreter's own allocator,
every object recorded through the runtime's wrappers). The report says
which mode was used (`python.allocator`).

The exit snapshot is taken while the interpreter is whole (from an atexit
callback, before finalisation):
- `-c pass` and a script using json, re, collections, csv, dataclasses,
  asyncio and threading report 0 definite, 0 possible, 0 cycle blocks;
- a module global is in the snapshot, reachable (after finalisation it
  would be gone), while 10 blocks that C code called through ctypes leaks
  are exactly 10 definite blocks of 1 MiB;
- a daemon thread still running at exit (a bytes object only its Python
  frame holds is reachable) and sys.exit in a thread change nothing; after
  os._exit there is no exit snapshot.
A PYTHONMALLOC the user set is left alone (and named in the report);
--python-allocator=pymalloc refuses one it would have to override.
Standard library only."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import compile_libleak, hg, python_interpreters, report_json  # noqa: E402
import jsonschema_lite  # noqa: E402

with open(os.path.join(os.environ.get("HG_SOURCE_DIR", "."), "docs", "report.schema.json")) as _f:
    _SCHEMA = json.load(_f)
# the schema of a process's "python" (a whole Python report is too big to check quickly)
PYTHON_SCHEMA = dict(_SCHEMA["$defs"]["process"]["properties"]["python"], **{"$defs": _SCHEMA["$defs"]})

WORKLOAD = r"""
import asyncio, collections, csv, dataclasses, io, json, re, threading

@dataclasses.dataclass
class Row:
    name: str
    count: int
    tags: list

def to_csv(items):
    buf = io.StringIO()
    w = csv.writer(buf)
    for r in items:
        w.writerow([r.name, r.count, ";".join(r.tags)])
    return buf.getvalue()

items = [Row(f"item{i}", i, [f"t{i % 7}", f"u{i % 3}"]) for i in range(2000)]
text = json.dumps([dataclasses.asdict(r) for r in items])
back = json.loads(text)
words = collections.Counter(re.findall(r"t\d", text))
table = list(csv.reader(io.StringIO(to_csv(items))))
groups = collections.defaultdict(list)
for row in table:
    groups[row[2]].append(row[0])
results = []
threads = [threading.Thread(target=lambda k=k: results.append(len(groups[k]))) for k in groups]
for t in threads:
    t.start()
for t in threads:
    t.join()

async def job(i):
    await asyncio.sleep(0)
    return json.dumps({"i": i, "w": words.most_common(2)})

async def main():
    return await asyncio.gather(*(job(i) for i in range(50)))

out = asyncio.run(main())
assert len(back) == 2000 and sum(results) == 2000 and len(out) == 50
"""

# A daemon thread still running at exit, and sys.exit in a thread (which
# ends that thread only), must not change the verdict.
THREADS_AT_EXIT = r"""
import sys, threading, time
ready = threading.Event()
def spin():
    held = [str(i) * 3 for i in range(1000)]
    data = b"y" * 123321        # held only by this frame: the collector does not track bytes
    ready.set()
    while True:
        time.sleep(0.01)
threading.Thread(target=spin, daemon=True).start()
ready.wait()
def leave():
    keep = [bytes(100) for _ in range(10)]
    sys.exit(3)
t = threading.Thread(target=leave)
t.start()
t.join()
"""

# 10 blocks of 1 MiB that C code leaks (their addresses never reach Python),
# called through ctypes; a module global that stays reachable (its
# 123457-byte buffer would be gone after finalisation). The blocks are big
# enough for malloc to map each one afresh: a smaller block may reuse memory
# that a live object still points into with a stale field, which the
# conservative scan takes for a reference (it did, once in a few runs).
KEEP_AND_LEAK = r"""
import ctypes, sys
KEEP = bytearray(123456)
ctypes.CDLL(sys.argv[1]).leak(10, 1 << 20)
"""

OS_EXIT = r"""
import os
x = [str(i) for i in range(100)]
os._exit(0)
"""

ZERO = {"blocks": 0, "bytes": 0}
MODES = {"malloc": [], "pymalloc": ["--python-allocator=pymalloc"]}


class PythonExitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.pythons = python_interpreters()
        assert cls.pythons, "no Python interpreter to test with"
        cls.env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
        cls.libleak = compile_libleak(cls.dir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def record(self, python, mode, name, source, args=(), *report_args, env=None):
        """Records `python script args` (`python args` when source is None)
        in an allocator mode; returns the one process's JSON report."""
        argv = list(args)
        if source is not None:
            script = os.path.join(self.dir, name + ".py")
            with open(script, "w") as f:
                f.write(source)
            argv.insert(0, script)
        tag = "%s-%s-%s" % (os.path.basename(os.path.dirname(os.path.dirname(python))), mode, name)
        cap = os.path.join(self.dir, tag + ".hgcap")
        r = hg("run", "-q", "-o", cap, *MODES[mode], "--", python, *argv, cwd=self.dir,
               env=env or self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        procs = report_json(cap, *report_args)["processes"]
        self.assertEqual(len(procs), 1)
        return procs[0]

    def each(self, check):
        """Runs check(python, mode) for every interpreter and allocator mode."""
        for py in self.pythons:
            for mode in MODES:
                with self.subTest(python=py, mode=mode):
                    check(py, mode)

    def assert_clean(self, proc, mode):
        s = proc["summary"]
        self.assertEqual(proc["python"]["allocator"], mode)
        self.assertTrue(proc["snapshot"])
        self.assertEqual((s["definite"], s["cycle"], s["indirect"], s["possible"]),
                         (ZERO, ZERO, ZERO, ZERO))
        # taken before finalisation: the interpreter's objects are still there
        self.assertGreater(s["reachable"]["blocks"], 5000)

    def test_pass(self):
        self.each(lambda py, mode: self.assert_clean(
            self.record(py, mode, "pass", None, ["-c", "pass"]), mode))

    def test_workload(self):
        def check(py, mode):
            proc = self.record(py, mode, "workload", WORKLOAD)
            self.assert_clean(proc, mode)
            self.assertEqual(jsonschema_lite.validate(proc["python"], PYTHON_SCHEMA), [])
        self.each(check)

    def test_global_kept_and_ctypes_leak(self):
        def check(py, mode):
            proc = self.record(py, mode, "keep", KEEP_AND_LEAK, [self.libleak], "--show-reachable")
            s = proc["summary"]
            self.assertEqual(s["definite"], {"blocks": 10, "bytes": 10 << 20})
            self.assertEqual((s["cycle"], s["indirect"], s["possible"]), (ZERO, ZERO, ZERO))
            kept = [e for e in proc["leaks"] if e["bytes"] == 123457]
            self.assertEqual([(e["kind"], e["blocks"]) for e in kept], [("reachable", 1)])
        self.each(check)

    def test_threads_at_exit(self):
        def check(py, mode):
            proc = self.record(py, mode, "threads", THREADS_AT_EXIT, (), "--show-reachable")
            self.assertEqual(proc["exit"], {"status": 0})
            self.assert_clean(proc, mode)
            data = [e["kind"] for e in proc["leaks"] if 123321 < e["bytes"] < 123321 + 100]
            self.assertEqual(data, ["reachable"])
        self.each(check)

    def test_os_exit_takes_no_snapshot(self):
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "malloc", "os_exit", OS_EXIT)
                self.assertFalse(proc["snapshot"])
                self.assertEqual(proc["snapshots"], [])

    def test_user_allocator_is_kept(self):
        env = dict(self.env, PYTHONMALLOC="pymalloc")
        for py in self.pythons:
            with self.subTest(python=py):
                proc = self.record(py, "malloc", "user", None, ["-c", "pass"], env=env)
                self.assertEqual(proc["python"]["allocator"], "pymalloc-unrecorded")
                cap = [f for f in os.listdir(self.dir) if f.endswith("-malloc-user.hgcap")]
                text = hg("report", os.path.join(self.dir, sorted(cap)[-1])).stdout
                line = "  python     %s; allocator pymalloc: objects inside its arenas not recorded"
                self.assertIn(line % proc["python"]["version"], text.splitlines())
        r = hg("run", "-q", "--python-allocator=pymalloc", "--", "true",
               env=dict(self.env, PYTHONMALLOC="malloc"))
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.splitlines()[0], "heapgraph: --python-allocator=pymalloc: "
                         "PYTHONMALLOC=malloc is set; unset it to keep the interpreter's own allocator")


if __name__ == "__main__":
    unittest.main()
