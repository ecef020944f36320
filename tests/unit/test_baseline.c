/* SPDX-License-Identifier: MIT
 *
 * test_baseline.c - heapgraph-baseline/2 (and /1) files (report/gate/baseline.h) and the
 * JSON reader under them (report/gate/jsonread.h): a round trip keeps every
 * figure and frame exactly, suppressed entries stay out, and bad files
 * (wrong schema, missing or ill-typed fields, every truncation of a valid
 * file, deep nesting) give an error rather than a crash.
 */
#include "report/gate/baseline.h"

#include <stdlib.h>

#include "report/gate/jsonread.h"
#include "report/render/render.h"
#include "tests/unit/harness.h"

static void fill(struct rep_run *r)
{
    struct rep_ck_process *p = rep_run_add_process(r);
    p->allocations = 5000;
    p->frees = 3995;
    p->allocated_bytes = 18446744073709551615ull;   /* exact at 64 bits */
    p->peak_bytes = 1048576;
    p->cycles = 2;
    p = rep_run_add_process(r);
    p->allocations = 7;
    p->peak_bytes = 2097152;   /* the bigger peak of the two is the run's */
    struct rep_ck_leak *l = rep_run_add_leak(r, 0, REP_LEAK_DEFINITE);
    l->blocks = 1000;
    l->bytes = 24000;
    l->indirect_blocks = 14;
    l->indirect_bytes = 448;
    rep_run_alloc_frames(r, &l->stack, 2);
    l->stack.frames[0] = (struct rep_frame){"make \"quoted\"\\name", "/src/a\tb.c", 12,
                                            "/bin/app", .offset = 0x1234};
    l->stack.frames[1] = (struct rep_frame){NULL, NULL, 0, "/lib/libc.so.6", .offset = 0x29d90};
    l = rep_run_add_leak(r, 1, REP_LEAK_CYCLE);
    l->blocks = 3;
    l->bytes = 96;
    l->suppressed = 1;
    l = rep_run_add_leak(r, 1, REP_LEAK_NOT_FREED);
    l->blocks = 1;
    l->bytes = 8;
    struct rep_ck_site *s = rep_run_add_site(r, 0);
    s->allocations = 5000;
    s->bytes = 120000;
    s->live_blocks = 1005;
    s->live_bytes = 24120;
    rep_run_alloc_frames(r, &s->stack, 1);
    s->stack.frames[0] = (struct rep_frame){"main", "m.c", 3, "/bin/app", .offset = 0x10};
}

static char *write_to_string(const struct rep_run *r, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    CHECK_EQ(rep_baseline_write(f, r), 0);
    fclose(f);
    return text;
}

static void test_roundtrip(void)
{
    struct rep_run r = REP_RUN_INIT, back = REP_RUN_INIT;
    char err[200];
    size_t len;
    fill(&r);
    char *text = write_to_string(&r, &len);
    CHECK_EQ(rep_baseline_parse(text, len, &back, err, sizeof err), 0);
    CHECK_EQ(back.nprocesses, 1);
    CHECK(back.processes[0].allocated_bytes == 18446744073709551615ull);
    CHECK_EQ(back.processes[0].allocations, 5007);
    CHECK_EQ(back.processes[0].frees, 3995);
    CHECK_EQ(back.processes[0].peak_bytes, 2097152);
    CHECK_EQ(back.processes[0].cycles, 2);
    CHECK_EQ(back.nleaks, 2);   /* the suppressed one is left out */
    CHECK_EQ(back.leaks[0].kind, REP_LEAK_DEFINITE);
    CHECK_EQ(back.leaks[0].blocks, 1000);
    CHECK_EQ(back.leaks[0].bytes, 24000);
    CHECK_EQ(back.leaks[0].indirect_blocks, 14);
    CHECK_EQ(back.leaks[0].indirect_bytes, 448);
    CHECK_EQ(back.leaks[0].stack.nframes, 2);
    CHECK_STR(back.leaks[0].stack.frames[0].function, "make \"quoted\"\\name");
    CHECK_STR(back.leaks[0].stack.frames[0].file, "/src/a\tb.c");
    CHECK_EQ(back.leaks[0].stack.frames[0].line, 12);
    CHECK_EQ(back.leaks[0].stack.frames[0].offset, 0x1234);
    CHECK(back.leaks[0].stack.frames[1].function == NULL);
    CHECK_STR(back.leaks[0].stack.frames[1].module, "/lib/libc.so.6");
    CHECK_EQ(back.leaks[1].kind, REP_LEAK_NOT_FREED);
    CHECK_EQ(back.nsites, 1);
    CHECK_EQ(back.sites[0].live_bytes, 24120);
    CHECK_STR(back.sites[0].stack.frames[0].function, "main");
    /* The gates see the same totals in both. */
    struct rep_run_totals a, b;
    rep_run_totals(&r, 0, &a);
    rep_run_totals(&back, 0, &b);
    CHECK_EQ(a.leaked_bytes, b.leaked_bytes);
    CHECK_EQ(a.leaked_bytes, 24456);
    CHECK_EQ(a.peak_bytes, b.peak_bytes);
    CHECK_EQ(a.allocations, b.allocations);
    /* Written again, the read-back run gives the same file. */
    size_t len2;
    char *text2 = write_to_string(&back, &len2);
    struct rep_run again = REP_RUN_INIT;
    CHECK_EQ(rep_baseline_parse(text2, len2, &again, err, sizeof err), 0);
    char *text3 = write_to_string(&again, &len2);
    CHECK_STR(text3, text2);
    free(text);
    free(text2);
    free(text3);
    rep_run_release(&r);
    rep_run_release(&back);
    rep_run_release(&again);
}

static void bad_baseline(const char *text, const char *want)
{
    struct rep_run r = REP_RUN_INIT;
    char err[200] = "";
    CHECK_EQ(rep_baseline_parse(text, strlen(text), &r, err, sizeof err), -1);
    if (!strstr(err, want))
        fprintf(stderr, "error '%s' lacks '%s'\n", err, want);
    CHECK(strstr(err, want) != NULL);
    CHECK_EQ(r.nprocesses, 0);
}

static void test_bad_files(void)
{
    bad_baseline("", "unexpected end of input");
    bad_baseline("{\"schema\": \"heapgraph-report/1\"}", "\"schema\" is not");
    bad_baseline("{\"schema\": \"heapgraph-baseline/1\", \"totals\": {}}",
                 "\"allocations\" missing");
    bad_baseline("{\"schema\": \"heapgraph-baseline/1\", \"totals\": {\"allocations\": -1}}",
                 "\"allocations\" missing or not a non-negative integer");
    bad_baseline("{\"schema\": \"heapgraph-baseline/1\", \"totals\": {\"allocations\": 1, "
                 "\"frees\": 1, \"allocated_bytes\": 1, \"peak_bytes\": 1, \"cycles\": 0}, "
                 "\"leaks\": [{\"kind\": \"lost\"}], \"sites\": []}", "no valid \"kind\"");
    bad_baseline("{\"schema\": \"heapgraph-baseline/1\", \"totals\": {\"allocations\": 1, "
                 "\"frees\": 1, \"allocated_bytes\": 1, \"peak_bytes\": 1, \"cycles\": 0}, "
                 "\"leaks\": [{\"kind\": \"definite\", \"blocks\": 1, \"bytes\": 1, "
                 "\"indirect_blocks\": 0, \"indirect_bytes\": 0}], \"sites\": []}",
                 "no \"stack\" array");
    bad_baseline("{\"schema\": \"heapgraph-baseline/1\"} x", "trailing data");

    /* Every truncation of a valid file is an error, never a crash. */
    struct rep_run r = REP_RUN_INIT;
    size_t len;
    fill(&r);
    char *text = write_to_string(&r, &len);
    int failures = 0;
    for (size_t cut = 0; cut + 1 < len; cut++) {
        struct rep_run t = REP_RUN_INIT;
        char err[200];
        if (rep_baseline_parse(text, cut, &t, err, sizeof err) == 0) {
            failures++;
            rep_run_release(&t);
        }
    }
    CHECK_EQ(failures, 0);
    free(text);
    rep_run_release(&r);

    char err[200];
    struct rep_run t = REP_RUN_INIT;
    CHECK_EQ(rep_baseline_read("/nonexistent/base.json", &t, err, sizeof err), -1);
    CHECK_STR(err, "/nonexistent/base.json: No such file or directory");
}

static void test_json_reader(void)
{
    char err[128];
    static const char doc[] = " {\"a\": [1, 2.5, -3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
                              " \"big\": 18446744073709551615, \"over\": 18446744073709551616}";
    struct rep_json *j = rep_json_parse(doc, strlen(doc), err, sizeof err);
    CHECK(j != NULL);
    if (!j)
        return;
    const struct rep_json *a = rep_json_get(j, "a");
    CHECK_EQ(a->n, 7);
    CHECK_EQ(a->items[0].is_uint, 1);
    CHECK_EQ(a->items[0].u, 1);
    CHECK_EQ(a->items[1].is_uint, 0);
    CHECK(a->items[1].num == 2.5);
    CHECK_EQ(a->items[2].is_uint, 0);
    CHECK_EQ(a->items[3].boolean, 1);
    CHECK_EQ(a->items[5].type, REP_JSON_NULL);
    CHECK_STR(a->items[6].str, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    uint64_t v;
    CHECK_EQ(rep_json_get_u64(j, "big", &v), 0);
    CHECK(v == UINT64_MAX);
    CHECK_EQ(rep_json_get_u64(j, "over", &v), -1);
    CHECK_EQ(rep_json_get_u64(j, "missing", &v), -1);
    rep_json_free(j);

    char deep[300];
    memset(deep, '[', 200);
    deep[200] = 0;
    CHECK(rep_json_parse(deep, 200, err, sizeof err) == NULL);
    CHECK_STR(err, "offset 65: nesting too deep");
    static const char *const bad[] = {"{\"a\" 1}", "[1,]", "\"\\x\"", "[\"a\nb\"]", "01x",
                                      "{\"a\":1,}", "\"\\u12\"", "tru", "[1 2]", "-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(rep_json_parse(bad[i], strlen(bad[i]), err, sizeof err) == NULL);
    /* A NUL byte inside the buffer is not whitespace. */
    CHECK(rep_json_parse("1\0", 2, err, sizeof err) == NULL);

    char *out = NULL;
    size_t len;
    FILE *f = open_memstream(&out, &len);
    rep_json_puts(f, "a\"b\\c\x01\n");
    rep_json_puts(f, NULL);
    fclose(f);
    CHECK_STR(out, "\"a\\\"b\\\\c\\u0001\\u000a\"null");
    free(out);
}

/* Version 1 files, whose entries carry their stacks inline, are still read;
 * a version 2 stack tree must point backwards and at frames that exist. */
static void test_versions(void)
{
    static const char totals[] = "\"totals\": {\"processes\": 1, \"allocations\": 3, "
                                 "\"frees\": 1, \"allocated_bytes\": 72, \"peak_bytes\": 72, "
                                 "\"cycles\": 0}";
    static const char frames[] = "\"frames\": [{\"function\": \"leak\", \"file\": \"a.c\", "
                                 "\"line\": 4, \"module\": \"/bin/a\", \"offset\": 16}, "
                                 "{\"function\": \"main\", \"file\": \"a.c\", \"line\": 9, "
                                 "\"module\": \"/bin/a\", \"offset\": 64}]";
    char text[1024], err[200];
    struct rep_run r = REP_RUN_INIT;
    snprintf(text, sizeof text, "{\"schema\": \"heapgraph-baseline/1\", %s, \"leaks\": [{\"kind\": "
             "\"definite\", \"blocks\": 2, \"bytes\": 48, \"indirect_blocks\": 0, "
             "\"indirect_bytes\": 0, \"stack\": [{\"function\": \"leak\", \"file\": \"a.c\", "
             "\"line\": 4, \"module\": \"/bin/a\", \"offset\": 16}]}], \"sites\": []}", totals);
    CHECK_EQ(rep_baseline_parse(text, strlen(text), &r, err, sizeof err), 0);
    CHECK_EQ(r.nleaks, 1);
    CHECK_EQ(r.leaks[0].stack.nframes, 1);
    CHECK_STR(r.leaks[0].stack.frames[0].function, "leak");
    rep_run_release(&r);

    snprintf(text, sizeof text, "{\"schema\": \"heapgraph-baseline/2\", %s, %s, \"stacks\": "
             "[[1, null], [0, 0]], \"leaks\": [], \"sites\": [{\"allocations\": 3, \"bytes\": 72, "
             "\"live_blocks\": 2, \"live_bytes\": 48, \"stack\": 1}, {\"allocations\": 0, "
             "\"bytes\": 0, \"live_blocks\": 0, \"live_bytes\": 0, \"stack\": null}]}",
             totals, frames);
    CHECK_EQ(rep_baseline_parse(text, strlen(text), &r, err, sizeof err), 0);
    CHECK_EQ(r.nsites, 2);
    CHECK_EQ(r.sites[0].stack.nframes, 2);
    CHECK_STR(r.sites[0].stack.frames[0].function, "leak");
    CHECK_STR(r.sites[0].stack.frames[1].function, "main");
    CHECK_EQ(r.sites[0].stack.frames[1].line, 9);
    CHECK_EQ(r.sites[1].stack.nframes, 0);
    rep_run_release(&r);

    /* No frame at all: every entry's stack is null. */
    snprintf(text, sizeof text, "{\"schema\": \"heapgraph-baseline/2\", %s, \"frames\": [], "
             "\"stacks\": [], \"leaks\": [], \"sites\": [{\"allocations\": 3, \"bytes\": 72, "
             "\"live_blocks\": 2, \"live_bytes\": 48, \"stack\": null}]}", totals);
    CHECK_EQ(rep_baseline_parse(text, strlen(text), &r, err, sizeof err), 0);
    CHECK_EQ(r.nsites, 1);
    CHECK_EQ(r.sites[0].stack.nframes, 0);
    rep_run_release(&r);

    static const char *const trees[] = {"[[0, 0]]", "[[2, null]]", "[[0, null], [1, 1]]",
                                        "[[0]]", "[[0, -1]]", "{}"};
    for (size_t i = 0; i < sizeof trees / sizeof trees[0]; i++) {
        snprintf(text, sizeof text, "{\"schema\": \"heapgraph-baseline/2\", %s, %s, \"stacks\": "
                 "%s, \"leaks\": [], \"sites\": []}", totals, frames, trees[i]);
        bad_baseline(text, "\"stacks\"");
    }
    snprintf(text, sizeof text, "{\"schema\": \"heapgraph-baseline/2\", %s, %s, \"stacks\": "
             "[[0, null]], \"leaks\": [], \"sites\": [{\"allocations\": 3, \"bytes\": 72, "
             "\"live_blocks\": 2, \"live_bytes\": 48, \"stack\": 1}]}", totals, frames);
    bad_baseline(text, "not an entry of \"stacks\"");
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_bad_files);
    RUN(test_versions);
    RUN(test_json_reader);
    return DONE();
}
