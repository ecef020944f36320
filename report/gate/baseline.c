/* SPDX-License-Identifier: MIT
 *
 * baseline.c - writing heapgraph-baseline/2 files and reading /2 and /1 (see
 * baseline.h and docs/baseline.md). Reading validates every field it uses:
 * a hand-edited or truncated baseline gives one error, never a crash.
 */
#include "report/gate/baseline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/gate/jsonread.h"
#include "report/model/arena.h"
#include "report/model/infile.h"
#include "report/render/render.h"

/* ---- writing ---- */

/* Stacks are written once: a table of distinct frames and a tree of call
 * paths whose entries are a frame and the entry of its caller, so that
 * sites share the outer part of their stacks. A Python program has a site
 * per bytecode instruction that allocated, some forty frames deep: written
 * in full, the baseline of a small script took 300 MB. */
static _Thread_local int bl_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (bl_oom = 1)
#include <uthash.h>

struct bl_entry {
    UT_hash_handle hh;
    char *key;
    uint32_t id;
};

struct bl_writer {
    struct bl_entry *frame_index, *stack_index;
    const struct rep_frame **frames;    /* by id */
    size_t nframes, frames_cap;
    uint32_t (*stacks)[2];              /* by id: frame, caller + 1 (0: none) */
    size_t nstacks, stacks_cap;
    uint32_t *leak_stack, *site_stack;  /* stack id + 1 of each entry (0: empty) */
};

/* The id of key in *index (taking key), or a new one: *fresh is set. */
static long intern(struct bl_entry **index, char *key, size_t len, uint32_t next, int *fresh)
{
    struct bl_entry *e = NULL;
    *fresh = 0;
    HASH_FIND(hh, *index, key, len, e);
    if (e) {
        free(key);
        return e->id;
    }
    if (!(e = malloc(sizeof *e))) {
        free(key);
        return -1;
    }
    e->key = key;
    e->id = next;
    bl_oom = 0;
    HASH_ADD_KEYPTR(hh, *index, e->key, len, e);
    if (bl_oom) {
        free(key);
        free(e);
        return -1;
    }
    *fresh = 1;
    return next;
}

static long frame_id(struct bl_writer *w, const struct rep_frame *fr)
{
    const char *fn = fr->function, *file = fr->file, *mod = fr->module ? fr->module : "?";
    size_t cap = (fn ? strlen(fn) : 0) + (file ? strlen(file) : 0) + strlen(mod) + 48;
    char *key = malloc(cap);
    int fresh;
    if (!key || rep_grow((void **)&w->frames, &w->frames_cap, w->nframes + 1,
                         sizeof *w->frames) < 0) {
        free(key);
        return -1;
    }
    /* a marker before each string tells a missing one from an empty one */
    size_t len = (size_t)snprintf(key, cap, "%c%s%c%c%s%c%s%c%u:%" PRIx64, fn ? '+' : '-',
                                  fn ? fn : "", 0, file ? '+' : '-', file ? file : "", 0, mod,
                                  0, fr->line, fr->offset);
    long id = intern(&w->frame_index, key, len, (uint32_t)w->nframes, &fresh);
    if (fresh)
        w->frames[w->nframes++] = fr;
    return id;
}

static long stack_id(struct bl_writer *w, uint32_t frame, uint32_t caller)
{
    uint32_t pair[2] = {frame, caller};
    char *key = malloc(sizeof pair);
    int fresh;
    if (!key || rep_grow((void **)&w->stacks, &w->stacks_cap, w->nstacks + 1,
                         sizeof *w->stacks) < 0) {
        free(key);
        return -1;
    }
    memcpy(key, pair, sizeof pair);
    long id = intern(&w->stack_index, key, sizeof pair, (uint32_t)w->nstacks, &fresh);
    if (fresh)
        memcpy(w->stacks[w->nstacks++], pair, sizeof pair);
    return id;
}

/* The id + 1 of st's innermost entry in the tree (0: an empty stack). */
static long add_stack(struct bl_writer *w, const struct rep_ck_stack *st)
{
    long caller = 0;
    for (uint32_t i = st->nframes; i-- > 0;) {
        long f = frame_id(w, &st->frames[i]);
        long s = f < 0 ? -1 : stack_id(w, (uint32_t)f, (uint32_t)caller);
        if (s < 0)
            return -1;
        caller = s + 1;
    }
    return caller;
}

static void free_index(struct bl_entry **index)
{
    struct bl_entry *e, *tmp;
    HASH_ITER(hh, *index, e, tmp) {
        HASH_DEL(*index, e);
        free(e->key);
        free(e);
    }
}

static void writer_free(struct bl_writer *w)
{
    free_index(&w->frame_index);
    free_index(&w->stack_index);
    free(w->frames);
    free(w->stacks);
    free(w->leak_stack);
    free(w->site_stack);
}

static int writer_fill(struct bl_writer *w, const struct rep_run *run)
{
    w->leak_stack = calloc(run->nleaks + 1, sizeof *w->leak_stack);
    w->site_stack = calloc(run->nsites + 1, sizeof *w->site_stack);
    if (!w->leak_stack || !w->site_stack)
        return -1;
    for (size_t i = 0; i < run->nleaks; i++) {
        long s = run->leaks[i].suppressed ? 0 : add_stack(w, &run->leaks[i].stack);
        if (s < 0)
            return -1;
        w->leak_stack[i] = (uint32_t)s;
    }
    for (size_t i = 0; i < run->nsites; i++) {
        long s = add_stack(w, &run->sites[i].stack);
        if (s < 0)
            return -1;
        w->site_stack[i] = (uint32_t)s;
    }
    return 0;
}

static void write_stack_ref(FILE *f, uint32_t id)
{
    if (id)
        fprintf(f, "\"stack\": %" PRIu32 "}", id - 1);
    else
        fputs("\"stack\": null}", f);
}

static void write_tables(FILE *f, const struct bl_writer *w)
{
    fputs(",\n \"frames\": [", f);
    for (size_t i = 0; i < w->nframes; i++) {
        const struct rep_frame *fr = w->frames[i];
        fputs(i ? ",\n  {\"function\": " : "\n  {\"function\": ", f);
        rep_json_puts(f, fr->function);
        fputs(", \"file\": ", f);
        rep_json_puts(f, fr->file);
        fprintf(f, ", \"line\": %u, \"module\": ", fr->line);
        rep_json_puts(f, fr->module);
        fprintf(f, ", \"offset\": %" PRIu64 "}", fr->offset);
    }
    fputs("],\n \"stacks\": [", f);
    for (size_t i = 0; i < w->nstacks; i++) {
        fprintf(f, "%s[%" PRIu32 ", ", i ? (i % 8 ? ", " : ",\n  ") : "\n  ", w->stacks[i][0]);
        if (w->stacks[i][1])
            fprintf(f, "%" PRIu32 "]", w->stacks[i][1] - 1);
        else
            fputs("null]", f);
    }
    fputs("]", f);
}

static void write_entries(FILE *f, const struct rep_run *run, const struct bl_writer *w)
{
    int first = 1;
    fputs(",\n \"leaks\": [", f);
    for (size_t i = 0; i < run->nleaks; i++) {
        const struct rep_ck_leak *l = &run->leaks[i];
        if (l->suppressed)
            continue;
        fprintf(f, "%s\n  {\"kind\": \"%s\", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64
                ", \"indirect_blocks\": %" PRIu64 ", \"indirect_bytes\": %" PRIu64 ", ",
                first ? "" : ",", rep_leak_kind_name(l->kind), l->blocks, l->bytes,
                l->indirect_blocks, l->indirect_bytes);
        write_stack_ref(f, w->leak_stack[i]);
        first = 0;
    }
    fputs("],\n \"sites\": [", f);
    for (size_t i = 0; i < run->nsites; i++) {
        const struct rep_ck_site *s = &run->sites[i];
        fprintf(f, "%s\n  {\"allocations\": %" PRIu64 ", \"bytes\": %" PRIu64
                ", \"live_blocks\": %" PRIu64 ", \"live_bytes\": %" PRIu64 ", ",
                i ? "," : "", s->allocations, s->bytes, s->live_blocks, s->live_bytes);
        write_stack_ref(f, w->site_stack[i]);
    }
    fputs("]}\n", f);
}

int rep_baseline_write(FILE *f, const struct rep_run *run)
{
    struct rep_run_totals t;
    struct bl_writer w = {0};
    rep_run_totals(run, 0, &t);
    uint64_t frees = 0, cycles = 0;
    for (uint32_t i = 0; i < run->nprocesses; i++) {
        frees += run->processes[i].frees;
        cycles += run->processes[i].cycles;
    }
    if (writer_fill(&w, run) < 0) {
        writer_free(&w);
        errno = ENOMEM;
        return -1;
    }
    fprintf(f, "{\"schema\": \"" REP_BASELINE_SCHEMA "\",\n \"totals\": {\"processes\": %" PRIu32
            ", \"allocations\": %" PRIu64 ", \"frees\": %" PRIu64 ", \"allocated_bytes\": %"
            PRIu64 ", \"peak_bytes\": %" PRIu64 ", \"cycles\": %" PRIu64 "}",
            run->nprocesses, t.allocations, frees, t.allocated_bytes, t.peak_bytes, cycles);
    write_tables(f, &w);
    write_entries(f, run, &w);
    writer_free(&w);
    return ferror(f) ? -1 : 0;
}

/* ---- reading ---- */

static int bad(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "not a " REP_BASELINE_SCHEMA " file: %s", what);
    return -1;
}

static int read_frame(struct rep_run *run, const struct rep_json *fr, struct rep_frame *o,
                      char *err, size_t errlen)
{
    uint64_t line = 0;
    if (fr->type != REP_JSON_OBJECT)
        return bad(err, errlen, "a stack frame is not an object");
    rep_json_get_u64(fr, "line", &line);
    rep_json_get_u64(fr, "offset", &o->offset);
    o->line = line > UINT32_MAX ? 0 : (unsigned)line;
    const char *mod = rep_json_get_str(fr, "module");
    o->function = rep_run_strdup(run, rep_json_get_str(fr, "function"));
    o->file = rep_run_strdup(run, rep_json_get_str(fr, "file"));
    o->module = rep_run_strdup(run, mod ? mod : "?");
    return o->module ? 0 : bad(err, errlen, "out of memory");
}

/* The frame and stack tables of a version 2 file; a version 1 file has
 * none (nframes and nstacks 0, frames NULL) and its stacks inline. */
struct bl_tables {
    struct rep_ck_stack frames;   /* the distinct frames, in the run's memory */
    uint32_t (*stacks)[3];        /* frame, caller + 1 (0: none), depth */
    size_t nstacks;
    int inline_stacks;            /* version 1 */
};

static int read_frames(struct rep_run *run, const struct rep_json *a, struct bl_tables *t,
                       char *err, size_t errlen)
{
    if (!a || a->type != REP_JSON_ARRAY || a->n > UINT32_MAX)
        return bad(err, errlen, "no \"frames\" array");
    if (rep_run_alloc_frames(run, &t->frames, (uint32_t)a->n) < 0)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < a->n; i++)
        if (read_frame(run, &a->items[i], &t->frames.frames[i], err, errlen) < 0)
            return -1;
    return 0;
}

/* Each entry is [frame, caller]: a caller is an earlier entry or null, so
 * the tree has no loop and depths are known in one pass. */
static int read_stacks(const struct rep_json *a, struct bl_tables *t, char *err, size_t errlen)
{
    if (!a || a->type != REP_JSON_ARRAY)
        return bad(err, errlen, "no \"stacks\" array");
    if (a->n && !(t->stacks = malloc(a->n * sizeof *t->stacks)))
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        const struct rep_json *e = &a->items[i];
        if (e->type != REP_JSON_ARRAY || e->n != 2 || !e->items[0].is_uint ||
            e->items[0].u >= t->frames.nframes ||
            (e->items[1].type != REP_JSON_NULL && (!e->items[1].is_uint || e->items[1].u >= i)))
            return bad(err, errlen, "a \"stacks\" entry is not [frame, earlier entry or null]");
        uint32_t caller = e->items[1].type == REP_JSON_NULL ? 0 : (uint32_t)e->items[1].u + 1;
        t->stacks[i][0] = (uint32_t)e->items[0].u;
        t->stacks[i][1] = caller;
        t->stacks[i][2] = caller ? t->stacks[caller - 1][2] + 1 : 1;
    }
    t->nstacks = a->n;
    return 0;
}

/* An entry's stack: inline frames (version 1) or an index into the tree. */
static int read_stack(struct rep_run *run, const struct rep_json *e, const struct bl_tables *t,
                      struct rep_ck_stack *st, char *err, size_t errlen)
{
    const struct rep_json *a = rep_json_get(e, "stack");
    if (t->inline_stacks) {
        if (!a || a->type != REP_JSON_ARRAY || a->n > UINT32_MAX)
            return bad(err, errlen, "an entry has no \"stack\" array");
        if (rep_run_alloc_frames(run, st, (uint32_t)a->n) < 0)
            return bad(err, errlen, "out of memory");
        for (size_t i = 0; i < a->n; i++)
            if (read_frame(run, &a->items[i], &st->frames[i], err, errlen) < 0)
                return -1;
        return 0;
    }
    if (a && a->type == REP_JSON_NULL)
        return rep_run_alloc_frames(run, st, 0);
    if (!a || !a->is_uint || a->u >= t->nstacks)
        return bad(err, errlen, "an entry's \"stack\" is not an entry of \"stacks\" or null");
    uint32_t id = (uint32_t)a->u + 1;
    if (rep_run_alloc_frames(run, st, t->stacks[id - 1][2]) < 0)
        return bad(err, errlen, "out of memory");
    for (uint32_t i = 0; id; i++, id = t->stacks[id - 1][1])
        st->frames[i] = t->frames.frames[t->stacks[id - 1][0]];
    return 0;
}

static int need_u64(const struct rep_json *o, const char *key, uint64_t *v, char *err,
                    size_t errlen)
{
    char what[80];
    if (rep_json_get_u64(o, key, v) == 0)
        return 0;
    snprintf(what, sizeof what, "\"%s\" missing or not a non-negative integer", key);
    return bad(err, errlen, what);
}

static int kind_of(const char *name)
{
    for (int k = 0; name && k < REP_LEAK_NKINDS; k++)
        if (!strcmp(name, rep_leak_kind_name(k)))
            return k;
    return -1;
}

static int read_leaks(struct rep_run *run, const struct rep_json *a, const struct bl_tables *t,
                      char *err, size_t errlen)
{
    if (!a || a->type != REP_JSON_ARRAY)
        return bad(err, errlen, "no \"leaks\" array");
    for (size_t i = 0; i < a->n; i++) {
        const struct rep_json *e = &a->items[i];
        int kind = kind_of(rep_json_get_str(e, "kind"));
        if (kind < 0 || kind == REP_LEAK_INDIRECT)
            return bad(err, errlen, "a leak has no valid \"kind\"");
        struct rep_ck_leak *l = rep_run_add_leak(run, 0, kind);
        if (!l)
            return bad(err, errlen, "out of memory");
        if (need_u64(e, "blocks", &l->blocks, err, errlen) < 0 ||
            need_u64(e, "bytes", &l->bytes, err, errlen) < 0 ||
            need_u64(e, "indirect_blocks", &l->indirect_blocks, err, errlen) < 0 ||
            need_u64(e, "indirect_bytes", &l->indirect_bytes, err, errlen) < 0 ||
            read_stack(run, e, t, &l->stack, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int read_sites(struct rep_run *run, const struct rep_json *a, const struct bl_tables *t,
                      char *err, size_t errlen)
{
    if (!a || a->type != REP_JSON_ARRAY)
        return bad(err, errlen, "no \"sites\" array");
    for (size_t i = 0; i < a->n; i++) {
        const struct rep_json *e = &a->items[i];
        struct rep_ck_site *s = rep_run_add_site(run, 0);
        if (!s)
            return bad(err, errlen, "out of memory");
        if (need_u64(e, "allocations", &s->allocations, err, errlen) < 0 ||
            need_u64(e, "bytes", &s->bytes, err, errlen) < 0 ||
            need_u64(e, "live_blocks", &s->live_blocks, err, errlen) < 0 ||
            need_u64(e, "live_bytes", &s->live_bytes, err, errlen) < 0 ||
            read_stack(run, e, t, &s->stack, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int rep_baseline_parse(const char *text, size_t len, struct rep_run *out,
                       char *err, size_t errlen)
{
    char jerr[128];
    struct rep_json *j = rep_json_parse(text, len, jerr, sizeof jerr);
    struct bl_tables tab = {{0, NULL}, NULL, 0, 0};
    int ret = -1;
    if (!j)
        return bad(err, errlen, jerr);
    const char *schema = rep_json_get_str(j, "schema");
    const struct rep_json *t = rep_json_get(j, "totals");
    struct rep_ck_process *p;
    int v1 = schema && !strcmp(schema, REP_BASELINE_SCHEMA_1);
    tab.inline_stacks = v1;
    if (!v1 && (!schema || strcmp(schema, REP_BASELINE_SCHEMA))) {
        bad(err, errlen, "\"schema\" is not \"" REP_BASELINE_SCHEMA "\" (or /1)");
        goto out;
    }
    if (!(p = rep_run_add_process(out))) {
        bad(err, errlen, "out of memory");
        goto out;
    }
    p->snapshot = 1;
    p->command = "(baseline)";
    if (need_u64(t, "allocations", &p->allocations, err, errlen) < 0 ||
        need_u64(t, "frees", &p->frees, err, errlen) < 0 ||
        need_u64(t, "allocated_bytes", &p->allocated_bytes, err, errlen) < 0 ||
        need_u64(t, "peak_bytes", &p->peak_bytes, err, errlen) < 0 ||
        need_u64(t, "cycles", &p->cycles, err, errlen) < 0 ||
        (!v1 && (read_frames(out, rep_json_get(j, "frames"), &tab, err, errlen) < 0 ||
                 read_stacks(rep_json_get(j, "stacks"), &tab, err, errlen) < 0)) ||
        read_leaks(out, rep_json_get(j, "leaks"), &tab, err, errlen) < 0 ||
        read_sites(out, rep_json_get(j, "sites"), &tab, err, errlen) < 0)
        goto out;
    ret = 0;
out:
    free(tab.stacks);
    rep_json_free(j);
    if (ret < 0)
        rep_run_release(out);
    return ret;
}

int rep_baseline_read(const char *path, struct rep_run *out, char *err, size_t errlen)
{
    char why[128], inner[200];
    size_t len;
    char *text = rep_read_input(path, REP_BASELINE_MAX_FILE, &len, why, sizeof why);
    int ret = -1;
    if (!text)
        snprintf(err, errlen, "%s: %s", path, why);
    else if (rep_baseline_parse(text, len, out, inner, sizeof inner) < 0)
        snprintf(err, errlen, "%s: %s", path, inner);
    else
        ret = 0;
    free(text);
    return ret;
}

int rep_baseline_sniff(const char *path)
{
    char why[128];
    FILE *f = rep_open_input(path, why, sizeof why);
    int c;
    if (!f)
        return -1;
    while ((c = getc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r')
        ;
    fclose(f);
    return c == '{';
}
