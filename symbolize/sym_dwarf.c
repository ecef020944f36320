/* SPDX-License-Identifier: MIT
 *
 * sym_dwarf.c - file, line and inline frames of one address, from DWARF.
 *
 * The compile unit is found in a table of every CU's address ranges, built
 * once per file and sorted (.debug_aranges is optional: clang omits it).
 * dwarf_getscopes() then gives the innermost scope containing the address,
 * but past an inlined subroutine it continues with the scopes of the inlined
 * function's abstract definition, not with the function it was inlined into;
 * dwarf_getscopes_die() on that innermost scope gives the concrete chain:
 * the inlined subroutines, innermost first, up to the real subprogram. The
 * innermost frame executes at the line-table row of the address; each outer
 * frame at the DW_AT_call_file/DW_AT_call_line of the inlined subroutine
 * just inside it.
 */
#include "symbolize/sym_int.h"

#include <dwarf.h>
#include <stdlib.h>

/* ---- compile-unit index ------------------------------------------------ */

static int cu_cmp(const void *pa, const void *pb)
{
    const struct sym_cu_range *a = pa, *b = pb;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int cu_push(struct sym_file *f, size_t *cap, uint64_t lo, uint64_t hi, Dwarf_Off cu)
{
    if (f->ncus == *cap) {
        size_t n = *cap ? *cap * 2 : 64;
        struct sym_cu_range *p = realloc(f->cus, n * sizeof *p);
        if (!p)
            return -1;
        f->cus = p;
        *cap = n;
    }
    f->cus[f->ncus++] = (struct sym_cu_range){lo, hi, cu};
    return 0;
}

int sym_dwarf_index(struct sym_file *f)
{
    Dwarf_CU *cu = NULL;
    Dwarf_Half version;
    uint8_t unit_type;
    Dwarf_Die cudie;
    size_t cap = 0;
    while (dwarf_get_units(f->dw, cu, &cu, &version, &unit_type, &cudie, NULL) == 0) {
        if (dwarf_tag(&cudie) != DW_TAG_compile_unit)
            continue;
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0)
            if (lo < hi && cu_push(f, &cap, lo, hi, dwarf_dieoffset(&cudie)) < 0)
                return -1;
    }
    if (f->ncus)
        qsort(f->cus, f->ncus, sizeof f->cus[0], cu_cmp);
    return 0;
}

static int find_cu(const struct sym_file *f, uint64_t a, Dwarf_Die *cudie)
{
    size_t lo = 0, hi = f->ncus;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->cus[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || a >= f->cus[lo - 1].hi)
        return -1;
    return dwarf_offdie(f->dw, f->cus[lo - 1].cu, cudie) ? 0 : -1;
}

/* ---- frames ------------------------------------------------------------ */

/* The demangled linkage name (qualified, with parameters) if the DIE or its
   abstract origin/specification has one, else the plain name. */
static const char *die_name(struct sym_ctx *s, Dwarf_Die *die)
{
    Dwarf_Attribute at;
    const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &at));
    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &at));
    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &at));
    return sym_pretty(s, n);
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
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        struct sym_frame *p = realloc(v->v, cap * sizeof *p);
        if (!p)
            return -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = (struct sym_frame){function, file, line, NULL, 0, inlined};
    return 0;
}

/* The concrete scopes around a, innermost first; 0 when there are none. */
static int concrete_scopes(Dwarf_Die *cudie, uint64_t a, Dwarf_Die **chain)
{
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cudie, a, &scopes);
    *chain = NULL;
    if (n > 0)
        n = dwarf_getscopes_die(&scopes[0], chain);
    free(scopes);
    return n > 0 ? n : 0;
}

size_t sym_dwarf_frames(struct sym_ctx *s, struct sym_file *f, uint64_t a, struct sym_frame **out)
{
    Dwarf_Die cudie, *chain;
    struct fvec v = {0};
    *out = NULL;
    if (!f->dw || find_cu(f, a, &cudie) < 0)
        return 0;
    const char *file = NULL;
    unsigned line = 0;
    int ln;
    Dwarf_Line *row = dwarf_getsrc_die(&cudie, a);
    if (row && dwarf_lineno(row, &ln) == 0 && ln > 0) {
        file = sym_intern(s, dwarf_linesrc(row, NULL, NULL));
        line = (unsigned)ln;
    }
    int n = concrete_scopes(&cudie, a, &chain);
    int err = 0;
    for (int i = 0; i < n && !err; i++) {
        int tag = dwarf_tag(&chain[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        int inl = tag == DW_TAG_inlined_subroutine;
        err = fpush(&v, die_name(s, &chain[i]), file, line, inl);
        if (!inl)
            break;
        call_site(s, &chain[i], &file, &line);
    }
    free(chain);
    /* No subprogram around the address: the outermost frame is unnamed here
       and gets its name from the symbol table. */
    if (!err && (v.n == 0 || v.v[v.n - 1].inlined))
        err = fpush(&v, NULL, file, line, 0);
    *out = v.v;
    return err ? (size_t)-1 : v.n;
}
