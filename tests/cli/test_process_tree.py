#!/usr/bin/env python3
"""The text report leads with the process tree and with the program that
matters: a program started through a pyenv-style shim (a `#!/usr/bin/env
bash` script that execs another such script, which execs the real program)
is one tree line, `env -> bash -> env -> bash -> python3 app.py`, and the
first process detailed is that final program, with its exact figures.
`--process` takes a pid or a command name. Standard library only."""
import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import compile_c, hg, load_report  # noqa: E402

# The "interpreter": 100 blocks of 24 bytes kept, 10 of 40 lost; a forked
# child that leaks 16 bytes, and one that allocates nothing.
APP = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
void *volatile sink;
void *volatile kept[100];
__attribute__((noinline)) static void work(void)
{
    for (int i = 0; i < 100; i++)
        kept[i] = malloc(24);
    for (int i = 0; i < 10; i++) {
        sink = malloc(40);
        sink = 0;
    }
}
__attribute__((noinline)) static void child_leak(void)
{
    sink = malloc(16);
    sink = 0;
}
int main(void)
{
    work();
    pid_t a = fork();
    if (a == 0) {
        child_leak();
        exit(0);
    }
    waitpid(a, NULL, 0);
    pid_t b = fork();
    if (b == 0)
        exit(0);
    waitpid(b, NULL, 0);
    return 0;
}
"""

SHIM = '#!/usr/bin/env bash\nexec "$(dirname "$0")/../libexec/pyenv-exec" python3 "$@"\n'
PYENV_EXEC = '#!/usr/bin/env bash\nshift\nexec "$(dirname "$0")/../versions/bin/python3" "$@"\n'


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class Tree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hg-tree-")
        root = os.path.join(cls.dir, "pyenv")
        for sub in ("shims", "libexec", "versions/bin"):
            os.makedirs(os.path.join(root, sub))
        exe = compile_c(cls.dir, "app", APP)
        shutil.copy(exe, os.path.join(root, "versions/bin/python3"))
        write_script(os.path.join(root, "shims/python3"), SHIM)
        write_script(os.path.join(root, "libexec/pyenv-exec"), PYENV_EXEC)
        cls.cap = os.path.join(cls.dir, "t.hgcap")
        r = hg("run", "-q", "-o", cls.cap, "--", os.path.join(root, "shims/python3"), "app.py",
               cwd=cls.dir)
        assert r.returncode == 0, r.stderr
        r = hg("report", "--width", "200", cls.cap)
        assert r.returncode == 0, r.stderr
        cls.text = r.stdout
        cls.procs = load_report(hg("report", "--format", "json", cls.cap).stdout)["processes"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def tree_lines(self):
        lines = self.text.split("\n== process")[0].splitlines()
        start = next(i for i, l in enumerate(lines) if l.strip().startswith("pid"))
        return [l for l in lines[start + 1:] if l.strip()]

    def test_the_shim_chain_is_one_line(self):
        first = self.tree_lines()[0]
        self.assertTrue(first.startswith("  *"), first)
        self.assertTrue(first.endswith(" exit 0    env -> bash -> env -> bash -> python3 app.py"),
                        first)
        self.assertEqual(first.split()[6:8], ["400", "B"])   # leaked

    def test_first_detailed_process_is_the_final_program(self):
        main = self.text.split("\n== process", 1)[1]
        self.assertIn("/pyenv/shims/../libexec/../versions/bin/python3 app.py\n", main)
        self.assertIn("  exec chain env -> bash -> env -> bash -> [python3]\n", main)
        self.assertIn("  memory     110 allocations, 0 frees, 2.7 KiB allocated\n", main)
        self.assertIn("  DEFINITE  400 B in 10 blocks, + 0 B indirect in 0 blocks", main)
        pid = self.procs[0]["pid"]
        self.assertTrue(main.startswith(" %d ==\n" % pid), main[:40])

    def test_children_of_the_program(self):
        kids = [l for l in self.tree_lines() if l.endswith("  python3 app.py")]
        self.assertEqual(len(kids), 2, kids)
        leaky, quiet = kids
        self.assertTrue(leaky.startswith("  *") and " 16 B exit 0 " in leaky, leaky)
        child = [p for p in self.procs if str(p["pid"]) == leaky.split()[1]][0]
        # Its inherited blocks stay at their sites in the parent (a new
        # stack of the child took the id of one of them, once).
        self.assertEqual([(s["bytes"], s["blocks"], s["stack"][0]["function"])
                          for s in child["peak"]["sites"]],
                         [(2400, 100, "work"), (400, 10, "work"), (16, 1, "child_leak")])
        self.assertTrue(quiet.startswith("   ") and "   - exit 0 " in quiet, quiet)
        details = re.findall(r"\n== process (\d+) ==", self.text)
        self.assertIn(leaky.split()[1], details)
        self.assertNotIn(quiet.split()[0], details)
        self.assertEqual(details[0], str(self.procs[0]["pid"]))

    def test_process_by_name(self):
        r = hg("report", "--process", "python3", self.cap)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(re.findall(r"\n== process \d+ ==", r.stdout)), 3)
        self.assertNotIn("Processes:", r.stdout)
        doc = json.loads(hg("report", "--format", "json", "--process", "env", self.cap).stdout)
        self.assertEqual([p["command"][0] for p in doc["processes"]],
                         ["/usr/bin/env", "/usr/bin/env"])
        r = hg("report", "--process", "ruby", self.cap)
        self.assertEqual((r.returncode, r.stderr.strip()),
                         (2, "heapgraph: %s: no process named ruby" % self.cap))

    def test_terminal_width(self):
        narrow = hg("report", "--width", "80", self.cap).stdout
        self.assertFalse([l for l in narrow.splitlines() if len(l) > 80])
        # How many of the shim's processes (its $(dirname) subshells) are
        # detailed depends on the shell; the quiet child never is.
        others = sum(1 for l in self.tree_lines() if not l.startswith("  *"))
        self.assertGreaterEqual(others, 1)
        self.assertIn("\n%d other process%s: one line each in the tree above;\n"
                      "--process PID|NAME details one\n" % (others, "" if others == 1 else "es"),
                      hg("report", "--width", "60", self.cap).stdout)
        self.assertIn(" exit 0    env -> ... -> pyt...\n", narrow)
        plain = hg("report", self.cap).stdout
        self.assertFalse([l for l in plain.splitlines() if len(l) > 100])
        self.assertIn(" exit 0    env -> ... -> python3 app.py\n", plain)


if __name__ == "__main__":
    unittest.main()
