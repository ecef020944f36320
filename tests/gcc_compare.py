#!/usr/bin/env python3
"""Compare heapgraph's definite leaks with valgrind's on real compilers:
`gcc -c` of a C file of this project (report/render/html.c, 1,200 lines)
and `g++ -c` of a template-heavy C++ file (written by this script: maps,
unordered maps, regexes, tuples and std::function instantiated 12 times).

GCC keeps its trees in garbage-collected pages it maps itself; before
heapgraph took memory the program maps as a root, every cc1 reported 16-20
"definite" blocks and cc1plus about 280 that valgrind does not
(docs/reachability.md). Each compiler is run with its children (the driver,
cc1 or cc1plus, as) under `valgrind --trace-children=yes --leak-check=full
--xml=yes` and under `heapgraph run`, and the processes are paired by
program (driver, cc1, cc1plus, as).

What must hold, per process: heapgraph has no definite block that valgrind
does not report. heapgraph's definite blocks (definite + the members of
root cycles, which valgrind splits into one definite and the rest
indirect) are at most valgrind's definite + indirect ones, and for every
allocation site with a function name (the first two functions outside the
allocator: malloc, xmalloc, operator new, ...) at most as many as valgrind
reports lost at that site. Sites without names (stripped programs, such as
the driver) are compared by their total. Possible and reachable blocks are
shown, not compared.

valgrind takes about 5 minutes on the C++ file here, so this is a script
run by hand (docs/reachability.md), not a ctest. Exit status: 0 when every
process agrees, 1 otherwise, 77 when valgrind or a compiler is missing.
Standard library only.

usage: gcc_compare.py [--heapgraph PATH] [--workdir DIR]
"""
import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TEMPLATES = r"""
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

template <int N> struct Fib { static constexpr long v = Fib<N - 1>::v + Fib<N - 2>::v; };
template <> struct Fib<1> { static constexpr long v = 1; };
template <> struct Fib<0> { static constexpr long v = 0; };

template <typename... Ts> struct Pack {
    std::tuple<std::vector<Ts>...> data;
    template <size_t I> auto &get() { return std::get<I>(data); }
};

template <typename K, typename V> std::string dump(const std::map<K, V> &m)
{
    std::ostringstream o;
    for (auto &kv : m) o << kv.first << '=' << kv.second << ';';
    return o.str();
}

template <int I> long instantiate()
{
    std::map<int, std::string> m;
    std::unordered_map<std::string, std::vector<double>> u;
    m[I] = std::to_string(Fib<I % 40>::v);
    u[m[I]].push_back(I);
    std::function<long(long)> f = [](long x) { return x * I; };
    Pack<int, double, std::string, std::shared_ptr<int>> p;
    p.template get<0>().push_back(I);
    std::vector<std::pair<int, std::string>> v(m.begin(), m.end());
    std::sort(v.begin(), v.end());
    std::regex re("[a-z]+" + std::to_string(I));
    return f(I) + (long)dump(m).size() + (long)u.size() + (long)std::regex_match("ab", re);
}

template <int... Is> long all(std::integer_sequence<int, Is...>) { return (instantiate<Is>() + ...); }

long entry() { return all(std::make_integer_sequence<int, 12>{}); }
"""

ALLOCATORS = {"malloc", "calloc", "realloc", "xmalloc", "xcalloc", "xrealloc", "xmemdup",
              "operator new(unsigned long)", "operator new[](unsigned long)", "_Znwm", "_Znam"}
KINDS = ("definite", "cycle", "indirect", "possible", "reachable")


def program(exe):
    """The pairing key of a process: driver, cc1, cc1plus or as."""
    base = os.path.basename(exe or "")
    for name in ("cc1plus", "cc1"):
        if base == name:
            return name
    if base == "as" or base.endswith("-as"):
        return "as"
    return "driver"


def site_key(functions):
    """First two named functions outside the allocator; None when the
    innermost frames have no names."""
    rest = [f for f in functions if f not in ALLOCATORS]
    if not rest or rest[0] is None:
        return None
    return tuple(rest[:2])


def valgrind_processes(work):
    out = {}
    for path in glob.glob(os.path.join(work, "vg.*.xml")):
        root = ET.parse(path).getroot()
        exe = root.findtext("args/argv/exe")
        counts = {k: 0 for k in KINDS}
        lost = collections.Counter()
        for err in root.iter("error"):
            kind = {"Leak_DefinitelyLost": "definite", "Leak_IndirectlyLost": "indirect",
                    "Leak_PossiblyLost": "possible", "Leak_StillReachable": "reachable"}.get(err.findtext("kind"))
            what = err.find("xwhat")
            if kind is None or what is None:
                continue
            n = int(what.findtext("leakedblocks"))
            counts[kind] += n
            if kind in ("definite", "indirect"):
                lost[site_key([f.findtext("fn") for f in err.find("stack").iter("frame")])] += n
        out[program(exe)] = (counts, lost)
    return out


def heapgraph_processes(report):
    out = {}
    for p in report["processes"]:
        counts = {k: p["summary"][k]["blocks"] for k in KINDS}
        lost = collections.Counter()
        for leak in p.get("leaks", []):
            if leak["kind"] in ("definite", "cycle"):
                lost[site_key([f.get("function") for f in leak.get("stack", [])])] += leak["blocks"]
        out[program(p.get("exe"))] = (counts, lost)
    return out


def compare(vg, hg):
    """What heapgraph calls lost that valgrind does not, as text."""
    vg_counts, vg_lost = vg
    hg_counts, hg_lost = hg
    out = []
    hg_def = hg_counts["definite"] + hg_counts["cycle"]
    vg_all = vg_counts["definite"] + vg_counts["indirect"]
    if hg_def > vg_all:
        out.append(f"{hg_def} definite blocks against valgrind's {vg_all} lost")
    for key, n in sorted(hg_lost.items(), key=lambda kv: str(kv[0])):
        if key is None:
            if n > vg_lost.get(None, 0) + sum(v for k, v in vg_lost.items() if k is not None):
                out.append(f"{n} unnamed definite blocks against valgrind's {vg_lost.get(None, 0)}")
        elif n > vg_lost.get(key, 0):
            out.append(f"{n} definite at {' < '.join(key)} against valgrind's {vg_lost.get(key, 0)}")
    return "; ".join(out)


def run_one(hg, compiler, src, flags, work):
    os.makedirs(work, exist_ok=True)
    for old in glob.glob(os.path.join(work, "vg.*.xml")):
        os.remove(old)
    cmd = [compiler, "-c", src, "-o", os.path.join(work, "out.o")] + flags
    subprocess.run(["valgrind", "-q", "--trace-children=yes", "--leak-check=full", "--show-leak-kinds=all",
                    "--xml=yes", "--xml-file=" + os.path.join(work, "vg.%p.xml")] + cmd,
                   cwd=work, capture_output=True, timeout=3600, check=True)
    cap, js = os.path.join(work, "hg.hgcap"), os.path.join(work, "hg.json")
    subprocess.run([hg, "run", "-q", "-o", cap, "--"] + cmd, cwd=work, capture_output=True, timeout=600,
                   check=True)
    subprocess.run([hg, "report", "-f", "json", "-o", js, cap], capture_output=True, timeout=600, check=True)
    with open(js) as f:
        return valgrind_processes(work), heapgraph_processes(json.load(f))


def fmt(counts, kinds):
    return " ".join(f"{counts[k]:>6}" for k in kinds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heapgraph", default=os.environ.get("HEAPGRAPH", "heapgraph"))
    ap.add_argument("--workdir", default="gcc_compare")
    a = ap.parse_args()
    if not all(shutil.which(t) for t in ("valgrind", "gcc", "g++")):
        print("valgrind, gcc or g++ is not installed: skipped")
        return 77
    hg = shutil.which(a.heapgraph) or os.path.abspath(a.heapgraph)
    work = os.path.abspath(a.workdir)
    os.makedirs(work, exist_ok=True)
    cxx = os.path.join(work, "templates.cc")
    with open(cxx, "w") as f:
        f.write(TEMPLATES)
    cases = [("gcc", os.path.join(ROOT, "report", "render", "html.c"), ["-O2", "-std=gnu11", "-D_GNU_SOURCE", "-DHG_VERSION=\"0\"", "-I" + ROOT]),
             ("g++", cxx, ["-O1", "-std=c++17"])]
    print(f"{'run':<9} {'process':<8} | {'valgrind D      I      P      R':<30} | "
          f"{'heapgraph D      C      I      P      R':<38} | verdict")
    bad = 0
    for compiler, src, flags in cases:
        vg, hgp = run_one(hg, compiler, src, flags, os.path.join(work, compiler))
        for name in sorted(set(vg) | set(hgp)):
            if name not in vg or name not in hgp:
                print(f"{compiler:<9} {name:<8} | only one tool saw this process")
                bad += 1
                continue
            diff = compare(vg[name], hgp[name])
            bad += bool(diff)
            print(f"{compiler:<9} {name:<8} | {'':<7}{fmt(vg[name][0], ('definite', 'indirect', 'possible', 'reachable'))} | "
                  f"{'':<8}{fmt(hgp[name][0], KINDS)} | {'DISAGREE: ' + diff if diff else 'agree'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
