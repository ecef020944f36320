/* SPDX-License-Identifier: MIT
 *
 * suppress.c - parsing and matching of leak suppressions in the
 * LeakSanitizer and valgrind syntaxes (described in suppress.h), and the
 * built-in list that hides glibc's and libstdc++'s own one-time
 * allocations (dynamic linker, stdio buffers, locale and time zone data,
 * the exception emergency pool) from users' leak counts.
 */
#include "report/gate/suppress.h"

#include "report/model/infile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/model/arena.h"
#include "report/model/model.h"
#include "report/model/replay.h"

enum { FRAME_FUN, FRAME_OBJ, FRAME_SRC, FRAME_ANY };

/* libstdc++'s Itanium ABI demangler (linked through hg_symbolize, which uses
 * it for the names heapgraph shows); the result is malloc'd. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

struct rep_supp_frame {
    int type;
    char *pat;
    unsigned line;   /* src: line, 0 for any */
};

/* Written in valgrind syntax: each block says where the allocation is made
 * (its innermost frames), so a user function further out is not hidden. */
static const char builtin_text[] =
    "{\n heapgraph:dynamic-linker\n Memcheck:Leak\n obj:*/ld-linux*.so*\n}\n"
    "{\n heapgraph:dynamic-linker-tls\n Memcheck:Leak\n ...\n fun:_dl_allocate_tls*\n}\n"
    "{\n heapgraph:stdio-buffer\n Memcheck:Leak\n fun:_IO_file_doallocate\n}\n"
    "{\n heapgraph:locale\n Memcheck:Leak\n ...\n fun:setlocale\n}\n"
    "{\n heapgraph:timezone\n Memcheck:Leak\n ...\n fun:tzset_internal\n}\n"
    "{\n heapgraph:libstdc++-eh-pool\n Memcheck:Leak\n fun:*pool::pool*\n}\n"
    "{\n heapgraph:libstdc++-eh-globals\n Memcheck:Leak\n ...\n fun:__cxa_get_globals*\n}\n";

/* ---- pattern matching ---- */

/* valgrind-style glob over the whole string: '*' any run, '?' one char. */
static int glob_match(const char *p, const char *s)
{
    const char *star = NULL, *retry = NULL;
    while (*s) {
        if (*p == '*') {
            star = ++p;
            retry = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star;
            s = ++retry;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

/* LeakSanitizer-style: substring with '*', '^' at the start, '$' at the end. */
static int lsan_match(const char *pat, const char *s)
{
    char buf[512];
    size_t n = strlen(pat);
    int start = n && pat[0] == '^';
    int end = n > (size_t)start && pat[n - 1] == '$';
    size_t core = n - start - end;
    if (core + 3 > sizeof buf)
        return 0;
    size_t k = 0;
    if (!start)
        buf[k++] = '*';
    memcpy(buf + k, pat + start, core);
    k += core;
    if (!end)
        buf[k++] = '*';
    buf[k] = 0;
    /* '?' is literal in this syntax: glob_match would treat it as any char,
     * which only makes a pattern with '?' match slightly more. */
    return glob_match(buf, s);
}

static int frame_has(const struct rep_frame *f, const char *pat)
{
    return (f->function && lsan_match(pat, f->function)) ||
           (f->file && lsan_match(pat, f->file)) ||
           (f->module && lsan_match(pat, f->module));
}

static int frame_line_match(const struct rep_supp_frame *sf, const struct rep_frame *f)
{
    switch (sf->type) {
    case FRAME_FUN:
        return glob_match(sf->pat, f->function ? f->function : "???");
    case FRAME_OBJ:
        return glob_match(sf->pat, f->module ? f->module : "???");
    case FRAME_SRC: {
        if (!f->file)
            return 0;
        const char *base = strrchr(f->file, '/');
        base = base ? base + 1 : f->file;
        return glob_match(sf->pat, base) && (!sf->line || sf->line == f->line);
    }
    default:
        return 0;
    }
}

/* Matches frame lines sf[0..n) against the stack as a prefix (frames after
 * the last line are free). "..." works like '*' in glob_match: one
 * backtracking point, so a hostile file with many "..." lines stays linear
 * per line instead of exponential. */
static int frames_match(const struct rep_supp_frame *sf, size_t n, const struct rep_frame *fr,
                        uint32_t nfr)
{
    size_t k = 0, star = SIZE_MAX;
    uint32_t i = 0, retry = 0;
    while (k < n) {
        if (sf[k].type == FRAME_ANY) {
            star = ++k;
            retry = i;
        } else if (i < nfr && frame_line_match(&sf[k], &fr[i])) {
            i++;
            k++;
        } else if (star != SIZE_MAX && retry < nfr) {
            k = star;
            i = ++retry;
        } else {
            return 0;
        }
    }
    return 1;
}

static int is_allocator_line(const struct rep_supp_frame *sf)
{
    return sf->type == FRAME_FUN && rep_is_allocator(sf->pat);
}

static int block_match(const struct rep_supp *s, const struct rep_frame *fr, uint32_t nfr)
{
    const struct rep_supp_frame *sf = s->frames;
    size_t n = s->nframes;
    for (;;) {
        if (frames_match(sf, n, fr, nfr))
            return 1;
        if (!n || !is_allocator_line(sf))
            return 0;
        sf++;
        n--;
    }
}

long rep_supp_match(const struct rep_supp_list *l, const struct rep_frame *frames, uint32_t n,
                    int kind)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct rep_supp *s = &l->s[i];
        if (!((s->kinds >> kind) & 1))
            continue;
        if (s->pattern) {
            for (uint32_t f = 0; f < n; f++)
                if (frame_has(&frames[f], s->pattern))
                    return (long)i;
        } else if (block_match(s, frames, n)) {
            return (long)i;
        }
    }
    return -1;
}

void rep_supp_count(struct rep_supp_list *l, long i, uint64_t blocks, uint64_t bytes)
{
    l->s[i].matched++;
    l->s[i].blocks += blocks;
    l->s[i].bytes += bytes;
}

size_t rep_supp_apply_run(struct rep_supp_list *l, struct rep_run *r, unsigned kinds)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nleaks; i++) {
        struct rep_ck_leak *lk = &r->leaks[i];
        if (!((kinds >> lk->kind) & 1))
            continue;
        long s = rep_supp_match(l, lk->stack.frames, lk->stack.nframes, lk->kind);
        if (s < 0)
            continue;
        lk->suppressed = (int)s + 1;
        rep_supp_count(l, s, lk->blocks + lk->indirect_blocks, lk->bytes + lk->indirect_bytes);
        n++;
    }
    return n;
}

/* ---- parsing ---- */

static void supp_free(struct rep_supp *s)
{
    for (size_t i = 0; i < s->nframes; i++)
        free(s->frames[i].pat);
    free(s->frames);
    free(s->name);
    free(s->origin);
    free(s->pattern);
}

void rep_supp_release(struct rep_supp_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        supp_free(&l->s[i]);
    free(l->s);
    l->s = NULL;
    l->n = 0;
}

static struct rep_supp *supp_new(struct rep_supp_list *l, const char *origin, unsigned line)
{
    struct rep_supp *p = realloc(l->s, (l->n + 1) * sizeof *l->s);
    if (!p)
        return NULL;
    l->s = p;
    struct rep_supp *s = &p[l->n];
    memset(s, 0, sizeof *s);
    s->builtin = !strcmp(origin, "built-in");
    if (asprintf(&s->origin, s->builtin ? "%s" : "%s:%u", origin, line) < 0) {
        s->origin = NULL;
        return NULL;
    }
    s->kinds = (1u << REP_LEAK_NKINDS) - 1;
    l->n++;
    return s;
}

/* Strips leading and trailing blanks in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

struct parser {
    struct rep_supp_list *l;
    const char *origin;
    unsigned lineno;
    char *err;
    size_t errlen;
    int state;            /* 0 outside a block, 1 want name, 2 want tool, 3 frames */
    struct rep_supp *cur;
    int skip;             /* the current block is for another tool or error kind */
};

static int perr(struct parser *p, const char *what, const char *line)
{
    snprintf(p->err, p->errlen, "%s:%u: %s: '%.60s'", p->origin, p->lineno, what, line);
    return -1;
}

static int parse_kinds(struct parser *p, struct rep_supp *s, char *list)
{
    unsigned m = 0;
    for (char *save, *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        k = trim(k);
        if (!strcmp(k, "definite"))
            m |= 1u << REP_LEAK_DEFINITE | 1u << REP_LEAK_CYCLE | 1u << REP_LEAK_NOT_FREED;
        else if (!strcmp(k, "possible"))
            m |= 1u << REP_LEAK_POSSIBLE;
        else if (!strcmp(k, "reachable"))
            m |= 1u << REP_LEAK_REACHABLE;
        else if (!strcmp(k, "indirect"))
            m |= 0;
        else if (!strcmp(k, "all"))
            m |= (1u << REP_LEAK_NKINDS) - 1;
        else
            return perr(p, "unknown leak kind", k);
    }
    s->kinds = m;
    return 0;
}

/* The pattern of a frame line. valgrind writes C++ names mangled
 * (fun:_ZN5Cache6insertEv) and heapgraph's frames are demangled, so a
 * mangled name without wildcards is demangled here. NULL when out of memory. */
static char *fun_pattern(int type, const char *pat)
{
    int status = -1;
    char *d = type == FRAME_FUN && !strncmp(pat, "_Z", 2) && !strpbrk(pat, "*?")
            ? __cxa_demangle(pat, NULL, NULL, &status) : NULL;
    if (d && status == 0)
        return d;
    free(d);
    return strdup(pat);
}

static int add_frame(struct parser *p, struct rep_supp *s, const char *line)
{
    struct rep_supp_frame f = {FRAME_ANY, NULL, 0};
    if (strcmp(line, "...")) {
        if (!strncmp(line, "fun:", 4))
            f.type = FRAME_FUN;
        else if (!strncmp(line, "obj:", 4))
            f.type = FRAME_OBJ;
        else if (!strncmp(line, "src:", 4))
            f.type = FRAME_SRC;
        else
            return perr(p, "expected fun:, obj:, src: or ...", line);
        if (!(f.pat = fun_pattern(f.type, line + 4)))
            return perr(p, "out of memory", line);
        char *colon = f.type == FRAME_SRC ? strrchr(f.pat, ':') : NULL;
        if (colon && colon[1] >= '0' && colon[1] <= '9') {
            f.line = (unsigned)strtoul(colon + 1, NULL, 10);
            *colon = 0;
        }
    }
    struct rep_supp_frame *nf = realloc(s->frames, (s->nframes + 1) * sizeof *nf);
    if (!nf) {
        free(f.pat);
        return perr(p, "out of memory", line);
    }
    s->frames = nf;
    s->frames[s->nframes++] = f;
    return 0;
}

/* Drops the block being parsed (another tool's, or a non-leak kind). */
static void drop_current(struct parser *p)
{
    supp_free(&p->l->s[--p->l->n]);
    p->cur = NULL;
}

static int block_line(struct parser *p, char *line)
{
    if (!*line || *line == '#')
        return 0;
    if (!strcmp(line, "}")) {
        if (p->state < 3)
            return perr(p, "block ends before its Memcheck:Leak line", line);
        if (!p->skip && !p->cur->nframes)
            return perr(p, "block has no fun:, obj:, src: or ... line", line);
        if (p->skip)
            drop_current(p);
        p->state = 0;
        p->cur = NULL;
        return 0;
    }
    if (p->state == 1) {
        if (!(p->cur->name = strdup(line)))
            return perr(p, "out of memory", line);
        p->state = 2;
        return 0;
    }
    if (p->state == 2) {
        /* "Memcheck:Leak"; other tools' and kinds' blocks are skipped so that
         * one valgrind file serves both tools. */
        if (!strchr(line, ':'))
            return perr(p, "expected TOOL:KIND such as Memcheck:Leak", line);
        p->skip = strcmp(line, "Memcheck:Leak") != 0;
        p->state = 3;
        return 0;
    }
    if (p->skip)
        return 0;
    if (!strncmp(line, "match-leak-kinds:", 17))
        return parse_kinds(p, p->cur, line + 17);
    return add_frame(p, p->cur, line);
}

static int parse_line(struct parser *p, char *line)
{
    if (p->state)
        return block_line(p, line);
    if (!*line || *line == '#')
        return 0;
    if (!strcmp(line, "{")) {
        if (!(p->cur = supp_new(p->l, p->origin, p->lineno)))
            return perr(p, "out of memory", line);
        p->state = 1;
        p->skip = 0;
        return 0;
    }
    if (!strncmp(line, "leak:", 5)) {
        char *pat = trim(line + 5);
        if (!*pat)
            return perr(p, "empty leak: pattern", line);
        struct rep_supp *s = p->cur = supp_new(p->l, p->origin, p->lineno);
        if (!s || !(s->pattern = strdup(pat)) || asprintf(&s->name, "leak:%s", pat) < 0) {
            if (s)
                s->name = NULL;
            return perr(p, "out of memory", line);
        }
        p->cur = NULL;
        return 0;
    }
    return perr(p, "not a suppression (want leak:PATTERN or a { ... } block)", line);
}

int rep_supp_parse(struct rep_supp_list *l, const char *text, const char *origin,
                   char *err, size_t errlen)
{
    struct parser p = {l, origin, 0, err, errlen, 0, NULL, 0};
    char *copy = strdup(text);
    int ret = 0;
    if (!copy) {
        snprintf(err, errlen, "%s: out of memory", origin);
        return -1;
    }
    for (char *line = copy, *next; line && ret == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        p.lineno++;
        ret = parse_line(&p, trim(line));
    }
    if (ret == 0 && p.state) {
        ret = perr(&p, "unterminated { block", "");
    }
    if (ret < 0 && p.cur)
        drop_current(&p);
    free(copy);
    return ret;
}

int rep_supp_load(struct rep_supp_list *l, const char *path, char *err, size_t errlen)
{
    char *text = rep_read_text(path, REP_SUPP_MAX_FILE, err, errlen);
    int ret = text ? rep_supp_parse(l, text, path, err, errlen) : -1;
    free(text);
    return ret;
}

int rep_supp_add_builtin(struct rep_supp_list *l, char *err, size_t errlen)
{
    return rep_supp_parse(l, builtin_text, "built-in", err, errlen);
}

int rep_supp_write(FILE *f, const struct rep_frame *frames, uint32_t n, int kind,
                   unsigned serial)
{
    const char *kinds = kind == REP_LEAK_POSSIBLE ? "possible"
                      : kind == REP_LEAK_REACHABLE ? "reachable" : "definite";
    fprintf(f, "{\n   heapgraph-%u-%s\n   Memcheck:Leak\n   match-leak-kinds: %s\n", serial,
            rep_leak_kind_name((unsigned)kind), kinds);
    for (uint32_t i = 0; i < n; i++) {
        const struct rep_frame *fr = &frames[i];
        if (fr->function)
            fprintf(f, "   fun:%s\n", fr->function);
        else
            fprintf(f, "   obj:%s\n", fr->module ? fr->module : "*");
    }
    fputs("}\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- filtering a capture ---- */

static void subtract(struct rep_class_count *c, uint64_t blocks, uint64_t bytes)
{
    c->blocks -= blocks < c->blocks ? blocks : c->blocks;
    c->bytes -= bytes < c->bytes ? bytes : c->bytes;
}

static void unsummarize(struct rep_summary *s, const struct rep_leak *lk)
{
    switch (lk->kind) {
    case REP_LEAK_DEFINITE: subtract(&s->definite, lk->blocks, lk->bytes); break;
    case REP_LEAK_CYCLE: subtract(&s->cycle, lk->blocks, lk->bytes); break;
    case REP_LEAK_POSSIBLE: subtract(&s->possible, lk->blocks, lk->bytes); break;
    case REP_LEAK_REACHABLE: subtract(&s->reachable, lk->blocks, lk->bytes); break;
    default: return;
    }
    subtract(&s->indirect, lk->indirect_blocks, lk->indirect_bytes);
}

/* Filters process `index`; *removed counts entries removed. 0 or -1 (memory). */
/* The exit snapshot's groups of Python cycles go with their leak entries:
 * a group is left out when a suppression matches the site its cycles count
 * under as leaks (their lowest-address member's, which may not be the
 * group's first object's); the entries were counted with the leak list. */
static int filter_pycycles(const struct rep_supp_list *l, struct rep_capture *cap,
                           const struct rep_process *p, struct rep_snapshot *snap)
{
    struct rep_pycycle_group *kept =
        rep_arena_alloc(cap->arena, (snap->npycycle_groups + 1) * sizeof *kept);
    size_t n = 0;
    if (!kept)
        return -1;
    for (size_t i = 0; i < snap->npycycle_groups; i++) {
        const struct rep_pycycle_group *g = &snap->pycycle_groups[i];
        const struct rep_cycle *c = g->first < snap->ncycles ? &snap->cycles[g->first] : NULL;
        uint32_t site = c && c->nmembers ? snap->blocks[c->members[0]].site : g->site;
        const struct rep_stack *st = site < p->nstacks ? p->sites[site].stack : NULL;
        if (rep_supp_match(l, st ? st->frames : NULL, st ? st->nframes : 0, REP_LEAK_CYCLE) < 0)
            kept[n++] = *g;
    }
    snap->pycycle_groups = kept;
    snap->npycycle_groups = n;
    return 0;
}

static int filter_process(struct rep_supp_list *l, struct rep_capture *cap, size_t index,
                          long *removed)
{
    struct rep_process *p = rep_rw_process(cap, index);
    struct rep_leak *kept = rep_arena_alloc(cap->arena, (p->nleaks + 1) * sizeof *kept);
    struct rep_snapshot *snap = rep_rw_snapshot(cap, index, p->exit_snapshot);
    int shared = snap && snap->leaks == p->leaks;
    size_t n = 0;
    if (!kept)
        return -1;
    for (size_t i = 0; i < p->nleaks; i++) {
        const struct rep_leak *lk = &p->leaks[i];
        const struct rep_stack *st = lk->site < p->nstacks ? p->sites[lk->site].stack : NULL;
        long s = rep_supp_match(l, st ? st->frames : NULL, st ? st->nframes : 0, lk->kind);
        if (s < 0) {
            kept[n++] = *lk;
            continue;
        }
        rep_supp_count(l, s, lk->blocks + lk->indirect_blocks, lk->bytes + lk->indirect_bytes);
        if (snap && lk->kind != REP_LEAK_NOT_FREED)
            unsummarize(&snap->summary, lk);
        (*removed)++;
    }
    p->leaks = kept;
    p->nleaks = n;
    if (shared) {
        snap->leaks = kept;
        snap->nleaks = n;
    }
    return snap ? filter_pycycles(l, cap, p, snap) : 0;
}

/* Appends the usage notes of the suppressions to cap->notes. */
static int add_usage_notes(const struct rep_supp_list *l, struct rep_capture *cap)
{
    size_t extra = 0;
    for (size_t i = 0; i < l->n; i++)
        extra += l->s[i].matched || !l->s[i].builtin;
    if (!extra)
        return 0;
    const char **notes = rep_arena_alloc(cap->arena, (cap->nnotes + extra) * sizeof *notes);
    if (!notes)
        return -1;
    memcpy(notes, cap->notes, cap->nnotes * sizeof *notes);
    size_t n = cap->nnotes;
    for (size_t i = 0; i < l->n; i++) {
        const struct rep_supp *s = &l->s[i];
        char buf[512];
        if (s->matched)
            snprintf(buf, sizeof buf, "suppressed by %s (%s): %" PRIu64 " entries, %" PRIu64
                     " bytes in %" PRIu64 " blocks", s->name, s->origin, s->matched, s->bytes,
                     s->blocks);
        else if (!s->builtin)
            snprintf(buf, sizeof buf, "unused suppression %s (%s)", s->name, s->origin);
        else
            continue;
        if (!(notes[n++] = rep_arena_strndup(cap->arena, buf, strlen(buf))))
            return -1;
    }
    cap->notes = notes;
    cap->nnotes = n;
    return 0;
}

long rep_supp_filter_capture(struct rep_supp_list *l, struct rep_capture *cap,
                             char *err, size_t errlen)
{
    long removed = 0;
    for (size_t i = 0; i < cap->nprocesses; i++)
        if (filter_process(l, cap, i, &removed) < 0)
            goto oom;
    if (add_usage_notes(l, cap) < 0)
        goto oom;
    return removed;
oom:
    snprintf(err, errlen, "out of memory applying suppressions");
    return -1;
}
