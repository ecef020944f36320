/* SPDX-License-Identifier: MIT
 *
 * compare.c - the difference of two runs (see compare.h). Both runs' sites (and
 * leak entries) are keyed by the function names of their stacks, sorted
 * together by key, and each run of equal keys is merged into one row, so
 * the cost is one sort of both runs' entries.
 */
#include "report/gate/compare.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/render/render.h"

struct item {
    char *key;
    int side;                 /* 0 base, 1 now */
    const void *entry;        /* rep_ck_site or rep_ck_leak */
};

static int by_key(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->side - y->side;
}

/* key = prefix + stack key; NULL when out of memory. */
static char *make_key(const char *prefix, const struct rep_ck_stack *st)
{
    size_t p = strlen(prefix), n = rep_ck_stack_key(st, NULL, 0);
    char *k = malloc(p + n + 1);
    if (!k)
        return NULL;
    memcpy(k, prefix, p);
    rep_ck_stack_key(st, k + p, n + 1);
    return k;
}

static void free_items(struct item *it, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(it[i].key);
    free(it);
}

static int collect_sites(const struct rep_run *r, int side, struct item *it, size_t *n)
{
    for (size_t i = 0; i < r->nsites; i++) {
        it[*n] = (struct item){make_key("", &r->sites[i].stack), side, &r->sites[i]};
        if (!it[*n].key)
            return -1;
        (*n)++;
    }
    return 0;
}

static int collect_leaks(const struct rep_run *r, int side, unsigned mask, struct item *it,
                         size_t *n)
{
    for (size_t i = 0; i < r->nleaks; i++) {
        const struct rep_ck_leak *l = &r->leaks[i];
        if (l->suppressed || !rep_ck_leak_blocks(l, mask))
            continue;
        it[*n] = (struct item){make_key(rep_leak_kind_name(l->kind), &l->stack), side, l};
        if (!it[*n].key)
            return -1;
        (*n)++;
    }
    return 0;
}

static void add_counts(struct rep_diff_counts *c, const struct rep_ck_site *s)
{
    c->allocations += s->allocations;
    c->bytes += s->bytes;
    c->live_blocks += s->live_blocks;
    c->live_bytes += s->live_bytes;
}

static uint64_t absdiff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

static int site_order(const void *a, const void *b)
{
    const struct rep_diff_site *x = a, *y = b;
    uint64_t dx = absdiff(x->now.bytes, x->base.bytes), dy = absdiff(y->now.bytes, y->base.bytes);
    if (dx != dy)
        return dx < dy ? 1 : -1;
    dx = absdiff(x->now.live_bytes, x->base.live_bytes);
    dy = absdiff(y->now.live_bytes, y->base.live_bytes);
    return dx < dy ? 1 : dx > dy ? -1 : 0;
}

static int leak_order(const void *a, const void *b)
{
    const struct rep_diff_leak *x = a, *y = b;
    if (x->status != y->status)
        return x->status < y->status ? -1 : 1;
    uint64_t dx = absdiff(x->new_bytes, x->base_bytes), dy = absdiff(y->new_bytes, y->base_bytes);
    return dx < dy ? 1 : dx > dy ? -1 : 0;
}

static int merge_sites(struct rep_diff *d, struct item *it, size_t n)
{
    d->sites = malloc((n ? n : 1) * sizeof *d->sites);
    if (!d->sites)
        return -1;
    for (size_t i = 0; i < n;) {
        struct rep_diff_site s = {0};
        size_t j = i;
        for (; j < n && !strcmp(it[j].key, it[i].key); j++) {
            const struct rep_ck_site *e = it[j].entry;
            add_counts(it[j].side ? &s.now : &s.base, e);
            if (!s.stack || it[j].side)
                s.stack = &e->stack;
        }
        if (memcmp(&s.base, &s.now, sizeof s.base))
            d->sites[d->nsites++] = s;
        i = j;
    }
    qsort(d->sites, d->nsites, sizeof *d->sites, site_order);
    return 0;
}

static int merge_leaks(struct rep_diff *d, struct item *it, size_t n, unsigned mask)
{
    d->leaks = malloc((n ? n : 1) * sizeof *d->leaks);
    if (!d->leaks)
        return -1;
    for (size_t i = 0; i < n;) {
        struct rep_diff_leak l = {0};
        size_t j = i;
        for (; j < n && !strcmp(it[j].key, it[i].key); j++) {
            const struct rep_ck_leak *e = it[j].entry;
            uint64_t *blocks = it[j].side ? &l.new_blocks : &l.base_blocks;
            uint64_t *bytes = it[j].side ? &l.new_bytes : &l.base_bytes;
            *blocks += rep_ck_leak_blocks(e, mask);
            *bytes += rep_ck_leak_bytes(e, mask);
            l.kind = e->kind;
            if (!l.stack || it[j].side)
                l.stack = &e->stack;
        }
        l.status = !l.base_blocks ? REP_DIFF_NEW : !l.new_blocks ? REP_DIFF_FIXED
                 : l.new_bytes > l.base_bytes ? REP_DIFF_GREW
                 : l.new_bytes < l.base_bytes ? REP_DIFF_SHRANK : REP_DIFF_SAME;
        if (l.status != REP_DIFF_SAME)
            d->leaks[d->nleaks++] = l;
        i = j;
    }
    qsort(d->leaks, d->nleaks, sizeof *d->leaks, leak_order);
    return 0;
}

int rep_diff_compute(const struct rep_run *base, const struct rep_run *now, unsigned kinds,
                     struct rep_diff *out, char *err, size_t errlen)
{
    unsigned mask = rep_leak_mask(kinds);
    size_t ns = base->nsites + now->nsites, nl = base->nleaks + now->nleaks, n = 0, m = 0;
    struct item *sites = malloc((ns ? ns : 1) * sizeof *sites);
    struct item *leaks = malloc((nl ? nl : 1) * sizeof *leaks);
    memset(out, 0, sizeof *out);
    rep_run_totals(base, kinds, &out->base);
    rep_run_totals(now, kinds, &out->now);
    int ok = sites && leaks &&
             collect_sites(base, 0, sites, &n) == 0 && collect_sites(now, 1, sites, &n) == 0 &&
             collect_leaks(base, 0, mask, leaks, &m) == 0 &&
             collect_leaks(now, 1, mask, leaks, &m) == 0;
    if (ok) {
        qsort(sites, n, sizeof *sites, by_key);
        qsort(leaks, m, sizeof *leaks, by_key);
        ok = merge_sites(out, sites, n) == 0 && merge_leaks(out, leaks, m, mask) == 0;
    }
    if (sites)
        free_items(sites, n);
    if (leaks)
        free_items(leaks, m);
    if (ok)
        return 0;
    rep_diff_release(out);
    snprintf(err, errlen, "out of memory comparing the runs");
    return -1;
}

void rep_diff_release(struct rep_diff *d)
{
    free(d->sites);
    free(d->leaks);
    memset(d, 0, sizeof *d);
}

/* ---- text ---- */

static const char *status_name(int s)
{
    static const char *const names[] = {"new", "fixed", "grew", "shrank", "same"};
    return s >= 0 && s <= REP_DIFF_SAME ? names[s] : "?";
}

static void fmt_delta(char *buf, size_t len, uint64_t a, uint64_t b)
{
    snprintf(buf, len, "%c%" PRIu64, b >= a ? '+' : '-', b >= a ? b - a : a - b);
}

static void total_line(FILE *f, const char *name, uint64_t a, uint64_t b, const char *unit)
{
    char d[32];
    fmt_delta(d, sizeof d, a, b);
    fprintf(f, "%-16s %14" PRIu64 "%s -> %14" PRIu64 "%s  %s", name, a, unit, b, unit, d);
    if (a)
        fprintf(f, "%s (%+.1f%%)\n", unit, 100.0 * ((double)b - (double)a) / (double)a);
    else
        fprintf(f, "%s\n", unit);
}

static void stack_text(FILE *f, const struct rep_ck_stack *st, unsigned frames)
{
    uint32_t n = frames && st->nframes > frames ? frames : st->nframes;
    for (uint32_t i = 0; i < n; i++) {
        const struct rep_frame *fr = &st->frames[i];
        fprintf(f, "        #%u %s", i, fr->function ? fr->function : "???");
        if (fr->file)
            fprintf(f, " %s:%u", fr->file, fr->line);
        else
            fprintf(f, " (%s+0x%" PRIx64 ")", fr->module, fr->offset);
        putc('\n', f);
    }
}

static const char *site_name(const struct rep_ck_stack *st)
{
    for (uint32_t i = 0; i < st->nframes; i++)
        if (st->frames[i].function)
            return st->frames[i].function;
    return st->nframes ? st->frames[0].module : "(no stack)";
}

int rep_diff_write_text(FILE *f, const struct rep_diff *d, size_t top, unsigned frames)
{
    total_line(f, "peak", d->base.peak_bytes, d->now.peak_bytes, " B");
    total_line(f, "allocations", d->base.allocations, d->now.allocations, "");
    total_line(f, "allocated", d->base.allocated_bytes, d->now.allocated_bytes, " B");
    total_line(f, "leaked", d->base.leaked_bytes, d->now.leaked_bytes, " B");
    total_line(f, "leaked blocks", d->base.leaked_blocks, d->now.leaked_blocks, "");
    fprintf(f, "\nleak sites: %zu changed\n", d->nleaks);
    for (size_t i = 0; i < d->nleaks; i++) {
        const struct rep_diff_leak *l = &d->leaks[i];
        fprintf(f, "  %-6s %-9s %" PRIu64 " B in %" PRIu64 " blocks -> %" PRIu64 " B in %"
                PRIu64 " blocks  %s\n", status_name(l->status), rep_leak_kind_name(l->kind),
                l->base_bytes, l->base_blocks, l->new_bytes, l->new_blocks,
                site_name(l->stack));
        stack_text(f, l->stack, frames);
    }
    size_t n = top && d->nsites > top ? top : d->nsites;
    fprintf(f, "\nallocation sites: %zu changed%s\n  %14s %12s %12s  %s\n", d->nsites,
            n < d->nsites ? " (largest changes first)" : "", "bytes", "allocations",
            "live blocks", "site");
    for (size_t i = 0; i < n; i++) {
        const struct rep_diff_site *s = &d->sites[i];
        char b[3][32];
        fmt_delta(b[0], sizeof b[0], s->base.bytes, s->now.bytes);
        fmt_delta(b[1], sizeof b[1], s->base.allocations, s->now.allocations);
        fmt_delta(b[2], sizeof b[2], s->base.live_blocks, s->now.live_blocks);
        fprintf(f, "  %14s %12s %12s  %s\n", b[0], b[1], b[2], site_name(s->stack));
    }
    if (n < d->nsites)
        fprintf(f, "  ... %zu more (--top)\n", d->nsites - n);
    return ferror(f) ? -1 : 0;
}

/* ---- JSON ---- */

static void json_stack(FILE *f, const struct rep_ck_stack *st)
{
    fputs("[", f);
    for (uint32_t i = 0; i < st->nframes; i++) {
        const struct rep_frame *fr = &st->frames[i];
        fputs(i ? ", {\"function\": " : "{\"function\": ", f);
        rep_json_puts(f, fr->function);
        fputs(", \"file\": ", f);
        rep_json_puts(f, fr->file);
        fprintf(f, ", \"line\": %u, \"module\": ", fr->line);
        rep_json_puts(f, fr->module);
        fputs("}", f);
    }
    fputs("]", f);
}

static void json_totals(FILE *f, const struct rep_run_totals *t)
{
    fprintf(f, "{\"peak_bytes\": %" PRIu64 ", \"allocations\": %" PRIu64
            ", \"allocated_bytes\": %" PRIu64 ", \"leaked_bytes\": %" PRIu64
            ", \"leaked_blocks\": %" PRIu64 ", \"cycles\": %" PRIu64 "}",
            t->peak_bytes, t->allocations, t->allocated_bytes, t->leaked_bytes,
            t->leaked_blocks, t->cycles);
}

static void json_counts(FILE *f, const struct rep_diff_counts *c)
{
    fprintf(f, "{\"allocations\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"live_blocks\": %"
            PRIu64 ", \"live_bytes\": %" PRIu64 "}", c->allocations, c->bytes, c->live_blocks,
            c->live_bytes);
}

static int64_t delta(uint64_t a, uint64_t b)
{
    return b >= a ? (int64_t)(b - a) : -(int64_t)(a - b);
}

int rep_diff_write_json(FILE *f, const struct rep_diff *d)
{
    fputs("{\"schema\": \"heapgraph-diff/1\",\n \"base\": ", f);
    json_totals(f, &d->base);
    fputs(",\n \"new\": ", f);
    json_totals(f, &d->now);
    fprintf(f, ",\n \"peak\": {\"base\": %" PRIu64 ", \"new\": %" PRIu64 ", \"delta\": %" PRId64
            "},\n \"leaks\": [", d->base.peak_bytes, d->now.peak_bytes,
            delta(d->base.peak_bytes, d->now.peak_bytes));
    for (size_t i = 0; i < d->nleaks; i++) {
        const struct rep_diff_leak *l = &d->leaks[i];
        fprintf(f, "%s\n  {\"status\": \"%s\", \"kind\": \"%s\", \"base\": {\"blocks\": %" PRIu64
                ", \"bytes\": %" PRIu64 "}, \"new\": {\"blocks\": %" PRIu64 ", \"bytes\": %"
                PRIu64 "}, \"delta_bytes\": %" PRId64 ", \"stack\": ", i ? "," : "",
                status_name(l->status), rep_leak_kind_name(l->kind), l->base_blocks,
                l->base_bytes, l->new_blocks, l->new_bytes, delta(l->base_bytes, l->new_bytes));
        json_stack(f, l->stack);
        fputs("}", f);
    }
    fputs("],\n \"sites\": [", f);
    for (size_t i = 0; i < d->nsites; i++) {
        const struct rep_diff_site *s = &d->sites[i];
        fprintf(f, "%s\n  {\"base\": ", i ? "," : "");
        json_counts(f, &s->base);
        fputs(", \"new\": ", f);
        json_counts(f, &s->now);
        fprintf(f, ", \"delta\": {\"allocations\": %" PRId64 ", \"bytes\": %" PRId64
                ", \"live_blocks\": %" PRId64 ", \"live_bytes\": %" PRId64 "}, \"stack\": ",
                delta(s->base.allocations, s->now.allocations), delta(s->base.bytes, s->now.bytes),
                delta(s->base.live_blocks, s->now.live_blocks),
                delta(s->base.live_bytes, s->now.live_bytes));
        json_stack(f, s->stack);
        fputs("}", f);
    }
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}
