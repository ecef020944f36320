/* SPDX-License-Identifier: MIT
 *
 * test_model.c - symbolization and classification of the model
 * (report/model/symbols.c, report/analysis/classify.c) on captures whose module map is
 * this test program itself: addresses of its own functions resolve to their
 * names, the module map of a stack's generation is the one used (a module
 * unloaded and another loaded at the same address stay apart), runtime frames
 * are dropped anywhere and allocation wrappers at the top, and a GLOBAL root
 * is named after the global variable it lies in.
 */
#include "report/analysis/classify.h"
#include "report/model/model.h"
#include "report/model/index.h"
#include "report/render/render.h"

#include <link.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "test_reader_writer.h"

static char tmp_path[256];
static char err[256];

/* This executable's load bias and its PT_LOAD segments, from the loader. */
struct self {
    uint64_t bias;
    int nseg;
    uint64_t seg[16][3];
    const char *path;
};

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct self *s = arg;
    if (info->dlpi_name && info->dlpi_name[0])
        return 0;   /* the executable comes first, with an empty name */
    s->bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum && s->nseg < 16; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        s->seg[s->nseg][0] = ph->p_vaddr;
        s->seg[s->nseg][1] = ph->p_memsz;
        s->seg[s->nseg][2] = ph->p_flags;
        s->nseg++;
    }
    return 1;
}

static void tw_module(struct tw *w, uint32_t id, uint32_t gen, const struct self *s,
                      const char *path)
{
    TW_U(&w->rec, 1, id, gen, 0, s->bias);
    tw_s(&w->rec, path);
    TW_U(&w->rec, 0, (uint64_t)s->nseg);
    for (int i = 0; i < s->nseg; i++)
        for (int k = 0; k < 3; k++)
            tw_u(&w->rec, s->seg[i][k]);
    tw_rec(w, HG_REC_MODULE);
}

static void tw_unload(struct tw *w, uint32_t id, uint32_t gen)
{
    TW_U(&w->rec, 1, id, gen, 0);
    tw_rec(w, HG_REC_MODULE_UNLOAD);
}

static void tw_stack_gen(struct tw *w, uint32_t id, uint32_t gen, int n, const uint64_t *frames)
{
    TW_U(&w->rec, 1, id, gen, n);
    for (int i = 0; i < n; i++)
        tw_u(&w->rec, frames[i]);
    tw_rec(w, HG_REC_STACK);
}

/* Ends w's capture, writes it and opens it: the capture, or NULL after a
 * failed check. */
static struct rep_capture *open_tw(struct tw *w)
{
    tw_end(w);
    if (tw_write(w, tmp_path, SIZE_MAX) < 0)
        abort();
    struct rep_capture *cap = rep_capture_open(tmp_path, NULL, err, sizeof err);
    CHECK(cap != NULL);
    return cap;
}

/* Functions whose addresses serve as return addresses in the stacks below;
 * the "__libc_" prefix makes the first an allocation wrapper. */
__attribute__((noinline)) void hg_test_alloc_site(void) { __asm__ volatile(""); }
__attribute__((noinline)) void hg_test_caller(void) { __asm__ volatile(""); }
__attribute__((noinline)) void __libc_hg_test_wrapper(void) { __asm__ volatile(""); }
void *volatile g_test_root[4];

static uint64_t ret(void (*fn)(void))
{
    return (uint64_t)(uintptr_t)fn + 1;   /* inside fn, as a return address would be */
}

static const char *fn0(const struct rep_stack *s, uint32_t i)
{
    return i < s->nframes ? s->frames[i].function : NULL;
}

static void test_symbolize(void)
{
    struct self self = {0};
    dl_iterate_phdr(find_self, &self);
    CHECK(self.nseg > 0);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n > 0 ? n : 0] = 0;
    /* A module "libheapgraph-rt.so" (not on disk) covering the same addresses:
     * every frame resolved in it is a runtime frame. */
    const char *rt = "/nonexistent/libheapgraph-rt.so";

    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 9, 1, 0, HG_ORIGIN_ROOT, exe, 0, NULL);
    tw_module(&w, 0, 0, &self, exe);           /* generations 0 .. 1 */
    tw_unload(&w, 0, 2);
    tw_module(&w, 1, 2, &self, rt);            /* generation 2 on, same addresses */
    uint64_t s1[] = {ret(__libc_hg_test_wrapper), ret(hg_test_alloc_site), ret(hg_test_caller)};
    uint64_t s2[] = {ret(hg_test_alloc_site), ret(hg_test_caller)};
    uint64_t s3[] = {0x10, ret(hg_test_caller)};   /* an address in no module */
    tw_stack_gen(&w, 1, 1, 3, s1);
    tw_stack_gen(&w, 2, 2, 2, s2);
    tw_stack_gen(&w, 3, 0, 2, s3);
    tw_alloc(&w, 1, 0, 1, 1, 40, 0x1000);
    tw_alloc(&w, 1, 0, 1, 2, 50, 0x2000);
    tw_alloc(&w, 1, 0, 1, 3, 60, 0x3000);
    tw_mark(&w, 1, 0, HG_MARK_SNAPSHOT, 1);
    tw_snapshot(&w, 1, 1, 0, 3);
    uint64_t root_start = (uint64_t)(uintptr_t)&g_test_root[0];
    tw_root(&w, 1, 1, 0, HG_ROOT_GLOBAL, 0, root_start, sizeof g_test_root);
    static const uint64_t edges[1][4] = {{1, 16, 0, 0}};   /* root 0 + 16 -> block 0 */
    tw_edges(&w, 1, 1, 1, edges);
    tw_snapshot_end(&w, 1, 1, 1);
    tw_end_process(&w, 1, HG_END_EXIT, 0, HG_END_F_SNAPSHOT);
    struct rep_capture *cap = open_tw(&w);
    if (!cap)
        goto out;
    CHECK_EQ(rep_capture_classify(cap, err, sizeof err), 0);   /* before symbols: names come later */
    CHECK_EQ(rep_capture_symbolize(cap, err, sizeof err), 0);
    CHECK_EQ(rep_capture_symbolize(cap, err, sizeof err), 0);  /* twice is harmless */
    const struct rep_process *p = &cap->processes[0];
    CHECK_EQ(p->nstacks, 3);
    /* generation 1: the program itself; the wrapper on top is dropped */
    CHECK_STR(fn0(&p->stacks[0], 0), "hg_test_alloc_site");
    CHECK_STR(fn0(&p->stacks[0], 1), "hg_test_caller");
    CHECK_EQ(p->stacks[0].nframes, 2);
    CHECK_STR(p->stacks[0].frames[0].module, exe);
    CHECK_EQ(p->stacks[0].frames[0].offset, ret(hg_test_alloc_site) - self.bias);
    /* generation 2: the same addresses belong to the "runtime": its frames
     * are dropped wherever they are, here all of them */
    CHECK_EQ(p->stacks[1].nframes, 0);
    /* an address in no module stays an address */
    CHECK_EQ(p->stacks[2].nframes, 2);
    CHECK(p->stacks[2].nframes && p->stacks[2].frames[0].function == NULL);
    CHECK_STR(p->stacks[2].nframes ? p->stacks[2].frames[0].module : NULL, "?");
    CHECK_EQ(p->stacks[2].nframes ? p->stacks[2].frames[0].offset : 0, 0x10);
    CHECK_STR(rep_stack_top(&p->stacks[2])->function, "hg_test_caller");
    /* the block at 0x1000 is held by g_test_root[2] */
    CHECK_EQ(p->nleaks, 3);   /* two definite sites, one reachable */
    const struct rep_leak *r = NULL;
    for (size_t i = 0; i < p->nleaks; i++)
        if (p->leaks[i].kind == REP_LEAK_REACHABLE)
            r = &p->leaks[i];
    CHECK(r && r->retained_by);
    if (r && r->retained_by) {
        CHECK_STR(r->retained_by->symbol, "g_test_root");
        CHECK_STR(r->retained_by->module, exe);
        CHECK_EQ(r->retained_by->root_addr, root_start + 16);
    }
out:
    rep_capture_close(cap);
    tw_release(&w);
}

/* A process with no exit snapshot lists its live blocks as not freed, by
 * bytes, and classification leaves them so. */
static void test_not_freed(void)
{
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 9, 1, 0, HG_ORIGIN_ROOT, "/x", 0, NULL);
    for (int i = 0; i < 10; i++)
        tw_alloc(&w, 1, 0, 1, 1, 8, 0x1000 + 16 * (uint64_t)i);
    tw_alloc(&w, 1, 0, 1, 2, 500, 0x9000);
    tw_end_process(&w, 1, HG_END_SIGNAL, 9, 0);
    struct rep_capture *cap = open_tw(&w);
    if (cap) {
        CHECK_EQ(rep_capture_classify(cap, err, sizeof err), 0);
        const struct rep_process *p = &cap->processes[0];
        CHECK(p->exit_snapshot == NULL);
        CHECK_EQ(p->nleaks, 2);
        CHECK(p->nleaks == 2 && p->leaks[0].kind == REP_LEAK_NOT_FREED &&
              p->leaks[0].bytes == 500 && p->leaks[1].blocks == 10 && p->leaks[1].bytes == 80);
        CHECK_STR(rep_leak_kind_name(REP_LEAK_NOT_FREED), "not_freed");
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* Python frames (HG_PYF_* words + HG_REC_PYCODE) resolve to the code's
 * name and file, and to the line of their instruction in its 3.11 location
 * table; with no eval loop among the native frames (here none has a module)
 * they come after them. HG_REC_BLOCKTYPE records read before a snapshot name
 * its blocks. */
static void test_python(void)
{
    /* Units [0,2) line 40 (no columns, +0), [2,5) line 41 (one-line form,
     * +1), [5,6) line 43 (long form, +2). */
    static const uint8_t table[] = {0xe9, 0x00, 0xda, 0x04, 0x08, 0xf0, 0x04, 0x00, 0x01, 0x05};
    struct tw w;
    tw_begin(&w, HG_CAP_VERSION);
    tw_process(&w, 1, 9, 1, 0, HG_ORIGIN_ROOT, "/usr/bin/python3", 0, NULL);
    tw_u(&w.rec, 1);
    tw_u(&w.rec, 0x030b07f0);
    tw_u(&w.rec, 0);
    tw_u(&w.rec, 1);
    tw_rec(&w, HG_REC_PYTHON);
    tw_u(&w.rec, 1);
    tw_u(&w.rec, 7);
    tw_u(&w.rec, 40);
    tw_s(&w.rec, "Tree.make_node");
    tw_s(&w.rec, "app.py");
    tw_u(&w.rec, sizeof table);
    tw_bytes(&w.rec, table, sizeof table);
    tw_rec(&w, HG_REC_PYCODE);
    uint64_t frames[] = {0x10, HG_PYF_PYTHON | (11ull << 32) | 7,
                         HG_PYF_PYTHON | HG_PYF_ENTRY | (5ull << 32) | 7};
    tw_stack_gen(&w, 1, 0, 3, frames);
    uint64_t a = tw_alloc(&w, 1, 0, 1, 1, 64, 0x1000);
    tw_alloc(&w, 1, 0, 1, 1, 64, 0x2000);
    for (uint64_t i = 0; i < 2; i++) {
        tw_u(&w.rec, 1);
        tw_u(&w.rec, a + i);
        tw_s(&w.rec, "Node");
        tw_rec(&w, HG_REC_BLOCKTYPE);
    }
    tw_mark(&w, 1, 0, HG_MARK_SNAPSHOT, 1);
    tw_snapshot(&w, 1, 1, 0, 2);
    static const uint64_t edges[2][4] = {{0, 16, 1, 0}, {2, 16, 0, 0}};
    tw_edges(&w, 1, 1, 2, edges);
    tw_snapshot_end(&w, 1, 1, 2);
    struct rep_capture *cap = open_tw(&w);
    if (cap) {
        CHECK_EQ(rep_capture_symbolize(cap, err, sizeof err), 0);
        CHECK_EQ(rep_capture_classify(cap, err, sizeof err), 0);
        const struct rep_process *p = &cap->processes[0];
        const struct rep_stack *st = &p->stacks[0];
        CHECK_EQ(st->nframes, 3);
        if (st->nframes == 3) {
            CHECK(st->frames[0].function == NULL && !st->frames[0].python);
            CHECK_STR(st->frames[1].function, "Tree.make_node");
            CHECK_STR(st->frames[1].file, "app.py");
            CHECK_EQ(st->frames[1].line, 43);
            CHECK_EQ(st->frames[2].line, 41);
            CHECK(st->frames[1].python && st->frames[2].python);
            CHECK_STR(st->frames[1].module, "python");
        }
        const struct rep_snapshot *s = p->exit_snapshot;
        CHECK(s && s->ncycles == 1);
        if (s && s->nblocks == 2) {
            CHECK_STR(s->blocks[0].type, "Node");
            CHECK_STR(s->blocks[1].type, "Node");
        }
    }
    rep_capture_close(cap);
    tw_release(&w);
}

/* The u64 -> u32 map: growth, replacement, deletion keeping probe runs whole. */
static void test_index(void)
{
    struct rep_index m = {0};
    int bad = 0;
    for (uint64_t k = 0; k < 20000; k++)
        bad += rep_index_put(&m, k * 7919, (uint32_t)k) < 0;
    CHECK_EQ(bad, 0);
    CHECK_EQ(m.count, 20000);
    for (uint64_t k = 0; k < 20000; k += 2)
        rep_index_del(&m, k * 7919);
    rep_index_del(&m, 12345678);              /* absent: nothing happens */
    CHECK_EQ(m.count, 10000);
    for (uint64_t k = 0; k < 20000; k++)
        bad += rep_index_get(&m, k * 7919) != (k % 2 ? (uint32_t)k : REP_INDEX_NONE);
    CHECK_EQ(bad, 0);
    CHECK_EQ(rep_index_put(&m, 7919, 5), 0);  /* replaces */
    CHECK_EQ(rep_index_get(&m, 7919), 5);
    CHECK_EQ(m.count, 10000);
    rep_index_release(&m);
    CHECK_EQ(rep_index_get(&m, 7919), REP_INDEX_NONE);
}

/* The units and separators every renderer prints. */
static void test_formats(void)
{
    char b[64];
    CHECK_STR(rep_fmt_bytes(b, sizeof b, 0), "0 B");
    CHECK_STR(rep_fmt_bytes(b, sizeof b, 1023), "1023 B");
    CHECK_STR(rep_fmt_bytes(b, sizeof b, 1024), "1.0 KiB");
    CHECK_STR(rep_fmt_bytes(b, sizeof b, 1536), "1.5 KiB");
    CHECK_STR(rep_fmt_bytes(b, sizeof b, 5u << 20), "5.0 MiB");
    CHECK_STR(rep_fmt_bytes(b, sizeof b, 3ull << 40), "3.0 TiB");
    CHECK_STR(rep_fmt_count(b, sizeof b, 0), "0");
    CHECK_STR(rep_fmt_count(b, sizeof b, 999), "999");
    CHECK_STR(rep_fmt_count(b, sizeof b, 1000), "1,000");
    CHECK_STR(rep_fmt_count(b, sizeof b, 1234567), "1,234,567");
    CHECK_STR(rep_fmt_duration(b, sizeof b, 850), "850 us");
    CHECK_STR(rep_fmt_duration(b, sizeof b, 12500), "12.5 ms");
    CHECK_STR(rep_fmt_duration(b, sizeof b, 3250000), "3.250 s");
}

int main(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/hg-test-model-%d.hgcap", (int)getpid());
    RUN(test_symbolize);
    RUN(test_not_freed);
    RUN(test_python);
    RUN(test_formats);
    RUN(test_index);
    unlink(tmp_path);
    return DONE();
}
