/* SPDX-License-Identifier: MIT
 *
 * live.h - private to report/model: the replay's table of live blocks, keyed
 * by allocation number. Numbers are handed out in order and most blocks die
 * young, so most of the live blocks at any time are a few recent numbers.
 * A block's home keeps runs of 16 consecutive numbers side by side (recent
 * blocks share cache lines, where a fully scrambling hash would miss the
 * cache on every event) and scatters the runs with a multiplicative hash.
 * Runs of 16 replayed a capture with a million live blocks fastest (0.94 s
 * of CPU; runs of 1: 2.1 s, of 4: 1.24 s, of 32: 0.97 s).
 *
 * Homes that were plain numbers modulo the table size made every window of
 * consecutive live numbers one probe run: freeing 400,000 blocks in the
 * order they were made (a FIFO queue) walked the rest of the run on every
 * free, 8e10 steps in all. Robin Hood hashing keeps the probe runs short:
 * entries of a run are ordered by distance from home, a lookup stops at
 * the first entry nearer its home than the one sought, and the backward
 * shift of a deletion stops at the first entry already at home.
 */
#ifndef HG_REP_LIVE_H
#define HG_REP_LIVE_H

#include <stddef.h>
#include <stdint.h>

#define REP_LIVE_EMPTY UINT64_MAX

/* A live block during replay (REP_LIVE_EMPTY as number marks an empty slot). */
struct rep_live {
    uint64_t number, addr, size;
    uint32_t site;
};

struct rep_live_table {   /* zeroed = empty */
    struct rep_live *slots;
    size_t mask, count;
    uint64_t steps;       /* slots visited by put and take: what the tests bound */
};

#define REP_LIVE_RUN_BITS 4

/* The run's slot is the top bits of a Fibonacci hash, which spreads
 * consecutive runs evenly over the table. mask is at least 1023. */
static inline size_t rep_live_home(uint64_t number, size_t mask)
{
    int shift = __builtin_clzll(mask) + REP_LIVE_RUN_BITS;
    uint64_t run = ((number >> REP_LIVE_RUN_BITS) * 0x9E3779B97F4A7C15ull) >> shift;
    return (size_t)((run << REP_LIVE_RUN_BITS) | (number & ((1u << REP_LIVE_RUN_BITS) - 1)));
}

/* How far slot i is from the home of the entry it holds. */
static inline size_t rep_live_dist(const struct rep_live_table *t, size_t i)
{
    return (i - rep_live_home(t->slots[i].number, t->mask)) & t->mask;
}

/* Doubles the table (or makes the first one); -1 when out of memory. */
int rep_live_grow(struct rep_live_table *t);

/* Places b in t, whose slots have room, moving richer entries on. */
void rep_live_place(struct rep_live_table *t, struct rep_live b);

/* Inserts a block whose number is not in the table; -1 when out of memory. */
static inline int rep_live_put(struct rep_live_table *t, const struct rep_live *b)
{
    if (!t->slots || (t->count + 1) * 3 > (t->mask + 1) * 2) {
        if (rep_live_grow(t) < 0)
            return -1;
    }
    rep_live_place(t, *b);
    t->count++;
    return 0;
}

/* Removes the block with `number` into *out; -1 if it is not live. */
static inline int rep_live_take(struct rep_live_table *t, uint64_t number, struct rep_live *out)
{
    if (!t->slots)
        return -1;
    size_t i = rep_live_home(number, t->mask);
    for (size_t d = 0;; d++, i = (i + 1) & t->mask) {
        t->steps++;
        if (t->slots[i].number == number)
            break;
        if (t->slots[i].number == REP_LIVE_EMPTY || rep_live_dist(t, i) < d)
            return -1;
    }
    *out = t->slots[i];
    t->count--;
    for (size_t j = (i + 1) & t->mask;; i = j, j = (j + 1) & t->mask) {
        if (t->slots[j].number == REP_LIVE_EMPTY || rep_live_dist(t, j) == 0)
            break;
        t->steps++;
        t->slots[i] = t->slots[j];
    }
    t->slots[i].number = REP_LIVE_EMPTY;
    return 0;
}

void rep_live_release(struct rep_live_table *t);

#endif
