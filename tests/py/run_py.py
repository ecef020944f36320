#!/usr/bin/env python3
"""Run one Python end-to-end test: record tests/py/NAME.py under one
interpreter with `heapgraph run`, report it as JSON and check the
expectations written in the script's leading comment. Standard library only.

Each script runs under both interpreters of the suite, as two ctests:
`--python pyenv` (the real binary behind pyenv's python3 shim, a shared
libpython) and `--python /usr/bin/python3.11` (Debian's static one). An
interpreter that is not installed skips the test (exit 77).

Directives, one per line in the leading comment block (`# key: value`):
  script: FILE      record tests/py/FILE instead of this file (a test of another
                    launch of the same script; L() reads FILE)
  launch: HOW       direct (default): PYTHON script; shim: pyenv's python3 shim
                    (pyenv only, else skipped); shebang: the script made
                    executable with `#!/usr/bin/env python3` and PATH leading to
                    the interpreter; venv: the python of a venv made with
                    `python -m venv --without-pip`; module: `python -m NAME`
  args: ARGS        script arguments (shell-split)
  env: NAME=VALUE   extra environment
  expect: EXPR      a Python expression over the report that must be true
Every run has PYTHONMALLOC=malloc (every object its own block) until the
launcher sets it by default.

Names usable in EXPR:
  procs             the processes that run Python (JSON, keys read as attributes)
  report_processes  every process of the capture
  main              the first of them whose command names this script (or module)
  L(tag)            the line of the script that holds the comment `#@tag`
  at(p, func, line, size=None)
                    (allocations, bytes) of the sites of process p (among
                    the TOP largest by bytes) whose
                    innermost Python frame is func at line (line None: any),
                    all of whose blocks are `size` bytes when size is given
  pystack(p, func, line, size=None)
                    the Python frames, [(function, line), ...] innermost
                    first, of the first such site (by bytes)
  stack(p, func, line, size=None)
                    every shown frame of that site as [(function, language)]
  frames(p, func, line, size=None)
                    the same frames as they are in the JSON
  base(path)        os.path.basename
  zlib_module       the file of the interpreter's zlib module ("": built in)
  version, vt       the interpreter's version, "3.11.7" and (3, 11, 7) (its own
                    sys.version_info): the suite runs 3.11, and the same tests
                    check other versions by hand (docs/runtime.md, "Python")
  Q(name)           a function's name as frames give it: the qualified name
                    from 3.11 (co_qualname), the last part of it before
"""
import argparse, json, os, shlex, shutil, stat, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from run_e2e import inline_stacks, wrap  # noqa: E402  (the same attribute access as the C tests)

SKIP = 77
# Sites per list in the report: the tests make their blocks big enough to be
# among these (a Python run has thousands of small sites from its imports).
TOP = 300


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def directives(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line.startswith("#"):
                break
            line = line.lstrip("#").strip()
            for key in ("script", "launch", "args", "env", "expect"):
                if line.startswith(key + ":"):
                    out.append((key, line[len(key) + 1:].strip()))
    return out


def pyenv_shim():
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    shim = os.path.join(root, "shims", "python3")
    return shim if os.access(shim, os.X_OK) else None


def interpreter(which):
    """The interpreter binary for --python, None when it is missing."""
    if which != "pyenv":
        return which if os.access(which, os.X_OK) else None
    shim = pyenv_shim()
    if not shim:
        return None
    r = subprocess.run([shim, "-c", "import sys; print(sys.executable)"], capture_output=True,
                       text=True)
    return os.path.realpath(r.stdout.strip()) if r.returncode == 0 else None


def command(how, python, src, work, env):
    """The command line that launches the script `how`; None to skip."""
    name = os.path.splitext(os.path.basename(src))[0]
    if how == "direct":
        return [python, src]
    if how == "shim":
        shim = pyenv_shim()
        return [shim, src] if shim and python == interpreter("pyenv") else None
    if how == "shebang":
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir, exist_ok=True)
        link = os.path.join(bindir, "python3")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(python, link)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        script = os.path.join(work, name + ".py")
        with open(src) as f:
            body = f.read().split("\n", 1)
        with open(script, "w") as f:   # in place of the first comment line: lines stay put
            f.write("#!/usr/bin/env python3\n" + body[1])
        os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
        return [script]
    if how == "venv":
        venv = os.path.join(work, "venv")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
        return [os.path.join(venv, "bin", "python"), src]
    if how == "module":
        env["PYTHONPATH"] = os.path.dirname(src)
        return [python, "-m", name]
    fail("unknown launch: " + how)


def python_frames(site):
    return [(f.function, f.line) for f in site.stack if f.language == "python"]


def matching(p, func, line, size):
    for s in p.sites:
        py = python_frames(s)
        if py and py[0][0] == func and (line is None or py[0][1] == line) and \
                (size is None or s.bytes == s.allocations * size):
            yield s


def version_of(python):
    r = subprocess.run([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def module_file(python, name):
    """Where the interpreter finds module `name` ("" when it is built in)."""
    r = subprocess.run([python, "-c", "import %s; print(getattr(%s, '__file__', ''))" % (name, name)],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def helpers(report, src, name):
    procs = [p for p in report.processes if p.python]
    mains = [p for p in procs if any(name in arg for arg in p.command)]
    with open(src) as f:
        lines = f.read().splitlines()

    def L(tag):
        hits = [i + 1 for i, text in enumerate(lines) if text.rstrip().endswith("#@" + tag)]
        if len(hits) != 1:
            raise KeyError("#@%s marks %d lines" % (tag, len(hits)))
        return hits[0]

    def at(p, func, line, size=None):
        sites = list(matching(p, func, line, size))
        return (sum(s.allocations for s in sites), sum(s.bytes for s in sites))

    def first(p, func, line, size):
        sites = sorted(matching(p, func, line, size), key=lambda s: -s.bytes)
        if not sites:
            raise KeyError("no site at %s:%s" % (func, line))
        return sites[0]

    return {"procs": procs, "report_processes": list(report.processes), "main": mains[0] if mains else None, "L": L, "at": at,
            "pystack": lambda p, func, line, size=None: python_frames(first(p, func, line, size)),
            "stack": lambda p, func, line, size=None: [(f.function, f.language)
                                                       for f in first(p, func, line, size).stack],
            "frames": lambda p, func, line, size=None: list(first(p, func, line, size).stack),
            "base": os.path.basename}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heapgraph", required=True)
    ap.add_argument("--python", required=True, help="pyenv, or an interpreter's path")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("source")
    a = ap.parse_args()
    a.heapgraph = os.path.abspath(a.heapgraph)
    test = os.path.abspath(a.source)
    d = directives(test)
    get = lambda k: [v for key, v in d if key == k]
    src = os.path.join(os.path.dirname(test), get("script")[0]) if get("script") else test
    name = os.path.splitext(os.path.basename(src))[0]
    python = interpreter(a.python)
    if not python:
        print("skip: no interpreter for " + a.python)
        sys.exit(SKIP)
    tag = "pyenv" if a.python == "pyenv" else os.path.basename(a.python)
    test_name = os.path.splitext(os.path.basename(test))[0]
    work = os.path.join(a.workdir, test_name + "-" + tag)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, PYTHONMALLOC="malloc")
    for e in get("env"):
        k, _, v = e.partition("=")
        env[k] = v
    cmd = command((get("launch") or ["direct"])[0], python, src, work, env)
    if not cmd:
        print("skip: this launch needs pyenv")
        sys.exit(SKIP)
    cmd += sum((shlex.split(x) for x in get("args")), [])
    cap = os.path.join(work, name + ".hgcap")
    r = subprocess.run([a.heapgraph, "run", "-q", "-o", cap, "--"] + cmd, env=env, cwd=work,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail("heapgraph run exited %d\nstderr:\n%s" % (r.returncode, r.stderr))
    out = os.path.join(work, name + ".json")
    rr = subprocess.run([a.heapgraph, "report", "--format", "json", "--show-reachable", "--top",
                         str(TOP), "-o", out, cap], capture_output=True, text=True, timeout=300)
    if rr.returncode != 0:
        fail("heapgraph report exited %d\nstderr:\n%s" % (rr.returncode, rr.stderr))
    with open(out) as f:
        report = wrap(inline_stacks(json.load(f)))
    scope = helpers(report, src, name)
    scope["version"] = version_of(python)
    scope["zlib_module"] = module_file(python, "zlib")
    scope["vt"] = tuple(int(x) for x in scope["version"].split("."))
    scope["Q"] = lambda q: q if scope["vt"] >= (3, 11) else q.rsplit(".", 1)[-1]
    checks = get("expect")
    if not checks:
        fail("no expect: lines")
    failed = 0
    for expr in checks:
        try:
            ok = eval(expr, dict(scope, __builtins__={"len": len, "sum": sum, "any": any,
                                                      "all": all, "sorted": sorted, "set": set,
                                                      "min": min, "max": max, "list": list,
                                                      "range": range}))
        except Exception as e:  # a missing field or site is a failed expectation
            ok, expr = False, "%s  (%s: %s)" % (expr, type(e).__name__, e)
        if not ok:
            failed += 1
            print("expectation failed: " + expr)
    if failed:
        print("report: " + out)
        sys.exit(1)
    print("%s (%s): %d expectations hold" % (test_name, tag, len(checks)))


if __name__ == "__main__":
    main()
