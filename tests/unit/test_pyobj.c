/* SPDX-License-Identifier: MIT
 *
 * test_pyobj.c - the Python view of a snapshot (report/model/pyread.c,
 * report/analysis/pyobj.c) on captures built by test_reader_writer.h:
 * 50 pairs of Node objects pointing at each other through their inline
 * attribute values are 50 pending cycles of 2 Node objects joined by
 * Node.peer (the name from the keys table's texts), grouped at their site;
 * a list that contains itself is a cycle
 * of 1 object closed by list[3]; a module global and a frame local name
 * what retains reachable objects; live objects by type with their growth;
 * what the garbage collector did, per generation and per site; records
 * that name blocks or types that do not exist are damage.
 */
#include "report/analysis/classify.h"
#include "report/model/model.h"

#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "test_reader_writer.h"

static char tmp_path[256];
static char err[256];

static struct rep_capture *open_tw(struct tw *w)
{
    if (tw_write(w, tmp_path, SIZE_MAX) < 0)
        abort();
    tw_release(w);
    err[0] = 0;
    struct rep_capture *cap = rep_capture_open(tmp_path, NULL, err, sizeof err);
    if (cap && rep_capture_classify(cap, err, sizeof err) < 0) {
        rep_capture_close(cap);
        return NULL;
    }
    return cap;
}

static uint32_t site_index(const struct rep_process *p, uint32_t stack_id)
{
    for (size_t i = 0; i < p->nstacks; i++)
        if (p->stacks[i].id == stack_id)
            return (uint32_t)i;
    return UINT32_MAX;
}

static const char *const argv1[] = {"python3", "app.py"};
static const uint64_t frames1[] = {0x401000};

enum { T_NODE = 1, T_TYPE, T_STR, T_DICT, T_MODULE, T_LIST, T_ITEM };

static void begin(struct tw *w)
{
    tw_begin(w, HG_CAP_VERSION);
    tw_process(w, 1, 100, 1, 0, HG_ORIGIN_ROOT, "/usr/bin/python3", 2, argv1);
    tw_thread(w, 1, 0, 100, "MainThread");
    for (uint32_t id = 1; id <= 9; id++)
        tw_stack(w, 1, id, 1, frames1);
    static const struct tw_field type_fields[] = {{64, "__qualname__"}};
    static const struct tw_field module_fields[] = {{16, "__dict__"}};
    tw_pytype(w, 1, T_NODE, HG_PYK_OTHER, HG_PYT_GC | HG_PYT_MANAGED_DICT | HG_PYT_HEAP, 0,
              "Node", 0, NULL);
    tw_pytype(w, 1, T_TYPE, HG_PYK_TYPE, HG_PYT_GC, 0, "type", 1, type_fields);
    tw_pytype(w, 1, T_STR, HG_PYK_STR, 0, 0, "str", 0, NULL);
    tw_pytype(w, 1, T_DICT, HG_PYK_DICT, HG_PYT_GC, 0, "dict", 0, NULL);
    tw_pytype(w, 1, T_MODULE, HG_PYK_MODULE, HG_PYT_GC, 0, "module", 1, module_fields);
    tw_pytype(w, 1, T_LIST, HG_PYK_LIST, HG_PYT_GC, 0, "list", 0, NULL);
    tw_pytype(w, 1, T_ITEM, HG_PYK_OTHER, HG_PYT_GC | HG_PYT_HEAP | HG_PYT_FINALIZER, 0, "Item",
              0, NULL);
}

/* ------------------------------------------------------------- pairs */

#define PAIRS 50
#define NODE_SIZE 80
#define VALUES_SIZE 24

/* Blocks by address: 0 the Node class, 1 its shared keys, 2 the str
 * 'peer', 3 the str 'Node', then per pair A, A's values, B, B's values. */
static void write_pairs(struct tw *w)
{
    begin(w);
    tw_alloc(w, 1, 0, 1, 3, 512, 0x1000);
    tw_alloc(w, 1, 0, 1, 3, 64, 0x1400);
    tw_alloc(w, 1, 0, 1, 3, 64, 0x1500);
    tw_alloc(w, 1, 0, 1, 3, 64, 0x1600);
    for (int i = 0; i < PAIRS; i++)
        for (int k = 0; k < 4; k++)
            tw_alloc(w, 1, 0, 1, k % 2 ? 2 : 1, k % 2 ? VALUES_SIZE : NODE_SIZE,
                     0x10000 + (uint64_t)i * 0x100 + (uint64_t)k * 0x40);
    /* three blocks the collector frees: two objects, one not */
    uint64_t g1 = tw_alloc(w, 1, 0, 1, 6, 48, 0x90000);
    uint64_t g2 = tw_alloc(w, 1, 0, 1, 6, 48, 0x90040);
    uint64_t g3 = tw_alloc(w, 1, 0, 1, 6, 100, 0x90080);
    tw_free_gc(w, 1, 0, 1, g1, 1);
    tw_free_gc(w, 1, 0, 1, g2, 1);
    tw_free_gc(w, 1, 0, 1, g3, 0);
    static const uint64_t before[5] = {0, 1, 5, 10, 0};
    static const uint64_t full[5] = {2, 100, 250, 40, 0};
    static const uint64_t young[5] = {0, 400, 50, 0, 0};
    tw_gc(w, 1, HG_GC_BEFORE, 5, before);
    tw_gc(w, 1, HG_GC_COLLECTION, 5, full);
    tw_gc(w, 1, HG_GC_COLLECTION, 5, young);
    uint32_t nblocks = 4 + 4 * PAIRS;
    tw_mark(w, 1, 0, HG_MARK_SNAPSHOT, 1);
    tw_snapshot(w, 1, 1, 0, nblocks);
    tw_root(w, 1, 1, 0, HG_ROOT_GLOBAL, 1, 0x500000, 64);
    static const uint64_t state[3] = {1, 1, 0};
    tw_gc(w, 1, HG_GC_STATE, 3, state);
    uint64_t (*e)[4] = calloc(5 + 6 * PAIRS, sizeof *e);
    uint64_t (*o)[5] = calloc(3 + 2 * PAIRS, sizeof *o);
    uint64_t (*pt)[5] = calloc(1 + 2 * PAIRS, sizeof *pt);
    int ne = 0, no = 0, np = 0;
    e[ne][0] = 1, e[ne][1] = 0, e[ne][2] = 0, ne++;                /* root -> class */
    e[ne][0] = 0, e[ne][1] = 16 + 64, e[ne][2] = 3, ne++;          /* __qualname__ */
    e[ne][0] = 0, e[ne][1] = 16 + 72, e[ne][2] = 1, ne++;          /* shared keys */
    e[ne][0] = 2, e[ne][1] = 32, e[ne][2] = 2, ne++;               /* keys[0].key */
    o[no][0] = 0, o[no][1] = 16, o[no][2] = T_TYPE, o[no][3] = 101, o[no][4] = 1, no++;
    o[no][0] = 2, o[no][2] = T_STR, o[no][3] = 1, no++;
    o[no][0] = 3, o[no][2] = T_STR, o[no][3] = 1, no++;
    pt[np][0] = 1, pt[np][1] = 0, pt[np][2] = HG_PYP_DICT_KEYS, pt[np][3] = 32, pt[np][4] = 16, np++;
    for (uint64_t i = 0; i < PAIRS; i++) {
        uint64_t a = 4 + 4 * i, va = a + 1, b = a + 2, vb = a + 3;
        uint64_t edges[6][3] = {{a, 0, va}, {va, 8, b}, {b, 0, vb}, {vb, 8, a}, {a, 40, 0}, {b, 40, 0}};
        for (int k = 0; k < 6; k++) {
            e[ne][0] = 2 * edges[k][0], e[ne][1] = edges[k][1], e[ne][2] = edges[k][2];
            ne++;
        }
        for (uint64_t x = a; x <= b; x += 2) {
            o[no][0] = x, o[no][1] = 32, o[no][2] = T_NODE, o[no][3] = 1, o[no][4] = 1, no++;
            pt[np][0] = x + 1, pt[np][1] = x, pt[np][2] = HG_PYP_DICT_VALUES, pt[np][3] = 8,
            pt[np][4] = 2, np++;
        }
    }
    tw_edges(w, 1, 1, ne, (const uint64_t (*)[4])e);
    tw_pyobjects(w, 1, 1, no, (const uint64_t (*)[5])o);
    tw_pyparts(w, 1, 1, np, (const uint64_t (*)[5])pt);
    /* the shared keys name the inline values; the str 'peer' has no text */
    tw_pytext(w, 1, 1, 1, HG_PYN_KEYS, "'peer'\0", 7);
    tw_pyname(w, 1, 1, 3, HG_PYN_STR, "Node");
    tw_snapshot_end(w, 1, 1, (uint64_t)ne);
    tw_end_process(w, 1, HG_END_EXIT, 0, HG_END_F_SNAPSHOT);
    tw_end(w);
    free(e);
    free(o);
    free(pt);
}

static void test_pairs(void)
{
    struct tw w;
    write_pairs(&w);
    struct rep_capture *cap = open_tw(&w);
    CHECK(cap != NULL);
    if (!cap)
        return;
    const struct rep_process *p = &cap->processes[0];
    const struct rep_snapshot *s = p->exit_snapshot;
    CHECK(s != NULL && s->py != NULL);
    if (!s || !s->py)
        return rep_capture_close(cap);
    CHECK_EQ(s->npyobjects, 3 + 2 * PAIRS);
    CHECK_EQ(s->summary.cycle.blocks, 4 * PAIRS);
    CHECK_EQ(s->summary.cycle.bytes, PAIRS * 2 * (NODE_SIZE + VALUES_SIZE));
    CHECK_EQ(s->summary.reachable.blocks, 4);
    CHECK_EQ(s->summary.definite.blocks + s->summary.possible.blocks + s->summary.indirect.blocks, 0);
    CHECK_EQ(s->ncycles, PAIRS);
    const struct rep_cycle *c = &s->cycles[0];
    CHECK_EQ(c->nmembers, 4);
    CHECK_EQ(c->nobjects, 2);
    CHECK_EQ(c->py_state, REP_PYC_PENDING);
    CHECK_EQ(c->nedges, 4);
    int labelled = 0;
    for (uint32_t e = 0; e < c->nedges; e++)
        if (c->labels[e]) {
            CHECK_STR(c->labels[e], "Node.peer");
            labelled++;
        }
    CHECK_EQ(labelled, 2);
    CHECK_EQ(c->internal_refs[0], 1);   /* A: B.peer */
    CHECK_EQ(c->internal_refs[1], 0);   /* A's values */
    CHECK_EQ(c->internal_refs[2], 1);
    CHECK_EQ(s->npycycle_groups, 1);
    const struct rep_pycycle_group *g = &s->pycycle_groups[0];
    CHECK_EQ(g->ncycles, PAIRS);
    CHECK_EQ(g->objects, 2);
    CHECK_EQ(g->blocks, 4 * PAIRS);
    CHECK_EQ(g->bytes, PAIRS * 2 * (NODE_SIZE + VALUES_SIZE));
    CHECK_EQ(g->site, site_index(p, 1));
    CHECK_EQ(g->state, REP_PYC_PENDING);
    CHECK_STR(g->types, "Node");
    CHECK_STR(g->labels, "Node.peer");
    /* live objects by type */
    CHECK_EQ(s->ntypestats, 3);
    CHECK_STR(p->pytypes[s->typestats[0].type].name, "Node");
    CHECK_EQ(s->typestats[0].count, 2 * PAIRS);
    CHECK_EQ(s->typestats[0].bytes, PAIRS * 2 * (NODE_SIZE + VALUES_SIZE));
    CHECK_EQ(s->typestats[0].delta_count, 2 * PAIRS);
    CHECK_STR(p->pytypes[s->typestats[1].type].name, "type");
    CHECK_EQ(s->typestats[1].count, 1);
    CHECK_EQ(s->typestats[1].bytes, 512 + 64);
    CHECK_STR(p->pytypes[s->typestats[2].type].name, "str");
    CHECK_EQ(s->typestats[2].count, 2);
    CHECK_EQ(s->typestats[2].bytes, 128);
    /* the collector */
    CHECK_EQ(s->gc_state_known, 1);
    CHECK_EQ(s->gc_enabled, 1);
    CHECK_EQ(p->ngc, 2);
    CHECK_EQ(p->gc_gens[0].collections, 6);
    CHECK_EQ(p->gc_gens[0].before_collections, 5);
    CHECK_EQ(p->gc_gens[0].collected, 10);
    CHECK_EQ(p->gc_gens[0].pause_us, 50);
    CHECK_EQ(p->gc_gens[2].collections, 1);
    CHECK_EQ(p->gc_gens[2].collected, 40);
    CHECK_EQ(p->gc_gens[2].longest_us, 250);
    CHECK_EQ(p->gc_freed, 3);
    CHECK_EQ(p->gc_freed_objects, 2);
    const struct rep_site *gs = &p->sites[site_index(p, 6)];
    CHECK_EQ(gs->gc_freed, 3);
    CHECK_EQ(gs->gc_freed_objects, 2);
    CHECK_EQ(gs->gc_freed_bytes, 196);
    rep_capture_close(cap);
}

/* ------------------------------------------------- retention, self-list */

/* Blocks by address: 0 sys.modules, 1 its keys, 2 'app', 3 module app,
 * 4 its globals, 5 their keys, 6 'CACHE', 7 the CACHE list, 8 its items,
 * 9 an Item in CACHE, 10 a list that contains itself, 11 its items, 12 an
 * Item held by the local `rows` of load(). */
static void write_retention(struct tw *w, int bad)
{
    begin(w);
    for (int i = 0; i < 13; i++) {
        uint32_t stack = i == 9 ? 7 : i == 12 ? 8 : i == 10 || i == 11 ? 9 : 1;
        tw_alloc(w, 1, 0, 1, stack, 64, 0x1000 + (uint64_t)i * 0x100);
    }
    tw_mark(w, 1, 0, HG_MARK_SNAPSHOT, 1);
    tw_snapshot(w, 1, 1, 1, 13);
    tw_root(w, 1, 1, 0, HG_ROOT_GLOBAL, 1, 0x500000, 64);
    tw_root(w, 1, 1, 1, HG_ROOT_PYFRAME, 0, 0x7000, 16);
    static const char *const names[] = {"self", "rows"};
    tw_pyframeroot(w, 1, 1, 1, 0, 12, "load", "/src/app.py", 2, names);
    static const uint64_t e[][4] = {
        {1, 0, 0, 0},           /* global -> sys.modules */
        {3, 8, 12, 0},          /* rows -> Item */
        {0, 48, 1, 0},          /* sys.modules -> its keys */
        {2, 32, 2, 0}, {2, 40, 3, 0},    /* 'app': module app */
        {6, 32, 4, 0},          /* module.__dict__ */
        {8, 48, 5, 0},          /* globals -> keys */
        {10, 32, 6, 0}, {10, 40, 7, 0},  /* 'CACHE': list */
        {14, 40, 8, 0},         /* list -> items */
        {16, 0, 9, 0},          /* CACHE[0] */
        {20, 40, 11, 0},        /* self-list -> items */
        {22, 24, 10, 0},        /* items[3] -> the list */
    };
    tw_edges(w, 1, 1, sizeof e / sizeof e[0], e);
    static const uint64_t o[][5] = {
        {0, 16, T_DICT, 1, 1}, {2, 0, T_STR, 1, 0}, {3, 16, T_MODULE, 1, 1}, {4, 16, T_DICT, 1, 1},
        {6, 0, T_STR, 1, 0}, {7, 16, T_LIST, 1, 1}, {9, 16, T_ITEM, 1, 1}, {10, 16, T_LIST, 1, 1},
        {12, 16, T_ITEM, 1, 1},
    };
    uint64_t o2[9][5];
    memcpy(o2, o, sizeof o);
    if (bad == 1)
        o2[8][2] = 99;          /* a type id never defined */
    tw_pyobjects(w, 1, 1, 9, (const uint64_t (*)[5])o2);
    uint64_t pt[][5] = {
        {1, 0, HG_PYP_DICT_KEYS, 32, 16}, {4, 3, HG_PYP_ATTR_DICT, 0, 0},
        {5, 4, HG_PYP_DICT_KEYS, 32, 16}, {8, 7, HG_PYP_LIST_ITEMS, 1, 0},
        {11, 10, HG_PYP_LIST_ITEMS, 4, 0},
    };
    if (bad == 2)
        pt[4][0] = 13;          /* a block past the snapshot's */
    tw_pyparts(w, 1, 1, 5, (const uint64_t (*)[5])pt);
    tw_pyname(w, 1, 1, 0, HG_PYN_WELL_KNOWN, "sys.modules");
    tw_pyname(w, 1, 1, 2, HG_PYN_STR, "app");
    tw_pyname(w, 1, 1, 3, HG_PYN_NAME, "app");
    tw_pyname(w, 1, 1, 6, HG_PYN_STR, "CACHE");
    tw_snapshot_end(w, 1, 1, sizeof e / sizeof e[0]);
    tw_end_process(w, 1, HG_END_EXIT, 0, 0);
    tw_end(w);
}

static const struct rep_leak *reachable_at(const struct rep_process *p, const struct rep_snapshot *s,
                                           uint32_t stack)
{
    for (size_t i = 0; i < s->nleaks; i++)
        if (s->leaks[i].kind == REP_LEAK_REACHABLE && s->leaks[i].site == site_index(p, stack))
            return &s->leaks[i];
    return NULL;
}

static void test_retention(void)
{
    struct tw w;
    write_retention(&w, 0);
    struct rep_capture *cap = open_tw(&w);
    CHECK(cap != NULL);
    if (!cap)
        return;
    const struct rep_process *p = &cap->processes[0];
    const struct rep_snapshot *s = &p->snapshots[0];
    CHECK_EQ(s->classified, 1);
    const struct rep_leak *cached = reachable_at(p, s, 7), *local = reachable_at(p, s, 8);
    const struct rep_leak *infra = reachable_at(p, s, 1);
    CHECK(cached && cached->retained_by && local && local->retained_by && infra &&
          infra->retained_by);
    if (cached && cached->retained_by) {
        CHECK_STR(cached->retained_by->py_holder, "module global");
        CHECK_STR(cached->retained_by->py_expr, "app.CACHE[0]");
    }
    if (local && local->retained_by) {
        CHECK_STR(local->retained_by->py_holder,
                  "local variable in load (app.py:12), thread MainThread");
        CHECK_STR(local->retained_by->py_expr, "rows");
    }
    if (infra && infra->retained_by) {
        CHECK_STR(infra->retained_by->py_holder, "sys.modules");
        CHECK_STR(infra->retained_by->py_expr, "sys.modules");
    }
    /* the list that contains itself */
    CHECK_EQ(s->ncycles, 1);
    const struct rep_cycle *c = &s->cycles[0];
    CHECK_EQ(c->nmembers, 2);
    CHECK_EQ(c->nobjects, 1);
    CHECK_EQ(c->nedges, 2);
    CHECK(c->labels[0] == NULL);
    CHECK_STR(c->labels[1], "list[3]");
    CHECK_EQ(c->internal_refs[0], 1);
    CHECK_EQ(s->npycycle_groups, 1);
    CHECK_STR(s->pycycle_groups[0].types, "list");
    CHECK_EQ(s->pycycle_groups[0].objects, 1);
    CHECK_EQ(s->pycycle_groups[0].site, site_index(p, 9));
    rep_capture_close(cap);
}

/* Records naming a type id that was never defined, or a block past the
 * snapshot's, are damage: the report says so and keeps what came before. */
static void test_bad_records(void)
{
    for (int bad = 1; bad <= 2; bad++) {
        struct tw w;
        write_retention(&w, bad);
        if (tw_write(&w, tmp_path, SIZE_MAX) < 0)
            abort();
        tw_release(&w);
        struct rep_capture *cap = rep_capture_open(tmp_path, NULL, err, sizeof err);
        CHECK(cap != NULL);
        if (!cap)
            continue;
        CHECK_EQ(cap->damaged, 1);
        CHECK(strstr(cap->damage_message, bad == 1 ? "type 22" : "type 23") != NULL);
        CHECK_EQ(cap->processes[0].allocations, 13);
        rep_capture_close(cap);
    }
}

int main(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/hg_test_pyobj.%d.hgcap", (int)getpid());
    RUN(test_pairs);
    RUN(test_retention);
    RUN(test_bad_records);
    unlink(tmp_path);
    return DONE();
}
