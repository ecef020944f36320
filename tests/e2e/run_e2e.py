#!/usr/bin/env python3
"""Run one end-to-end test: build a target program, record it with
`heapgraph run`, report it as JSON and check the expectations written in the
program's header comment. Standard library only.

Directives, one per line anywhere in the first comment block (lines may start
with ` * `):
  build: FLAGS        extra compiler/linker flags (appended after the source)
  lib: NAME.c FLAGS   also build tests/e2e/NAME.c as lib<NAME>.so beside the
                      program (FLAGS e.g. -ldl); the program gets its path in
                      the environment variable HG_TEST_LIB
  args: ARGS          program arguments (shell-split)
  env: NAME=VALUE     extra environment for the program
  run-opts: OPTS      options for `heapgraph run` before `--`
  report-opts: OPTS   options for `heapgraph report` (besides --format json)
  exit: N             expected exit status of `heapgraph run` (default 0)
  expect: EXPR        a Python expression over the report, must be true; the
                      report's top-level keys are variables and dict keys read
                      as attributes: processes[0].summary.definite.blocks == 1000
  expect-stderr: TEXT `heapgraph run`'s stderr must contain TEXT
Every program runs with HEAPGRAPH_UNWIND=check unless its env: says otherwise:
the runtime's stack walker is compared with libunwind on every stack, and any
difference it reports on stderr fails the test.
Helpers usable in EXPR: proc(i) = processes[i], leaks(i, kind) = the leak groups
of process i of that kind, frames(entry) = function names of its stack.
Compilation: `cc -O2 -g` for .c, `c++ -O2 -g` for .cc, always with -pthread.
"""
import argparse, json, os, shlex, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
from ci_helpers import inline_stacks  # noqa: E402


class A(dict):
    """A dict whose keys read as attributes, recursively."""
    def __getattr__(self, k):
        try:
            return wrap(self[k])
        except KeyError:
            raise AttributeError(k)

    def __getitem__(self, k):
        return wrap(dict.__getitem__(self, k))


class L(list):
    def __getitem__(self, i):
        return wrap(list.__getitem__(self, i))

    def __iter__(self):
        return (wrap(x) for x in list.__iter__(self))


def wrap(v):
    if isinstance(v, dict) and not isinstance(v, A):
        return A(v)
    if isinstance(v, list) and not isinstance(v, L):
        return L(v)
    return v


def directives(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    end = text.find("*/")
    head = text[: end if end >= 0 else len(text)]
    for raw in head.splitlines():
        line = raw.strip().lstrip("/*").strip()
        for key in ("build", "lib", "args", "env", "run-opts", "report-opts", "exit",
                    "expect-stderr", "expect"):
            if line.startswith(key + ":"):
                out.append((key, line[len(key) + 1:].strip()))
                break
    return out


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heapgraph", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("source")
    a = ap.parse_args()
    src = os.path.abspath(a.source)
    name = os.path.splitext(os.path.basename(src))[0]
    work = os.path.join(a.workdir, name)
    os.makedirs(work, exist_ok=True)
    d = directives(src)
    get = lambda k: [v for key, v in d if key == k]
    env = dict(os.environ)
    env["HEAPGRAPH_UNWIND"] = "check"
    for lib in get("lib"):
        parts = shlex.split(lib)
        lsrc = os.path.join(os.path.dirname(src), parts[0])
        lout = os.path.join(work, "lib" + os.path.splitext(parts[0])[0] + ".so")
        subprocess.run(["cc", "-O2", "-g", "-shared", "-fPIC", lsrc, "-o", lout] + parts[1:], check=True)
        env["HG_TEST_LIB"] = lout
    cc = "c++" if src.endswith(".cc") else "cc"
    exe = os.path.join(work, name)
    flags = sum((shlex.split(f) for f in get("build")), [])
    subprocess.run([cc, "-O2", "-g", "-pthread", src, "-o", exe] + flags, check=True)
    for e in get("env"):
        k, _, v = e.partition("=")
        env[k] = v
    cap = os.path.join(work, name + ".hgcap")
    if os.path.exists(cap):
        os.unlink(cap)
    run_opts = sum((shlex.split(o) for o in get("run-opts")), [])
    args = sum((shlex.split(o) for o in get("args")), [])
    cmd = [a.heapgraph, "run", "-q", "-o", cap] + run_opts + ["--", exe] + args
    r = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    want_exit = int((get("exit") or ["0"])[0])
    if r.returncode != want_exit:
        fail(f"heapgraph run exited {r.returncode}, expected {want_exit}\nstderr:\n{r.stderr}")
    if "unwinder check" in r.stderr:
        fail(f"the stack walker and libunwind disagree:\n{r.stderr}")
    for s in get("expect-stderr"):
        if s not in r.stderr:
            fail(f"stderr lacks {s!r}:\n{r.stderr}")
    rep_opts = sum((shlex.split(o) for o in get("report-opts")), [])
    out = os.path.join(work, name + ".json")
    rr = subprocess.run([a.heapgraph, "report", "--format", "json", "--show-reachable", "-o", out] +
                        rep_opts + [cap],
                        capture_output=True, text=True, timeout=300)
    if rr.returncode != 0:
        fail(f"heapgraph report exited {rr.returncode}\nstderr:\n{rr.stderr}")
    with open(out) as f:
        report = wrap(inline_stacks(json.load(f)))
    scope = dict(report)
    scope.update({k: wrap(v) for k, v in report.items()})
    scope["proc"] = lambda i: report.processes[i]
    scope["leaks"] = lambda i, kind: [l for l in report.processes[i].leaks if l.kind == kind]
    scope["frames"] = lambda e: [f.get("function") for f in e.stack]
    failed = 0
    checks = get("expect")
    if not checks:
        fail("no expect: lines")
    for expr in checks:
        try:
            # scope in the globals too, so that comprehensions see proc/frames/leaks
            ok = eval(expr, dict(scope, __builtins__={"len": len, "sum": sum, "any": any, "all": all,
                                                      "sorted": sorted, "set": set, "min": min, "max": max}))
        except Exception as e:  # a missing field is a failed expectation
            ok, expr = False, f"{expr}  ({type(e).__name__}: {e})"
        if not ok:
            failed += 1
            print(f"expectation failed: {expr}")
    if failed:
        print(f"report: {out}")
        summ = [p.get("summary") for p in report.get("processes", [])]
        print("summaries: " + json.dumps(summ, indent=1)[:3000])
        sys.exit(1)
    print(f"{name}: {len(checks)} expectations hold")


if __name__ == "__main__":
    main()
