/* SPDX-License-Identifier: MIT
 *
 * col_live.h - the collector's map of one stream's live blocks: address ->
 * allocation number, size and stack id. It turns frees into back-references
 * (capture.h HG_EV_FREE), gives the heap size for samples, the inherited set
 * of a forked child and the sorted block list of a snapshot. A table of its
 * own rather than uthash: it is used on every event, and keeps 32-byte slots
 * in one array where uthash would add a 56-byte handle and an allocation to
 * every live block.
 */
#ifndef HG_COL_LIVE_H
#define HG_COL_LIVE_H

#include <stddef.h>
#include <stdint.h>

struct col_block {
    uint64_t addr;   /* 0 marks an empty slot: malloc never returns NULL as a block */
    uint64_t size;
    uint64_t number; /* allocation number in the stream */
    uint32_t stack;
    uint32_t pad;
};

struct col_live {     /* open addressing, linear probing; zeroed = empty */
    struct col_block *slots;
    size_t cap;       /* power of two, or 0 */
    size_t count;
    uint64_t bytes;   /* sum of the sizes */
};

/* Doubles the table (or makes the first one). Returns 0 or -1 (out of
 * memory; the map is unchanged). */
int col_live_grow(struct col_live *m);

/* A block's home slot: each 4 KiB page of addresses is a run of 256 slots
 * (one per 16 bytes, so a page of the smallest chunks fills half of them)
 * that starts at a hash of the page. Blocks made or freed close together in
 * time are usually close in address too (carved from the same free chunk,
 * freed by the cyclic GC in the order they were made), and so are their
 * slots: one line, or the next, instead of a cache miss each as with a
 * hash of the whole address. Pages holding one block each still land
 * everywhere, as the start is hashed and not only the page's group. */
static inline size_t col_live_slot(uint64_t addr, size_t cap)
{
    size_t page = (size_t)(((addr >> 12) * 0x9E3779B97F4A7C15ull) >> 20);
    return (page + (addr >> 4 & 255)) & (cap - 1);
}

/* Starts loading the slots where addr's probe begins (the next one may be
 * on the next line, and a removal reads it): the encoder calls it for
 * events ahead, as the program's own work between two drains has usually
 * evicted the table from the cache. Always inlined: gcc 12 takes an inline
 * function whose only effect is a prefetch for one without effects and
 * deletes its calls, so no prefetch was made at all. */
static inline __attribute__((always_inline)) void col_live_prefetch(const struct col_live *m,
                                                                    uint64_t addr)
{
    if (m->cap) {
        size_t j = col_live_slot(addr, m->cap);
        __builtin_prefetch(&m->slots[j], 1);
        __builtin_prefetch(&m->slots[(j + 1) & (m->cap - 1)], 1);
    }
}

/* Adds a block (addr != 0). Returns 0; 1 when addr was already live: that
 * block is replaced and copied to *old (the collector missed its free); -1
 * when out of memory (the map is unchanged). Inline, as are lookups: the
 * collector does one of the two for every event. */
static inline int col_live_add(struct col_live *m, uint64_t addr, uint64_t size, uint64_t number,
                               uint32_t stack, struct col_block *old)
{
    if ((m->count + 1) * 2 > m->cap && col_live_grow(m) < 0)
        return -1;
    size_t mask = m->cap - 1, j = col_live_slot(addr, m->cap);
    while (m->slots[j].addr && m->slots[j].addr != addr)
        j = (j + 1) & mask;
    int replaced = m->slots[j].addr == addr;
    if (replaced) {
        *old = m->slots[j];
        m->count--;
        m->bytes -= old->size;
    }
    m->slots[j] = (struct col_block){.addr = addr, .size = size, .number = number, .stack = stack};
    m->count++;
    m->bytes += size;
    return replaced;
}

/* Empties slot j of a probe run (col_live_remove). */
void col_live_unlink(struct col_live *m, size_t j);

/* Removes the block at addr into *out. Returns 1, or 0 when addr is not live. */
static inline int col_live_remove(struct col_live *m, uint64_t addr, struct col_block *out)
{
    if (!m->cap)
        return 0;
    size_t mask = m->cap - 1, j = col_live_slot(addr, m->cap);
    while (m->slots[j].addr != addr) {
        if (!m->slots[j].addr)
            return 0;
        j = (j + 1) & mask;
    }
    *out = m->slots[j];
    m->count--;
    m->bytes -= out->size;
    if (m->slots[(j + 1) & mask].addr)
        col_live_unlink(m, j);
    else
        m->slots[j].addr = 0;
    return 1;
}

/* Makes dst (empty) a copy of src. Returns 0 or -1 (out of memory). */
int col_live_clone(struct col_live *dst, const struct col_live *src);

/* The live blocks sorted by address in a new array of m->count entries
 * (caller frees); NULL when out of memory or when the map is empty. */
struct col_block *col_live_sorted(const struct col_live *m);

void col_live_release(struct col_live *m);

#endif
