#!/usr/bin/env python3
"""Compare heapgraph's leak classification with valgrind's on the
reachability e2e programs (tests/e2e/reach_*.c|.cc).

Each program is built as run_e2e.py builds it (-O2 -g -pthread, its `build:`
and `lib:` directives), run under `valgrind --leak-check=full
--show-leak-kinds=all --xml=yes`, and recorded with `heapgraph run` and
reported as JSON. The table shows both tools' blocks per class.

What must agree: the lost blocks in all (valgrind definite + indirect,
heapgraph definite + cycle + indirect) and the possible blocks, except where
KNOWN explains why not. What may differ and is only shown: how lost blocks
are split (valgrind names one member of a cycle definite and the rest
indirect; heapgraph names the cycle), and reachable blocks (valgrind runs
glibc's __libc_freeres at exit, heapgraph sees the process as it is).
docs/reachability.md discusses each difference.

Exit status: 0 when everything that must agree agrees, 1 otherwise, 77 when
valgrind is missing (ctest counts that as skipped). Standard library only.

usage: valgrind_compare.py [--heapgraph PATH] [--workdir DIR] [PROGRAM...]
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))

# Programs that test what valgrind does not do, and why they are left out.
SKIP = {
    "reach_snapshot_request": "raises the snapshot signal, which kills a process that heapgraph does not record",
    "reach_snapshot_busy": "raises the snapshot signal, which kills a process that heapgraph does not record",
    "reach_exit_early": "no heapgraph snapshot after _exit: nothing to compare",
    "reach_abort": "no heapgraph snapshot after abort: nothing to compare",
}

# Programs where the classes that must agree do not, with the reason.
KNOWN = {
    "reach_register": "valgrind counts the spinning thread's DTV (272 bytes, pointed to 16 bytes in "
                      "by glibc's TCB) as possibly lost; heapgraph holds it as glibc's",
    "reach_thread_stack": "valgrind counts the blocked thread's DTV (272 bytes, pointed to 16 bytes in "
                          "by glibc's TCB) as possibly lost; heapgraph holds it as glibc's",
    "reach_blocked_thread": "valgrind counts the signal-blocking thread's DTV (272 bytes, pointed to 16 "
                            "bytes in by glibc's TCB) as possibly lost; heapgraph holds it as glibc's",
    "reach_main_pthread_exit": "valgrind counts the exiting thread's DTV (272 bytes, pointed to 16 bytes "
                               "in by glibc's TCB) as possibly lost; heapgraph holds it as glibc's",
}

VG_KINDS = {
    "Leak_DefinitelyLost": "definite",
    "Leak_IndirectlyLost": "indirect",
    "Leak_PossiblyLost": "possible",
    "Leak_StillReachable": "reachable",
}


def directives(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head = text[: text.find("*/")]
    out = {}
    for raw in head.splitlines():
        line = raw.strip().lstrip("/*").strip()
        for key in ("build", "lib"):
            if line.startswith(key + ":"):
                out.setdefault(key, []).append(line[len(key) + 1:].strip())
    return out


def build(src, work):
    """Builds src (and its lib:) like run_e2e.py; returns (exe, env)."""
    d = directives(src)
    env = dict(os.environ)
    for lib in d.get("lib", []):
        parts = shlex.split(lib)
        lout = os.path.join(work, "lib" + os.path.splitext(parts[0])[0] + ".so")
        subprocess.run(["cc", "-O2", "-g", "-shared", "-fPIC", os.path.join(os.path.dirname(src), parts[0]),
                        "-o", lout] + parts[1:], check=True)
        env["HG_TEST_LIB"] = lout
    exe = os.path.join(work, os.path.splitext(os.path.basename(src))[0])
    cc = "c++" if src.endswith(".cc") else "cc"
    flags = sum((shlex.split(f) for f in d.get("build", [])), [])
    subprocess.run([cc, "-O2", "-g", "-pthread", src, "-o", exe] + flags, check=True)
    return exe, env


def run_valgrind(exe, env, work):
    xml = os.path.join(work, "valgrind.xml")
    subprocess.run(["valgrind", "-q", "--leak-check=full", "--show-leak-kinds=all", "--xml=yes",
                    "--xml-file=" + xml, exe], env=env, cwd=work, capture_output=True, timeout=120)
    counts = {k: [0, 0] for k in VG_KINDS.values()}
    for err in ET.parse(xml).getroot().iter("error"):
        kind = VG_KINDS.get(err.findtext("kind"))
        what = err.find("xwhat")
        if kind is None or what is None:
            continue
        counts[kind][0] += int(what.findtext("leakedblocks"))
        # a definite record's bytes include the indirect bytes below it
        split = re.search(r"\(([\d,]+) direct, [\d,]+ indirect\)", what.findtext("text") or "")
        counts[kind][1] += int(split.group(1).replace(",", "")) if split else int(what.findtext("leakedbytes"))
    return counts


def run_heapgraph(hg, exe, env, work):
    cap, out = os.path.join(work, "hg.hgcap"), os.path.join(work, "hg.json")
    subprocess.run([hg, "run", "-q", "-o", cap, "--", exe], env=env, cwd=work, capture_output=True, timeout=120)
    subprocess.run([hg, "report", "--format", "json", "-o", out, cap], check=True, capture_output=True, timeout=120)
    with open(out) as f:
        proc = json.load(f)["processes"][0]
    summ = proc["summary"]
    counts = {k: [summ[k]["blocks"], summ[k]["bytes"]] for k in ("definite", "cycle", "indirect", "possible", "reachable")}
    return counts, proc.get("snapshot") is True


def compare(vg, hg):
    """The differences in what must agree, as text (empty when none)."""
    out = []
    vg_lost = [vg["definite"][i] + vg["indirect"][i] for i in (0, 1)]
    hg_lost = [hg["definite"][i] + hg["cycle"][i] + hg["indirect"][i] for i in (0, 1)]
    if vg_lost != hg_lost:
        out.append(f"lost {vg_lost[0]}/{vg_lost[1]} vs {hg_lost[0]}/{hg_lost[1]}")
    if vg["possible"] != hg["possible"]:
        out.append(f"possible {vg['possible'][0]}/{vg['possible'][1]} vs {hg['possible'][0]}/{hg['possible'][1]}")
    return "; ".join(out)


def fmt(c, kinds):
    return " ".join(f"{c[k][0]:>4}" for k in kinds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heapgraph", default=os.environ.get("HEAPGRAPH", "heapgraph"))
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("HG_BUILD_DIR", "."), "valgrind_compare"))
    ap.add_argument("programs", nargs="*")
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind is not installed: skipped")
        return 77
    progs = a.programs or sorted(glob.glob(os.path.join(HERE, "e2e", "reach_*.c")) +
                                 glob.glob(os.path.join(HERE, "e2e", "reach_*.cc")))
    print(f"{'program':<24} {'valgrind D    I    P    R':<25} | {'heapgraph D    C    I    P    R':<31} | verdict")
    bad = 0
    for src in progs:
        name = os.path.splitext(os.path.basename(src))[0]
        if name in SKIP:
            print(f"{name:<24} skipped: {SKIP[name]}")
            continue
        work = os.path.join(a.workdir, name)
        os.makedirs(work, exist_ok=True)
        exe, env = build(os.path.abspath(src), work)
        vg = run_valgrind(exe, env, work)
        hg, snapshot = run_heapgraph(a.heapgraph, exe, env, work)
        diff = compare(vg, hg) if snapshot else "heapgraph has no exit snapshot (a damaged capture?)"
        if not diff:
            verdict = "agree" + (" (heapgraph names the cycle)" if hg["cycle"][0] else "")
        elif name in KNOWN:
            verdict = f"known: {diff}: {KNOWN[name]}"
        else:
            verdict = f"DISAGREE: {diff}"
            bad += 1
        print(f"{name:<24} {'':<9}{fmt(vg, ('definite', 'indirect', 'possible', 'reachable'))} | "
              f"{'':<10}{fmt(hg, ('definite', 'cycle', 'indirect', 'possible', 'reachable'))} | {verdict}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
