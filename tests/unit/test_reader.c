/* SPDX-License-Identifier: MIT
 *
 * test_reader.c - the capture reader and the replay (report/model/reader.c,
 * report/model/replay.c) on captures built in memory by test_reader_writer.h:
 * exact counts, temporaries, the peak and its sites, back-references,
 * inherited blocks, realloc, snapshots, and damage at every byte offset
 * (never a crash, and the events before the damage still counted).
 *
 * `test_reader --golden DIR` writes the captures of tests/golden/ instead.
 */
#include "report/analysis/classify.h"
#include "report/model/model.h"

#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "test_reader_writer.h"

static char tmp_path[256];
static char err[256];

static struct rep_capture *open_tw(const struct tw *w, size_t len)
{
    if (tw_write(w, tmp_path, len) < 0)
        abort();
    err[0] = 0;
    return rep_capture_open(tmp_path, NULL, err, sizeof err);
}

/* The last site of stack id stack_id: a fork child's own site comes after
 * the one that stands for its parent's stack of the same id. */
static const struct rep_site *site_of(const struct rep_process *p, uint32_t stack_id)
{
    const struct rep_site *s = NULL;
    for (size_t i = 0; i < p->nstacks; i++)
        if (p->stacks[i].id == stack_id)
            s = &p->sites[i];
    return s;
}

/* The figures of p's sites whose stacks start at frame, summed. */
static struct rep_site sites_at(const struct rep_process *p, uint64_t frame)
{
    struct rep_site sum = {0};
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct rep_stack *st = &p->stacks[i];
        if (!st->defined || !st->nraw || st->raw[0] != frame)
            continue;
        sum.allocations += p->sites[i].allocations;
        sum.live_blocks += p->sites[i].live_blocks;
        sum.live_bytes += p->sites[i].live_bytes;
        sum.peak_bytes += p->sites[i].peak_bytes;
    }
    return sum;
}

static const char *const argv1[] = {"./app", "--flag"};
static const uint64_t frames1[] = {0x401000, 0x402000};

/* The sequence of the header comment of test_counts: 13 events on 2 threads. */
static void write_counts(struct tw *w)
{
    tw_begin(w, HG_CAP_VERSION);
    tw_process(w, 1, 100, 1, 0, HG_ORIGIN_ROOT, "/bin/app", 2, argv1);
    tw_thread(w, 1, 0, 100, "main");
    tw_thread(w, 1, 1, 101, "worker");
    for (uint32_t id = 1; id <= 3; id++)
        tw_stack(w, 1, id, 2, frames1);
    uint64_t a = tw_alloc(w, 1, 0, 10, 1, 100, 0x1000);
    uint64_t b = tw_alloc(w, 1, 0, 10, 2, 200, 0x2000);
    tw_free(w, 1, 0, 10, b);                               /* temporary */
    uint64_t c = tw_alloc(w, 1, 0, 10, 3, 50, 0x3000);
    uint64_t d = tw_alloc(w, 1, 1, 10, 1, 1000, 0x10000);
    tw_free(w, 1, 0, 10, c);                               /* temporary: t1's alloc does not count */
    tw_flush(w);
    tw_free(w, 1, 1, 10, a);                               /* other thread: not temporary */
    uint64_t e = tw_alloc(w, 1, 0, 10, 2, 300, 0x4000);
    tw_alloc(w, 1, 0, 10, 2, 10, 0x5000);
    tw_free(w, 1, 0, 10, e);                               /* an allocation between: not */
    tw_free_unknown(w, 1, 0, 0x9990);
    uint64_t g = tw_realloc(w, 1, 1, 10, d, 3, 2000, 0x20000);   /* heap 2010: the peak */
    tw_free(w, 1, 1, 10, g);                               /* temporary */
    tw_end_process(w, 1, HG_END_EXIT, 3, 0);
    tw_end(w);
}

static void test_counts(void)
{
    struct tw w;
    write_counts(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (!cap)
        return;
    CHECK_EQ(cap->complete, 1);
    CHECK_EQ(cap->damaged, 0);
    CHECK_EQ(cap->nprocesses, 1);
    CHECK_EQ(cap->events, 13);
    const struct rep_process *p = &cap->processes[0];
    CHECK_EQ(p->pid, 100);
    CHECK_EQ(p->argc, 2);
    CHECK_STR(p->argv[1], "--flag");
    CHECK_STR(p->exe, "/bin/app");
    CHECK_EQ(p->end_how, HG_END_EXIT);
    CHECK_EQ(p->end_code, 3);
    CHECK_EQ(p->allocations, 7);
    CHECK_EQ(p->allocated_bytes, 3660);
    CHECK_EQ(p->frees, 6);
    CHECK_EQ(p->frees_unknown, 1);
    CHECK_EQ(p->reallocs, 1);
    CHECK_EQ(p->live_blocks, 1);
    CHECK_EQ(p->live_bytes, 10);
    CHECK_EQ(p->peak_bytes, 2010);
    CHECK_EQ(p->peak_blocks, 2);
    CHECK_EQ(p->peak_time_us, 110);
    CHECK_EQ(p->end_us, 120);
    CHECK_EQ(p->nthreads, 2);
    CHECK_STR(p->threads[1].name, "worker");
    const struct rep_site *s1 = site_of(p, 1), *s2 = site_of(p, 2), *s3 = site_of(p, 3);
    CHECK(s1 && s2 && s3);
    if (!s1 || !s2 || !s3)
        goto out;
    CHECK_EQ(s1->allocations, 2);
    CHECK_EQ(s1->bytes, 1100);
    CHECK_EQ(s2->allocations, 3);
    CHECK_EQ(s2->bytes, 510);
    CHECK_EQ(s3->allocations, 2);
    CHECK_EQ(s3->bytes, 2050);
    CHECK_EQ(s1->temporary, 0);
    CHECK_EQ(s2->temporary, 1);
    CHECK_EQ(s3->temporary, 2);
    CHECK_EQ(s1->peak_bytes, 0);
    CHECK_EQ(s2->peak_bytes, 10);
    CHECK_EQ(s2->peak_blocks, 1);
    CHECK_EQ(s3->peak_bytes, 2000);
    CHECK_EQ(s2->live_bytes, 10);
    CHECK_EQ(p->npeak_sites, 2);
    CHECK(p->npeak_sites == 2 && &p->sites[p->peak_sites[0]] == s3);
    CHECK_EQ(p->nleaks, 1);   /* no exit snapshot: the live block is "not freed" */
    CHECK(p->nleaks == 1 && p->leaks[0].kind == REP_LEAK_NOT_FREED &&
          &p->sites[p->leaks[0].site] == s2 && p->leaks[0].bytes == 10);
out:
    rep_capture_close(cap);
    tw_release(&w);
}

/* The peak and every site's bytes at the peak, against a brute-force model
 * that copies all sites whenever the heap reaches a new maximum. */
static void test_peak_random(void)
{
    enum { NSITES = 7, NEV = 20000, MAXLIVE = 300 };
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 7, 1, 0, HG_ORIGIN_ROOT, "/bin/r", 0, NULL);
    uint64_t live_num[MAXLIVE], live_size[MAXLIVE], live_addr[MAXLIVE];
    int live_site[MAXLIVE], nlive = 0;
    uint64_t cur[NSITES] = {0}, at_peak[NSITES] = {0}, heap = 0, peak = 0, next_addr = 0x100000;
    srand(42);
    for (int i = 0; i < NEV; i++) {
        if (nlive < MAXLIVE && (nlive == 0 || rand() % 100 < 52)) {
            int site = rand() % NSITES;
            uint64_t size = 1 + (uint64_t)(rand() % 5000);
            live_addr[nlive] = next_addr;
            next_addr += 16 * (1 + (uint64_t)(rand() % 400));
            live_num[nlive] = tw_alloc(&w, 1, rand() % 3, 1, (uint32_t)site, size, live_addr[nlive]);
            live_size[nlive] = size;
            live_site[nlive++] = site;
            cur[site] += size;
            heap += size;
        } else {
            int k = rand() % nlive;
            tw_free(&w, 1, rand() % 3, 1, live_num[k]);
            cur[live_site[k]] -= live_size[k];
            heap -= live_size[k];
            nlive--;
            live_num[k] = live_num[nlive];
            live_size[k] = live_size[nlive];
            live_site[k] = live_site[nlive];
        }
        if (heap > peak) {
            peak = heap;
            memcpy(at_peak, cur, sizeof cur);
        }
        if (w.chunk.n > 60000)
            tw_flush(&w);
    }
    tw_end(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap) {
        const struct rep_process *p = &cap->processes[0];
        CHECK_EQ(p->peak_bytes, peak);
        CHECK_EQ(p->live_blocks, nlive);
        CHECK_EQ(p->live_bytes, heap);
        for (uint32_t s = 0; s < NSITES; s++) {
            const struct rep_site *site = site_of(p, s);
            CHECK(site != NULL);
            if (site) {
                CHECK_EQ(site->peak_bytes, at_peak[s]);
                CHECK_EQ(site->live_bytes, cur[s]);
                CHECK_EQ(site->stack->defined, 0);   /* no STACK records were written */
            }
        }
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* Back-references far into the past, table growth, and deletion order. */
static void test_backrefs(void)
{
    enum { N = 5000 };
    static uint64_t num[N];
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 9, 1, 0, HG_ORIGIN_ROOT, "/bin/b", 0, NULL);
    for (int i = 0; i < N; i++)
        num[i] = tw_alloc(&w, 1, 9, 1, (uint32_t)(i % 3), 24, 0x10000 + 32 * (uint64_t)i);
    for (int i = N - 1; i >= 0; i -= 2)      /* free every other block, newest first */
        tw_free(&w, 1, 9, 1, num[i]);
    for (int i = 0; i < N; i += 4)           /* then every fourth, oldest first */
        tw_free(&w, 1, 9, 1, num[i]);
    tw_mark(&w, 1, 9, HG_MARK_SNAPSHOT, 1);
    tw_end(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap) {
        const struct rep_process *p = &cap->processes[0];
        CHECK_EQ(p->allocations, N);
        CHECK_EQ(p->frees, N / 2 + N / 4);
        CHECK_EQ(p->live_blocks, N / 4);
        CHECK_EQ(p->live_bytes, 24 * (N / 4));
        CHECK_EQ(p->nthreads, 0);
        CHECK_EQ(p->nsnapshots, 1);
        const struct rep_snapshot *s = &p->snapshots[0];
        CHECK_EQ(s->nblocks, N / 4);
        CHECK_EQ(s->partial, 1);          /* no SNAPSHOT record, no end */
        CHECK(s->nblocks > 1 && s->blocks[0].addr == 0x10000 + 32 * 2 && s->blocks[1].addr == 0x10000 + 32 * 6);
        CHECK(p->exit_snapshot == NULL);  /* reason unknown without a record */
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* A forked child: inherited blocks take numbers 0..n-1 (format 2) or keep
 * the parent's (format 3), and the parent's stacks. */
static const uint64_t inherited[3][3] = {{0x1000, 10, 1}, {0x2000, 20, 2}, {0x3000, 30, 1}};

/* Parent 50 (exit status 0) makes 3 blocks and forks child 51, which frees the
 * inherited 20-byte block, makes one of 5 bytes and is killed by signal 9.
 * Format 2 wrote the inherited blocks (INHERIT); format 3 says whose they
 * are (FORKED) before the parent's fork mark, and the parent frees one of
 * its blocks after the fork, which the child keeps. */
static uint64_t write_fork(struct tw *w, int forked)
{
    tw_begin(w, forked ? HG_CAP_VERSION : 2);
    tw_process(w, 1, 50, 1, 0, HG_ORIGIN_ROOT, "/bin/p", 0, NULL);
    tw_stack(w, 1, 1, 2, frames1);
    tw_stack(w, 1, 2, 1, frames1);
    tw_alloc(w, 1, 0, 1, 1, 10, 0x1000);
    tw_alloc(w, 1, 0, 1, 2, 20, 0x2000);
    tw_alloc(w, 1, 0, 1, 1, 30, 0x3000);
    tw_process(w, 2, 51, 50, 1, HG_ORIGIN_FORK, "/bin/p", 0, NULL);
    if (forked)
        tw_forked(w, 2, 1);
    tw_mark(w, 1, 0, HG_MARK_FORK, 2);
    if (forked)
        tw_free(w, 1, 0, 1, 0);
    else
        tw_inherit(w, 2, 1, 3, inherited);
    tw_free(w, 2, 0, 1, 1);
    uint64_t n = tw_alloc(w, 2, 0, 1, 2, 5, 0x4000);
    tw_end_process(w, 2, HG_END_SIGNAL, 9, 0);
    tw_end_process(w, 1, HG_END_EXIT, 0, 0);
    tw_end(w);
    return n;
}

static void check_fork(int forked)
{
    struct tw w;
    uint64_t n = write_fork(&w, forked);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    CHECK_EQ(n, 3);
    if (cap) {
        CHECK_EQ(cap->nprocesses, 2);
        const struct rep_process *c = &cap->processes[1];
        CHECK(c->parent == &cap->processes[0]);
        CHECK_EQ(c->inherited_blocks, 3);
        CHECK_EQ(c->inherited_bytes, 60);
        CHECK_EQ(c->allocations, 1);
        CHECK_EQ(c->frees, 1);
        CHECK_EQ(c->frees_unknown, 0);
        CHECK_EQ(c->live_blocks, 3);
        CHECK_EQ(c->live_bytes, 45);
        CHECK_EQ(c->peak_bytes, 60);
        CHECK_EQ(c->end_how, HG_END_SIGNAL);
        const struct rep_site *s2 = site_of(c, 2);
        CHECK(s2 && s2->stack->defined && s2->stack->nraw == 1);
        CHECK(s2 && s2->live_bytes == 5 && s2->allocations == 1);
        CHECK_EQ(cap->processes[0].live_bytes, forked ? 50 : 60);
    }
    rep_capture_close(cap);
    tw_release(&w);
}

static void test_inherit(void)
{
    for (int forked = 0; forked < 2; forked++)
        check_fork(forked);
}

/* Format 3 numbers inherited blocks as the parent did: a parent that freed
 * its first block before forking leaves the child numbers 1 and 2, which
 * are still inherited (the child's own start at 3), whatever the count. */
static void test_fork_numbers(void)
{
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 50, 1, 0, HG_ORIGIN_ROOT, "/bin/p", 0, NULL);
    tw_stack(&w, 1, 1, 2, frames1);
    uint64_t first = tw_alloc(&w, 1, 0, 1, 1, 10, 0x1000);
    tw_alloc(&w, 1, 0, 1, 1, 20, 0x2000);
    tw_alloc(&w, 1, 0, 1, 1, 30, 0x3000);
    tw_free(&w, 1, 0, 1, first);
    tw_process(&w, 2, 51, 50, 1, HG_ORIGIN_FORK, "/bin/p", 0, NULL);
    tw_forked(&w, 2, 1);
    tw_mark(&w, 1, 0, HG_MARK_FORK, 2);
    tw_alloc(&w, 2, 0, 1, 1, 5, 0x4000);
    tw_end_process(&w, 2, HG_END_EXIT, 0, 0);
    tw_end_process(&w, 1, HG_END_EXIT, 0, 0);
    tw_end(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap) {
        const struct rep_process *c = &cap->processes[1];
        CHECK_EQ(c->inherited_blocks, 2);
        CHECK_EQ(c->own_from, 3);
        CHECK_EQ(c->nleaks, 1);
        CHECK(c->nleaks == 1 && c->leaks[0].bytes == 5 && c->leaks[0].blocks == 1);
        CHECK_EQ(c->unjudged_blocks, 2);
        CHECK_EQ(c->unjudged_bytes, 50);
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* A thread of the parent read its allocation's time before the fork and
 * took the stack's id (2) after it, so the child's first stack took id 2
 * too (rt_stack.c). Block X, made at the parent's stack 2 and freed by the
 * parent after the fork, stays at that stack in the child and in its own
 * child, though the child defines id 2 before the fork mark, allocates at
 * X's address while X is live, and the parent names its stack 2 only after
 * the mark. */
static const uint64_t frames_b[] = {0x501000};
static const uint64_t frames_c[] = {0x601000, 0x602000};

static void write_fork_same_id(struct tw *w)
{
    tw_begin(w, HG_CAP_VERSION);
    tw_process(w, 1, 50, 1, 0, HG_ORIGIN_ROOT, "/bin/p", 0, NULL);
    tw_stack(w, 1, 1, 2, frames1);
    tw_alloc(w, 1, 0, 1, 1, 100, 0x1000);
    uint64_t x = tw_alloc(w, 1, 1, 1, 2, 16, 0x8000);
    tw_process(w, 2, 51, 50, 1, HG_ORIGIN_FORK, "/bin/p", 0, NULL);
    tw_forked(w, 2, 1);
    tw_stack(w, 2, 2, 2, frames_c);
    tw_mark(w, 1, 0, HG_MARK_FORK, 2);
    tw_stack(w, 1, 2, 1, frames_b);
    tw_free(w, 1, 1, 1, x);
    uint64_t own = tw_alloc(w, 2, 0, 1, 2, 32, 0x8000);
    tw_alloc(w, 2, 0, 1, 2, 32, 0x9000);
    tw_free(w, 2, 0, 1, own);
    tw_process(w, 3, 52, 51, 2, HG_ORIGIN_FORK, "/bin/p", 0, NULL);
    tw_forked(w, 3, 2);
    tw_mark(w, 2, 0, HG_MARK_FORK, 3);
    tw_end_process(w, 3, HG_END_EXIT, 0, 0);
    tw_end_process(w, 2, HG_END_EXIT, 0, 0);
    tw_end_process(w, 1, HG_END_EXIT, 0, 0);
    tw_end(w);
}

static void test_fork_same_stack_id(void)
{
    struct tw w;
    write_fork_same_id(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap && cap->nprocesses == 3) {
        const struct rep_process *c = &cap->processes[1], *g = &cap->processes[2];
        CHECK_EQ(c->inherited_blocks, 2);
        CHECK_EQ(c->allocations, 2);
        CHECK_EQ(c->frees, 1);
        CHECK_EQ(c->live_bytes, 148);
        CHECK_EQ(c->peak_bytes, 180);
        struct rep_site own = sites_at(c, frames_c[0]), x = sites_at(c, frames_b[0]);
        CHECK_EQ(own.allocations, 2);
        CHECK_EQ(own.live_blocks, 1);
        CHECK_EQ(own.live_bytes, 32);
        CHECK_EQ(own.peak_bytes, 64);
        CHECK_EQ(x.allocations, 0);
        CHECK_EQ(x.live_blocks, 1);
        CHECK_EQ(x.live_bytes, 16);
        CHECK_EQ(x.peak_bytes, 16);
        CHECK_EQ(g->inherited_blocks, 3);
        CHECK_EQ(sites_at(g, frames_c[0]).live_bytes, 32);
        CHECK_EQ(sites_at(g, frames_b[0]).live_bytes, 16);
        CHECK_EQ(sites_at(g, frames1[0]).live_bytes, 100);
        CHECK_EQ(sites_at(&cap->processes[0], frames_b[0]).allocations, 1);
        CHECK_EQ(sites_at(&cap->processes[0], frames_b[0]).live_bytes, 0);
    } else {
        CHECK(0);
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* Thread indexes past 5 travel as a varint after the tag. */
static void test_thread_varint(void)
{
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 5, 1, 0, HG_ORIGIN_ROOT, "/bin/t", 0, NULL);
    uint64_t a = tw_alloc(&w, 1, 7, 1, 1, 64, 0x7000);
    uint64_t b = tw_alloc(&w, 1, 2, 1, 1, 64, 0x9000);
    tw_free(&w, 1, 7, 1, a);      /* thread 7's last allocation: temporary */
    tw_free(&w, 1, 7, 1, b);      /* made by thread 2: not */
    tw_end(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap) {
        CHECK_EQ(cap->processes[0].sites[0].temporary, 1);
        CHECK_EQ(cap->processes[0].frees, 2);
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* Addresses predicted by the reuse stacks (naddr 0): a block freed by a
 * thread comes back to it, a realloc in place pops its own old address, and
 * another thread's stacks are separate. */
static void test_reuse(void)
{
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 5, 1, 0, HG_ORIGIN_ROOT, "/bin/t", 0, NULL);
    uint64_t a = tw_alloc(&w, 1, 0, 1, 1, 24, 0x1000);
    tw_free(&w, 1, 0, 1, a);
    uint64_t b = tw_alloc(&w, 1, 0, 1, 1, 24, 0x1000);        /* popped */
    uint64_t c = tw_realloc(&w, 1, 0, 1, b, 1, 20, 0x1000);   /* same class: popped */
    uint64_t d = tw_alloc(&w, 1, 1, 1, 1, 1000, 0x8000);
    tw_free(&w, 1, 0, 1, d);                                   /* pushed on thread 0's stack */
    uint64_t e = tw_alloc(&w, 1, 0, 1, 2, 1000, 0x8000);      /* popped by thread 0 */
    uint64_t f = tw_alloc(&w, 1, 1, 1, 2, 5000, 0x20000);     /* too big for a class */
    tw_mark(&w, 1, 0, HG_MARK_SNAPSHOT, 1);
    tw_end(&w);
    (void)c, (void)e, (void)f;
    CHECK_EQ(w.file.n > 0, 1);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap) {
        CHECK_EQ(cap->damaged, 0);
        const struct rep_snapshot *s = &cap->processes[0].snapshots[0];
        CHECK_EQ(s->nblocks, 3);
        if (s->nblocks == 3) {
            CHECK_EQ(s->blocks[0].addr, 0x1000);
            CHECK_EQ(s->blocks[0].size, 20);
            CHECK_EQ(s->blocks[1].addr, 0x8000);
            CHECK_EQ(s->blocks[2].addr, 0x20000);
        }
    }
    rep_capture_close(cap);
    tw_release(&w);
    /* A pop from an empty stack is damage, not a crash. */
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 5, 1, 0, HG_ORIGIN_ROOT, "/bin/t", 0, NULL);
    a = tw_alloc(&w, 1, 0, 1, 1, 24, 0x1000);
    tw_free(&w, 1, 0, 1, a);
    tw_flush(&w);
    tw_alloc(&w, 1, 0, 1, 1, 24, 0x1000);   /* popped: both stacks are empty now */
    w.st[1].reuse[0].count[2] = 1;          /* the writer's stack goes stale */
    w.st[1].reuse[0].top[2] = 1;
    tw_alloc(&w, 1, 0, 1, 1, 24, 0x1000);   /* so this one is "predicted" wrongly */
    tw_end(&w);
    cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL && cap->damaged && strstr(cap->damage_message, "reuse stack is empty"));
    CHECK(cap != NULL && cap->events == 3);
    rep_capture_close(cap);
    tw_release(&w);
}

/* Two snapshots: a cycle, definite blocks, a block held by a global, and the
 * growth between them. Blocks by address: A B C D E. */
static void write_snapshots(struct tw *w)
{
    static const uint64_t edges[3][4] = {{0, 8, 1, 0}, {2, 0, 0, 0}, {1, 16, 3, 0}};
    tw_begin(w, HG_CAP_VERSION);
    tw_process(w, 1, 77, 1, 0, HG_ORIGIN_ROOT, "/bin/s", 0, NULL);
    tw_alloc(w, 1, 0, 5, 2, 16, 0x3000);                    /* C */
    tw_mark(w, 1, 0, HG_MARK_SNAPSHOT, 1);
    tw_snapshot(w, 1, 1, 1, 1);
    tw_snapshot_end(w, 1, 1, 0);
    tw_alloc(w, 1, 0, 5, 1, 32, 0x1000);                    /* A */
    tw_alloc(w, 1, 0, 5, 1, 48, 0x2000);                    /* B */
    tw_alloc(w, 1, 0, 5, 3, 64, 0x4000);                    /* D */
    tw_alloc(w, 1, 0, 5, 2, 16, 0x5000);                    /* E */
    tw_mark(w, 1, 0, HG_MARK_SNAPSHOT, 2);
    tw_snapshot(w, 1, 2, 0, 5);
    tw_root(w, 1, 2, 0, HG_ROOT_GLOBAL, 0, 0x600000, 0x100);
    tw_edges(w, 1, 2, 3, edges);
    tw_snapshot_end(w, 1, 2, 3);
    tw_end_process(w, 1, HG_END_EXIT, 0, HG_END_F_SNAPSHOT);
    tw_end(w);
}

static void test_snapshots(void)
{
    struct tw w;
    write_snapshots(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (!cap)
        return;
    CHECK_EQ(rep_capture_classify(cap, err, sizeof err), 0);
    const struct rep_process *p = &cap->processes[0];
    CHECK_EQ(p->nsnapshots, 2);
    CHECK(p->exit_snapshot == &p->snapshots[1]);
    const struct rep_snapshot *s = p->exit_snapshot;
    if (!s || !s->classified)
        goto out;
    CHECK_EQ(s->partial, 0);
    CHECK_EQ(s->nblocks, 5);
    CHECK_EQ(s->summary.cycle.blocks, 2);
    CHECK_EQ(s->summary.cycle.bytes, 80);
    CHECK_EQ(s->summary.definite.blocks, 2);
    CHECK_EQ(s->summary.definite.bytes, 32);
    CHECK_EQ(s->summary.reachable.blocks, 1);
    CHECK_EQ(s->summary.indirect.blocks, 0);
    CHECK_EQ(s->ncycles, 1);
    CHECK(s->ncycles == 1 && s->cycles[0].nmembers == 2 && s->cycles[0].root &&
          s->cycles[0].nedges == 2);
    CHECK_EQ(p->nleaks, 3);
    if (p->nleaks != 3)
        goto out;
    CHECK_EQ(p->leaks[0].kind, REP_LEAK_CYCLE);
    CHECK_EQ(p->leaks[0].bytes, 80);
    CHECK_EQ(p->stacks[p->leaks[0].site].id, 1);
    CHECK_EQ(p->leaks[1].kind, REP_LEAK_DEFINITE);
    CHECK_EQ(p->leaks[1].blocks, 2);
    CHECK_EQ(p->leaks[1].ngroups, 2);
    CHECK_EQ(p->leaks[2].kind, REP_LEAK_REACHABLE);
    const struct rep_retention *r = p->leaks[2].retained_by;
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->root_kind, HG_ROOT_GLOBAL);
        CHECK_EQ(r->root_addr, 0x600010);
        CHECK_EQ(r->npath, 1);
        CHECK_EQ(r->path[0].size, 64);
        CHECK_EQ(r->path[0].offset, 16);
    }
    CHECK_EQ(s->ngrew, 3);
    for (size_t i = 0; i < s->ngrew; i++)
        if (s->grew[i].kind == REP_LEAK_DEFINITE)
            CHECK_EQ(s->grew[i].delta_bytes, 16);
    CHECK_EQ(p->snapshots[0].summary.definite.bytes, 16);
out:
    rep_capture_close(cap);
    tw_release(&w);
}

static void test_bad_files(void)
{
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION + 1);
    tw_end(&w);
    CHECK(open_tw(&w, SIZE_MAX) == NULL);
    char want[80];
    snprintf(want, sizeof want, "capture format version %u is newer than this heapgraph (%u)",
             HG_CAP_VERSION + 1, HG_CAP_VERSION);
    CHECK_STR(err, want);
    CHECK(open_tw(&w, 5) == NULL);
    CHECK_STR(err, "not a heapgraph capture");
    CHECK(open_tw(&w, 20) == NULL);
    CHECK_STR(err, "capture header cut short (20 bytes)");
    tw_release(&w);
    FILE *f = fopen(tmp_path, "w");
    fputs("hello, this is not a capture at all\n", f);
    fclose(f);
    CHECK(rep_capture_open(tmp_path, NULL, err, sizeof err) == NULL);
    CHECK_STR(err, "not a heapgraph capture");
    CHECK(rep_capture_open("/nonexistent/x.hgcap", NULL, err, sizeof err) == NULL);
    CHECK_STR(err, "No such file or directory");
}

/* Cut at every byte and flip every byte: never a crash; whole chunks before
 * the damage are always counted. */
static void test_damage_everywhere(void)
{
    struct tw w;
    size_t ends[8], nchunks = 0;
    uint64_t events[8];
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 1, 1, 0, HG_ORIGIN_ROOT, "/x", 0, NULL);
    for (int c = 0; c < 4; c++) {
        for (int i = 0; i < 6; i++)
            tw_free(&w, 1, 0, 1, tw_alloc(&w, 1, c, 1, (uint32_t)i, 16 + (uint64_t)i, 0x1000 * (uint64_t)(i + 1)));
        tw_flush(&w);
        ends[nchunks] = w.file.n;
        events[nchunks++] = w.events;
    }
    tw_end(&w);
    size_t full = w.file.n;
    for (size_t len = 0; len < full; len++) {
        struct rep_capture *cap = open_tw(&w, len);
        if (len < 32) {
            CHECK(cap == NULL);
            continue;
        }
        uint64_t want = 0;
        size_t chunk_start = 32;
        for (size_t k = 0; k < nchunks && ends[k] <= len; k++) {
            want = events[k];
            chunk_start = ends[k];
        }
        CHECK(cap != NULL);
        if (!cap)
            continue;
        if (cap->events != want || cap->complete)
            fprintf(stderr, "cut at %zu: %llu events\n", len, (unsigned long long)cap->events);
        CHECK(cap->events == want && !cap->complete);
        CHECK(cap->damaged == (len != chunk_start));
        CHECK(!cap->damaged || cap->damage_offset == chunk_start);
        rep_capture_close(cap);
    }
    uint8_t *orig = malloc(full);
    memcpy(orig, w.file.p, full);
    for (size_t i = 0; i < full; i++) {
        w.file.p[i] ^= 0x5a;
        struct rep_capture *cap = open_tw(&w, SIZE_MAX);
        uint64_t before = 0;
        for (size_t k = 0; k < nchunks && ends[k] <= i; k++)
            before = events[k];
        CHECK(i < 32 ? 1 : cap != NULL);
        CHECK(!cap || cap->events >= before);
        if (cap)
            rep_capture_classify(cap, err, sizeof err);
        rep_capture_close(cap);
        memcpy(w.file.p, orig, full);
    }
    free(orig);
    tw_release(&w);
}

static void test_missing_end(void)
{
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 1, 1, 0, HG_ORIGIN_ROOT, "/x", 0, NULL);
    tw_alloc(&w, 1, 0, 1, 1, 8, 0x10);
    tw_flush(&w);
    struct rep_capture *cap = open_tw(&w, SIZE_MAX);
    CHECK(cap != NULL);
    if (cap) {
        CHECK_EQ(cap->complete, 0);
        CHECK_EQ(cap->damaged, 0);
        CHECK_EQ(cap->events, 1);
        CHECK_EQ(cap->processes[0].nleaks, 1);
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* ---- golden captures --------------------------------------------------------- */

static int write_golden(const char *dir)
{
    struct tw w;
    char path[512];
    write_counts(&w);
    snprintf(path, sizeof path, "%s/valid.hgcap", dir);
    int rc = tw_write(&w, path, SIZE_MAX);
    snprintf(path, sizeof path, "%s/truncated.hgcap", dir);
    rc |= tw_write(&w, path, w.file.n - 7);
    size_t n = w.file.n;
    w.file.p[n - 5] ^= 0xff;   /* inside the last chunk's zstd frame */
    w.file.p[n - 6] ^= 0xff;
    snprintf(path, sizeof path, "%s/corrupt.hgcap", dir);
    rc |= tw_write(&w, path, SIZE_MAX);
    tw_release(&w);
    write_snapshots(&w);
    snprintf(path, sizeof path, "%s/snapshots.hgcap", dir);
    rc |= tw_write(&w, path, SIZE_MAX);
    tw_release(&w);
    write_fork(&w, 1);
    snprintf(path, sizeof path, "%s/fork.hgcap", dir);
    rc |= tw_write(&w, path, SIZE_MAX);
    tw_release(&w);
    tw_begin(&w, HG_CAP_VERSION + 1);
    tw_end(&w);
    snprintf(path, sizeof path, "%s/newer.hgcap", dir);
    rc |= tw_write(&w, path, SIZE_MAX);
    tw_release(&w);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--golden"))
        return write_golden(argv[2]);
    snprintf(tmp_path, sizeof tmp_path, "/tmp/hg-test-reader-%d.hgcap", (int)getpid());
    RUN(test_counts);
    RUN(test_peak_random);
    RUN(test_backrefs);
    RUN(test_inherit);
    RUN(test_fork_numbers);
    RUN(test_fork_same_stack_id);
    RUN(test_thread_varint);
    RUN(test_reuse);
    RUN(test_snapshots);
    RUN(test_bad_files);
    RUN(test_missing_end);
    RUN(test_damage_everywhere);
    unlink(tmp_path);
    return DONE();
}
