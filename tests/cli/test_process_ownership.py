#!/usr/bin/env python3
"""Each process is judged on what it answers for (docs/report.md, "Who
answers for a block"): a forked child on the blocks it made and the
inherited blocks whose fate it changed, an image replaced by exec on
nothing. Exact figures of one program run in several ways, through the JSON
report and `heapgraph check` with its default gate, and with --inherited.
Standard library only."""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import compile_c, hg, record  # noqa: E402

# The parent keeps 1,000 bytes in `held` and 200 in `dropped` to its end;
# argv[1] says what else happens: p the parent loses 50 bytes before the
# fork, l the child leaks 24 bytes of its own, d the child drops `dropped`,
# x the child execs /bin/true, e the child ends with exit() (an exit
# snapshot), else with _exit().
PROG = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
void *volatile held;
void *volatile dropped;
void *volatile sink;
__attribute__((noinline)) static void parent_heap(int lose)
{
    held = malloc(1000);
    dropped = malloc(200);
    if (lose) {
        sink = malloc(50);
        sink = 0;
    }
}
__attribute__((noinline)) static void child_leak(void)
{
    sink = malloc(24);
    sink = 0;
}
int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    parent_heap(strchr(how, 'p') != NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (strchr(how, 'l'))
            child_leak();
        if (strchr(how, 'd'))
            dropped = 0;
        if (strchr(how, 'x'))
            execl("/bin/true", "true", (char *)0);
        if (strchr(how, 'e'))
            exit(0);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}
"""


class Ownership(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hg-own-")
        cls.exe = compile_c(cls.dir, "own", PROG)
        cls.caps = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def cap(self, how):
        if how not in self.caps:
            self.caps[how] = record(self.dir, self.exe, "own_" + (how or "none"), how)
        return self.caps[how]

    def report(self, how, *opts):
        r = hg("report", "--format", "json", *opts, self.cap(how))
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["processes"]

    def check(self, how, *opts):
        return hg("check", "--no-config", *opts, self.cap(how)).returncode

    def leaks(self, proc):
        return [(l["kind"], l["blocks"], l["bytes"]) for l in proc["leaks"]
                if l["kind"] != "reachable"]

    def test_exit_child_with_inherited_heap_passes(self):
        parent, child = self.report("")
        self.assertEqual((child["origin"], child["exit"]), ("fork", {"status": 0}))
        self.assertEqual(child["inherited_blocks"], 2)
        self.assertEqual(self.leaks(child), [])
        self.assertEqual(child["unjudged"], {"blocks": 2, "bytes": 1200})
        self.assertEqual(self.leaks(parent), [])
        self.assertEqual(self.check(""), 0)

    def test_exit_child_own_leak_fails(self):
        parent, child = self.report("l")
        self.assertEqual(self.leaks(child), [("not_freed", 1, 24)])
        self.assertEqual(child["unjudged"], {"blocks": 2, "bytes": 1200})
        self.assertEqual(self.check("l"), 1)

    def test_inherited_option_judges_the_whole_heap(self):
        _, child = self.report("", "--inherited")
        self.assertEqual(sorted(self.leaks(child)), [("not_freed", 1, 200), ("not_freed", 1, 1000)])
        self.assertEqual(child["unjudged"], {"blocks": 0, "bytes": 0})
        self.assertEqual(self.check("", "--inherited"), 1)

    def test_snapshot_child_own_leak(self):
        _, child = self.report("el")
        self.assertTrue(child["snapshot"])
        self.assertEqual(self.leaks(child), [("definite", 1, 24)])
        self.assertEqual(child["summary"]["reachable"], {"blocks": 0, "bytes": 0})
        self.assertEqual(child["unjudged"], {"blocks": 2, "bytes": 1200})
        self.assertEqual(self.check("el"), 1)

    def test_child_that_drops_an_inherited_block_answers_for_it(self):
        parent, child = self.report("ed")
        self.assertEqual(self.leaks(child), [("definite", 1, 200)])
        self.assertEqual(child["unjudged"], {"blocks": 1, "bytes": 1000})
        self.assertEqual(self.leaks(parent), [])
        self.assertEqual(parent["summary"]["reachable"], {"blocks": 2, "bytes": 1200})

    def test_parent_leak_stays_the_parents(self):
        parent, child = self.report("pe")
        self.assertEqual(self.leaks(parent), [("definite", 1, 50)])
        self.assertEqual(self.leaks(child), [])
        self.assertEqual(child["summary"]["definite"], {"blocks": 0, "bytes": 0})
        self.assertEqual(child["unjudged"], {"blocks": 3, "bytes": 1250})
        self.assertEqual(child["cycles"], [])

    def test_fork_then_exec_lists_no_inherited_blocks(self):
        procs = self.report("x")
        self.assertEqual([(p["origin"], p["exit"]) for p in procs],
                         [("root", {"status": 0}), ("fork", {"exec": True}),
                          ("exec", {"status": 0})])
        forked = procs[1]
        self.assertEqual(forked["leaks"], [])
        self.assertEqual(forked["unjudged"], {"blocks": 2, "bytes": 1200})
        self.assertEqual(procs[2]["inherited_blocks"], 0)
        self.assertEqual(self.check("x"), 0)
        self.assertEqual(self.check("x", "--inherited"), 0)
        text = hg("report", "--process", str(forked["pid"]), self.cap("x")).stdout
        self.assertIn("No leaks: exec replaced the image and its address space", text)
        self.assertIn("2 blocks (1.2 KiB) live at the exec went with the old image", text)


if __name__ == "__main__":
    unittest.main()
