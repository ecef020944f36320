#!/usr/bin/env python3
"""Live Python objects by type at each snapshot, and their growth between
snapshots, under each interpreter here and in both allocator modes: a
script keeps 100 objects of a class, asks for a snapshot (the signal
`heapgraph snapshot` sends; the runtime takes it at the next allocation),
then keeps 250 more; the requested snapshot has 100 of them, the exit
snapshot 350 with a change of +250, first among the types that grew most
in the text report, and the change in bytes is the difference. Standard
library only."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import PythonCase, hg, report_json  # noqa: E402

SCRIPT = """import gc, os, signal
gc.disable()
class Tracked:
    pass
KEEP = [Tracked() for i in range(100)]
os.kill(os.getpid(), signal.SIGRTMIN + 7)
KEEP += [Tracked() for i in range(250)]
"""


class PythonTypesTest(PythonCase):
    prefix = "hg_pytypes_"
    script_name = "grow.py"
    SCRIPT = SCRIPT

    @staticmethod
    def tracked(snapshot):
        found = [t for t in snapshot["python"]["types"] if t["type"] == "Tracked"]
        assert len(found) == 1, snapshot["python"]["types"][:5]
        return found[0]

    def check(self, python, mode):
        tag = "%s-%s" % (os.path.basename(os.path.dirname(os.path.dirname(python))), mode)
        cap = os.path.join(self.dir, tag + ".hgcap")
        r = hg("run", "-q", "-o", cap, "--python-allocator=" + mode, "--", python, self.script,
               cwd=self.dir, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        snaps = report_json(cap)["processes"][0]["snapshots"]
        self.assertEqual([s["reason"] for s in snaps], ["request", "exit"])
        first, last = self.tracked(snaps[0]), self.tracked(snaps[1])
        self.assertEqual((first["count"], first["delta_count"]), (100, 100))
        self.assertEqual((last["count"], last["delta_count"]), (350, 250))
        # bytes are not per object alike: the first instances of a class get
        # values blocks sized for 30 attributes, until CPython sizes the
        # class's shared keys to what its instances use
        self.assertGreater(first["bytes"], 100 * 48)
        self.assertEqual(first["delta_bytes"], first["bytes"])
        self.assertEqual(last["delta_bytes"], last["bytes"] - first["bytes"])
        self.assertGreater(last["delta_bytes"], 250 * 48)
        text = hg("report", cap).stdout
        self.assertRegex(text, r"grew most since the snapshot before:\n +350 +\S+ \S+ +\+250 "
                               r"+\+\S+ \S+ +Tracked\n")

    def test_growth(self):
        self.each_python_and_allocator(self.check)


if __name__ == "__main__":
    unittest.main()
