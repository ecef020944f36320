/* SPDX-License-Identifier: MIT
 *
 * sym.c - the symbolizer context: registered modules, the files behind them
 * (one per path + recorded build-id, opened on first use by sym_file.c), a
 * cache holding the frames of every (module, address) resolved so far, and
 * an arena that owns every string and frame handed out, freed in one go by
 * sym_close(). Frames come from DWARF (sym_dwarf.c) with the symbol table as
 * the fallback for the outermost function name; an address that gets no
 * name at all leaves one warning for its module file.
 *
 * Demangling uses __cxa_demangle from libstdc++: Debian's libdw has no
 * public demangler (elfutils' tools call the same libstdc++ function), and
 * libstdc++ is always installed with the compiler the project needs anyway.
 */
#include "symbolize/sym.h"

#include "symbolize/sym_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local int sym_hash_oom;

/* libstdc++'s Itanium ABI demangler; the result is malloc'd. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

#define DEFAULT_DEBUG_ROOT "/usr/lib/debug"
#define CHUNK_SIZE 65536

struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct module {
    UT_hash_handle hh;
    uint32_t key;
    const char *path;
    uint64_t bias;
    struct sym_file *file;
};

struct cache_key {
    uint64_t addr;
    uint32_t module;
    uint32_t is_return;
};

struct cache_entry {
    UT_hash_handle hh;
    struct cache_key k;
    size_t n;
    struct sym_frame *v;
};

struct istr {
    UT_hash_handle hh;
    char str[];
};

struct sym_ctx {
    struct chunk *arena;
    struct module *modules;
    struct sym_file *files;
    struct cache_entry *cache;
    struct istr *strings;
    const char **warnings;
    size_t nwarnings, capwarnings;
    size_t nresolved;
    char *debug_root;
};

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- arena and strings ------------------------------------------------- */

/* n bytes, aligned for any type, owned by the ctx; NULL if out of memory.
 * Like the reporter's rep_arena (report/model/arena.h), which symbolize/ may
 * not include (see sym_grow in sym_int.h): the ctx owns its own strings. */
static void *arena_alloc(struct sym_ctx *s, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct chunk *c = s->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = s->arena;
        s->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

int sym_grow(void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    if (n > SIZE_MAX / size)
        return -1;
    void *p = realloc(*buf, n * size);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

size_t sym_count_upto(const void *v, size_t n, size_t size, size_t off, uint64_t a)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t at;
        memcpy(&at, (const char *)v + mid * size + off, sizeof at);
        if (at <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const char *sym_intern(struct sym_ctx *s, const char *str)
{
    if (!str)
        return NULL;
    size_t len = strlen(str);
    struct istr *e;
    HASH_FIND(hh, s->strings, str, len, e);
    if (e)
        return e->str;
    e = arena_alloc(s, sizeof *e + len + 1);
    if (!e)
        return NULL;
    memcpy(e->str, str, len + 1);
    sym_hash_oom = 0;
    HASH_ADD_KEYPTR(hh, s->strings, e->str, len, e);
    return e->str; /* usable even if the add failed: it is in the arena */
}

const char *sym_pretty(struct sym_ctx *s, const char *raw)
{
    if (!raw || raw[0] != '_' || raw[1] != 'Z')
        return sym_intern(s, raw);
    int status;
    char *d = __cxa_demangle(raw, NULL, NULL, &status);
    const char *r = sym_intern(s, d ? d : raw);
    free(d);
    return r;
}

void sym_warn(struct sym_ctx *s, struct sym_file *f, const char *fmt, ...)
{
    char msg[512];
    if (f->warned)
        return;
    f->warned = 1;
    int n = snprintf(msg, sizeof msg, "%s: ", f->path);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof msg)
        vsnprintf(msg + n, sizeof msg - n, fmt, ap);
    va_end(ap);
    if (sym_grow((void **)&s->warnings, &s->capwarnings, s->nwarnings + 1,
                 sizeof *s->warnings) < 0)
        return;
    const char *w = sym_intern(s, msg);
    if (w)
        s->warnings[s->nwarnings++] = w;
}

/* ---- ctx and modules --------------------------------------------------- */

struct sym_ctx *sym_open(char *err, size_t errlen)
{
    struct sym_ctx *s = calloc(1, sizeof *s);
    if (s)
        s->debug_root = strdup(DEFAULT_DEBUG_ROOT);
    if (!s || !s->debug_root) {
        free(s);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    elf_version(EV_CURRENT);
    return s;
}

void sym_close(struct sym_ctx *s)
{
    if (!s)
        return;
    struct sym_file *f, *tmp;
    HASH_ITER(hh, s->files, f, tmp) {
        HASH_DEL(s->files, f);
        sym_file_release(f);
        free(f->hkey);
        free(f->want_bid);
        free(f);
    }
    HASH_CLEAR(hh, s->modules);
    HASH_CLEAR(hh, s->cache);
    HASH_CLEAR(hh, s->strings);
    while (s->arena) {
        struct chunk *c = s->arena;
        s->arena = c->next;
        free(c);
    }
    free(s->warnings);
    free(s->debug_root);
    free(s);
}

int sym_set_debug_root(struct sym_ctx *s, const char *dir, char *err, size_t errlen)
{
    if (!s || !dir) {
        set_err(err, errlen, "sym_set_debug_root: no ctx or directory");
        return -1;
    }
    char *d = strdup(dir);
    if (!d) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    free(s->debug_root);
    s->debug_root = d;
    return 0;
}

/* The file for (path, build-id), created (not opened) on first sight. */
static struct sym_file *get_file(struct sym_ctx *s, const char *path, const uint8_t *bid,
                                 size_t bidlen)
{
    size_t plen = strlen(path), klen = plen + 1 + 2 * bidlen;
    char *key = malloc(klen + 1);
    if (!key)
        return NULL;
    memcpy(key, path, plen + 1);
    for (size_t i = 0; i < bidlen; i++)
        snprintf(key + plen + 1 + 2 * i, 3, "%02x", bid[i]);
    struct sym_file *f;
    HASH_FIND(hh, s->files, key, klen, f);
    if (f) {
        free(key);
        return f;
    }
    f = calloc(1, sizeof *f);
    if (f && bidlen)
        f->want_bid = malloc(bidlen);
    if (!f || (bidlen && !f->want_bid) || !(f->path = sym_intern(s, path))) {
        if (f)
            free(f->want_bid);
        free(f);
        free(key);
        return NULL;
    }
    if (bidlen)
        memcpy(f->want_bid, bid, bidlen);
    f->want_bid_len = bidlen;
    f->hkey = key;
    f->hkeylen = klen;
    f->fd = f->dfd = -1;
    sym_hash_oom = 0;
    HASH_ADD_KEYPTR(hh, s->files, f->hkey, f->hkeylen, f);
    if (sym_hash_oom) {
        free(f->want_bid);
        free(f->hkey);
        free(f);
        return NULL;
    }
    return f;
}

int sym_add_module(struct sym_ctx *s, uint32_t key, const char *path, uint64_t bias,
                   const uint8_t *build_id, size_t build_id_len, char *err, size_t errlen)
{
    if (!s || !path || (build_id_len && !build_id)) {
        set_err(err, errlen, "sym_add_module: no ctx, path or build-id");
        return -1;
    }
    struct module *m;
    HASH_FIND(hh, s->modules, &key, sizeof key, m);
    if (m) {
        set_err(err, errlen, "sym_add_module: key %" PRIu32 " already registered", key);
        return -1;
    }
    m = arena_alloc(s, sizeof *m);
    if (m) {
        memset(m, 0, sizeof *m);
        m->file = get_file(s, path, build_id, build_id ? build_id_len : 0);
    }
    if (!m || !m->file) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    m->key = key;
    m->path = m->file->path;
    m->bias = bias;
    sym_hash_oom = 0;
    HASH_ADD(hh, s->modules, key, sizeof m->key, m);
    if (sym_hash_oom) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The module's file, opened, or NULL if the module is unknown or unusable. */
static struct sym_file *usable_file(struct sym_ctx *s, struct module *m)
{
    if (!m)
        return NULL;
    sym_file_load(s, m->file, s->debug_root);
    return m->file->usable ? m->file : NULL;
}

static struct module *find_module(struct sym_ctx *s, uint32_t key)
{
    struct module *m;
    HASH_FIND(hh, s->modules, &key, sizeof key, m);
    return m;
}

/* ---- resolving --------------------------------------------------------- */

/* Frames of ELF address a in f (>= 1 unless out of memory), malloc'd. */
static size_t file_frames(struct sym_ctx *s, struct sym_file *f, uint64_t a,
                          struct sym_frame **out)
{
    size_t n = sym_dwarf_frames(s, f, a, out);
    if (n == (size_t)-1 || n == 0) {
        free(*out);
        *out = calloc(1, sizeof **out);
        if (!*out)
            return 0;
        n = 1;
    }
    struct sym_frame *last = &(*out)[n - 1];
    if (!last->function) {
        struct sym_esym *e = sym_table_find(&f->funcs, a);
        if (e && !e->name)
            e->name = sym_pretty(s, e->raw);
        last->function = e ? e->name : NULL;
    }
    return n;
}

/* Resolves and caches one (module, address); NULL if out of memory. */
static struct cache_entry *resolve(struct sym_ctx *s, const struct cache_key *k)
{
    struct module *m = find_module(s, k->module);
    struct sym_file *f = usable_file(s, m);
    uint64_t off = m ? k->addr - m->bias : k->addr;
    uint64_t a = k->is_return && off ? off - 1 : off;
    struct sym_frame *tmp = NULL;
    size_t n = f ? file_frames(s, f, a, &tmp) : 0;
    struct cache_entry *e = arena_alloc(s, sizeof *e);
    struct sym_frame *v = arena_alloc(s, (n ? n : 1) * sizeof *v);
    if (!e || !v) {
        free(tmp);
        return NULL;
    }
    if (n)
        memcpy(v, tmp, n * sizeof *v);
    else
        v[0] = (struct sym_frame){0};
    free(tmp);
    e->n = n ? n : 1;
    for (size_t i = 0; i < e->n; i++) {
        v[i].module = m ? m->path : "?";
        v[i].offset = off;
        v[i].inlined = i + 1 < e->n;
    }
    if (f && !v[e->n - 1].function && (f->has_symtab || f->dw))
        sym_warn(s, f, "no symbol for some addresses (first at +0x%" PRIx64 ")", off);
    else if (f && !v[e->n - 1].function)
        sym_warn(s, f, "no symbols and no debug info (stripped)");
    e->k = *k;
    e->v = v;
    s->nresolved++;
    sym_hash_oom = 0;
    HASH_ADD(hh, s->cache, k, sizeof e->k, e);
    return e; /* an add that failed only costs a later re-resolve */
}

size_t sym_resolve(struct sym_ctx *s, uint32_t key, uint64_t addr, int is_return_address,
                   struct sym_frame *out, size_t max)
{
    if (!max)
        return 0;
    struct cache_key k;
    memset(&k, 0, sizeof k);
    k.addr = addr;
    k.module = key;
    k.is_return = is_return_address != 0;
    struct cache_entry *e = NULL;
    if (s) {
        HASH_FIND(hh, s->cache, &k, sizeof k, e);
        if (!e)
            e = resolve(s, &k);
    }
    if (!e) {
        struct module *m = s ? find_module(s, key) : NULL;
        out[0] = (struct sym_frame){NULL, NULL, 0, m ? m->path : "?",
                                    m ? addr - m->bias : addr, 0};
        return 1;
    }
    size_t n = e->n < max ? e->n : max;
    memcpy(out, e->v, n * sizeof *out);
    return n;
}

/* The object (data or TLS) symbol containing `a` in module `key`. TLS
 * symbols are offsets in the module's TLS block, so no bias applies there. */
static const char *object_symbol(struct sym_ctx *s, uint32_t key, int tls, uint64_t a,
                                 uint64_t *start)
{
    struct module *m = s ? find_module(s, key) : NULL;
    struct sym_file *f = s ? usable_file(s, m) : NULL;
    if (!f)
        return NULL;
    uint64_t bias = tls ? 0 : m->bias;
    struct sym_esym *e = sym_table_find(tls ? &f->tls : &f->objs, a - bias);
    if (!e)
        return NULL;
    if (!e->name)
        e->name = sym_pretty(s, e->raw);
    if (start)
        *start = e->lo + bias;
    return e->name;
}

const char *sym_data_symbol(struct sym_ctx *s, uint32_t key, uint64_t addr, uint64_t *start)
{
    return object_symbol(s, key, 0, addr, start);
}

const char *sym_tls_symbol(struct sym_ctx *s, uint32_t key, uint64_t tls_offset, uint64_t *start)
{
    return object_symbol(s, key, 1, tls_offset, start);
}

size_t sym_resolved_count(const struct sym_ctx *s)
{
    return s ? s->nresolved : 0;
}

size_t sym_warning_count(const struct sym_ctx *s)
{
    return s ? s->nwarnings : 0;
}

const char *sym_warning(const struct sym_ctx *s, size_t i)
{
    return s && i < s->nwarnings ? s->warnings[i] : NULL;
}
