/* SPDX-License-Identifier: MIT
 *
 * test_html.c - the HTML report's writer (report/render/html.c) and the folded
 * stacks (report/render/collapsed.c) on a model built by hand: a cycle of three
 * 32-byte nodes allocated in a file named like an XSS attack, one definite
 * 100-byte leak, ten temporaries. Checks the escaping of the embedded data,
 * the exact per-site figures and lifetime lists, bucket widening, and the
 * folded lines. Also leaves the page in $HG_BUILD_DIR/tests/html_mock.html
 * for looking at.
 */
#include "report/render/html.h"

#include <stdlib.h>
#include <string.h>

#include "report/analysis/lifetime.h"
#include "report/render/collapsed.h"
#include "tests/unit/harness.h"

#define XSS_FILE "</script><img src=x onerror=alert(1)>.c"

static const struct rep_frame frames_node[] = {
    { "make_node", XSS_FILE, 10, "/tmp/prog", 0x1100, 0x100, 0, 0 },
    { "main", "prog.c", 40, "/tmp/prog", 0x1200, 0x200, 0, 0 },
};
static const struct rep_frame frames_buf[] = {
    { NULL, NULL, 0, "/usr/lib/libbuf.so", 0x7000, 0x5a0, 0, 0 },
    { "main", "prog.c", 41, "/tmp/prog", 0x1210, 0x210, 0, 0 },
};
static const struct rep_frame frames_tmp[] = {
    { "tmp;work", "tmp.c", 7, "/tmp/prog", 0x1300, 0x300, 0, 0 },
    { "main", "prog.c", 42, "/tmp/prog", 0x1220, 0x220, 0, 0 },
};
static const struct rep_stack stacks[] = {
    { .id = 1, .defined = 1, .nframes = 2, .frames = frames_node },
    { .id = 2, .defined = 1, .nframes = 2, .frames = frames_buf },
    { .id = 3, .defined = 1, .nframes = 2, .frames = frames_tmp },
};
static const struct rep_site sites[] = {
    { &stacks[0], 3, 96, 0, 3, 96, 3, 96, 0, 0, 0 },
    { &stacks[1], 2, 200, 0, 1, 100, 2, 200, 0, 0, 0 },
    { &stacks[2], 10, 160, 10, 0, 0, 0, 0, 0, 0, 0 },
};
static const struct rep_block blocks[] = {      /* by address */
    { 0x1000, 32, 0, 0, NULL }, { 0x1040, 32, 1, 0, NULL }, { 0x1080, 32, 2, 0, NULL },
    { 0x2000, 100, 3, 1, NULL },
};
static const uint8_t kinds[] = { REP_KIND_CYCLE, REP_KIND_CYCLE, REP_KIND_CYCLE, REP_KIND_DEFINITE };
static const struct rep_sample samples[] = {
    { 100, 0, 1 << 20 }, { 200, 296, 1 << 20 }, { 500, 196, 2 << 20 }, { 1000, 196, 2 << 20 },
};

static struct rep_snapshot snap;
static struct rep_process proc;
static struct rep_capture cap;

static void build_model(void)
{
    snap.reason = 0;
    snap.have_blocks = snap.ended = snap.classified = 1;
    snap.nblocks = 4;
    snap.blocks = blocks;
    snap.kind = kinds;
    proc.stream = 1;
    proc.pid = 4242;
    proc.events = 1000;          /* enough for a point per bucket of its heap series */
    proc.start_us = 100;
    proc.end_us = 1000;
    proc.nstacks = 3;
    proc.stacks = stacks;
    proc.sites = sites;
    proc.nsamples = 4;
    proc.samples = samples;
    proc.peak_bytes = 296;
    proc.peak_time_us = 140;
    proc.exit_snapshot = &snap;
    cap.nprocesses = 1;
    cap.processes = &proc;
}

/* The events of the model: block numbers in allocation order. */
static void feed(struct rep_life *life)
{
    for (int i = 0; i < 3; i++)
        rep_life_block(life, 1, 0, (uint64_t)i, 0, 32, 100 + 10 * (uint64_t)i, 0);
    rep_life_block(life, 1, 0, 3, 1, 100, 130, 0);
    rep_life_block(life, 1, 0, 4, 1, 100, 140, 0);
    rep_life_block(life, 1, 1, 4, 1, 100, 300, 0);
    for (int i = 0; i < 10; i++) {
        uint64_t t = 400 + 10 * (uint64_t)i;
        rep_life_block(life, 1, 0, 5 + (uint64_t)i, 2, 16, t, 0);
        rep_life_block(life, 1, 1, 5 + (uint64_t)i, 2, 16, t, 1);
    }
}

static int stub_json(FILE *f, void *arg, struct rep_stacktab *stacks, char *err, size_t errlen)
{
    (void)arg, (void)stacks, (void)err, (void)errlen;
    fputs("{\"schema\":\"heapgraph-report/2\",\"processes\":[{\"pid\":4242,\"command\":[\""
          XSS_FILE "\",\"a\xe2\x80\xa8" "b&c\"]}],\"split\":\"x\xe2", f);
    fflush(f);                       /* U+2029 cut in two writes */
    fputs("\x80\xa9y\xe2\x82\xac\"}", f);
    return 0;
}

/* The page of c (NULL: the model above); caller frees. */
static char *render(const struct rep_capture *c, const struct rep_life *life, size_t *len)
{
    char *buf = NULL, err[256] = "";
    FILE *f = open_memstream(&buf, len);
    struct rep_html_opts o = { .life = life, .write_json = stub_json };
    CHECK_EQ(rep_html_write(f, c ? c : &cap, &o, err, sizeof err), 0);
    fclose(f);
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_embedded_data_cannot_break_out(void)
{
    size_t len;
    char *page = render(NULL, NULL, &len);
    CHECK_EQ(count(page, "</script>"), 2);      /* the two closing tags of the page */
    CHECK_EQ(count(page, "<img"), 0);
    CHECK(strstr(page, "\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e.c") != NULL);
    CHECK(strstr(page, "a\\u2028b\\u0026c") != NULL);
    CHECK(strstr(page, "\"split\":\"x\\u2029y\xe2\x82\xac\"") != NULL);   /* and the euro sign intact */
    CHECK(strstr(page, "\xe2\x80\xa8") == NULL);
    CHECK(strstr(page, "\"lifetimes\":\"not recorded\"") != NULL);
    CHECK(strstr(page, "\"life\":null") != NULL);
    free(page);
}

static void test_site_figures_and_lifetimes(void)
{
    struct rep_life *life = rep_life_new();
    feed(life);
    size_t len;
    char *page = render(NULL, life, &len);
    const char *hg = getenv("HG_BUILD_DIR");
    if (hg) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/html_mock.html", hg);
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(page, 1, len, f);
            fclose(f);
        }
    }
    CHECK(strstr(page, "\"life\":{\"t0\":100,\"dt\":1,\"n\":391}") != NULL);
    /* the heap: 32 at 100, 64 at 110, 96 at 120, 196 at 130, 296 at 140 */
    /* the heap, each point the change from the last: 32 at 100, 64 at 110,
     * 96 at 120, 196 at 130, 296 at 140 */
    CHECK(strstr(page, "\"series\":{\"t0\":100,\"dt\":1,\"source\":\"events\",\"heap\":"
                       "[32,0,0,0,0,0,0,0,0,0,32,0,0,0,0,0,0,0,0,0,32,0,0,0,0,0,0,0,0,0,100,0,0,0,0,"
                       "0,0,0,0,0,100,0,") != NULL);
    /* the sites as columns */
    CHECK(strstr(page, "\"sites\":{\"k\":[1,3,5],\"n\":[3,2,10],\"b\":[96,200,160],\"t\":[0,0,10],"
                       "\"p\":[96,200,0],\"l\":[96,100,0],\"lb\":[3,1,0],"
                       "\"a\":[[0,1,32,10,1,32,10,1,32],[30,1,100,10,1,100],"
                       "[300,1,16,10,1,16,10,1,16,10,1,16,10,1,16,10,1,16,10,1,16,10,1,16,10,1,16,10,1,16]],"
                       "\"f\":[[],[200,1,100],") != NULL);
    CHECK(strstr(page, "\"x\":[[],[],[300,1,0,10,1,0,10,1,0,10,1,0,10,1,0,10,1,0,10,1,0,10,1,0,10,1,0,"
                       "10,1,0]],\"z\":[[0,1,32,10,1,32,10,1,32],[30,1,100],[]]}") != NULL);
    /* one frame table for the page: the three "main" frames kept apart by line */
    CHECK(strstr(page, "{\"function\":null,\"file\":null,\"line\":0,\"module\":\"/usr/lib/libbuf.so\","
                       "\"offset\":1440,") != NULL);
    CHECK_EQ(count(page, "{\"function\":\"main\",\"file\":\"prog.c\","), 3);
    CHECK(strstr(page, "\"stacks\":[[0,null],[1,0],[2,null],[3,2],[4,null],[5,4]]}") != NULL);
    free(page);
    rep_life_free(life);
}

static void test_buckets_widen_over_a_long_run(void)
{
    struct rep_life *life = rep_life_new();
    rep_life_block(life, 1, 0, 0, 0, 32, 0, 0);
    rep_life_block(life, 1, 0, 1, 0, 32, 10000000, 0);
    rep_life_block(life, 1, 1, 0, 0, 32, 10000000, 0);
    size_t len;
    char *page = render(NULL, life, &len);
    /* 10 s in at most 2048 buckets: widths double from 1 us to 8192 us. */
    CHECK(strstr(page, "\"life\":{\"t0\":0,\"dt\":8192,\"n\":1221}") != NULL);
    CHECK(strstr(page, "\"a\":[[0,1,32,1220,1,32],[],[]],\"f\":[[1220,1,32],[],[]]") != NULL);
    free(page);
    rep_life_free(life);
}

/* One big site (main;big) and 100 one-byte sites main;work;leaf: each leaf
 * is under 1/50000 of the totals, but main;work together is not, so the
 * leaves become one "(other)" under main;work. */
static void test_small_sites_merge_under_their_caller(void)
{
    enum { N = 101 };
    static struct rep_frame fr[N][3];
    static struct rep_stack st[N];
    static struct rep_site si[N];
    static char names[N][16];
    struct rep_process p2 = { .stream = 1, .pid = 7, .nstacks = N, .stacks = st, .sites = si };
    struct rep_capture c2 = { .nprocesses = 1, .processes = &p2 };
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "leaf%d", i);
        fr[i][0] = (struct rep_frame){ .function = i ? names[i] : "big", .module = "/p" };
        fr[i][1] = (struct rep_frame){ .function = "work", .module = "/p" };
        fr[i][2] = (struct rep_frame){ .function = "main", .module = "/p" };
        fr[0][1] = fr[0][2];
        st[i] = (struct rep_stack){ .id = (uint32_t)i, .defined = 1, .nframes = i ? 3 : 2, .frames = fr[i] };
        si[i] = (struct rep_site){ &st[i], i ? 1 : 1000000, i ? 1 : 1000000, 0, 0, 0, 0, 0, 0, 0, 0 };
    }
    size_t len;
    char *buf = render(&c2, NULL, &len);
    CHECK(strstr(buf, "\"merged_sites\":100") != NULL);
    /* frames main 0, big 1, (other) 2, work 3; entries main, big < main,
     * work < main, (other) < work */
    CHECK(strstr(buf, "\"sites\":{\"k\":[1,3],\"n\":[1000000,100],\"b\":[1000000,100],"
                      "\"t\":[0,0],\"p\":[0,0],\"l\":[0,0],\"lb\":[0,0]}") != NULL);
    CHECK_EQ(count(buf, "\"function\":"), 4);
    CHECK(strstr(buf, "{\"function\":\"(other)\",\"file\":null,\"line\":0,\"module\":\"?\"") != NULL);
    CHECK(strstr(buf, "\"stacks\":[[0,null],[1,0],[3,0],[2,2]]}") != NULL);
    free(buf);
}

/* A process with few events gets fewer points, each the largest heap of
 * four buckets here (ten events: at least 128 points, 391 buckets). */
static void test_short_process_series(void)
{
    struct rep_life *life = rep_life_new();
    feed(life);
    proc.events = 10;
    size_t len;
    char *page = render(NULL, life, &len);
    CHECK(strstr(page, "\"series\":{\"t0\":100,\"dt\":4,\"source\":\"events\",\"heap\":"
                       "[32,0,32,0,0,32,0,100,0,0,100,0,") != NULL);
    proc.events = 1000;
    free(page);
    rep_life_free(life);
}

/* A fork child judged on what it owns: the sites where it made nothing and
 * lost nothing (its parent's heap) fold into one "(inherited)" entry,
 * unless the whole inherited heap is judged (--inherited). */
static void test_inherited_sites_fold(void)
{
    static const struct rep_frame fr[3] = {
        { .function = "parent_a", .module = "/p" }, { .function = "parent_b", .module = "/p" },
        { .function = "own", .module = "/p" } };
    static struct rep_stack st[3];
    static struct rep_site si[3];
    for (int i = 0; i < 3; i++) {
        st[i] = (struct rep_stack){ .id = (uint32_t)i, .defined = 1, .nframes = 1, .frames = &fr[i] };
        si[i] = (struct rep_site){ .stack = &st[i], .peak_bytes = i == 2 ? 16 : 100u * (uint64_t)(i + 1) };
    }
    si[2].allocations = 1;
    si[2].bytes = 16;
    struct rep_process p3 = { .stream = 2, .pid = 9, .origin = REP_ORIGIN_FORK, .inherited_blocks = 2,
                              .nstacks = 3, .stacks = st, .sites = si };
    struct rep_capture c3 = { .nprocesses = 1, .processes = &p3 };
    size_t len;
    char *buf = render(&c3, NULL, &len);
    CHECK(strstr(buf, "\"sites\":{\"k\":[0,1],\"n\":[1,0],\"b\":[16,0],\"t\":[0,0],\"p\":[16,300],"
                      "\"l\":[0,0],\"lb\":[0,0]}") != NULL);
    CHECK(strstr(buf, "{\"function\":\"(inherited)\",") != NULL);
    CHECK_EQ(count(buf, "parent_a"), 0);
    free(buf);
    c3.whole_heap = 1;
    buf = render(&c3, NULL, &len);
    CHECK(strstr(buf, "\"sites\":{\"k\":[0,1,2],\"n\":[0,0,1],") != NULL);
    CHECK_EQ(count(buf, "(inherited)"), 0);
    free(buf);
}

/* A site whose stack lost every frame still shows, as "[unknown]". */
static void test_site_without_frames(void)
{
    static struct rep_stack st = { .id = 1, .defined = 1 };
    static struct rep_site si = { &st, 2, 64, 0, 2, 64, 2, 64, 0, 0, 0 };
    static struct rep_leak not_freed = { .kind = REP_LEAK_NOT_FREED, .blocks = 2, .bytes = 64 };
    struct rep_process p2 = { .stream = 1, .pid = 8, .nstacks = 1, .stacks = &st, .sites = &si,
                              .nleaks = 1, .leaks = &not_freed };
    struct rep_capture c2 = { .nprocesses = 1, .processes = &p2 };
    char err[256] = "";
    size_t len;
    char *buf = render(&c2, NULL, &len);
    CHECK(strstr(buf, "\"sites\":{\"k\":[0],\"n\":[2],\"b\":[64],\"t\":[0],\"p\":[64],\"l\":[64],"
                      "\"lb\":[2]}") != NULL);
    CHECK(strstr(buf, "\"frames\":[{\"function\":\"[unknown]\",\"file\":null,\"line\":0,"
                      "\"module\":\"?\"") != NULL);
    free(buf);
    FILE *f = open_memstream(&buf, &len);
    CHECK_EQ(rep_collapsed_write(f, &c2, REP_METRIC_LEAKED, 0, err, sizeof err), 0);
    fclose(f);
    CHECK_STR(buf, "[unknown] 64\n");
    free(buf);
}

static void test_collapsed_metrics(void)
{
    static const char *const want[] = {
        "main;libbuf.so+0x5a0 100\nmain;make_node 96\n",
        "main;libbuf.so+0x5a0 200\nmain;make_node 96\n",
        "main;libbuf.so+0x5a0 200\nmain;make_node 96\nmain;tmp:work 160\n",
        "main;libbuf.so+0x5a0 2\nmain;make_node 3\nmain;tmp:work 10\n",
    };
    static const char *const names[] = { "leaked", "peak", "allocated", "allocations" };
    for (int m = 0; m < 4; m++) {
        char *buf = NULL, err[256] = "";
        size_t len;
        FILE *f = open_memstream(&buf, &len);
        CHECK_EQ(rep_metric_parse(names[m]), m);
        CHECK_EQ(rep_collapsed_write(f, &cap, m, NULL, err, sizeof err), 0);
        fclose(f);
        CHECK_STR(buf, want[m]);
        free(buf);
    }
    CHECK_EQ(rep_metric_parse("bytes"), -1);
}

static void test_collapsed_unknown_pid(void)
{
    char err[256] = "";
    FILE *f = fopen("/dev/null", "w");
    CHECK_EQ(rep_collapsed_write(f, &cap, REP_METRIC_LEAKED, "99", err, sizeof err), -1);
    CHECK_STR(err, "no process with pid 99 in the capture");
    fclose(f);
}

int main(void)
{
    build_model();
    RUN(test_embedded_data_cannot_break_out);
    RUN(test_site_figures_and_lifetimes);
    RUN(test_buckets_widen_over_a_long_run);
    RUN(test_small_sites_merge_under_their_caller);
    RUN(test_site_without_frames);
    RUN(test_short_process_series);
    RUN(test_inherited_sites_fold);
    RUN(test_collapsed_metrics);
    RUN(test_collapsed_unknown_pid);
    return DONE();
}
