#!/usr/bin/env python3
"""Python frames in every output and gate, under each interpreter here: a
script whose functions leak C blocks through ctypes (5 x 1 MiB in
leak_some, 3 x 1 MiB in Cache.fill) shows those functions, with file and
line, in the text, JSON, HTML and folded-stack reports; suppressions name a
Python function (LeakSanitizer `leak:` and valgrind `fun:`) or file (`leak:`
and `src:FILE:LINE`); a baseline keeps its leaks by Python function, so a
later run of the script with one more leaking function (and its lines
moved) fails --new-leaks-only on exactly that function; `diff` names it.
Standard library only."""
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import compile_libleak, hg, python_interpreters, report_json  # noqa: E402


SCRIPT = """import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])

def leak_some():
    lib.leak(5, 1 << 20)

class Cache:
    def fill(self):
        lib.leak(3, 1 << 20)

leak_some()
Cache().fill()
"""

# The same functions two lines further down, and one more that leaks.
SCRIPT_MORE = "# a comment\n# and another\n" + SCRIPT + """
def more():
    lib.leak(2, 1 << 20)

more()
"""

MIB = 1 << 20


class PythonOutputsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.lib = compile_libleak(cls.dir)
        cls.pythons = python_interpreters()
        assert cls.pythons, "no Python interpreter to test with"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
        cls.caps = {}
        for py in cls.pythons:
            tag = os.path.basename(os.path.dirname(os.path.dirname(py)))
            for name, source in (("leaky", SCRIPT), ("leaky_more", SCRIPT_MORE)):
                script = os.path.join(cls.dir, name + ".py")
                with open(script, "w") as f:
                    f.write(source)
                cap = os.path.join(cls.dir, "%s-%s.hgcap" % (tag, name))
                r = hg("run", "-q", "-o", cap, "--", py, script, cls.lib, cwd=cls.dir, env=env)
                assert r.returncode == 0, r.stderr
                cls.caps[py, name] = cap

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def each(self, check):
        for py in self.pythons:
            with self.subTest(python=py):
                check(py, self.caps[py, "leaky"], self.caps[py, "leaky_more"])

    def test_text(self):
        def check(py, cap, _):
            text = hg("report", "--stack-depth", "12", cap).stdout
            self.assertIn("DEFINITE  5.0 MiB in 5 blocks", text)
            self.assertRegex(text, r"#\d+ +leak_some \(leaky\.py:5\)\n +#\d+ +<module> \(leaky\.py:11\)")
            self.assertRegex(text, r"#\d+ +Cache\.fill \(leaky\.py:9\)\n +#\d+ +<module> \(leaky\.py:12\)")
        self.each(check)

    def test_json(self):
        def check(py, cap, _):
            proc = report_json(cap)["processes"][0]
            self.assertEqual(proc["summary"]["definite"], {"blocks": 8, "bytes": 8 * MIB})
            got = {}
            for e in proc["leaks"]:
                if e["kind"] == "definite":
                    py_frames = [(f["function"], os.path.basename(f["file"]), f["line"])
                                 for f in e["stack"] if f.get("language") == "python"]
                    got[e["blocks"]] = py_frames
            self.assertEqual(got, {5: [("leak_some", "leaky.py", 5), ("<module>", "leaky.py", 11)],
                                   3: [("Cache.fill", "leaky.py", 9), ("<module>", "leaky.py", 12)]})
        self.each(check)

    def test_folded_and_html(self):
        def check(py, cap, _):
            folded = hg("report", "-f", "collapsed", "--metric", "leaked", cap).stdout.splitlines()
            roots = sorted((line.split(";")[:2], line.rsplit(" ", 1)[1]) for line in folded)
            self.assertEqual(roots, [(["<module>", "Cache.fill"], str(3 * MIB)),
                                     (["<module>", "leak_some"], str(5 * MIB))])
            html = os.path.join(self.dir, "out.html")
            r = hg("report", "-f", "html", "-o", html, cap)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(html) as f:
                page = f.read()
            for name in ("leak_some", "Cache.fill", "leaky.py"):
                self.assertIn(name, page)
        self.each(check)

    def suppressed(self, cap, text):
        supp = os.path.join(self.dir, "py.supp")
        with open(supp, "w") as f:
            f.write(text)
        r = hg("check", "--suppressions", supp, cap)
        m = re.search(r"max-leaked +(\d+) B", r.stdout)
        self.assertTrue(m, r.stdout + r.stderr)
        return 8 * MIB - int(m.group(1)), r.returncode

    def test_suppressions(self):
        def check(py, cap, _):
            fun = "{\n py\n Memcheck:Leak\n ...\n fun:Cache.fill\n}\n"
            src = "{\n py\n Memcheck:Leak\n ...\n src:leaky.py:5\n}\n"
            self.assertEqual(self.suppressed(cap, "leak:leak_some\n"), (5 * MIB, 1))
            self.assertEqual(self.suppressed(cap, fun), (3 * MIB, 1))
            self.assertEqual(self.suppressed(cap, src), (5 * MIB, 1))
            self.assertEqual(self.suppressed(cap, "leak:leaky.py\n"), (8 * MIB, 0))
        self.each(check)

    def test_baseline_and_diff(self):
        def check(py, cap, cap_more):
            base = os.path.join(self.dir, "base.json")
            r = hg("check", "--write-baseline", base, cap)
            self.assertIn(r.returncode, (0, 1), r.stderr)
            # Tens of thousands of sites 40 frames deep: 316 MB with stacks
            # written in full, a few MB as a tree of call paths.
            self.assertLess(os.path.getsize(base), 16 << 20)
            self.assertEqual(hg("check", "--baseline", base, "--new-leaks-only", cap).returncode, 0)
            r = hg("check", "--baseline", base, "--new-leaks-only", cap_more)
            self.assertEqual(r.returncode, 1)
            self.assertIn("new-leaks            1 sites (%d B)" % (2 * MIB), r.stdout)
            self.assertRegex(r.stdout, r"#\d+ more \S*leaky_more\.py:17")
            d = hg("diff", cap, cap_more).stdout
            self.assertRegex(d, r"new +definite +0 B in 0 blocks -> %d B in 2 blocks" % (2 * MIB))
            self.assertRegex(d, r"#\d+ more \S*leaky_more\.py:17")
        self.each(check)


if __name__ == "__main__":
    unittest.main()
