/* SPDX-License-Identifier: MIT
 *
 * test_check_diff.c - the rest of CI gating: diff of two runs matched by
 * function names (report/gate/compare.h), .heapgraph.conf parsing (cmd/conf.h),
 * the location CI systems point at and the GitHub/GitLab/text writers
 * (report/gate/ci.h).
 */
#include "report/gate/ci.h"
#include "cmd/conf.h"
#include "report/gate/compare.h"

#include <stdlib.h>

#include "tests/unit/harness.h"

static void stack1(struct rep_run *r, struct rep_ck_stack *st, const char *fn, const char *file,
                   unsigned line)
{
    rep_run_alloc_frames(r, st, 2);
    st->frames[0] = (struct rep_frame){rep_run_strdup(r, fn), rep_run_strdup(r, file), line,
                                       "/app", .offset = line};
    st->frames[1] = (struct rep_frame){"main", "/src/main.c", line + 1, "/app", .offset = line + 1};
}

static void add_site(struct rep_run *r, const char *fn, unsigned line, uint64_t allocs,
                     uint64_t bytes, uint64_t live)
{
    struct rep_ck_site *s = rep_run_add_site(r, 0);
    s->allocations = allocs;
    s->bytes = bytes;
    s->live_blocks = live;
    s->live_bytes = live * 8;
    stack1(r, &s->stack, fn, "/src/a.c", line);
}

static void add_leak(struct rep_run *r, int kind, const char *fn, unsigned line, uint64_t blocks,
                     uint64_t bytes)
{
    struct rep_ck_leak *l = rep_run_add_leak(r, 0, kind);
    l->blocks = blocks;
    l->bytes = bytes;
    stack1(r, &l->stack, fn, "/src/a.c", line);
}

static void test_diff(void)
{
    struct rep_run a = REP_RUN_INIT, b = REP_RUN_INIT;
    struct rep_diff d;
    char err[100];
    rep_run_add_process(&a)->peak_bytes = 1000;
    rep_run_add_process(&b)->peak_bytes = 1500;
    add_site(&a, "same", 10, 5, 50, 0);
    add_site(&b, "same", 99, 5, 50, 0);          /* moved lines, same numbers: no row */
    add_site(&a, "grows", 20, 10, 100, 1);
    add_site(&b, "grows", 21, 30, 300, 4);
    add_site(&a, "gone", 30, 1, 8, 0);
    add_site(&b, "fresh", 40, 2, 4000, 2);
    add_leak(&a, REP_LEAK_DEFINITE, "old", 50, 1, 16);
    add_leak(&b, REP_LEAK_DEFINITE, "old", 60, 2, 32);
    add_leak(&a, REP_LEAK_DEFINITE, "fixed", 70, 1, 24);
    add_leak(&b, REP_LEAK_CYCLE, "cyc", 80, 3, 96);
    add_leak(&b, REP_LEAK_REACHABLE, "cache", 90, 1, 1000);   /* not a leak kind */
    CHECK_EQ(rep_diff_compute(&a, &b, 0, &d, err, sizeof err), 0);
    CHECK_EQ(d.base.peak_bytes, 1000);
    CHECK_EQ(d.now.peak_bytes, 1500);
    CHECK_EQ(d.nsites, 3);
    CHECK_STR(d.sites[0].stack->frames[0].function, "fresh");
    CHECK_EQ(d.sites[0].now.bytes, 4000);
    CHECK_EQ(d.sites[0].base.bytes, 0);
    CHECK_STR(d.sites[1].stack->frames[0].function, "grows");
    CHECK_EQ(d.sites[1].base.allocations, 10);
    CHECK_EQ(d.sites[1].now.allocations, 30);
    CHECK_EQ(d.sites[1].stack->frames[0].line, 21);   /* NEW's stack is shown */
    CHECK_STR(d.sites[2].stack->frames[0].function, "gone");
    CHECK_EQ(d.nleaks, 3);
    CHECK_EQ(d.leaks[0].status, REP_DIFF_NEW);
    CHECK_STR(d.leaks[0].stack->frames[0].function, "cyc");
    CHECK_EQ(d.leaks[1].status, REP_DIFF_FIXED);
    CHECK_STR(d.leaks[1].stack->frames[0].function, "fixed");
    CHECK_EQ(d.leaks[2].status, REP_DIFF_GREW);
    CHECK_EQ(d.leaks[2].base_bytes, 16);
    CHECK_EQ(d.leaks[2].new_bytes, 32);

    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    CHECK_EQ(rep_diff_write_text(f, &d, 2, 1), 0);
    fclose(f);
    CHECK(strstr(out, "peak                       1000 B ->           1500 B  +500 B (+50.0%)\n"));
    CHECK(strstr(out, "  new    cycle     0 B in 0 blocks -> 96 B in 3 blocks  cyc\n"));
    CHECK(strstr(out, "          +4000           +2           +2  fresh\n"));
    CHECK(strstr(out, "... 1 more (--top)"));
    free(out);
    rep_diff_release(&d);
    rep_run_release(&a);
    rep_run_release(&b);
}

static void test_conf(void)
{
    struct cmd_conf c = CMD_CONF_INIT;
    char err[200];
    static const char text[] = "# defaults\nmax-leaked = 1\n[check]\n  max-peak = 64MiB \n"
                               "; other comment\nsuppressions=ci/x.supp\n[report]\nfoo = a = b\n";
    CHECK_EQ(cmd_conf_parse(&c, text, "/repo/.heapgraph.conf", err, sizeof err), 0);
    CHECK_EQ(c.n, 4);
    CHECK_STR(c.e[0].section, "");
    CHECK_STR(c.e[1].section, "check");
    CHECK_STR(c.e[1].key, "max-peak");
    CHECK_STR(c.e[1].value, "64MiB");
    CHECK_EQ(c.e[1].line, 4);
    CHECK_STR(c.e[3].key, "foo");
    CHECK_STR(c.e[3].value, "a = b");
    char *p = cmd_conf_path(&c, c.e[2].value);
    CHECK_STR(p, "/repo/ci/x.supp");
    free(p);
    p = cmd_conf_path(&c, "/abs.supp");
    CHECK_STR(p, "/abs.supp");
    free(p);
    cmd_conf_release(&c);
    CHECK_EQ(cmd_conf_parse(&c, "[check]\nmax-peak\n", "x.conf", err, sizeof err), -1);
    CHECK_STR(err, "x.conf:2: expected [section] or key = value");
    cmd_conf_release(&c);
    CHECK_EQ(cmd_conf_load(&c, "/nonexistent/.heapgraph.conf", err, sizeof err), -1);
    cmd_conf_release(&c);
}

static void test_location(void)
{
    struct rep_run r = REP_RUN_INIT;
    struct rep_ck_stack st;
    const char *rel = NULL;
    rep_run_alloc_frames(&r, &st, 3);
    st.frames[0] = (struct rep_frame){"strdup_wrapper", "/usr/include/x.h", 3, "/lib/x", .offset = 0};
    st.frames[1] = (struct rep_frame){"load", "/work/repo/src/load.c", 41, "/app", .offset = 0};
    st.frames[2] = (struct rep_frame){"main", "/work/repo/src/main.c", 9, "/app", .offset = 0};
    const struct rep_frame *f = rep_ci_location(&st, "/work/repo", &rel);
    CHECK(f == &st.frames[1]);
    CHECK_STR(rel, "src/load.c");
    f = rep_ci_location(&st, "/work/repo/", &rel);
    CHECK_STR(rel, "src/load.c");
    /* "/work/rep" is not a parent of /work/repo/... */
    f = rep_ci_location(&st, "/work/rep", &rel);
    CHECK(f == &st.frames[0]);
    CHECK_STR(rel, "/usr/include/x.h");
    st.frames[0].file = NULL;
    st.frames[1].file = NULL;
    st.frames[2].file = NULL;
    CHECK(rep_ci_location(&st, "/work/repo", &rel) == NULL);
    rep_run_release(&r);
}

/* What a CI report writer (rep_ci_text, rep_ci_gitlab, ...) writes; caller frees. */
static char *ci_output(int (*write)(FILE *, const struct rep_run *, const struct rep_check *,
                                    const struct rep_ci_opts *),
                       const struct rep_run *r, const struct rep_check *c,
                       const struct rep_ci_opts *o)
{
    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    CHECK_EQ(write(f, r, c, o), 0);
    fclose(f);
    return out;
}

static void test_github_and_gitlab(void)
{
    struct rep_run r = REP_RUN_INIT;
    struct rep_gates g = {0};
    struct rep_check c;
    char err[100], *out = NULL, *sum = NULL;
    size_t len, slen;
    rep_run_add_process(&r)->snapshot = 1;
    add_leak(&r, REP_LEAK_DEFINITE, "a,b:c%d", 7, 1000, 24000);
    g.set[REP_GATE_LEAKED] = 1;
    CHECK_EQ(rep_check_eval(&r, NULL, &g, &c, err, sizeof err), 0);
    struct rep_ci_opts o = {"/src", 0, 0, 0};
    FILE *f = open_memstream(&out, &len), *s = open_memstream(&sum, &slen);
    CHECK_EQ(rep_ci_github(f, s, &r, &c, &o), 0);
    fclose(f);
    fclose(s);
    CHECK_STR(out, "::error file=a.c,line=7,title=heapgraph definite::24000 bytes in 1000 "
                   "blocks definitely lost, allocated in a,b:c%25d\n"
                   "::error title=heapgraph gate::gate max-leaked failed: 24000 B, limit 0 B\n");
    CHECK(strstr(sum, "| max-leaked | 24000 B | 0 B | **FAIL** |\n"));
    CHECK(strstr(sum, "| definite | 24000 | 1000 | 0 | `a,b:c%d` | a.c:7 |\n"));
    free(out);
    free(sum);
    out = ci_output(rep_ci_gitlab, &r, &c, &o);
    CHECK(strstr(out, "\"check_name\": \"heapgraph-definite\""));
    CHECK(strstr(out, "\"severity\": \"major\", \"location\": {\"path\": \"a.c\", "
                      "\"lines\": {\"begin\": 7}}"));
    free(out);
    out = ci_output(rep_ci_text, &r, &c, &o);
    CHECK(strstr(out, "max-leaked           24000 B"));
    CHECK(strstr(out, "FAIL\n\nmax-leaked failed on 1 leak entry:\n    24000 bytes in 1000 "
                      "blocks definitely lost, allocated in a,b:c%d\n        #0 a,b:c%d /src/a.c:7\n"));
    CHECK(strstr(out, "FAIL: 1 of 1 gates failed\n"));
    free(out);
    rep_check_release(&c);
    rep_run_release(&r);
}

int main(void)
{
    RUN(test_diff);
    RUN(test_conf);
    RUN(test_location);
    RUN(test_github_and_gitlab);
    return DONE();
}
