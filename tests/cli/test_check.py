#!/usr/bin/env python3
"""`heapgraph check` on real recordings: every gate passes with its limit equal
to the value and fails one below (exact figures of a known program), the gate
lines and the offending stacks, exit codes 0/1/2/3, leak kinds, a crashed
process whose blocks count as leaked, two processes summed, both suppression
syntaxes, .heapgraph.conf with the command line winning, and
`heapgraph run --check`. Standard library only."""
import json
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import PROG, PROG_FIGURES, FolderCase, compile_c, hg, load_report, record  # noqa: E402

CRASH = r"""
#include <stdlib.h>
void *volatile keep[10];
__attribute__((noinline)) static void hold(void)
{
    for (int i = 0; i < 10; i++)
        keep[i] = malloc(32);
}
int main(void) { hold(); abort(); }
"""

FORK = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
void *volatile sink;
__attribute__((noinline)) static void leak(int n, size_t size)
{
    for (int i = 0; i < n; i++)
        sink = malloc(size);
    sink = 0;
}
int main(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        leak(7, 8);
        return 0;
    }
    leak(5, 16);
    waitpid(pid, NULL, 0);
    return 0;
}
"""

# stdout's buffer (glibc's _IO_file_doallocate) is live when the program aborts.
CRASH_IO = r"""
#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("hello\n"); abort(); }
"""

GATES = [("--max-leaked", "leaked"), ("--max-leaked-blocks", "leaked_blocks"),
         ("--max-cycles", "cycles"), ("--max-possible", "possible"), ("--max-peak", "peak"),
         ("--max-allocations", "allocations"), ("--max-leak-per-site", "leak_per_site")]


class Check(FolderCase):
    prefix = "hg-check-"

    @classmethod
    def prepare(cls):
        cls.cap = record(cls.dir, compile_c(cls.dir, "prog", PROG))
        cls.crash = record(cls.dir, compile_c(cls.dir, "crash", CRASH))
        cls.fork = record(cls.dir, compile_c(cls.dir, "forker", FORK))
        cls.crash_io = record(cls.dir, compile_c(cls.dir, "crash_io", CRASH_IO))

    def check(self, *args, cwd=None):
        return hg("check", *args, cwd=cwd or self.dir, env=self.env)

    def test_every_gate_at_its_boundary(self):
        for opt, key in GATES:
            value = PROG_FIGURES[key]
            others = ["--max-leaked", "none"] if opt != "--max-leaked" else []
            p = self.check(*others, opt, value, self.cap)
            self.assertEqual(p.returncode, 0, (opt, p.stdout, p.stderr))
            self.assertRegex(p.stdout, r"\n%s +%d\b.*limit %d\b.* PASS\n" % (opt[2:], value, value))
            p = self.check(*others, opt, value - 1, self.cap)
            self.assertEqual(p.returncode, 1, (opt, p.stdout, p.stderr))
            self.assertRegex(p.stdout, r"\n%s +%d\b.*limit %d\b.* FAIL\n" % (opt[2:], value,
                                                                            value - 1))

    def test_default_gate_and_offending_stacks(self):
        p = self.check(self.cap)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, "")
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "heapgraph check: %s (1 process)" % self.cap)
        self.assertRegex(lines[1], r"^max-leaked +24048 B +limit 0 B +FAIL$")
        self.assertIn("max-leaked failed on 2 leak entries:", p.stdout)
        self.assertIn("    24000 bytes in 1000 blocks definitely lost, allocated in leak_site\n"
                      "        #0 leak_site %s/prog.c:10\n" % self.dir, p.stdout)
        self.assertIn("    48 bytes in 3 blocks lost in a cycle, allocated in make_ring\n", p.stdout)
        self.assertEqual(lines[-1], "FAIL: 1 of 1 gates failed")

    def test_sizes_and_kinds(self):
        self.assertEqual(self.check("--max-peak", "121KiB", self.cap).returncode, 1)  # 123904
        self.assertEqual(self.check("--max-leaked", "none", "--max-peak", "122KiB",
                                    self.cap).returncode, 0)                       # 124928
        self.assertEqual(self.check("--max-leaked", "none", "--max-peak", "124112B",
                                    self.cap).returncode, 0)
        self.assertEqual(self.check("--max-leaked", "none", "--max-peak", "124KB",
                                    self.cap).returncode, 1)
        p = self.check("--leak-kinds", "definite", "--max-leaked", "24000", self.cap)
        self.assertEqual(p.returncode, 0, p.stdout)
        p = self.check("--leak-kinds", "definite,cycle,indirect,possible", "--max-leaked",
                       "24111", self.cap)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stdout, r"max-leaked +24112 B")

    def test_exit_codes(self):
        self.assertEqual(self.check("--max-leaked", "1MiB", self.cap).returncode, 0)
        self.assertEqual(self.check(self.cap).returncode, 1)
        for args in (["--max-leaked", "12XB", self.cap], ["--bogus", self.cap], [],
                     [self.cap, self.cap], ["--leak-kinds", "lost", self.cap],
                     ["--report", "xml", self.cap], ["--max-growth", "peak=1%", self.cap],
                     ["--new-leaks-only", self.cap]):
            p = self.check(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr.startswith("heapgraph: "), p.stderr)
        p = self.check(os.path.join(self.dir, "missing.hgcap"))
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr, "heapgraph: %s/missing.hgcap: No such file or directory\n"
                         % self.dir)
        junk = os.path.join(self.dir, "junk.hgcap")
        with open(junk, "w") as f:
            f.write("this is not a capture\n")
        p = self.check(junk)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        p = self.check("--suppressions", os.path.join(self.dir, "nope.supp"), self.cap)
        self.assertEqual(p.returncode, 2)
        p = self.check("-h")
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: heapgraph check", p.stdout)

    def test_truncated_capture_fails_the_capture_gate(self):
        with open(self.cap, "rb") as f:
            data = f.read()
        cut = os.path.join(self.dir, "cut.hgcap")
        with open(cut, "wb") as f:
            f.write(data[:len(data) // 2])
        p = self.check("--max-leaked", "1GiB", cut)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"\ncapture +(damaged at byte \d+|recording did not finish) +"
                                   r"limit complete +FAIL\n")
        p = self.check("--max-leaked", "1GiB", "--allow-incomplete", cut)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_crashed_process_counts_not_freed(self):
        p = self.check(self.crash)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"note: process \d+ left no exit snapshot \(signal 6\): its "
                                   r"blocks not freed count as leaked\n")
        self.assertRegex(p.stdout, r"max-leaked +320 B")
        self.assertIn("320 bytes in 10 blocks not freed (the process left no exit snapshot), "
                      "allocated in hold", p.stdout)
        self.assertEqual(self.check("--max-leaked", "320", self.crash).returncode, 0)
        self.assertEqual(self.check("--max-leaked", "319", self.crash).returncode, 1)

    def test_processes_are_summed(self):
        rep = json.loads(hg("report", "--format", "json", self.fork).stdout)
        parent = [q["pid"] for q in rep["processes"] if q["origin"] == "root"][0]
        child = [q["pid"] for q in rep["processes"] if q["ppid"] == parent][0]
        p = self.check("--max-leaked", "135", "--max-leaked-blocks", "12", self.fork)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertNotIn("note:", p.stdout)
        exe = os.path.join(self.dir, "forker")
        self.assertIn("process %d leaked 80 B in 5 blocks (peak 80 B): %s\n" % (parent, exe), p.stdout)
        self.assertIn("process %d leaked 56 B in 7 blocks (peak 56 B): %s\n" % (child, exe), p.stdout)
        self.assertRegex(p.stdout, r"max-leaked +136 B +limit 135 B +FAIL")
        self.assertRegex(p.stdout, r"max-leaked-blocks +12 blocks +limit 12 blocks +PASS")
        self.assertRegex(p.stdout, r"56 bytes in 7 blocks definitely lost, allocated in leak "
                                   r"\(process \d+\)")

    def test_lsan_suppressions(self):
        supp = os.path.join(self.dir, "lsan.supp")
        with open(supp, "w") as f:
            f.write("# known\nleak:^leak_site$\nleak:prog.c\nleak:never_matches\n")
        p = self.check("--suppressions", supp, self.cap)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("suppressed by leak:^leak_site$ (%s:2): 1 entries, 24000 bytes in 1000 "
                      "blocks\n" % supp, p.stdout)
        # make_ring and make_interior are caught by the file pattern.
        self.assertIn("suppressed by leak:prog.c (%s:3): 2 entries, 112 bytes in 4 blocks\n"
                      % supp, p.stdout)
        self.assertIn("warning: unused suppression leak:never_matches (%s:4)\n" % supp, p.stdout)
        self.assertRegex(p.stdout, r"max-leaked +0 B")

    def test_valgrind_suppressions(self):
        supp = os.path.join(self.dir, "vg.supp")
        with open(supp, "w") as f:
            f.write("{\n   ring\n   Memcheck:Leak\n   match-leak-kinds: definite\n"
                    "   fun:malloc\n   fun:make_ring\n   fun:main\n}\n"
                    "{\n   site\n   Memcheck:Leak\n   match-leak-kinds: possible\n"
                    "   fun:leak_site\n   ...\n}\n")
        p = self.check("--suppressions", supp, self.cap)
        self.assertEqual(p.returncode, 1)
        self.assertIn("suppressed by ring (%s:1): 1 entries, 48 bytes in 3 blocks" % supp, p.stdout)
        # possible-only block does not hide the definite leak_site entry.
        self.assertIn("warning: unused suppression site (%s:9)" % supp, p.stdout)
        self.assertRegex(p.stdout, r"max-leaked +24000 B")

    def test_builtin_suppressions(self):
        p = self.check(self.crash_io)
        self.assertEqual(p.returncode, 0, p.stdout)
        m = re.search(r"suppressed by heapgraph:stdio-buffer \(built-in\): 1 entries, (\d+) bytes "
                      r"in 1 blocks\n", p.stdout)
        self.assertTrue(m, p.stdout)
        self.assertNotIn("note:", p.stdout)
        p = self.check("--no-default-suppressions", self.crash_io)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stdout, r"max-leaked +%s B +limit 0 B +FAIL" % m.group(1))
        self.assertIn("allocated in _IO_file_doallocate\n", p.stdout)

    def test_report_suppressions(self):
        supp = os.path.join(self.dir, "rep.supp")
        with open(supp, "w") as f:
            f.write("leak:leak_site\nleak:unused_pattern\n")
        p = hg("report", "--format", "json", "--suppressions", supp, self.cap, env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        rep = load_report(p.stdout)
        proc = rep["processes"][0]
        self.assertEqual(proc["summary"]["definite"], {"blocks": 0, "bytes": 0})
        self.assertEqual(proc["summary"]["cycle"], {"blocks": 3, "bytes": 48})
        self.assertEqual(sorted(l["stack"][0]["function"] for l in proc["leaks"]),
                         ["make_interior", "make_ring"])
        self.assertIn("suppressed by leak:leak_site (%s:1): 1 entries, 24000 bytes in 1000 blocks"
                      % supp, rep["notes"])
        self.assertIn("unused suppression leak:unused_pattern (%s:2)" % supp, rep["notes"])
        p = hg("report", "--suppressions", os.path.join(self.dir, "none.supp"), self.cap,
               env=self.env)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(len(p.stderr.splitlines()), 1)

    def test_gen_suppressions_roundtrip(self):
        p = hg("report", "--gen-suppressions", self.cap, env=self.env, cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("Memcheck:Leak"), 3)
        supp = os.path.join(self.dir, "gen.supp")
        with open(supp, "w") as f:
            f.write(p.stdout)
        p = self.check("--suppressions", supp, "--max-possible", "0", self.cap)
        self.assertEqual(p.returncode, 0, p.stdout)

    def test_config_file(self):
        work = tempfile.mkdtemp(dir=self.dir)
        os.mkdir(os.path.join(work, "ci"))
        with open(os.path.join(work, "ci", "x.supp"), "w") as f:
            f.write("leak:make_ring\n")
        with open(os.path.join(work, ".heapgraph.conf"), "w") as f:
            f.write("[check]\nmax-leaked = 24000\nmax-peak = 124112\nsuppressions = ci/x.supp\n"
                    "[report]\nsuppressions = ci/x.supp\n")
        p = self.check(self.cap, cwd=work)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"max-peak +124112 B +limit 124112 B +PASS")
        p = self.check("--max-peak", "124111", self.cap, cwd=work)   # the command line wins
        self.assertEqual(p.returncode, 1)
        p = self.check("--no-config", self.cap, cwd=work)
        self.assertRegex(p.stdout, r"max-leaked +24048 B +limit 0 B +FAIL")
        with open(os.path.join(work, ".heapgraph.conf"), "a") as f:
            f.write("[check]\nmax-leakd = 1\n")
        p = self.check(self.cap, cwd=work)
        self.assertEqual(p.returncode, 2)
        self.assertIn(".heapgraph.conf:8: unknown key 'max-leakd' in [check]", p.stderr)
        # The XDG location is used when the working directory has none.
        xdg = os.path.join(self.dir, "heapgraph")
        os.makedirs(xdg, exist_ok=True)
        with open(os.path.join(xdg, "heapgraph.conf"), "w") as f:
            f.write("[check]\nmax-leaked = 24048\n")
        try:
            self.assertEqual(self.check(self.cap).returncode, 0)
        finally:
            os.unlink(os.path.join(xdg, "heapgraph.conf"))

    def test_run_check(self):
        exe = os.path.join(self.dir, "prog")
        cap = os.path.join(self.dir, "rc.hgcap")
        p = hg("run", "-q", "-o", cap, "--check", "--max-leaked", "24048", "--", exe,
               cwd=self.dir, env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"max-leaked +24048 B +limit 24048 B +PASS")
        p = hg("run", "-q", "-o", cap, "--check", "--max-leaked", "24047", "--", exe,
               cwd=self.dir, env=self.env)
        self.assertEqual(p.returncode, 1)
        # The program's own failure wins over a gate's.
        p = hg("run", "-q", "-o", cap, "--check", "--max-leaked", "0", "--",
               os.path.join(self.dir, "crash"), cwd=self.dir, env=self.env)
        self.assertEqual(p.returncode, 134)
        self.assertRegex(p.stdout, r"max-leaked +320 B +limit 0 B +FAIL")
        # A bad gate is refused before the program runs.
        os.unlink(cap)
        p = hg("run", "-q", "-o", cap, "--check", "--max-leaked", "lots", "--", exe,
               cwd=self.dir, env=self.env)
        self.assertEqual(p.returncode, 2)
        self.assertFalse(os.path.exists(cap))


if __name__ == "__main__":
    unittest.main()
