/* SPDX-License-Identifier: MIT
 *
 * json.c - the JSON report, schema heapgraph-report/2: the required fields
 * of docs/architecture.md plus the additions fixed for every helper
 * (complete, damage, notes, warnings, per-process peak, sites, threads,
 * snapshots, retention paths, cycle members), and each stack written once
 * (stacks.c) and referred to. docs/report.schema.json is its schema and
 * docs/report.md explains each field. Numbers are exact integers.
 */
#include "report/render/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct jw {
    FILE *f;
    const struct rep_render_opts *o;
    const struct rep_process *p;
    struct rep_stacktab *stacks;
    int oom;
};

static void key(FILE *f, const char *k)
{
    rep_json_puts(f, k);
    putc(':', f);
}

/* "k":"v", (or null) followed by a comma. */
static void kstr(FILE *f, const char *k, const char *v)
{
    key(f, k);
    rep_json_puts(f, v);
    putc(',', f);
}

/* A JSON array of strings. */
static void str_array(FILE *f, const char *const *s, size_t n)
{
    putc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            putc(',', f);
        rep_json_puts(f, s[i]);
    }
    putc(']', f);
}

static void num(FILE *f, const char *k, uint64_t v, int comma)
{
    key(f, k);
    fprintf(f, "%" PRIu64 "%s", v, comma ? "," : "");
}

/* The stack's innermost entry in the stack table, or null. */
static void stack(struct jw *w, uint32_t site)
{
    const struct rep_stack *s = w->p->sites[site].stack;
    uint32_t n = s->nframes;
    if (w->o->stack_depth && n > w->o->stack_depth)
        n = w->o->stack_depth;
    int64_t id = rep_stacktab_add(w->stacks, s->frames, n);
    w->oom |= id < 0;
    if (id > 0)
        fprintf(w->f, "%" PRId64, id - 1);
    else
        fputs("null", w->f);
}

/* ',"made_by":N', the frame the site's stack hides in front of those shown
 * (rep_stack.made_by): what tells apart sites whose stacks read the same. */
static void made_by(struct jw *w, uint32_t site)
{
    const struct rep_frame *o = w->p->sites[site].stack->made_by;
    if (!o)
        return;
    int64_t id = rep_stacktab_frame(w->stacks, o);
    w->oom |= id < 0;
    if (id >= 0)
        fprintf(w->f, ",\"made_by\":%" PRId64, id);
}

static void counts(FILE *f, const char *k, const struct rep_class_count *c, int comma)
{
    key(f, k);
    fprintf(f, "{\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64 "}%s", c->blocks, c->bytes,
            comma ? "," : "");
}

static void summary(struct jw *w)
{
    const struct rep_process *p = w->p;
    static const struct rep_summary zero;
    const struct rep_summary *s =
        p->exit_snapshot && p->exit_snapshot->classified ? &p->exit_snapshot->summary : &zero;
    FILE *f = w->f;
    key(f, "summary");
    putc('{', f);
    num(f, "allocations", p->allocations, 1);
    num(f, "frees", p->frees, 1);
    num(f, "allocated_bytes", p->allocated_bytes, 1);
    num(f, "peak_bytes", p->peak_bytes, 1);
    num(f, "live_blocks", p->live_blocks, 1);
    num(f, "live_bytes", p->live_bytes, 1);
    counts(f, "definite", &s->definite, 1);
    counts(f, "cycle", &s->cycle, 1);
    counts(f, "indirect", &s->indirect, 1);
    counts(f, "possible", &s->possible, 1);
    counts(f, "reachable", &s->reachable, 0);
    fputs("},", f);
}

static void site_entry(struct jw *w, uint32_t i)
{
    const struct rep_site *s = &w->p->sites[i];
    FILE *f = w->f;
    putc('{', f);
    key(f, "stack");
    stack(w, i);
    made_by(w, i);
    putc(',', f);
    num(f, "allocations", s->allocations, 1);
    num(f, "bytes", s->bytes, 1);
    num(f, "temporary", s->temporary, 1);
    num(f, "live_blocks", s->live_blocks, 1);
    num(f, "live_bytes", s->live_bytes, 1);
    num(f, "peak_bytes", s->peak_bytes, 1);
    num(f, "gc_freed", s->gc_freed, 1);
    num(f, "gc_freed_objects", s->gc_freed_objects, 0);
    putc('}', f);
}

static int site_list(struct jw *w, const char *name, int sort_key)
{
    size_t n;
    uint32_t *idx = rep_top_sites(w->p, sort_key, w->o->top ? w->o->top : 10, &n);
    if (!idx)
        return -1;
    key(w->f, name);
    putc('[', w->f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            putc(',', w->f);
        site_entry(w, idx[i]);
    }
    fputs("],", w->f);
    free(idx);
    return 0;
}

static void peak(struct jw *w)
{
    const struct rep_process *p = w->p;
    FILE *f = w->f;
    size_t n = p->npeak_sites, top = w->o->top ? w->o->top : 10;
    key(f, "peak");
    putc('{', f);
    num(f, "bytes", p->peak_bytes, 1);
    num(f, "blocks", p->peak_blocks, 1);
    num(f, "time_us", p->peak_time_us, 1);
    key(f, "sites");
    putc('[', f);
    for (size_t i = 0; i < n && i < top; i++) {
        const struct rep_site *s = &p->sites[p->peak_sites[i]];
        fputs(i ? ",{" : "{", f);
        key(f, "stack");
        stack(w, p->peak_sites[i]);
        putc(',', f);
        num(f, "bytes", s->peak_bytes, 1);
        num(f, "blocks", s->peak_blocks, 0);
        putc('}', f);
    }
    fputs("]},", f);
}

static const char *root_kind_name(unsigned k)
{
    static const char *const names[] = {"global", "stack", "tls", "register", "other",
                                        "python_frame", "mapped"};
    return k < 7 ? names[k] : "other";
}

static void retained_by(struct jw *w, const struct rep_retention *r)
{
    FILE *f = w->f;
    fputs(",\"retained_by\":{", f);
    kstr(f, "kind", root_kind_name(r->root_kind));
    key(f, "python");
    if (r->py_expr) {
        fputs("{", f);
        kstr(f, "holder", r->py_holder);
        key(f, "expression");
        rep_json_puts(f, r->py_expr);
        fputs("},", f);
    } else {
        fputs("null,", f);
    }
    kstr(f, "symbol", r->symbol);
    kstr(f, "module", r->module);
    kstr(f, "thread", r->thread);
    key(f, "path");
    putc('[', f);
    for (uint32_t i = 0; i < r->npath; i++) {
        /* [size, offset, stack]: a step per block, thousands per process */
        fprintf(f, "%s[%" PRIu64 ",%" PRIu64 ",", i ? "," : "", r->path[i].size, r->path[i].offset);
        stack(w, r->path[i].site);
        putc(']', f);
    }
    fputs("]}", f);
}

/* The leak entries: reachable ones with show_reachable only (a compiler's
 * or an interpreter's heap still reachable at exit is some 20,000 sites,
 * most of its report), at most max_leaks of them; leaks_omitted counts
 * what max_leaks left out. */
static void leaks(struct jw *w)
{
    const struct rep_process *p = w->p;
    FILE *f = w->f;
    uint64_t cut[3] = { 0 };
    size_t n = 0;
    key(f, "leaks");
    putc('[', f);
    for (size_t i = 0; i < p->nleaks; i++) {
        const struct rep_leak *l = &p->leaks[i];
        if (l->kind == REP_LEAK_REACHABLE && !w->o->show_reachable)
            continue;
        if (w->o->max_leaks && n == w->o->max_leaks) {
            cut[0]++;
            cut[1] += l->blocks + l->indirect_blocks;
            cut[2] += l->bytes + l->indirect_bytes;
            continue;
        }
        fputs(n++ ? ",{" : "{", f);
        kstr(f, "kind", rep_leak_kind_name(l->kind));
        num(f, "blocks", l->blocks, 1);
        num(f, "allocations", l->blocks, 1);
        num(f, "bytes", l->bytes, 1);
        num(f, "indirect_blocks", l->indirect_blocks, 1);
        num(f, "indirect_bytes", l->indirect_bytes, 1);
        num(f, "groups", l->ngroups, 1);
        key(f, "stack");
        stack(w, l->site);
        made_by(w, l->site);
        if (l->retained_by)
            retained_by(w, l->retained_by);
        putc('}', f);
    }
    fputs("],", f);
    if (cut[0])
        fprintf(f, "\"leaks_omitted\":{\"entries\":%" PRIu64 ",\"blocks\":%" PRIu64
                   ",\"bytes\":%" PRIu64 "},", cut[0], cut[1], cut[2]);
}

static const char *py_state_name(uint8_t state)
{
    static const char *const names[] = {"native", "pending", "untracked", "native_link"};
    return state < 4 ? names[state] : "native";
}

/* A member's Python facts: an object's reference count and how many of
 * those references come from the cycle, or the object a part belongs to. */
static void py_member(struct jw *w, const struct rep_snapshot *s, const struct rep_cycle *c,
                      uint32_t m)
{
    static const char *const roles[] = {NULL, "items", "keys", "values", "table", "dict"};
    const struct rep_pyblock *pb = s->py ? &s->py[c->members[m]] : NULL;
    FILE *f = w->f;
    if (!pb || (!pb->type && !pb->role)) {
        fputs(",\"python\":null", f);
        return;
    }
    fputs(",\"python\":{", f);
    if (pb->type)
        fprintf(f, "\"refcount\":%" PRIu64 ",\"refs_from_cycle\":%" PRIu32 ",\"finalizer\":%s,",
                pb->refcnt, c->internal_refs ? c->internal_refs[m] : 0,
                (w->p->pytypes[pb->type - 1].flags & REP_PYT_FINALIZER) ? "true" : "false");
    key(f, "role");
    rep_json_puts(f, pb->role <= REP_PYP_ATTR_DICT ? roles[pb->role] : NULL);
    fputs(",\"part_of\":", f);
    uint32_t owner = pb->role ? rep_cycle_member(c, pb->owner) : c->nmembers;
    if (owner < c->nmembers && c->members[owner] == pb->owner)
        fprintf(f, "%" PRIu32 "}", owner);
    else
        fputs("null}", f);
}

static void cycle(struct jw *w, const struct rep_snapshot *s, const struct rep_cycle *c)
{
    FILE *f = w->f;
    fprintf(f, "{\"blocks\":%" PRIu32 ",\"bytes\":%" PRIu64 ",\"root\":%s,", c->nmembers,
            c->bytes, c->root ? "true" : "false");
    if (c->nobjects)
        fprintf(f, "\"python\":{\"objects\":%" PRIu32 ",\"state\":\"%s\"},", c->nobjects,
                py_state_name(c->py_state));
    else
        fputs("\"python\":null,", f);
    fputs("\"members\":[", f);
    for (uint32_t m = 0; m < c->nmembers; m++) {
        const struct rep_block *b = &s->blocks[c->members[m]];
        fprintf(f, "%s{\"size\":%" PRIu64 ",\"stack\":", m ? "," : "", b->size);
        stack(w, b->site);
        fputs(",\"points_to\":[", f);
        int first = 1;
        for (uint32_t e = 0; e < c->nedges; e++) {
            if (c->edges[e].src != c->members[m])
                continue;
            fprintf(f, "%s{\"member\":%" PRIu32 ",\"offset\":%" PRIu64 ",\"label\":",
                    first ? "" : ",", rep_cycle_member(c, c->edges[e].dst), c->edges[e].src_off);
            rep_json_puts(f, c->labels ? c->labels[e] : NULL);
            putc('}', f);
            first = 0;
        }
        fputs("],\"type\":", f);
        uint32_t ty = s->py ? s->py[c->members[m]].type : 0;
        rep_json_puts(f, ty ? w->p->pytypes[ty - 1].name : b->type);
        py_member(w, s, c, m);
        putc('}', f);
    }
    fputs("]}", f);
}

/* "python_cycles": the exit snapshot's cycles of Python objects, grouped. */
static void python_cycles(struct jw *w)
{
    const struct rep_snapshot *s = w->p->exit_snapshot;
    FILE *f = w->f;
    key(f, "python_cycles");
    putc('[', f);
    for (size_t i = 0; s && i < s->npycycle_groups; i++) {
        const struct rep_pycycle_group *g = &s->pycycle_groups[i];
        fprintf(f, "%s{\"cycles\":%" PRIu32 ",\"objects\":%" PRIu32 ",\"blocks\":%" PRIu64
                ",\"bytes\":%" PRIu64 ",\"state\":\"%s\",", i ? "," : "", g->ncycles, g->objects,
                g->blocks, g->bytes, py_state_name(g->state));
        kstr(f, "types", g->types);
        kstr(f, "labels", g->labels);
        key(f, "stack");
        stack(w, g->site);
        putc('}', f);
    }
    fputs("],", f);
}

/* A snapshot's live Python objects by type ("python" of a snapshot). */
static void snapshot_python(struct jw *w, const struct rep_snapshot *s)
{
    FILE *f = w->f;
    if (!s->py) {
        fputs(",\"python\":null", f);
        return;
    }
    fprintf(f, ",\"python\":{\"objects\":%zu,\"gc_enabled\":%s,\"gc_garbage\":%" PRIu64
            ",\"types\":[", s->npyobjects, !s->gc_state_known ? "null" : s->gc_enabled ? "true" : "false",
            s->gc_garbage);
    for (size_t i = 0; i < s->ntypestats; i++) {
        const struct rep_typestat *t = &s->typestats[i];
        fputs(i ? ",{" : "{", f);
        kstr(f, "type", w->p->pytypes[t->type].name);
        fprintf(f, "\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"delta_count\":%" PRId64
                ",\"delta_bytes\":%" PRId64 "}", t->count, t->bytes, t->delta_count, t->delta_bytes);
    }
    fputs("]}", f);
}

static void gc_gens(FILE *f, const char *k, const struct rep_gc_gen *g, size_t at)
{
    key(f, k);
    fprintf(f, "[%" PRIu64 ",%" PRIu64 ",%" PRIu64 "],", *(const uint64_t *)((const char *)&g[0] + at),
            *(const uint64_t *)((const char *)&g[1] + at), *(const uint64_t *)((const char *)&g[2] + at));
}

/* "gc": what Python's cyclic garbage collector did, or null. */
static int gc_field(struct jw *w)
{
    const struct rep_process *p = w->p;
    FILE *f = w->f;
    if (!p->gc_seen) {
        fputs("\"gc\":null,", f);
        return 0;
    }
    const struct rep_gc_gen *g = p->gc_gens;
    fputs("\"gc\":{", f);
    gc_gens(f, "collections", g, offsetof(struct rep_gc_gen, collections));
    gc_gens(f, "collected", g, offsetof(struct rep_gc_gen, collected));
    gc_gens(f, "uncollectable", g, offsetof(struct rep_gc_gen, uncollectable));
    gc_gens(f, "collections_before", g, offsetof(struct rep_gc_gen, before_collections));
    gc_gens(f, "pause_us", g, offsetof(struct rep_gc_gen, pause_us));
    gc_gens(f, "longest_us", g, offsetof(struct rep_gc_gen, longest_us));
    num(f, "freed_blocks", p->gc_freed, 1);
    num(f, "freed_objects", p->gc_freed_objects, 1);
    key(f, "events");
    putc('[', f);
    for (size_t i = 0; i < p->ngc; i++)
        fprintf(f, "%s{\"time_us\":%" PRIu64 ",\"duration_us\":%" PRIu64 ",\"generation\":%" PRIu32
                ",\"collected\":%" PRIu64 ",\"uncollectable\":%" PRIu64 "}", i ? "," : "",
                p->gc[i].time_us, p->gc[i].duration_us, p->gc[i].generation, p->gc[i].collected,
                p->gc[i].uncollectable);
    fputs("],", f);
    size_t n;
    uint32_t *idx = rep_top_sites(p, 3, w->o->top ? w->o->top : 10, &n);
    if (!idx)
        return -1;
    key(f, "sites");
    putc('[', f);
    for (size_t i = 0; i < n; i++) {
        const struct rep_site *st = &p->sites[idx[i]];
        fprintf(f, "%s{\"freed_blocks\":%" PRIu64 ",\"freed_objects\":%" PRIu64
                ",\"freed_bytes\":%" PRIu64 ",\"stack\":", i ? "," : "", st->gc_freed,
                st->gc_freed_objects, st->gc_freed_bytes);
        stack(w, idx[i]);
        putc('}', f);
    }
    fputs("]},", f);
    free(idx);
    return 0;
}

static void cycles(struct jw *w)
{
    const struct rep_snapshot *s = w->p->exit_snapshot;
    key(w->f, "cycles");
    putc('[', w->f);
    for (size_t i = 0; s && i < s->ncycles; i++) {
        if (i)
            putc(',', w->f);
        cycle(w, s, &s->cycles[i]);
    }
    fputs("],", w->f);
}

static void snapshots(struct jw *w)
{
    const struct rep_process *p = w->p;
    FILE *f = w->f;
    key(f, "snapshots");
    putc('[', f);
    for (size_t i = 0; i < p->nsnapshots; i++) {
        const struct rep_snapshot *s = &p->snapshots[i];
        fprintf(f, "%s{\"id\":%" PRIu32 ",\"time_us\":%" PRIu64 ",\"reason\":\"%s\","
                "\"blocks\":%zu,\"bytes\":%" PRIu64 ",\"partial\":%s,\"grew\":[",
                i ? "," : "", s->id, s->time_us, s->reason ? "request" : "exit", s->nblocks,
                s->bytes, s->partial ? "true" : "false");
        for (size_t g = 0; g < s->ngrew; g++) {
            const struct rep_growth *gr = &s->grew[g];
            fprintf(f, "%s{\"kind\":\"%s\",\"stack\":", g ? "," : "", rep_leak_kind_name(gr->kind));
            stack(w, gr->site);
            fprintf(f, ",\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"delta_bytes\":%" PRId64 "}",
                    gr->blocks, gr->bytes, gr->delta_bytes);
        }
        putc(']', f);
        if (s->end_us && s->end_us >= s->time_us)
            fprintf(f, ",\"duration_us\":%" PRIu64, s->end_us - s->time_us);
        else
            fputs(",\"duration_us\":null", f);
        snapshot_python(w, s);
        putc('}', f);
    }
    fputs("],", f);
}

static void threads(struct jw *w)
{
    FILE *f = w->f;
    key(f, "threads");
    putc('[', f);
    for (size_t i = 0; i < w->p->nthreads; i++) {
        const struct rep_thread *t = &w->p->threads[i];
        fprintf(f, "%s{\"index\":%" PRIu32 ",\"tid\":%" PRId32 ",\"name\":", i ? "," : "",
                t->index, t->tid);
        rep_json_puts(f, t->name);
        putc('}', f);
    }
    fputs("],", f);
}

static void exit_field(FILE *f, const struct rep_process *p)
{
    key(f, "exit");
    if (p->ended && p->end_how == REP_END_EXIT)
        fprintf(f, "{\"status\":%d},", (int)p->end_code);
    else if (p->ended && p->end_how == REP_END_SIGNAL)
        fprintf(f, "{\"signal\":%d,\"core\":%s},", (int)p->end_code,
                (p->end_flags & REP_END_F_CORE) ? "true" : "false");
    else if (p->ended && p->end_how == REP_END_EXEC)
        fputs("{\"exec\":true},", f);
    else
        fputs("{\"unknown\":true},", f);
}

/* "python": the interpreter the process runs, or null. */
static void python_field(FILE *f, const struct rep_process *p)
{
    if (!p->python_version) {
        fputs("\"python\":null,", f);
        return;
    }
    uint32_t v = p->python_version;
    fprintf(f, "\"python\":{\"version\":\"%u.%u.%u\",\"frames\":%s,", v >> 24, v >> 16 & 0xff,
            v >> 8 & 0xff, p->python_frames ? "true" : "false");
    key(f, "allocator");
    rep_json_puts(f, rep_py_allocator_name(p->python_allocator));
    fputs("},", f);
}

static int process(struct jw *w)
{
    static const char *const origins[] = {"root", "fork", "exec", "spawn"};
    const struct rep_process *p = w->p;
    FILE *f = w->f;
    putc('{', f);
    fprintf(f, "\"pid\":%" PRId32 ",\"ppid\":%" PRId32 ",\"stream\":%" PRIu32 ",", p->pid,
            p->ppid, p->stream);
    key(f, "command");
    str_array(f, p->argv, p->argc);
    putc(',', f);
    kstr(f, "exe", p->exe);
    kstr(f, "origin", p->origin < 4 ? origins[p->origin] : "root");
    num(f, "start_us", p->start_us, 1);
    num(f, "end_us", p->end_us, 1);
    num(f, "duration_us", p->end_us > p->start_us ? p->end_us - p->start_us : 0, 1);
    exit_field(f, p);
    fprintf(f, "\"snapshot\":%s,", p->exit_snapshot ? "true" : "false");
    python_field(f, p);
    num(f, "events", p->events, 1);
    num(f, "frees_unknown", p->frees_unknown, 1);
    num(f, "reallocs", p->reallocs, 1);
    num(f, "inherited_blocks", p->inherited_blocks, 1);
    fprintf(f, "\"unjudged\":{\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64 "},",
            p->unjudged_blocks, p->unjudged_bytes);
    summary(w);
    peak(w);
    if (site_list(w, "sites", 0) < 0 || site_list(w, "sites_by_count", 1) < 0 ||
        site_list(w, "sites_by_temporary", 2) < 0)
        return -1;
    threads(w);
    snapshots(w);
    cycles(w);
    python_cycles(w);
    if (gc_field(w) < 0)
        return -1;
    leaks(w);
    key(f, "notes");
    str_array(f, p->notes, p->nnotes);
    putc(',', f);
    key(f, "losses");
    str_array(f, p->losses, p->nlosses);
    putc('}', f);
    return 0;
}

static void strings(FILE *f, const char *k, const char *const *s, size_t n)
{
    key(f, k);
    str_array(f, s, n);
    putc(',', f);
}

/* The processes of the report; 0, or -1 when out of memory. */
static int processes(struct jw *w, const struct rep_capture *cap)
{
    key(w->f, "processes");
    putc('[', w->f);
    int first = 1;
    for (size_t i = 0; i < cap->nprocesses; i++) {
        w->p = &cap->processes[i];
        if (!rep_process_selected(w->p, w->o->process))
            continue;
        if (!first)
            putc(',', w->f);
        first = 0;
        if (process(w) < 0)
            return -1;
    }
    putc(']', w->f);
    return w->oom ? -1 : 0;
}

int rep_render_json(FILE *out, const struct rep_capture *cap, const struct rep_render_opts *o,
                    char *err, size_t errlen)
{
    struct jw w = {out, o, NULL, o->stacks ? o->stacks : rep_stacktab_new(), 0};
    if (!w.stacks)
        return snprintf(err, errlen, "out of memory"), -1;
    fputs("{\"schema\":\"heapgraph-report/2\",", out);
    kstr(out, "capture", cap->path);
    fprintf(out, "\"complete\":%s,\"damage\":", cap->complete ? "true" : "false");
    if (cap->damaged) {
        fprintf(out, "{\"offset\":%" PRIu64 ",\"message\":", cap->damage_offset);
        rep_json_puts(out, cap->damage_message);
        fputs("},", out);
    } else {
        fputs("null,", out);
    }
    num(out, "events", cap->events, 1);
    strings(out, "notes", cap->notes, cap->nnotes);
    strings(out, "losses", cap->losses, cap->nlosses);
    strings(out, "warnings", cap->warnings, cap->nwarnings);
    int rc = processes(&w, cap);
    if (rc == 0 && !o->stacks) {
        putc(',', out);
        rep_stacktab_write_json(out, w.stacks);
    }
    if (!o->stacks)
        rep_stacktab_free(w.stacks);
    if (rc < 0)
        return snprintf(err, errlen, "out of memory"), -1;
    fputs(o->stacks ? "}" : "}\n", out);
    if (ferror(out))
        return snprintf(err, errlen, "%s", strerror(errno)), -1;
    return 0;
}
