/* SPDX-License-Identifier: MIT
 *
 * test_check.c - gates of report/gate/gates.h and the size parsing of
 * cmd/parse.h: sizes at exact unit boundaries, every gate passing at value
 * == limit and failing at limit+1, leak kinds, multi-process totals, growth
 * gates with --min-delta, and baseline matching by function names across
 * shifted lines.
 */
#include "report/gate/gates.h"
#include "cmd/parse.h"

#include <stdlib.h>

#include "tests/unit/harness.h"

/* One frame per function name, lines given. */
static void set_stack(struct rep_run *r, struct rep_ck_stack *st, const char *const *fn,
                      const unsigned *lines, uint32_t n)
{
    rep_run_alloc_frames(r, st, n);
    for (uint32_t i = 0; i < n; i++) {
        st->frames[i].function = rep_run_strdup(r, fn[i]);
        st->frames[i].file = rep_run_strdup(r, "/src/app/leak.c");
        st->frames[i].line = lines[i];
        st->frames[i].module = rep_run_strdup(r, "/src/app/build/app");
        st->frames[i].offset = 0x1000 + lines[i];
    }
}

/* A run of one process: 1000 blocks of 24 bytes definite (with 2 indirect
 * blocks of 16), one cycle group of 3 blocks of 32, 64 possible bytes in 2
 * blocks, peak 100000, 5000 allocations. */
static void sample_run(struct rep_run *r, unsigned shift)
{
    static const char *const a[] = {"make_node", "load", "main"};
    static const char *const b[] = {"new_ring", "main"};
    static const char *const c[] = {"interior", "main"};
    unsigned la[] = {10 + shift, 20 + shift, 30 + shift}, lb[] = {40 + shift, 50 + shift};
    struct rep_ck_process *p = rep_run_add_process(r);
    p->pid = 42;
    p->snapshot = 1;
    p->allocations = 5000;
    p->allocated_bytes = 300000;
    p->peak_bytes = 100000;
    struct rep_ck_leak *l = rep_run_add_leak(r, 0, REP_LEAK_DEFINITE);
    l->blocks = 1000;
    l->bytes = 24000;
    l->indirect_blocks = 2;
    l->indirect_bytes = 32;
    l->groups = 1000;
    set_stack(r, &l->stack, a, la, 3);
    l = rep_run_add_leak(r, 0, REP_LEAK_CYCLE);
    l->blocks = 3;
    l->bytes = 96;
    l->groups = 1;
    set_stack(r, &l->stack, b, lb, 2);
    l = rep_run_add_leak(r, 0, REP_LEAK_POSSIBLE);
    l->blocks = 2;
    l->bytes = 64;
    set_stack(r, &l->stack, c, lb, 2);
    struct rep_ck_site *s = rep_run_add_site(r, 0);
    s->allocations = 5000;
    s->bytes = 300000;
    set_stack(r, &s->stack, a, la, 3);
}

static void test_sizes(void)
{
    uint64_t v;
    CHECK_EQ(cmd_parse_size("0", &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(cmd_parse_size("1B", &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(cmd_parse_size("1KiB", &v), 0);
    CHECK_EQ(v, 1024);
    CHECK_EQ(cmd_parse_size("64KiB", &v), 0);
    CHECK_EQ(v, 65536);
    CHECK_EQ(cmd_parse_size("1KB", &v), 0);
    CHECK_EQ(v, 1000);
    CHECK_EQ(cmd_parse_size("3MiB", &v), 0);
    CHECK_EQ(v, 3145728);
    CHECK_EQ(cmd_parse_size("3MB", &v), 0);
    CHECK_EQ(v, 3000000);
    CHECK_EQ(cmd_parse_size("2GiB", &v), 0);
    CHECK_EQ(v, 2147483648LL);
    CHECK_EQ(cmd_parse_size("2GB", &v), 0);
    CHECK_EQ(v, 2000000000LL);
    CHECK_EQ(cmd_parse_size("10M", &v), 0);
    CHECK_EQ(v, 10485760);
    CHECK_EQ(cmd_parse_size("18446744073709551615", &v), 0);
    CHECK(v == UINT64_MAX);
    /* 2^64 bytes does not fit, neither does 16 EiB spelled in GiB. */
    CHECK_EQ(cmd_parse_size("18446744073709551616", &v), -1);
    CHECK_EQ(cmd_parse_size("17179869184GiB", &v), -1);
    CHECK_EQ(cmd_parse_size("17179869183GiB", &v), 0);
    CHECK(v == 17179869183ull * 1073741824ull);
    CHECK_EQ(cmd_parse_size("", &v), -1);
    CHECK_EQ(cmd_parse_size("-1", &v), -1);
    CHECK_EQ(cmd_parse_size(" 1", &v), -1);
    CHECK_EQ(cmd_parse_size("1 KiB", &v), -1);
    CHECK_EQ(cmd_parse_size("1kib", &v), -1);
    CHECK_EQ(cmd_parse_size("1TiB", &v), -1);
    CHECK_EQ(cmd_parse_size("1.5MiB", &v), -1);
    CHECK_EQ(cmd_parse_count("12", &v), 0);
    CHECK_EQ(v, 12);
    CHECK_EQ(cmd_parse_count("12KiB", &v), -1);
}

static void test_kinds(void)
{
    unsigned m;
    char err[128];
    CHECK_EQ(rep_parse_leak_kinds("definite,cycle", &m, err, sizeof err), 0);
    CHECK_EQ(m, (1u << REP_LEAK_DEFINITE) | (1u << REP_LEAK_CYCLE));
    CHECK_EQ(rep_parse_leak_kinds("all", &m, err, sizeof err), 0);
    CHECK_EQ(m, (1u << REP_LEAK_NKINDS) - 1);
    CHECK_EQ(rep_parse_leak_kinds("definite,bogus", &m, err, sizeof err), -1);
    CHECK(strstr(err, "'bogus'") != NULL);
    CHECK_EQ(rep_parse_leak_kinds("", &m, err, sizeof err), -1);
}

/* Evaluates one gate at `limit` and returns 1 when it passes. */
static int gate_passes(const struct rep_run *r, int gate, uint64_t limit, unsigned kinds)
{
    struct rep_gates g = {0};
    struct rep_check c;
    char err[64];
    g.set[gate] = 1;
    g.limit[gate] = limit;
    g.leak_kinds = kinds;
    if (rep_check_eval(r, NULL, &g, &c, err, sizeof err) < 0)
        return -1;
    int pass = c.nresults == 1 && c.results[0].pass && c.failed == 0;
    rep_check_release(&c);
    return pass;
}

static void test_gate_boundaries(void)
{
    struct rep_run r = REP_RUN_INIT;
    sample_run(&r, 0);
    /* Default kinds: 24000 + 32 indirect + 96 cycle bytes, 1000 + 2 + 3 blocks. */
    uint64_t value[REP_GATE_NGATES] = {24128, 1005, 1, 64, 100000, 5000, 24032};
    for (int gate = 0; gate < REP_GATE_NGATES; gate++) {
        CHECK_EQ(gate_passes(&r, gate, value[gate], 0), 1);
        CHECK_EQ(gate_passes(&r, gate, value[gate] - 1, 0), 0);
    }
    /* definite only: no indirect, no cycle. */
    unsigned definite = 1u << REP_LEAK_DEFINITE;
    CHECK_EQ(gate_passes(&r, REP_GATE_LEAKED, 24000, definite), 1);
    CHECK_EQ(gate_passes(&r, REP_GATE_LEAKED, 23999, definite), 0);
    rep_run_release(&r);
}

static void test_failure_lists_offenders(void)
{
    struct rep_run r = REP_RUN_INIT;
    struct rep_gates g = {0};
    struct rep_check c;
    char err[64];
    sample_run(&r, 0);
    g.set[REP_GATE_LEAKED] = 1;
    g.set[REP_GATE_CYCLES] = 1;
    g.set[REP_GATE_LEAK_PER_SITE] = 1;
    g.limit[REP_GATE_LEAK_PER_SITE] = 96;
    CHECK_EQ(rep_check_eval(&r, NULL, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.nresults, 3);
    CHECK_EQ(c.failed, 3);
    CHECK_STR(c.results[0].name, "max-leaked");
    CHECK_STR(c.results[0].value, "24128 B");
    CHECK_STR(c.results[0].limit, "0 B");
    CHECK_EQ(c.results[0].noffending, 2);
    CHECK_EQ(c.results[0].offending[0], 0);   /* biggest first */
    CHECK_EQ(c.results[0].offending[1], 1);
    CHECK_STR(c.results[1].name, "max-cycles");
    CHECK_EQ(c.results[1].noffending, 1);
    CHECK_EQ(c.results[1].offending[0], 1);
    /* The cycle entry (96 B) is at the limit; only the definite one is over. */
    CHECK_EQ(c.results[2].noffending, 1);
    CHECK_EQ(c.results[2].offending[0], 0);
    rep_check_release(&c);
    /* Suppressed entries do not count. */
    r.leaks[0].suppressed = 1;
    CHECK_EQ(gate_passes(&r, REP_GATE_LEAKED, 96, 0), 1);
    CHECK_EQ(gate_passes(&r, REP_GATE_LEAKED, 95, 0), 0);
    rep_run_release(&r);
}

static void test_processes(void)
{
    struct rep_run r = REP_RUN_INIT;
    struct rep_run_totals t;
    sample_run(&r, 0);
    /* A second process that crashed: its not-freed blocks count as leaked
     * whatever the kinds; its peak is lower, its allocations add up. */
    struct rep_ck_process *p = rep_run_add_process(&r);
    p->pid = 43;
    p->exit_signal = 11;
    p->allocations = 10;
    p->peak_bytes = 500;
    struct rep_ck_leak *l = rep_run_add_leak(&r, 1, REP_LEAK_NOT_FREED);
    l->blocks = 10;
    l->bytes = 500;
    /* A process without a snapshot and without live blocks gets no note. */
    rep_run_add_process(&r)->pid = 44;
    rep_run_totals(&r, 1u << REP_LEAK_DEFINITE, &t);
    CHECK_EQ(t.leaked_bytes, 24500);
    CHECK_EQ(t.leaked_blocks, 1010);
    CHECK_EQ(t.peak_bytes, 100000);
    CHECK_EQ(t.allocations, 5010);
    CHECK_EQ(t.processes_without_snapshot, 2);

    struct rep_gates g = {0};
    struct rep_check c;
    char err[64];
    g.set[REP_GATE_LEAKED] = 1;
    g.limit[REP_GATE_LEAKED] = 24628;
    CHECK_EQ(rep_check_eval(&r, NULL, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.failed, 0);
    CHECK_EQ(c.nnotes, 1);
    CHECK_STR(c.notes[0], "process 43 left no exit snapshot (signal 11): its blocks not freed "
                          "count as leaked");
    rep_check_release(&c);
    rep_run_release(&r);
}

/* Evaluates the gates g of now against base; the pass of result k. */
static int result_passes(const struct rep_run *now, const struct rep_run *base,
                         const struct rep_gates *g, size_t k)
{
    struct rep_check c;
    char err[128];
    CHECK_EQ(rep_check_eval(now, base, g, &c, err, sizeof err), 0);
    CHECK(k < c.nresults);
    int pass = k < c.nresults ? c.results[k].pass : -1;
    rep_check_release(&c);
    return pass;
}

static void test_growth(void)
{
    struct rep_run base = REP_RUN_INIT, now = REP_RUN_INIT;
    struct rep_gates g = {0};
    struct rep_check c;
    char err[128];
    sample_run(&base, 0);
    sample_run(&now, 0);
    CHECK_EQ(cmd_parse_growth("peak=10%,allocations=5%", &g, err, sizeof err), 0);
    CHECK_EQ(g.growth_set[REP_GROWTH_PEAK], 1);
    CHECK(g.growth_pct[REP_GROWTH_ALLOCATIONS] == 5.0);
    CHECK_EQ(cmd_parse_growth("peak=10", &g, err, sizeof err), -1);
    CHECK_EQ(cmd_parse_growth("heap=10%", &g, err, sizeof err), -1);
    CHECK_EQ(cmd_parse_growth("peak=x%", &g, err, sizeof err), -1);

    /* Exactly +10% passes, one byte more fails. */
    now.processes[0].peak_bytes = 110000;
    CHECK_EQ(rep_check_eval(&now, &base, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.nresults, 2);
    CHECK_STR(c.results[0].name, "growth peak");
    CHECK_EQ(c.results[0].pass, 1);
    CHECK_STR(c.results[0].value, "+10.0% (100000 B -> 110000 B)");
    CHECK_STR(c.results[0].limit, "10% and 0 B");
    rep_check_release(&c);
    now.processes[0].peak_bytes = 110001;
    CHECK_EQ(rep_check_eval(&now, &base, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.results[0].pass, 0);
    CHECK_EQ(c.failed, 1);
    rep_check_release(&c);
    /* Growth below --min-delta passes although the percentage is exceeded. */
    g.min_delta = 65536;
    now.processes[0].peak_bytes = 165536;
    CHECK_EQ(result_passes(&now, &base, &g, 0), 1);
    now.processes[0].peak_bytes = 165537;
    CHECK_EQ(result_passes(&now, &base, &g, 0), 0);
    /* Allocations: +5% is 250; the count floor applies, not the byte one. */
    now.processes[0].peak_bytes = 100000;
    now.processes[0].allocations = 5251;
    CHECK_EQ(result_passes(&now, &base, &g, 1), 0);
    g.min_delta_count = 251;
    CHECK_EQ(result_passes(&now, &base, &g, 1), 1);
    rep_run_release(&base);
    rep_run_release(&now);
}

static void test_new_leaks_only(void)
{
    struct rep_run base = REP_RUN_INIT, now = REP_RUN_INIT;
    struct rep_gates g = {0};
    struct rep_check c;
    char err[64];
    sample_run(&base, 0);
    sample_run(&now, 7);   /* a rebuild: every line moved by 7 */
    static const char *const fresh[] = {"new_leak", "main"};
    unsigned lines[] = {5, 6};
    struct rep_ck_leak *l = rep_run_add_leak(&now, 0, REP_LEAK_DEFINITE);
    l->blocks = 1;
    l->bytes = 40;
    set_stack(&now, &l->stack, fresh, lines, 2);
    CHECK_EQ(rep_check_match_baseline(&now, &base), 3);
    CHECK_EQ(now.leaks[0].in_baseline, 1);
    CHECK_EQ(now.leaks[3].in_baseline, 0);
    g.new_leaks_only = 1;
    g.set[REP_GATE_LEAKED] = 1;
    CHECK_EQ(rep_check_eval(&now, &base, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.nresults, 2);
    CHECK_STR(c.results[0].value, "40 B");
    CHECK_STR(c.results[1].name, "new-leaks");
    CHECK_STR(c.results[1].value, "1 sites (40 B)");
    CHECK_EQ(c.results[1].noffending, 1);
    CHECK_EQ(c.results[1].offending[0], 3);
    rep_check_release(&c);
    /* Without the new site everything matches: both gates pass. */
    now.nleaks = 3;
    CHECK_EQ(rep_check_eval(&now, &base, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.failed, 0);
    rep_check_release(&c);
    rep_run_release(&base);
    rep_run_release(&now);
}

static void test_incomplete_capture_fails(void)
{
    struct rep_run r = REP_RUN_INIT;
    struct rep_gates g = {0};
    struct rep_check c;
    char err[64];
    sample_run(&r, 0);
    r.incomplete = 1;
    snprintf(r.incomplete_why, sizeof r.incomplete_why, "damaged at byte 4096");
    g.set[REP_GATE_PEAK] = 1;
    g.limit[REP_GATE_PEAK] = 1 << 20;
    CHECK_EQ(rep_check_eval(&r, NULL, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.nresults, 2);
    CHECK_STR(c.results[0].name, "capture");
    CHECK_STR(c.results[0].value, "damaged at byte 4096");
    CHECK_EQ(c.results[0].pass, 0);
    CHECK_EQ(c.results[1].pass, 1);
    CHECK_EQ(c.failed, 1);
    rep_check_release(&c);
    g.allow_incomplete = 1;
    CHECK_EQ(rep_check_eval(&r, NULL, &g, &c, err, sizeof err), 0);
    CHECK_EQ(c.nresults, 1);
    CHECK_EQ(c.failed, 0);
    rep_check_release(&c);
    rep_run_release(&r);
}

static void test_stack_key(void)
{
    struct rep_run r = REP_RUN_INIT;
    struct rep_ck_stack st;
    char buf[64];
    rep_run_alloc_frames(&r, &st, 3);
    st.frames[0].function = "f";
    st.frames[1].module = "/usr/lib/libx.so.1";
    st.frames[1].offset = 0x1a2b;
    st.frames[2].function = "main";
    CHECK_EQ(rep_ck_stack_key(&st, buf, sizeof buf), 23);
    CHECK_STR(buf, "f;libx.so.1+0x1a2b;main");
    CHECK_EQ(rep_ck_stack_key(&st, buf, 5), 23);
    CHECK_STR(buf, "f;li");
    CHECK_EQ(rep_ck_stack_key(&st, NULL, 0), 23);
    rep_run_release(&r);
}

int main(void)
{
    RUN(test_sizes);
    RUN(test_kinds);
    RUN(test_gate_boundaries);
    RUN(test_failure_lists_offenders);
    RUN(test_processes);
    RUN(test_growth);
    RUN(test_new_leaks_only);
    RUN(test_incomplete_capture_fails);
    RUN(test_stack_key);
    return DONE();
}
