/* SPDX-License-Identifier: MIT
 *
 * rt_thread.c - the threads of the process.
 *
 * A thread is registered on its first record (or at once by the
 * pthread_create trampoline): it gets a thread index from the shared
 * counter, a ring, a registry entry with its stack bounds (what the heap
 * scanner scans) and an RT_BLOB_THREAD. Its end is sent from a pthread key
 * destructor, which runs for every thread that exits through pthread
 * (return from the start routine or pthread_exit); the destructor asks for
 * one more round first, so the other keys' destructors (which may free
 * memory) run before the thread's ring is closed. Anything the thread still
 * frees after that goes through a short-lived ring of the same index.
 */
#include "profiler/runtime/rt_thread.h"

#include "profiler/runtime/rt_proc.h"
#include "profiler/runtime/rt_pyframe.h"
#include "profiler/runtime/rt_rec.h"
#include "profiler/runtime/unwind.h"

#include <dlfcn.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_THREADS 4096
#define KEY_AGAIN ((void *)1)
#define KEY_LAST ((void *)2)

struct entry {
    int live;
    struct rt_thread_info info;
};

static struct entry *reg; /* MAX_THREADS */
static uint32_t nreg;     /* entries ever used; dead ones are reused */
static atomic_flag reg_lock = ATOMIC_FLAG_INIT;
static pthread_key_t end_key;
static int have_key;
static uintptr_t fork_lo, fork_hi; /* a fork child's thread: its stack, as its parent knew it */

static void reg_take(void)
{
    while (atomic_flag_test_and_set_explicit(&reg_lock, memory_order_acquire))
        sched_yield();
}

static void reg_drop(void)
{
    atomic_flag_clear_explicit(&reg_lock, memory_order_release);
}

static void reg_add(const struct rt_thread_info *info)
{
    reg_take();
    uint32_t i = 0;
    while (i < nreg && reg[i].live)
        i++;
    if (i < MAX_THREADS) {
        reg[i].info = *info;
        reg[i].live = 1;
        if (i == nreg)
            nreg++;
    }
    reg_drop();
}

/* Removes the entry of thread `index`; copies it into *out if found. */
static int reg_remove(uint32_t index, struct rt_thread_info *out)
{
    int found = 0;
    reg_take();
    for (uint32_t i = 0; i < nreg; i++) {
        if (reg[i].live && reg[i].info.index == index) {
            *out = reg[i].info;
            reg[i].live = 0;
            found = 1;
            break;
        }
    }
    reg_drop();
    return found;
}

static int reg_find_handle(pthread_t h, struct rt_thread_info *out)
{
    int found = 0;
    reg_take();
    for (uint32_t i = 0; i < nreg && !found; i++) {
        if (reg[i].live && pthread_equal(reg[i].info.handle, h)) {
            *out = reg[i].info;
            found = 1;
        }
    }
    reg_drop();
    return found;
}

size_t rt_threads_list(struct rt_thread_info *out, size_t max)
{
    size_t n = 0;
    reg_take();
    for (uint32_t i = 0; i < nreg; i++) {
        if (!reg[i].live)
            continue;
        if (n < max)
            out[n] = reg[i].info;
        n++;
    }
    reg_drop();
    return n;
}

/* ---- registration ----------------------------------------------------- */

/* The calling thread's stack. A fork child's thread takes the bounds its
 * parent registered: pthread_getattr_np reads /proc/self/maps through
 * fopen for the main thread, and in the fork child handler an allocator
 * whose own child handler has not run yet may still hold its locks. */
static void stack_bounds(struct rt_thread_info *info)
{
    if (fork_hi) {
        info->stack_lo = fork_lo;
        info->stack_hi = fork_hi;
        fork_lo = fork_hi = 0;
        return;
    }
    pthread_attr_t a;
    void *addr;
    size_t size;
    int g = rt_guard_enter();
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        if (pthread_attr_getstack(&a, &addr, &size) == 0) {
            info->stack_lo = (uintptr_t)addr;
            info->stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&a);
    }
    rt_guard_leave(g);
}

static void send_thread(uint32_t kind, const struct rt_thread_info *info, const char *name)
{
    struct {
        struct rt_blob_thread t;
        char name[16];
    } b;
    size_t len = name ? strnlen(name, sizeof b.name) : 0;
    b.t = (struct rt_blob_thread){ .thread_index = info->index, .tid = info->tid,
                                   .stack_lo = info->stack_lo, .stack_hi = info->stack_hi,
                                   .name_len = (uint32_t)len };
    if (len)
        memcpy(b.name, name, len);
    rt_ring_push_blob(kind, &b, (uint32_t)(sizeof b.t + len));
}

static void register_self(struct rt_tls *t)
{
    struct rt_thread_info info = { .tid = gettid(), .index = t->thread_index,
                                   .handle = pthread_self(), .is_main = t->is_main };
    stack_bounds(&info);
    rt_unwind_thread_bounds(info.stack_lo, info.stack_hi);
    reg_add(&info);
    if (have_key) {
        int g = rt_guard_enter();
        pthread_setspecific(end_key, KEY_AGAIN);
        rt_guard_leave(g);
    }
    char name[17] = "";
    prctl(PR_GET_NAME, name);
    send_thread(RT_BLOB_THREAD, &info, name);
}

int rt_thread_attach(void)
{
    struct rt_tls *t = &rt_tls;
    struct rt_shm *shm = rt_proc_shm();
    if (!shm || !rt_proc_recording())
        return -1;
    t->pub = 1;
    atomic_signal_fence(memory_order_seq_cst);
    if (t->ring) { /* a signal handler attached it meanwhile */
        t->pub = 0;
        return 0;
    }
    if (!t->has_index) {
        t->thread_index = atomic_fetch_add(&shm->next_thread_index, 1);
        t->has_index = 1;
    }
    int gone;
    struct rt_ring *r = rt_rec_claim(t->thread_index, gettid(), !t->ringless, &gone);
    t->pub = 0;
    atomic_signal_fence(memory_order_seq_cst);
    if (!r) {
        if (gone) {
            rt_proc_stop_recording();
        } else {
            t->ringless = 1;
            rt_degrade("more threads alive than rings: events of threads without a ring are lost");
        }
        return -1;
    }
    t->ringless = 0;
    if (!t->registered) {
        t->registered = 1;
        register_self(t);
    }
    return 0;
}

static void thread_end(void *v)
{
    struct rt_tls *t = &rt_tls;
    if (v == KEY_AGAIN) {
        int g = rt_guard_enter();
        pthread_setspecific(end_key, KEY_LAST);
        rt_guard_leave(g);
        return;
    }
    struct rt_thread_info info;
    if (!t->registered || t->ended || !reg_remove(t->thread_index, &info))
        return;
    t->ended = 1;
    rt_unwind_thread_end();
    rt_pyf_thread_end();
    if (rt_proc_recording())
        send_thread(RT_BLOB_THREAD_END, &info, NULL);
    rt_rec_close();
}

void rt_thread_reset(void)
{
    struct rt_tls *t = &rt_tls;
    if (!reg)
        reg = rt_arena_alloc(MAX_THREADS * sizeof *reg);
    if (!reg) {
        rt_degrade("out of memory for the thread registry");
        return;
    }
    if (!have_key) {
        int g = rt_guard_enter();
        have_key = pthread_key_create(&end_key, thread_end) == 0;
        rt_guard_leave(g);
    }
    atomic_flag_clear(&reg_lock);
    struct rt_thread_info self;
    if (reg_find_handle(pthread_self(), &self)) {
        fork_lo = self.stack_lo;
        fork_hi = self.stack_hi;
    }
    memset(reg, 0, nreg * sizeof *reg);
    nreg = 0;
    t->has_index = 0;
    t->registered = 0;
    t->ringless = 0;
    t->ended = 0;
    t->ring = NULL;
    rt_thread_attach();
}

/* ---- hooks ------------------------------------------------------------ */

struct start {
    void *(*fn)(void *);
    void *arg;
};

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    rt_arena_free(p, sizeof s);
    if (rt_proc_recording()) {
        int g = rt_guard_enter();
        rt_unwind_thread_init();
        rt_guard_leave(g);
        rt_thread_attach();
    }
    return s.fn(s.arg);
}

RT_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                             void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real)
        real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))
            dlsym(RTLD_NEXT, "pthread_create");
    if (!rt_proc_recording())
        return real(th, attr, fn, arg);
    struct start *s = rt_arena_alloc(sizeof *s);
    if (!s)
        return real(th, attr, fn, arg);
    s->fn = fn;
    s->arg = arg;
    int r = real(th, attr, trampoline, s);
    if (r)
        rt_arena_free(s, sizeof *s);
    return r;
}

RT_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
    static int (*real)(pthread_t, const char *);
    if (!real)
        real = (int (*)(pthread_t, const char *))dlsym(RTLD_NEXT, "pthread_setname_np");
    int r = real(th, name);
    struct rt_thread_info info;
    if (r == 0 && rt_proc_recording() && !rt_tls.guard && reg_find_handle(th, &info))
        send_thread(RT_BLOB_THREAD_NAME, &info, name);
    return r;
}
