/* SPDX-License-Identifier: MIT
 *
 * rt_module.c - the module map and the dlopen/dlclose hooks.
 *
 * The loaded objects come from dl_iterate_phdr. A refresh compares them with
 * the objects already sent (same bias, extent and name) and sends what
 * appeared or went away. Lookups by address (rt_modules_id_at, the stack
 * coverage check) read an immutable sorted array published by pointer, so
 * they take no lock; a replaced array is left in place, since a reader may
 * still hold it and refreshes are rare.
 */
#include "profiler/runtime/rt_module.h"

#include "profiler/runtime/rt_proc.h"
#include "profiler/runtime/rt_python.h"
#include "profiler/runtime/rt_pyexit.h"
#include "profiler/runtime/rt_pymem.h"
#include "profiler/runtime/rt_rec.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_MODULES 2048
#define MAX_SEGS 32
#define MAX_BUILD_ID 64
#define MAX_PATH_LEN 4096

struct seen {
    uint64_t bias;
    uintptr_t lo, hi;
    const char *name;
    const ElfW(Phdr) *phdr;
    uint16_t phnum;
    int is_main;
};

struct mod {
    uint32_t id;
    uint64_t bias;
    uintptr_t lo, hi;  /* extent of the PT_LOAD segments */
    char name[256];    /* dlpi_name (truncated), for identity only */
    struct seen seen;  /* as dl_iterate_phdr gave it: valid while loaded */
};

struct span {
    uintptr_t lo, hi;
    uint32_t id;
};

struct map {
    uint32_t n;
    struct span s[];
};

static struct mod *mods;   /* MAX_MODULES */
static uint32_t nmods;
static struct seen *cur;   /* MAX_MODULES, scratch of a refresh */
static uint32_t ncur;
static uint32_t next_id;
static _Atomic uint32_t generation;
static _Atomic(struct map *) map;
static atomic_flag lock = ATOMIC_FLAG_INIT;

/* ---- collecting the loaded objects ------------------------------------ */

static int collect(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    int *first = data;
    int is_main = *first;
    *first = 0;
    if (ncur == MAX_MODULES)
        return 1;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (!is_main && name[0] == 0 && hi == 0)
        return 0;
    cur[ncur++] = (struct seen){ info->dlpi_addr, lo, hi, name, info->dlpi_phdr,
                                 info->dlpi_phnum, is_main };
    return 0;
}

static int same(const struct mod *m, const struct seen *s)
{
    return m->bias == s->bias && m->lo == s->lo && m->hi == s->hi &&
           strncmp(m->name, s->name, sizeof m->name - 1) == 0;
}

/* ---- sending ---------------------------------------------------------- */

static uint16_t build_id(const struct seen *s, uint8_t *out)
{
    for (int i = 0; i < s->phnum; i++) {
        const ElfW(Phdr) *ph = &s->phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        size_t align = ph->p_align >= 8 ? 8 : 4;
        const char *p = (const char *)(s->bias + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *nh;
            const char *desc = name + ((nh->n_namesz + align - 1) & ~(align - 1));
            if (desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= MAX_BUILD_ID) {
                memcpy(out, desc, nh->n_descsz);
                return (uint16_t)nh->n_descsz;
            }
            p = desc + ((nh->n_descsz + align - 1) & ~(align - 1));
        }
    }
    return 0;
}

static size_t module_path(const struct seen *s, char *out, size_t max)
{
    if (s->is_main) {
        ssize_t n = readlink("/proc/self/exe", out, max);
        if (n > 0)
            return (size_t)n;
    }
    size_t n = strlen(s->name);
    if (n > max)
        n = max;
    memcpy(out, s->name, n);
    return n;
}

static void send_load(const struct seen *s, uint32_t id, uint32_t gen)
{
    union {
        struct rt_blob_module m;
        char bytes[sizeof(struct rt_blob_module) + MAX_SEGS * sizeof(struct rt_blob_seg) +
                   MAX_BUILD_ID + 4096];
    } buf;
    struct rt_blob_seg *seg = (struct rt_blob_seg *)(buf.bytes + sizeof buf.m);
    uint16_t nseg = 0;
    for (int i = 0; i < s->phnum && nseg < MAX_SEGS; i++) {
        const ElfW(Phdr) *ph = &s->phdr[i];
        if (ph->p_type == PT_LOAD)
            seg[nseg++] = (struct rt_blob_seg){ ph->p_vaddr, ph->p_memsz, ph->p_flags, 0 };
    }
    uint8_t *bid = (uint8_t *)(seg + nseg);
    uint16_t bid_len = build_id(s, bid);
    char *path = (char *)bid + bid_len;
    size_t path_len = module_path(s, path, 4096);
    buf.m = (struct rt_blob_module){ .module_id = id, .generation = gen, .bias = s->bias,
                                     .nseg = nseg, .build_id_len = bid_len,
                                     .path_len = (uint32_t)path_len };
    rt_ring_push_blob(RT_BLOB_MODULE, &buf, (uint32_t)(path + path_len - buf.bytes));
}

static void send_unload(uint32_t id, uint32_t gen)
{
    struct rt_blob_module_unload u = { id, gen };
    rt_ring_push_blob(RT_BLOB_MODULE_UNLOAD, &u, sizeof u);
}

/* ---- the lookup map --------------------------------------------------- */

static void publish_map(void)
{
    struct map *m = rt_arena_alloc(sizeof *m + nmods * sizeof m->s[0]);
    if (!m)
        return;
    for (uint32_t i = 0; i < nmods; i++) {
        uint32_t k = m->n++;
        while (k > 0 && m->s[k - 1].lo > mods[i].lo) {
            m->s[k] = m->s[k - 1];
            k--;
        }
        m->s[k] = (struct span){ mods[i].lo, mods[i].hi, mods[i].id };
    }
    atomic_store_explicit(&map, m, memory_order_release);
}

uint32_t rt_modules_id_at(uintptr_t addr)
{
    const struct map *m = atomic_load_explicit(&map, memory_order_acquire);
    if (!m)
        return 0;
    uint32_t lo = 0, hi = m->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (addr < m->s[mid].lo)
            hi = mid;
        else if (addr >= m->s[mid].hi)
            lo = mid + 1;
        else
            return m->s[mid].id;
    }
    return 0;
}

uint32_t rt_modules_self(void)
{
    return rt_modules_id_at((uintptr_t)&rt_modules_self);
}

uint32_t rt_modules_generation(void)
{
    return atomic_load_explicit(&generation, memory_order_relaxed);
}

/* ---- refresh ---------------------------------------------------------- */

static void refresh_locked(void)
{
    int g = rt_guard_enter();
    int first = 1;
    ncur = 0;
    dl_iterate_phdr(collect, &first);
    for (uint32_t i = 0; i < nmods;) {
        uint32_t k = 0;
        while (k < ncur && !same(&mods[i], &cur[k]))
            k++;
        if (k < ncur) {
            i++;
            continue;
        }
        send_unload(mods[i].id, atomic_fetch_add(&generation, 1) + 1);
        rt_py_unloaded(mods[i].bias);
        mods[i] = mods[--nmods];
    }
    for (uint32_t k = 0; k < ncur; k++) {
        uint32_t i = 0;
        while (i < nmods && !same(&mods[i], &cur[k]))
            i++;
        if (i < nmods || nmods == MAX_MODULES)
            continue;
        struct mod *m = &mods[nmods++];
        m->id = next_id++;
        m->bias = cur[k].bias;
        m->lo = cur[k].lo;
        m->hi = cur[k].hi;
        m->seen = cur[k];
        strncpy(m->name, cur[k].name, sizeof m->name - 1);
        m->name[sizeof m->name - 1] = 0;
        send_load(&cur[k], m->id, atomic_fetch_add(&generation, 1) + 1);
        rt_py_consider(cur[k].bias, cur[k].phdr, cur[k].phnum, m->id);
    }
    publish_map();
    rt_guard_leave(g);
}

static void lock_take(void)
{
    while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
        sched_yield();
}

static void lock_drop(void)
{
    atomic_flag_clear_explicit(&lock, memory_order_release);
}

/* A fork child has its parent's objects loaded: it sends the map it
 * inherited, under new ids, without dl_iterate_phdr, whose loader lock
 * another thread of the parent may have held at the fork. */
static void resend_inherited(void)
{
    for (uint32_t i = 0; i < nmods; i++) {
        mods[i].id = next_id++;
        send_load(&mods[i].seen, mods[i].id, atomic_fetch_add(&generation, 1) + 1);
        rt_py_consider(mods[i].seen.bias, mods[i].seen.phdr, mods[i].seen.phnum, mods[i].id);
    }
    publish_map();
}

void rt_modules_reset(int fork_child)
{
    atomic_flag_clear(&lock);
    if (fork_child && mods) {
        next_id = 1;
        atomic_store(&generation, 0);
        resend_inherited();
        return;
    }
    if (!mods) {
        mods = rt_arena_alloc(MAX_MODULES * sizeof *mods);
        cur = rt_arena_alloc(MAX_MODULES * sizeof *cur);
    }
    if (!mods || !cur) {
        rt_degrade("out of memory for the module map");
        return;
    }
    nmods = 0;
    next_id = 1;
    atomic_store(&generation, 0);
    atomic_store(&map, NULL);
    lock_take();
    refresh_locked();
    lock_drop();
}

void rt_modules_refresh(void)
{
    if (!mods || !rt_proc_recording())
        return;
    lock_take();
    refresh_locked();
    lock_drop();
}

void rt_modules_cover(const uint64_t *frames, unsigned n)
{
    unsigned i = 0;
    while (i < n && rt_modules_id_at((uintptr_t)frames[i]))
        i++;
    if (i == n || !mods || rt_tls.pub)
        return;
    if (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
        return;
    refresh_locked();
    lock_drop();
}

/* ---- hooks ------------------------------------------------------------ */

/* The directory of the object `lm` (for $ORIGIN), into out. */
static void origin_of(const struct link_map *lm, char *out, size_t max)
{
    size_t n = 0;
    if (lm->l_name && lm->l_name[0]) {
        n = strlen(lm->l_name);
        if (n >= max)
            n = max - 1;
        memcpy(out, lm->l_name, n);
    } else {
        ssize_t k = readlink("/proc/self/exe", out, max - 1);
        n = k > 0 ? (size_t)k : 0;
    }
    out[n] = 0;
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = 0;
}

/* Tries `file` in each directory of `path` (':'-separated, $ORIGIN
 * expanded). Returns the handle of the first that loads. */
static void *search(void *(*real)(const char *, int), const char *path, const char *origin,
                    const char *file, int mode)
{
    char full[MAX_PATH_LEN];
    while (*path) {
        size_t len = strcspn(path, ":"), n = 0;
        for (size_t i = 0; i < len && n < sizeof full - 1;) {
            size_t skip = strncmp(path + i, "${ORIGIN}", 9) == 0 ? 9
                        : strncmp(path + i, "$ORIGIN", 7) == 0 ? 7 : 0;
            if (skip) {
                n += (size_t)snprintf(full + n, sizeof full - n, "%s", origin);
                i += skip;
            } else {
                full[n++] = path[i++];
            }
        }
        if (n < sizeof full - 1 && snprintf(full + n, sizeof full - n, "/%s", file) > 0) {
            void *h = real(full, mode);
            if (h)
                return h;
        }
        path += len + (path[len] == ':');
    }
    return NULL;
}

/* dlopen by bare name searches DT_RUNPATH of the calling object; called
 * from the runtime, the real dlopen cannot see the program's. This repeats
 * that step for the program's caller. */
static void *open_by_caller(void *(*real)(const char *, int), const void *caller,
                            const char *file, int mode)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1(caller, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm || !lm->l_ld)
        return NULL;
    const char *strtab = NULL;
    ElfW(Xword) runpath = 0, rpath = 0;
    int have_runpath = 0, have_rpath = 0;
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB)
            strtab = (const char *)d->d_un.d_ptr;
        else if (d->d_tag == DT_RUNPATH)
            runpath = d->d_un.d_val, have_runpath = 1;
        else if (d->d_tag == DT_RPATH)
            rpath = d->d_un.d_val, have_rpath = 1;
    }
    if (!strtab || (!have_runpath && !have_rpath))
        return NULL;
    char origin[MAX_PATH_LEN];
    origin_of(lm, origin, sizeof origin);
    return search(real, strtab + (have_runpath ? runpath : rpath), origin, file, mode);
}

RT_EXPORT void *dlopen(const char *file, int mode)
{
    static void *(*real)(const char *, int);
    if (!real)
        real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    void *h = real(file, mode);
    if (!h && file && !strchr(file, '/')) {
        h = open_by_caller(real, __builtin_return_address(0), file, mode);
        if (!h)
            real(file, mode); /* dlerror() tells about the name as given */
    }
    if (!rt_tls.guard) {
        rt_modules_refresh();
        rt_pymem_attach();
        rt_pyexit_attach();
    }
    return h;
}

RT_EXPORT int dlclose(void *handle)
{
    static int (*real)(void *);
    if (!real)
        real = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    int r = real(handle);
    if (!rt_tls.guard)
        rt_modules_refresh();
    return r;
}
