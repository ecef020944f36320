/* SPDX-License-Identifier: MIT
 *
 * rt_scan.c - heap snapshots inside the target process. A snapshot
 *   1. lists the writable segments of every loaded module but the runtime
 *      (before stopping anyone: dl_iterate_phdr takes the loader lock),
 *   2. stops every other thread (rt_scan_stop.c),
 *   3. asks the collector for the live blocks, sorted by address,
 *   4. lists the roots: module segments, each thread's stack from its stack
 *      pointer up, its registers, its static TLS and TCB, its DTV (so that
 *      dynamic TLS blocks and the DTV block itself are held), the DTVs of
 *      exited threads whose stacks glibc keeps cached, and the memory the
 *      program mapped for itself (rt_scan_maps.c),
 *   5. scans the roots and then every live block word by word, and
 *      publishes an RT_BLOB_ROOT per root, an RT_REC_EDGE per pointer into a
 *      live block and RT_REC_SNAP_END,
 *   6. lets the threads go.
 * It never allocates from the watched heap (arena memory only) and never
 * ends the target. The reporter classifies; see report/analysis/graph.c.
 *
 * Signals: the snapshot request is HEAPGRAPH_SNAPSHOT_SIGNAL (a signal
 * number) or SIGRTMIN + 7, installed only while the program leaves it at
 * SIG_DFL; the handler only sets rt_scan_pending and the next allocation
 * takes the snapshot. Thread stops use SIGRTMIN + 6 (rt_scan_stop.h).
 */
#include "profiler/runtime/rt_scan.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_peek.h"
#include "profiler/runtime/rt_pyobj.h"
#include "profiler/runtime/rt_python.h"
#include "profiler/runtime/rt_scan_maps.h"
#include "profiler/runtime/rt_scan_stop.h"

#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Atomic int rt_scan_pending;

static _Atomic int g_busy;
static uint32_t g_next_id = 1;

#define RED_ZONE 128        /* x86_64 ABI: below the stack pointer, still live */
#define DTV_OFFSET 8        /* tcbhead_t.dtv on x86_64 */
#define DTV_MAX 65536       /* a DTV longer than this is not one */
#define EDGE_BATCH 256
#define MAX_SEG_ROOTS 4096
#define MAX_SELF_SEGS 8
#define COPY_CHUNK (256u << 10)
#define PAGE 4096u

struct root {
    uint32_t kind;          /* enum rt_root_kind */
    uint32_t owner;         /* module id or thread index */
    uintptr_t start, size;
    int block;              /* the region is the live block at start: add a start edge */
    int loader;             /* the dynamic linker's data: its pointers hold whole blocks */
    int mapped;             /* memory the program mapped: 1 + enum rt_map_kind */
    const void *copy;       /* read this copy of the region instead (arena memory) */
};

struct scan {
    uint32_t id;
    uint32_t reason;
    const struct rt_live *live;
    int64_t nlive;
    uintptr_t lo, span;     /* the blocks lie in [lo, lo + span) */
    uint32_t *first;        /* per bucket: first block that ends above its start */
    size_t nbuckets;
    unsigned shift;
    struct root *roots;
    size_t nroots, roots_cap;
    struct rt_maps maps;
    struct rt_range self_segs[MAX_SELF_SEGS]; /* the runtime's own data: never a root */
    size_t nself_segs;
    struct rt_range *skip;  /* not the program's own mapped memory (rt_scan_maps.h) */
    size_t nskip, skip_cap;
    int pagemap;            /* /proc/self/pagemap, or -1 */
    char *copy;             /* COPY_CHUNK bytes: what is read through copies */
    uintptr_t copy_lo, copy_hi; /* blocks: copy holds [copy_lo, copy_hi) */
    struct rt_stop_set stop;
    uint64_t unread;        /* bytes listed readable that could not be read */
    uint64_t nedges;
    struct rt_rec batch[EDGE_BATCH];
    uint32_t nbatch;
};

/* ------------------------------------------------------------- roots */

/* Adds the root [start, end); returns it, or NULL when it is empty or the
 * list is full. */
static struct root *add_root(struct scan *s, uint32_t kind, uint32_t owner, uintptr_t start, uintptr_t end)
{
    if (end <= start || s->nroots == s->roots_cap)
        return NULL;
    struct root *r = &s->roots[s->nroots++];
    *r = (struct root){.kind = kind, .owner = owner, .start = start, .size = end - start};
    return r;
}

/* Makes room for `extra` more roots. */
static int grow_roots(struct scan *s, size_t extra)
{
    size_t want = s->nroots + extra;
    if (want <= s->roots_cap)
        return 0;
    struct root *more = rt_arena_alloc(want * sizeof *more);
    if (!more)
        return -1;
    memcpy(more, s->roots, s->nroots * sizeof *more);
    rt_arena_free(s->roots, s->roots_cap * sizeof *s->roots);
    s->roots = more;
    s->roots_cap = want;
    return 0;
}

/* Leaves [start, end) out of the mapped-memory roots. */
static void add_skip(struct scan *s, uintptr_t start, uintptr_t end)
{
    if (end > start && s->nskip < s->skip_cap)
        s->skip[s->nskip++] = (struct rt_range){start, end};
}

static int module_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct scan *s = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        uint32_t id = rt_modules_id_at(start);
        if (id && id == rt_modules_self()) {
            if (s->nself_segs < MAX_SELF_SEGS)
                s->self_segs[s->nself_segs++] = (struct rt_range){start, end};
            continue;
        }
        struct root *r = add_root(s, RT_ROOT_GLOBAL, id, start, end);
        /* _r_debug lives in the dynamic linker's data */
        if (r && (uintptr_t)&_r_debug >= start && (uintptr_t)&_r_debug < end)
            r->loader = 1;
    }
    return 0;
}

/* ------------------------------------------------------- block lookup */

/* Blocks cover [addr, addr + max(size, 1)): a pointer to a malloc(0)
 * block still holds it. */
static uintptr_t block_end(const struct rt_live *b)
{
    return b->addr + (b->size ? b->size : 1);
}

/* A bucket index over [lo, lo + span): about four buckets per block, so a
 * lookup is a short binary search even when the heap is split in far
 * apart regions (brk heap, mmap chunks, thread arenas). */
static int build_index(struct scan *s)
{
    if (s->nlive <= 0)
        return 0;
    const struct rt_live *last = &s->live[s->nlive - 1];
    s->lo = s->live[0].addr;
    s->span = block_end(last) - s->lo;
    size_t want = (size_t)s->nlive * 4 + 1024;
    s->shift = 4;
    while ((s->span >> s->shift) >= want)
        s->shift++;
    s->nbuckets = (s->span >> s->shift) + 1;
    s->first = rt_arena_alloc((s->nbuckets + 1) * sizeof *s->first);
    if (!s->first)
        return -1;
    uint32_t i = 0;
    for (size_t k = 0; k <= s->nbuckets; k++) {
        uintptr_t start = s->lo + ((uintptr_t)k << s->shift);
        while (i < s->nlive && block_end(&s->live[i]) <= start)
            i++;
        s->first[k] = i;
    }
    return 0;
}

/* Index of the live block containing p, or -1. */
static int64_t find_block(const struct scan *s, uintptr_t p)
{
    uintptr_t rel = p - s->lo;
    if (rel >= s->span)
        return -1;
    size_t k = rel >> s->shift;
    int64_t a = s->first[k], b = s->first[k + 1];
    if (b >= s->nlive)
        b = s->nlive - 1;
    while (a < b) { /* the last block in [a, b] starting at or below p */
        int64_t m = (a + b + 1) / 2;
        if (s->live[m].addr <= p)
            a = m;
        else
            b = m - 1;
    }
    if (a >= s->nlive || s->live[a].addr > p || p >= block_end(&s->live[a]))
        return -1;
    return a;
}

/* ------------------------------------------------------------ emitting */

static void flush_edges(struct scan *s)
{
    if (s->nbatch)
        rt_ring_push(s->batch, s->nbatch);
    s->nbatch = 0;
}

static void emit_edge(struct scan *s, uint64_t src, uint64_t src_off, uint64_t dst, uint64_t dst_off)
{
    struct rt_rec *r = &s->batch[s->nbatch++];
    r->type = RT_REC_EDGE;
    r->u32 = dst_off > UINT32_MAX ? UINT32_MAX : (uint32_t)dst_off;
    r->time_ns = src_off;
    r->a = src;
    r->b = dst;
    s->nedges++;
    if (s->nbatch == EDGE_BATCH)
        flush_edges(s);
}

/* glibc's malloc state (main_arena.top, bin heads) points at chunk headers.
 * A block of n bytes sits in a chunk of max(32, (n + 8 + 15) & ~15) bytes
 * whose user part starts 16 bytes in; the next chunk's header is then
 * chunk - 16 bytes into the block, which is inside it when the block uses
 * its whole chunk. A pointer at exactly that offset is malloc's, not the
 * program's, and must not make the block "possible". */
static int is_chunk_header(uintptr_t p, const struct rt_live *b)
{
    uint64_t chunk = (b->size + 8 + 15) & ~(uint64_t)15;
    if (chunk < 32)
        chunk = 32;
    return p - b->addr == chunk - 16;
}

/* The mapping kinds whose memory the scan may read in place while every
 * other thread is parked: nothing unmaps it or cuts it short then. */
static int stays_mapped(const struct rt_map *m)
{
    return m->perms[0] == 'r' && (m->kind == RT_MAP_ANON || m->kind == RT_MAP_BRK);
}

/* Scans [start, end) for pointers into live blocks, reading it at `data`
 * (the memory itself, or a copy); edges say where in the source they are
 * as an offset from `origin`. With `whole`, an interior pointer holds its
 * block like a start pointer: the dynamic linker keeps aligned structures
 * inside its blocks (the _dl_find_object segments) and points only into
 * them. */
static void scan_range(struct scan *s, uint64_t src, uintptr_t origin, uintptr_t start,
                       uintptr_t end, const void *data, int whole)
{
    uintptr_t first = (start + 7) & ~(uintptr_t)7;
    const char *base = (const char *)data - start;
    for (uintptr_t at = first; at + 8 <= end; at += 8) {
        uintptr_t p;
        memcpy(&p, base + at, sizeof p);
        if (p - s->lo >= s->span)
            continue;
        int64_t b = find_block(s, p);
        if (b < 0 || is_chunk_header(p, &s->live[b]))
            continue;
        uint64_t off = p - s->live[b].addr;
        /* the loader holds whole blocks, but no Python object: its numbers
         * (tunable_list's cache sizes) may fall inside one */
        int how = rt_pyobj_ref(b, off);
        if (whole && how == RT_PYREF_ASIS)
            how = RT_PYREF_START;
        if (how == RT_PYREF_DROP)
            continue;
        emit_edge(s, src, at - origin, (uint64_t)b, how == RT_PYREF_START ? 0 : off);
    }
}

/* Index of the first live block that ends above addr (nlive if none). */
static int64_t first_block_after(const struct scan *s, uintptr_t addr)
{
    int64_t a = 0, b = s->nlive;
    while (a < b) {
        int64_t m = (a + b) / 2;
        if (block_end(&s->live[m]) <= addr)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

struct mapped_scan {
    struct scan *s;
    uint64_t src;
    const struct root *r;
};

/* Scans [start, end) of the process's memory through copies (rt_peek.h),
 * COPY_CHUNK bytes at a time, each ending at a page boundary so that no
 * word is cut; a page that cannot be read is skipped. Returns how many
 * bytes were skipped. */
static uint64_t scan_copied(struct scan *s, uint64_t src, uintptr_t origin, uintptr_t start,
                            uintptr_t end, int whole)
{
    uint64_t skipped = 0;
    s->copy_lo = s->copy_hi = 0; /* the window over the blocks is gone */
    for (uintptr_t at = start; at < end;) {
        uintptr_t stop = (at & ~(uintptr_t)(PAGE - 1)) + COPY_CHUNK;
        if (stop > end || stop < at)
            stop = end;
        size_t n = rt_peek(s->copy, at, stop - at);
        scan_range(s, src, origin, at, at + n, s->copy, whole);
        at += n;
        if (at < stop) {
            uintptr_t next = (at | (PAGE - 1)) + 1;
            next = next < end ? next : end;
            skipped += next - at;
            at = next;
        }
    }
    return skipped;
}

/* A piece of a mapped root between live blocks, read through copies: the
 * list of mappings may be older than the memory (a range the runtime
 * unmapped since), and a file mapping may lie past its file's end. What
 * cannot be read holds nothing. */
static void scan_mapped_piece(struct mapped_scan *m, uintptr_t start, uintptr_t end)
{
    scan_copied(m->s, m->src, m->r->start, start, end, 0);
}

/* Resident pages of a mapped root, around the live blocks that lie in
 * them (a large block's own mapping can merge with the program's): those
 * are scanned as blocks. */
static void scan_mapped_run(void *arg, uintptr_t start, uintptr_t end)
{
    struct mapped_scan *m = arg;
    const struct scan *s = m->s;
    for (int64_t i = first_block_after(s, start); start < end; i++) {
        uintptr_t stop = i < s->nlive && s->live[i].addr < end ? s->live[i].addr : end;
        if (stop > start)
            scan_mapped_piece(m, start, stop);
        if (stop == end)
            break;
        start = block_end(&s->live[i]);
    }
}

static void emit_roots(struct scan *s)
{
    for (size_t i = 0; i < s->nroots; i++) {
        const struct root *r = &s->roots[i];
        struct rt_blob_root blob = {
            .snapshot_id = s->id, .root_id = (uint32_t)i, .kind = r->kind,
            .owner = r->owner, .start = r->start, .size = r->size,
        };
        rt_ring_push_blob(RT_BLOB_ROOT, &blob, sizeof blob);
    }
}

enum { READ_NOT, READ_COPY, READ_IN_PLACE };

/* How block [addr, end) can be read: not at all (no readable mapping holds
 * it; it should not happen), in place (stays_mapped, and every other
 * thread is parked) or through copies, then up to *run_end (the end of the
 * mappings holding it: a window of copies reads no further). *k walks the
 * (sorted) mappings along the (sorted) blocks. */
static int block_read(const struct scan *s, size_t *k, uintptr_t addr, uintptr_t end, uintptr_t *run_end)
{
    const struct rt_maps *maps = &s->maps;
    *run_end = end;
    if (!maps->n)
        return READ_COPY;
    while (*k < maps->n && maps->m[*k].end <= addr)
        (*k)++;
    int how = s->stop.partial ? READ_COPY : READ_IN_PLACE;
    uintptr_t at = addr;
    for (size_t j = *k; j < maps->n && maps->m[j].start <= at && at < end; j++) {
        if (maps->m[j].perms[0] != 'r')
            return READ_NOT;
        if (!stays_mapped(&maps->m[j]))
            how = READ_COPY;
        at = maps->m[j].end; /* continues in the next mapping, if adjacent */
    }
    *run_end = at;
    return at >= end ? how : READ_NOT;
}

/* Scans [from, to) of block i: in place, from the window of copies when
 * it holds the piece, else through copies of its own. */
static void block_piece(struct scan *s, int64_t i, uintptr_t from, uintptr_t to, int in_place)
{
    uintptr_t origin = s->live[i].addr;
    if (in_place)
        scan_range(s, (uint64_t)i, origin, from, to, (const void *)from, 0);
    else if (from >= s->copy_lo && to <= s->copy_hi)
        scan_range(s, (uint64_t)i, origin, from, to, s->copy + (from - s->copy_lo), 0);
    else
        s->unread += scan_copied(s, (uint64_t)i, origin, from, to, 0);
}

/* Scans a live block as far as it holds references (rt_pyobj.h: a
 * Python list's items up to its length, not the borrowed pointers of weak
 * references), in the pieces between the words to skip. */
static void scan_block(struct scan *s, int64_t i, int in_place)
{
    const struct rt_live *b = &s->live[i];
    uint64_t at, len, skip[4];
    int n = rt_pyobj_words(i, b->size, &at, &len, skip);
    for (int k = 0; k <= n; k++) {
        uint64_t end = len;
        for (int j = 0; j < n; j++)  /* the next word to skip */
            if (skip[j] >= at && skip[j] < end)
                end = skip[j];
        if (end > at)
            block_piece(s, i, b->addr + at, b->addr + end, in_place);
        at = end + 8;
        if (at >= len)
            break;
    }
}

/* The live blocks, word by word: in place where nothing can unmap them
 * under the scan, else through copies (a thread that did not stop may free
 * and unmap a block meanwhile): a window of COPY_CHUNK bytes from a block
 * as far as its mappings go serves the blocks after it. A block that no
 * readable mapping holds is skipped, not read: the scan must never crash
 * the program. */
static void scan_blocks(struct scan *s)
{
    size_t k = 0;
    s->copy_lo = s->copy_hi = 0;
    for (int64_t i = 0; i < s->nlive; i++) {
        const struct rt_live *b = &s->live[i];
        uintptr_t run_end, end = b->addr + b->size;
        int how = b->size ? block_read(s, &k, b->addr, end, &run_end) : READ_NOT;
        if (how == READ_NOT)
            continue;
        if (how == READ_COPY && b->size <= COPY_CHUNK / 2 && (b->addr < s->copy_lo || end > s->copy_hi)) {
            size_t want = run_end - b->addr < COPY_CHUNK ? run_end - b->addr : COPY_CHUNK;
            s->copy_lo = b->addr;
            s->copy_hi = b->addr + rt_peek(s->copy, b->addr, want);
        }
        scan_block(s, i, how == READ_IN_PLACE);
    }
}

/* Scans root r from *at up to `to`, and moves *at there: from its copy,
 * or through copies (a module may have been unloaded since it was listed,
 * a thread that did not stop may end and unmap its stack). */
static void root_piece(struct scan *s, uint64_t src, const struct root *r, uintptr_t *at,
                       uintptr_t to)
{
    uintptr_t end = r->start + r->size;
    if (to > end)
        to = end;
    if (to <= *at)
        return;
    if (r->copy)
        scan_range(s, src, r->start, *at, to, (const char *)r->copy + (*at - r->start), r->loader);
    else
        s->unread += scan_copied(s, src, r->start, *at, to, r->loader);
    *at = to;
}

/* A root without the holes rt_pyobj names (sorted): the pieces between. */
static void scan_root(struct scan *s, uint64_t src, const struct root *r,
                      const struct rt_pyhole *holes, size_t nholes)
{
    uintptr_t at = r->start, end = r->start + r->size;
    for (size_t h = 0; h < nholes && at < end; h++) {
        const struct rt_pyhole *o = &holes[h];
        if (o->end <= at || o->start >= end)
            continue;
        uintptr_t step = o->stride ? o->stride : o->end - o->start;
        for (uintptr_t k = o->start; k < o->end && at < end; k += step) {
            root_piece(s, src, r, &at, k);
            uintptr_t skip = k + (o->stride ? o->width : step);
            if (skip > at)
                at = skip;
        }
    }
    root_piece(s, src, r, &at, end);
}

/* Scans the roots, then the blocks; see "Reads that cannot fault" in
 * docs/reachability.md. */
static void scan_all(struct scan *s)
{
    size_t nholes;
    const struct rt_pyhole *holes = rt_pyobj_holes(&nholes);
    for (size_t i = 0; i < s->nroots; i++) {
        const struct root *r = &s->roots[i];
        uint64_t src = (uint64_t)i | RT_EDGE_ROOT;
        if (r->block)
            emit_edge(s, src, 0, (uint64_t)find_block(s, r->start), 0);
        if (r->mapped) {
            struct mapped_scan m = {s, src, r};
            rt_maps_resident(s->pagemap, r->start, r->start + r->size, scan_mapped_run, &m);
            continue;
        }
        scan_root(s, src, r, holes, nholes);
    }
    scan_blocks(s);
    flush_edges(s);
}

/* ------------------------------------------------------- thread roots */

/* The DTV of the thread whose thread pointer is tp. The TCB points one
 * entry past the start of the DTV block, so a scan alone would make that
 * block only "possible"; the root says it is held, and scanning it holds
 * the dynamic TLS blocks it lists. A DTV that is not a heap block (the
 * main thread's first one comes from the dynamic linker) is read only for
 * live threads (`trusted`): a cached stack may hold anything. */
static void add_dtv(struct scan *s, uintptr_t tp, uint32_t kind, uint32_t owner, int trusted)
{
    uintptr_t dtv = rt_peek_word(tp + DTV_OFFSET);
    if (dtv < 16)
        return;
    uintptr_t base = dtv - 16;
    int64_t b = find_block(s, base);
    int is_block = b >= 0 && s->live[b].addr == base;
    if (!is_block && !trusted)
        return;
    uint64_t len = rt_peek_word(base);
    if (len > DTV_MAX)
        return;
    uintptr_t size = (uintptr_t)(len + 2) * 16;
    if (is_block && size > s->live[b].size)
        size = s->live[b].size;
    struct root *r = add_root(s, kind, owner, base, base + size);
    if (r)
        r->block = is_block;
}

/* A thread's stack from `sp` up, split at its static TLS + TCB when those
 * lie at the top of the stack mapping (every thread but the main one);
 * otherwise the TLS area is a root of its own. */
static void add_stack_and_tls(struct scan *s, const struct rt_stopped *t, uintptr_t sp)
{
    uintptr_t tls_lo = 0, tls_hi = 0, hi = t->stack_hi;
    if (!hi) {
        const struct rt_map *m = rt_maps_at(&s->maps, sp);
        hi = m ? m->end : sp;
    }
    int have_tls = t->tp && !rt_stop_tls_area(t->tp, &tls_lo, &tls_hi);
    if (have_tls && tls_lo > sp && tls_hi <= hi) {
        add_root(s, RT_ROOT_STACK, t->index, sp, tls_lo);
        add_root(s, RT_ROOT_TLS, t->index, tls_lo, hi);
    } else {
        add_root(s, RT_ROOT_STACK, t->index, sp, hi);
        if (have_tls)
            add_root(s, RT_ROOT_TLS, t->index, tls_lo, tls_hi);
    }
    if (t->tp)
        add_dtv(s, t->tp, RT_ROOT_TLS, t->index, 1);
}

/* A thread's whole stack, for a thread whose stack pointer is not known
 * or not on it. The main thread's stack_lo is where its stack may grow
 * to, not what is mapped: start at the mapping below stack_hi. */
static struct root *add_whole_stack(struct scan *s, const struct rt_stopped *t)
{
    const struct rt_map *m = t->stack_hi ? rt_maps_at(&s->maps, t->stack_hi - 1) : NULL;
    uintptr_t lo = t->stack_lo;
    if (m && m->start > lo)
        lo = m->start;
    return add_root(s, RT_ROOT_STACK, t->index, lo, t->stack_hi);
}

/* Copies the stack of a thread that is still running into arena memory,
 * now, before the scan (rt_peek.h: the thread may exit and unmap its stack
 * meanwhile). What cannot be read stays zero; without memory for the copy
 * the root is dropped. */
static void copy_root(struct scan *s, struct root *r)
{
    void *copy = rt_arena_alloc(r->size);
    if (!copy) {
        s->nroots--;
        return;
    }
    rt_peek(copy, r->start, r->size);
    r->copy = copy;
}

static void add_stopped_thread(struct scan *s, const struct rt_stopped *t)
{
    int state = atomic_load(&t->state);
    if (state == RT_STOP_GONE)
        return;
    if (state != RT_STOP_PARKED) {
        /* still running: a copy of its whole stack, no registers */
        struct root *r = add_whole_stack(s, t);
        if (r)
            copy_root(s, r);
        return;
    }
    /* registers first: the walk from the roots prefers the first root that
     * holds a block, and a stale copy below the stack pointer is not it */
    add_root(s, RT_ROOT_REGISTER, t->index, (uintptr_t)t->regs, (uintptr_t)(t->regs + t->nregs));
    uintptr_t sp = t->sp - RED_ZONE;
    const struct rt_map *own = t->stack_hi ? NULL : rt_maps_at(&s->maps, t->sp);
    if (own && sp < own->start)
        sp = own->start;
    if (t->stack_hi && (t->sp < t->stack_lo || t->sp > t->stack_hi)) {
        /* on an alternate signal stack: keep the whole thread stack too */
        add_whole_stack(s, t);
        const struct rt_map *m = rt_maps_at(&s->maps, t->sp);
        if (m)
            add_root(s, RT_ROOT_STACK, t->index, sp < m->start ? m->start : sp, m->end);
    } else {
        if (t->stack_lo && sp < t->stack_lo)
            sp = t->stack_lo;
        add_stack_and_tls(s, t, sp);
    }
}

/* The calling thread: from its own stack pointer, or at exit from the
 * point where nothing below is live any more. */
static void add_self(struct scan *s, uintptr_t sp)
{
    const struct rt_stopped *t = &s->stop.self;
    if (s->reason == 0) {
        uintptr_t exit_sp = rt_proc_exit_sp(), clean_sp = rt_proc_clean_sp();
        if (exit_sp && rt_proc_exit_tid() == t->tid)
            sp = exit_sp;
        else if (t->is_main && clean_sp)
            sp = clean_sp;
    }
    add_stack_and_tls(s, t, sp);
}

static int is_thread_stack(const struct scan *s, const struct rt_map *m)
{
    const struct rt_stopped *self = &s->stop.self;
    if (self->stack_hi > m->start && self->stack_lo < m->end)
        return 1;
    for (size_t i = 0; i < s->stop.n; i++) {
        const struct rt_stopped *t = &s->stop.t[i];
        if ((t->stack_hi > m->start && t->stack_lo < m->end) || (t->sp >= m->start && t->sp < m->end))
            return 1;
    }
    return 0;
}

/* Exited threads whose stacks glibc keeps for reuse still own a DTV and
 * dynamic TLS blocks: glibc's, not the program's. Such a stack is an
 * anonymous read-write mapping right above its PROT_NONE guard, with a TCB
 * at its top that points to itself (tcbhead_t.tcb and .self). */
static void add_cached_stacks(struct scan *s)
{
    for (size_t i = 1; i < s->maps.n; i++) {
        const struct rt_map *m = &s->maps.m[i], *g = &s->maps.m[i - 1];
        if (m->kind != RT_MAP_ANON || memcmp(m->perms, "rw-p", 4) || g->end != m->start || memcmp(g->perms, "---p", 4))
            continue;
        if (is_thread_stack(s, m))
            continue;
        uintptr_t tp = rt_stop_tp_for_stack_end(m->end);
        if (tp < m->start || tp + 24 > m->end)
            continue;
        uintptr_t tcb[3];
        if (rt_peek(tcb, tp, sizeof tcb) == sizeof tcb && tcb[0] == tp && tcb[2] == tp) {
            add_dtv(s, tp, RT_ROOT_OTHER, 0, 0);
            add_skip(s, m->start, m->end);
        }
    }
}

/* ------------------------------------------------------- mapped memory */

/* Every stack is scanned from its stack pointer up or not at all: what
 * lies below is dead. A thread the core never saw is known by the mapping
 * its stack pointer is in. A thread running on its alternate signal stack
 * has that part scanned as its stack (add_stopped_thread). */
static void skip_thread_stacks(struct scan *s)
{
    add_skip(s, s->stop.self.stack_lo, s->stop.self.stack_hi);
    add_skip(s, s->stop.self.alt_lo, s->stop.self.alt_hi);
    for (size_t i = 0; i < s->stop.n; i++) {
        const struct rt_stopped *t = &s->stop.t[i];
        const struct rt_map *m = rt_maps_at(&s->maps, t->sp);
        add_skip(s, t->alt_lo, t->alt_hi);
        if (t->stack_hi)
            add_skip(s, t->stack_lo, t->stack_hi);
        else if (m)
            add_skip(s, m->start, m->end);
    }
}

static void add_mapped_part(void *arg, uintptr_t start, uintptr_t end, int kind)
{
    struct scan *s = arg;
    struct root *r = add_root(s, RT_ROOT_MAPPED, 0, start, end);
    if (r)
        r->mapped = 1 + kind;
}

/* Memory the program mapped for itself: what no other root covers, minus
 * the runtime's regions, malloc's heaps, stacks and the dead part of
 * CPython's frame stacks (rt_scan_maps.h). When
 * the lists do not fit (regions made meanwhile), there is no such root:
 * blocks held only from there are then reported lost, as before.
 * The runtime's regions are listed after its last allocation for the
 * scan: one made later could land where the list of mappings (read
 * earlier) shows memory that the runtime has unmapped since, and would
 * be scanned as the program's. */
static void add_mapped_roots(struct scan *s)
{
    if (grow_roots(s, s->maps.n + s->skip_cap + 1) < 0)
        return;
    for (size_t i = 0; i < s->nroots; i++)
        add_skip(s, s->roots[i].start, s->roots[i].start + s->roots[i].size);
    for (size_t i = 0; i < s->nself_segs; i++)
        add_skip(s, s->self_segs[i].start, s->self_segs[i].end);
    skip_thread_stacks(s);
    size_t room = s->skip_cap - s->nskip;
    size_t n = rt_maps_glibc_heaps(&s->maps, s->skip + s->nskip, room);
    if (n > room)
        return;
    s->nskip += n;
    room -= n;
    n = rt_regions_list(s->skip + s->nskip, room);
    if (n > room)
        return;
    s->nskip += n;
    room -= n;
    n = rt_py_dead_stacks(s->skip + s->nskip, room);
    if (n > room)
        return;
    s->nskip += n;
    rt_maps_program_parts(&s->maps, s->skip, s->nskip, add_mapped_part, s);
}

/* A Python frame's locals (rt_pyobj_roots): copied like a running
 * thread's stack, since the frame may belong to a thread that would not
 * stop. */
static uint32_t add_py_root(void *ctx, uintptr_t start, uintptr_t size, uint32_t thread)
{
    struct scan *s = ctx;
    struct root *r = add_root(s, RT_ROOT_PYFRAME, thread, start, start + size);
    if (!r)
        return UINT32_MAX;
    copy_root(s, r);
    return r == &s->roots[s->nroots - 1] ? (uint32_t)(s->nroots - 1) : UINT32_MAX;
}

static int collect_thread_roots(struct scan *s, uintptr_t self_sp)
{
    if (grow_roots(s, 8 * (s->stop.n + 1) + s->maps.n + rt_pyobj_nframes() + 16) < 0)
        return -1;
    s->skip_cap = s->roots_cap + MAX_SELF_SEGS + s->maps.n + s->stop.n + 1 +
                  rt_maps_glibc_heaps(&s->maps, NULL, 0) + rt_regions_list(NULL, 0) +
                  rt_py_dead_stacks(NULL, 0) + 64;
    s->skip = rt_arena_alloc(s->skip_cap * sizeof *s->skip);
    if (!s->skip)
        return -1;
    rt_pyobj_roots(add_py_root, s);
    add_self(s, self_sp);
    for (size_t i = 0; i < s->stop.n; i++)
        add_stopped_thread(s, &s->stop.t[i]);
    add_cached_stacks(s);
    add_mapped_roots(s);
    return 0;
}

/* ------------------------------------------------------------ snapshot */

/* A snapshot is partial when a thread did not stop or memory the scan
 * was to read could not be read (a block or root unmapped under it). */
static void push_snap_end(uint32_t id, int partial, uint64_t edges)
{
    struct rt_rec r = {
        .type = RT_REC_SNAP_END,
        .u32 = partial ? RT_SNAP_PARTIAL : RT_SNAP_OK,
        .time_ns = rt_event_time(),
        .a = id,
        .b = edges,
    };
    rt_ring_push(&r, 1);
}

static void end_snapshot(struct scan *s)
{
    static const char why[] = "a heap snapshot could not read memory that was mapped when it "
                              "began; it is partial";
    if (s->unread)
        rt_ring_push_blob(RT_BLOB_NOTE, why, sizeof why - 1);
    push_snap_end(s->id, s->stop.partial || s->unread, s->nedges);
}

static void release_scan(struct scan *s)
{
    for (size_t i = 0; i < s->nroots; i++)
        if (s->roots[i].copy)
            rt_arena_free((void *)s->roots[i].copy, s->roots[i].size);
    if (s->roots)
        rt_arena_free(s->roots, s->roots_cap * sizeof *s->roots);
    rt_maps_release(&s->maps);
    if (s->skip)
        rt_arena_free(s->skip, s->skip_cap * sizeof *s->skip);
    if (s->copy)
        rt_arena_free(s->copy, COPY_CHUNK);
    if (s->first)
        rt_arena_free(s->first, (s->nbuckets + 1) * sizeof *s->first);
    rt_arena_free(s, sizeof *s);
}

/* Everything between stopping and releasing the threads. */
/* What rt_pyobj borrows from the scan. */
static int64_t py_find(const void *ctx, uintptr_t p)
{
    const struct scan *s = ctx;
    return p - s->lo < s->span ? find_block(s, p) : -1;
}

/* Blocks rt_pyobj may read in place (block_read). */
static int py_readable(const void *ctx, size_t *cursor, uintptr_t addr, uintptr_t end)
{
    uintptr_t run_end;
    return block_read(ctx, cursor, addr, end, &run_end) == READ_IN_PLACE;
}

static uint32_t py_thread(const void *ctx, int32_t tid)
{
    const struct scan *s = ctx;
    if (s->stop.self.tid == tid)
        return s->stop.self.index;
    for (size_t i = 0; i < s->stop.n; i++)
        if (s->stop.t[i].tid == tid)
            return s->stop.t[i].index;
    return UINT32_MAX;
}

/* The modules' writable segments (the global roots, listed before any
 * other), sorted by address. */
static size_t py_data(const struct scan *s, uintptr_t (*out)[2])
{
    size_t n = 0;
    for (size_t i = 0; i < s->nroots && s->roots[i].kind == RT_ROOT_GLOBAL; i++) {
        size_t k = n++;
        for (; k > 0 && out[k - 1][0] > s->roots[i].start; k--) {
            out[k][0] = out[k - 1][0];
            out[k][1] = out[k - 1][1];
        }
        out[k][0] = s->roots[i].start;
        out[k][1] = s->roots[i].start + s->roots[i].size;
    }
    return n;
}

/* The roots, the edges and the Python records of a snapshot. */
static void scan_and_emit(struct scan *s, uintptr_t self_sp)
{
    size_t cap = s->nroots + 1;
    uintptr_t (*data)[2] = rt_arena_alloc(cap * sizeof *data);
    struct rt_pyobj_scan py = {s->id, s->live, s->nlive, py_find, py_readable, py_thread, s,
                               (const uintptr_t (*)[2])data, data ? py_data(s, data) : 0};
    rt_pyobj_begin(&py);
    if (!collect_thread_roots(s, self_sp)) {
        emit_roots(s);
        s->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        scan_all(s);
        if (s->pagemap >= 0)
            close(s->pagemap);
        rt_pyobj_emit();
        end_snapshot(s);
    }
    rt_pyobj_end();
    if (data)
        rt_arena_free(data, cap * sizeof *data);
}

static void scan_stopped(struct scan *s, uintptr_t self_sp)
{
    s->nlive = rt_proc_request_live(s->id, s->reason, &s->live);
    if (s->nlive < 0)
        return;
    if (s->nlive == 0) {
        /* nothing to reach: the roots and the scan would find no edge (a
         * short command's exit snapshot read its mappings and pages for
         * nothing) */
        end_snapshot(s);
        return;
    }
    rt_peek_begin();
    rt_maps_read(&s->maps);
    if (!build_index(s))
        scan_and_emit(s, self_sp);
    rt_peek_end();
    rt_proc_release_live(s->live, s->nlive);
}

/* One snapshot at a time. A request finding another snapshot under way is
 * served by it; the exit snapshot waits for it (meanwhile the running one
 * stops this thread like any other). */
static int take_turn(uint32_t reason)
{
    while (atomic_exchange(&g_busy, 1)) {
        if (reason != 0)
            return 0;
        sched_yield();
    }
    return 1;
}

/* The exit snapshot of an image that holds no block (a short command that
 * never allocates): no roots to list, no thread to stop, nothing to scan,
 * which cost such a process about a tenth of a millisecond. The collector
 * still records it from the request. A first block that another thread
 * made meanwhile (its threads were not stopped) makes it partial. */
static void empty_exit_snapshot(void)
{
    uint32_t id = g_next_id++;
    const struct rt_live *live;
    int64_t n = rt_proc_request_live(id, 0, &live);
    if (n < 0)
        return;
    rt_proc_release_live(live, n);
    push_snap_end(id, n > 0 || !rt_proc_no_blocks(), 0);
}

void rt_scan_snapshot(uint32_t reason)
{
    if (!rt_proc_recording() || !take_turn(reason))
        return;
    if (reason == 0 && rt_proc_no_blocks()) {
        empty_exit_snapshot();
        atomic_store(&g_busy, 0);
        return;
    }
    int guard = rt_guard_enter();
    atomic_store(&rt_scan_pending, 0);
    /* spill callee-saved registers so that the caller's pointers held in
     * them lie in this frame, above the stack pointer read next */
    __builtin_unwind_init();
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    struct scan *s = rt_arena_alloc(sizeof *s);
    if (s) {
        s->id = g_next_id++;
        s->reason = reason;
        s->roots_cap = MAX_SEG_ROOTS;
        s->roots = rt_arena_alloc(s->roots_cap * sizeof *s->roots);
        s->copy = rt_arena_alloc(COPY_CHUNK);
    }
    if (s && s->roots && s->copy) {
        dl_iterate_phdr(module_segments, s);
        if (!rt_stop_all(&s->stop)) {
            scan_stopped(s, sp);
            rt_stop_release(&s->stop);
        }
    }
    if (s)
        release_scan(s);
    rt_guard_leave(guard);
    atomic_store(&g_busy, 0);
}

/* ------------------------------------------------------------- signals */

static void request_handler(int sig)
{
    (void)sig;
    atomic_store_explicit(&rt_scan_pending, 1, memory_order_relaxed);
}

static int request_signal(void)
{
    const char *env = getenv(RT_ENV_SNAPSIG);
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (!*end && n > 0 && n <= SIGRTMAX && n != RT_STOP_SIGNAL)
            return (int)n;
    }
    return SIGRTMIN + RT_SNAPSHOT_SIGNAL_OFFSET;
}

void rt_scan_init(void)
{
    rt_stop_init();
    int sig = request_signal();
    struct sigaction old, sa;
    if (sigaction(sig, NULL, &old) || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
        return; /* the program's own signal: leave it alone */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = request_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}
