/* SPDX-License-Identifier: MIT
 *
 * gates.c - CI gates over a `struct rep_run`: the run container itself (the
 * reporter's arena for its strings and frames, growable arrays for its
 * entries), the
 * stack key that matches leak sites across rebuilds, and gate
 * evaluation. A gate passes when its value is at most its limit; a growth
 * gate fails only when both the relative and the absolute change exceed
 * their limits, so that tiny programs do not fail on noise.
 */
#include "report/gate/gates.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model/arena.h"

/* ---- the run's memory ---- */

/* Strings and frames live in the run's arena, created on first use so that
 * a zeroed run stays a valid empty one. */
static void *run_alloc(struct rep_run *r, size_t n)
{
    if (!r->arena && !(r->arena = rep_arena_new()))
        return NULL;
    return rep_arena_alloc(r->arena, n);
}

const char *rep_run_strdup(struct rep_run *r, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = run_alloc(r, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int rep_run_alloc_frames(struct rep_run *r, struct rep_ck_stack *st, uint32_t n)
{
    st->nframes = 0;
    st->frames = NULL;
    if (n == 0)
        return 0;
    st->frames = run_alloc(r, (size_t)n * sizeof *st->frames);
    if (!st->frames)
        return -1;
    st->nframes = n;
    return 0;
}

void rep_run_release(struct rep_run *r)
{
    rep_arena_free(r->arena);
    free(r->processes);
    free(r->leaks);
    free(r->sites);
    memset(r, 0, sizeof *r);
}

struct rep_ck_process *rep_run_add_process(struct rep_run *r)
{
    if (rep_grow((void **)&r->processes, &r->processes_cap, r->nprocesses + 1,
                 sizeof *r->processes) < 0)
        return NULL;
    struct rep_ck_process *p = &r->processes[r->nprocesses++];
    memset(p, 0, sizeof *p);
    return p;
}

struct rep_ck_leak *rep_run_add_leak(struct rep_run *r, uint32_t process, int kind)
{
    if (rep_grow((void **)&r->leaks, &r->leaks_cap, r->nleaks + 1, sizeof *r->leaks) < 0)
        return NULL;
    struct rep_ck_leak *l = &r->leaks[r->nleaks++];
    memset(l, 0, sizeof *l);
    l->process = process;
    l->kind = (uint8_t)kind;
    return l;
}

struct rep_ck_site *rep_run_add_site(struct rep_run *r, uint32_t process)
{
    if (rep_grow((void **)&r->sites, &r->sites_cap, r->nsites + 1, sizeof *r->sites) < 0)
        return NULL;
    struct rep_ck_site *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->process = process;
    return s;
}

/* ---- names, keys, numbers ---- */

int rep_parse_leak_kinds(const char *s, unsigned *mask, char *err, size_t errlen)
{
    unsigned m = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        int found = 0;
        if (n == 3 && !strncmp(s, "all", 3)) {
            m |= (1u << REP_LEAK_NKINDS) - 1;
            found = 1;
        }
        for (unsigned k = 0; k < REP_LEAK_NKINDS && !found; k++)
            if (strlen(rep_leak_kind_name(k)) == n && !strncmp(s, rep_leak_kind_name(k), n)) {
                m |= 1u << k;
                found = 1;
            }
        if (!found) {
            snprintf(err, errlen, "unknown leak kind '%.*s' (definite, cycle, indirect, "
                     "possible, reachable, all)", (int)n, s);
            return -1;
        }
        s += n;
        if (*s == ',')
            s++;
    }
    if (!m) {
        snprintf(err, errlen, "empty list of leak kinds");
        return -1;
    }
    *mask = m;
    return 0;
}

size_t rep_ck_stack_key(const struct rep_ck_stack *st, char *buf, size_t len)
{
    size_t need = 0;
    if (len)
        buf[0] = 0;
    for (uint32_t i = 0; i < st->nframes; i++) {
        const struct rep_frame *f = &st->frames[i];
        char tmp[64];
        const char *name = f->function;
        if (!name) {
            const char *base = strrchr(f->module ? f->module : "?", '/');
            base = base ? base + 1 : (f->module ? f->module : "?");
            snprintf(tmp, sizeof tmp, "%.40s+0x%" PRIx64, base, f->offset);
            name = tmp;
        }
        int n = need < len ? snprintf(buf + need, len - need, "%s%s", i ? ";" : "", name)
                           : snprintf(NULL, 0, "%s%s", i ? ";" : "", name);
        need += (size_t)n;
    }
    return need;
}

/* ---- totals ---- */

uint64_t rep_ck_leak_bytes(const struct rep_ck_leak *l, unsigned mask)
{
    uint64_t b = (mask >> l->kind) & 1 ? l->bytes : 0;
    if ((mask >> REP_LEAK_INDIRECT) & 1)
        b += l->indirect_bytes;
    return b;
}

uint64_t rep_ck_leak_blocks(const struct rep_ck_leak *l, unsigned mask)
{
    uint64_t b = (mask >> l->kind) & 1 ? l->blocks : 0;
    if ((mask >> REP_LEAK_INDIRECT) & 1)
        b += l->indirect_blocks;
    return b;
}

unsigned rep_leak_mask(unsigned kinds)
{
    return (kinds ? kinds : REP_LEAK_DEFAULT_KINDS) | (1u << REP_LEAK_NOT_FREED);
}

static int leak_counts(const struct rep_ck_leak *l)
{
    return !l->suppressed && !l->in_baseline;
}

void rep_run_totals(const struct rep_run *r, unsigned leak_kinds, struct rep_run_totals *t)
{
    unsigned mask = rep_leak_mask(leak_kinds);
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < r->nprocesses; i++) {
        const struct rep_ck_process *p = &r->processes[i];
        if (p->peak_bytes > t->peak_bytes)
            t->peak_bytes = p->peak_bytes;
        t->allocations += p->allocations;
        t->allocated_bytes += p->allocated_bytes;
        if (!p->snapshot)
            t->processes_without_snapshot++;
    }
    for (size_t i = 0; i < r->nleaks; i++) {
        const struct rep_ck_leak *l = &r->leaks[i];
        if (!leak_counts(l))
            continue;
        uint64_t bytes = rep_ck_leak_bytes(l, mask);
        t->leaked_bytes += bytes;
        t->leaked_blocks += rep_ck_leak_blocks(l, mask);
        if (bytes > t->max_site_bytes)
            t->max_site_bytes = bytes;
        if (l->kind == REP_LEAK_CYCLE)
            t->cycles += l->groups ? l->groups : 1;
        if (l->kind == REP_LEAK_POSSIBLE) {
            t->possible_bytes += l->bytes;
            t->possible_blocks += l->blocks;
        }
    }
}

/* ---- gates ---- */

static const char *const gate_names[REP_GATE_NGATES] = {
    "max-leaked", "max-leaked-blocks", "max-cycles", "max-possible",
    "max-peak", "max-allocations", "max-leak-per-site",
};

static const char *const growth_names[REP_GROWTH_NMETRICS] = {
    "peak", "allocations", "allocated", "leaked",
};

const char *rep_gate_name(int gate)
{
    return gate >= 0 && gate < REP_GATE_NGATES ? gate_names[gate] : "?";
}

const char *rep_growth_name(int metric)
{
    return metric >= 0 && metric < REP_GROWTH_NMETRICS ? growth_names[metric] : "?";
}

static int by_leak_bytes_desc(const void *a, const void *b, void *ctx)
{
    const struct rep_run *r = ctx;
    uint64_t x = rep_ck_leak_bytes(&r->leaks[*(const size_t *)a], ~0u);
    uint64_t y = rep_ck_leak_bytes(&r->leaks[*(const size_t *)b], ~0u);
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Collects the counted leak entries that select() accepts into res->offending. */
static int collect(struct rep_gate_result *res, const struct rep_run *r, unsigned mask,
                   int (*select)(const struct rep_ck_leak *, unsigned, uint64_t), uint64_t arg)
{
    res->offending = malloc((r->nleaks ? r->nleaks : 1) * sizeof *res->offending);
    if (!res->offending)
        return -1;
    for (size_t i = 0; i < r->nleaks; i++)
        if (leak_counts(&r->leaks[i]) && select(&r->leaks[i], mask, arg))
            res->offending[res->noffending++] = i;
    qsort_r(res->offending, res->noffending, sizeof *res->offending, by_leak_bytes_desc,
            (void *)r);
    return 0;
}

static int sel_leaked(const struct rep_ck_leak *l, unsigned mask, uint64_t arg)
{
    (void)arg;
    return rep_ck_leak_blocks(l, mask) > 0;
}

static int sel_kind(const struct rep_ck_leak *l, unsigned mask, uint64_t kind)
{
    (void)mask;
    return l->kind == kind;
}

static int sel_over(const struct rep_ck_leak *l, unsigned mask, uint64_t limit)
{
    return rep_ck_leak_bytes(l, mask) > limit;
}

static struct rep_gate_result *next_result(struct rep_check *c, const char *name)
{
    struct rep_gate_result *res = &c->results[c->nresults++];
    memset(res, 0, sizeof *res);
    snprintf(res->name, sizeof res->name, "%s", name);
    return res;
}

static int eval_gate(struct rep_check *c, const struct rep_run *r, const struct rep_gates *g,
                     const struct rep_run_totals *t, int gate)
{
    static const char *const units[REP_GATE_NGATES] = {
        " B", " blocks", "", " B", " B", "", " B",
    };
    uint64_t value[REP_GATE_NGATES] = {
        t->leaked_bytes, t->leaked_blocks, t->cycles, t->possible_bytes,
        t->peak_bytes, t->allocations, t->max_site_bytes,
    };
    uint64_t limit = g->limit[gate];
    unsigned mask = rep_leak_mask(g->leak_kinds);
    struct rep_gate_result *res = next_result(c, gate_names[gate]);
    snprintf(res->value, sizeof res->value, "%" PRIu64 "%s", value[gate], units[gate]);
    snprintf(res->limit, sizeof res->limit, "%" PRIu64 "%s", limit, units[gate]);
    res->pass = value[gate] <= limit;
    if (res->pass)
        return 0;
    c->failed++;
    switch (gate) {
    case REP_GATE_LEAKED:
    case REP_GATE_LEAKED_BLOCKS:
        return collect(res, r, mask, sel_leaked, 0);
    case REP_GATE_CYCLES:
        return collect(res, r, mask, sel_kind, REP_LEAK_CYCLE);
    case REP_GATE_POSSIBLE:
        return collect(res, r, mask, sel_kind, REP_LEAK_POSSIBLE);
    case REP_GATE_LEAK_PER_SITE:
        return collect(res, r, mask, sel_over, limit);
    default:
        return 0;
    }
}

static uint64_t growth_value(const struct rep_run_totals *t, int metric)
{
    switch (metric) {
    case REP_GROWTH_PEAK: return t->peak_bytes;
    case REP_GROWTH_ALLOCATIONS: return t->allocations;
    case REP_GROWTH_ALLOCATED: return t->allocated_bytes;
    default: return t->leaked_bytes;
    }
}

/* Fails only when the value grew by more than pct percent AND by more than
 * the absolute floor (min_delta for bytes, min_delta_count for counts). */
static void eval_growth(struct rep_check *c, const struct rep_gates *g,
                        const struct rep_run_totals *now, const struct rep_run_totals *base,
                        int metric)
{
    uint64_t v = growth_value(now, metric), b = growth_value(base, metric);
    int count = metric == REP_GROWTH_ALLOCATIONS;
    uint64_t floor = count ? g->min_delta_count : g->min_delta;
    const char *unit = count ? "" : " B";
    char name[48];
    snprintf(name, sizeof name, "growth %s", growth_names[metric]);
    struct rep_gate_result *res = next_result(c, name);
    uint64_t delta = v > b ? v - b : 0;
    double pct = b ? 100.0 * ((double)v - (double)b) / (double)b : (v ? 1e300 : 0.0);
    if (b || !v)
        snprintf(res->value, sizeof res->value, "%+.1f%% (%" PRIu64 "%s -> %" PRIu64 "%s)",
                 pct, b, unit, v, unit);
    else
        snprintf(res->value, sizeof res->value, "new (0 -> %" PRIu64 "%s)", v, unit);
    snprintf(res->limit, sizeof res->limit, "%g%% and %" PRIu64 "%s", g->growth_pct[metric],
             floor, unit);
    res->pass = !(pct > g->growth_pct[metric] && delta > floor);
    if (!res->pass)
        c->failed++;
}

static int eval_new_leaks(struct rep_check *c, const struct rep_run *r, unsigned mask)
{
    struct rep_gate_result *res = next_result(c, "new-leaks");
    if (collect(res, r, mask, sel_leaked, 0) < 0)
        return -1;
    uint64_t bytes = 0;
    for (size_t i = 0; i < res->noffending; i++)
        bytes += rep_ck_leak_bytes(&r->leaks[res->offending[i]], mask);
    snprintf(res->value, sizeof res->value, "%zu sites (%" PRIu64 " B)", res->noffending, bytes);
    snprintf(res->limit, sizeof res->limit, "0 sites");
    res->pass = res->noffending == 0;
    if (!res->pass)
        c->failed++;
    return 0;
}

/* 1 when process p has blocks not freed that the leak gates count. */
static int has_not_freed(const struct rep_run *r, uint32_t p)
{
    for (size_t i = 0; i < r->nleaks; i++)
        if (r->leaks[i].process == p && r->leaks[i].kind == REP_LEAK_NOT_FREED &&
            r->leaks[i].blocks && leak_counts(&r->leaks[i]))
            return 1;
    return 0;
}

static void add_notes(struct rep_check *c, const struct rep_run *r)
{
    for (uint32_t i = 0; i < r->nprocesses && c->nnotes < 4; i++) {
        const struct rep_ck_process *p = &r->processes[i];
        if (p->partial)
            snprintf(c->notes[c->nnotes++], sizeof c->notes[0],
                     "process %d: the exit snapshot is partial; leak figures may be low",
                     (int)p->pid);
        if (p->snapshot || c->nnotes >= 4 || !has_not_freed(r, i))
            continue;
        snprintf(c->notes[c->nnotes++], sizeof c->notes[0],
                 "process %d left no exit snapshot (%s%d): its blocks not freed count as leaked",
                 (int)p->pid, p->exit_signal ? "signal " : "status ",
                 p->exit_signal ? p->exit_signal : p->exit_status);
    }
}

int rep_check_eval(const struct rep_run *run, const struct rep_run *base,
                   const struct rep_gates *g, struct rep_check *out, char *err, size_t errlen)
{
    struct rep_run_totals now, then;
    memset(out, 0, sizeof *out);
    rep_run_totals(run, g->leak_kinds, &now);
    add_notes(out, run);
    if (run->incomplete && !g->allow_incomplete) {
        struct rep_gate_result *res = next_result(out, "capture");
        snprintf(res->value, sizeof res->value, "%.63s", run->incomplete_why);
        snprintf(res->limit, sizeof res->limit, "complete");
        out->failed++;
    }
    for (int gate = 0; gate < REP_GATE_NGATES; gate++)
        if (g->set[gate] && eval_gate(out, run, g, &now, gate) < 0)
            goto oom;
    if (base) {
        rep_run_totals(base, g->leak_kinds, &then);
        for (int m = 0; m < REP_GROWTH_NMETRICS; m++)
            if (g->growth_set[m])
                eval_growth(out, g, &now, &then, m);
    }
    if (g->new_leaks_only && eval_new_leaks(out, run, rep_leak_mask(g->leak_kinds)) < 0)
        goto oom;
    return 0;
oom:
    rep_check_release(out);
    snprintf(err, errlen, "out of memory evaluating gates");
    return -1;
}

void rep_check_release(struct rep_check *c)
{
    for (size_t i = 0; i < c->nresults; i++)
        free(c->results[i].offending);
    memset(c, 0, sizeof *c);
}

/* ---- baseline matching ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *key_of(const struct rep_ck_stack *st)
{
    size_t n = rep_ck_stack_key(st, NULL, 0) + 1;
    char *k = malloc(n);
    if (k)
        rep_ck_stack_key(st, k, n);
    return k;
}

long rep_check_match_baseline(struct rep_run *run, const struct rep_run *base)
{
    char **keys = malloc((base->nleaks ? base->nleaks : 1) * sizeof *keys);
    long marked = 0;
    size_t n = 0;
    if (!keys)
        return -1;
    for (; n < base->nleaks; n++)
        if (!(keys[n] = key_of(&base->leaks[n].stack)))
            goto oom;
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < run->nleaks; i++) {
        char *k = key_of(&run->leaks[i].stack);
        if (!k)
            goto oom;
        if (bsearch(&k, keys, n, sizeof *keys, cmp_str)) {
            run->leaks[i].in_baseline = 1;
            marked++;
        }
        free(k);
    }
    goto out;
oom:
    marked = -1;
out:
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    return marked;
}
