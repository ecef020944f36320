/* SPDX-License-Identifier: MIT
 *
 * rt_pyobj.c - Python objects in heap snapshots (rt_pyobj.h).
 *
 * CPython allocates a tracked object as [pre-header][PyGC_Head][PyObject]:
 * the pre-header is two words (values and __dict__) in 3.11 for types with
 * Py_TPFLAGS_MANAGED_DICT, and in 3.12 and 3.13 for MANAGED_DICT or
 * MANAGED_WEAKREF types; PyGC_Head is two words from 3.8 on. An untracked
 * type's object starts its block. So a block holds an object when, at the
 * offset its type's flags call for, there is a reference count that is not
 * negative (0 for objects kept on the interpreter's free lists) and an
 * ob_type that is a type object (rt_pytype.c), and a fixed-size tracked
 * type's instance fills its block. Blocks are read directly (the
 * collector's live blocks, checked readable); anything else is read with
 * reads that cannot fault.
 *
 * Where the layout of the version is known (rt_python.h, struct
 * rt_py_objlayout), the objects' fields give the blocks they own: a list's
 * item array, a dict's keys table and split values, an instance's inline
 * values (pointed to past a prefix), the dicts that hold attributes of
 * instances, classes and modules. The interpreter state gives each
 * thread's frames, whose locals become roots, and the collector's state.
 *
 * Without an object layout (or memory for the tables), a pointer still
 * holds an object's block when it points at the object's header or at a
 * split dict's values after their prefix, as for any start pointer.
 */
#include "profiler/runtime/rt_pyobj.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_peek.h"
#include "profiler/runtime/rt_python.h"
#include "profiler/runtime/rt_pytype.h"

#include <stdio.h>
#include <string.h>

#define PRE_HEADER 16u
#define TEXT_MAX 65          /* str texts sent: 64 bytes and the NUL */
#define MAX_FRAMES 4096
#define MAX_THREADS 4096
#define MAX_DEPTH 100000     /* frames followed per thread */
#define MAX_REFCNT (1ull << 48)
#define MAX_NAMES 256        /* local names sent per frame */
#define BATCH 256
#define PAGE_BYTES 4096u
#define FRAME_OWNED_BY_THREAD 0
#define DICT_KEYS_GENERAL 0

struct pyblk {
    uintptr_t type;          /* type object of the header at `off`; 0: none */
    uint32_t owner, a, b;    /* role: the owner's block and the role's numbers */
    uint32_t ptr;            /* role: the offset its owner points at */
    uint32_t scan;           /* a list's items: the bytes of the items in use */
    uint8_t off;             /* the header's offset in the block */
    uint8_t role;            /* enum rt_py_part, 0 none */
    uint8_t flags;           /* RT_PYO_* */
    uint8_t live;            /* 1: a live object; 0 with a type: a free-list entry */
    uint8_t weak;            /* 1: a weak reference; 2: has a weak reference list; 3 both */
    uint8_t dead;            /* a keys table on the interpreter's free list */
};

struct frame {
    uintptr_t frame, code;
    uint32_t thread, root_id;
};

/* The text of an object outside the heap, kept for the rest of the
 * snapshot: 3.11's identifiers in _PyRuntime are the keys of most dicts,
 * and a safe read costs two syscalls, so each is read once, not once per
 * dict (a snapshot of pyalloc.py read 9,000 keys through rt_peek). */
#define STATIC_TEXTS 512
struct static_text {
    uintptr_t obj;               /* 0: empty */
    uint32_t len;
    char text[TEXT_MAX];
};

static struct {
    const struct rt_pyobj_scan *scan;
    const struct rt_py *py;
    const struct rt_py_objlayout *ol;
    unsigned long preheader;     /* type flags that put a pre-header before the GC header */
    int values_prefix;           /* split-dict values lie after a prefix (3.11, 3.12) */
    struct pyblk *blk;
    size_t blk_bytes;
    struct frame *frames;
    size_t nframes;
    struct static_text *texts;   /* STATIC_TEXTS, direct-mapped by address */
    struct rt_pyhole *holes;     /* rt_pyobj_holes */
    size_t holes_bytes;
    uintptr_t interp;
    struct rt_rec batch[BATCH];
    uint32_t nbatch;
} S;

/* ---------------------------------------------------------------- helpers */

/* Reads len bytes at addr: directly below `end` (a live block's end), or
 * safely when end is 0. */
static int read_obj(uintptr_t addr, uintptr_t end, void *out, size_t len)
{
    if (!end)
        return rt_peek_all(out, addr, len);
    if (addr + len > end)
        return 0;
    memcpy(out, (const void *)addr, len);
    return 1;
}

static void layout_flags(void)
{
    uint32_t v = S.py->layout->version;
    S.preheader = v >= 0x030c0000 ? RT_TPF_MANAGED_DICT | RT_TPF_MANAGED_WEAKREF
                : v >= 0x030b0000 ? RT_TPF_MANAGED_DICT : 0;
    S.values_prefix = v >= 0x030b0000 && v < 0x030d0000;
}

/* Where a header of type t lies in its block. */
static uint32_t header_offset(const struct rt_pytype *t)
{
    if (!(t->flags & RT_TPF_HAVE_GC))
        return 0;
    return RT_PY_GC_HEAD + ((t->flags & S.preheader) ? PRE_HEADER : 0);
}

static uintptr_t obj_addr(int64_t i)
{
    return S.scan->live[i].addr + S.blk[i].off;
}

/* The word at `at` bytes from object i's address, 0 when outside its block. */
static uintptr_t field(int64_t i, int64_t at)
{
    const struct rt_live *b = &S.scan->live[i];
    int64_t o = (int64_t)S.blk[i].off + at;
    if (o < 0 || (uint64_t)o + 8 > b->size)
        return 0;
    uintptr_t w;
    memcpy(&w, (const void *)(b->addr + (uint64_t)o), sizeof w);
    return w;
}

static int64_t block_of(uintptr_t p)
{
    return p ? S.scan->find(S.scan->ctx, p) : -1;
}

/* The live object whose address is p, or -1. */
static int64_t object_at(uintptr_t p)
{
    int64_t j = block_of(p);
    return j >= 0 && S.blk[j].live && obj_addr(j) == p ? j : -1;
}

static const struct rt_pytype *type_of(int64_t i)
{
    return S.blk[i].type ? rt_pytype_get(S.blk[i].type, 0) : NULL;
}

/* ---------------------------------------------------------------- headers */

/* A GC header as the collector keeps it between collections: untracked
 * (next 0, prev holding at most the finalized flag), or in a doubly linked
 * list whose next entry links back to it. What lies after a real header
 * easily passes for one (a tuple's size and first item), but not that. */
static int gc_header(uintptr_t head)
{
    const uintptr_t *g = (const uintptr_t *)head;
    if (!g[0])
        return g[1] <= 1;
    if (g[0] & 7)
        return 0;
    uintptr_t back;
    int64_t j = block_of(g[0]);
    if (j >= 0 && g[0] + 16 <= S.scan->live[j].addr + S.scan->live[j].size)
        memcpy(&back, (const void *)(g[0] + 8), sizeof back);
    else if (!rt_peek_all(&back, g[0] + 8, sizeof back))
        return 0;
    return (back & ~(uintptr_t)3) == head;
}

/* Whether t may be a type object at all: a class lies right after the GC
 * header of a block at least a PyTypeObject long, a static type in a
 * module's data. Most words that are not types fail here, without the
 * reads (and the table entry) that checking a candidate costs. */
static int type_candidate(uintptr_t t)
{
    int64_t j = block_of(t);
    if (j >= 0)
        return t == S.scan->live[j].addr + RT_PY_GC_HEAD &&
               S.scan->live[j].size >= RT_PY_GC_HEAD + (S.ol ? S.ol->tp_end : 176u);
    size_t lo = 0, hi = S.scan->ndata;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (S.scan->data[mid][1] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < S.scan->ndata && S.scan->data[lo][0] <= t;
}

static int header_at(int64_t i, uint32_t off)
{
    const struct rt_live *b = &S.scan->live[i];
    if (b->size < off + 16)
        return 0;
    const uintptr_t *w = (const uintptr_t *)(b->addr + off);
    if (w[0] > MAX_REFCNT || !w[1] || (w[1] & 7) || !type_candidate(w[1]))
        return 0;
    /* Only a GC header vouches for a count of 0 (an object on a free list,
     * all of them tracked types): without one, it is the stale header of an
     * object freed long ago, in a block that now holds something else. */
    if (!off && !w[0])
        return 0;
    const struct rt_pytype *t = rt_pytype_get(w[1], 1);
    if (!t || header_offset(t) != off || (off && !gc_header(b->addr + off - RT_PY_GC_HEAD)))
        return 0;
    /* a fixed-size tracked object fills its block (a str does not: its
     * basic size is that of the largest layout) */
    if ((t->flags & RT_TPF_HAVE_GC) && !t->itemsize && t->basicsize > 0 && S.ol &&
        b->size < off + (uint64_t)t->basicsize)
        return 0;
    struct pyblk *p = &S.blk[i];
    p->type = w[1];
    p->off = (uint8_t)off;
    p->live = w[0] != 0;
    p->weak = (t->kind == RT_PYK_WEAKREF) | (t->weaklistoffset > 0 ? 2 : 0);
    if (off) {
        const uintptr_t *gc = w - 2;
        p->flags = (gc[0] ? RT_PYO_TRACKED : 0) | ((gc[1] & 1) ? RT_PYO_FINALIZED : 0);
    }
    return 1;
}

static void find_headers(void)
{
    const struct rt_pyobj_scan *sc = S.scan;
    size_t cursor = 0;
    for (int64_t i = 0; i < sc->nlive; i++) {
        const struct rt_live *b = &sc->live[i];
        if (!sc->readable(sc->ctx, &cursor, b->addr, b->addr + b->size))
            continue;
        /* right after a GC header first: a tuple's items after its header
         * could pass for the header of an instance with a pre-header, while
         * an instance's GC header never passes for an object's */
        if (!header_at(i, RT_PY_GC_HEAD) && !(S.preheader && header_at(i, RT_PY_GC_HEAD + PRE_HEADER)))
            header_at(i, 0);
    }
}

/* ---------------------------------------------------------------- parts */

/* Makes block j (containing p) a part of object i, if nothing claimed it;
 * returns its index or -1. Only native blocks become parts; a header found
 * at the start of the block without a GC header to vouch for it gives way:
 * pymalloc does not clear a block, and a values prefix keeps the bytes of an
 * object that lay there before. */
static int64_t claim(int64_t i, uintptr_t p, uint8_t role, uint32_t a, uint32_t b)
{
    int64_t j = block_of(p);
    if (j < 0 || S.blk[j].role || (S.blk[j].type && S.blk[j].off))
        return -1;
    struct pyblk *q = &S.blk[j];
    memset(q, 0, sizeof *q);
    q->role = role;
    q->owner = (uint32_t)i;
    q->a = a;
    q->b = b;
    q->ptr = (uint32_t)(p - S.scan->live[j].addr);
    q->scan = UINT32_MAX;
    return j;
}

/* A dict object i' attributes dict of object i. */
static void attr_dict(int64_t i, uintptr_t dict)
{
    int64_t j = object_at(dict);
    const struct rt_pytype *t = j >= 0 ? type_of(j) : NULL;
    if (!t || t->kind != RT_PYK_DICT || S.blk[j].role)
        return;
    S.blk[j].role = RT_PYP_ATTR_DICT;
    S.blk[j].owner = (uint32_t)i;
}

/* A keys table at p; entries start after the index (1 << log2 bytes). */
static int64_t keys_table(int64_t owner, uintptr_t p)
{
    const struct rt_py_objlayout *ol = S.ol;
    int64_t j = block_of(p);
    if (j < 0 || S.scan->live[j].addr != p || S.scan->live[j].size < ol->dk_indices)
        return -1;
    const uint8_t *k = (const uint8_t *)p;
    uint32_t entries = ol->dk_indices + (1u << (k[ol->dk_log2_index_bytes] & 31));
    uint32_t size = k[ol->dk_kind] == DICT_KEYS_GENERAL ? 24 : 16;
    if (S.blk[j].role == RT_PYP_DICT_KEYS)
        return j; /* shared keys, claimed by their class */
    return claim(owner, p, RT_PYP_DICT_KEYS, entries, size);
}

/* Values at p (past their prefix), named by the keys table kb. */
static void values(int64_t owner, uintptr_t p, int64_t kb)
{
    int64_t j = block_of(p);
    if (j >= 0)
        claim(owner, p, RT_PYP_DICT_VALUES, (uint32_t)(p - S.scan->live[j].addr),
              kb >= 0 ? (uint32_t)kb + 1 : 0);
}

static void type_parts(int64_t i)
{
    const struct rt_py_objlayout *ol = S.ol;
    attr_dict(i, field(i, ol->tp_dict));
    unsigned long flags = field(i, ol->tp_flags);
    if ((flags & RT_TPF_HEAPTYPE) && ol->ht_cached_keys)
        keys_table(i, field(i, ol->ht_cached_keys));
}

/* The keys table naming an instance's inline values: its class's shared keys. */
static int64_t shared_keys(const struct rt_pytype *t)
{
    int64_t j = t->cached_keys ? block_of(t->cached_keys) : -1;
    return j >= 0 && S.scan->live[j].addr == t->cached_keys ? j : -1;
}

static void object_parts(int64_t i, const struct rt_pytype *t)
{
    const struct rt_py_objlayout *ol = S.ol;
    switch (t->kind) {
    case RT_PYK_LIST: {
        uintptr_t items = field(i, ol->list_items);
        uint64_t n = field(i, S.py->layout->var_size);
        int64_t j = items ? claim(i, items, RT_PYP_LIST_ITEMS, (uint32_t)n, 0) : -1;
        if (j >= 0 && S.blk[j].ptr == 0 && n * 8 < S.scan->live[j].size)
            S.blk[j].scan = (uint32_t)(n * 8);
        break;
    }
    case RT_PYK_DICT: {
        int64_t kb = keys_table(i, field(i, ol->dict_keys));
        uintptr_t v = field(i, ol->dict_values);
        if (v)
            values(i, v, kb);
        break;
    }
    case RT_PYK_SET: {
        uintptr_t table = field(i, ol->set_table);
        if (table && table != obj_addr(i) + ol->set_small)
            claim(i, table, RT_PYP_SET_TABLE, 0, 16);
        break;
    }
    case RT_PYK_MODULE:
        attr_dict(i, field(i, ol->module_dict));
        break;
    default:
        break;
    }
    if (t->flags & RT_TPF_MANAGED_DICT) {
        uintptr_t v = field(i, ol->pre_values);
        if (v)
            values(i, v, shared_keys(t));
        attr_dict(i, field(i, ol->pre_dict));
    } else if (t->dictoffset > 0 && t->kind != RT_PYK_TYPE && t->kind != RT_PYK_MODULE) {
        attr_dict(i, field(i, t->dictoffset));
    }
}

/* Classes first: their shared keys name the values of their instances. */
static void find_parts(void)
{
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < S.scan->nlive; i++) {
            const struct rt_pytype *t = S.blk[i].live ? type_of(i) : NULL;
            if (!t || (t->kind == RT_PYK_TYPE) != (pass == 0))
                continue;
            if (pass == 0)
                type_parts(i);
            else
                object_parts(i, t);
        }
}

/* Keys tables the interpreter keeps for reuse hold the stale pointers of
 * their last dict: they hold nothing. */
static void dead_keys(void)
{
    int32_t n = 0;
    if (!S.ol->is_keys_free || !rt_peek_all(&n, S.interp + S.ol->is_keys_numfree, sizeof n))
        return;
    for (int32_t k = 0; k < n && k < 256; k++) {
        uintptr_t p = rt_peek_word(S.interp + S.ol->is_keys_free + 8u * (uint32_t)k);
        int64_t j = block_of(p);
        if (j >= 0 && S.scan->live[j].addr == p && !S.blk[j].type)
            S.blk[j].dead = 1;
    }
}

/* The interpreter's own holes: its free lists' stale entries and its
 * attribute cache's values; up to max, sorted. */
static size_t state_holes(struct rt_pyhole *out, size_t max)
{
    size_t n = 0;
    if (!S.ol || !S.interp)
        return 0;
    for (size_t k = 0; k < sizeof S.ol->free_arrays / sizeof S.ol->free_arrays[0] && n < max; k++) {
        int32_t used = 0;
        uintptr_t a = S.interp + S.ol->free_arrays[k].array;
        if (!S.ol->free_arrays[k].count ||
            !rt_peek_all(&used, S.interp + S.ol->free_arrays[k].numfree, sizeof used) ||
            used < 0 || used >= S.ol->free_arrays[k].count)
            continue;
        out[n++] = (struct rt_pyhole){a + 8u * (uint32_t)used, a + 8u * S.ol->free_arrays[k].count, 0, 0};
    }
    /* entries {version, name, value}: the cache owns the name, not the value */
    if (S.ol->type_cache && n < max) {
        uintptr_t c = S.interp + S.ol->type_cache;
        out[n++] = (struct rt_pyhole){c + 16, c + S.ol->type_cache_size, 24, 8};
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j].start < out[j - 1].start; j--) {
            struct rt_pyhole t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* 3.11 and 3.12 build the code objects of their frozen modules into the
 * interpreter's data (deepfreeze), and the specializing interpreter
 * rewrites their code units as they run: a word of opcodes, arguments,
 * counters and versions can read as the address of a live block, which the
 * scan of the module's data took for a reference from a C global. Debian's
 * python3.11 is a static binary not built as PIE, whose heap lies at
 * addresses such words reach: an object made by a run of 1,000 pairs was
 * "reachable from unnamed data" in one run of 17. Code units are never
 * references; the rest of a code object (its cached line table and bytes)
 * is, so only co_code_adaptive is left out. Found once per process by the
 * objects' type, &PyCode_Type, in the module's writable data. */
static struct rt_pyhole *code_holes;
static size_t ncode_holes;
static int code_holes_known;

static size_t find_code_objects(const struct rt_py *py, struct rt_pyhole *out)
{
    const struct rt_py_layout *l = py->layout;
    size_t n = 0;
    uintptr_t lo = (py->data_lo + 7) & ~(uintptr_t)7;
    for (uintptr_t a = lo; a + 3 * 8 <= py->data_hi; a += 8) {
        if (*(const uintptr_t *)(a + 8) != py->code_type)
            continue;
        int64_t units = *(const int64_t *)(a + l->var_size);
        uintptr_t start = a + l->co_code, end = start + 2 * (uint64_t)units;
        if (units <= 0 || units >= (1 << 24) || end > py->data_hi)
            continue;
        if (out)
            out[n] = (struct rt_pyhole){start, end, 0, 0};
        n++;
        a = ((end + 7) & ~(uintptr_t)7) - 8;
    }
    return n;
}

static void find_code_holes(void)
{
    const struct rt_py *py = S.py;
    code_holes_known = 1;
    if (!py->code_type || !py->data_hi || py->layout->frames == RT_PY_FRAMEOBJ)
        return;
    size_t n = find_code_objects(py, NULL);
    code_holes = n ? rt_arena_alloc(n * sizeof *code_holes) : NULL;
    if (code_holes)
        ncode_holes = find_code_objects(py, code_holes);
}

const struct rt_pyhole *rt_pyobj_holes(size_t *n)
{
    struct rt_pyhole mine[8];
    size_t nmine = state_holes(mine, 8);
    *n = 0;
    if (!S.py)
        return NULL;
    if (!code_holes_known)
        find_code_holes();
    S.holes_bytes = (ncode_holes + nmine + 1) * sizeof *S.holes;
    S.holes = rt_arena_alloc(S.holes_bytes);
    if (!S.holes)
        return NULL;
    size_t i = 0, j = 0;
    while (i < ncode_holes || j < nmine)
        S.holes[(*n)++] = j == nmine || (i < ncode_holes && code_holes[i].start < mine[j].start)
                        ? code_holes[i++] : mine[j++];
    return S.holes;
}

/* ---------------------------------------------------------------- frames */

/* The frames the threads of the main interpreter are running: those a
 * thread owns (a generator's or a frame object's frame lies in its object,
 * which the scan reads anyway). */
static void find_frames(void)
{
    const struct rt_py_layout *l = S.py->layout;
    S.frames = rt_arena_alloc(MAX_FRAMES * sizeof *S.frames);
    if (!S.interp || !S.frames)
        return;
    uintptr_t ts = rt_peek_word(S.interp + l->is_threads_head);
    for (int nts = 0; ts && nts < MAX_THREADS; nts++, ts = rt_peek_word(ts + l->ts_next)) {
        int32_t tid = (int32_t)rt_peek_word(ts + S.ol->ts_native_id);
        uint32_t thread = S.scan->thread_index(S.scan->ctx, tid);
        uintptr_t f = rt_peek_word(ts + l->ts_frame);
        if (l->ts_cframe_frame >= 0)
            f = rt_peek_word(f + (uint32_t)l->ts_cframe_frame);
        for (int depth = 0; f && depth < MAX_DEPTH && S.nframes < MAX_FRAMES; depth++) {
            uint8_t owner = 0xff;
            rt_peek_all(&owner, f + S.ol->fr_owner, 1);
            if (owner == FRAME_OWNED_BY_THREAD)
                S.frames[S.nframes++] = (struct frame){f, rt_peek_word(f + l->fr_code), thread, UINT32_MAX};
            f = rt_peek_word(f + l->fr_previous);
        }
    }
}

size_t rt_pyobj_nframes(void)
{
    return S.nframes;
}

void rt_pyobj_roots(uint32_t (*add)(void *ctx, uintptr_t start, uintptr_t size, uint32_t thread),
                    void *ctx)
{
    for (size_t i = 0; i < S.nframes; i++) {
        struct frame *f = &S.frames[i];
        int32_t top = 0, nlocals = 0, depth = 0;
        if (!rt_peek_all(&top, f->frame + S.ol->fr_stacktop, sizeof top) ||
            !rt_peek_all(&nlocals, f->code + S.ol->co_nlocalsplus, sizeof nlocals) ||
            !rt_peek_all(&depth, f->code + S.ol->co_stacksize, sizeof depth))
            continue;
        /* a frame that is running (or called C that runs Python) keeps its
         * stack pointer in the eval loop (stacktop -1): take its locals and
         * the whole evaluation stack, whose unused slots may be stale */
        int64_t n = top >= 0 ? top : (int64_t)nlocals + depth;
        if (n <= 0 || n > (1 << 20))
            continue;
        f->root_id = add(ctx, f->frame + S.ol->fr_localsplus, (uintptr_t)n * 8, f->thread);
    }
}

/* ---------------------------------------------------------------- begin, end */

void rt_pyobj_begin(const struct rt_pyobj_scan *scan)
{
    memset(&S, 0, sizeof S);
    S.scan = scan;
    S.py = rt_py_get();
    if (!S.py || rt_pytype_begin() < 0) {
        S.py = NULL;
        return;
    }
    layout_flags();
    S.ol = S.py->layout->objects;
    S.blk_bytes = ((size_t)scan->nlive + 1) * sizeof *S.blk;
    S.blk = rt_arena_alloc(S.blk_bytes);
    if (!S.blk)
        return;
    find_headers();
    if (!S.ol)
        return;
    S.interp = rt_peek_word(S.py->runtime + S.py->layout->rt_interp_main);
    find_parts();
    if (S.interp)
        dead_keys();
    find_frames();
}

void rt_pyobj_end(void)
{
    if (S.blk)
        rt_arena_free(S.blk, S.blk_bytes);
    if (S.frames)
        rt_arena_free(S.frames, MAX_FRAMES * sizeof *S.frames);
    if (S.texts)
        rt_arena_free(S.texts, STATIC_TEXTS * sizeof *S.texts);
    if (S.holes)
        rt_arena_free(S.holes, S.holes_bytes);
    memset(&S, 0, sizeof S);
}

/* ---------------------------------------------------------------- scanning */

/* Without a table: a pointer at the header of a tracked object, or at a
 * split dict's values past their prefix (whose last byte is its size). */
static int fallback(int64_t b, uint64_t off)
{
    const struct rt_live *l = &S.scan->live[b];
    if ((off == RT_PY_GC_HEAD || off == RT_PY_GC_HEAD + PRE_HEADER) && l->size >= off + 16) {
        const uintptr_t *w = (const uintptr_t *)(l->addr + off);
        const struct rt_pytype *t = w[0] <= MAX_REFCNT ? rt_pytype_get(w[1], 1) : NULL;
        if (t && header_offset(t) == off)
            return 1;
    }
    if (!S.values_prefix || off % 8 || off > 255 || l->size <= off || (l->size - off) % 8)
        return 0;
    uint64_t n = (l->size - off) / 8;
    return ((n + 2 + 7) & ~(uint64_t)7) == off && *(const uint8_t *)(l->addr + off - 1) == off;
}

int rt_pyobj_ref(int64_t b, uint64_t off)
{
    if (!S.py)
        return RT_PYREF_ASIS;
    if (S.blk) {
        const struct pyblk *p = &S.blk[b];
        if (p->type)
            return off == p->off ? RT_PYREF_START : RT_PYREF_DROP;
        if (p->role)
            return off == p->ptr ? RT_PYREF_START : RT_PYREF_DROP;
    }
    return off && fallback(b, off) ? RT_PYREF_START : RT_PYREF_ASIS;
}

/* A dead object on a free list holds only the link to the next entry
 * (3.11: a tuple through its first item, a preallocated MemoryError
 * through its __dict__); the rest are stale pointers of its last life. */
static void free_list_link(const struct pyblk *p, uint64_t *from, uint64_t *len)
{
    const struct rt_pytype *t = rt_pytype_get(p->type, 0);
    int64_t at = !t || !S.ol ? -1
               : t->kind == RT_PYK_TUPLE ? S.ol->tuple_items
               : (t->flags & (1ul << 30)) ? t->dictoffset : -1;
    *from = at > 0 ? p->off + (uint64_t)at : 0;
    *len = at > 0 ? *from + 8 : 0;
}

/* An object whose words past some point are numbers, characters or
 * bytecode, not references (a str's, once its own buffers are past). */
static int leaf(const struct pyblk *p, uint64_t size, uint64_t *len, uint64_t skip[4])
{
    const struct rt_pytype *t = rt_pytype_get(p->type, 0);
    /* a subclass (class S(str)) may add a __dict__ and slots */
    int kind = t && !(t->flags & RT_TPF_HEAPTYPE) ? t->kind : -1;
    if (kind == RT_PYK_INT || kind == RT_PYK_FLOAT || kind == RT_PYK_BYTES) {
        *len = p->off + 16u;
        return 0;
    }
    if (kind == RT_PYK_CODE && S.py->layout->version >= 0x030b0000) {
        /* 3.11+: the bytecode lies at the end of the code object */
        uint64_t end = p->off + (uint64_t)S.py->layout->co_code;
        *len = end < size ? end : size;
        return 0;
    }
    if (kind != RT_PYK_STR)
        return -1;
    /* hash and state; then wstr, utf8 length, utf8 up to the compact header */
    uint64_t end = p->off + (uint64_t)S.py->layout->str_compact_size;
    *len = end < size ? end : size;
    skip[0] = p->off + S.py->layout->str_length + 8;
    skip[1] = p->off + S.py->layout->str_state;
    return 2;
}

int rt_pyobj_words(int64_t b, uint64_t size, uint64_t *from, uint64_t *len, uint64_t skip[4])
{
    *from = 0;
    *len = size;
    if (!S.blk)
        return 0;
    const struct pyblk *p = &S.blk[b];
    if (p->dead) {
        *len = 0;
        return 0;
    }
    if (p->type && !p->live) {
        free_list_link(p, from, len);
        return 0;
    }
    if (p->role == RT_PYP_LIST_ITEMS && p->scan < size)
        *len = p->scan;
    /* a keys table's header and indexes, the prefix of values: no pointers
     * (the prefix keeps stale bytes where it has no order to keep) */
    if ((p->role == RT_PYP_DICT_KEYS || p->role == RT_PYP_DICT_VALUES) && p->a < size)
        *from = p->a;
    int n;
    if (p->type && S.ol && (n = leaf(p, size, len, skip)) >= 0)
        return n;
    if (!p->weak || !p->live || !S.ol)
        return 0;
    const struct rt_pytype *t = type_of(b);
    n = 0;
    if (p->weak & 1) {
        skip[n++] = p->off + S.ol->wr_object;
        skip[n++] = p->off + S.ol->wr_prev;
        skip[n++] = p->off + S.ol->wr_next;
    }
    if ((p->weak & 2) && t)
        skip[n++] = p->off + (uint64_t)t->weaklistoffset;
    return n;
}

/* ---------------------------------------------------------------- emitting */

static void flush(void)
{
    if (S.nbatch)
        rt_ring_push(S.batch, S.nbatch);
    S.nbatch = 0;
}

static void push(const struct rt_rec *r)
{
    S.batch[S.nbatch++] = *r;
    if (S.nbatch == BATCH)
        flush();
}

static void name(int64_t block, uint32_t kind, const char *text, size_t len)
{
    static uint8_t b[sizeof(struct rt_blob_pyname) + RT_RING_SLOTS / 4 * sizeof(struct rt_rec)];
    struct rt_blob_pyname h = {S.scan->snapshot_id, (uint32_t)block, kind, (uint32_t)len};
    if (len > sizeof b - sizeof h)
        return;
    memcpy(b, &h, sizeof h);
    memcpy(b + sizeof h, text, len);
    rt_ring_push_blob(RT_BLOB_PYNAME, b, (uint32_t)(sizeof h + len));
}

/* An int of up to two 30-bit digits in decimal; 0 when larger. */
static size_t int_text(uintptr_t obj, uintptr_t end, char *buf, size_t cap)
{
    int64_t size = 0;
    uint32_t d[2] = {0, 0};
    int ok = end ? obj + S.ol->long_digits + 8 <= end : 1;
    if (!ok || !read_obj(obj + S.py->layout->var_size, end, &size, sizeof size) || size > 2 ||
        size < -2 || (size && !read_obj(obj + S.ol->long_digits, end, d, 4 * (size_t)(size < 0 ? -size : size))))
        return 0;
    uint64_t v = d[0] | (uint64_t)d[1] << 30;
    int n = snprintf(buf, cap, "%s%llu", size < 0 ? "-" : "", (unsigned long long)v);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* A str's text or an int's value in buf (TEXT_MAX bytes), or nothing. The
 * object ends at `end`; 0: it is not in the heap, read it safely. */
static size_t obj_text(uintptr_t obj, uintptr_t end, char *buf)
{
    uintptr_t type;
    if (!read_obj(obj + 8, end, &type, sizeof type))
        return 0;
    const struct rt_pytype *t = rt_pytype_get(type, 0);
    if (!t)
        return 0;
    if (t->kind == RT_PYK_INT)
        return int_text(obj, end, buf, TEXT_MAX);
    return t->kind == RT_PYK_STR ? rt_pytype_str(obj, end, buf, TEXT_MAX) : 0;
}

static size_t static_text(uintptr_t obj, char *buf)
{
    if (!S.texts && !(S.texts = rt_arena_alloc(STATIC_TEXTS * sizeof *S.texts)))
        return obj_text(obj, 0, buf);
    struct static_text *c = &S.texts[(obj >> 4) % STATIC_TEXTS];
    if (c->obj != obj) {
        c->text[0] = 0;
        c->len = (uint32_t)obj_text(obj, 0, c->text);
        c->obj = obj;
    }
    memcpy(buf, c->text, c->len + 1);
    return c->len;
}

/* A key as the report writes it: a str's text (in quotes when `quoted`),
 * an int's value, or nothing; buf holds TEXT_MAX bytes and the quotes.
 * Objects in live blocks are read directly, the interpreter's static ones
 * (3.11 keeps its identifiers in _PyRuntime) safely, once. */
static size_t key_text(uintptr_t obj, char *buf, int quoted)
{
    if (!obj)
        return 0;
    int64_t j = block_of(obj);
    size_t n = j >= 0 ? obj_text(obj, S.scan->live[j].addr + S.scan->live[j].size, buf + quoted)
                      : static_text(obj, buf + quoted);
    if (quoted && n) {
        buf[0] = buf[n + 1] = '\'';
        buf[n + 2] = 0;
        n += 2;
    }
    return n;
}

static void emit_object(int64_t i)
{
    const struct pyblk *p = &S.blk[i];
    const struct rt_pytype *t = type_of(i);
    if (!t)
        return;
    uint32_t id = rt_pytype_id(t);
    uintptr_t refcnt;
    memcpy(&refcnt, (const void *)obj_addr(i), sizeof refcnt);
    struct rt_rec r = {.type = RT_REC_PYOBJ, .u32 = id, .a = (uint64_t)i, .b = refcnt,
                       .time_ns = p->off | (uint64_t)p->flags << 32};
    push(&r);
    /* modules, classes and functions by their (qualified) names */
    int64_t at = t->kind == RT_PYK_MODULE ? S.ol->module_name
               : t->kind == RT_PYK_FUNCTION ? S.ol->func_qualname
               : t->kind == RT_PYK_TYPE && (field(i, S.ol->tp_flags) & RT_TPF_HEAPTYPE) ? S.ol->ht_qualname
               : -1;
    char text[TEXT_MAX];
    size_t n = at >= 0 ? key_text(field(i, at), text, 0) : 0;
    if (n)
        name(i, RT_PYN_NAME, text, n);
}

/* The keys of a keys table in entry order, each a str in quotes, an int in
 * decimal, or empty, and a NUL (ring.h RT_PYN_KEYS). */
static void emit_keys(int64_t i)
{
    static char buf[RT_RING_SLOTS / 4 * sizeof(struct rt_rec)];
    const struct pyblk *p = &S.blk[i];
    const struct rt_live *b = &S.scan->live[i];
    uint64_t n = 0, len = 0;
    memcpy(&n, (const void *)(b->addr + S.ol->dk_nentries), sizeof n);
    uint32_t key_at = p->b == 24 ? 8 : 0;
    for (uint64_t e = 0; e < n && p->a + (e + 1) * p->b <= b->size; e++) {
        uintptr_t key;
        memcpy(&key, (const void *)(b->addr + p->a + e * p->b + key_at), sizeof key);
        char text[TEXT_MAX + 2];
        size_t k = key_text(key, text, 1);
        if (len + k + 1 > sizeof buf - sizeof(struct rt_blob_pyname))
            break;
        memcpy(buf + len, text, k);
        buf[len + k] = 0;
        len += k + 1;
    }
    if (len)
        name(i, RT_PYN_KEYS, buf, len);
}

static void emit_part(int64_t i)
{
    const struct pyblk *p = &S.blk[i];
    struct rt_rec r = {.type = RT_REC_PYPART, .u32 = p->role, .a = (uint64_t)i, .b = p->owner,
                       .time_ns = p->a | (uint64_t)p->b << 32};
    push(&r);
}

/* The interpreter's objects a developer knows by name. */
static void well_known(void)
{
    const struct rt_py_objlayout *ol = S.ol;
    uintptr_t gc = S.interp + ol->is_gc;
    const struct { uintptr_t at; const char *name; } wk[] = {
        {S.interp + ol->is_modules, "sys.modules"}, {S.interp + ol->is_sysdict, "sys.__dict__"},
        {S.interp + ol->is_builtins, "builtins"}, {gc + ol->gc_garbage, "gc.garbage"},
        {gc + ol->gc_callbacks, "gc.callbacks"},
    };
    for (size_t k = 0; k < sizeof wk / sizeof wk[0]; k++) {
        int64_t j = object_at(rt_peek_word(wk[k].at));
        if (j >= 0)
            name(j, RT_PYN_WELL_KNOWN, wk[k].name, strlen(wk[k].name));
    }
    int32_t enabled = 0;
    rt_peek_all(&enabled, gc + ol->gc_enabled, sizeof enabled);
    uintptr_t garbage = rt_peek_word(gc + ol->gc_garbage);
    struct rt_blob_pygc g = {.kind = RT_GC_STATE, .generation = S.scan->snapshot_id,
                             .collections = enabled != 0,
                             .collected = garbage ? rt_peek_word(garbage + S.py->layout->var_size) : 0};
    rt_ring_push_blob(RT_BLOB_PYGC, &g, sizeof g);
}

/* A frame root's function, file, definition line and local names. */
static void emit_frame(const struct frame *f)
{
    const struct rt_py_layout *l = S.py->layout;
    static uint8_t buf[8192];
    struct rt_blob_pyframeroot h = {S.scan->snapshot_id, f->root_id, f->thread, 0, 0, 0, 0, 0};
    char fn[TEXT_MAX * 2], file[256];
    int32_t first = 0, nlocals = 0;
    rt_peek_all(&first, f->code + l->co_firstlineno, sizeof first);
    rt_peek_all(&nlocals, f->code + S.ol->co_nlocalsplus, sizeof nlocals);
    h.line = first > 0 ? (uint32_t)first : 0;
    h.func_len = (uint32_t)rt_pytype_str(rt_peek_word(f->code + (l->co_qualname ? l->co_qualname : l->co_name)),
                                         0, fn, sizeof fn);
    h.file_len = (uint32_t)rt_pytype_str(rt_peek_word(f->code + l->co_filename), 0, file, sizeof file);
    size_t n = sizeof h;
    memcpy(buf + n, fn, h.func_len);
    n += h.func_len;
    memcpy(buf + n, file, h.file_len);
    n += h.file_len;
    uintptr_t names = rt_peek_word(f->code + S.ol->co_localsplusnames);
    for (int32_t k = 0; names && k < nlocals && k < MAX_NAMES; k++) {
        char text[TEXT_MAX];
        uint32_t len = (uint32_t)rt_pytype_str(rt_peek_word(names + S.ol->tuple_items + 8u * (uint32_t)k),
                                               0, text, sizeof text);
        if (n + sizeof len + len > sizeof buf)
            break;
        memcpy(buf + n, &len, sizeof len);
        memcpy(buf + n + sizeof len, text, len);
        n += sizeof len + len;
        h.nnames++;
    }
    memcpy(buf, &h, sizeof h);
    rt_ring_push_blob(RT_BLOB_PYFRAMEROOT, buf, (uint32_t)n);
}

void rt_pyobj_emit(void)
{
    if (!S.blk || !S.ol)
        return;
    for (int64_t i = 0; i < S.scan->nlive; i++)
        if (S.blk[i].live)
            emit_object(i);
    for (int64_t i = 0; i < S.scan->nlive; i++)
        if (S.blk[i].role)
            emit_part(i);
    flush();
    for (int64_t i = 0; i < S.scan->nlive; i++)
        if (S.blk[i].role == RT_PYP_DICT_KEYS)
            emit_keys(i);
    for (size_t i = 0; i < S.nframes; i++)
        if (S.frames[i].root_id != UINT32_MAX)
            emit_frame(&S.frames[i]);
    if (S.interp)
        well_known();
}

/* ---------------------------------------------------------------- collections */

/* A header at `off` whose type is known and puts it there. */
static int freed_header(uintptr_t type, uint32_t off)
{
    const struct rt_pytype *t = rt_pytype_get(type, 0);
    return t && header_offset(t) == off;
}

uint32_t rt_pyobj_gc_free(const void *p, size_t size)
{
    uintptr_t w[6] = {0};
    size_t n = size;
    if (!S.py) {
        /* types are checked as they come, and the verdicts kept until the
         * next snapshot checks them again */
        if (!(S.py = rt_py_get()) || rt_pytype_begin() < 0)
            return RT_F_GC;
        layout_flags();
    }
    if (n)
        memcpy(w, p, n < sizeof w ? n : sizeof w);
    else if (((uintptr_t)p & (PAGE_BYTES - 1)) <= PAGE_BYTES - sizeof w)
        /* pymalloc: no size to trust, but a block is at least 16 bytes, and
         * the page of a block being freed is mapped: only a read that
         * crosses into the next page needs the kernel's copy (a collection
         * frees tens of thousands of objects, two syscalls each). */
        memcpy(w, p, n = sizeof w);
    else
        n = rt_peek(w, (uintptr_t)p, sizeof w) & ~(size_t)15;
    /* A tracked object's GC header is unlinked and its count 0 when freed.
     * Untracked objects are not counted: two words (a count of 0, a type)
     * are what a pymalloc block's unwritten start keeps of an object freed
     * before (its free-list link 0 at the end of the list). */
    int object = (S.preheader && n >= 48 && w[2] == 0 && w[3] <= 1 && w[4] == 0 &&
                  freed_header(w[5], RT_PY_GC_HEAD + PRE_HEADER)) ||
                 (n >= 32 && w[0] == 0 && w[1] <= 1 && w[2] == 0 && freed_header(w[3], RT_PY_GC_HEAD));
    return RT_F_GC | (object ? RT_F_PYOBJ : 0);
}
