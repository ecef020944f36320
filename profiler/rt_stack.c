/* SPDX-License-Identifier: MIT
 *
 * rt_stack.c - the stack table: open addressing over a fixed power-of-two
 * array in arena memory, keyed by a 64-bit hash of the frames and confirmed
 * by comparing the frames themselves. A slot is claimed by CAS on its hash;
 * its id is stored last (release), so a reader that sees an id sees the
 * frames. A reader that finds a claimed slot without id spins briefly, then
 * moves on (the claimer may be the very thread it interrupted): the worst
 * outcome is the same stack under two ids, never a wrong stack.
 */
#include "profiler/rt_stack.h"

#include "profiler/rt_module.h"
#include "profiler/rt_rec.h"

#include <stdatomic.h>
#include <string.h>

#define TABLE_BITS 21                      /* 2 Mi slots */
#define TABLE_SIZE (1u << TABLE_BITS)
#define MAX_PROBES 4096
#define FRAME_POOL (512u << 20)            /* bytes of frames, reserved lazily */

struct entry {
    _Atomic uint64_t hash; /* 0: free */
    _Atomic uint32_t id;   /* 0 until the frames are in place */
    uint32_t n;
    const uint64_t *frames;
};

static struct entry *table;
static uint64_t *pool;
static _Atomic uint64_t pool_used; /* in frames */
static _Atomic uint32_t next_id;

int rt_stack_reset(void)
{
    if (table)
        rt_arena_free(table, sizeof(struct entry) * TABLE_SIZE);
    if (pool)
        rt_arena_free(pool, FRAME_POOL);
    table = rt_arena_alloc(sizeof(struct entry) * TABLE_SIZE);
    pool = rt_arena_alloc(FRAME_POOL);
    atomic_store(&pool_used, 0);
    atomic_store(&next_id, 1);
    return table && pool ? 0 : -1;
}

uint64_t rt_stack_hash(const uint64_t *frames, unsigned n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (unsigned i = 0; i < n; i++) {
        h ^= frames[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h | 1;
}

static int same(const struct entry *e, const uint64_t *frames, unsigned n)
{
    return e->n == n && memcmp(e->frames, frames, n * sizeof *frames) == 0;
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

uint32_t rt_stack_find(uint64_t hash, const uint64_t *frames, unsigned n)
{
    if (n == 0 || !table)
        return 0;
    for (uint32_t i = 0; i < MAX_PROBES; i++) {
        struct entry *e = &table[(hash + i) & (TABLE_SIZE - 1)];
        uint64_t h = atomic_load_explicit(&e->hash, memory_order_acquire);
        if (h == 0)
            return 0;
        if (h != hash)
            continue;
        uint32_t id = settled_id(e);
        if (id && same(e, frames, n))
            return id;
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

/* Claims `e` for a new stack; fills it and publishes its id. */
static uint32_t fill(struct entry *e, int how, const uint64_t *frames, unsigned n, uint64_t time)
{
    uint64_t at = atomic_fetch_add_explicit(&pool_used, n, memory_order_relaxed);
    if (at + n > FRAME_POOL / sizeof(uint64_t)) {
        rt_degrade("stack table full: later stacks are not recorded");
        return 0;
    }
    memcpy(pool + at, frames, n * sizeof *frames);
    e->frames = pool + at;
    e->n = n;
    uint32_t id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed);
    emit(how, id, frames, n, time);
    atomic_store_explicit(&e->id, id, memory_order_release);
    return id;
}

uint32_t rt_stack_intern(int how, uint64_t hash, const uint64_t *frames, unsigned n, uint64_t time)
{
    if (n == 0 || !table)
        return 0;
    for (uint32_t i = 0; i < MAX_PROBES; i++) {
        struct entry *e = &table[(hash + i) & (TABLE_SIZE - 1)];
        uint64_t h = atomic_load_explicit(&e->hash, memory_order_acquire);
        if (h == 0) {
            if (atomic_compare_exchange_strong(&e->hash, &h, hash))
                return fill(e, how, frames, n, time);
        }
        if (h != hash)
            continue;
        uint32_t id = settled_id(e);
        if (id && same(e, frames, n))
            return id;
    }
    return 0;
}
