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

/* A frame as the page shows it: deduplicated per process by content. */
struct fent {
    const char *function, *file, *module;
    unsigned line;
    uint64_t offset;                 /* only when function is NULL */
};

struct ftab {
    struct fent *v;
    size_t n, cap;
    uint32_t *slots;                 /* index + 1; 0 = empty */
    size_t mask;
};

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static uint64_t fent_hash(const struct fent *e)
{
    uint64_t h = fnv(fnv(fnv(0xcbf29ce484222325ull, e->function), e->file), e->module);
    return (h ^ e->line ^ (e->offset << 20)) * 0x9e3779b97f4a7c15ull;
}

static int streq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int fent_eq(const struct fent *a, const struct fent *b)
{
    return a->line == b->line && a->offset == b->offset && streq(a->function, b->function) &&
           streq(a->file, b->file) && streq(a->module, b->module);
}

static int ftab_grow(struct ftab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct fent *v = realloc(t->v, cap * sizeof *v);
    uint32_t *slots = calloc(cap * 2, sizeof *slots);
    if (!v || !slots) {
        if (v)
            t->v = v;
        free(slots);
        return -1;
    }
    t->v = v;
    t->cap = cap;
    free(t->slots);
    t->slots = slots;
    t->mask = cap * 2 - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = fent_hash(&t->v[i]) & t->mask;
        while (t->slots[j])
            j = (j + 1) & t->mask;
        t->slots[j] = (uint32_t)i + 1;
    }
    return 0;
}

/* Index of the frame equal to e, added if new; -1 when out of memory. */
static int64_t ftab_add(struct ftab *t, const struct fent *e)
{
    if (t->n == t->cap && ftab_grow(t) < 0)
        return -1;
    size_t j = fent_hash(e) & t->mask;
    for (; t->slots[j]; j = (j + 1) & t->mask)
        if (fent_eq(&t->v[t->slots[j] - 1], e))
            return t->slots[j] - 1;
    t->v[t->n] = *e;
    t->slots[j] = (uint32_t)t->n + 1;
    return (int64_t)t->n++;
}

static void ftab_release(struct ftab *t)
{
    free(t->v);
    free(t->slots);
}

static void write_frames(FILE *f, const struct ftab *t)
{
    fputs("\"frames\":[", f);
    for (size_t i = 0; i < t->n; i++) {
        const struct fent *e = &t->v[i];
        fputs(i ? ",[" : "[", f);
        if (e->function) {
            rep_json_puts(f, e->function);
        } else {
            char label[512];
            const char *slash = strrchr(e->module, '/');
            snprintf(label, sizeof label, "%s+0x%" PRIx64, slash ? slash + 1 : e->module, e->offset);
            rep_json_puts(f, label);
        }
        fputc(',', f);
        rep_json_puts(f, e->file);
        fprintf(f, ",%u,", e->line);
        rep_json_puts(f, e->module);
        fputc(']', f);
    }
    fputc(']', f);
}

/* ---- one process's view ------------------------------------------------------ */

/* Per site figures of one process, indexed like its sites. */
struct figures {
    uint64_t *leaked, *leaked_blocks;
    uint64_t total[5];               /* n, b, t, p, l over all sites */
    uint8_t *kept;                   /* 1: written as itself; 0: merged into "(other)" */
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

/* Lifetime lists of one site, or of "(other)": dense per-bucket sums. */
struct dense {
    uint64_t *v;                     /* nbuckets x REP_LIFE_NCOLS */
    uint32_t n;
};

struct view {
    const struct rep_process *p;
    int has_life;                    /* 0: no lifetimes */
    struct rep_life_view life;
    struct figures g;
    struct ftab frames;
    uint64_t *labels;                /* label hashes of every site's frames, outermost first */
    size_t *label_at;                /* site i's start in labels */
};

/* Writes "name":[db,count,bytes,...] from columns cn (and cb) of d, and
 * clears what it wrote. cb < 0: bytes are written as 0 (temporaries). */
static void write_list(FILE *f, const char *name, struct dense *d, int cn, int cb)
{
    fprintf(f, ",\"%s\":[", name);
    uint32_t prev = 0;
    int first = 1;
    for (uint32_t b = 0; b < d->n; b++) {
        uint64_t *r = &d->v[(size_t)b * REP_LIFE_NCOLS];
        if (!r[cn])
            continue;
        fprintf(f, "%s%" PRIu32 ",%" PRIu64 ",%" PRIu64, first ? "" : ",", b - prev, r[cn],
                cb >= 0 ? r[cb] : 0);
        prev = b;
        first = 0;
    }
    fputc(']', f);
}

static void write_dense(FILE *f, struct dense *d)
{
    write_list(f, "a", d, REP_LIFE_MADE_N, REP_LIFE_MADE_B);
    write_list(f, "f", d, REP_LIFE_ENDED_N, REP_LIFE_ENDED_B);
    write_list(f, "x", d, REP_LIFE_TEMP_N, -1);
    write_list(f, "z", d, REP_LIFE_LEAKED_N, REP_LIFE_LEAKED_B);
    memset(d->v, 0, (size_t)d->n * REP_LIFE_NCOLS * sizeof *d->v);
}

static void write_figures(FILE *f, const struct rep_process *p, const struct figures *g, size_t i)
{
    fprintf(f, "\"n\":%" PRIu64 ",\"b\":%" PRIu64 ",\"t\":%" PRIu64 ",\"p\":%" PRIu64
               ",\"l\":%" PRIu64 ",\"lb\":%" PRIu64,
            fig(p, g, i, M_N), fig(p, g, i, M_B), fig(p, g, i, M_T), fig(p, g, i, M_P),
            g->leaked[i], g->leaked_blocks[i]);
}

/* Frame indexes of site i's stack, innermost first; -1 when out of memory. */
static int write_stack(FILE *f, struct ftab *t, const struct rep_stack *st)
{
    fputs("\"k\":[", f);
    if (!st->nframes) {
        int64_t k = ftab_add(t, &(struct fent){ .function = "[unknown]", .module = "?" });
        if (k < 0)
            return -1;
        fprintf(f, "%" PRId64 "]", k);
        return 0;
    }
    for (uint32_t j = 0; j < st->nframes; j++) {
        const struct rep_frame *fr = &st->frames[j];
        struct fent e = { fr->function, fr->file, fr->module, fr->line, fr->function ? 0 : fr->offset };
        int64_t k = ftab_add(t, &e);
        if (k < 0)
            return -1;
        fprintf(f, "%s%" PRId64, j ? "," : "", k);
    }
    fputc(']', f);
    return 0;
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

static void write_site_fields(FILE *f, const uint64_t x[6])
{
    fprintf(f, ",\"n\":%" PRIu64 ",\"b\":%" PRIu64 ",\"t\":%" PRIu64 ",\"p\":%" PRIu64
               ",\"l\":%" PRIu64 ",\"lb\":%" PRIu64, x[0], x[1], x[2], x[3], x[4], x[5]);
}

/* Writes one "(other)" site per cut point (cuts sorted by it): the kept
 * callers, then "(other)". */
static int write_others(FILE *f, struct view *v, struct cut *cuts, size_t n, struct dense *d,
                        size_t *written)
{
    const struct rep_process *p = v->p;
    if (!n)
        return 0;
    int64_t other = ftab_add(&v->frames, &(struct fent){ .function = "(other)", .module = "?" });
    if (other < 0)
        return -1;
    for (size_t k = 0; k < n;) {
        uint64_t x[6] = { 0 };
        size_t e = k;
        for (; e < n && cuts[e].depth == cuts[k].depth && cuts[e].node == cuts[k].node; e++) {
            for (int m = 0; m < 5; m++)
                x[m] += fig(p, &v->g, cuts[e].site, m);
            x[5] += v->g.leaked_blocks[cuts[e].site];
            if (v->has_life)
                rep_life_view_add_site(&v->life, cuts[e].site, d->v);
        }
        const struct rep_stack *st = p->sites[cuts[k].site].stack;
        fprintf(f, "%s{\"k\":[%" PRId64, (*written)++ ? "," : "", other);
        for (uint32_t j = st->nframes - cuts[k].depth; j < st->nframes; j++) {
            const struct rep_frame *fr = &st->frames[j];
            int64_t idx = ftab_add(&v->frames, &(struct fent){ fr->function, fr->file, fr->module,
                                                                fr->line, fr->function ? 0 : fr->offset });
            if (idx < 0)
                return -1;
            fprintf(f, ",%" PRId64, idx);
        }
        fputc(']', f);
        write_site_fields(f, x);
        if (v->has_life)
            write_dense(f, d);
        fputc('}', f);
        k = e;
    }
    return 0;
}

/* Writes the kept sites in site order, then the "(other)" entries.
 * -1 when out of memory. */
static int write_sites(FILE *f, struct view *v, struct dense *d)
{
    const struct rep_process *p = v->p;
    size_t written = 0, n = 0, merged = 0;
    uint32_t *ord = malloc((p->nstacks ? p->nstacks : 1) * sizeof *ord);
    struct cut *cuts = malloc((p->nstacks ? p->nstacks : 1) * sizeof *cuts);
    int ret = -1;
    if (!ord || !cuts)
        goto out;
    fputs(",\"sites\":[", f);
    for (size_t i = 0; i < p->nstacks; i++) {
        if (!fig(p, &v->g, i, M_N) && !fig(p, &v->g, i, M_P) && !fig(p, &v->g, i, M_L))
            continue;
        ord[n++] = (uint32_t)i;
        if (!v->g.kept[i])
            continue;
        fputs(written++ ? ",{" : "{", f);
        if (write_stack(f, &v->frames, p->sites[i].stack) < 0)
            goto out;
        fputc(',', f);
        write_figures(f, p, &v->g, i);
        if (v->has_life) {
            rep_life_view_add_site(&v->life, (uint32_t)i, d->v);
            write_dense(f, d);
        }
        fputc('}', f);
    }
    if (hash_paths(v) < 0)
        goto out;
    qsort_r(ord, n, sizeof *ord, path_cmp, v);
    if (find_cuts(v, ord, n, cuts, &merged) < 0)
        goto out;
    if (write_others(f, v, cuts, merged, d, &written) < 0)
        goto out;
    fprintf(f, "],\"merged_sites\":%zu", merged);
    ret = 0;
out:
    free(ord);
    free(cuts);
    return ret;
}

/* The exact heap series gathered with the lifetimes (the largest heap in
 * use within each bucket, inherited blocks included), with the RSS samples
 * put on the same grid (the largest of each bucket; empty buckets repeat the
 * last value, the first sample stands for the time before it). */
static void write_event_series(FILE *f, const struct view *v)
{
    const struct rep_life_view *s = &v->life;
    const struct rep_process *p = v->p;
    fprintf(f, "{\"t0\":%" PRIu64 ",\"dt\":%" PRIu64 ",\"source\":\"events\",\"heap\":[",
            s->t0, s->heap_width);
    for (uint32_t b = 0; b < s->heap_n; b++) {
        int64_t h = s->heap[b] + (int64_t)p->inherited_bytes;
        fprintf(f, "%s%" PRId64, b ? "," : "", h > 0 ? h : 0);
    }
    fputs("],\"rss\":[", f);
    size_t si = 0;
    uint64_t last = p->nsamples ? p->samples[0].rss_bytes : 0;
    for (uint32_t b = 0; b < s->heap_n && p->nsamples; b++) {
        uint64_t hi = 0;
        int any = 0;
        for (; si < p->nsamples && (p->samples[si].time_us < s->t0 ||
                                    (p->samples[si].time_us - s->t0) / s->heap_width <= b); si++) {
            hi = any && hi > p->samples[si].rss_bytes ? hi : p->samples[si].rss_bytes;
            any = 1;
        }
        last = any ? hi : last;
        fprintf(f, "%s%" PRIu64, b ? "," : "", last);
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
            last = any ? hi : last;
            fprintf(f, "%s%" PRIu64, b ? "," : "", last);
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
    ftab_release(&v->frames);
    rep_life_view_release(&v->life);
    free(v->labels);
    free(v->label_at);
}

static int view_init(struct view *v, const struct rep_process *p, const struct rep_life *life)
{
    memset(v, 0, sizeof *v);
    v->p = p;
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

static int write_view(FILE *f, const struct rep_process *p, const struct rep_life *life)
{
    struct view v;
    struct dense d = { 0 };
    int ret = -1;
    if (view_init(&v, p, life) < 0)
        goto out;
    if (v.has_life) {
        d.n = v.life.nbuckets;
        d.v = calloc((size_t)d.n * REP_LIFE_NCOLS, sizeof *d.v);
        if (!d.v)
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
    if (write_sites(f, &v, &d) < 0)
        goto out;
    fputc(',', f);
    write_frames(f, &v.frames);
    fputc('}', f);
    ret = 0;
out:
    free(d.v);
    view_release(&v);
    return ret;
}

/* ---- the page ------------------------------------------------------------ */

static int write_data(FILE *out, const struct rep_capture *cap, const struct rep_html_opts *o,
                      char *err, size_t errlen)
{
    struct esc e;
    FILE *f = esc_open(&e, out);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fputs("{\"format\":\"heapgraph-html/1\",\"generator\":\"heapgraph " HG_VERSION "\",\"report\":", f);
    if (o->write_json(f, o->json_arg, err, errlen) < 0) {
        fclose(f);
        return -1;
    }
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
        if (write_view(f, p, o->life) < 0) {
            fclose(f);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    fputs("]}", f);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        return -1;
    }
    return 0;
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
