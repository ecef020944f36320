#!/usr/bin/env python3
"""docs/ci.md's pytest gate, run as the page shows it: its conftest.py (the
collector off) and its suppression file for pytest's own cycles, taken from
the page itself, with Debian's python3 and python3-pytest, on a suite of two
clean tests and one that leaves two objects referring to each other:
`heapgraph run --check --max-cycles 0` exits 1 with exactly one cycle, made
by that test at its line and explained as 2 Node objects joined by
Node.peer; without that test it exits 0. Skipped when python3-pytest is not
installed (dev.sh installs it). Standard library only."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import hg, report_json  # noqa: E402

PYTHON = "/usr/bin/python3"
DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "ci.md")
SECTION = "## pytest: a test that leaks a reference cycle"

CLEAN = """def test_sum():
    assert sum([1, 2, 3]) == 6


def test_dict():
    d = {"a": 1}
    d["b"] = 2
    assert sorted(d) == ["a", "b"]
"""

CYCLE = """class Node:
    def __init__(self):
        self.peer = None


def test_pair():
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    assert a.peer.peer is a
"""


def doc_block(first_line):
    """The indented block of the page's pytest section that starts with
    first_line, without its indentation."""
    with open(DOC) as f:
        text = f.read()
    lines = text[text.index(SECTION):].split("\n")
    start = lines.index("    " + first_line)
    block = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip() + "\n"


def have_pytest():
    return os.access(PYTHON, os.X_OK) and subprocess.run(
        [PYTHON, "-c", "import pytest"], capture_output=True).returncode == 0


@unittest.skipUnless(have_pytest(), "no python3-pytest for " + PYTHON)
class CiPytestTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="hg_pytest_")
        self.dir = self.tmp.name
        self.supp = os.path.join(self.dir, "pytest.supp")
        with open(self.supp, "w") as f:
            f.write(doc_block("# ci/pytest.supp: pytest's own reference cycles, by the file of the"))
        self.tests = os.path.join(self.dir, "tests")
        os.mkdir(self.tests)
        self.write("conftest.py", doc_block("# tests/conftest.py"))
        self.write("test_clean.py", CLEAN)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        with open(os.path.join(self.tests, name), "w") as f:
            f.write(text)

    def gate(self):
        cap = os.path.join(self.dir, "pytest.hgcap")
        r = hg("run", "-q", "-o", cap, "--check", "--max-cycles", "0", "--suppressions", self.supp,
               "--", PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/", cwd=self.dir)
        return r, cap

    def test_conftest_from_the_page(self):
        conftest = doc_block("# tests/conftest.py")
        self.assertIn("gc.disable()", conftest)

    def test_leaked_cycle_fails(self):
        self.write("test_cycle.py", CYCLE)
        r, cap = self.gate()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("3 passed", r.stdout)
        self.assertRegex(r.stdout, r"max-cycles +1 +limit 0 +FAIL")
        self.assertRegex(r.stdout, r"632 bytes in 4 blocks lost in a cycle, allocated in test_pair")
        proc = report_json(cap, "--suppressions", self.supp)["processes"][0]
        self.assertEqual([{k: g[k] for k in ("cycles", "objects", "types", "labels", "state")}
                          for g in proc["python_cycles"]],
                         [{"cycles": 1, "objects": 2, "types": "Node", "labels": "Node.peer",
                           "state": "pending"}])
        top = proc["python_cycles"][0]["stack"][0]
        self.assertEqual((top["function"], os.path.basename(top["file"]), top["line"]),
                         ("test_pair", "test_cycle.py", 7))

    def test_clean_suite_passes(self):
        r, _ = self.gate()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("2 passed", r.stdout)
        self.assertRegex(r.stdout, r"max-cycles +0 +limit 0 +PASS")


if __name__ == "__main__":
    unittest.main()
