#!/usr/bin/env python3
"""`heapgraph check --report FORMAT[:PATH]`: SARIF 2.1.0 with the fields the
standard requires and GitHub code scanning reads (version, $schema,
runs[].tool.driver.name and rules, results with ruleId, level, message.text,
locations relative to --source-root with startLine, codeFlows,
partialFingerprints), JUnit parsed with xml.etree (one testcase per gate, the
leak stacks in the failure body), GitHub workflow commands and the step
summary, GitLab code quality JSON. Standard library only."""
import json
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import PROG, FolderCase, compile_c, hg, record  # noqa: E402


class CiFormats(FolderCase):
    prefix = "hg-ci-"

    @classmethod
    def prepare(cls):
        cls.src = os.path.join(cls.dir, "src")
        os.mkdir(cls.src)
        cls.cap = record(cls.dir, compile_c(cls.src, "prog", PROG))
        cls.env.pop("GITHUB_STEP_SUMMARY", None)

    def check(self, *args, env=None):
        return hg("check", "--source-root", self.dir, *args, self.cap, cwd=self.dir,
                  env=env or self.env)

    def test_sarif(self):
        out = os.path.join(self.dir, "out.sarif")
        p = self.check("--max-leaked", "24000", "--report", "sarif:" + out)
        self.assertEqual(p.returncode, 1, p.stderr)
        with open(out) as f:
            s = json.load(f)
        self.assertEqual(s["version"], "2.1.0")
        self.assertTrue(s["$schema"].endswith("sarif-2.1.0.json"), s["$schema"])
        self.assertEqual(len(s["runs"]), 1)
        run = s["runs"][0]
        driver = run["tool"]["driver"]
        self.assertEqual(driver["name"], "heapgraph")
        rule_ids = [r["id"] for r in driver["rules"]]
        self.assertEqual(len(rule_ids), len(set(rule_ids)))
        for r in driver["rules"]:
            self.assertTrue(r["shortDescription"]["text"])
            self.assertTrue(r["fullDescription"]["text"])
            self.assertIn(r["defaultConfiguration"]["level"], ("error", "warning", "note"))
        results = run["results"]
        # definite (24000 B), cycle (48 B) and possible (64 B): one result each.
        self.assertEqual(len(results), 3)
        by_fn = {r["message"]["text"].split(" allocated in ")[1]: r for r in results}
        self.assertEqual(sorted(by_fn), ["leak_site", "make_interior", "make_ring"])
        for r in results:
            self.assertIn(r["ruleId"], rule_ids)
            self.assertIn(r["level"], ("error", "warning", "note"))
            loc = r["locations"][0]["physicalLocation"]
            self.assertEqual(loc["artifactLocation"]["uri"], "src/prog.c")
            self.assertEqual(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%")
            self.assertGreaterEqual(loc["region"]["startLine"], 1)
            self.assertRegex(r["partialFingerprints"]["heapgraphStack/v1"], "^[0-9a-f]{16}$")
            flow = r["codeFlows"][0]["threadFlows"][0]["locations"]
            self.assertEqual(flow[0]["location"]["physicalLocation"], loc)
            self.assertEqual(flow[1]["location"]["message"]["text"], "main")
        site = by_fn["leak_site"]
        self.assertEqual(site["message"]["text"],
                         "24000 bytes in 1000 blocks definitely lost, allocated in leak_site")
        self.assertEqual(site["locations"][0]["physicalLocation"]["region"]["startLine"], 10)
        self.assertEqual(site["properties"]["bytes"], 24000)
        self.assertEqual(site["properties"]["blocks"], 1000)
        # Over the 24000 B limit only as a sum: both entries are the gate's offenders.
        self.assertEqual(site["level"], "error")
        self.assertEqual(by_fn["make_ring"]["level"], "error")
        self.assertEqual(by_fn["make_interior"]["level"], "note")
        self.assertEqual(run["originalUriBaseIds"]["%SRCROOT%"]["uri"], "file://%s/" % self.dir)
        # Fingerprints are stable: a second recording of the same program gives the same.
        cap2 = record(self.dir, os.path.join(self.src, "prog"), "again")
        out2 = os.path.join(self.dir, "again.sarif")
        hg("check", "--source-root", self.dir, "--report", "sarif:" + out2, cap2, cwd=self.dir,
           env=self.env)
        with open(out2) as f:
            again = json.load(f)
        self.assertEqual(sorted(r["partialFingerprints"]["heapgraphStack/v1"] for r in results),
                         sorted(r["partialFingerprints"]["heapgraphStack/v1"]
                                for r in again["runs"][0]["results"]))

    def test_junit(self):
        out = os.path.join(self.dir, "junit.xml")
        p = self.check("--max-peak", "1MiB", "--max-cycles", "0", "--report", "junit:" + out)
        self.assertEqual(p.returncode, 1)
        root = ET.parse(out).getroot()
        self.assertEqual(root.tag, "testsuites")
        self.assertEqual(root.get("tests"), "3")
        self.assertEqual(root.get("failures"), "2")
        cases = root.findall("./testsuite/testcase")
        self.assertEqual([c.get("name") for c in cases], ["max-leaked", "max-cycles", "max-peak"])
        failure = cases[0].find("failure")
        self.assertEqual(failure.get("message"), "max-leaked: 24048 B, limit 0 B")
        self.assertIn("24000 bytes in 1000 blocks definitely lost, allocated in leak_site\n"
                      "    #0 leak_site %s/prog.c:10\n" % self.src, failure.text)
        self.assertIn("48 bytes in 3 blocks lost in a cycle, allocated in make_ring", failure.text)
        self.assertIsNotNone(cases[1].find("failure"))
        self.assertIsNone(cases[2].find("failure"))
        self.assertEqual(cases[2].find("system-out").text, "124112 B (limit 1048576 B)")

    def test_github(self):
        summary = os.path.join(self.dir, "summary.md")
        with open(summary, "w") as f:
            f.write("previous step\n")
        env = dict(self.env, GITHUB_STEP_SUMMARY=summary)
        p = self.check("--report", "github", env=env)
        self.assertEqual(p.returncode, 1)
        cmds = [l for l in p.stdout.splitlines() if l.startswith("::")]
        self.assertEqual(cmds, [
            "::error file=src/prog.c,line=10,title=heapgraph definite::24000 bytes in 1000 "
            "blocks definitely lost, allocated in leak_site",
            "::warning file=src/prog.c,line=22,title=heapgraph possible::64 bytes in 1 blocks "
            "possibly lost, allocated in make_interior",
            "::error file=src/prog.c,line=15,title=heapgraph cycle::48 bytes in 3 blocks lost "
            "in a cycle, allocated in make_ring",
            "::error title=heapgraph gate::gate max-leaked failed: 24048 B, limit 0 B"])
        with open(summary) as f:
            md = f.read()
        self.assertTrue(md.startswith("previous step\n### heapgraph check: FAIL\n"), md)
        self.assertIn("| max-leaked | 24048 B | 0 B | **FAIL** |\n", md)
        self.assertIn("| definite | 24000 | 1000 | 0 | `leak_site` | src/prog.c:10 |\n", md)

    def test_gitlab_and_several_reports(self):
        gl = os.path.join(self.dir, "gl.json")
        ju = os.path.join(self.dir, "j2.xml")
        p = self.check("--report", "gitlab:" + gl, "--report", "junit:" + ju)
        self.assertEqual(p.returncode, 1)
        ET.parse(ju)
        with open(gl) as f:
            issues = json.load(f)
        self.assertEqual(len(issues), 3)
        for i in issues:
            self.assertEqual(set(i), {"description", "check_name", "fingerprint", "severity",
                                      "location"})
            self.assertEqual(i["location"]["path"], "src/prog.c")
            self.assertIn(i["severity"], ("info", "minor", "major", "critical", "blocker"))
        self.assertEqual(len({i["fingerprint"] for i in issues}), 3)
        self.assertEqual(issues[0]["check_name"], "heapgraph-definite")
        self.assertEqual(issues[0]["location"]["lines"]["begin"], 10)
        self.assertEqual(issues[0]["severity"], "major")

    def test_unwritable_report(self):
        p = self.check("--report", "sarif:/nonexistent/dir/x.sarif")
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, "heapgraph: /nonexistent/dir/x.sarif: cannot write: "
                                   "No such file or directory\n")


if __name__ == "__main__":
    unittest.main()
