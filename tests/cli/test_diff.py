#!/usr/bin/env python3
"""`heapgraph diff BASE NEW`: two recordings of two builds of one program (lines
moved, one leak site added, the peak raised): totals, the new leak site, per-site
changes in bytes, blocks and allocations, in text and JSON; a baseline file as
BASE; unreadable inputs exit 2. Standard library only."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import SHIFT, V1, FolderCase, compile_c, hg, record  # noqa: E402


class Diff(FolderCase):
    prefix = "hg-diff-"

    @classmethod
    def prepare(cls):
        cls.a = record(cls.dir, compile_c(cls.dir, "v1", V1), "v1", "100")
        cls.b = record(cls.dir, compile_c(cls.dir, "v2", SHIFT + V1, "-DNEW_LEAK"), "v2", "120")

    def diff(self, *args):
        return hg("diff", *args, env=self.env, cwd=self.dir)

    def test_json(self):
        p = self.diff("--format", "json", self.a, self.b)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = json.loads(p.stdout)
        self.assertEqual(d["schema"], "heapgraph-diff/1")
        self.assertEqual(d["peak"], {"base": 100000, "new": 120000, "delta": 20000})
        self.assertEqual(d["base"]["allocations"], 110)
        self.assertEqual(d["new"]["allocations"], 131)
        self.assertEqual(d["base"]["leaked_bytes"], 400)
        self.assertEqual(d["new"]["leaked_bytes"], 500)
        # old_leak moved 5 lines but matches: only the new site is listed.
        self.assertEqual(len(d["leaks"]), 1)
        leak = d["leaks"][0]
        self.assertEqual((leak["status"], leak["kind"], leak["base"], leak["new"],
                          leak["delta_bytes"]),
                         ("new", "definite", {"blocks": 0, "bytes": 0},
                          {"blocks": 1, "bytes": 100}, 100))
        self.assertEqual(leak["stack"][0]["function"], "new_leak")
        sites = {s["stack"][0]["function"]: s for s in d["sites"]}
        self.assertEqual(sorted(sites), ["new_leak", "work"])
        self.assertEqual(sites["work"]["base"]["allocations"], 100)
        self.assertEqual(sites["work"]["new"]["allocations"], 120)
        self.assertEqual(sites["work"]["delta"], {"allocations": 20, "bytes": 20000,
                                                  "live_blocks": 0, "live_bytes": 0})
        self.assertEqual(sites["new_leak"]["delta"], {"allocations": 1, "bytes": 100,
                                                      "live_blocks": 1, "live_bytes": 100})
        # Reversed, the new site is a fixed one.
        back = json.loads(self.diff("--format", "json", self.b, self.a).stdout)
        self.assertEqual(back["leaks"][0]["status"], "fixed")
        self.assertEqual(back["peak"]["delta"], -20000)

    def test_text(self):
        p = self.diff(self.a, self.b)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "heapgraph diff: %s -> %s" % (self.a, self.b))
        self.assertEqual(lines[1], "peak                     100000 B ->         120000 B  "
                                   "+20000 B (+20.0%)")
        self.assertEqual(lines[2], "allocations                 110 ->            131  +21 (+19.1%)")
        self.assertIn("leak sites: 1 changed\n  new    definite  0 B in 0 blocks -> 100 B in 1 "
                      "blocks  new_leak\n        #0 new_leak %s/v2.c:19\n" % self.dir, p.stdout)
        self.assertIn("         +20000          +20           +0  work\n", p.stdout)
        self.assertIn("           +100           +1           +1  new_leak\n", p.stdout)

    def test_baseline_as_base(self):
        base = os.path.join(self.dir, "base.json")
        p = hg("check", "--max-leaked", "none", "--write-baseline", base, self.a, env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.diff("--format", "json", base, self.b)
        self.assertEqual(p.returncode, 0, p.stderr)
        d = json.loads(p.stdout)
        self.assertEqual(d["peak"], {"base": 100000, "new": 120000, "delta": 20000})
        self.assertEqual([(l["status"], l["stack"][0]["function"]) for l in d["leaks"]],
                         [("new", "new_leak")])
        out = os.path.join(self.dir, "d.txt")
        p = self.diff("-o", out, base, self.b)
        self.assertEqual((p.returncode, p.stdout), (0, ""))
        with open(out) as f:
            self.assertTrue(f.read().startswith("heapgraph diff: %s -> " % base))

    def test_errors(self):
        junk = os.path.join(self.dir, "junk")
        with open(junk, "w") as f:
            f.write("not a capture")
        for args in ([self.a], [self.a, junk], [junk, self.a],
                     [os.path.join(self.dir, "missing"), self.a], ["--format", "xml", self.a,
                                                                    self.b]):
            p = self.diff(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr.startswith("heapgraph: "), p.stderr)
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            f.write("{}")
        p = self.diff(bad, self.b)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "heapgraph: %s: not a heapgraph-baseline/2 file: \"schema\" is "
                                   "not \"heapgraph-baseline/2\" (or /1)\n" % bad)


if __name__ == "__main__":
    unittest.main()
