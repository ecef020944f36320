#!/usr/bin/env python3
"""heapgraph report --format html: records tests/e2e/html_leak_cycle.c and
checks the page without a browser: one self-contained file (no URL to load),
the hostile file name only in escaped form, the embedded JSON report equal to
`--format json --show-reachable` (stacks resolved in the page's table), per-site
figures and lifetimes that add up to the summary, a leak list cut at 300
entries with what was left out, and one-line errors for an unwritable output
and an unknown pid.
(tests/browser/test_html_report.js drives the page in chromium.)"""
import json, os, re, subprocess, tempfile

from ci_helpers import check, check_output_errors, compile_c, finish, hg, inline_stacks

SRC = os.path.join(os.environ["HG_SOURCE_DIR"], "tests/e2e/html_leak_cycle.c")
XSS = "</script><img src=x onerror=alert(1)>.c"


def decode_lifetimes(lst):
    out, b = [], 0
    for i in range(0, len(lst), 3):
        b += lst[i]
        out.append((b, lst[i + 1], lst[i + 2]))
    return out


def view_rows(data, view):
    """A view's sites as rows, each stack as its frame indexes, innermost
    first, and the frames as [label, file, line, module]."""
    cols, rows = view["sites"], []
    for i, k in enumerate(cols["k"]):
        path = []
        while k is not None:
            frame, k = data["stacks"][k]
            path.append(frame)
        row = {"k": path}
        row.update({c: v[i] for c, v in cols.items() if c != "k"})
        rows.append(row)
    frames = [[f["function"], f["file"], f["line"], f["module"]] for f in data["frames"]]
    return rows, frames


def check_leaks_cut(work):
    """320 leaks at 320 sites: the page's report keeps the biggest 300."""
    src = "#include <stdlib.h>\nvoid *volatile sink;\n"
    src += "".join("__attribute__((noinline)) static void leak%d(void) { sink = malloc(%d); }\n"
                   % (i, 16 + i) for i in range(320))
    src += "int main(void)\n{\n" + "".join("    leak%d();\n" % i for i in range(320)) + \
        "    sink = 0;\n    return 0;\n}\n"
    exe = compile_c(work, "many", src)
    cap, html = os.path.join(work, "many.hgcap"), os.path.join(work, "many.html")
    check(hg("run", "-q", "-o", cap, "--", exe).returncode == 0, "320 leaks recorded")
    check(hg("report", "--format", "html", "-o", html, cap).returncode == 0, "their page written")
    page = open(html, encoding="utf-8").read()
    m = re.search(r'<script type="application/json" id="hg-data">(.*?)</script>', page, re.S)
    proc = json.loads(m.group(1))["report"]["processes"][0]
    definite = [l for l in proc["leaks"] if l["kind"] == "definite"]
    cut = proc.get("leaks_omitted")
    check(len(proc["leaks"]) == 300 and len(definite) == 300 and
          min(l["bytes"] for l in definite) == 16 + 20, "the page lists the 300 biggest leaks")
    check(cut == {"entries": 20, "blocks": 20, "bytes": sum(16 + i for i in range(20))},
          "and says what it left out: %r" % cut)


def main():
    work = tempfile.mkdtemp(prefix="hg-html-")
    exe, cap = os.path.join(work, "prog"), os.path.join(work, "prog.hgcap")
    subprocess.run(["cc", "-O2", "-g", SRC, "-o", exe], check=True)
    r = hg("run", "-q", "-o", cap, "--", exe)
    check(r.returncode == 0, f"recorded (exit {r.returncode}) {r.stderr.strip()}")
    js, html = os.path.join(work, "r.json"), os.path.join(work, "r.html")
    check(hg("report", "--format", "json", "--show-reachable", "-o", js, cap).returncode == 0,
          "JSON report written")
    r = hg("report", "--format", "html", "-o", html, cap)
    check(r.returncode == 0 and r.stderr == "", f"HTML report written {r.stderr.strip()}")
    page = open(html, encoding="utf-8").read()
    report = json.load(open(js))

    check(page.count("</script>") == 2, "only the page's own two script elements close")
    check("<img" not in page and XSS not in page, "the hostile file name never appears unescaped")
    check("\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e.c" in page, "it appears escaped")
    check(not re.search(r'\b(src|href)\s*=\s*"(https?:)?//', page), "no URL to load")
    check("default-src 'none'" in page, "the Content-Security-Policy forbids requests")

    m = re.search(r'<script type="application/json" id="hg-data">(.*?)</script>', page, re.S)
    data = json.loads(m.group(1))
    check(data["format"] == "heapgraph-html/2", "data format heapgraph-html/2")
    embedded = dict(data["report"], frames=data["frames"], stacks=data["stacks"])
    check(inline_stacks(embedded) == dict(inline_stacks(report), frames=data["frames"],
                                          stacks=data["stacks"]),
          "the embedded report equals --format json --show-reachable")
    check(data["lifetimes"] == "ok", "block lifetimes gathered")
    view, proc = data["views"][0], report["processes"][0]
    s = proc["summary"]
    sites, frames = view_rows(data, view)
    check(sum(x["n"] for x in sites) == s["allocations"] == 3005,
          f"site allocations add up to {s['allocations']}")
    check(sum(x["b"] for x in sites) == s["allocated_bytes"] == 100 + 96 + 48 + 2000 * 64 + 1000 * 128,
          "site bytes add up to the bytes allocated")
    lost = s["definite"]["bytes"] + s["cycle"]["bytes"] + s["indirect"]["bytes"]
    check(sum(x["l"] for x in sites) == lost == 196, f"leaked bytes by site add up to {lost}")
    check(sum(x["t"] for x in sites) == 3000, "3000 temporaries")
    for x in sites:
        a = decode_lifetimes(x["a"])
        f = decode_lifetimes(x["f"])
        z = decode_lifetimes(x["z"])
        check(sum(c for _, c, _ in a) == x["n"] and sum(y for _, _, y in a) == x["b"],
              f"site {x['k'][:2]}: lifetimes hold its {x['n']} allocations")
        check(all(0 <= b < view["life"]["n"] for b, _, _ in a + f + z), "buckets within life.n")
    ended = sum(c for x in sites for _, c, _ in decode_lifetimes(x["f"]))
    lost = sum(c for x in sites for _, c, _ in decode_lifetimes(x["z"]))
    check(ended == s["frees"] == 3000, f"the lifetimes hold {ended} ends: every free")
    check(lost == s["definite"]["blocks"] + s["cycle"]["blocks"] == 4, f"and {lost} leaked blocks")
    ser = view["series"]
    heap = [sum(ser["heap"][:i + 1]) for i in range(len(ser["heap"]))]   # each point a change
    check(ser["source"] == "events" and max(heap) == s["peak_bytes"] == 372,
          f"the heap series peaks at the peak: {max(heap)}")
    check(len(ser["heap"]) == len(ser["rss"]) <= 2048, f"{len(ser['heap'])} timeline points")
    names = [frames[x["k"][0]][0] for x in sites]
    nodes = [x for x in sites if frames[x["k"][0]][0] == "make_node"]
    check(len(nodes) == 3 and sum(x["l"] for x in nodes) == 96 and
          all(frames[x["k"][0]][1] == XSS for x in nodes),
          "the cycle's three sites are make_node in the hostile file, 96 bytes")
    check("leak_buffer" in names, "leak_buffer is a frame")

    # A capture cut in the middle: the page shows what came before the damage.
    cut = os.path.join(work, "cut.hgcap")
    with open(cap, "rb") as f:
        blob = f.read()
    with open(cut, "wb") as f:
        f.write(blob[: len(blob) // 2])
    cut_html = os.path.join(work, "cut.html")
    r = hg("report", "--format", "html", "-o", cut_html, cut)
    page = open(cut_html, encoding="utf-8").read() if os.path.exists(cut_html) else ""
    m = re.search(r'<script type="application/json" id="hg-data">(.*?)</script>', page, re.S)
    cut_data = json.loads(m.group(1)) if m else {"report": {}}
    check(r.returncode == 0 and "damaged" in r.stderr and r.stderr.count("\n") == 1,
          f"truncated capture: exit {r.returncode}, {r.stderr.strip()}")
    check(cut_data["report"].get("complete") is False and cut_data["report"].get("damage"),
          "the page's report says the capture is damaged")

    r = hg("report", "--format", "html", "--process", "999999", "-o", html, cap)
    check(r.returncode != 0 and r.stderr.count("\n") == 1, f"unknown pid: {r.stderr.strip()}")
    check_output_errors(cap, "--format", "html")
    check_leaks_cut(work)


if __name__ == "__main__":
    main()
    finish()
