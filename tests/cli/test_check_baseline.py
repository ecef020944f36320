#!/usr/bin/env python3
"""Baselines on real recordings: --write-baseline writes the documented
heapgraph-baseline/1 JSON and reading it back gives the same figures; growth
gates fail only when both the percentage and --min-delta are exceeded (exact
boundaries); --new-leaks-only catches a leak site added by a code change while
the old site still matches across a rebuild whose lines moved. Two builds of
one program: the second has lines inserted above every function. Standard
library only."""
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import SHIFT, V1, FolderCase, compile_c, hg, load_report, record  # noqa: E402


def stack(baseline, entry):
    """An entry's frames, innermost first, from the baseline's stack tree."""
    frames, at = [], entry["stack"]
    while at is not None:
        frame, at = baseline["stacks"][at]
        frames.append(baseline["frames"][frame])
    return frames


def leak_line(capture_report, function):
    for leak in capture_report["processes"][0]["leaks"]:
        if leak["stack"][0]["function"] == function:
            return leak["stack"][0]["line"]
    return None


class Baseline(FolderCase):
    prefix = "hg-base-"

    @classmethod
    def prepare(cls):
        v1 = compile_c(cls.dir, "v1", V1)
        shifted = compile_c(cls.dir, "shifted", SHIFT + V1)
        v2 = compile_c(cls.dir, "v2", SHIFT + V1, "-DNEW_LEAK")
        cls.v1 = record(cls.dir, v1, "v1", "100")
        cls.v1_110 = record(cls.dir, v1, "v1_110", "110")
        cls.shifted = record(cls.dir, shifted, "shifted", "100")
        cls.v2 = record(cls.dir, v2, "v2", "100")
        cls.base = os.path.join(cls.dir, "base.json")
        p = hg("check", "--max-leaked", "none", "--write-baseline", cls.base, cls.v1,
               env=cls.env, cwd=cls.dir)
        assert p.returncode == 0, p.stdout + p.stderr

    def check(self, *args):
        return hg("check", *args, env=self.env, cwd=self.dir)

    def test_baseline_file(self):
        with open(self.base) as f:
            b = json.load(f)
        self.assertEqual(b["schema"], "heapgraph-baseline/2")
        t = b["totals"]
        self.assertEqual(t["processes"], 1)
        self.assertEqual(t["allocations"], 110)
        self.assertEqual(t["frees"], 100)
        self.assertEqual(t["allocated_bytes"], 100400)
        self.assertEqual(t["peak_bytes"], 100000)
        self.assertEqual(t["cycles"], 0)
        self.assertEqual(len(b["leaks"]), 1)
        leak = b["leaks"][0]
        self.assertEqual((leak["kind"], leak["blocks"], leak["bytes"], leak["indirect_blocks"],
                          leak["indirect_bytes"]), ("definite", 10, 400, 0, 0))
        self.assertEqual([f["function"] for f in stack(b, leak)[:2]], ["old_leak", "main"])
        self.assertEqual(stack(b, leak)[0]["file"], os.path.join(self.dir, "v1.c"))
        sites = {stack(b, s)[0]["function"]: s for s in b["sites"]}
        # Each frame and each call path is written once: the three sites
        # share main and everything below it.
        self.assertEqual(len(b["frames"]), len({json.dumps(f) for f in b["frames"]}))
        self.assertEqual(len(b["stacks"]), len({tuple(s) for s in b["stacks"]}))
        self.assertEqual(sum(1 for s in b["stacks"] if s[1] is None), 1)
        self.assertEqual(sites["work"]["allocations"], 100)
        self.assertEqual(sites["work"]["bytes"], 100000)
        self.assertEqual(sites["work"]["live_blocks"], 0)
        self.assertEqual(sites["old_leak"]["live_bytes"], 400)

    def test_round_trip(self):
        # The same program against its own baseline: no growth at all.
        p = self.check("--baseline", self.base, "--max-growth",
                       "peak=0%,allocations=0%,allocated=0%,leaked=0%", "--max-leaked", "400",
                       self.v1)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"growth peak +\+0\.0% \(100000 B -> 100000 B\) +limit 0% "
                                   r"and 0 B +PASS")
        self.assertRegex(p.stdout, r"growth allocations +\+0\.0% \(110 -> 110\)")
        # A baseline written from the baseline-checked run is the same file.
        again = os.path.join(self.dir, "again.json")
        self.check("--max-leaked", "none", "--write-baseline", again, self.v1)
        with open(self.base) as f, open(again) as g:
            self.assertEqual(json.load(f), json.load(g))

    def test_growth_and_min_delta(self):
        # 110 blocks of 1000 B instead of 100: peak +10000 B (+10.0%).
        args = ["--max-leaked", "none", "--baseline", self.base]
        p = self.check(*args, "--max-growth", "peak=10%", self.v1_110)
        self.assertEqual(p.returncode, 0, p.stdout)
        p = self.check(*args, "--max-growth", "peak=9.9%", self.v1_110)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"growth peak +\+10\.0% \(100000 B -> 110000 B\) +limit 9\.9% "
                                   r"and 0 B +FAIL")
        # Below --min-delta it passes although the percentage is exceeded.
        p = self.check(*args, "--max-growth", "peak=5%", "--min-delta", "64KiB", self.v1_110)
        self.assertEqual(p.returncode, 0, p.stdout)
        p = self.check(*args, "--max-growth", "peak=5%", "--min-delta", "10000", self.v1_110)
        self.assertEqual(p.returncode, 0, p.stdout)
        p = self.check(*args, "--max-growth", "peak=5%", "--min-delta", "9999", self.v1_110)
        self.assertEqual(p.returncode, 1, p.stdout)
        # Allocations: 120 vs 110 (+9.1%); the count floor applies to them.
        p = self.check(*args, "--max-growth", "allocations=5%", "--min-delta-allocations", "10",
                       self.v1_110)
        self.assertEqual(p.returncode, 0, p.stdout)
        p = self.check(*args, "--max-growth", "allocations=5%", "--min-delta-allocations", "9",
                       self.v1_110)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"growth allocations +\+9\.1% \(110 -> 120\)")

    def test_new_leaks_only_across_rebuilds(self):
        rep = load_report(hg("report", "--format", "json", self.shifted).stdout)
        base_rep = load_report(hg("report", "--format", "json", self.v1).stdout)
        self.assertEqual(leak_line(rep, "old_leak"), leak_line(base_rep, "old_leak") + 5)

        p = self.check("--baseline", self.base, "--new-leaks-only", self.shifted)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"max-leaked +0 B +limit 0 B +PASS")
        self.assertRegex(p.stdout, r"new-leaks +0 sites \(0 B\) +limit 0 sites +PASS")

        p = self.check("--baseline", self.base, "--new-leaks-only", self.v2)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"new-leaks +1 sites \(100 B\) +limit 0 sites +FAIL")
        self.assertIn("new-leaks failed on 1 leak entry:\n    100 bytes in 1 blocks definitely "
                      "lost, allocated in new_leak\n", p.stdout)
        self.assertNotIn("allocated in old_leak", p.stdout)
        # Without --new-leaks-only both sites count.
        p = self.check("--max-leaked", "499", self.v2)
        self.assertRegex(p.stdout, r"max-leaked +500 B +limit 499 B +FAIL")

    def test_bad_baseline(self):
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write('{"schema": "heapgraph-baseline/2", "totals": {"allocations": 1}')
        p = self.check("--baseline", bad, "--new-leaks-only", self.v1)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertTrue(re.match(r"heapgraph: .*bad\.json: not a heapgraph-baseline/2 file: ",
                                 p.stderr), p.stderr)
        p = self.check("--baseline", os.path.join(self.dir, "none.json"), "--new-leaks-only",
                       self.v1)
        self.assertEqual(p.returncode, 2)
        p = self.check("--write-baseline", "/nonexistent/dir/b.json", self.v1)
        self.assertEqual(p.returncode, 125)


if __name__ == "__main__":
    unittest.main()
