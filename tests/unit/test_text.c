/* SPDX-License-Identifier: MIT
 *
 * test_text.c - where a site starts (rep_stack_site, report/model/symbols.c)
 * and the text report's site lines and cycle listings (report/render/text.c)
 * on a model built by hand: stacks shaped like sqlite's, git's, a libc
 * function's, a stripped program's, a wrapper alone, Python's and a C
 * extension's called through ctypes; a cycle of a hub holding 42 pointers to
 * a spoke, and a ring of six blocks. Exact lines.
 */
#include "report/render/render.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

#define SQLITE "/usr/lib/x86_64-linux-gnu/libsqlite3.so.0"
#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"

static const struct rep_frame f_sqlite[] = {
    { NULL, NULL, 0, SQLITE, 0, 0xa7504, 0, 0 },
    { "sqlite3Malloc", NULL, 0, SQLITE, 0, 0xa7600, 0, 0 },
    { "sqlite3MallocZero", NULL, 0, SQLITE, 0, 0xa7700, 0, 0 },
    { "sqlite3VdbeCreate", "vdbeaux.c", 50, SQLITE, 0, 0xb0000, 0, 0 },
    { "main", "app.c", 10, "/tmp/app", 0, 0x1000, 0, 0 },
};
static const struct rep_frame f_git[] = {
    { "xmalloc", "wrapper.c", 40, "/usr/bin/git", 0, 0x100, 0, 0 },
    { "xstrdup", "wrapper.c", 50, "/usr/bin/git", 0, 0x200, 0, 0 },
    { "read_object_file", "object-file.c", 120, "/usr/bin/git", 0, 0x300, 0, 0 },
    { "cmd_main", "git.c", 900, "/usr/bin/git", 0, 0x400, 0, 0 },
    { "main", "common-main.c", 50, "/usr/bin/git", 0, 0x500, 0, 0 },
    { "__libc_start_call_main", NULL, 0, LIBC, 0, 0x29d90, 0, 0 },
};
static const struct rep_frame f_libc[] = {
    { NULL, NULL, 0, LIBC, 0, 0x8a1b0, 0, 0 },
    { "_IO_new_fopen", "iofopen.c", 86, LIBC, 0, 0x8a200, 0, 0 },
    { "open_log", "app.c", 20, "/tmp/app", 0, 0x1100, 0, 0 },
    { "main", "app.c", 11, "/tmp/app", 0, 0x1000, 0, 0 },
};
static const struct rep_frame f_stripped[] = {
    { NULL, NULL, 0, "/tmp/app", 0, 0x1234, 0, 0 },
    { NULL, NULL, 0, "/tmp/app", 0, 0x1100, 0, 0 },
    { "__libc_start_call_main", NULL, 0, LIBC, 0, 0x29d90, 0, 0 },
};
static const struct rep_frame f_alone[] = {
    { "g_malloc0", "gmem.c", 5, "/usr/lib/libglib-2.0.so.0", 0, 0x100, 0, 0 },
};
static const struct rep_frame f_python[] = {
    { NULL, NULL, 0, "/usr/lib/libpython3.11.so.1.0", 0, 0x5000, 0, 0 },
    { "allocate_rows", "app.py", 5, "python", 0, 10, 0, 1 },
    { "<module>", "app.py", 9, "python", 0, 20, 0, 1 },
};
static const struct rep_frame f_hub[] = {
    { "my_alloc", "app.c", 3, "/tmp/app", 0, 0x1300, 0, 0 },
    { "hub_new", "app.c", 30, "/tmp/app", 0, 0x1400, 0, 0 },
    { "main", "app.c", 40, "/tmp/app", 0, 0x1000, 0, 0 },
};
static const struct rep_frame f_spoke[] = {
    { "je_calloc", NULL, 0, "/usr/lib/libjemalloc.so.2", 0, 0x100, 0, 0 },
    { "operator new(unsigned long)", NULL, 0, "/usr/lib/libstdc++.so.6", 0, 0x200, 0, 0 },
    { "spoke_new", "app.c", 35, "/tmp/app", 0, 0x1500, 0, 0 },
    { "main", "app.c", 41, "/tmp/app", 0, 0x1000, 0, 0 },
};
static const struct rep_frame f_ctypes[] = {
    { "leak", "libleak.c", 6, "/tmp/libleak.so", 0, 0x1100, 0, 0 },
    { NULL, NULL, 0, "/usr/lib/x86_64-linux-gnu/libffi.so.8", 0, 0x6f7a, 0, 0 },
    { "ffi_call", NULL, 0, "/usr/lib/x86_64-linux-gnu/libffi.so.8", 0, 0x6f00, 0, 0 },
    { "work", "ct.py", 4, "python", 0, 10, 0, 1 },
    { "<module>", "ct.py", 5, "python", 0, 20, 0, 1 },
};
#define STACK(i, f) { .id = i, .defined = 1, .nframes = sizeof f / sizeof f[0], .frames = f }
static const struct rep_stack stacks[] = {
    STACK(1, f_sqlite), STACK(2, f_git), STACK(3, f_libc), STACK(4, f_stripped),
    STACK(5, f_alone), STACK(6, f_python), STACK(7, f_hub), STACK(8, f_spoke),
    STACK(9, f_ctypes),
};
#define NSTACKS (sizeof stacks / sizeof stacks[0])

static struct rep_site sites[NSTACKS];
static struct rep_block blocks[9];
static struct rep_graph_edge hub_edges[43], ring_edges[12];
static uint32_t hub_members[] = {0, 1}, ring_members[] = {2, 3, 4, 5, 6, 7};
static struct rep_cycle cycles[2];
static struct rep_snapshot snap;
static struct rep_process proc;
static struct rep_capture cap;

/* Blocks 0 (hub, 320 B) and 1 (spoke, 16 B): the hub points to the spoke
 * every 8 bytes from 0 to 312 and at 1000 and 2000, the spoke back at 0.
 * Blocks 2..7 (a ring made at open_log): each points to the next at 0 and
 * to the one before at 8. */
static void build_model(void)
{
    for (size_t i = 0; i < NSTACKS; i++)
        sites[i] = (struct rep_site){ .stack = &stacks[i], .allocations = 1,
                                      .bytes = 1000 - 10 * i };
    blocks[0] = (struct rep_block){ 0x1000, 320, 1, 6, NULL };
    blocks[1] = (struct rep_block){ 0x2000, 16, 2, 7, NULL };
    for (uint32_t i = 2; i < 8; i++)
        blocks[i] = (struct rep_block){ 0x3000 + 0x100 * i, 16, i + 1, 2, NULL };
    for (uint32_t i = 0; i < 40; i++)
        hub_edges[i] = (struct rep_graph_edge){ 0, 1, 8 * i, 0 };
    hub_edges[40] = (struct rep_graph_edge){ 0, 1, 2000, 0 };   /* out of order on purpose */
    hub_edges[41] = (struct rep_graph_edge){ 1, 0, 0, 0 };
    hub_edges[42] = (struct rep_graph_edge){ 0, 1, 1000, 0 };
    for (uint32_t i = 0; i < 6; i++) {
        ring_edges[2 * i] = (struct rep_graph_edge){ 2 + i, 2 + (i + 1) % 6, 0, 0 };
        ring_edges[2 * i + 1] = (struct rep_graph_edge){ 2 + i, 2 + (i + 5) % 6, 8, 0 };
    }
    cycles[0] = (struct rep_cycle){ .root = 1, .bytes = 336, .nmembers = 2, .members = hub_members,
                                    .nedges = 43, .edges = hub_edges };
    cycles[1] = (struct rep_cycle){ .root = 1, .bytes = 96, .nmembers = 6, .members = ring_members,
                                    .nedges = 12, .edges = ring_edges };
    snap.have_blocks = snap.ended = snap.classified = 1;
    snap.nblocks = 8;
    snap.blocks = blocks;
    snap.ncycles = 2;
    snap.cycles = cycles;
    proc.stream = 1;
    proc.pid = 4242;
    proc.ended = 1;
    proc.end_how = REP_END_EXIT;
    proc.nstacks = NSTACKS;
    proc.stacks = stacks;
    proc.sites = sites;
    proc.exit_snapshot = &snap;
    cap.nprocesses = 1;
    cap.processes = &proc;
}

/* The text report of the model; caller frees. */
static char *render(unsigned top, unsigned width)
{
    char *buf = NULL, err[256] = "";
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    struct rep_render_opts o = { .top = top, .width = width, .process = "4242" };
    CHECK_EQ(rep_render_text(f, &cap, &o, err, sizeof err), 0);
    fclose(f);
    return buf;
}

/* Whether text has line as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void test_site_start(void)
{
    static const uint32_t want[NSTACKS] = {3, 2, 2, 0, 0, 1, 1, 2, 0};
    for (size_t i = 0; i < NSTACKS; i++)
        CHECK_EQ(rep_stack_site(&stacks[i]), want[i]);
}

static void test_site_lines(void)
{
    char *t = render(10, 100);
    /* the site column of a "Top sites" row starts at column 40 */
    CHECK(has_line(t, "       990 B            1            0  read_object_file (object-file.c:120) < "
                      "cmd_main < main"));
    CHECK(has_line(t, "      1000 B            1            0  sqlite3VdbeCreate (vdbeaux.c:50) < main"));
    CHECK(has_line(t, "       980 B            1            0  open_log (app.c:20) < main"));
    CHECK(has_line(t, "       970 B            1            0  app+0x1234 < app+0x1100 < "
                      "__libc_start_call_main"));
    CHECK(has_line(t, "       960 B            1            0  g_malloc0 (gmem.c:5)"));
    CHECK(has_line(t, "       950 B            1            0  allocate_rows (app.py:5) < <module>"));
    /* a C extension's function, then the Python line that called it */
    CHECK(has_line(t, "       920 B            1            0  leak (libleak.c:6) < work < <module>"));
    free(t);
    /* 90 columns leave 48 for the site: whole frames, then " < ..." */
    t = render(10, 90);
    CHECK(has_line(t, "       990 B            1            0  read_object_file (object-file.c:120) < ..."));
    free(t);
    /* 60 leave 18: a first frame longer than that is cut */
    t = render(10, 60);
    CHECK(has_line(t, "       940 B            1            0  hub_new (app.c..."));
    free(t);
}

static void test_cycle_edges(void)
{
    char *t = render(10, 100);
    CHECK(has_line(t, "  cycle 1: 2 blocks, 336 B, nothing else points into it"));
    CHECK(has_line(t, "    [0]     320 B  hub_new (app.c:30) < main"));
    CHECK(has_line(t, "    [1]      16 B  spoke_new (app.c:35) < main"));
    CHECK(has_line(t, "    [0] hub_new+0..+312 every 8, +1000, +2000 -> [1] spoke_new (42 pointers)"));
    CHECK(has_line(t, "    [1] spoke_new+0 -> [0] hub_new"));
    CHECK(has_line(t, "    [0] open_log+8 -> [5] open_log"));
    CHECK(has_line(t, "    [5] open_log+0 -> [0] open_log"));
    CHECK(strstr(t, "more edges") == NULL);
    CHECK(strstr(t, "more members") == NULL);
    free(t);
    /* --top 2: two members of six, eight lines of twelve */
    t = render(2, 100);
    CHECK(has_line(t, "    ... 4 more members (--top)"));
    CHECK(has_line(t, "    [3] open_log+8 -> [2] open_log"));
    CHECK(!has_line(t, "    [4] open_log+0 -> [5] open_log"));
    CHECK(has_line(t, "    ... 4 more edges (--top)"));
    free(t);
    /* --top 1: the hub's 42 pointers are one line, the spoke's the second */
    t = render(1, 100);
    CHECK(has_line(t, "    ... 1 more members (--top)"));
    CHECK(has_line(t, "    [1] spoke_new+0 -> [0] hub_new"));
    CHECK(strstr(t, "more edges") == NULL);
    CHECK(strstr(t, "cycle 2:") == NULL);
    free(t);
}

int main(void)
{
    build_model();
    RUN(test_site_start);
    RUN(test_site_lines);
    RUN(test_cycle_edges);
    return DONE();
}
