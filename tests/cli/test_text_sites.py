#!/usr/bin/env python3
"""The text report's sites and cycles as a person reads them in a terminal
(docs/report.md, "The text report"): a site line starts at the first frame
outside the allocation wrappers and the C library, and shows as many callers
as the width holds; a cycle lists every pointer that closes it, grouped by
pair of members and labelled by allocating function and offset, or says
exactly how many more there are. One program, exact lines.
Standard library only."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ci_helpers import FolderCase, compile_c, hg, record  # noqa: E402

# Two wrappers of the program's own (xmalloc around malloc, my_alloc around
# calloc) and xstrdup around strdup, each called from distinct functions;
# fopen allocates inside the C library. A hub holds 40 pointers to a spoke
# that points back; a ring of 30 nodes points both ways. deep_1 .. deep_8
# make a stack deeper than a line. twin_make is called from two lines of
# main, and so is far_5, whose stacks part deeper than a line shows. The
# LINE_ markers give expected lines.
PROG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define NOINLINE __attribute__((noinline))
struct hub { void *to[40]; };
struct spoke { struct hub *back; long pad; };
struct node { struct node *next, *prev; };
void *volatile sink;
NOINLINE void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}
NOINLINE void *my_alloc(size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        abort();
    return p;
}
NOINLINE char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}
NOINLINE struct hub *hub_new(void)
{
    struct hub *h = xmalloc(sizeof *h);   /* LINE_HUB */
    sink = h;
    return h;
}
NOINLINE struct spoke *spoke_new(void)
{
    struct spoke *s = my_alloc(sizeof *s);   /* LINE_SPOKE */
    sink = s;
    return s;
}
NOINLINE char *name_copy(const char *s)
{
    char *p = xstrdup(s);   /* LINE_NAME */
    sink = p;
    return p;
}
NOINLINE struct node *node_new(void)
{
    struct node *n = my_alloc(sizeof *n);   /* LINE_NODE */
    sink = n;
    return n;
}
NOINLINE void open_log(void)
{
    sink = fopen("/dev/null", "r");   /* LINE_FOPEN */
}
NOINLINE void ring(int n)
{
    struct node *first = node_new(), *last = first;   /* LINE_RING_FIRST */
    for (int i = 1; i < n; i++) {
        struct node *x = node_new();   /* LINE_RING_LOOP */
        x->prev = last;
        last->next = x;
        last = x;
    }
    last->next = first;
    first->prev = last;
    sink = 0;
}
NOINLINE void deep_1(void) { sink = xmalloc(7000); sink = 0; }   /* LINE_DEEP */
NOINLINE void deep_2(void) { deep_1(); sink = 0; }
NOINLINE void deep_3(void) { deep_2(); sink = 0; }
NOINLINE void deep_4(void) { deep_3(); sink = 0; }
NOINLINE void deep_5(void) { deep_4(); sink = 0; }
NOINLINE void deep_6(void) { deep_5(); sink = 0; }
NOINLINE void deep_7(void) { deep_6(); sink = 0; }
NOINLINE void deep_8(void) { deep_7(); sink = 0; }
NOINLINE void *twin_make(void) { void *p = xmalloc(48); sink = p; return p; }   /* LINE_TWIN */
NOINLINE void far_1(void) { sink = xmalloc(3000); sink = 0; }   /* LINE_FAR */
NOINLINE void far_2(void) { far_1(); sink = 0; }
NOINLINE void far_3(void) { far_2(); sink = 0; }
NOINLINE void far_4(void) { far_3(); sink = 0; }
NOINLINE void far_5(void) { far_4(); sink = 0; }
int main(void)
{
    struct hub *h = hub_new();
    struct spoke *s = spoke_new();
    for (int i = 0; i < 40; i++)
        h->to[i] = s;
    s->back = h;
    for (int i = 0; i < 3; i++)
        sink = name_copy("a name that leaks");
    ring(30);
    open_log();
    deep_8();
    sink = twin_make();   /* LINE_TWIN_A */
    sink = twin_make();   /* LINE_TWIN_B */
    far_5();   /* LINE_FAR_A */
    far_5();   /* LINE_FAR_B */
    sink = 0;
    return 0;
}
"""


def line_of(marker):
    for n, text in enumerate(PROG.lstrip("\n").splitlines(), 1):
        if marker in text:
            return n
    raise KeyError(marker)


class TextSites(FolderCase):
    prefix = "hg-text-sites-"

    @classmethod
    def prepare(cls):
        exe = compile_c(cls.dir, "sites", PROG.lstrip("\n"), "-fno-optimize-sibling-calls")
        cls.cap = record(cls.dir, exe)

    def text(self, *opts):
        p = hg("report", "--color", "never", *opts, self.cap, env=self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def sites(self, text):
        """The site column of the first "Top sites by bytes allocated" table."""
        table = text.split("Top sites by bytes allocated\n")[1].split("\n\n")[0]
        return [l[40:] for l in table.splitlines()[1:]]

    def test_site_lines_start_at_the_caller_of_the_wrappers(self):
        sites = self.sites(self.text("--width", "100", "--top", "20"))
        want = ["hub_new (sites.c:%d) < main" % line_of("LINE_HUB"),
                "spoke_new (sites.c:%d) < main" % line_of("LINE_SPOKE"),
                "name_copy (sites.c:%d) < main" % line_of("LINE_NAME"),
                "open_log (sites.c:%d) < main" % line_of("LINE_FOPEN")]
        for w in want:
            self.assertIn(w, sites)

    def test_sites_that_read_alike_are_told_apart(self):
        sites = self.sites(self.text("--width", "100", "--top", "20"))
        self.assertEqual(len(sites), len(set(sites)), sites)
        # the callers' file:line up to the frame where the stacks part
        for caller in ("LINE_RING_FIRST", "LINE_RING_LOOP"):
            self.assertIn("node_new (sites.c:%d) < ring (sites.c:%d) < main"
                          % (line_of("LINE_NODE"), line_of(caller)), sites)
        for caller in ("LINE_TWIN_A", "LINE_TWIN_B"):
            self.assertIn("twin_make (sites.c:%d) < main (sites.c:%d)"
                          % (line_of("LINE_TWIN"), line_of(caller)), sites)
        # parting deeper than the line reaches: said at its end
        far = sorted(s for s in sites if s.startswith("far_1"))
        self.assertEqual(far, sorted("far_1 (sites.c:%d) < ... (via main (sites.c:%d))"
                                     % (line_of("LINE_FAR"), line_of(c))
                                     for c in ("LINE_FAR_A", "LINE_FAR_B")))
        # a site alone keeps its short line
        self.assertIn("hub_new (sites.c:%d) < main" % line_of("LINE_HUB"), sites)

    def test_site_line_fills_the_width(self):
        deep = "deep_1 (sites.c:%d)" % line_of("LINE_DEEP")
        callers = " < ".join("deep_%d" % i for i in range(2, 9))
        wide = [s for s in self.sites(self.text("--width", "200")) if s.startswith("deep_1")]
        self.assertEqual(wide, [deep + " < " + callers + " < main"])
        narrow = [s for s in self.sites(self.text("--width", "100")) if s.startswith("deep_1")]
        # 58 columns: whole frames while they fit, then " < ..."
        self.assertEqual(narrow, [deep + " < deep_2 < deep_3 < deep_4 < ..."])

    def cycle(self, text, members):
        block = text.split(": %d blocks, " % members)[1]
        return block.split("\n\n")[0].splitlines()[1:]

    def test_every_pointer_of_a_member_is_listed(self):
        lines = self.cycle(self.text("--width", "100"), 2)
        hub = spoke = None
        for l in lines[:2]:
            m = re.match(r"    \[(\d)\] +(\d+) B  (\w+) \(", l)
            if m and m.group(3) == "hub_new":
                hub = int(m.group(1))
            elif m and m.group(3) == "spoke_new":
                spoke = int(m.group(1))
        self.assertEqual(sorted([hub, spoke]), [0, 1], lines)
        edges = sorted(lines[2:])
        self.assertEqual(edges, sorted([
            "    [%d] hub_new+0..+312 every 8 -> [%d] spoke_new (40 pointers)" % (hub, spoke),
            "    [%d] spoke_new+0 -> [%d] hub_new" % (spoke, hub)]))

    def test_a_long_cycle_says_how_many_more(self):
        for top, shown in ((5, 20), (10, 40), (15, 60)):
            lines = self.cycle(self.text("--width", "100", "--top", str(top)), 30)
            members = [l for l in lines if re.match(r"    \[\d+\] +16 B  node_new ", l)]
            edges = [l for l in lines if re.match(r"    \[\d+\] node_new\+(0|8) -> \[\d+\] node_new$", l)]
            self.assertEqual(len(members), min(top, 30), lines)
            self.assertEqual(len(edges), shown, lines)
            more = [l for l in lines if l.startswith("    ...")]
            want = ["    ... %d more members (--top)" % (30 - top)] if top < 30 else []
            if shown < 60:
                want.append("    ... %d more edges (--top)" % (60 - shown))
            self.assertEqual(more, want)
            self.assertEqual(len(lines), len(members) + len(edges) + len(more), lines)


if __name__ == "__main__":
    unittest.main()
