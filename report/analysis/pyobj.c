/* SPDX-License-Identifier: MIT
 *
 * pyobj.c - the Python view of a classified snapshot (pyobj.h).
 *
 * Everything here is derived from two things the runtime recorded: which
 * blocks are Python objects (type, offset of the object in its block) or
 * belong to one (a list's items, a dict's keys and values, an instance's
 * attribute values, an object's attribute dict), and the scanner's edges,
 * each the word at `src_off` of a block pointing at an object. A reference
 * is named by where its word lies: slot i of a list's items is `[i]`, the
 * value of entry i of a keys table is `['k']` where k is the text of the str
 * the same entry's key word points at, value i of an instance's inline
 * values is `.k` with k from the class's shared keys, a named field of the
 * object's type is `.name`. Out-edges of every block are indexed by offset
 * so that the key of an entry is one binary search away.
 */
#include "report/analysis/pyobj.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model/index.h"

#define NONE UINT32_MAX
#define MAX_TEXT 200

struct rep_py {
    struct rep_arena *a;
    const struct rep_process *p;
    const struct rep_snapshot *s;
    const struct rep_pyblock *py;
    uint32_t *off;      /* nblocks + 1: out-edges of block b are adj[off[b]..off[b+1]) */
    uint32_t *adj;      /* edge indexes, by source offset within a block */
};

/* What the word at an offset of a block is, for a Python developer. */
enum ref_kind {
    REF_NATIVE = 0,     /* not a Python reference: "+offset" */
    REF_PART,           /* an object's pointer to its own items, keys, values or __dict__ */
    REF_PY,             /* owner + suffix: Node.peer, list[3], dict['k'] */
};

struct ref {
    enum ref_kind kind;
    uint32_t owner;     /* the object the reference belongs to */
    int attr;           /* the suffix names an attribute (.k) of owner */
    char suffix[MAX_TEXT];
};

/* ------------------------------------------------------------- lookups */

static const struct rep_pytype *type_of(const struct rep_py *x, uint32_t b)
{
    uint32_t t = x->py[b].type;
    return t && t <= x->p->npytypes ? &x->p->pytypes[t - 1] : NULL;
}

static int kind_of(const struct rep_py *x, uint32_t b)
{
    const struct rep_pytype *t = type_of(x, b);
    return t ? t->kind : -1;
}

/* The block the word at src_off of block src points at, or NONE. */
static uint32_t edge_at(const struct rep_py *x, uint32_t src, uint64_t src_off)
{
    uint32_t lo = x->off[src], hi = x->off[src + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (x->s->edges[x->adj[mid]].src_off < src_off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < x->off[src + 1] && x->s->edges[x->adj[lo]].src_off == src_off)
        return x->s->edges[x->adj[lo]].dst;
    return NONE;
}

/* The text of a str object (NULL when not recorded). */
static const char *str_text(const struct rep_py *x, uint32_t b)
{
    if (b == NONE || kind_of(x, b) != REP_PYK_STR)
        return NULL;
    return x->py[b].text_kind == REP_PYN_STR ? x->py[b].text : NULL;
}

/* The text of the str a named field of object b points at. */
static const char *field_text(const struct rep_py *x, uint32_t b, const char *field)
{
    const struct rep_pytype *t = type_of(x, b);
    for (uint32_t i = 0; t && i < t->nfields; i++)
        if (!strcmp(t->fields[i].name, field))
            return str_text(x, edge_at(x, b, (uint64_t)((int64_t)x->py[b].offset + t->fields[i].offset)));
    return NULL;
}

/* How an object is called in a label: a module by its name, a class or a
 * function by its qualified name, anything else by its type's name. */
static const char *display(const struct rep_py *x, uint32_t b)
{
    const struct rep_pyblock *pb = &x->py[b];
    const struct rep_pytype *t = type_of(x, b);
    if (pb->text && (pb->text_kind == REP_PYN_NAME || pb->text_kind == REP_PYN_WELL_KNOWN))
        return pb->text;
    if (!t)
        return "native";
    const char *n = NULL;
    if (t->kind == REP_PYK_TYPE || t->kind == REP_PYK_FUNCTION)
        n = field_text(x, b, "__qualname__");
    return n ? n : t->name;
}

/* Entry e of a keys table's NUL-separated key texts, or NULL. */
static const char *listed_key(const struct rep_pyblock *k, uint32_t e)
{
    const char *p = k->text, *end = k->text + k->text_len;
    for (uint32_t i = 0; i < e && p < end; i++)
        p += strlen(p) + 1;
    return p < end && *p ? p : NULL;
}

/* The key of entry e of the keys table in block kb, as a subscript:
 * 'text' for a str, a number for an int, <type> for another object. */
static void key_words(const struct rep_py *x, uint32_t kb, uint32_t e, char *buf, size_t len)
{
    const struct rep_pyblock *k = &x->py[kb];
    const char *listed = k->text_kind == REP_PYN_KEYS && k->text ? listed_key(k, e) : NULL;
    if (listed) {
        snprintf(buf, len, "%s", listed);
        return;
    }
    uint32_t size = k->b ? k->b : 16, key_at = size == 24 ? 8 : 0;
    uint32_t key = k->role == REP_PYP_DICT_KEYS
                       ? edge_at(x, kb, (uint64_t)k->a + (uint64_t)e * size + key_at) : NONE;
    const char *text = str_text(x, key);
    if (text)
        snprintf(buf, len, "'%s'", text);
    else if (key != NONE && type_of(x, key))
        snprintf(buf, len, "<%s>", type_of(x, key)->name);
    else
        snprintf(buf, len, "?");
}

/* ------------------------------------------------------------- naming */

/* The suffix of a dict entry's value: `.k` when the dict holds its owner's
 * attributes (the reference then belongs to that owner), else `['k']`. */
static void dict_entry(const struct rep_py *x, uint32_t dict, uint32_t kb, uint32_t e,
                       struct ref *r)
{
    char key[MAX_TEXT - 8];
    key_words(x, kb, e, key, sizeof key);
    r->kind = REF_PY;
    r->owner = dict;
    const struct rep_pyblock *d = &x->py[dict];
    int is_dict = kind_of(x, dict) == REP_PYK_DICT;
    if (is_dict && d->role == REP_PYP_ATTR_DICT)
        r->owner = d->owner;
    r->attr = !is_dict || d->role == REP_PYP_ATTR_DICT;
    if (r->attr && key[0] == '\'') {
        size_t n = strlen(key);
        snprintf(r->suffix, sizeof r->suffix, ".%.*s", (int)(n - 2), key + 1);
    } else {
        snprintf(r->suffix, sizeof r->suffix, "[%s]", key);
    }
}

static void from_part(const struct rep_py *x, uint32_t src, uint64_t off, struct ref *r)
{
    const struct rep_pyblock *pb = &x->py[src];
    switch (pb->role) {
    case REP_PYP_LIST_ITEMS:
        r->kind = REF_PY;
        r->owner = pb->owner;
        snprintf(r->suffix, sizeof r->suffix, "[%" PRIu64 "]", off / 8);
        return;
    case REP_PYP_DICT_KEYS: {
        uint32_t size = pb->b ? pb->b : 16;
        if (off < pb->a)
            return;
        uint64_t e = (off - pb->a) / size, at = (off - pb->a) % size;
        if (at == (size == 24 ? 16u : 8u)) {
            dict_entry(x, pb->owner, src, (uint32_t)e, r);
        } else if (at == (size == 24 ? 8u : 0u)) {
            r->kind = REF_PY;
            r->owner = pb->owner;
            snprintf(r->suffix, sizeof r->suffix, " key");
        }
        return;
    }
    case REP_PYP_DICT_VALUES:
        if (off < pb->a || !pb->b || pb->b - 1 >= x->s->nblocks)
            return;
        dict_entry(x, pb->owner, pb->b - 1, (uint32_t)((off - pb->a) / 8), r);
        return;
    case REP_PYP_SET_TABLE:
        r->kind = REF_PY;
        r->owner = pb->owner;
        snprintf(r->suffix, sizeof r->suffix, " item");
        return;
    default:
        return;
    }
}

static void from_object(const struct rep_py *x, uint32_t src, uint64_t off, struct ref *r)
{
    const struct rep_pytype *t = type_of(x, src);
    int64_t rel = (int64_t)off - (int64_t)x->py[src].offset;
    r->kind = REF_PY;
    r->owner = src;
    if (t->items_offset && rel >= (int64_t)t->items_offset) {
        snprintf(r->suffix, sizeof r->suffix, "[%" PRId64 "]", (rel - (int64_t)t->items_offset) / 8);
        return;
    }
    for (uint32_t i = 0; i < t->nfields; i++)
        if (t->fields[i].offset == rel) {
            snprintf(r->suffix, sizeof r->suffix, ".%s", t->fields[i].name);
            r->attr = 1;
            return;
        }
    if (rel == 8) {
        snprintf(r->suffix, sizeof r->suffix, ".__class__");
        r->attr = 1;
        return;
    }
    r->kind = REF_NATIVE;
}

/* Names the reference held by the word at src_off of block src, which
 * points at block dst. */
static void name_ref(const struct rep_py *x, uint32_t src, uint64_t src_off, uint32_t dst,
                     struct ref *r)
{
    memset(r, 0, sizeof *r);
    r->owner = NONE;
    const struct rep_pyblock *d = &x->py[dst];
    if (d->role && d->owner == src) {
        r->kind = REF_PART;
        r->owner = src;
        return;
    }
    if (x->py[src].role && x->py[src].role != REP_PYP_ATTR_DICT)
        from_part(x, src, src_off, r);
    else if (type_of(x, src))
        from_object(x, src, src_off, r);
    if (r->kind == REF_NATIVE)
        snprintf(r->suffix, sizeof r->suffix, "+%" PRIu64, src_off);
}

/* "Node.peer", "list[3]", "dict['parent']", "app.CACHE". */
static const char *ref_label(struct rep_py *x, const struct ref *r)
{
    char buf[2 * MAX_TEXT + 8];
    snprintf(buf, sizeof buf, "%s%s", display(x, r->owner), r->suffix);
    return rep_arena_strndup(x->a, buf, strlen(buf));
}

/* ------------------------------------------------------------- context */

static int cmp_by_off(const void *pa, const void *pb, void *arg)
{
    const struct rep_graph_edge *e = arg;
    uint64_t a = e[*(const uint32_t *)pa].src_off, b = e[*(const uint32_t *)pb].src_off;
    return a < b ? -1 : a > b;
}

static int index_edges(struct rep_py *x)
{
    const struct rep_snapshot *s = x->s;
    size_t n = s->nblocks;
    x->off = calloc(n + 2, sizeof *x->off);
    x->adj = malloc((s->nedges + 1) * sizeof *x->adj);
    uint32_t *fill = malloc((n + 1) * sizeof *fill);
    if (!x->off || !x->adj || !fill)
        return free(fill), -1;
    for (size_t i = 0; i < s->nedges; i++)
        if (!(s->edges[i].src & REP_GRAPH_ROOT) && s->edges[i].src < n)
            x->off[s->edges[i].src + 1]++;
    for (size_t b = 0; b < n; b++)
        x->off[b + 1] += x->off[b];
    memcpy(fill, x->off, n * sizeof *fill);
    for (size_t i = 0; i < s->nedges; i++)
        if (!(s->edges[i].src & REP_GRAPH_ROOT) && s->edges[i].src < n)
            x->adj[fill[s->edges[i].src]++] = (uint32_t)i;
    free(fill);
    /* the scanner emits each block's words in order; sort only if not */
    for (size_t b = 0; b < n; b++)
        for (uint32_t k = x->off[b] + 1; k < x->off[b + 1]; k++)
            if (s->edges[x->adj[k]].src_off < s->edges[x->adj[k - 1]].src_off) {
                qsort_r(x->adj + x->off[b], x->off[b + 1] - x->off[b], sizeof *x->adj,
                        cmp_by_off, (void *)s->edges);
                break;
            }
    return 0;
}

struct rep_py *rep_py_open(struct rep_arena *a, const struct rep_process *p,
                           const struct rep_snapshot *s, int *oom)
{
    *oom = 0;
    if (!s->py)
        return NULL;
    struct rep_py *x = calloc(1, sizeof *x);
    if (!x)
        return *oom = 1, NULL;
    *x = (struct rep_py){a, p, s, s->py, NULL, NULL};
    if (index_edges(x) < 0) {
        rep_py_close(x);
        return *oom = 1, NULL;
    }
    return x;
}

void rep_py_close(struct rep_py *x)
{
    if (!x)
        return;
    free(x->off);
    free(x->adj);
    free(x);
}

/* ------------------------------------------------------------- cycles */

/* Whether the collector can free the cycle: every member is a tracked
 * object or belongs to one, or something it cannot see holds it. */
static uint8_t cycle_state(const struct rep_py *x, const struct rep_cycle *c)
{
    uint8_t state = c->nobjects ? REP_PYC_PENDING : REP_PYC_NATIVE;
    for (uint32_t e = 0; c->nobjects && e < c->nedges; e++) {
        uint32_t src = c->edges[e].src;
        const struct rep_pyblock *pb = &x->py[src];
        const struct rep_pytype *t = type_of(x, src);
        if (!t && !pb->role)
            return REP_PYC_NATIVE_LINK;
        if (t && !pb->role && (!(t->flags & REP_PYT_GC) || !(pb->flags & REP_PYO_TRACKED)))
            state = REP_PYC_UNTRACKED;
    }
    return state;
}

static int explain_cycle(struct rep_py *x, struct rep_cycle *c)
{
    const char **labels = rep_arena_alloc(x->a, (c->nedges + 1) * sizeof *labels);
    uint32_t *refs = rep_arena_alloc(x->a, (c->nmembers + 1) * sizeof *refs);
    if (!labels || !refs)
        return -1;
    c->nobjects = 0;
    for (uint32_t m = 0; m < c->nmembers; m++)
        c->nobjects += x->py[c->members[m]].type != 0;
    for (uint32_t e = 0; e < c->nedges; e++) {
        const struct rep_graph_edge *ed = &c->edges[e];
        struct ref r;
        name_ref(x, ed->src, ed->src_off, ed->dst, &r);
        if (r.kind == REF_PART || !x->py[ed->dst].type)
            continue;
        refs[rep_cycle_member(c, ed->dst)]++;
        if (r.kind == REF_PY && !(labels[e] = ref_label(x, &r)))
            return -1;
    }
    c->labels = labels;
    c->internal_refs = refs;
    c->py_state = cycle_state(x, c);
    return 0;
}

/* ------------------------------------------------------ cycle groups */

struct shape {
    uint32_t site, objects;
    uint8_t state;
    const char *types, *labels;
};

/* Distinct strings of v (n of them) joined with ", ", most frequent first
 * when `counted`, else in sorted order. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct distinct {
    const char *s;
    size_t n;
};

static const char *join_distinct(struct rep_arena *a, const char **v, size_t n, int counted)
{
    char buf[512];
    size_t o = 0, ndist = 0;
    struct distinct d[16];
    qsort(v, n, sizeof *v, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (ndist && !strcmp(d[ndist - 1].s, v[i]))
            d[ndist - 1].n++;
        else if (ndist < 16)
            d[ndist++] = (struct distinct){v[i], 1};
    }
    for (size_t i = 1; counted && i < ndist; i++)   /* insertion sort by count, stable */
        for (size_t j = i; j > 0 && d[j].n > d[j - 1].n; j--) {
            struct distinct t = d[j];
            d[j] = d[j - 1];
            d[j - 1] = t;
        }
    buf[0] = 0;
    for (size_t i = 0; i < ndist && o < sizeof buf - 1; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? ", " : "", d[i].s);
    return rep_arena_strndup(a, buf, o < sizeof buf ? o : sizeof buf - 1);
}

static int cycle_shape(struct rep_py *x, const struct rep_cycle *c, struct shape *sh)
{
    const char **v = malloc((c->nmembers + c->nedges + 1) * sizeof *v);
    if (!v)
        return -1;
    size_t n = 0;
    sh->site = NONE;
    for (uint32_t m = 0; m < c->nmembers; m++)
        if (x->py[c->members[m]].type) {
            if (sh->site == NONE)
                sh->site = x->s->blocks[c->members[m]].site;
            v[n++] = display(x, c->members[m]);
        }
    if (sh->site == NONE)
        sh->site = x->s->blocks[c->members[0]].site;
    sh->types = join_distinct(x->a, v, n, 1);
    n = 0;
    for (uint32_t e = 0; e < c->nedges; e++)
        if (c->labels[e])
            v[n++] = c->labels[e];
    sh->labels = join_distinct(x->a, v, n, 0);
    sh->objects = c->nobjects;
    sh->state = c->py_state;
    free(v);
    return sh->types && sh->labels ? 0 : -1;
}

static uint64_t hash_str(uint64_t h, const char *p)
{
    for (; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h * 0x100000001b3ull;
}

/* What a site looks like to the reader: its frames' functions, files and
 * lines once symbolized (Python lines have several stacks, one per
 * instruction), else its index. */
static uint64_t site_look(const struct rep_py *x, uint32_t site)
{
    const struct rep_stack *st = x->p->sites[site].stack;
    if (!st->nframes)
        return site;
    uint64_t h = 0x84222325cbf29ce4ull;
    for (uint32_t i = 0; i < st->nframes; i++) {
        const struct rep_frame *f = &st->frames[i];
        h = hash_str(hash_str(h, f->function ? f->function : f->module), f->file);
        h = (h ^ f->line ^ (f->function ? 0 : f->offset)) * 0x100000001b3ull;
    }
    return h;
}

static int same_look(const struct rep_py *x, uint32_t a, uint32_t b)
{
    const struct rep_stack *s = x->p->sites[a].stack, *t = x->p->sites[b].stack;
    if (a == b)
        return 1;
    if (!s->nframes || s->nframes != t->nframes)
        return 0;
    for (uint32_t i = 0; i < s->nframes; i++) {
        const struct rep_frame *f = &s->frames[i], *g = &t->frames[i];
        if (f->line != g->line || !f->function != !g->function ||
            (f->function ? strcmp(f->function, g->function) : f->offset != g->offset) ||
            !f->file != !g->file || (f->file && strcmp(f->file, g->file)))
            return 0;
    }
    return 1;
}

static uint64_t shape_hash(const struct rep_py *x, const struct shape *sh)
{
    uint64_t h = 0xcbf29ce484222325ull ^ site_look(x, sh->site) ^ ((uint64_t)sh->objects << 32) ^
                 sh->state;
    for (const char *p = sh->types; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    for (const char *p = sh->labels; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return h;
}

static int cmp_groups(const void *pa, const void *pb)
{
    const struct rep_pycycle_group *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* Root cycles with Python objects, grouped by what their site looks like,
 * state, size, types and labels (equal hashes are compared in full). */
static int group_cycles(struct rep_py *x, struct rep_snapshot *s)
{
    struct rep_pycycle_group *g = rep_arena_alloc(x->a, (s->ncycles + 1) * sizeof *g);
    struct rep_index idx = {0};
    size_t n = 0;
    if (!g)
        return -1;
    for (size_t i = 0; i < s->ncycles; i++) {
        const struct rep_cycle *c = &s->cycles[i];
        struct shape sh;
        if (!c->nobjects || !c->root)
            continue;
        if (cycle_shape(x, c, &sh) < 0)
            return rep_index_release(&idx), -1;
        uint64_t h = shape_hash(x, &sh);
        uint32_t k = rep_index_get(&idx, h);
        while (k != REP_INDEX_NONE && (!same_look(x, g[k].site, sh.site) || g[k].state != sh.state ||
                                       g[k].objects != sh.objects || strcmp(g[k].types, sh.types) ||
                                       strcmp(g[k].labels, sh.labels)))
            k = rep_index_get(&idx, ++h);
        if (k == REP_INDEX_NONE) {
            if (rep_index_put(&idx, h, (uint32_t)n) < 0)
                return rep_index_release(&idx), -1;
            k = (uint32_t)n++;
            g[k] = (struct rep_pycycle_group){sh.site, sh.state, 0, sh.objects, 0, 0,
                                              sh.types, sh.labels, (uint32_t)i};
        }
        g[k].ncycles++;
        g[k].blocks += c->nmembers;
        g[k].bytes += c->bytes;
    }
    rep_index_release(&idx);
    qsort(g, n, sizeof *g, cmp_groups);
    s->pycycle_groups = g;
    s->npycycle_groups = n;
    return 0;
}

int rep_py_cycles(struct rep_py *x, struct rep_snapshot *s, struct rep_cycle *cycles)
{
    for (size_t i = 0; i < s->ncycles; i++)
        if (explain_cycle(x, &cycles[i]) < 0)
            return -1;
    return group_cycles(x, s);
}

/* ------------------------------------------------------------- types */

static int cmp_stats(const void *pa, const void *pb)
{
    const struct rep_typestat *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return a->type < b->type ? -1 : a->type > b->type;
}

/* Per type index: count and bytes (the objects and their own parts). */
static void count_types(const struct rep_snapshot *s, struct rep_typestat *per)
{
    for (size_t b = 0; b < s->nblocks; b++) {
        const struct rep_pyblock *pb = &s->py[b];
        uint32_t t = pb->type;
        if (t) {
            per[t - 1].count++;
        } else if (pb->role && pb->owner < s->nblocks) {
            t = s->py[pb->owner].type;
        }
        if (t)
            per[t - 1].bytes += s->blocks[b].size;
    }
}

int rep_py_types(struct rep_py *x, struct rep_snapshot *s, const struct rep_snapshot *prev)
{
    size_t nt = x->p->npytypes;
    struct rep_typestat *per = calloc(nt + 1, sizeof *per), *before = calloc(nt + 1, sizeof *before);
    if (!per || !before)
        return free(per), free(before), -1;
    count_types(s, per);
    if (prev && prev->py)
        count_types(prev, before);
    size_t n = 0;
    for (size_t t = 0; t < nt; t++)
        n += per[t].count || before[t].count;
    struct rep_typestat *out = rep_arena_alloc(x->a, (n + 1) * sizeof *out);
    if (!out)
        return free(per), free(before), -1;
    size_t k = 0;
    for (size_t t = 0; t < nt; t++) {
        if (!per[t].count && !before[t].count)
            continue;
        out[k] = (struct rep_typestat){(uint32_t)t, per[t].count, per[t].bytes,
                                       (int64_t)(per[t].count - before[t].count),
                                       (int64_t)(per[t].bytes - before[t].bytes)};
        k++;
    }
    free(per);
    free(before);
    qsort(out, k, sizeof *out, cmp_stats);
    s->typestats = out;
    s->ntypestats = k;
    return 0;
}

/* --------------------------------------------------------- retention */

struct expr {
    char text[512];
    const char *holder;
    char where[256];
};

static void expr_set(struct expr *e, const char *holder, const char *head, const char *suffix)
{
    e->holder = holder;
    e->where[0] = 0;
    snprintf(e->text, sizeof e->text, "%s%s", head, suffix);
}

static void expr_add(struct expr *e, const char *suffix)
{
    size_t n = strlen(e->text);
    snprintf(e->text + n, sizeof e->text - n, "%s", suffix);
}

/* The start of a path at a Python frame root: the local variable the
 * word at `off` holds, with the frame and thread that hold it. */
static void frame_start(const struct rep_py *x, const struct rep_retention *r, uint64_t off,
                        struct expr *e)
{
    const struct rep_pyframe_root *f = NULL;
    for (size_t i = 0; i < x->s->npyframes; i++)
        if (x->s->pyframes[i].root_id == r->root_id)
            f = &x->s->pyframes[i];
    if (!f)
        return;
    uint64_t i = off / 8;
    const struct rep_thread *t = rep_process_thread(x->p, f->thread);
    const char *file = f->file ? strrchr(f->file, '/') : NULL;
    expr_set(e, "local variable", i < f->nnames ? f->names[i] : "<evaluation stack>", "");
    snprintf(e->where, sizeof e->where, "%s (%s:%u), thread %s", f->function,
             file ? file + 1 : f->file ? f->file : "?", f->line,
             t && t->name ? t->name : "(unnamed)");
}

/* One step of a path: the reference from src (at off) to dst. An
 * attribute of a module or a class, or an entry of a well-known object,
 * starts the expression anew: the name closest to the block is the one a
 * developer knows it by. */
static void step(const struct rep_py *x, uint32_t src, uint64_t off, uint32_t dst, struct expr *e)
{
    struct ref r;
    name_ref(x, src, off, dst, &r);
    if (r.kind == REF_PART)
        return;
    if (r.kind == REF_NATIVE) {
        expr_set(e, "native memory", "", "");
        return;
    }
    const struct rep_pyblock *o = &x->py[r.owner];
    int kind = kind_of(x, r.owner);
    if (r.attr && kind == REP_PYK_MODULE)
        expr_set(e, "module global", display(x, r.owner), r.suffix);
    else if (r.attr && kind == REP_PYK_TYPE)
        expr_set(e, "class attribute", display(x, r.owner), r.suffix);
    else if (o->text && o->text_kind == REP_PYN_WELL_KNOWN)
        expr_set(e, o->text, o->text, r.suffix);
    else if (!e->text[0])
        expr_set(e, e->holder, display(x, r.owner), r.suffix);
    else
        expr_add(e, r.suffix);
}

/* The first object of a path that reached it through native memory: a
 * module, a class or a well-known object by its name, another as <type>. */
static void first_object(const struct rep_py *x, uint32_t b, struct expr *e)
{
    const struct rep_pyblock *d = &x->py[b];
    int kind = kind_of(x, b);
    if (d->text && d->text_kind == REP_PYN_WELL_KNOWN)
        expr_set(e, d->text, d->text, "");
    else if (kind == REP_PYK_MODULE || kind == REP_PYK_TYPE)
        snprintf(e->text, sizeof e->text, "%s", display(x, b));
    else
        snprintf(e->text, sizeof e->text, "<%s>", display(x, b));
}

int rep_py_retention(struct rep_py *x, struct rep_retention *r)
{
    struct expr e = {{0}, NULL, {0}};
    if (!r->npath)
        return 0;
    const struct rep_root *root = rep_snapshot_root(x->s, r->root_id);
    uint64_t root_off = root ? r->root_addr - root->start : 0;
    if (r->root_kind == REP_ROOT_PYFRAME)
        frame_start(x, r, root_off, &e);
    if (!e.holder)
        e.holder = r->root_kind == REP_ROOT_GLOBAL ? "C global" : "native root";
    for (uint32_t i = 0; i < r->npath; i++) {
        uint32_t dst = r->path[i].block;
        if (i > 0)
            step(x, r->path[i - 1].block, r->path[i].offset, dst, &e);
        if (!e.text[0] && x->py[dst].type)
            first_object(x, dst, &e);
    }
    if (!e.text[0])
        return 0;
    char holder[sizeof e.where + 64];
    snprintf(holder, sizeof holder, "%s%s%s", e.holder, e.where[0] ? " in " : "", e.where);
    r->py_holder = rep_arena_strndup(x->a, holder, strlen(holder));
    r->py_expr = rep_arena_strndup(x->a, e.text, strlen(e.text));
    return r->py_holder && r->py_expr ? 0 : -1;
}
