#!/usr/bin/env python3
"""A whole test suite under one capture, as docs/ci.md shows: `heapgraph run --
ctest` records ctest and every test process; check sums their leaks, names the
leaking test process, takes the largest single peak, and `run --check` gates
the suite in one step. Standard library only (cmake and ctest are build
dependencies of heapgraph itself)."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import FolderCase, hg  # noqa: E402

CMAKELISTS = """cmake_minimum_required(VERSION 3.20)
project(suite C)
enable_testing()
add_executable(t_ok t_ok.c)
add_executable(t_leak t_leak.c)
add_test(NAME ok COMMAND t_ok)
add_test(NAME leak COMMAND t_leak)
"""
T_OK = ("#include <stdlib.h>\nvoid *volatile sink;\n"
        "int main(void) { sink = malloc(5000); free(sink); return 0; }\n")
T_LEAK = ("#include <stdlib.h>\nvoid *volatile sink;\n"
          "int main(void) { for (int i = 0; i < 4; i++) sink = malloc(32); sink = 0; return 0; }\n")


class Suite(FolderCase):
    prefix = "hg-suite-"

    @classmethod
    def prepare(cls):
        for name, text in (("CMakeLists.txt", CMAKELISTS), ("t_ok.c", T_OK), ("t_leak.c", T_LEAK)):
            with open(os.path.join(cls.dir, name), "w") as f:
                f.write(text)
        build = os.path.join(cls.dir, "build")
        subprocess.run(["cmake", "-S", cls.dir, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                       check=True, capture_output=True)
        subprocess.run(["cmake", "--build", build], check=True, capture_output=True)
        cls.build = build
        cls.cap = os.path.join(cls.dir, "suite.hgcap")
        p = hg("run", "-q", "-o", cls.cap, "--", "ctest", "-Q", cwd=build, env=cls.env)
        assert p.returncode == 0, p.stderr

    def test_check_sums_processes(self):
        p = hg("check", "--max-peak", "5000", self.cap, env=self.env)
        self.assertEqual(p.returncode, 1, p.stdout)
        n = int(re.search(r"\((\d+) processes\)", p.stdout).group(1))
        self.assertGreaterEqual(n, 3)          # ctest and its two tests
        self.assertRegex(p.stdout, r"\nmax-leaked +128 B +limit 0 B +FAIL\n")
        # The peak gate sees the largest peak of one process, not a sum.
        rep = json.loads(hg("report", "--format", "json", self.cap, env=self.env).stdout)
        peaks = [q["summary"]["peak_bytes"] for q in rep["processes"]]
        self.assertIn(5000, peaks)             # t_ok
        self.assertRegex(p.stdout, r"\nmax-peak +%d B +limit 5000 B +FAIL\n" % max(peaks))
        self.assertLess(max(peaks), sum(peaks))
        leaking = re.findall(r"\nprocess \d+ leaked (\d+) B in (\d+) blocks \(peak \d+ B\): (.*)\n",
                             p.stdout)
        self.assertEqual(leaking, [("128", "4", os.path.join(self.build, "t_leak"))])
        self.assertIn("128 bytes in 4 blocks definitely lost, allocated in main (process ", p.stdout)
        self.assertIn("t_leak.c:3", p.stdout)

    def test_run_check_gates_the_suite(self):
        cap = os.path.join(self.dir, "again.hgcap")
        p = hg("run", "-q", "-o", cap, "--check", "--max-leaked", "128", "--", "ctest", "-Q",
               cwd=self.build, env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = hg("run", "-q", "-o", cap, "--check", "--max-leaked", "127", "--", "ctest", "-Q",
               cwd=self.build, env=self.env)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
