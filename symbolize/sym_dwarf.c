/* SPDX-License-Identifier: MIT
 *
 * sym_dwarf.c - file, line and inline frames of one address, from DWARF.
 *
 * The compile unit is found in a sorted table of every CU's address ranges,
 * built once per file (.debug_aranges is optional: clang omits it). On the
 * first address in a CU, one walk of its DIE tree collects every function
 * and inlined call that has code (its "scopes", each knowing the scope it is
 * inlined into) and flattens their nested ranges into sorted segments, each
 * naming the innermost scope there. An address then costs two binary
 * searches and a walk up its inline chain; dwarf_getscopes() would walk the
 * whole CU on every call (milliseconds for a large one).
 *
 * The innermost frame executes at the line-table row of the address; each
 * outer frame at the DW_AT_call_file/DW_AT_call_line of the inlined call
 * just inside it.
 */
#include "symbolize/sym_int.h"

#include <dwarf.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- compile-unit index ------------------------------------------------ */

static int range_cmp(const void *pa, const void *pb)
{
    const struct sym_cu_range *a = pa, *b = pb;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

int sym_dwarf_index(struct sym_file *f)
{
    Dwarf_CU *unit = NULL;
    Dwarf_Half version;
    uint8_t unit_type;
    Dwarf_Die cudie;
    size_t cap = 0, cucap = 0;
    while (dwarf_get_units(f->dw, unit, &unit, &version, &unit_type, &cudie, NULL) == 0) {
        if (dwarf_tag(&cudie) != DW_TAG_compile_unit)
            continue;
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        size_t before = f->nranges;
        while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
            if (lo >= hi)
                continue;
            if (sym_grow((void **)&f->ranges, &cap, f->nranges + 1, sizeof *f->ranges) < 0)
                return -1;
            f->ranges[f->nranges++] = (struct sym_cu_range){lo, hi, (uint32_t)f->ncu};
        }
        if (f->nranges == before)
            continue;
        if (sym_grow((void **)&f->cu, &cucap, f->ncu + 1, sizeof *f->cu) < 0)
            return -1;
        f->cu[f->ncu++] = (struct sym_cu){.off = dwarf_dieoffset(&cudie)};
    }
    if (f->nranges)
        qsort(f->ranges, f->nranges, sizeof f->ranges[0], range_cmp);
    return 0;
}

void sym_dwarf_release(struct sym_file *f)
{
    for (size_t i = 0; i < f->ncu; i++) {
        free(f->cu[i].scopes);
        free(f->cu[i].segs);
        free(f->cu[i].quals);
    }
    free(f->cu);
    free(f->ranges);
    f->cu = NULL;
    f->ranges = NULL;
    f->ncu = f->nranges = 0;
}

static struct sym_cu *find_cu(const struct sym_file *f, uint64_t a)
{
    size_t lo = sym_count_upto(f->ranges, f->nranges, sizeof *f->ranges,
                               offsetof(struct sym_cu_range, lo), a);
    if (lo == 0 || a >= f->ranges[lo - 1].hi)
        return NULL;
    return &f->cu[f->ranges[lo - 1].cu];
}

/* ---- scope index of one compile unit ----------------------------------- */

/* A range of a scope, while indexing; depth orders equal ranges. */
struct srange {
    uint64_t lo, hi;
    uint32_t scope, depth;
};

struct walk {
    Dwarf_Die die;
    uint32_t parent, depth;
    const char *prefix; /* enclosing namespaces and classes, C++ only */
};

struct indexer {
    struct sym_ctx *s;
    struct sym_cu *cu;
    int cplusplus;
    size_t scap, rcap, segcap, wcap, qcap, nranges, nwalk;
    struct srange *ranges;
    struct walk *stack;
};

static int srange_cmp(const void *pa, const void *pb)
{
    const struct srange *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    if (a->hi != b->hi)
        return a->hi > b->hi ? -1 : 1;
    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    /* Aliases (GNU as emits one subprogram per name): the first DIE ends up
       on top of the sweep's stack, so it names the range. */
    return a->scope > b->scope ? -1 : a->scope < b->scope;
}

static int walk_push(struct indexer *x, Dwarf_Die *die, uint32_t parent, uint32_t depth,
                     const char *prefix)
{
    if (sym_grow((void **)&x->stack, &x->wcap, x->nwalk + 1, sizeof *x->stack) < 0)
        return -1;
    x->stack[x->nwalk++] = (struct walk){*die, parent, depth, prefix};
    return 0;
}

/* Remembers the C++ prefix of a subprogram DIE (declaration, abstract or
   concrete), which a later frame may be named after. */
static int add_qual(struct indexer *x, struct walk *w)
{
    struct sym_cu *cu = x->cu;
    if (!w->prefix)
        return 0;
    if (sym_grow((void **)&cu->quals, &x->qcap, cu->nquals + 1, sizeof *cu->quals) < 0)
        return -1;
    cu->quals[cu->nquals++] = (struct sym_qual){dwarf_dieoffset(&w->die), w->prefix};
    return 0;
}

/* The prefix for the children of namespace or class `w`; NULL if out of
   memory (the children then go unqualified). */
static const char *child_prefix(struct indexer *x, struct walk *w, int tag)
{
    const char *name = dwarf_diename(&w->die);
    if (!name)
        name = tag == DW_TAG_namespace ? "(anonymous namespace)" : "(anonymous)";
    size_t a = w->prefix ? strlen(w->prefix) : 0, b = strlen(name);
    char *buf = malloc(a + b + 3);
    if (!buf)
        return NULL;
    memcpy(buf, w->prefix ? w->prefix : "", a);
    memcpy(buf + a, name, b);
    memcpy(buf + a + b, "::", 3);
    const char *r = sym_intern(x->s, buf);
    free(buf);
    return r;
}

/* Records die as a scope if it has code; *scope gets its index, or
   SYM_NO_SCOPE when it has no code. */
static int add_scope(struct indexer *x, struct walk *w, int inlined, uint32_t *scope)
{
    struct sym_cu *cu = x->cu;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    uint32_t idx = (uint32_t)cu->nscopes;
    *scope = SYM_NO_SCOPE;
    while ((off = dwarf_ranges(&w->die, off, &base, &lo, &hi)) > 0) {
        if (lo >= hi)
            continue;
        if (sym_grow((void **)&x->ranges, &x->rcap, x->nranges + 1, sizeof *x->ranges) < 0)
            return -1;
        x->ranges[x->nranges++] = (struct srange){lo, hi, idx, w->depth};
        *scope = idx;
    }
    if (*scope == SYM_NO_SCOPE)
        return 0;
    if (sym_grow((void **)&cu->scopes, &x->scap, cu->nscopes + 1, sizeof *cu->scopes) < 0)
        return -1;
    cu->scopes[cu->nscopes++] = (struct sym_scope){dwarf_dieoffset(&w->die),
                                                   inlined ? w->parent : SYM_NO_SCOPE, inlined,
                                                   0, NULL};
    return 0;
}

/* Walks the CU's DIE tree (iteratively: the stack holds the next sibling
   and the children to visit) into scopes and their ranges. DIEs are laid
   out in preorder, which is the order this visits them in; a DIE whose
   offset does not grow (corrupt sibling links) ends the walk, so it cannot
   loop. */
static int collect_scopes(struct indexer *x, Dwarf_Die *cudie)
{
    Dwarf_Die child;
    Dwarf_Off last = dwarf_dieoffset(cudie);
    if (dwarf_child(cudie, &child) == 0 && walk_push(x, &child, SYM_NO_SCOPE, 0, NULL) < 0)
        return -1;
    while (x->nwalk) {
        struct walk w = x->stack[--x->nwalk];
        Dwarf_Off off = dwarf_dieoffset(&w.die);
        if (off <= last)
            break;
        last = off;
        Dwarf_Die sib;
        if (dwarf_siblingof(&w.die, &sib) == 0 &&
            walk_push(x, &sib, w.parent, w.depth, w.prefix) < 0)
            return -1;
        uint32_t inner = w.parent;
        const char *prefix = w.prefix;
        int tag = dwarf_tag(&w.die);
        switch (tag) {
        case DW_TAG_subprogram:
        case DW_TAG_inlined_subroutine:
            if (tag == DW_TAG_subprogram && x->cplusplus && add_qual(x, &w) < 0)
                return -1;
            if (add_scope(x, &w, tag == DW_TAG_inlined_subroutine, &inner) < 0)
                return -1;
            if (inner == SYM_NO_SCOPE)
                continue; /* a declaration or abstract instance: no code inside */
            break;
        case DW_TAG_namespace:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
            if (x->cplusplus)
                prefix = child_prefix(x, &w, tag);
            break;
        case DW_TAG_lexical_block:
        case DW_TAG_module:
            break;
        default:
            continue;
        }
        if (dwarf_child(&w.die, &child) == 0 &&
            walk_push(x, &child, inner, w.depth + 1, prefix) < 0)
            return -1;
    }
    return 0;
}

/* Appends "from lo on, the innermost scope is `scope`". */
static int emit(struct indexer *x, uint64_t lo, uint32_t scope)
{
    struct sym_cu *cu = x->cu;
    if (cu->nsegs && cu->segs[cu->nsegs - 1].lo == lo) {
        cu->segs[cu->nsegs - 1].scope = scope; /* the earlier segment was empty */
        return 0;
    }
    if (cu->nsegs && cu->segs[cu->nsegs - 1].scope == scope)
        return 0;
    if (sym_grow((void **)&cu->segs, &x->segcap, cu->nsegs + 1, sizeof *cu->segs) < 0)
        return -1;
    cu->segs[cu->nsegs++] = (struct sym_seg){lo, scope};
    return 0;
}

/* Flattens the nested ranges (sorted by lo, outer first) into segments with
   a sweep: a stack of the open ranges, whose top is the innermost scope.
   Ranges that cross instead of nesting (bad DWARF) only blur attribution
   near the crossing: positions never move backwards. */
static int flatten(struct indexer *x)
{
    struct srange *open = malloc((x->nranges ? x->nranges : 1) * sizeof *open);
    size_t n = 0;
    uint64_t pos = 0;
    int err = 0;
    if (!open)
        return -1;
    for (size_t i = 0; i <= x->nranges && !err; i++) {
        struct srange *r = i < x->nranges ? &x->ranges[i] : NULL;
        while (n && !err && (!r || open[n - 1].hi <= r->lo)) {
            uint64_t hi = open[--n].hi;
            pos = hi > pos ? hi : pos;
            err = emit(x, pos, n ? open[n - 1].scope : SYM_NO_SCOPE);
        }
        if (!r || err)
            continue;
        pos = r->lo > pos ? r->lo : pos;
        err = emit(x, pos, r->scope);
        open[n++] = *r;
    }
    free(open);
    return err;
}

static int is_cplusplus(Dwarf_Die *cudie)
{
    switch (dwarf_srclang(cudie)) {
    case DW_LANG_C_plus_plus:
    case DW_LANG_C_plus_plus_03:
    case DW_LANG_C_plus_plus_11:
    case DW_LANG_C_plus_plus_14:
        return 1;
    default:
        return 0;
    }
}

static int index_cu(struct sym_ctx *s, struct sym_file *f, struct sym_cu *cu)
{
    struct indexer x = {.s = s, .cu = cu};
    Dwarf_Die cudie;
    cu->indexed = 1;
    int err = 0;
    if (dwarf_offdie(f->dw, cu->off, &cudie)) {
        x.cplusplus = is_cplusplus(&cudie);
        err = collect_scopes(&x, &cudie);
    }
    if (!err && x.nranges)
        qsort(x.ranges, x.nranges, sizeof x.ranges[0], srange_cmp);
    if (!err)
        err = flatten(&x);
    free(x.ranges);
    free(x.stack);
    return err;
}

/* The innermost scope containing a, or SYM_NO_SCOPE. */
static uint32_t find_scope(const struct sym_cu *cu, uint64_t a)
{
    size_t lo = sym_count_upto(cu->segs, cu->nsegs, sizeof *cu->segs,
                               offsetof(struct sym_seg, lo), a);
    return lo ? cu->segs[lo - 1].scope : SYM_NO_SCOPE;
}

/* ---- frames ------------------------------------------------------------ */

/* The DIE that carries die's DW_AT_name: itself, or the end of its
   DW_AT_abstract_origin / DW_AT_specification chain. */
static int naming_die(Dwarf_Die *die, Dwarf_Die *out)
{
    *out = *die;
    for (int hop = 0; hop < 8; hop++) {
        Dwarf_Attribute at;
        Dwarf_Die next;
        if (dwarf_hasattr(out, DW_AT_name))
            return 1;
        if (!dwarf_attr(out, DW_AT_abstract_origin, &at) &&
            !dwarf_attr(out, DW_AT_specification, &at))
            return 0;
        if (!dwarf_formref_die(&at, &next))
            return 0;
        *out = next;
    }
    return 0;
}

static struct sym_cu *cu_by_offset(const struct sym_file *f, Dwarf_Off off)
{
    size_t lo = 0, hi = f->ncu;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->cu[mid].off == off)
            return &f->cu[mid];
        if (f->cu[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The C++ namespaces and classes around subprogram DIE `die`, indexing its
   unit if needed; NULL when there are none or they are unknown. */
static const char *qual_prefix(struct sym_ctx *s, struct sym_file *f, Dwarf_Die *die)
{
    Dwarf_Die cudie;
    struct sym_cu *cu = dwarf_diecu(die, &cudie, NULL, NULL)
                            ? cu_by_offset(f, dwarf_dieoffset(&cudie)) : NULL;
    if (!cu || (!cu->indexed && index_cu(s, f, cu) < 0))
        return NULL;
    Dwarf_Off off = dwarf_dieoffset(die);
    size_t lo = 0, hi = cu->nquals;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cu->quals[mid].die == off)
            return cu->quals[mid].prefix;
        if (cu->quals[mid].die < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The demangled linkage name (qualified, with parameters) if the DIE or its
   abstract origin/specification has a mangled one, else the plain name,
   qualified by its C++ namespaces and classes. A C linkage name is an
   assembler label (glibc's __GI_ aliases) and reads worse than the name. */
static const char *die_name(struct sym_ctx *s, struct sym_file *f, Dwarf_Die *die)
{
    Dwarf_Attribute at;
    Dwarf_Die nd;
    const char *link = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &at));
    if (!link)
        link = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at));
    if (link && link[0] == '_' && link[1] == 'Z')
        return sym_pretty(s, link);
    const char *name = naming_die(die, &nd) ? dwarf_diename(&nd) : NULL;
    if (!name)
        return sym_pretty(s, link);
    const char *prefix = qual_prefix(s, f, &nd);
    if (!prefix)
        return sym_intern(s, name);
    size_t a = strlen(prefix), b = strlen(name);
    char *buf = malloc(a + b + 1);
    if (!buf)
        return sym_intern(s, name);
    memcpy(buf, prefix, a);
    memcpy(buf + a, name, b + 1);
    const char *r = sym_intern(s, buf);
    free(buf);
    return r;
}

/* Where the inlined subroutine `die` was called from. */
static void call_site(struct sym_ctx *s, Dwarf_Die *die, const char **file, unsigned *line)
{
    Dwarf_Attribute at;
    Dwarf_Word idx, ln;
    Dwarf_Die cu;
    Dwarf_Files *files;
    size_t nfiles;
    *file = NULL;
    *line = 0;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &at), &ln) == 0)
        *line = (unsigned)ln;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &at), &idx) != 0 ||
        !dwarf_diecu(die, &cu, NULL, NULL) || dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 ||
        idx >= nfiles)
        return;
    *file = sym_intern(s, dwarf_filesrc(files, idx, NULL, NULL));
}

struct fvec {
    struct sym_frame *v;
    size_t n, cap;
};

static int fpush(struct fvec *v, const char *function, const char *file, unsigned line,
                 int inlined)
{
    if (sym_grow((void **)&v->v, &v->cap, v->n + 1, sizeof *v->v) < 0)
        return -1;
    v->v[v->n++] = (struct sym_frame){function, file, line, NULL, 0, inlined};
    return 0;
}

static const char *scope_name(struct sym_ctx *s, struct sym_file *f, struct sym_scope *sc)
{
    Dwarf_Die die;
    if (!sc->named && dwarf_offdie(f->dw, sc->die, &die)) {
        sc->name = die_name(s, f, &die);
        sc->named = 1;
    }
    return sc->name;
}

size_t sym_dwarf_frames(struct sym_ctx *s, struct sym_file *f, uint64_t a, struct sym_frame **out)
{
    struct fvec v = {0};
    Dwarf_Die cudie, die;
    *out = NULL;
    struct sym_cu *cu = f->dw ? find_cu(f, a) : NULL;
    if (!cu || !dwarf_offdie(f->dw, cu->off, &cudie))
        return 0;
    if (!cu->indexed && index_cu(s, f, cu) < 0)
        return (size_t)-1;
    const char *file = NULL;
    unsigned line = 0;
    int ln;
    Dwarf_Line *row = dwarf_getsrc_die(&cudie, a);
    if (row && dwarf_lineno(row, &ln) == 0 && ln > 0) {
        file = sym_intern(s, dwarf_linesrc(row, NULL, NULL));
        line = (unsigned)ln;
    }
    int err = 0;
    /* Bounded by the scope count: a corrupt parent cycle cannot loop. */
    for (uint32_t i = find_scope(cu, a), k = 0; i != SYM_NO_SCOPE && k < cu->nscopes && !err;
         k++) {
        struct sym_scope *sc = &cu->scopes[i];
        err = fpush(&v, scope_name(s, f, sc), file, line, sc->inlined);
        if (!sc->inlined)
            break;
        if (dwarf_offdie(f->dw, sc->die, &die))
            call_site(s, &die, &file, &line);
        i = sc->parent;
    }
    /* No function around the address: the outermost frame is unnamed here
       and gets its name from the symbol table. */
    if (!err && (v.n == 0 || v.v[v.n - 1].inlined))
        err = fpush(&v, NULL, file, line, 0);
    *out = v.v;
    return err ? (size_t)-1 : v.n;
}
