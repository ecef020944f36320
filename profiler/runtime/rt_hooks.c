/* SPDX-License-Identifier: MIT
 *
 * rt_hooks.c - the allocation hooks.
 *
 * Each hook is a few straight-line steps: pass through unless recording (and
 * not inside the runtime's own calls), unwind, call the real allocator,
 * publish. Timing follows ring.h: an allocation is stamped after the real
 * allocator returned, a free before the real free runs, a realloc on both
 * sides of one busy section; so a free is always ordered before the
 * allocation that gets its address back, on any thread. A signal handler
 * that allocates inside a hook is recorded like any caller (rt_rec.c queues
 * its records). Before the real functions are known, calls are served from
 * a static buffer whose blocks are never freed.
 */
#include "profiler/runtime/rt_hooks.h"

#include "profiler/runtime/rt_mmap.h"
#include "profiler/runtime/rt_module.h"
#include "profiler/runtime/rt_proc.h"
#include "profiler/runtime/rt_pyexit.h"
#include "profiler/runtime/rt_pyframe.h"
#include "profiler/runtime/rt_pygc.h"
#include "profiler/runtime/rt_rec.h"
#include "profiler/runtime/rt_scan.h"
#include "profiler/runtime/rt_stack.h"
#include "profiler/runtime/unwind.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdalign.h>
#include <string.h>
#include <unistd.h>

struct real_fns {
#define RT_HOOK(name, ret, params, optional) ret (*name) params;
#include "profiler/runtime/hooks.def"
#undef RT_HOOK
};

static struct real_fns real;

/* ---- bootstrap -------------------------------------------------------- */

#define BOOT_SIZE (256u << 10)

static alignas(64) char boot_buf[BOOT_SIZE];
static _Atomic size_t boot_used;

/* A bootstrap block: 16 bytes holding its size, then the data. Zeroed,
 * since the buffer is never reused. */
static void *boot_alloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    size_t at = atomic_fetch_add(&boot_used, need);
    if (at + need > BOOT_SIZE)
        return NULL;
    memcpy(boot_buf + at, &n, sizeof n);
    return boot_buf + at + 16;
}

static int is_boot(const void *p)
{
    return (const char *)p >= boot_buf && (const char *)p < boot_buf + BOOT_SIZE;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const char *)p - 16, sizeof n);
    return n;
}

int rt_hooks_resolve(void)
{
    struct real_fns found;
#define RT_HOOK(name, ret, params, optional) \
    found.name = (ret(*) params)dlsym(RTLD_NEXT, #name);
#include "profiler/runtime/hooks.def"
#undef RT_HOOK
    real = found;
#define RT_HOOK(name, ret, params, optional) \
    if (!optional && !real.name) return -1;
#include "profiler/runtime/hooks.def"
#undef RT_HOOK
    rt_mmap_allocator((void *)real.malloc);
    return 0;
}

/* dlsym may also answer with a program's PLT entry for malloc (a program
 * that takes malloc's address has one), which leads to the runtime's: only
 * a definition of malloc in another object takes the calls away. */
int rt_hooks_interposed(void)
{
    Dl_info found, self;
    const ElfW(Sym) *sym = NULL;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (!m || !dladdr1(m, &found, (void **)&sym, RTLD_DL_SYMENT) ||
        !dladdr((void *)&rt_hooks_interposed, &self))
        return 1;
    return found.dli_fbase == self.dli_fbase || !sym || sym->st_shndx == SHN_UNDEF;
}

/* ---- the common steps ------------------------------------------------- */

/* 1 when this call is to be recorded. Starts the runtime on first use and
 * takes a requested snapshot at a safe point (outside any hook). */
static inline int hook_begin(int *prev)
{
    if (RT_UNLIKELY(atomic_load_explicit(&rt_image.mode, memory_order_relaxed) != RT_MODE_RECORD)) {
        if (atomic_load(&rt_image.mode) == RT_MODE_BOOT)
            rt_proc_boot();
        if (atomic_load(&rt_image.mode) != RT_MODE_RECORD)
            return 0;
    }
    struct rt_tls *t = &rt_tls;
    if (t->guard)
        return 0;
    if (RT_UNLIKELY(atomic_load_explicit(&rt_scan_pending, memory_order_relaxed)) &&
        !t->in_hook && !t->pub)
        rt_scan_snapshot(1);
    *prev = t->in_hook;
    t->in_hook = 1;
    return 1;
}

static inline void hook_end(int prev)
{
    rt_tls.in_hook = prev;
    if (!prev)
        rt_scan_park_if_requested();
}

/* A stack: n native frames, then the Python frames of py (their words are
 * written after the native ones only when the stack is new). */
struct capture {
    struct rt_stack_key hash;
    uint32_t id;
    unsigned n;
    struct rt_pyf py;
    uint64_t frames[RT_MAX_FRAMES + RT_PY_MAX_FRAMES];
};

/* Unwinds the hook's caller and reads its Python frames; finds the stack
 * among the thread's recent ones or starts loading its table slot. A macro,
 * not a function, so that it reads the frame of the hook it is written in.
 * `nested`: the hook interrupted another (a signal handler). */
#define capture(c, nested) \
    do { \
        struct rt_unwind_start at_; \
        RT_UNWIND_HERE(&at_); \
        (c)->n = rt_unwind(&at_, (c)->frames, &(c)->hash); \
        rt_pyf_read(&(c)->py, &(c)->hash, (nested)); \
        (c)->id = (c)->n + (c)->py.n ? rt_stack_recent((c)->hash) : 0; \
    } while (0)

static inline unsigned all_frames(const struct capture *c)
{
    return c->n + c->py.n;
}

/* After the real call: looks the stack up; a stack not seen before first
 * makes sure its code is in the module map and names its Python code. */
static inline void identify(struct capture *c)
{
    if (c->id)
        return;
    c->id = rt_stack_find(c->hash, all_frames(c));
    if (c->id)
        return;
    if (c->n)
        rt_modules_cover(c->frames, c->n);
    if (RT_UNLIKELY(atomic_load_explicit(&rt_pyexit_waiting, memory_order_relaxed)))
        rt_pyexit_arm();
    if (c->py.n)
        rt_pyf_encode(&c->py, c->frames + c->n);
}

static uint32_t align_flags(size_t align)
{
    if (align == 0)
        return 0;
    return (uint32_t)__builtin_ctzl(align) << RT_F_ALIGN_SHIFT;
}

/* Writes ALLOC at `time` into an open publication, with the stack. */
static void write_alloc(int how, struct capture *c, const void *p, size_t size,
                        uint32_t flags, uint64_t time)
{
    if (!c->id)
        c->id = rt_stack_intern(how, c->hash, c->frames, all_frames(c), time);
    if (RT_UNLIKELY(!atomic_load_explicit(&rt_image.made, memory_order_relaxed)))
        atomic_store_explicit(&rt_image.made, 1, memory_order_relaxed);
    rt_pub_rec(how, RT_REC_ALLOC | flags, c->id, time, (uintptr_t)p, size);
    rt_pyf_born(p, size);
}

static void record_alloc(struct capture *c, const void *p, size_t size, uint32_t flags)
{
    identify(c);
    int how = rt_pub_begin(1 + (c->id ? 0 : RT_STACK_SLOTS(all_frames(c))));
    if (how == RT_PUB_NONE)
        return;
    write_alloc(how, c, p, size, flags, rt_alloc_time());
    rt_pub_end(how);
}

static void record_free(const void *p, uint32_t flags)
{
    int how = rt_pub_begin(1);
    if (how == RT_PUB_NONE)
        return;
    rt_pub_rec(how, RT_REC_FREE | flags, 0, rt_free_time(), (uintptr_t)p, 0);
    rt_pub_end(how);
}

/* A free that Python's garbage collector makes (rt_pygc.h) says so. */
static inline uint32_t gc_free_flags(const void *p, int pymalloc)
{
    if (RT_LIKELY(!rt_pygc_collecting))
        return 0;
    return rt_pygc_free_flags(p, pymalloc ? 0 : malloc_usable_size((void *)p));
}

/* ---- allocation ------------------------------------------------------- */

static void *pass_malloc(size_t n)
{
    return real.malloc ? real.malloc(n) : boot_alloc(n);
}

RT_EXPORT void *malloc(size_t n)
{
    int prev;
    if (!hook_begin(&prev))
        return pass_malloc(n);
    struct capture c;
    capture(&c, prev);
    void *p = real.malloc(n);
    if (p)
        record_alloc(&c, p, n, 0);
    hook_end(prev);
    return p;
}

RT_EXPORT void *calloc(size_t nmemb, size_t size)
{
    int prev;
    if (!hook_begin(&prev))
        return real.calloc ? real.calloc(nmemb, size) : boot_alloc(nmemb * size);
    struct capture c;
    capture(&c, prev);
    void *p = real.calloc(nmemb, size);
    if (p)
        record_alloc(&c, p, nmemb * size, 0);
    hook_end(prev);
    return p;
}

static void *aligned_common(void *p, size_t size, size_t align, struct capture *c)
{
    if (p)
        record_alloc(c, p, size, align_flags(align));
    return p;
}

RT_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    int prev;
    if (!real.posix_memalign)
        rt_proc_boot();
    if (!hook_begin(&prev))
        return real.posix_memalign(out, align, size);
    struct capture c;
    capture(&c, prev);
    int rc = real.posix_memalign(out, align, size);
    if (rc == 0)
        aligned_common(*out, size, align, &c);
    hook_end(prev);
    return rc;
}

/* The memalign family proper: aligned_alloc, memalign, valloc, pvalloc. */
#define ALIGNED_HOOK(name, params, call, align_expr, size_expr) \
    RT_EXPORT void *name params \
    { \
        int prev; \
        if (!real.name) \
            rt_proc_boot(); \
        if (!hook_begin(&prev)) \
            return real.name call; \
        struct capture c; \
        capture(&c, prev); \
        void *p = aligned_common(real.name call, size_expr, align_expr, &c); \
        hook_end(prev); \
        return p; \
    }

ALIGNED_HOOK(aligned_alloc, (size_t align, size_t size), (align, size), align, size)
ALIGNED_HOOK(memalign, (size_t align, size_t size), (align, size), align, size)
ALIGNED_HOOK(valloc, (size_t size), (size), (size_t)getpagesize(), size)
ALIGNED_HOOK(pvalloc, (size_t size), (size), (size_t)getpagesize(), size)

/* ---- free ------------------------------------------------------------- */

RT_EXPORT void free(void *p)
{
    int prev;
    if (!p || is_boot(p))
        return;
    if (!hook_begin(&prev)) {
        if (real.free)
            real.free(p);
        return;
    }
    record_free(p, gc_free_flags(p, 0));
    real.free(p);
    hook_end(prev);
}

RT_EXPORT void free_sized(void *p, size_t size)
{
    int prev;
    if (!p || is_boot(p))
        return;
    int rec = hook_begin(&prev);
    if (rec)
        record_free(p, gc_free_flags(p, 0));
    if (real.free_sized)
        real.free_sized(p, size);
    else
        real.free(p);
    if (rec)
        hook_end(prev);
}

RT_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
    int prev;
    if (!p || is_boot(p))
        return;
    int rec = hook_begin(&prev);
    if (rec)
        record_free(p, gc_free_flags(p, 0));
    if (real.free_aligned_sized)
        real.free_aligned_sized(p, align, size);
    else
        real.free(p);
    if (rec)
        hook_end(prev);
}

/* ---- realloc ---------------------------------------------------------- */

/* realloc of a bootstrap block: a fresh block, the old one stays put. */
static void *realloc_boot(void *old, size_t n)
{
    void *p = malloc(n);
    if (p) {
        size_t have = boot_size(old);
        memcpy(p, old, have < n ? have : n);
    }
    return p;
}

/* The FREE(old) + ALLOC(new) pair of a realloc that moved or kept the
 * block, under one busy section around the real call. */
static void *realloc_pair(void *old, size_t n, struct capture *c)
{
    identify(c);
    int how = rt_pub_begin(2 + RT_STACK_SLOTS(all_frames(c)));
    uint64_t t1 = rt_free_time();
    void *p = real.realloc(old, n);
    uint64_t t2 = rt_alloc_time();
    if (how == RT_PUB_NONE)
        return p;
    if (p || n == 0) {
        rt_pub_rec(how, RT_REC_FREE | (p ? RT_F_REALLOC : 0), 0, t1, (uintptr_t)old, 0);
    }
    if (p)
        write_alloc(how, c, p, n, RT_F_REALLOC, t2);
    rt_pub_end(how);
    return p;
}

RT_EXPORT void *realloc(void *old, size_t n)
{
    int prev;
    if (old && is_boot(old))
        return realloc_boot(old, n);
    if (!hook_begin(&prev))
        return real.realloc ? real.realloc(old, n) : boot_alloc(n);
    struct capture c;
    capture(&c, prev);
    void *p;
    if (!old) {
        p = real.realloc(NULL, n);
        if (p)
            record_alloc(&c, p, n, 0);
    } else {
        p = realloc_pair(old, n, &c);
    }
    hook_end(prev);
    return p;
}

RT_EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, n);
}

/* ---- CPython's allocators -------------------------------------------- */

static __thread int pymem_depth;
static __thread uintptr_t pymem_last;

int rt_hooks_in_pymem(void)
{
    return pymem_depth != 0;
}

uintptr_t rt_hooks_pymem_last(void)
{
    return pymem_last;
}

/* The inner allocator runs with the guard held, so that pymalloc's own
 * calls into malloc pass unrecorded: the wrapper records the object. */
#define PYMEM_INNER(call) \
    ({ \
        int g_ = rt_guard_enter(); \
        pymem_depth++; \
        __typeof__(call) r_ = call; \
        pymem_depth--; \
        rt_guard_leave(g_); \
        r_; \
    })

/* malloc and calloc of a wrapped domain: one ALLOC for the object. */
#define PYMEM_ALLOC_HOOK(name, params, call, size_expr) \
    static void *name params \
    { \
        struct rt_pymem_allocator *in = ctx; \
        int prev; \
        if (!hook_begin(&prev)) \
            return in->call; \
        struct capture c; \
        capture(&c, prev); \
        void *p = PYMEM_INNER(in->call); \
        if (p) \
            record_alloc(&c, p, size_expr, 0); \
        pymem_last = (uintptr_t)p; \
        hook_end(prev); \
        return p; \
    }

PYMEM_ALLOC_HOOK(py_malloc, (void *ctx, size_t n), malloc(in->ctx, n), n)
PYMEM_ALLOC_HOOK(py_calloc, (void *ctx, size_t nelem, size_t elsize),
                 calloc(in->ctx, nelem, elsize), nelem * elsize)

/* realloc(NULL) allocates; otherwise FREE(old) + ALLOC(new) around the
 * inner call in one publication, as realloc_pair does for malloc's. */
static void *py_realloc(void *ctx, void *old, size_t n)
{
    struct rt_pymem_allocator *in = ctx;
    int prev;
    if (!hook_begin(&prev))
        return in->realloc(in->ctx, old, n);
    struct capture c;
    capture(&c, prev);
    void *p;
    if (!old) {
        p = PYMEM_INNER(in->realloc(in->ctx, NULL, n));
        if (p)
            record_alloc(&c, p, n, 0);
    } else {
        identify(&c);
        int how = rt_pub_begin(2 + RT_STACK_SLOTS(all_frames(&c)));
        uint64_t t1 = rt_free_time();
        p = PYMEM_INNER(in->realloc(in->ctx, old, n));
        uint64_t t2 = rt_alloc_time();
        if (how != RT_PUB_NONE) {
            if (p) {
                rt_pub_rec(how, RT_REC_FREE | RT_F_REALLOC, 0, t1, (uintptr_t)old, 0);
                write_alloc(how, &c, p, n, RT_F_REALLOC, t2);
            }
            rt_pub_end(how);
        }
    }
    pymem_last = (uintptr_t)p;
    hook_end(prev);
    return p;
}

static void py_free(void *ctx, void *p)
{
    struct rt_pymem_allocator *in = ctx;
    int prev;
    if (!p || !hook_begin(&prev)) {
        in->free(in->ctx, p);
        return;
    }
    record_free(p, gc_free_flags(p, 1));
    int g = rt_guard_enter();
    pymem_depth++;
    in->free(in->ctx, p);
    pymem_depth--;
    rt_guard_leave(g);
    hook_end(prev);
}

void rt_hooks_pymem_wrap(struct rt_pymem_allocator *inner, struct rt_pymem_allocator *wrap)
{
    *wrap = (struct rt_pymem_allocator){ inner, py_malloc, py_calloc, py_realloc, py_free };
}
