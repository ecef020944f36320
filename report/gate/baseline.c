/* SPDX-License-Identifier: MIT
 *
 * baseline.c - writing and reading heapgraph-baseline/1 files (see
 * baseline.h and docs/baseline.md). Reading validates every field it uses:
 * a hand-edited or truncated baseline gives one error, never a crash.
 */
#include "report/gate/baseline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/gate/jsonread.h"
#include "report/model/infile.h"
#include "report/render/render.h"

/* ---- writing ---- */

static void write_stack(FILE *f, const struct rep_ck_stack *st)
{
    fputs("\"stack\": [", f);
    for (uint32_t i = 0; i < st->nframes; i++) {
        const struct rep_frame *fr = &st->frames[i];
        fputs(i ? ",\n      {\"function\": " : "\n      {\"function\": ", f);
        rep_json_puts(f, fr->function);
        fputs(", \"file\": ", f);
        rep_json_puts(f, fr->file);
        fprintf(f, ", \"line\": %u, \"module\": ", fr->line);
        rep_json_puts(f, fr->module);
        fprintf(f, ", \"offset\": %" PRIu64 "}", fr->offset);
    }
    fputs("]", f);
}

int rep_baseline_write(FILE *f, const struct rep_run *run)
{
    struct rep_run_totals t;
    rep_run_totals(run, 0, &t);
    uint64_t frees = 0, cycles = 0;
    for (uint32_t i = 0; i < run->nprocesses; i++) {
        frees += run->processes[i].frees;
        cycles += run->processes[i].cycles;
    }
    fprintf(f, "{\"schema\": \"" REP_BASELINE_SCHEMA "\",\n \"totals\": {\"processes\": %" PRIu32
            ", \"allocations\": %" PRIu64 ", \"frees\": %" PRIu64 ", \"allocated_bytes\": %"
            PRIu64 ", \"peak_bytes\": %" PRIu64 ", \"cycles\": %" PRIu64 "},\n \"leaks\": [",
            run->nprocesses, t.allocations, frees, t.allocated_bytes, t.peak_bytes, cycles);
    int first = 1;
    for (size_t i = 0; i < run->nleaks; i++) {
        const struct rep_ck_leak *l = &run->leaks[i];
        if (l->suppressed)
            continue;
        fprintf(f, "%s\n  {\"kind\": \"%s\", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64
                ", \"indirect_blocks\": %" PRIu64 ", \"indirect_bytes\": %" PRIu64 ", ",
                first ? "" : ",", rep_leak_kind_name(l->kind), l->blocks, l->bytes,
                l->indirect_blocks, l->indirect_bytes);
        write_stack(f, &l->stack);
        fputs("}", f);
        first = 0;
    }
    fputs("],\n \"sites\": [", f);
    for (size_t i = 0; i < run->nsites; i++) {
        const struct rep_ck_site *s = &run->sites[i];
        fprintf(f, "%s\n  {\"allocations\": %" PRIu64 ", \"bytes\": %" PRIu64
                ", \"live_blocks\": %" PRIu64 ", \"live_bytes\": %" PRIu64 ", ",
                i ? "," : "", s->allocations, s->bytes, s->live_blocks, s->live_bytes);
        write_stack(f, &s->stack);
        fputs("}", f);
    }
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- reading ---- */

static int bad(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "not a " REP_BASELINE_SCHEMA " file: %s", what);
    return -1;
}

static int read_stack(struct rep_run *run, const struct rep_json *e, struct rep_ck_stack *st,
                      char *err, size_t errlen)
{
    const struct rep_json *a = rep_json_get(e, "stack");
    if (!a || a->type != REP_JSON_ARRAY || a->n > UINT32_MAX)
        return bad(err, errlen, "an entry has no \"stack\" array");
    if (rep_run_alloc_frames(run, st, (uint32_t)a->n) < 0)
        return bad(err, errlen, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        const struct rep_json *fr = &a->items[i];
        struct rep_frame *o = &st->frames[i];
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
        if (!o->module)
            return bad(err, errlen, "out of memory");
    }
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

static int read_leaks(struct rep_run *run, const struct rep_json *a, char *err, size_t errlen)
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
            read_stack(run, e, &l->stack, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int read_sites(struct rep_run *run, const struct rep_json *a, char *err, size_t errlen)
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
            read_stack(run, e, &s->stack, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int rep_baseline_parse(const char *text, size_t len, struct rep_run *out,
                       char *err, size_t errlen)
{
    char jerr[128];
    struct rep_json *j = rep_json_parse(text, len, jerr, sizeof jerr);
    int ret = -1;
    if (!j)
        return bad(err, errlen, jerr);
    const char *schema = rep_json_get_str(j, "schema");
    const struct rep_json *t = rep_json_get(j, "totals");
    struct rep_ck_process *p;
    if (!schema || strcmp(schema, REP_BASELINE_SCHEMA)) {
        bad(err, errlen, "\"schema\" is not \"" REP_BASELINE_SCHEMA "\"");
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
        read_leaks(out, rep_json_get(j, "leaks"), err, errlen) < 0 ||
        read_sites(out, rep_json_get(j, "sites"), err, errlen) < 0)
        goto out;
    ret = 0;
out:
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
