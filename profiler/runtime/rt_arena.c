/* SPDX-License-Identifier: MIT
 *
 * rt_arena.c - the runtime's own memory, and the list of address ranges that
 * are not the program's. The runtime must never call the allocator it
 * watches (that would record itself and re-enter its hooks), so everything it
 * keeps lives in anonymous mappings made here: zeroed, private, never
 * counted. The heap scanner treats memory the program maps for itself as a
 * root, so each of these mappings is entered in the region list, which the
 * scanner leaves out; so are the shared rings and the mappings the program's
 * allocator makes for itself.
 *
 * The runtime's own ranges are an open-addressing table keyed by a range's
 * start; the allocator's are a short array, since the program may unmap
 * any part of them (jemalloc trims an aligned mapping at both ends). Both
 * are updated with atomic operations only: they are changed from inside
 * hooks and signal handlers, where no lock may be taken. Mappings never
 * share a start, so two threads never claim a slot for the same key.
 */
#include "profiler/runtime/rt_core.h"

#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REGION_SLOTS (1u << 15)
#define ALLOC_SLOTS 8192u
#define TOMB ((uintptr_t)1)

struct region_slot {
    _Atomic uintptr_t start; /* 0 free, TOMB deleted, else the range's start */
    _Atomic uintptr_t end;   /* 0 while the slot is being filled */
};

static struct region_slot *_Atomic regions;
static struct region_slot *_Atomic alloc_regions; /* ALLOC_SLOTS */
static _Atomic size_t alloc_used;                 /* slots ever used */

static size_t page_round(size_t size)
{
    size_t page = 4096;
    return (size + page - 1) & ~(page - 1);
}

long rt_raw_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

void *rt_raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    long r = rt_raw_syscall(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
    return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}

int rt_raw_munmap(void *addr, size_t len)
{
    return rt_raw_syscall(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0) == 0 ? 0 : -1;
}

/* ---- the region list ------------------------------------------------- */

static size_t slot_of(uintptr_t start)
{
    return (size_t)(((start >> 12) * 0x9E3779B97F4A7C15ull) >> 49) & (REGION_SLOTS - 1);
}

/* The table at *slot, made on first use with `n` slots. */
static struct region_slot *table(struct region_slot *_Atomic *slot, size_t n)
{
    struct region_slot *t = atomic_load_explicit(slot, memory_order_acquire);
    if (t)
        return t;
    size_t bytes = n * sizeof *t;
    struct region_slot *fresh = rt_raw_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fresh == MAP_FAILED)
        return NULL;
    struct region_slot *expect = NULL;
    if (!atomic_compare_exchange_strong(slot, &expect, fresh)) {
        rt_raw_munmap(fresh, bytes);
        return expect;
    }
    rt_region_add((uintptr_t)fresh, bytes);
    return fresh;
}

void rt_region_add(uintptr_t start, size_t size)
{
    struct region_slot *t = table(&regions, REGION_SLOTS);
    if (!t || start <= TOMB || !size)
        return; /* unlisted: the scanner may read it as a root, which only over-holds */
    for (size_t i = slot_of(start), n = 0; n < REGION_SLOTS; i = (i + 1) & (REGION_SLOTS - 1), n++) {
        uintptr_t cur = atomic_load_explicit(&t[i].start, memory_order_relaxed);
        if ((cur == 0 || cur == TOMB) &&
            atomic_compare_exchange_strong(&t[i].start, &cur, start)) {
            atomic_store_explicit(&t[i].end, start + size, memory_order_release);
            return;
        }
    }
}

/* Clears the slot whose range starts at `start`, if there is one. */
static void remove_exact(struct region_slot *t, uintptr_t start)
{
    for (size_t i = slot_of(start), n = 0; n < REGION_SLOTS; i = (i + 1) & (REGION_SLOTS - 1), n++) {
        uintptr_t cur = atomic_load_explicit(&t[i].start, memory_order_relaxed);
        if (cur == 0)
            return;
        if (cur == start) {
            atomic_store_explicit(&t[i].end, 0, memory_order_relaxed);
            atomic_store_explicit(&t[i].start, TOMB, memory_order_release);
            return;
        }
    }
}

void rt_region_remove(uintptr_t start)
{
    struct region_slot *t = atomic_load_explicit(&regions, memory_order_acquire);
    if (t && start > TOMB)
        remove_exact(t, start);
}

/* ---- the allocator's ranges ------------------------------------------ */

void rt_region_add_alloc(uintptr_t start, size_t size)
{
    struct region_slot *t = table(&alloc_regions, ALLOC_SLOTS);
    if (!t || start <= TOMB || !size)
        return;
    for (size_t i = 0; i < ALLOC_SLOTS; i++) {
        uintptr_t cur = 0;
        if (!atomic_compare_exchange_strong(&t[i].start, &cur, start))
            continue;
        atomic_store_explicit(&t[i].end, start + page_round(size), memory_order_release);
        size_t used = atomic_load(&alloc_used);
        while (used < i + 1 && !atomic_compare_exchange_weak(&alloc_used, &used, i + 1))
            ;
        return;
    }
}

int rt_region_unmapped(uintptr_t start, size_t size)
{
    struct region_slot *t = atomic_load_explicit(&alloc_regions, memory_order_acquire);
    uintptr_t end = start + page_round(size);
    size_t used = atomic_load_explicit(&alloc_used, memory_order_acquire);
    int found = 0;
    for (size_t i = 0; t && i < used && i < ALLOC_SLOTS; i++) {
        uintptr_t a = atomic_load_explicit(&t[i].start, memory_order_acquire);
        uintptr_t b = atomic_load_explicit(&t[i].end, memory_order_acquire);
        if (!a || !b || b <= start || a >= end ||
            !atomic_compare_exchange_strong(&t[i].start, &a, 0))
            continue;
        atomic_store_explicit(&t[i].end, 0, memory_order_relaxed);
        found = 1;
        if (a < start) /* what is left of it: a head and a tail at most */
            rt_region_add_alloc(a, start - a);
        if (b > end)
            rt_region_add_alloc(end, b - end);
    }
    return found;
}

/* Copies the ranges of `t` (n slots) after the first *k of out. */
static void list_table(const struct region_slot *t, size_t n, struct rt_range *out, size_t max,
                       size_t *k)
{
    for (size_t i = 0; t && i < n; i++) {
        uintptr_t a = atomic_load_explicit(&t[i].start, memory_order_acquire);
        uintptr_t b = atomic_load_explicit(&t[i].end, memory_order_acquire);
        if (a <= TOMB || b <= a)
            continue;
        if (*k < max)
            out[*k] = (struct rt_range){a, b};
        (*k)++;
    }
}

size_t rt_regions_list(struct rt_range *out, size_t max)
{
    size_t k = 0, used = atomic_load_explicit(&alloc_used, memory_order_acquire);
    list_table(atomic_load_explicit(&regions, memory_order_acquire), REGION_SLOTS, out, max, &k);
    list_table(atomic_load_explicit(&alloc_regions, memory_order_acquire),
               used < ALLOC_SLOTS ? used : ALLOC_SLOTS, out, max, &k);
    return k;
}

/* ---- the arena -------------------------------------------------------- */

void *rt_arena_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    void *p = rt_raw_mmap(NULL, page_round(size), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    rt_region_add((uintptr_t)p, page_round(size));
    return p;
}

void rt_arena_free(void *p, size_t size)
{
    if (!p)
        return;
    rt_region_remove((uintptr_t)p);
    rt_raw_munmap(p, page_round(size ? size : 1));
}
