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
#define HUGE_AFTER 4096                    /* stacks before asking for huge pages */

static void *mapping;
static struct entry *table;
static _Atomic uint32_t next_id;
static _Atomic uint32_t table_gen = 1; /* per-thread caches are stale after a reset */

/* The table is reserved, not touched: a short-lived process pays for the
 * few pages its stacks land on. A process with many stacks gets huge pages
 * (hence the alignment), which spare each lookup a TLB miss. */
int rt_stack_reset(void)
{
    if (mapping)
        rt_arena_free(mapping, TABLE_BYTES + HUGE_PAGE);
    mapping = rt_arena_alloc(TABLE_BYTES + HUGE_PAGE);
    atomic_store(&next_id, 1);
    atomic_fetch_add(&table_gen, 1);
    if (!mapping)
        return -1;
    uintptr_t at = ((uintptr_t)mapping + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    table = (struct entry *)at;
    return 0;
}

struct rt_stack_key rt_stack_hash(const uint64_t *frames, unsigned n)
{
    uint64_t a = 0x9E3779B97F4A7C15ull ^ n, b = 0xC2B2AE3D27D4EB4Full + n;
    for (unsigned i = 0; i < n; i++) {
        a = (a ^ frames[i]) * 0xff51afd7ed558ccdull;
        a ^= a >> 32;
        b = (b ^ frames[i]) * 0xc4ceb9fe1a85ec53ull;
        b ^= b >> 29;
    }
    return (struct rt_stack_key){ a | 1, (uint32_t)b };
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
    if (r->key == k.key && r->check == k.check)
        return r->id;
    if (table)
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
        struct entry *e = &table[(k.key + i) & (TABLE_SIZE - 1)];
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
        struct entry *e = &table[(k.key + i) & (TABLE_SIZE - 1)];
        uint64_t h = atomic_load_explicit(&e->key, memory_order_acquire);
        if (h == 0 && atomic_compare_exchange_strong(&e->key, &h, k.key)) {
            e->check = k.check;
            uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
            if (id == HUGE_AFTER)
                madvise(table, TABLE_BYTES, MADV_HUGEPAGE);
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
