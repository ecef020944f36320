/* SPDX-License-Identifier: MIT
 *
 * symbols.c - rep_capture_symbolize(): turns every recorded stack into
 * frames through symbolize/sym.h. Each address is looked up in the module map
 * of its stack's generation (a dlclose'd library and the one later loaded at
 * the same address stay apart); sym_resolve caches per address, so each
 * distinct address is resolved once. The frames of the runtime are dropped
 * wherever they are, and those of allocation wrappers (allocators.def) from
 * the top of each stack: the user wants the line that asked for memory, not
 * malloc.
 */
#include "report/model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/capture.h"
#include "report/model/arena.h"
#include "report/model/pyline.h"
#include "report/model/replay.h"
#include "symbolize/sym.h"

#define MAX_INLINE 16

/* The file name of a module's path. */
static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int is_runtime(const struct rep_frame *f)
{
    return !strncmp(base_of(f->module), "libheapgraph-rt", 15);
}

int rep_is_allocator(const char *fn)
{
    static const struct { const char *name; size_t len; int whole; } names[] = {
#define HG_ALLOCATOR(name, whole) {name, sizeof name - 1, whole},
#include "report/model/allocators.def"
#undef HG_ALLOCATOR
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strncmp(fn, names[i].name, names[i].len) && (!names[i].whole || !fn[names[i].len]))
            return 1;
    /* The C++ library's allocator plumbing (std::allocator_traits<...>::allocate,
     * std::__new_allocator, std::__allocated_ptr, ...) between new and the caller. */
    return (!strncmp(fn, "std::", 5) || !strncmp(fn, "__gnu_cxx::", 11)) && strstr(fn, "allocat");
}

/* 1 when fn's name says it allocates or passes an allocation on: the
 * allocators themselves and the program's wrappers around them, which have
 * no list (xmalloc, g_malloc0, sqlite3MallocZero, PyMem_RawCalloc, xstrdup,
 * je_malloc, tc_new, ...). Case does not matter. */
static int wrapper_name(const char *fn)
{
    static const char *const words[] = {"alloc", "strdup", "strndup", "memdup", "operator new"};
    if (rep_is_allocator(fn) || !strncmp(fn, "je_", 3) || !strncmp(fn, "tc_", 3))
        return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(fn, words[i]))
            return 1;
    return 0;
}

/* 1 for a frame of the C library, the dynamic loader, the C++ and gcc
 * runtimes or libpython: code that allocates on the program's behalf. */
static int in_system_module(const struct rep_frame *f)
{
    static const char *const libs[] = {"libc.", "libc-", "ld-", "ld64.", "libstdc++",
                                       "libgcc_s", "libpython"};
    const char *base = base_of(f->module);
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++)
        if (!strncmp(base, libs[i], strlen(libs[i])))
            return 1;
    return 0;
}

static int is_libpython(const struct rep_frame *f)
{
    return !strncmp(base_of(f->module), "libpython", 9);
}

/* Where a process or a thread starts: nothing of a site. */
static int is_entry(const struct rep_frame *f)
{
    static const char *const names[] = {"main", "_start", "__libc_start_main",
                                        "__libc_start_call_main", "start_thread", "clone3"};
    for (size_t i = 0; f->function && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(f->function, names[i]))
            return 1;
    return 0;
}

/* The first frame after the wrappers and, with `system`, the system
 * modules' frames in front of the first kept one. */
static uint32_t site_after(const struct rep_stack *s, int system, int *skipped_python)
{
    uint32_t start = 0;
    for (uint32_t i = 0; i < s->nframes; i++) {
        const struct rep_frame *f = &s->frames[i];
        if (f->python)
            break;
        if (f->function && wrapper_name(f->function)) {
            start = i + 1;
        } else if (system && i == start && in_system_module(f)) {
            *skipped_python |= is_libpython(f);
            start = i + 1;
        } else if (f->function) {
            break;
        }
        /* a frame without a name is the wrapper's own when a wrapper follows */
    }
    return start < s->nframes ? start : 0;
}

/* A stack of the interpreter's own, with no Python frame (start-up, a
 * collection, a thread that never ran Python), would start at the entry
 * of the process once libpython's frames are skipped: "_start" says
 * nothing; the interpreter's innermost function does. */
uint32_t rep_stack_site(const struct rep_stack *s)
{
    int skipped_python = 0;
    uint32_t start = site_after(s, 1, &skipped_python);
    uint32_t entry = start;
    while (entry + 1 < s->nframes && !s->frames[entry].function &&
           !s->frames[entry].python)
        entry++;
    if (skipped_python && start < s->nframes && is_entry(&s->frames[entry]))
        return site_after(s, 0, &skipped_python);
    return start;
}

static int is_wrapper(const struct rep_frame *f)
{
    return f->function && rep_is_allocator(f->function);
}

static int in_module(const struct rep_module *m, uint32_t gen, uint64_t addr)
{
    if (gen < m->generation || gen >= m->unload_generation)
        return 0;
    for (uint32_t i = 0; i < m->nsegments; i++) {
        uint64_t lo = m->bias + m->segments[i].vaddr;
        if (addr >= lo && addr - lo < m->segments[i].memsz)
            return 1;
    }
    return 0;
}

/* The module of addr in generation gen; the cache remembers the last answer
 * per address and is checked before use. */
static const struct rep_module *find_module(const struct rep_process *p, struct rep_index *cache,
                                            uint32_t gen, uint64_t addr)
{
    uint32_t hit = rep_index_get(cache, addr);
    if (hit != REP_INDEX_NONE && in_module(&p->modules[hit], gen, addr))
        return &p->modules[hit];
    for (size_t i = p->nmodules; i-- > 0;) {
        if (in_module(&p->modules[i], gen, addr)) {
            rep_index_put(cache, addr, (uint32_t)i);
            return &p->modules[i];
        }
    }
    return NULL;
}

/* The frames of one native address into out (room for MAX_INLINE); *mod
 * gets its module (NULL when none). */
static size_t resolve_native(struct rep_capture *cap, const struct rep_process *p,
                             struct rep_index *cache, uint32_t gen, uint64_t addr,
                             struct rep_frame *out, const struct rep_module **mod)
{
    const struct rep_module *m = *mod = find_module(p, cache, gen, addr);
    if (!m) {
        out[0] = (struct rep_frame){NULL, NULL, 0, "?", addr, addr, 0, 0};
        return 1;
    }
    struct sym_frame sf[MAX_INLINE];
    size_t n = sym_resolve(cap->sym, m->sym_key, addr, 1, sf, MAX_INLINE);
    for (size_t i = 0; i < n; i++)
        out[i] = (struct rep_frame){sf[i].function, sf[i].file, sf[i].line, sf[i].module,
                                    addr, sf[i].offset, sf[i].inlined, 0};
    return n;
}

/* A Python frame word (capture.h HG_PYF_*): its code object's name and file,
 * the line of its instruction from the code's line table. */
static struct rep_frame python_frame(const struct rep_stream *rs, int format, uint64_t w)
{
    uint32_t i = rep_index_get(&rs->pycode_index, HG_PYF_CODE(w));
    const struct rep_pycode *k = i == REP_INDEX_NONE ? NULL : &rs->pycodes[i];
    uint32_t pos = HG_PYF_POS(w);
    unsigned line = !k ? 0 : pos == 0 ? k->first_line
                  : rep_pyline(k->table, k->table_len, format, k->first_line, pos - 1);
    return (struct rep_frame){k ? k->name : NULL, k ? k->file : NULL, line, "python", 0,
                              pos ? pos - 1 : 0, 0, 1};
}

/* The eval loop: where the Python frames of one of its calls go. */
static int is_eval_loop(const struct rep_frame *outer)
{
    return outer->function && !strncmp(outer->function, "_PyEval_EvalFrameDefault", 24);
}

/* Startup and thread-start code outer to every Python frame: the C
 * library's, and a python launcher's own (its main, _start) when the
 * interpreter is a shared libpython. */
static int is_startup(const struct rep_module *m, const struct rep_process *p)
{
    const char *base = base_of(m->path);
    if (m == &p->modules[0] && !strncmp(base, "python", 6))
        return 1;
    return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) ||
           !strncmp(base, "ld-linux", 8) || !strncmp(base, "libpthread", 10);
}

/* Frames are resolved into `scratch` (room for MAX_INLINE per address, reused
 * for every stack) and only the kept ones are copied into the arena. */
struct scratch {
    struct rep_frame *fr;
    size_t cap;
};

/* One stack being merged: the Python words of the raw stack, innermost
 * first, cut into runs of one eval-loop call each (a run ends at a word with
 * HG_PYF_ENTRY), which replace the eval loop's native frames in order. */
struct merge {
    const struct rep_process *p;
    const struct rep_stream *rs;
    int format;
    const uint64_t *py;
    uint32_t npy, next;         /* Python words, and the first not placed yet */
    const struct rep_module *interp;
    int keep_internal;          /* show the interpreter's own frames */
};

/* Copies the next run of Python frames to out; returns how many. */
static size_t next_run(struct merge *mg, struct rep_frame *out)
{
    size_t n = 0;
    while (mg->next < mg->npy) {
        uint64_t w = mg->py[mg->next++];
        out[n++] = python_frame(mg->rs, mg->format, w);
        if (w & HG_PYF_ENTRY)
            break;
    }
    return n;
}

/* Whether the native frames of one address (module m) are the
 * interpreter's own, hidden in a stack with Python frames: the interpreter's
 * module anywhere, and the C library's outer to every Python frame. */
static int internal(const struct merge *mg, const struct rep_module *m)
{
    if (mg->keep_internal || !mg->npy || !m)
        return 0;
    return m == mg->interp || (mg->next == mg->npy && is_startup(m, mg->p));
}

/* The first of k hidden frames, innermost first, that is not an allocation
 * wrapper's, while no frame is shown yet (rep_stack.made_by). */
static int note_made_by(struct rep_arena *a, struct rep_stack *st, const struct rep_frame *fr,
                       size_t k)
{
    for (size_t j = 0; j < k && !st->made_by; j++)
        if (!is_wrapper(&fr[j]) && !(st->made_by = rep_arena_dup(a, &fr[j], sizeof *fr)))
            return -1;
    return 0;
}

static int symbolize_stack(struct rep_capture *cap, const struct rep_process *p,
                           const struct rep_stream *rs, struct rep_index *cache,
                           struct scratch *sc, struct rep_stack *st)
{
    st->made_by = NULL;
    if (!st->nraw)
        return 0;
    if (rep_grow((void **)&sc->fr, &sc->cap, (size_t)st->nraw * MAX_INLINE, sizeof *sc->fr) < 0)
        return -1;
    uint32_t nn = 0;
    while (nn < st->nraw && !(st->raw[nn] & HG_PYF_PYTHON))
        nn++;
    struct merge mg = {p, rs, rep_pyline_format_of(p->python_version), st->raw + nn,
                       st->nraw - nn, 0, NULL, cap->interpreter_frames};
    for (size_t i = 0; i < p->nmodules && p->python_version; i++)
        if (p->modules[i].id == p->python_module && !mg.interp)
            mg.interp = &p->modules[i];
    struct rep_frame *fr = sc->fr;
    size_t n = 0;
    for (uint32_t i = 0; i < nn; i++) {
        const struct rep_module *m;
        size_t k = resolve_native(cap, p, cache, st->generation, st->raw[i], fr + n, &m);
        /* The runtime's frames (its hooks, its wrapper around main) go
         * wherever they are. */
        if (is_runtime(&fr[n]))
            continue;
        if (mg.next < mg.npy && is_eval_loop(&fr[n + k - 1])) {
            struct rep_frame native[MAX_INLINE];
            memcpy(native, fr + n, k * sizeof *fr);
            n += next_run(&mg, fr + n);
            if (mg.keep_internal) {
                memcpy(fr + n, native, k * sizeof *fr);
                n += k;
            }
            continue;
        }
        if (!internal(&mg, m))
            n += k;
        else if (!n && note_made_by(cap->arena, st, fr, k) < 0)
            return -1;
    }
    while (mg.next < mg.npy)    /* the native stack was cut before its outer eval loops */
        n += next_run(&mg, fr + n);
    size_t skip = 0;
    while (skip < n && is_wrapper(&fr[skip]))
        skip++;
    if (skip == n)
        skip = 0;   /* nothing but wrappers: show them rather than nothing */
    st->nframes = (uint32_t)(n - skip);
    st->frames = rep_arena_dup(cap->arena, fr + skip, st->nframes * sizeof *fr);
    return st->frames ? 0 : -1;
}

static int register_modules(struct rep_capture *cap, char *err, size_t errlen)
{
    for (size_t i = 0; i < cap->nprocesses; i++) {
        const struct rep_process *p = &cap->processes[i];
        for (size_t j = 0; j < p->nmodules; j++) {
            const struct rep_module *m = &p->modules[j];
            if (sym_add_module(cap->sym, m->sym_key, m->path, m->bias, m->build_id,
                               m->build_id_len, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

int rep_capture_symbolize(struct rep_capture *cap, char *err, size_t errlen)
{
    if (cap->symbolized)
        return 0;
    if (!(cap->sym = sym_open(err, errlen)) || register_modules(cap, err, errlen) < 0)
        return -1;
    struct scratch sc = {0};
    for (size_t i = 0; i < cap->nprocesses; i++) {
        const struct rep_process *p = &cap->processes[i];
        struct rep_index cache = {0};
        for (size_t j = 0; j < p->nstacks; j++) {
            struct rep_stream *rs = cap->replay->streams[i];
            if (symbolize_stack(cap, p, rs, &cache, &sc, &rs->pub_stacks[j]) < 0) {
                rep_index_release(&cache);
                free(sc.fr);
                return snprintf(err, errlen, "out of memory"), -1;
            }
        }
        rep_index_release(&cache);
    }
    free(sc.fr);
    size_t nw = sym_warning_count(cap->sym);
    const char **w = rep_arena_alloc(cap->arena, (nw + 1) * sizeof *w);
    if (!w)
        return snprintf(err, errlen, "out of memory"), -1;
    for (size_t i = 0; i < nw; i++)
        w[i] = sym_warning(cap->sym, i);
    cap->warnings = w;
    cap->nwarnings = nw;
    if (rep_capture_merge_alike(cap) < 0)
        return snprintf(err, errlen, "out of memory"), -1;
    cap->symbolized = 1;
    if (cap->classified)
        rep_retention_symbols(cap);
    return 0;
}

/* ---- names along retention paths ------------------------------------------ */

/* The mapping of module `id` loaded at `time` (the latest one loaded by then). */
static const struct rep_module *module_by_id(const struct rep_process *p, uint32_t id,
                                             uint64_t time)
{
    const struct rep_module *best = NULL;
    for (size_t i = 0; i < p->nmodules; i++)
        if (p->modules[i].id == id && p->modules[i].load_us <= time)
            best = &p->modules[i];
    return best;
}

static void name_root(struct rep_capture *cap, const struct rep_process *p,
                      const struct rep_snapshot *s, struct rep_retention *r)
{
    const struct rep_thread *t = rep_process_thread(p, r->owner);
    const struct rep_module *m = module_by_id(p, r->owner, s->time_us);
    const struct rep_root *root = rep_snapshot_root(s, r->root_id);
    switch (r->root_kind) {
    case REP_ROOT_GLOBAL:
        r->module = m ? m->path : NULL;
        if (m && cap->sym)
            r->symbol = sym_data_symbol(cap->sym, m->sym_key, r->root_addr, NULL);
        break;
    case REP_ROOT_TLS:
        /* The owner is a module id for module TLS, a thread index for thread TLS. */
        r->module = m ? m->path : NULL;
        r->thread = t ? t->name : NULL;
        if (m && cap->sym && root)
            r->symbol = sym_tls_symbol(cap->sym, m->sym_key, r->root_addr - root->start, NULL);
        break;
    case REP_ROOT_STACK:
    case REP_ROOT_REGISTER:
        r->thread = t ? t->name : NULL;
        break;
    default:
        break;
    }
}

void rep_retention_symbols(struct rep_capture *cap)
{
    for (size_t i = 0; i < cap->nprocesses; i++) {
        const struct rep_stream *rs = cap->replay->streams[i];
        for (size_t k = 0; k < rs->nrets; k++)
            name_root(cap, &cap->processes[i], rs->rets[k].snap, rs->rets[k].r);
    }
}
