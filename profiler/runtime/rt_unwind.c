/* SPDX-License-Identifier: MIT
 *
 * rt_unwind.c - call stacks for allocation events (unwind.h).
 *
 * The walker. Each frame's rule comes from .eh_frame (rt_cfi.c), cached per
 * thread by return address, so code built without frame pointers unwinds
 * right. The walk starts at the hook's caller, whose registers the hook
 * reads from its own frame (RT_UNWIND_HERE), so the runtime's frames are
 * never walked.
 *
 * The shadow. Most of a stack is usually the stack of the thread's previous
 * allocation: the same outer frames at the same addresses. Each thread keeps
 * its last walk, outermost frame first: for every frame its registers on
 * entry (ip, sp, and rbp where the rest of the walk reads it) and every
 * stack word the walk read from there outward. The walk is a function of
 * those registers and those words only, so when a new walk reaches a frame
 * with the same registers as a shadow frame and all the words the shadow
 * read from there outward still hold the same values, the rest of the stack
 * is the shadow's, exactly, not by guess. The hash chain runs from the
 * outermost frame inward (rt_stack.h), so its state is kept per shadow frame
 * and only the new frames are hashed.
 *
 * libunwind. A frame the rules cannot express (a signal frame, code without
 * FDE, a CFA expression, a stack pointer off the thread's stack) hands the
 * whole stack to libunwind's unw_backtrace, which drops nothing of what the
 * walker would give; HEAPGRAPH_UNWIND=libunwind uses it always and
 * HEAPGRAPH_UNWIND=check runs both and reports any difference (the e2e
 * tests run so). libunwind is set up at its first use: most processes never
 * need it, and its set-up (its caches, its memory-check pipe, a first walk
 * through the loader's tables) was a third of a short process's start-up.
 * libunwind's caches are per thread and not re-entrant, and neither is the
 * shadow, so a signal handler that allocates while its thread is inside the
 * unwinder uses libgcc's unwinder; a third level of nesting gets no stack.
 * The runtime links libgcc_s, so that the loader maps it with the program:
 * glibc's backtrace() would dlopen it at its first call, which cannot be
 * done in a signal handler and cost a short process another 0.3 ms when
 * done at start-up.
 */
#define UNW_LOCAL_ONLY
#include "profiler/runtime/unwind.h"

#include "profiler/runtime/rt_cfi.h"
#include "profiler/runtime/rt_module.h"
#include "profiler/runtime/rt_rec.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

#define RULES 4096u   /* per thread; a power of two */
#define WAYS 4u       /* rules per set: one cache line */
#define WALK_MAX 69u  /* frames below the hook that libunwind's buffer holds */

struct range {
    uintptr_t lo, hi;
};

static struct range skip[2]; /* the runtime's code, libunwind's code */

enum mode { MODE_WALK, MODE_LIBUNWIND, MODE_CHECK };
static enum mode mode;

struct rule {
    uint64_t ra; /* 0: empty */
    struct rt_cfi_rule r;
};

/* The thread's last walk, outermost frame first, as arrays: the loops over
 * it are short and branch-free. Frame i's return address was pushed at
 * sp[i] - 8 and is ip[i] as long as the frame is live. */
struct walker {
    uint32_t gen;             /* module generation the rules belong to */
    uintptr_t stack_lo, stack_hi;
    unsigned n;
    uint64_t ip[WALK_MAX], sp[WALK_MAX], bp[WALK_MAX];
    /* The saved rbp that frame i's step restored, where a frame further
     * out reads it; else a pointer to bpw_val[i] itself. */
    const uint64_t *bpw_at[WALK_MAX];
    uint64_t bpw_val[WALK_MAX];
    uint64_t ha[WALK_MAX], hb[WALK_MAX]; /* the hash chain through frame i */
    uint16_t nkept[WALK_MAX];            /* kept frames from the outermost to i */
    uint8_t bp_live[WALK_MAX];           /* the walk from i outward reads rbp */
    uint64_t kept[WALK_MAX];             /* the kept frames' ips */
    _Alignas(64) struct rule rules[RULES];
};

static __thread struct walker *walker __attribute__((tls_model("initial-exec")));

/* The frames walked this time, innermost first. */
struct steps {
    uint64_t ip[WALK_MAX], sp[WALK_MAX], bp[WALK_MAX];
    const uint64_t *bpw_at[WALK_MAX]; /* the saved rbp read, NULL if none */
    uint64_t bpw_val[WALK_MAX];
    uint16_t how[WALK_MAX];
};

/* In a cached rule: the frame is not the runtime's or libunwind's. */
#define KEEP RT_CFI_CALLER

static int keep(uint64_t ip)
{
    return (ip - skip[0].lo >= skip[0].hi - skip[0].lo) &
           (ip - skip[1].lo >= skip[1].hi - skip[1].lo);
}

/* ---- the walker ------------------------------------------------------- */

/* The rule cache is set-associative, a set per cache line, newest first:
 * an interpreter's eval loop alone has hundreds of call sites, and a
 * direct-mapped table of the same size sent about a tenth of CPython's
 * lookups to the decoder for want of one slot (2.5% of all CPU). */
static struct rt_cfi_rule rule_at(struct walker *w, uint64_t ra)
{
    struct rule *set = &w->rules[((ra ^ ra >> 12) & (RULES / WAYS - 1)) * WAYS];
    for (unsigned k = 0; k < WAYS; k++)
        if (RT_LIKELY(set[k].ra == ra))
            return set[k].r;
    memmove(set + 1, set, (WAYS - 1) * sizeof *set);
    set->r = rt_cfi_rule(ra);
    set->r.how |= keep(ra) ? KEEP : 0;
    set->ra = ra;
    return set->r;
}

/* How many shadow frames, from the outermost, begin a walk whose every
 * word is unchanged: frame r's qualifies when frames 0..r-1 still hold
 * their return addresses and frames 0..r their needed saved rbp. */
static unsigned intact(const struct walker *w)
{
    if (w->n == 0)
        return 0;
    unsigned q = 1;
    while (q < w->n && *(const uint64_t *)(uintptr_t)(w->sp[q - 1] - 8) == w->ip[q - 1] &&
           *w->bpw_at[q] == w->bpw_val[q])
        q++;
    return q;
}

enum { END_NONE = -1, END_CUT = -2 };

/* One step from frame j (ip, sp, bp) to its caller. 1: stop after frame j
 * (*end says why); -1: ask libunwind. The checks that send a frame to
 * libunwind are folded into one rarely taken branch. */
static int step(struct walker *w, struct steps *s, unsigned j, uint64_t *ip, uint64_t *sp,
                uint64_t *bp, int *end)
{
    struct rt_cfi_rule rule = rule_at(w, *ip);
    unsigned how = rule.how;
    s->ip[j] = *ip;
    s->sp[j] = *sp;
    s->bp[j] = *bp;
    s->how[j] = (uint16_t)how;
    uint64_t cfa = ((how & RT_CFI_BP) ? *bp : *sp) + (uint64_t)(int64_t)rule.cfa_off;
    uint64_t bp_at = cfa + (uint64_t)(int64_t)rule.bp_off;
    int saves = (how & RT_CFI_SAVES_BP) != 0;
    int bad = !(how & RT_CFI_OK) | ((how & RT_CFI_END) != 0) | (cfa <= *sp) |
              (cfa > w->stack_hi) | (saves & ((bp_at < *sp) | (bp_at + 8 > w->stack_hi)));
    if (RT_UNLIKELY(bad)) {
        s->bpw_at[j] = NULL;
        *end = END_NONE;
        return (how & RT_CFI_OK) && (how & RT_CFI_END) ? 1 : -1;
    }
    const uint64_t *src = saves ? (const uint64_t *)(uintptr_t)bp_at : bp;
    s->bpw_at[j] = saves ? src : NULL;
    s->bpw_val[j] = *bp = *src;
    *ip = *(const uint64_t *)(uintptr_t)(cfa - 8);
    *sp = cfa;
    if (RT_UNLIKELY(*ip == 0 || j + 1 == WALK_MAX)) {
        *end = END_CUT; /* no shadow: the walk does not end where it should */
        return 1;
    }
    return 0;
}

/* Walks until the stack ends or meets an intact shadow frame (*end). Returns
 * the frames walked, -1 for libunwind. */
static int walk(struct walker *w, const struct rt_unwind_start *at, struct steps *s, int *end)
{
    uint64_t ip = at->ip, sp = at->sp, bp = at->bp;
    if (sp < w->stack_lo || sp >= w->stack_hi)
        return -1;
    int r = (int)intact(w) - 1;
    uint64_t next = r >= 0 ? w->sp[r] : UINT64_MAX;
    for (unsigned j = 0;; j++) {
        if (RT_UNLIKELY(sp >= next)) {
            while (r >= 0 && w->sp[r] < sp)
                r--;
            if (r >= 0 && w->sp[r] == sp) {
                if (w->ip[r] == ip && (!w->bp_live[r] || w->bp[r] == bp)) {
                    *end = r;
                    return (int)j;
                }
                r--;
            }
            next = r >= 0 ? w->sp[r] : UINT64_MAX;
        }
        int stop = step(w, s, j, &ip, &sp, &bp, end);
        if (stop)
            return stop < 0 ? -1 : (int)j + 1;
    }
}

/* Innermost-first output from the kept ips (outermost first). */
static unsigned emit(const uint64_t *kept, unsigned nk, struct rt_stack_hstate h,
                     uint64_t *out, struct rt_stack_key *key)
{
    unsigned n = nk < RT_MAX_FRAMES ? nk : RT_MAX_FRAMES;
    for (unsigned m = 0; m < n; m++)
        out[m] = kept[nk - 1 - m];
    *key = nk == n ? rt_stack_hfinal(h, n) : rt_stack_hash(out, n);
    return n;
}

/* Makes the shadow its frames 0..r followed by the j new frames, and the
 * stack from it. Goes from the outermost new frame inward, as the hash
 * chain and rbp liveness do: a frame reads the rbp it was entered with if
 * its CFA is rbp-based, or if it leaves rbp alone and a frame further out
 * reads it; a saved rbp it restores is worth checking only in that case. */
static unsigned splice(struct walker *w, const struct steps *s, unsigned j, int r,
                       uint64_t *out, struct rt_stack_key *key)
{
    unsigned nk = r >= 0 ? w->nkept[r] : 0;
    struct rt_stack_hstate h = RT_STACK_HSTATE0;
    if (r >= 0)
        h = (struct rt_stack_hstate){ w->ha[r], w->hb[r] };
    int outer_live = r >= 0 ? w->bp_live[r] : 0;
    unsigned idx = (unsigned)(r + 1);
    for (unsigned i = j; i-- > 0; idx++) {
        uint64_t ip = s->ip[i];
        unsigned how = s->how[i];
        int computes = !(how & RT_CFI_END);
        int uses = computes & ((how & RT_CFI_BP) != 0);
        int saves = computes & ((how & RT_CFI_SAVES_BP) != 0);
        int live = uses | ((!saves) & outer_live);
        w->ip[idx] = ip;
        w->sp[idx] = s->sp[i];
        w->bp[idx] = s->bp[i];
        int needed = (s->bpw_at[i] != NULL) & outer_live;
        w->bpw_at[idx] = needed ? s->bpw_at[i] : &w->bpw_val[idx];
        w->bpw_val[idx] = s->bpw_val[i];
        w->bp_live[idx] = (uint8_t)live;
        outer_live = live;
        if (how & KEEP) {
            h = rt_stack_hstep(h, ip);
            w->kept[nk++] = ip;
        }
        w->ha[idx] = h.a;
        w->hb[idx] = h.b;
        w->nkept[idx] = (uint16_t)nk;
    }
    w->n = idx;
    return emit(w->kept, nk, h, out, key);
}

/* A walk that did not end at an outermost frame: no shadow. */
static unsigned cut(struct walker *w, const struct steps *s, unsigned j,
                    uint64_t *out, struct rt_stack_key *key)
{
    unsigned n = 0;
    w->n = 0;
    for (unsigned i = 0; i < j && n < RT_MAX_FRAMES; i++)
        if (s->how[i] & KEEP)
            out[n++] = s->ip[i];
    *key = rt_stack_hash(out, n);
    return n;
}

static int by_walker(const struct rt_unwind_start *at, uint64_t *out, struct rt_stack_key *key)
{
    struct walker *w = walker;
    if (!w)
        return -1;
    uint32_t gen = rt_modules_generation();
    if (RT_UNLIKELY(w->gen != gen)) {
        memset(w->rules, 0, sizeof w->rules);
        w->n = 0;
        w->gen = gen;
    }
    struct steps s;
    int end;
    int j = walk(w, at, &s, &end);
    if (j < 0) {
        w->n = 0;
        return -1;
    }
    if (end == END_CUT)
        return (int)cut(w, &s, (unsigned)j, out, key);
    return (int)splice(w, &s, (unsigned)j, end, out, key);
}

/* ---- libunwind and libgcc --------------------------------------------- */

/* Drops the runtime's and the unwinder's frames. Branch-free: which frames
 * those are varies from call to call, and mispredicted branches cost more
 * than the copy. */
static unsigned filter(void *const *buf, int n, uint64_t *out)
{
    unsigned k = 0;
    for (int i = 0; i < n && k < RT_MAX_FRAMES; i++) {
        uint64_t ip = (uint64_t)(uintptr_t)buf[i];
        out[k] = ip;
        k += (unsigned)keep(ip);
    }
    return k;
}

enum { UNW_UNSET, UNW_SETTING, UNW_READY, UNW_OFF };
static _Atomic int unw_state;

/* Threads inside libunwind, and a fork waiting for them to leave: every
 * walk takes libunwind's cache lock, a mutex (Debian's build has no
 * per-thread caches: UNW_CACHE_PER_THREAD is taken as UNW_CACHE_GLOBAL),
 * and a child copied while another thread held it waited for it forever
 * at its first walk (rec_fork_jemalloc, 1 run in 60 under load). */
static _Atomic int unw_users, unw_forking;
static __thread int unw_busy __attribute__((tls_model("initial-exec"))); /* in enter..leave */

/* Enters libunwind, after the fork under way if there is one. Returns
 * what unw_leave restores (a signal handler's walk may nest). */
static int unw_enter(void)
{
    int prev = unw_busy;
    unw_busy = 1;
    atomic_signal_fence(memory_order_seq_cst);
    for (;;) {
        atomic_fetch_add(&unw_users, 1);
        if (!atomic_load(&unw_forking))
            break;
        atomic_fetch_sub(&unw_users, 1);
        while (atomic_load(&unw_forking))
            sched_yield();
    }
    return prev;
}

static void unw_leave(int prev)
{
    atomic_fetch_sub(&unw_users, 1);
    atomic_signal_fence(memory_order_seq_cst);
    unw_busy = prev;
}

/* Sets libunwind up once per process, at its first use, with a first walk
 * (libunwind's own global set-up, under its lock). A thread that finds
 * another setting it up waits: that takes microseconds, and a handler
 * interrupting the setting thread itself unwinds with libgcc. Returns 0
 * when libunwind cannot be used (rt_unwind_fork_child). Called inside
 * unw_enter. */
static int libunwind_ready(void)
{
    int s = atomic_load_explicit(&unw_state, memory_order_acquire);
    if (RT_LIKELY(s == UNW_READY))
        return 1;
    if (s == UNW_UNSET && atomic_compare_exchange_strong(&unw_state, &s, UNW_SETTING)) {
        void *buf[2];
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
        unw_set_cache_size(unw_local_addr_space, 4096, 0);
        unw_backtrace(buf, 2);
        atomic_store_explicit(&unw_state, UNW_READY, memory_order_release);
        return 1;
    }
    while ((s = atomic_load_explicit(&unw_state, memory_order_acquire)) == UNW_SETTING)
        sched_yield();
    return s == UNW_READY;
}

/* A fork from a signal handler that interrupted its thread's own walk
 * cannot wait for it: the child leaves libunwind unused instead. */
void rt_unwind_fork_prepare(void)
{
    atomic_store(&unw_forking, 1);
    if (unw_busy || atomic_load(&unw_state) == UNW_OFF)
        return;
    while (atomic_load(&unw_users) > 0)
        sched_yield();
}

void rt_unwind_fork_parent(void)
{
    atomic_store(&unw_forking, 0);
}

void rt_unwind_fork_child(void)
{
    atomic_store(&unw_forking, 0);
    if (unw_busy)
        atomic_store(&unw_state, UNW_OFF);
    else
        atomic_store(&unw_users, 0);
}

static unsigned by_libgcc(uint64_t *out);

static unsigned by_libunwind(uint64_t *out)
{
    enum { SLACK = 8 };
    void *buf[RT_MAX_FRAMES + SLACK];
    int prev = unw_enter();
    int n = libunwind_ready() ? unw_backtrace(buf, RT_MAX_FRAMES + SLACK) : -1;
    unw_leave(prev);
    return n < 0 ? by_libgcc(out) : filter(buf, n, out);
}

/* libgcc's entry points, taken from libgcc_s itself: libunwind exports
 * functions of the same names, which a plain reference could bind to. */
static _Unwind_Reason_Code (*gcc_backtrace)(_Unwind_Trace_Fn, void *);
static _Unwind_Ptr (*gcc_ip)(struct _Unwind_Context *);

struct trace {
    void **buf;
    int n, max;
};

static _Unwind_Reason_Code trace_frame(struct _Unwind_Context *ctx, void *arg)
{
    struct trace *t = arg;
    if (t->n == t->max)
        return _URC_END_OF_STACK;
    t->buf[t->n++] = (void *)gcc_ip(ctx);
    return _URC_NO_REASON;
}

static unsigned by_libgcc(uint64_t *out)
{
    enum { SLACK = 8 };
    void *buf[RT_MAX_FRAMES + SLACK];
    struct trace t = { buf, 0, RT_MAX_FRAMES + SLACK };
    if (gcc_backtrace && gcc_ip)
        gcc_backtrace(trace_frame, &t);
    return filter(buf, t.n, out);
}

/* HEAPGRAPH_UNWIND=check: one stderr line per differing stack (the first
 * ten), and the runtime says it degraded, which the tests look for. */
static void check(const uint64_t *walked, unsigned nw, const uint64_t *ref, unsigned nr)
{
    static _Atomic int told;
    unsigned i = 0;
    while (i < nw && i < nr && walked[i] == ref[i])
        i++;
    if (i == nw && i == nr)
        return;
    if (atomic_fetch_add(&told, 1) < 10) {
        char line[96] = "heapgraph: unwinder check: frame ";
        char *p = line + strlen(line);
        for (int d = 100; d > 0; d /= 10)
            *p++ = (char)('0' + i / (unsigned)d % 10);
        memcpy(p, ": walker 0x", 11);
        p += 11;
        uint64_t v[2] = { i < nw ? walked[i] : 0, i < nr ? ref[i] : 0 };
        for (int k = 0; k < 2; k++) {
            for (int sh = 44; sh >= 0; sh -= 4)
                *p++ = "0123456789abcdef"[v[k] >> sh & 15];
            if (k == 0) {
                memcpy(p, " libunwind 0x", 13);
                p += 13;
            }
        }
        *p++ = '\n';
        if (write(2, line, (size_t)(p - line)) < 0)
            line[0] = 0;
    }
    rt_note("unwinder check: the walker and libunwind gave different stacks");
}

/* ---- the interface ------------------------------------------------------ */

struct find_arg {
    uintptr_t addr;
    struct range *out;
};

static int find_module(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find_arg *f = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        uintptr_t hi = lo + ph->p_memsz;
        if (f->addr >= lo && f->addr < hi) {
            f->out->lo = lo;
            f->out->hi = hi;
            return 1;
        }
    }
    return 0;
}

static void find_code(uintptr_t addr, struct range *out)
{
    struct find_arg f = { addr, out };
    dl_iterate_phdr(find_module, &f);
}

void rt_unwind_init(void)
{
    find_code((uintptr_t)&rt_unwind, &skip[0]);
    find_code((uintptr_t)&unw_backtrace, &skip[1]);
    const char *m = getenv("HEAPGRAPH_UNWIND");
    mode = !m ? MODE_WALK : !strcmp(m, "libunwind") ? MODE_LIBUNWIND
         : !strcmp(m, "check") ? MODE_CHECK : MODE_WALK;
    void *gcc = dlopen("libgcc_s.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (gcc) {
        *(void **)&gcc_backtrace = dlsym(gcc, "_Unwind_Backtrace");
        *(void **)&gcc_ip = dlsym(gcc, "_Unwind_GetIP");
    }
}

void rt_unwind_thread_init(void)
{
    void *buf[4];
    int prev = unw_enter();
    if (atomic_load_explicit(&unw_state, memory_order_acquire) == UNW_READY)
        unw_backtrace(buf, 4);
    unw_leave(prev);
}

int rt_unwind_in_libunwind(uintptr_t ip)
{
    return ip - skip[1].lo < skip[1].hi - skip[1].lo;
}

void rt_unwind_thread_bounds(uintptr_t lo, uintptr_t hi)
{
    if (!walker && mode != MODE_LIBUNWIND && hi > lo)
        walker = rt_arena_alloc(sizeof *walker);
    if (walker) {
        walker->n = 0;
        walker->stack_lo = lo;
        walker->stack_hi = hi;
    }
}

void rt_unwind_thread_end(void)
{
    struct walker *w = walker;
    walker = NULL;
    atomic_signal_fence(memory_order_seq_cst);
    if (w)
        rt_arena_free(w, sizeof *w);
}

/* The calling thread's first level: the walker, libunwind where it cannot.
 * In check mode libunwind also unwinds every walked stack; the walker's
 * stack is still the one recorded, so that tests see what users get. */
static unsigned unwind_here(const struct rt_unwind_start *at, uint64_t *out,
                            struct rt_stack_key *key)
{
    if (mode != MODE_LIBUNWIND) {
        int n = by_walker(at, out, key);
        if (n >= 0 && mode == MODE_CHECK) {
            uint64_t ref[RT_MAX_FRAMES];
            unsigned nr = by_libunwind(ref);
            check(out, (unsigned)n, ref, nr);
            struct rt_stack_key k = rt_stack_hash(out, (unsigned)n);
            if (k.key != key->key || k.check != key->check)
                rt_note("unwinder check: the walker's resumed hash differs");
        }
        if (n >= 0)
            return (unsigned)n;
    }
    unsigned n = by_libunwind(out);
    *key = rt_stack_hash(out, n);
    return n;
}

unsigned rt_unwind(const struct rt_unwind_start *at, uint64_t *out, struct rt_stack_key *key)
{
    struct rt_tls *t = &rt_tls;
    unsigned n = 0;
    if (t->unwinding < 2) {
        t->unwinding++;
        if (t->unwinding == 1) {
            n = unwind_here(at, out, key);
        } else {
            n = by_libgcc(out);
            *key = rt_stack_hash(out, n);
        }
        t->unwinding--;
    } else {
        *key = rt_stack_hash(out, 0);
    }
    return n;
}
