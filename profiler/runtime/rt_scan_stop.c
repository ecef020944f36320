/* SPDX-License-Identifier: MIT
 *
 * rt_scan_stop.c - stops the other threads of the process for a heap
 * snapshot and parks them on a futex until the scan is done (the protocol is
 * in rt_scan_stop.h). Everything a signal handler runs here is
 * async-signal-safe: atomics, raw syscalls, no locks, no allocation.
 *
 * Park/release handshake: a thread reads the release generation *before* it
 * checks that a stop is still wanted, and the scanner clears the stop before
 * it bumps the generation; so a late signal either sees no stop, or parks
 * with a generation the release will change, and never sleeps forever.
 */
#include "profiler/runtime/rt_scan_stop.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_scan.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "the heap scanner knows the thread and register layout of x86_64 only"
#endif

static struct rt_stopped *_Atomic g_set;
static _Atomic size_t g_n;
static _Atomic int g_stopping;
static _Atomic uint32_t g_release; /* futex: bumped to let parked threads go */
static _Atomic uint32_t g_acks;    /* futex: bumped by every thread that answers */

/* glibc's static TLS layout, from the symbols libthread_db reads. */
static size_t g_static_tls_size, g_static_tls_align, g_pthread_size;

/* The slot array, reused while it is big enough; see struct rt_stop_set. */
static struct rt_stopped *g_slots;
static size_t g_slots_cap;

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static pid_t self_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

uintptr_t rt_stop_self_tp(void)
{
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
}

static struct rt_stopped *find_self(void)
{
    struct rt_stopped *set = atomic_load(&g_set);
    size_t n = atomic_load(&g_n);
    pid_t tid = self_tid();
    for (size_t i = 0; set && i < n; i++)
        if (set[i].tid == tid)
            return &set[i];
    return NULL;
}

/* What a handler left on an alternate signal stack is dead once it
 * returned: the scanner must not take that mapping for program data. */
static void save_alt_stack(struct rt_stopped *t)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) && ss.ss_size) {
        t->alt_lo = (uintptr_t)ss.ss_sp;
        t->alt_hi = (uintptr_t)ss.ss_sp + ss.ss_size;
    }
}

static void save_context(struct rt_stopped *t, const ucontext_t *uc)
{
    size_t n = NGREG < RT_STOP_NREGS ? NGREG : RT_STOP_NREGS;
    for (size_t i = 0; i < n; i++)
        t->regs[i] = (uint64_t)uc->uc_mcontext.gregs[i];
    t->nregs = (uint32_t)n;
    t->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    t->tp = rt_stop_self_tp();
    save_alt_stack(t);
}

/* Parks the calling thread until the generation `rel` (read before the
 * caller checked g_stopping) is over. */
static void park(struct rt_stopped *t, uint32_t rel)
{
    atomic_store(&t->state, RT_STOP_PARKED);
    atomic_fetch_add(&g_acks, 1);
    futex(&g_acks, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
    while (atomic_load(&g_release) == rel)
        futex(&g_release, FUTEX_WAIT_PRIVATE, rel, NULL);
}

static void stop_handler(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    int saved_errno = errno;
    uint32_t rel = atomic_load(&g_release);
    struct rt_stopped *t = atomic_load(&g_stopping) ? find_self() : NULL;
    if (!t || atomic_load(&t->state) != RT_STOP_SENT)
        goto out;
    if (rt_in_hook()) {
        atomic_store(&t->state, RT_STOP_IN_HOOK);
        atomic_fetch_add(&g_acks, 1);
        futex(&g_acks, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
        goto out;
    }
    save_context(t, ctx);
    park(t, rel);
out:
    errno = saved_errno;
}

void rt_scan_park_if_requested(void)
{
    if (!atomic_load_explicit(&g_stopping, memory_order_relaxed))
        return;
    int saved_errno = errno;
    uint32_t rel = atomic_load(&g_release);
    struct rt_stopped *t = atomic_load(&g_stopping) ? find_self() : NULL;
    if (t && atomic_load(&t->state) == RT_STOP_IN_HOOK) {
        /* getcontext spills the callee-saved registers, the only ones that
         * can hold the caller's pointers across this call */
        ucontext_t uc;
        getcontext(&uc);
        save_context(t, &uc);
        park(t, rel);
    }
    errno = saved_errno;
}

void rt_stop_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = stop_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(RT_STOP_SIGNAL, &sa, NULL);

    int g = rt_guard_enter(); /* dlsym may allocate */
    void (*info)(size_t *, size_t *) = (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
    const uint32_t *psize = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
    rt_guard_leave(g);
    if (info && psize) {
        info(&g_static_tls_size, &g_static_tls_align);
        g_pthread_size = *psize;
    }
}

int rt_stop_tls_area(uintptr_t tp, uintptr_t *lo, uintptr_t *hi)
{
    if (!g_static_tls_size || !g_pthread_size || g_static_tls_size < g_pthread_size)
        return -1;
    /* x86_64 puts static TLS below the TCB; the TCB (struct pthread) sits
     * at the thread pointer and the whole area ends with it */
    *hi = tp + g_pthread_size;
    *lo = *hi - g_static_tls_size;
    return 0;
}

uintptr_t rt_stop_tp_for_stack_end(uintptr_t stack_end)
{
    if (!g_pthread_size || !g_static_tls_align || stack_end < g_pthread_size)
        return 0;
    /* glibc's allocate_stack: the TCB is the last struct pthread of the
     * mapping, aligned down to the static TLS alignment */
    return (stack_end - g_pthread_size) & ~(uintptr_t)(g_static_tls_align - 1);
}

/* ----------------------------------------------------- listing threads */

static struct rt_stopped *slots(size_t n)
{
    if (n <= g_slots_cap)
        return g_slots;
    size_t cap = n < 64 ? 64 : n * 2;
    struct rt_stopped *s = rt_arena_alloc(cap * sizeof *s);
    if (!s)
        return NULL;
    g_slots = s;
    g_slots_cap = cap;
    return s;
}

/* The core's threads in arena memory of *cap entries (caller frees). */
static size_t core_threads(struct rt_thread_info **out, size_t *cap)
{
    *cap = 64;
    for (;;) {
        struct rt_thread_info *buf = rt_arena_alloc(*cap * sizeof *buf);
        if (!buf)
            return 0;
        size_t n = rt_threads_list(buf, *cap);
        if (n <= *cap) {
            *out = buf;
            return n;
        }
        rt_arena_free(buf, *cap * sizeof *buf);
        *cap = n + 16;
    }
}

struct dirent64_raw {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* Adds the tids of /proc/self/task that are not in s yet (threads the core
 * never saw: created by raw clone, or before the runtime started). */
static void add_unknown_tasks(struct rt_stop_set *s, size_t cap, pid_t self)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096];
    long len;
    while ((len = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long at = 0; at < len;) {
            struct dirent64_raw *d = (struct dirent64_raw *)(buf + at);
            at += d->reclen;
            pid_t tid = 0;
            for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
                tid = tid * 10 + (*c - '0');
            int known = tid == 0 || tid == self;
            for (size_t i = 0; !known && i < s->n; i++)
                known = s->t[i].tid == tid;
            if (known || s->n == cap)
                continue;
            memset(&s->t[s->n], 0, sizeof s->t[s->n]);
            s->t[s->n].tid = tid;
            s->t[s->n].index = UINT32_MAX;
            s->n++;
        }
    }
    close(fd);
}

static void from_core(struct rt_stopped *t, const struct rt_thread_info *info)
{
    memset(t, 0, sizeof *t);
    t->tid = info->tid;
    t->index = info->index;
    t->stack_lo = info->stack_lo;
    t->stack_hi = info->stack_hi;
    t->is_main = info->is_main;
}

/* Fills s->t with the threads to stop and s->self with the caller. */
static int list_threads(struct rt_stop_set *s)
{
    struct rt_thread_info *info = NULL;
    size_t info_cap, n = core_threads(&info, &info_cap), cap = n + 256;
    pid_t self = self_tid();
    s->t = slots(cap);
    s->n = 0;
    memset(&s->self, 0, sizeof s->self);
    s->self.tid = self;
    s->self.index = UINT32_MAX;
    s->self.tp = rt_stop_self_tp();
    if (!info || !s->t) {
        if (info)
            rt_arena_free(info, info_cap * sizeof *info);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (info[i].tid != self) {
            from_core(&s->t[s->n++], &info[i]);
            continue;
        }
        from_core(&s->self, &info[i]);
        s->self.tp = rt_stop_self_tp();
        save_alt_stack(&s->self);
    }
    rt_arena_free(info, info_cap * sizeof *info);
    add_unknown_tasks(s, cap, self);
    return 0;
}

/* ---------------------------------------------------------- stop, release */

static int answered(int state)
{
    return state == RT_STOP_PARKED || state == RT_STOP_GONE;
}

enum task_status { TASK_RUNS, TASK_BLOCKS_STOP, TASK_GONE };

/* What /proc says of a thread that has not answered: gone (no such task,
 * or a zombie: the main thread after pthread_exit stays one until the
 * process ends and never handles a signal again), blocking the stop
 * signal, or neither. */
static enum task_status task_status(pid_t pid, pid_t tid)
{
    if (syscall(SYS_tgkill, pid, tid, 0) < 0 && errno == ESRCH)
        return TASK_GONE;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TASK_RUNS;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return TASK_RUNS;
    buf[n] = 0;
    const char *state = strstr(buf, "\nState:\t"), *blk = strstr(buf, "\nSigBlk:\t");
    if (state && (state[8] == 'Z' || state[8] == 'X'))
        return TASK_GONE;
    if (blk && (strtoull(blk + 9, NULL, 16) >> (RT_STOP_SIGNAL - 1) & 1))
        return TASK_BLOCKS_STOP;
    return TASK_RUNS;
}

/* Waits until every thread parked or is gone, or the timeout passed; the
 * stragglers are marked RT_STOP_TIMEOUT. When every straggler has blocked
 * the stop signal for RT_STOP_BLOCKED_MS, waiting longer is pointless
 * (glibc blocks signals only briefly, in pthread_create and the like). */
static void wait_parked(struct rt_stop_set *s)
{
    uint64_t now = rt_now_ns(), ms = 1000000u;
    uint64_t deadline = now + RT_STOP_TIMEOUT_MS * ms, blocked_deadline = now + RT_STOP_BLOCKED_MS * ms;
    pid_t pid = getpid();
    for (;;) {
        uint32_t acks = atomic_load(&g_acks);
        size_t done = 0;
        int all_blocked = 1;
        for (size_t i = 0; i < s->n; i++) {
            struct rt_stopped *t = &s->t[i];
            if (answered(atomic_load(&t->state))) {
                done++;
                continue;
            }
            enum task_status st = task_status(pid, t->tid);
            if (st == TASK_GONE) {
                atomic_store(&t->state, RT_STOP_GONE);
                done++;
            } else if (st == TASK_RUNS || atomic_load(&t->state) == RT_STOP_IN_HOOK) {
                all_blocked = 0;
            }
        }
        now = rt_now_ns();
        if (done == s->n)
            return;
        if (now >= deadline || (all_blocked && now >= blocked_deadline))
            break;
        struct timespec ts = {0, 5 * 1000000};
        futex(&g_acks, FUTEX_WAIT_PRIVATE, acks, &ts);
    }
    for (size_t i = 0; i < s->n; i++) {
        int st = atomic_load(&s->t[i].state);
        if (!answered(st)) {
            atomic_store(&s->t[i].state, RT_STOP_TIMEOUT);
            s->partial = 1;
        }
    }
}

int rt_stop_all(struct rt_stop_set *s)
{
    s->partial = 0;
    if (list_threads(s))
        return -1;
    atomic_store(&g_set, s->t);
    atomic_store(&g_n, s->n);
    atomic_store(&g_stopping, 1);
    pid_t pid = getpid();
    for (size_t i = 0; i < s->n; i++)
        if (syscall(SYS_tgkill, pid, s->t[i].tid, RT_STOP_SIGNAL) < 0)
            atomic_store(&s->t[i].state, RT_STOP_GONE);
    wait_parked(s);
    return 0;
}

void rt_stop_release(struct rt_stop_set *s)
{
    (void)s;
    atomic_store(&g_stopping, 0);
    atomic_fetch_add(&g_release, 1);
    futex(&g_release, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}
