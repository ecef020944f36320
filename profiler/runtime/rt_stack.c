/* SPDX-License-Identifier: MIT
 *
 * rt_stack.c - the stack table: open addressing in two levels of arena
 * memory, keyed by a 128-bit hash of the frames (two independent 64-bit
 * mixes; 96 bits are kept). The frames themselves are not
 * kept: comparing them would cost a second cache miss on every event, while
 * two different stacks sharing 96 hash bits is a 1 in 10^19 event for a
 * million stacks. A slot is claimed by CAS on its first key word; its id is
 * stored last (release). A reader that finds a claimed slot without id spins
 * briefly, then moves on (the claimer may be the very thread it interrupted):
 * the worst outcome is the same stack under two ids.
 */
#include "profiler/runtime/rt_stack.h"

#include "profiler/runtime/rt_module.h"
#include "profiler/runtime/rt_rec.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

struct entry {
    _Atomic uint64_t key;  /* hash word 1; 0: free */
    uint32_t check;        /* hash word 2, low half */
    _Atomic uint32_t id;   /* 0 until settled */
};

/* The first level holds a stack in the 64 slots from its hash on, if one
 * is free there; only a stack whose 64 slots are all taken goes to the
 * second level, made when first needed. Slots are never freed, so a lookup
 * that meets a free slot in the first level knows the stack is nowhere.
 * Most programs never need the second level: they touch at most 4 MiB
 * (two huge pages) instead of the 32 MiB one level of this capacity took.
 * 64 slots, not fewer: linear probing makes runs of taken slots, and with
 * 16 churn's 103,680 stacks (40% of the level) already overflowed a few. */
#define L0_BITS 18                         /* 256 Ki slots, 4 MiB */
#define L0_SIZE (1u << L0_BITS)
#define WINDOW 64
#define L1_BITS 21                         /* 2 Mi slots, 32 MiB */
#define L1_SIZE (1u << L1_BITS)
#define MAX_PROBES 4096

#define L0_BYTES (sizeof(struct entry) * L0_SIZE)
#define L1_BYTES (sizeof(struct entry) * L1_SIZE)
#define HUGE_PAGE (2u << 20)
#define POPULATE_AFTER 4096                /* stacks before making all of it writable */
#define RT_MADV_POPULATE_WRITE 23          /* Linux 5.14; older kernels say EINVAL */

#define PAGE_SLOTS (4096 / sizeof(struct entry))
#define L0_PAGES (L0_SIZE / PAGE_SLOTS)

enum probe { FOUND, ABSENT, FULL };

static void *mapping;
static struct entry *table;                  /* the first level */
static _Atomic uint64_t mapped[L0_PAGES / 64]; /* its pages made writable */
static _Atomic(struct entry *) second;       /* the second level, all writable */
static void *second_mapping;
/* Ids go on from the parent's in a fork child: the blocks it inherits name
 * the parent's stacks by the parent's ids (capture-format.md, INHERIT), and
 * a new stack of the child must not take one of them. */
static _Atomic uint32_t next_id = 1;
static _Atomic uint32_t table_gen = 1; /* per-thread caches are stale after a reset */
static _Atomic uint32_t interned;      /* stacks in the first level since the reset */

/* Huge pages (when `huge`), hence the alignment: a mapping of n bytes
 * aligned to one. */
static struct entry *map_aligned(size_t n, void **base, int huge)
{
    *base = rt_arena_alloc(n + HUGE_PAGE);
    if (!*base)
        return NULL;
    uintptr_t at = ((uintptr_t)*base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    if (huge)
        madvise((void *)at, n, MADV_HUGEPAGE);
    return (struct entry *)at;
}

/* The first level is reserved, not touched: a process pays for the pages
 * its stacks land on. A process with many stacks gets it in huge pages
 * (grow_up): a lookup is a random access, and with 4 KiB pages nearly every
 * one also missed the TLB (a nested page walk under virtualization), which
 * cost churn about 9% of its wall time when the table was 32 MiB. A short
 * process does not: its first stack would fault in and clear a whole 2 MiB
 * page, a tenth of the start-up of a recorded process that forks. */
int rt_stack_reset(void)
{
    if (mapping)
        rt_arena_free(mapping, L0_BYTES + HUGE_PAGE);
    /* A fork child's only thread: nobody else uses the levels. If the fork
     * came between another thread's publishing the second level and its
     * noting the mapping, the mapping is lost, not freed twice. */
    if (atomic_exchange(&second, NULL) && second_mapping)
        rt_arena_free(second_mapping, L1_BYTES + HUGE_PAGE);
    second_mapping = NULL;
    atomic_fetch_add(&table_gen, 1);
    for (unsigned i = 0; i < L0_PAGES / 64; i++)
        atomic_store_explicit(&mapped[i], 0, memory_order_relaxed);
    atomic_store(&interned, 0);
    table = map_aligned(L0_BYTES, &mapping, 0);
    return table ? 0 : -1;
}

/* Pages of the first level are never read before they are written. A read
 * of an untouched page maps the shared zero page, and the first claim in it
 * then takes a copy-on-write fault whose TLB shootdown interrupts every
 * other thread of the process (7% of all CPU on churn). So a lookup treats
 * a page not yet marked in `mapped` as empty, and a claim first makes the
 * page writable (a write fault on an absent page needs no shootdown). */
static int page_ready(uint32_t slot)
{
    uint32_t page = slot / PAGE_SLOTS;
    uint64_t bit = 1ull << (page % 64);
    return (atomic_load_explicit(&mapped[page / 64], memory_order_acquire) & bit) != 0;
}

static void make_ready(uint32_t slot)
{
    uint32_t page = slot / PAGE_SLOTS;
    if (page_ready(slot))
        return;
    /* A locked add of zero is a write that changes nothing: it faults the
     * page in writable whether or not another thread claimed a slot there. */
    atomic_fetch_add_explicit(&table[page * PAGE_SLOTS].key, 0, memory_order_relaxed);
    atomic_fetch_or_explicit(&mapped[page / 64], 1ull << (page % 64), memory_order_release);
}

/* A process with many stacks touches most of the first level: it gets it
 * in huge pages, all writable at once (without huge pages, one fault per
 * 4 KiB page saved). */
static void grow_up(void)
{
    madvise(table, L0_BYTES, MADV_HUGEPAGE);
    if (madvise(table, L0_BYTES, RT_MADV_POPULATE_WRITE) != 0)
        return;
    for (unsigned i = 0; i < L0_PAGES / 64; i++)
        atomic_store_explicit(&mapped[i], ~0ull, memory_order_release);
}

/* The second level, made writable before anyone sees it. Threads that need
 * it at once each make one and keep the first published; no one waits,
 * since the maker may be the very thread a signal handler interrupted. */
static struct entry *second_level(void)
{
    struct entry *have = atomic_load_explicit(&second, memory_order_acquire);
    if (have)
        return have;
    void *base;
    struct entry *mine = map_aligned(L1_BYTES, &base, 1);
    if (!mine)
        return NULL;
    if (madvise(mine, L1_BYTES, RT_MADV_POPULATE_WRITE) != 0)
        memset(mine, 0, L1_BYTES);
    struct entry *want = NULL;
    if (!atomic_compare_exchange_strong(&second, &want, mine)) {
        rt_arena_free(base, L1_BYTES + HUGE_PAGE);
        return want;
    }
    second_mapping = base;
    return mine;
}

struct rt_stack_key rt_stack_hash(const uint64_t *frames, unsigned n)
{
    struct rt_stack_hstate h = RT_STACK_HSTATE0;
    for (unsigned i = n; i-- > 0;)
        h = rt_stack_hstep(h, frames[i]);
    return rt_stack_hfinal(h, n);
}

/* ---- the per-thread cache of recent stacks ---------------------------- */

#define RECENT_SLOTS 256u

struct recent {
    uint64_t key; /* 0: empty */
    uint32_t check;
    uint32_t id;
};

static __thread struct recent recent[RECENT_SLOTS] __attribute__((tls_model("initial-exec")));
static __thread uint32_t recent_gen __attribute__((tls_model("initial-exec")));

static struct recent *recent_slot(uint64_t key)
{
    if (RT_UNLIKELY(recent_gen != atomic_load_explicit(&table_gen, memory_order_relaxed))) {
        memset(recent, 0, sizeof recent);
        recent_gen = atomic_load(&table_gen);
    }
    return &recent[(key ^ key >> 32) & (RECENT_SLOTS - 1)];
}

/* Remembers id for k. The key is cleared first and set last, so that a
 * signal handler reading the slot meanwhile sees it empty, never half. */
static void remember(struct rt_stack_key k, uint32_t id)
{
    struct recent *r = recent_slot(k.key);
    r->key = 0;
    atomic_signal_fence(memory_order_seq_cst);
    r->check = k.check;
    r->id = id;
    atomic_signal_fence(memory_order_seq_cst);
    r->key = k.key;
}

uint32_t rt_stack_recent(struct rt_stack_key k)
{
    const struct recent *r = recent_slot(k.key);
    if (r->key == k.key && r->check == k.check) {
        /* A signal handler may remember another stack in this slot between
         * the loads above and the id's: then the id is the handler's and
         * the key has changed (remember() clears it first, sets it last).
         * Without this re-check, a block now and then got the handler's
         * stack (rec_signal_malloc counted 1001 handler allocations). */
        uint32_t id = r->id;
        atomic_signal_fence(memory_order_seq_cst);
        if (r->key == k.key)
            return id;
    }
    if (table && page_ready(k.key & (L0_SIZE - 1)))
        __builtin_prefetch(&table[k.key & (L0_SIZE - 1)]);
    return 0;
}

/* The id of a claimed slot, 0 if its claimer has not finished. */
static uint32_t settled_id(struct entry *e)
{
    for (int spin = 0; spin < 1000; spin++) {
        uint32_t id = atomic_load_explicit(&e->id, memory_order_acquire);
        if (id)
            return id;
        __builtin_ia32_pause();
    }
    return 0;
}

/* Looks k up in the first level's window. */
static enum probe find_first(struct rt_stack_key k, uint32_t *id)
{
    for (uint32_t i = 0; i < WINDOW; i++) {
        uint32_t slot = (k.key + i) & (L0_SIZE - 1);
        if (!page_ready(slot))
            return ABSENT;
        struct entry *e = &table[slot];
        uint64_t h = atomic_load_explicit(&e->key, memory_order_acquire);
        if (h == 0)
            return ABSENT;
        if (h != k.key)
            continue;
        *id = settled_id(e);
        if (*id && e->check == k.check)
            return FOUND;
    }
    return FULL;
}

static uint32_t find_second(struct rt_stack_key k)
{
    struct entry *t = atomic_load_explicit(&second, memory_order_acquire);
    for (uint32_t i = 0; t && i < MAX_PROBES; i++) {
        struct entry *e = &t[(k.key + i) & (L1_SIZE - 1)];
        uint64_t h = atomic_load_explicit(&e->key, memory_order_acquire);
        if (h == 0)
            return 0;
        if (h != k.key)
            continue;
        uint32_t id = settled_id(e);
        if (id && e->check == k.check)
            return id;
    }
    return 0;
}

uint32_t rt_stack_find(struct rt_stack_key k, unsigned n)
{
    if (n == 0 || !table)
        return 0;
    uint32_t id = 0;
    enum probe p = find_first(k, &id);
    if (p == FULL)
        id = find_second(k);
    if (id)
        remember(k, id);
    return id;
}

static void emit(int how, uint32_t id, const uint64_t *frames, unsigned n, uint64_t time)
{
    struct rt_rec head = { .type = RT_REC_STACK, .u32 = id, .time_ns = time,
                           .a = n, .b = rt_modules_generation() };
    rt_pub_write(how, &head, 1);
    for (unsigned i = 0; i < n; i += RT_SLOT_FRAMES) {
        struct rt_rec slot;
        uint64_t four[RT_SLOT_FRAMES] = { 0, 0, 0, 0 };
        memcpy(four, frames + i, (n - i < RT_SLOT_FRAMES ? n - i : RT_SLOT_FRAMES) * sizeof *frames);
        memcpy(&slot, four, sizeof slot);
        rt_pub_write(how, &slot, 1);
    }
}

/* Claims e for k if it is free; the id, or 0 if e holds another stack. */
static uint32_t claim(struct entry *e, struct rt_stack_key k, int how, const uint64_t *frames,
                      unsigned n, uint64_t time, int first)
{
    uint64_t h = atomic_load_explicit(&e->key, memory_order_acquire);
    if (h == 0 && atomic_compare_exchange_strong(&e->key, &h, k.key)) {
        e->check = k.check;
        uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
        if (first && atomic_fetch_add_explicit(&interned, 1, memory_order_relaxed) + 1 == POPULATE_AFTER)
            grow_up();
        emit(how, id, frames, n, time);
        atomic_store_explicit(&e->id, id, memory_order_release);
        remember(k, id);
        return id;
    }
    if (h != k.key)
        return 0;
    uint32_t id = settled_id(e);
    return id && e->check == k.check ? id : 0;
}

uint32_t rt_stack_intern(int how, struct rt_stack_key k, const uint64_t *frames, unsigned n,
                         uint64_t time)
{
    if (n == 0 || !table)
        return 0;
    for (uint32_t i = 0; i < WINDOW; i++) {
        uint32_t slot = (k.key + i) & (L0_SIZE - 1);
        make_ready(slot);
        uint32_t id = claim(&table[slot], k, how, frames, n, time, 1);
        if (id)
            return id;
    }
    struct entry *t = second_level();
    for (uint32_t i = 0; t && i < MAX_PROBES; i++) {
        uint32_t id = claim(&t[(k.key + i) & (L1_SIZE - 1)], k, how, frames, n, time, 0);
        if (id)
            return id;
    }
    rt_degrade("stack table full: later stacks are not recorded");
    return 0;
}
