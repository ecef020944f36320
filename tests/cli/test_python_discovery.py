#!/usr/bin/env python3
"""The runtime finds CPython without linking it (profiler/runtime/rt_python.c)
and the report says which one each process runs (JSON `python`): Debian's
static /usr/bin/python3.11, pyenv's python3 (a bash shim in front of a binary
linked with a shared libpython), a C program that dlopens libpython with
RTLD_LOCAL after it started, and a C program without Python (null). The
expected versions come from each interpreter's own sys.version_info.
An interpreter that is not installed is skipped. Standard library only."""
import json
import os
import shutil
import subprocess
import tempfile

from ci_helpers import check, compile_c, finish, hg


EMBED = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    void *py = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!py)
        return fprintf(stderr, "%s\n", dlerror()), 2;
    void (*init)(int) = (void (*)(int))dlsym(py, "Py_InitializeEx");
    int (*run)(const char *) = (int (*)(const char *))dlsym(py, "PyRun_SimpleString");
    int (*fini)(void) = (int (*)(void))dlsym(py, "Py_FinalizeEx");
    init(0);
    int r = run("import json\nx = json.dumps([1, 2, 3])\n");
    fini();
    return r;
}
"""

NATIVE = r"""
#include <stdlib.h>
void *volatile sink;
int main(void) { sink = malloc(10); return 0; }
"""


def py_eval(python, expr):
    return subprocess.run([python, "-c", "import sys, sysconfig; print(%s)" % expr],
                          capture_output=True, text=True, check=True).stdout.strip()


def version_of(python):
    return py_eval(python, "'%d.%d.%d' % sys.version_info[:3]")


def report(tmp, name, *cmd, env=None):
    cap = os.path.join(tmp, name + ".hgcap")
    r = hg("run", "-q", "-o", cap, "--", *cmd, cwd=tmp, env=env)
    check(r.returncode == 0, "%s: run exited %d: %s" % (name, r.returncode, r.stderr))
    rep = hg("report", "-f", "json", cap, cwd=tmp)
    check(rep.returncode == 0, "%s: report exited %d" % (name, rep.returncode))
    return json.loads(rep.stdout)["processes"] if rep.returncode == 0 else []


def interpreters(procs):
    """(exe basename, python) of the processes that run an interpreter."""
    return [(os.path.basename(p["exe"]), p["python"]) for p in procs if p["python"]]


def test_static(tmp):
    python = "/usr/bin/python3.11"
    if not os.path.exists(python):
        return print("skip: no " + python)
    procs = report(tmp, "static", python, "-c", "pass")
    check(interpreters(procs) == [("python3.11", {"version": version_of(python), "frames": True,
                                                       "allocator": "malloc"})],
          "static python3.11: %r" % interpreters(procs))


def pyenv_shim():
    """pyenv's python3 shim by path: under `pyenv exec` (which ran this test if
    python3 is pyenv's) PATH leads to the real binary first."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    shim = os.path.join(root, "shims", "python3")
    return shim if os.access(shim, os.X_OK) else None


def test_shim(tmp):
    shim = pyenv_shim()
    if not shim:
        return print("skip: no pyenv shim")
    real = os.path.realpath(py_eval(shim, "sys.executable"))
    procs = report(tmp, "shim", shim, "-c", "pass")
    found = interpreters(procs)
    # The shim's bash, readlink & co run no Python; only the final process does.
    check(found == [(os.path.basename(real), {"version": version_of(real), "frames": True,
                                                       "allocator": "malloc"})],
          "pyenv shim: %r" % found)
    check(len(procs) > 1, "the shim's wrapper processes are recorded too (%d)" % len(procs))


def test_dlopen(tmp):
    shim = pyenv_shim() or shutil.which("python3")
    libdir = py_eval(shim, "sysconfig.get_config_var('LIBDIR')") if shim else ""
    soname = py_eval(shim, "sysconfig.get_config_var('INSTSONAME')") if shim else ""
    lib = os.path.join(libdir, soname)
    if not shim or not soname or not os.path.exists(lib):
        return print("skip: no shared libpython")
    exe = compile_c(tmp, "embed", EMBED, "-ldl")
    env = dict(os.environ, PYTHONHOME=py_eval(shim, "sys.base_prefix"))
    procs = report(tmp, "embed", exe, lib, env=env)
    check(interpreters(procs) == [("embed", {"version": version_of(shim), "frames": True,
                                                  "allocator": "malloc"})],
          "libpython dlopen'd later: %r" % interpreters(procs))


def test_native(tmp):
    exe = compile_c(tmp, "native", NATIVE)
    procs = report(tmp, "native", exe)
    check(len(procs) == 1 and procs[0]["python"] is None, "a C program runs no Python")


def main():
    with tempfile.TemporaryDirectory(prefix="hg-pydisc-") as tmp:
        test_static(tmp)
        test_shim(tmp)
        test_dlopen(tmp)
        test_native(tmp)
    finish()


if __name__ == "__main__":
    main()
