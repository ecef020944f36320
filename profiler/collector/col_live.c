/* SPDX-License-Identifier: MIT
 *
 * col_live.c - a hash map of live blocks keyed by address. Open addressing
 * with linear probing and backward-shift deletion keeps it one flat array
 * (no allocation per block: churn-like programs do millions of updates a
 * second), at most half full. Adding and removing are inline in
 * col_live.h; this file has the slow paths.
 *
 * The slots are mapped, not malloc'd, so that a table of a few hundred MiB
 * (a Python program holds millions of live objects) can ask for huge pages:
 * every event touches a random slot, and with 4 KiB pages nearly every one
 * also missed the TLB and, while the table grew, faulted a page in.
 */
#include "profiler/collector/col_live.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)

static size_t map_bytes(size_t cap)
{
    size_t b = cap * sizeof(struct col_block);
    return b >= HUGE_PAGE ? (b + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1) : b;
}

/* Zeroed slots for cap entries, or NULL. A table of at least a huge page
 * is aligned to one, so that all of it can be huge pages. */
static struct col_block *slots_new(size_t cap)
{
    size_t b = map_bytes(cap);
    if (b < HUGE_PAGE)
        return calloc(cap, sizeof(struct col_block));
    uint8_t *p = mmap(NULL, b + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    size_t lead = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (lead)
        munmap(p, lead);
    munmap(p + lead + b, HUGE_PAGE - lead);
    madvise(p + lead, b, MADV_HUGEPAGE);
    return (struct col_block *)(void *)(p + lead);
}

static void slots_free(struct col_block *s, size_t cap)
{
    if (map_bytes(cap) < HUGE_PAGE)
        free(s);
    else if (s)
        munmap(s, map_bytes(cap));
}

int col_live_grow(struct col_live *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct col_block *s = slots_new(cap);
    if (!s)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].addr)
            continue;
        size_t j = col_live_slot(m->slots[i].addr, cap);
        while (s[j].addr)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    slots_free(m->slots, m->cap);
    m->slots = s;
    m->cap = cap;
    return 0;
}

void col_live_unlink(struct col_live *m, size_t j)
{
    /* Backward shift: pull later members of the probe run into the hole
     * unless their home slot lies cyclically after the hole. */
    size_t mask = m->cap - 1, hole = j;
    for (size_t k = (j + 1) & mask; m->slots[k].addr; k = (k + 1) & mask) {
        size_t home = col_live_slot(m->slots[k].addr, m->cap);
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            m->slots[hole] = m->slots[k];
            hole = k;
        }
    }
    m->slots[hole].addr = 0;
}

int col_live_clone(struct col_live *dst, const struct col_live *src)
{
    *dst = *src;
    if (!src->cap)
        return 0;
    dst->slots = slots_new(src->cap);
    if (!dst->slots) {
        memset(dst, 0, sizeof *dst);
        return -1;
    }
    memcpy(dst->slots, src->slots, src->cap * sizeof *src->slots);
    return 0;
}

static int by_addr(const void *a, const void *b)
{
    uint64_t x = ((const struct col_block *)a)->addr, y = ((const struct col_block *)b)->addr;
    return (x > y) - (x < y);
}

#define DIGIT_BITS 16
#define DIGITS (1u << DIGIT_BITS)
#define RADIX_MIN 4096          /* fewer blocks: qsort is as fast */

/* One pass of the radix sort: src into dst by the digit at `shift`.
 * Returns 0 when every address has the same digit there (nothing moved). */
static int radix_pass(const struct col_block *src, struct col_block *dst, size_t n,
                      unsigned shift, size_t *count)
{
    memset(count, 0, DIGITS * sizeof *count);
    for (size_t i = 0; i < n; i++)
        count[(src[i].addr >> shift) & (DIGITS - 1)]++;
    if (count[(src[0].addr >> shift) & (DIGITS - 1)] == n)
        return 0;
    for (size_t d = 0, sum = 0; d < DIGITS; d++) {
        size_t c = count[d];
        count[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++)
        dst[count[(src[i].addr >> shift) & (DIGITS - 1)]++] = src[i];
    return 1;
}

/* Sorts v by address, least significant digit first, as many digits as
 * the highest address has: a snapshot of 1.6 million blocks took 0.7 s
 * with qsort. -1 without memory (v unchanged). */
static int radix_by_addr(struct col_block *v, size_t n)
{
    struct col_block *tmp = malloc(n * sizeof *tmp);
    size_t *count = malloc(DIGITS * sizeof *count);
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return -1;
    }
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++)
        bits |= v[i].addr;
    struct col_block *src = v, *dst = tmp;
    for (unsigned shift = 0; shift < 64 && bits >> shift; shift += DIGIT_BITS)
        if (radix_pass(src, dst, n, shift, count)) {
            struct col_block *t = src;
            src = dst;
            dst = t;
        }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
    free(tmp);
    free(count);
    return 0;
}

struct col_block *col_live_sorted(const struct col_live *m)
{
    if (!m->count)
        return NULL;
    struct col_block *v = malloc(m->count * sizeof *v);
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].addr)
            v[n++] = m->slots[i];
    if (n < RADIX_MIN || radix_by_addr(v, n) < 0)
        qsort(v, n, sizeof *v, by_addr);
    return v;
}

void col_live_release(struct col_live *m)
{
    slots_free(m->slots, m->cap);
    memset(m, 0, sizeof *m);
}
