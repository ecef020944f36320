/* SPDX-License-Identifier: MIT
 *
 * col_live.h - the collector's map of one stream's live blocks: address ->
 * allocation number, size and stack id. It turns frees into back-references
 * (capture.h HG_EV_FREE), gives the heap size for samples, the inherited set
 * of a forked child and the sorted block list of a snapshot.
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

/* Adds a block (addr != 0). Returns 0; 1 when addr was already live: that
 * block is replaced and copied to *old (the collector missed its free); -1
 * when out of memory (the map is unchanged). */
int col_live_add(struct col_live *m, uint64_t addr, uint64_t size, uint64_t number, uint32_t stack,
                 struct col_block *old);

/* Removes the block at addr into *out. Returns 1, or 0 when addr is not live. */
int col_live_remove(struct col_live *m, uint64_t addr, struct col_block *out);

/* Makes dst (empty) a copy of src. Returns 0 or -1 (out of memory). */
int col_live_clone(struct col_live *dst, const struct col_live *src);

/* The live blocks sorted by address in a new array of m->count entries
 * (caller frees); NULL when out of memory or when the map is empty. */
struct col_block *col_live_sorted(const struct col_live *m);

void col_live_release(struct col_live *m);

#endif
