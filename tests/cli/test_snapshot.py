#!/usr/bin/env python3
"""`heapgraph snapshot PID`: a recorded process that gets the request takes a
snapshot at its next allocation (the report then has two snapshots, the
first one "request"); a missing process, a process id that is not a number,
a process that does not catch the signal (it would die of it), a bad signal
number and a bad option each get one error line and exit code 2.
Standard library only."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HG = os.environ.get("HEAPGRAPH", "heapgraph")

TARGET = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
void *volatile g_hold;
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    for (int i = 0; i < 3000 && access(argv[2], F_OK) != 0; i++) {
        g_hold = malloc(32);
        free(g_hold);
        usleep(10000);
    }
    g_hold = malloc(100);
    g_hold = NULL;
    return 0;
}
"""


def snapshot(*args):
    return subprocess.run([HG, "snapshot"] + list(args), capture_output=True, text=True, timeout=30)


class SnapshotTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def assert_error(self, r, text):
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn(text, r.stderr)

    def test_request_makes_a_snapshot(self):
        src = os.path.join(self.dir, "target.c")
        exe = os.path.join(self.dir, "target")
        with open(src, "w") as f:
            f.write(TARGET)
        subprocess.run(["cc", "-O2", "-g", src, "-o", exe], check=True)
        pidfile, stop = os.path.join(self.dir, "pid"), os.path.join(self.dir, "stop")
        cap = os.path.join(self.dir, "t.hgcap")
        run = subprocess.Popen([HG, "run", "-q", "-o", cap, "--", exe, pidfile, stop])
        try:
            for _ in range(1000):
                if os.path.exists(pidfile) and open(pidfile).read().endswith("\n"):
                    break
                time.sleep(0.01)
            pid = int(open(pidfile).read())
            r = snapshot(str(pid))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("next allocation", r.stdout)
            time.sleep(0.3)
        finally:
            open(stop, "w").close()
            self.assertEqual(run.wait(timeout=60), 0)
        out = os.path.join(self.dir, "t.json")
        subprocess.run([HG, "report", "--format", "json", "-o", out, cap], check=True)
        with open(out) as f:
            proc = json.load(f)["processes"][0]
        self.assertEqual([s["reason"] for s in proc["snapshots"]], ["request", "exit"])
        self.assertEqual(proc["summary"]["definite"], {"blocks": 1, "bytes": 100})

    def test_no_such_process(self):
        p = subprocess.Popen(["true"])
        p.wait()
        self.assert_error(snapshot(str(p.pid)), f"no process {p.pid}")

    def test_not_a_number(self):
        self.assert_error(snapshot("12x"), "'12x' is not a process id")

    def test_process_that_does_not_catch_it(self):
        p = subprocess.Popen(["sleep", "30"])
        try:
            time.sleep(0.05)
            self.assert_error(snapshot(str(p.pid)), "does not catch signal")
            self.assertIsNone(p.poll())
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def test_bad_signal(self):
        self.assert_error(snapshot("-s", "999", "1"), "bad signal number '999'")

    def test_bad_option(self):
        r = snapshot("--bogus", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: heapgraph snapshot", r.stderr)

    def test_help(self):
        r = snapshot("-h")
        self.assertEqual(r.returncode, 0)
        self.assertIn("next allocation", r.stdout)


if __name__ == "__main__":
    unittest.main()
