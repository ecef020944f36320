/* SPDX-License-Identifier: MIT
 *
 * rt_stack.c - the stack table: open addressing over a fixed power-of-two
 * array in arena memory, keyed by a 128-bit hash of the frames (two
 * independent 64-bit mixes; 96 bits are kept). The frames themselves are not
 * kept: comparing them would cost a second cache miss on every event, while
 * two different stacks sharing 96 hash bits is a 1 in 10^19 event for a
 * million stacks. A slot is claimed by CAS on its first key word; its id is
 * stored last (release). A reader that finds a claimed slot without id spins
 * briefly, then moves on (the claimer may be the very thread it interrupted):
 * the worst outcome is the same stack under two ids.
 */
#include "profiler/rt_stack.h"

#include "profiler/rt_module.h"
#include "profiler/rt_rec.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define TABLE_BITS 21                      /* 2 Mi slots, 32 MiB */
#define TABLE_SIZE (1u << TABLE_BITS)
#define MAX_PROBES 4096

struct entry {
    _Atomic uint64_t key;  /* hash word 1; 0: free */
    uint32_t check;        /* hash word 2, low half */
    _Atomic uint32_t id;   /* 0 until settled */
};

#define TABLE_BYTES (sizeof(struct entry) * TABLE_SIZE)
#define HUGE_PAGE (2u << 20)
#define POPULATE_AFTER 4096                /* stacks before making all of it writable */
#define RT_MADV_POPULATE_WRITE 23          /* Linux 5.14; older kernels say EINVAL */

#define PAGE_SLOTS (4096 / sizeof(struct entry))
#define TABLE_PAGES (TABLE_SIZE / PAGE_SLOTS)

static void *mapping;
static struct entry *table;
static _Atomic uint64_t mapped[TABLE_PAGES / 64]; /* pages made writable */
static _Atomic uint32_t next_id;
static _Atomic uint32_t table_gen = 1; /* per-thread caches are stale after a reset */

/* The table is reserved, not touched: a process pays for the pages its
 * stacks land on. They are huge pages (hence the alignment) where the kernel
 * has them: a lookup is a random access into 32 MiB, and with 4 KiB pages
 * nearly every one also missed the TLB (a nested page walk under
 * virtualization), which cost churn about 9% of its wall time. The price is
 * up to 2 MiB of memory per stack for the first 16 stacks. */
int rt_stack_reset(void)
{
    if (mapping)
        rt_arena_free(mapping, TABLE_BYTES + HUGE_PAGE);
    mapping = rt_arena_alloc(TABLE_BYTES + HUGE_PAGE);
    atomic_store(&next_id, 1);
    atomic_fetch_add(&table_gen, 1);
    for (unsigned i = 0; i < TABLE_PAGES / 64; i++)
        atomic_store_explicit(&mapped[i], 0, memory_order_relaxed);
    if (!mapping)
        return -1;
    uintptr_t at = ((uintptr_t)mapping + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    table = (struct entry *)at;
    madvise(table, TABLE_BYTES, MADV_HUGEPAGE);
    return 0;
}

/* Pages of the table are never read before they are written. A read of an
 * untouched page maps the shared zero page, and the first claim in it then
 * takes a copy-on-write fault whose TLB shootdown interrupts every other
 * thread of the process (7% of all CPU on churn). So a lookup treats a page
 * not yet marked in `mapped` as empty, and a claim first makes the page
 * writable (a write fault on an absent page needs no shootdown). */
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

/* A process with many stacks touches most of the table: it gets it all
 * writable at once (without huge pages, one fault per 4 KiB page saved). */
static void grow_up(void)
{
    if (madvise(table, TABLE_BYTES, RT_MADV_POPULATE_WRITE) != 0)
        return;
    for (unsigned i = 0; i < TABLE_PAGES / 64; i++)
        atomic_store_explicit(&mapped[i], ~0ull, memory_order_release);
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
    if (table && page_ready(k.key & (TABLE_SIZE - 1)))
        __builtin_prefetch(&table[k.key & (TABLE_SIZE - 1)]);
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

uint32_t rt_stack_find(struct rt_stack_key k, unsigned n)
{
    if (n == 0 || !table)
        return 0;
    for (uint32_t i = 0; i < MAX_PROBES; i++) {
        uint32_t slot = (k.key + i) & (TABLE_SIZE - 1);
        if (!page_ready(slot))
            return 0;
        struct entry *e = &table[slot];
        uint64_t h = atomic_load_explicit(&e->key, memory_order_acquire);
        if (h == 0)
            return 0;
        if (h != k.key)
            continue;
        uint32_t id = settled_id(e);
        if (id && e->check == k.check) {
            remember(k, id);
            return id;
        }
    }
    return 0;
}

static void emit(int how, uint32_t id, const uint64_t *frames, unsigned n, uint64_t time)
{
    struct rt_rec head = { .type = RT_REC_STACK, .u32 = id, .time_ns = time,
                           .a = n, .b = rt_modules_generation() };
    rt_pub_write(how, &head, 1);
    for (unsigned i = 0; i < n; i += 4) {
        struct rt_rec slot;
        uint64_t four[4] = { 0, 0, 0, 0 };
        memcpy(four, frames + i, (n - i < 4 ? n - i : 4) * sizeof *frames);
        memcpy(&slot, four, sizeof slot);
        rt_pub_write(how, &slot, 1);
    }
}

uint32_t rt_stack_intern(int how, struct rt_stack_key k, const uint64_t *frames, unsigned n,
                         uint64_t time)
{
    if (n == 0 || !table)
        return 0;
    for (uint32_t i = 0; i < MAX_PROBES; i++) {
        uint32_t slot = (k.key + i) & (TABLE_SIZE - 1);
        make_ready(slot);
        struct entry *e = &table[slot];
        uint64_t h = atomic_load_explicit(&e->key, memory_order_acquire);
        if (h == 0 && atomic_compare_exchange_strong(&e->key, &h, k.key)) {
            e->check = k.check;
            uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
            if (id == POPULATE_AFTER)
                grow_up();
            emit(how, id, frames, n, time);
            atomic_store_explicit(&e->id, id, memory_order_release);
            remember(k, id);
            return id;
        }
        if (h != k.key)
            continue;
        uint32_t id = settled_id(e);
        if (id && e->check == k.check)
            return id;
    }
    rt_degrade("stack table full: later stacks are not recorded");
    return 0;
}
