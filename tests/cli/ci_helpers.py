"""Shared by the command-line tests (test_check*.py, test_diff.py and others):
compiles small target programs with -O2 -g, records them with `heapgraph run`,
and runs heapgraph subcommands; FolderCase for unittest cases that work in a
folder of their own, check() and finish() for the scripts that are not
unittest cases. Standard library only; HEAPGRAPH comes from ctest."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HG = os.environ.get("HEAPGRAPH", "build/heapgraph")

# One leak site of 1000 x 24 bytes (definite), a ring of 3 x 16 bytes (one
# cycle), a block held only through an interior pointer (possible, 64 B), and
# a temporary 100000-byte block that sets the peak: 24000+48+64+100000.
PROG = r"""
#include <stdlib.h>
#include <string.h>
void *volatile sink;
char *volatile interior;
struct node { struct node *next; long pad; };
__attribute__((noinline)) static void leak_site(void)
{
    for (int i = 0; i < 1000; i++)
        sink = malloc(24);
    sink = 0;
}
__attribute__((noinline)) static void make_ring(void)
{
    struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);
    a->next = b; b->next = c; c->next = a;
    sink = a;
    sink = 0;
}
__attribute__((noinline)) static void make_interior(void)
{
    interior = (char *)malloc(64) + 8;
}
__attribute__((noinline)) static void churn(void)
{
    void *big = malloc(100000);
    memset(big, 0, 100000);
    sink = big;
    free(big);
    sink = 0;
}
int main(void)
{
    leak_site();
    make_ring();
    make_interior();
    churn();
    return 0;
}
"""
PROG_FIGURES = {"leaked": 24048, "leaked_blocks": 1003, "cycles": 1, "possible": 64,
                "peak": 124112, "allocations": 1005, "leak_per_site": 24000}

# argv[1] blocks of 1000 bytes live at once (the peak), then freed; 10 x 40
# bytes leaked by old_leak; NEW_LEAK adds one leak of 100 bytes.
V1 = r"""
#include <stdlib.h>
void *volatile sink;
void *volatile held[1000];
__attribute__((noinline)) static void old_leak(void)
{
    for (int i = 0; i < 10; i++)
        sink = malloc(40);
    sink = 0;
}
#ifdef NEW_LEAK
__attribute__((noinline)) static void new_leak(void)
{
    sink = malloc(100);
    sink = 0;
}
#endif
__attribute__((noinline)) static void work(int n)
{
    for (int i = 0; i < n; i++)
        held[i] = malloc(1000);
    for (int i = 0; i < n; i++) {
        free(held[i]);
        held[i] = 0;   /* a later block may reuse the address */
    }
}
int main(int argc, char **argv)
{
    work(argc > 1 ? atoi(argv[1]) : 100);
    old_leak();
#ifdef NEW_LEAK
    new_leak();
#endif
    return 0;
}
"""
SHIFT = "/* a rebuild after unrelated edits:\n * five lines\n * were\n * added\n */\n"


def compile_c(directory, name, source, *flags):
    src = os.path.join(directory, name + ".c")
    exe = os.path.join(directory, name)
    with open(src, "w") as f:
        f.write(source)
    subprocess.run(["cc", "-O2", "-g", "-o", exe, src] + list(flags), check=True)
    return exe


def hg(*args, cwd=None, env=None, timeout=120):
    return subprocess.run([HG] + [str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


class FolderCase(unittest.TestCase):
    """A test case whose class gets a fresh folder, cls.dir, removed after
    its tests; the folder is also HOME and XDG_CONFIG_HOME in cls.env, so
    that no .heapgraph.conf of the machine applies. A subclass names the
    folder with `prefix` and makes its inputs in prepare()."""
    prefix = "hg-"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix=cls.prefix)
        cls.env = dict(os.environ, XDG_CONFIG_HOME=cls.dir, HOME=cls.dir)
        cls.prepare()

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)


def record(directory, exe, name=None, *args):
    """Records exe; returns the capture path. The program's status is not checked."""
    cap = os.path.join(directory, (name or os.path.basename(exe)) + ".hgcap")
    p = hg("run", "-q", "-o", cap, "--", exe, *args, cwd=directory)
    assert os.path.exists(cap), p.stderr
    return cap


# A library whose leak(n, size) leaks n zeroed blocks whose addresses never
# reach its caller (Python scripts call it through ctypes).
LIBLEAK = r"""
#include <stdlib.h>
void *volatile sink;
void leak(int n, size_t size)
{
    for (int i = 0; i < n; i++)
        sink = calloc(1, size);
    sink = 0;
}
"""


def compile_libleak(directory):
    """Builds LIBLEAK as directory/libleak.so; returns its path."""
    return compile_c(directory, "libleak.so", LIBLEAK, "-shared", "-fPIC")


def python_interpreters():
    """The CPython interpreters Python programs are recorded under: pyenv's
    python3 (the binary behind its shim, with a shared libpython) and
    Debian's /usr/bin/python3.11 (a static binary exporting the C API),
    each when this machine has it."""
    found = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        r = subprocess.run([pyenv, "which", "python3"], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            found.append(os.path.realpath(r.stdout.strip()))
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append("/usr/bin/python3.11")
    return found


class PythonCase(unittest.TestCase):
    """A test case run under each interpreter of python_interpreters()
    (skipped when there is none), with a fresh folder, cls.dir, removed after
    its tests, and the class's SCRIPT written there as cls.script (named
    script_name). cls.env leaves PYTHONMALLOC to `run --python-allocator`.
    HOME is left as it is: pyenv's shim finds its versions through it."""
    prefix = "hg-py-"
    script_name = "script.py"
    SCRIPT = None

    @classmethod
    def setUpClass(cls):
        cls.pythons = python_interpreters()
        if not cls.pythons:
            raise unittest.SkipTest("no CPython here")
        cls.dir = tempfile.mkdtemp(prefix=cls.prefix)
        cls.env = {k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"}
        if cls.SCRIPT is not None:
            cls.script = os.path.join(cls.dir, cls.script_name)
            with open(cls.script, "w") as f:
                f.write(cls.SCRIPT)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def each_python_and_allocator(self, check):
        """Runs check(python, allocator) under each interpreter, with each
        value of `run --python-allocator`, as a subtest."""
        for py in self.pythons:
            for mode in ("malloc", "pymalloc"):
                with self.subTest(python=py, mode=mode):
                    check(py, mode)


def inline_stacks(doc):
    """A heapgraph-report/2 document with each "stack" (the id of its
    innermost entry in doc["stacks"], [frame, caller]) replaced by its frames,
    innermost first, and each retention path step [size, offset, stack] by
    {"size", "offset", "stack"}: what the tests read."""
    frames, entries, cache = doc["frames"], doc["stacks"], {}

    def stack(i):
        if i not in cache:
            out, at = [], i
            while at is not None:
                f, at = entries[at]
                out.append(frames[f])
            cache[i] = out
        return cache[i]

    def walk(o):
        if isinstance(o, list):
            for x in o:
                walk(x)
        elif isinstance(o, dict):
            for k, v in o.items():
                if k == "stack" and (v is None or isinstance(v, int)):
                    o[k] = stack(v)
                elif k == "path" and isinstance(v, list) and all(isinstance(s, list) for s in v):
                    o[k] = [{"size": s[0], "offset": s[1], "stack": stack(s[2])} for s in v]
                else:
                    walk(v)
    walk(doc["processes"])
    return doc


def load_report(text):
    """A JSON report's text, parsed, with its stacks inlined (inline_stacks)."""
    return inline_stacks(json.loads(text))


def report_json(cap, *args):
    """The JSON report of a capture, parsed, with its stacks inlined."""
    r = hg("report", "-f", "json", *args, cap)
    assert r.returncode == 0, r.stderr
    return load_report(r.stdout)


# The failed checks of a script that is not a unittest case: check() keeps
# going after a failure, so that one run shows every failure; finish() ends
# the script.
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def finish():
    """Exits with status 1 when a check failed, else prints "ok"."""
    if failures:
        print("%d failed" % len(failures))
        sys.exit(1)
    print("ok")


def check_output_errors(cap, *args):
    """`heapgraph report ARGS -o PATH cap` with an output it cannot write
    fails with one line; on a full disk, with exit status 125."""
    r = hg("report", *args, "-o", "/nonexistent/dir/out", cap)
    check(r.returncode != 0 and r.stderr.count("\n") == 1, f"unwritable output: {r.stderr.strip()}")
    r = hg("report", *args, "-o", "/dev/full", cap)
    check(r.returncode == 125 and r.stderr.count("\n") == 1,
          f"disk full: exit {r.returncode}, {r.stderr.strip()}")
