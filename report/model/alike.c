/* SPDX-License-Identifier: MIT
 *
 * alike.c - one site per way a Python process's stack reads
 * (rep_capture_symbolize's last step).
 *
 * With the interpreter's own frames hidden, one Python line has several
 * recorded stacks that read the same: one per instruction of the line that
 * allocates (`a, b = Node(), Node()`), and one per path through the hidden
 * frames (3.11's specializing interpreter runs a call through its generic
 * path until the instruction is specialized, then through another). Kept
 * apart, a line's 200 cycles were four leak entries that all read
 * "make_pairs (app.py:9) < <module>", a list of top sites named one line
 * twice, and a gate's per-site figure saw a part of the line. So each
 * process's sites that read alike count under the first of them: its
 * figures become their sum, the others' are zero, and every snapshot block,
 * peak site and not-freed entry names that first site; classification then
 * groups by it. --interpreter-frames shows the frames that tell the stacks
 * apart, so it keeps every stack its own site, as do native processes.
 */
#include "report/model/replay.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

/* Frames read alike when they name the same function, file and line; a
 * frame without a function or line is its module and offset. */
static int known_line(const struct rep_frame *f)
{
    return f->function && f->line;
}

static uint64_t frame_hash(uint64_t h, const struct rep_frame *f)
{
    h = mix_str(mix_str(mix_str(h, f->function), f->file), known_line(f) ? NULL : f->module);
    h ^= f->line ^ (known_line(f) ? 0 : f->offset) ^ (uint64_t)f->python << 40 ^
         (uint64_t)f->inlined << 41;
    return h * 0x100000001b3ull;
}

static uint64_t look_hash(const struct rep_stack *st)
{
    uint64_t h = 0xcbf29ce484222325ull ^ st->nframes;
    if (st->made_by)
        h = frame_hash(h ^ 0x5a, st->made_by);
    for (uint32_t i = 0; i < st->nframes; i++)
        h = frame_hash(h, &st->frames[i]);
    return h;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int same_frame(const struct rep_frame *f, const struct rep_frame *g)
{
    if (f->line != g->line || f->python != g->python || f->inlined != g->inlined ||
        !same_str(f->function, g->function) || !same_str(f->file, g->file))
        return 0;
    return known_line(f) || (same_str(f->module, g->module) && f->offset == g->offset);
}

static int same_look(const struct rep_stack *a, const struct rep_stack *b)
{
    if (a->nframes != b->nframes || !a->made_by != !b->made_by ||
        (a->made_by && !same_frame(a->made_by, b->made_by)))
        return 0;
    for (uint32_t i = 0; i < a->nframes; i++)
        if (!same_frame(&a->frames[i], &b->frames[i]))
            return 0;
    return 1;
}

/* canon[i]: the first site that reads as site i does. Returns how many
 * sites have another as their first, or -1 when out of memory. */
static long find_alike(const struct rep_process *p, uint32_t *canon)
{
    struct rep_index idx = {0};
    long merged = 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct rep_stack *st = &p->stacks[i];
        canon[i] = (uint32_t)i;
        if (!st->nframes)
            continue;
        uint64_t h = look_hash(st);
        uint32_t k;
        while ((k = rep_index_get(&idx, h)) != REP_INDEX_NONE && !same_look(&p->stacks[k], st))
            h++;
        if (k != REP_INDEX_NONE) {
            canon[i] = k;
            merged++;
        } else if (rep_index_put(&idx, h, (uint32_t)i) < 0) {
            rep_index_release(&idx);
            return -1;
        }
    }
    rep_index_release(&idx);
    return merged;
}

static void add_site(struct rep_site *to, const struct rep_site *s)
{
    to->allocations += s->allocations;
    to->bytes += s->bytes;
    to->temporary += s->temporary;
    to->live_blocks += s->live_blocks;
    to->live_bytes += s->live_bytes;
    to->peak_blocks += s->peak_blocks;
    to->peak_bytes += s->peak_bytes;
    to->gc_freed += s->gc_freed;
    to->gc_freed_bytes += s->gc_freed_bytes;
    to->gc_freed_objects += s->gc_freed_objects;
}

/* The sites with every alike site's figures under its first, and the peak's
 * sites among them. */
static int merge_sites(struct rep_arena *a, struct rep_process *p, const uint32_t *canon)
{
    struct rep_site *sites = rep_arena_alloc(a, (p->nstacks + 1) * sizeof *sites);
    if (!sites)
        return -1;
    for (size_t i = 0; i < p->nstacks; i++)
        sites[i] = (struct rep_site){.stack = p->sites[i].stack};
    for (size_t i = 0; i < p->nstacks; i++)
        add_site(&sites[canon[i]], &p->sites[i]);
    size_t npeak;
    uint32_t *peak = rep_peak_sites(a, sites, p->nstacks, &npeak);
    if (!peak)
        return -1;
    p->sites = sites;
    p->peak_sites = peak;
    p->npeak_sites = npeak;
    return 0;
}

static int cmp_not_freed(const void *a, const void *b)
{
    const struct rep_leak *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

/* A process without an exit snapshot: its not-freed entries (one per site,
 * from the replay) merged by first site. */
static int merge_not_freed(struct rep_arena *a, struct rep_process *p, const uint32_t *canon)
{
    struct rep_leak *leaks = rep_arena_alloc(a, (p->nleaks + 1) * sizeof *leaks);
    uint32_t *at = malloc((p->nstacks + 1) * sizeof *at);
    if (!leaks || !at)
        return free(at), -1;
    for (size_t i = 0; i < p->nstacks; i++)
        at[i] = UINT32_MAX;
    size_t n = 0;
    for (size_t i = 0; i < p->nleaks; i++) {
        struct rep_leak l = p->leaks[i];
        l.site = canon[l.site];
        if (at[l.site] == UINT32_MAX) {
            at[l.site] = (uint32_t)n;
            leaks[n++] = l;
        } else {
            leaks[at[l.site]].blocks += l.blocks;
            leaks[at[l.site]].bytes += l.bytes;
        }
    }
    free(at);
    qsort(leaks, n, sizeof *leaks, cmp_not_freed);
    p->leaks = leaks;
    p->nleaks = n;
    return 0;
}

static int merge_process(struct rep_capture *cap, size_t index)
{
    struct rep_process *p = rep_rw_process(cap, index);
    struct rep_stream *rs = cap->replay->streams[index];
    uint32_t *canon = rep_arena_alloc(cap->arena, (p->nstacks + 1) * sizeof *canon);
    if (!canon)
        return -1;
    long merged = find_alike(p, canon);
    if (merged <= 0)
        return (int)merged;
    if (merge_sites(cap->arena, p, canon) < 0 ||
        (!p->exit_snapshot && merge_not_freed(cap->arena, p, canon) < 0))
        return -1;
    for (size_t k = 0; k < rs->nsnaps; k++)
        for (size_t b = 0; rs->snaps[k].pub.have_blocks && b < rs->snaps[k].pub.nblocks; b++)
            rs->snaps[k].blocks[b].site = canon[rs->snaps[k].blocks[b].site];
    p->site_canon = canon;
    return 0;
}

int rep_capture_merge_alike(struct rep_capture *cap)
{
    if (cap->interpreter_frames || cap->classified)
        return 0;
    for (size_t i = 0; i < cap->nprocesses; i++)
        if (cap->processes[i].python_frames && merge_process(cap, i) < 0)
            return -1;
    return 0;
}
