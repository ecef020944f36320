/* SPDX-License-Identifier: MIT
 *
 * html.c - writes the HTML report: the page template (report/render/page/, embedded
 * at build time by report/render/page/embed.cmake) with one JSON document inside a
 * <script type="application/json"> element. That document holds the JSON
 * report itself (so the header figures are the JSON report's) and, per
 * process, what the page draws beyond it: a frame table, the allocation
 * sites with their figures and their blocks' lifetimes in time buckets (the
 * smallest sites merged into "(other)" entries, see write_sites), and the
 * heap/RSS series downsampled to at most HG_HTML_POINTS points.
 *
 * Escaping: everything inside the script element goes through an escaping
 * stream that turns '<', '>', '&', U+2028 and U+2029 into \uXXXX. In JSON
 * those characters can only occur inside strings, where the escape means the
 * same, so the data can never close its script element or open a comment.
 * The page itself inserts strings with textContent only.
 */
#include "report/render/html.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis/leaked.h"
#include "report/analysis/lifetime.h"
#include "report/render/collapsed.h"
#include "report/render/render.h"

/* The page sources, generated from report/render/page/ (NUL-terminated). */
extern const char rep_html_template[], rep_html_css[], rep_html_js[];

#define HG_HTML_POINTS 2000          /* timeline points per process */
#define HG_HTML_MIN_POINTS 128       /* and at least, unless the lifetimes have fewer */
#define OTHER_SHARE 50000            /* a site under 1/50000 of every total is merged */
#define HG_HTML_SITES 5000           /* and so are all but the 5000 biggest */
#define HG_HTML_OTHERS 2000          /* "(other)" sites at most (see find_cuts) */

/* ---- the escaping stream ---------------------------------------------------- */

/* Writes into the real output, escaping what could end the script element. */
struct esc {
    FILE *out;
    unsigned pending;                /* bytes of E2 80 held back (0-2) */
};

static void esc_byte(struct esc *e, unsigned char c)
{
    if (e->pending == 1 && c == 0x80) {
        e->pending = 2;
        return;
    }
    if (e->pending == 2 && (c == 0xa8 || c == 0xa9)) {
        fputs(c == 0xa8 ? "\\u2028" : "\\u2029", e->out);
        e->pending = 0;
        return;
    }
    if (e->pending)
        fwrite("\xe2\x80", 1, e->pending, e->out);
    e->pending = 0;
    if (c == 0xe2)
        e->pending = 1;
    else if (c == '<' || c == '>' || c == '&')
        fprintf(e->out, "\\u%04x", c);
    else
        fputc(c, e->out);
}

static ssize_t esc_write(void *cookie, const char *buf, size_t n)
{
    struct esc *e = cookie;
    for (size_t i = 0; i < n; i++)
        esc_byte(e, (unsigned char)buf[i]);
    return ferror(e->out) ? -1 : (ssize_t)n;
}

static int esc_close(void *cookie)
{
    struct esc *e = cookie;
    if (e->pending)
        fwrite("\xe2\x80", 1, e->pending, e->out);
    e->pending = 0;
    return ferror(e->out) ? -1 : 0;
}

static FILE *esc_open(struct esc *e, FILE *out)
{
    e->out = out;
    e->pending = 0;
    return fopencookie(e, "w", (cookie_io_functions_t){ .write = esc_write, .close = esc_close });
}

/* ---- JSON pieces ------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

/* Lifetime lists of one site, or of "(other)": dense per-bucket sums. */
struct dense {
    uint64_t *v;                     /* nbuckets x REP_LIFE_NCOLS */
    uint32_t n;
};

/* Frames the page makes up, in the shared stack table like the others. */
static const struct rep_frame other_frame = { .function = "(other)", .module = "?" };
static const struct rep_frame unknown_frame = { .function = "[unknown]", .module = "?" };
static const struct rep_frame inherited_frame = { .function = "(inherited)", .module = "?" };

/* The sites of a view, a column each (the page turns them back into rows):
 * a list of objects repeated every field name, the better part of a
 * many-process page. */
enum { C_K, C_N, C_B, C_T, C_P, C_L, C_LB, C_A, C_F, C_X, C_Z, NCOLS };
static const char *const col_names[NCOLS] = { "k", "n", "b", "t", "p", "l", "lb",
                                              "a", "f", "x", "z" };

struct cols {
    FILE *f[NCOLS];
    char *buf[NCOLS];
    size_t len[NCOLS];
    size_t n, ncols;                 /* sites so far; 7, or 11 with lifetimes */
};

static int cols_open(struct cols *c, int life)
{
    memset(c, 0, sizeof *c);
    c->ncols = life ? NCOLS : C_A;
    for (size_t i = 0; i < c->ncols; i++)
        if (!(c->f[i] = open_memstream(&c->buf[i], &c->len[i])))
            return -1;
    return 0;
}

static void cols_release(struct cols *c)
{
    for (size_t i = 0; i < c->ncols; i++) {
        if (c->f[i])
            fclose(c->f[i]);
        free(c->buf[i]);
    }
}

/* Writes [db,count,bytes,...] from columns cn (and cb) of d. cb < 0: bytes
 * are written as 0 (temporaries). */
static void write_list(FILE *f, const struct dense *d, int cn, int cb)
{
    fputc('[', f);
    uint32_t prev = 0;
    int first = 1;
    for (uint32_t b = 0; b < d->n; b++) {
        const uint64_t *r = &d->v[(size_t)b * REP_LIFE_NCOLS];
        if (!r[cn])
            continue;
        fprintf(f, "%s%" PRIu32 ",%" PRIu64 ",%" PRIu64, first ? "" : ",", b - prev, r[cn],
                cb >= 0 ? r[cb] : 0);
        prev = b;
        first = 0;
    }
    fputc(']', f);
}

/* One site: its stack entry (stack table id + 1), n b t p l lb, and with
 * lifetimes its lists from d, which it clears. */
static void cols_site(struct cols *c, int64_t entry, const uint64_t x[6], struct dense *d)
{
    const char *sep = c->n++ ? "," : "";
    fprintf(c->f[C_K], "%s%" PRId64, sep, entry - 1);
    for (int m = 0; m < 6; m++)
        fprintf(c->f[C_N + m], "%s%" PRIu64, sep, x[m]);
    if (c->ncols == C_A)
        return;
    static const int lists[4][2] = { { REP_LIFE_MADE_N, REP_LIFE_MADE_B },
                                     { REP_LIFE_ENDED_N, REP_LIFE_ENDED_B },
                                     { REP_LIFE_TEMP_N, -1 },
                                     { REP_LIFE_LEAKED_N, REP_LIFE_LEAKED_B } };
    for (int k = 0; k < 4; k++) {
        fputs(sep, c->f[C_A + k]);
        write_list(c->f[C_A + k], d, lists[k][0], lists[k][1]);
    }
    memset(d->v, 0, (size_t)d->n * REP_LIFE_NCOLS * sizeof *d->v);
}

/* Writes ,"sites":{"k":[...],...}; -1 when a column could not be kept. */
static int cols_write(FILE *f, struct cols *c)
{
    fputs(",\"sites\":{", f);
    for (size_t i = 0; i < c->ncols; i++) {
        if (fclose(c->f[i]) != 0)
            c->buf[i] = NULL;
        c->f[i] = NULL;
        if (!c->buf[i])
            return -1;
        fprintf(f, "%s\"%s\":[", i ? "," : "", col_names[i]);
        fwrite(c->buf[i], 1, c->len[i], f);
        fputc(']', f);
    }
    fputc('}', f);
    return 0;
}

/* ---- one process's view ------------------------------------------------------ */

/* Per site figures of one process, indexed like its sites. */
struct figures {
    uint64_t *leaked, *leaked_blocks;
    uint64_t total[5];               /* n, b, t, p, l over all sites */
    uint8_t *kept;                   /* 1: written as itself; 0: merged into "(other)" */
    int fold_inherited;              /* a fork child judged on what it owns */
};

enum { M_N, M_B, M_T, M_P, M_L };

static uint64_t fig(const struct rep_process *p, const struct figures *g, size_t i, int m)
{
    const struct rep_site *s = &p->sites[i];
    switch (m) {
    case M_N: return s->allocations;
    case M_B: return s->bytes;
    case M_T: return s->temporary;
    case M_P: return s->peak_bytes;
    default: return g->leaked[i];
    }
}

/* A site's biggest share of a total, over the metrics. */
static double share(const struct rep_process *p, const struct figures *g, size_t i)
{
    double best = 0;
    for (int m = 0; m < 5; m++)
        if (g->total[m] && (double)fig(p, g, i, m) / (double)g->total[m] > best)
            best = (double)fig(p, g, i, m) / (double)g->total[m];
    return best;
}

/* A site of the fork child's parent: the child made nothing there and its
 * blocks did not become the child's (docs/report.md, "Who answers for a
 * block"). Such sites fold into one "(inherited)" entry: a shell's
 * subshell would otherwise repeat its parent's whole heap, site by site. */
static int inherited_only(const struct rep_process *p, const struct figures *g, size_t i)
{
    return g->fold_inherited && !fig(p, g, i, M_N) && !fig(p, g, i, M_L);
}

struct ranked {
    double share;
    uint32_t site;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return x->share < y->share ? 1 : x->share > y->share ? -1 : (x->site > y->site) - (x->site < y->site);
}

/* Marks the sites written as themselves: those with at least 1/OTHER_SHARE
 * of some total, at most HG_HTML_SITES of them (the biggest). A site below
 * that is narrower than a pixel in the flame graph and far from the top of
 * any table. -1 when out of memory. */
static int pick_sites(const struct rep_process *p, struct figures *g)
{
    struct ranked *r = malloc((p->nstacks ? p->nstacks : 1) * sizeof *r);
    if (!r)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        if (inherited_only(p, g, i))
            continue;
        double sh = share(p, g, i);
        if (sh * OTHER_SHARE >= 1.0)
            r[n++] = (struct ranked){ sh, (uint32_t)i };
    }
    if (n > HG_HTML_SITES) {
        qsort(r, n, sizeof *r, ranked_cmp);
        n = HG_HTML_SITES;
    }
    for (size_t i = 0; i < n; i++)
        g->kept[r[i].site] = 1;
    free(r);
    return 0;
}

struct view {
    const struct rep_process *p;
    int has_life;                    /* 0: no lifetimes */
    struct rep_life_view life;
    struct figures g;
    struct rep_stacktab *stacks;     /* the page's, shared by the report and every view */
    uint64_t *labels;                /* label hashes of every site's frames, outermost first */
    size_t *label_at;                /* site i's start in labels */
};

/* The stack entry of a site's stack ("[unknown]" when it has no frame); -1
 * when out of memory. */
static int64_t site_entry(struct rep_stacktab *t, const struct rep_stack *st)
{
    if (st->nframes)
        return rep_stacktab_add(t, st->frames, st->nframes);
    return rep_stacktab_add(t, &unknown_frame, 1);
}

static void site_figures(const struct view *v, size_t i, uint64_t x[6])
{
    for (int m = 0; m < 5; m++)
        x[m] = fig(v->p, &v->g, i, m);
    x[5] = v->g.leaked_blocks[i];
}

/* ---- merging small sites into "(other)" --------------------------------------
 * A site too small to be written as itself is not thrown into one flat
 * "(other)": its stack is cut below its deepest caller that is big enough
 * (as a flame-graph node, summed over every site under it), and "(other)"
 * takes its place there. So the flame graph keeps the shape of everything
 * visible and only the invisible tips merge. */

struct cut {
    uint32_t site;
    uint32_t depth;                  /* frames kept, outermost first */
    uint32_t node;                   /* position in the sorted order where that
                                        caller's subtree starts: with depth, names it */
};

/* What the flame graph merges frames by: the label. */
static uint64_t label_hash(const struct rep_frame *f)
{
    if (f->function)
        return fnv(0xcbf29ce484222325ull, f->function);
    const char *slash = strrchr(f->module, '/');
    return fnv(0xcbf29ce484222325ull, slash ? slash + 1 : f->module) ^ (f->offset * 0x9e3779b97f4a7c15ull);
}

/* The label hashes of every site's stack, outermost first. -1 when out of memory. */
static int hash_paths(struct view *v)
{
    const struct rep_process *p = v->p;
    size_t total = 0;
    v->label_at = malloc((p->nstacks + 1) * sizeof *v->label_at);
    if (!v->label_at)
        return -1;
    for (size_t i = 0; i < p->nstacks; i++) {
        v->label_at[i] = total;
        total += p->sites[i].stack->nframes;
    }
    v->label_at[p->nstacks] = total;
    v->labels = malloc((total ? total : 1) * sizeof *v->labels);
    if (!v->labels)
        return -1;
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct rep_stack *st = p->sites[i].stack;
        for (uint32_t d = 0; d < st->nframes; d++)
            v->labels[v->label_at[i] + d] = label_hash(&st->frames[st->nframes - 1 - d]);
    }
    return 0;
}

static int path_cmp(const void *a, const void *b, void *arg)
{
    const struct view *v = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const uint64_t *px = &v->labels[v->label_at[x]], *py = &v->labels[v->label_at[y]];
    size_t nx = v->label_at[x + 1] - v->label_at[x], ny = v->label_at[y + 1] - v->label_at[y];
    for (size_t d = 0; d < nx && d < ny; d++)
        if (px[d] != py[d])
            return px[d] < py[d] ? -1 : 1;
    return nx < ny ? -1 : nx > ny ? 1 : (x > y) - (x < y);
}

static int cut_cmp(const void *a, const void *b)
{
    const struct cut *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return (x->site > y->site) - (x->site < y->site);
}

static int big_node(const struct figures *g, const uint64_t acc[5], double share_div)
{
    for (int m = 0; m < 5; m++)
        if (g->total[m] && acc[m] > 0 && (double)acc[m] * share_div >= (double)g->total[m])
            return 1;
    return 0;
}

struct open_node {
    uint32_t depth, start;
    uint64_t acc[5];
};

/* For every site in ord (sorted by path), the deepest caller holding at
 * least 1/share_div of some total: walks the sorted paths once with a stack
 * of the prefixes still open; a prefix that closes big lifts the cut of every
 * site under it. -1 when out of memory. */
static int cuts_at(const struct view *v, const uint32_t *ord, size_t n, struct cut *cuts,
                   double share_div)
{
    const struct rep_process *p = v->p;
    uint32_t maxd = 0;
    for (size_t k = 0; k < n; k++) {
        cuts[k] = (struct cut){ ord[k], 0, 0 };
        if (p->sites[ord[k]].stack->nframes > maxd)
            maxd = p->sites[ord[k]].stack->nframes;
    }
    struct open_node *st = calloc((size_t)maxd + 1, sizeof *st);
    if (!st)
        return -1;
    size_t top = 0;
    for (size_t k = 0; k <= n; k++) {
        uint32_t common = 0;
        if (k < n && k > 0) {
            const uint64_t *pa = &v->labels[v->label_at[ord[k - 1]]], *pb = &v->labels[v->label_at[ord[k]]];
            uint32_t na = p->sites[ord[k - 1]].stack->nframes, nb = p->sites[ord[k]].stack->nframes;
            while (common < na && common < nb && pa[common] == pb[common])
                common++;
        }
        while (top > 0 && st[top - 1].depth > common) {
            struct open_node *o = &st[--top];
            if (!big_node(&v->g, o->acc, share_div))
                continue;
            for (size_t j = o->start; j < k; j++)
                if (cuts[j].depth < o->depth)
                    cuts[j].depth = o->depth, cuts[j].node = o->start;
        }
        if (k == n)
            break;
        uint32_t nf = p->sites[ord[k]].stack->nframes;
        for (uint32_t d = top ? st[top - 1].depth + 1 : 1; d <= nf; d++)
            st[top++] = (struct open_node){ d, (uint32_t)k, { 0 } };
        for (size_t t = 0; t < top; t++)
            for (int m = 0; m < 5; m++)
                st[t].acc[m] += fig(p, &v->g, ord[k], m);
    }
    free(st);
    return 0;
}

/* The cuts of the merged sites into cuts[0..*merged), with the finest
 * threshold that gives at most HG_HTML_OTHERS "(other)" sites. */
static int find_cuts(const struct view *v, const uint32_t *ord, size_t n, struct cut *cuts,
                     size_t *merged)
{
    for (double div = OTHER_SHARE;; div /= 2) {
        if (cuts_at(v, ord, n, cuts, div) < 0)
            return -1;
        *merged = 0;
        for (size_t k = 0; k < n; k++)
            if (!v->g.kept[cuts[k].site])
                cuts[(*merged)++] = cuts[k];
        qsort(cuts, *merged, sizeof *cuts, cut_cmp);
        size_t groups = 0;
        for (size_t k = 0; k < *merged; k++)
            groups += !k || cuts[k].depth != cuts[k - 1].depth || cuts[k].node != cuts[k - 1].node;
        if (groups <= HG_HTML_OTHERS || div < 2)
            return 0;
    }
}

/* One "(other)" site per cut point (cuts sorted by it): the kept callers,
 * then "(other)". -1 when out of memory. */
static int write_others(struct cols *c, struct view *v, const struct cut *cuts, size_t n,
                        struct dense *d)
{
    const struct rep_process *p = v->p;
    int64_t other = n ? rep_stacktab_frame(v->stacks, &other_frame) : 0;
    if (other < 0)
        return -1;
    for (size_t k = 0; k < n;) {
        uint64_t x[6] = { 0 }, y[6];
        size_t e = k;
        for (; e < n && cuts[e].depth == cuts[k].depth && cuts[e].node == cuts[k].node; e++) {
            site_figures(v, cuts[e].site, y);
            for (int m = 0; m < 6; m++)
                x[m] += y[m];
            if (v->has_life)
                rep_life_view_add_site(&v->life, cuts[e].site, d->v);
        }
        const struct rep_stack *st = p->sites[cuts[k].site].stack;
        int64_t callers = rep_stacktab_add(v->stacks, st->frames + st->nframes - cuts[k].depth,
                                           cuts[k].depth);
        int64_t entry = callers < 0 ? -1
                      : rep_stacktab_entry(v->stacks, (uint32_t)other, (uint64_t)callers);
        if (entry < 0)
            return -1;
        cols_site(c, entry, x, d);
        k = e;
    }
    return 0;
}

/* The kept sites in site order; the inherited-only ones summed into ihn. */
static int write_kept(struct cols *c, struct view *v, struct dense *d, uint64_t inh[6],
                      struct dense *dinh, uint32_t *ord, size_t *n)
{
    const struct rep_process *p = v->p;
    for (size_t i = 0; i < p->nstacks; i++) {
        if (!fig(p, &v->g, i, M_N) && !fig(p, &v->g, i, M_P) && !fig(p, &v->g, i, M_L))
            continue;
        uint64_t x[6];
        site_figures(v, i, x);
        if (inherited_only(p, &v->g, i)) {
            for (int m = 0; m < 6; m++)
                inh[m] += x[m];
            if (v->has_life)
                rep_life_view_add_site(&v->life, (uint32_t)i, dinh->v);
            continue;
        }
        ord[(*n)++] = (uint32_t)i;
        if (!v->g.kept[i])
            continue;
        int64_t entry = site_entry(v->stacks, p->sites[i].stack);
        if (entry < 0)
            return -1;
        if (v->has_life)
            rep_life_view_add_site(&v->life, (uint32_t)i, d->v);
        cols_site(c, entry, x, d);
    }
    return 0;
}

/* Writes the kept sites in site order, then the "(other)" entries, then
 * "(inherited)". -1 when out of memory. */
static int write_sites(FILE *f, struct view *v, struct dense *d, struct dense *dinh)
{
    const struct rep_process *p = v->p;
    size_t n = 0, merged = 0;
    uint64_t inh[6] = { 0 };
    uint32_t *ord = malloc((p->nstacks ? p->nstacks : 1) * sizeof *ord);
    struct cut *cuts = malloc((p->nstacks ? p->nstacks : 1) * sizeof *cuts);
    struct cols c;
    int ret = -1;
    if (!ord || !cuts || cols_open(&c, v->has_life) < 0 ||
        write_kept(&c, v, d, inh, dinh, ord, &n) < 0 || hash_paths(v) < 0)
        goto out;
    qsort_r(ord, n, sizeof *ord, path_cmp, v);
    if (find_cuts(v, ord, n, cuts, &merged) < 0 || write_others(&c, v, cuts, merged, d) < 0)
        goto out;
    if (inh[M_P]) {
        int64_t entry = rep_stacktab_add(v->stacks, &inherited_frame, 1);
        if (entry < 0)
            goto out;
        cols_site(&c, entry, inh, dinh);
    }
    if (cols_write(f, &c) < 0)
        goto out;
    fprintf(f, ",\"merged_sites\":%zu", merged);
    ret = 0;
out:
    cols_release(&c);
    free(ord);
    free(cuts);
    return ret;
}

/* The exact heap series gathered with the lifetimes (the largest heap in
 * use within each point, inherited blocks included), with the RSS samples
 * put on the same grid (the largest of each point; empty points repeat the
 * last value, the first sample stands for the time before it). A process
 * with few events gets fewer, wider points: its heap changes at most once
 * an event, and a shell script's hundreds of short processes each wrote
 * 2,048 points that repeat. */
static void write_event_series(FILE *f, const struct view *v)
{
    const struct rep_life_view *s = &v->life;
    const struct rep_process *p = v->p;
    uint64_t want = p->events > HG_HTML_MIN_POINTS / 2 ? p->events * 2 : HG_HTML_MIN_POINTS;
    uint32_t group = want >= s->heap_n ? 1 : (uint32_t)((s->heap_n + want - 1) / want);
    uint32_t n = (s->heap_n + group - 1) / group;
    fprintf(f, "{\"t0\":%" PRIu64 ",\"dt\":%" PRIu64 ",\"source\":\"events\",\"heap\":[",
            s->t0, s->heap_width * group);
    int64_t prev = 0;
    for (uint32_t b = 0; b < n; b++) {
        int64_t h = 0;
        for (uint32_t k = b * group; k < (b + 1) * group && k < s->heap_n; k++)
            h = s->heap[k] > h ? s->heap[k] : h;
        h += (int64_t)p->inherited_bytes;
        h = h > 0 ? h : 0;
        fprintf(f, "%s%" PRId64, b ? "," : "", h - prev);
        prev = h;
    }
    fputs("],\"rss\":[", f);
    size_t si = 0;
    uint64_t last = p->nsamples ? p->samples[0].rss_bytes : 0, width = s->heap_width * group;
    for (uint32_t b = 0; b < n && p->nsamples; b++) {
        uint64_t hi = 0;
        int any = 0;
        for (; si < p->nsamples && (p->samples[si].time_us < s->t0 ||
                                    (p->samples[si].time_us - s->t0) / width <= b); si++) {
            hi = any && hi > p->samples[si].rss_bytes ? hi : p->samples[si].rss_bytes;
            any = 1;
        }
        uint64_t was = last;
        last = any ? hi : last;
        fprintf(f, "%s%" PRId64, b ? "," : "", (int64_t)(last - (b ? was : 0)));
    }
    fputs("]}", f);
}

/* The timeline: from the lifetimes when they were gathered, else the
 * samples downsampled to at most HG_HTML_POINTS buckets (the largest value of
 * each, so the peak stays visible; empty buckets repeat the last value). */
static void write_series(FILE *f, const struct view *v)
{
    const struct rep_process *p = v->p;
    fputs(",\"series\":", f);
    if (v->has_life) {
        write_event_series(f, v);
        return;
    }
    uint64_t t0 = p->start_us, end = p->end_us;
    if (p->nsamples && p->samples[p->nsamples - 1].time_us > end)
        end = p->samples[p->nsamples - 1].time_us;
    uint64_t span = end > t0 ? end - t0 : 1;
    uint64_t dt = span / HG_HTML_POINTS + 1;
    size_t n = (size_t)(span / dt) + 1;
    fprintf(f, "{\"t0\":%" PRIu64 ",\"dt\":%" PRIu64 ",\"source\":\"samples\"", t0, dt);
    for (int rss = 0; rss < 2; rss++) {
        fputs(rss ? ",\"rss\":[" : ",\"heap\":[", f);
        size_t si = 0;
        uint64_t last = 0;
        for (size_t b = 0; b < n && p->nsamples; b++) {
            uint64_t hi = 0;
            int any = 0;
            for (; si < p->nsamples && (p->samples[si].time_us < t0 ||
                                        (p->samples[si].time_us - t0) / dt <= b); si++) {
                uint64_t x = rss ? p->samples[si].rss_bytes : p->samples[si].heap_bytes;
                hi = any && hi > x ? hi : x;
                any = 1;
            }
            uint64_t was = last;
            last = any ? hi : last;
            fprintf(f, "%s%" PRId64, b ? "," : "", (int64_t)(last - was));
        }
        fputc(']', f);
    }
    fputc('}', f);
}

static void view_release(struct view *v)
{
    free(v->g.leaked);
    free(v->g.leaked_blocks);
    free(v->g.kept);
    rep_life_view_release(&v->life);
    free(v->labels);
    free(v->label_at);
}

static int view_init(struct view *v, const struct rep_capture *cap, const struct rep_process *p,
                     const struct rep_life *life)
{
    memset(v, 0, sizeof *v);
    v->p = p;
    v->g.fold_inherited = p->origin == REP_ORIGIN_FORK && p->inherited_blocks && !cap->whole_heap;
    size_t n = p->nstacks ? p->nstacks : 1;
    v->g.leaked = calloc(n, sizeof *v->g.leaked);
    v->g.leaked_blocks = calloc(n, sizeof *v->g.leaked_blocks);
    v->g.kept = calloc(n, 1);
    if (!v->g.leaked || !v->g.leaked_blocks || !v->g.kept)
        return -1;
    rep_leaked_by_site(p, v->g.leaked, v->g.leaked_blocks);
    for (size_t i = 0; i < p->nstacks; i++)
        for (int m = 0; m < 5; m++)
            v->g.total[m] += fig(p, &v->g, i, m);
    if (pick_sites(p, &v->g) < 0)
        return -1;
    v->has_life = rep_life_view_init(&v->life, life, p);
    return v->has_life < 0 ? -1 : 0;
}

static int write_view(FILE *f, const struct rep_capture *cap, const struct rep_process *p,
                      const struct rep_life *life, struct rep_stacktab *stacks)
{
    struct view v;
    struct dense d = { 0 }, dinh = { 0 };
    int ret = -1;
    if (view_init(&v, cap, p, life) < 0)
        goto out;
    v.stacks = stacks;
    if (v.has_life) {
        d.n = dinh.n = v.life.nbuckets;
        d.v = calloc((size_t)d.n * REP_LIFE_NCOLS, sizeof *d.v);
        dinh.v = calloc((size_t)d.n * REP_LIFE_NCOLS, sizeof *d.v);
        if (!d.v || !dinh.v)
            goto out;
    }
    fprintf(f, "{\"pid\":%" PRId32 ",\"stream\":%" PRIu32 ",\"start_us\":%" PRIu64 ",\"end_us\":%" PRIu64,
            p->pid, p->stream, p->start_us, p->end_us);
    fprintf(f, ",\"peak\":{\"time_us\":%" PRIu64 ",\"bytes\":%" PRIu64 "}", p->peak_time_us, p->peak_bytes);
    if (v.has_life)
        fprintf(f, ",\"life\":{\"t0\":%" PRIu64 ",\"dt\":%" PRIu64 ",\"n\":%" PRIu32 "}",
                v.life.t0, v.life.width, v.life.nbuckets);
    else
        fputs(",\"life\":null", f);
    write_series(f, &v);
    if (write_sites(f, &v, &d, &dinh) < 0)
        goto out;
    fputc('}', f);
    ret = 0;
out:
    free(d.v);
    free(dinh.v);
    view_release(&v);
    return ret;
}

/* ---- the page ------------------------------------------------------------ */

/* The report, the views, then the stack table they share. -1 + err. */
static int write_parts(FILE *f, const struct rep_capture *cap, const struct rep_html_opts *o,
                       struct rep_stacktab *stacks, char *err, size_t errlen)
{
    fputs("{\"format\":\"heapgraph-html/2\",\"generator\":\"heapgraph " HG_VERSION "\",\"report\":", f);
    if (o->write_json(f, o->json_arg, stacks, err, errlen) < 0)
        return -1;
    fprintf(f, ",\"lifetimes\":%s,\"views\":[",
            !o->life ? "\"not recorded\"" : rep_life_failed(o->life) ? "\"out of memory\"" : "\"ok\"");
    int first = 1;
    for (size_t i = 0; i < cap->nprocesses; i++) {
        const struct rep_process *p = &cap->processes[i];
        if (!rep_process_selected(p, o->process))
            continue;
        if (!first)
            fputc(',', f);
        first = 0;
        if (write_view(f, cap, p, o->life, stacks) < 0)
            return snprintf(err, errlen, "out of memory"), -1;
    }
    fputs("],", f);
    rep_stacktab_write_json(f, stacks);
    fputc('}', f);
    return 0;
}

static int write_data(FILE *out, const struct rep_capture *cap, const struct rep_html_opts *o,
                      char *err, size_t errlen)
{
    struct esc e;
    struct rep_stacktab *stacks = rep_stacktab_new();
    FILE *f = stacks ? esc_open(&e, out) : NULL;
    if (!f) {
        rep_stacktab_free(stacks);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = write_parts(f, cap, o, stacks, err, errlen);
    rep_stacktab_free(stacks);
    if (fclose(f) != 0 && rc == 0) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        return -1;
    }
    return rc;
}

/* Writes the template up to each marker, then what the marker stands for. */
int rep_html_write(FILE *out, const struct rep_capture *cap, const struct rep_html_opts *o,
                   char *err, size_t errlen)
{
    static const char *const markers[] = { "@CSS@", "@DATA@", "@JS@" };
    const char *t = rep_html_template;
    if (!o->write_json) {
        snprintf(err, errlen, "no JSON writer given");
        return -1;
    }
    for (size_t m = 0; m < sizeof markers / sizeof markers[0]; m++) {
        const char *at = strstr(t, markers[m]);
        if (!at) {
            snprintf(err, errlen, "page template lacks %s", markers[m]);
            return -1;
        }
        fwrite(t, 1, (size_t)(at - t), out);
        if (m == 0)
            fputs(rep_html_css, out);
        else if (m == 2)
            fputs(rep_html_js, out);
        else if (write_data(out, cap, o, err, errlen) < 0)
            return -1;
        t = at + strlen(markers[m]);
    }
    fputs(t, out);
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        return -1;
    }
    return 0;
}
