/* SPDX-License-Identifier: MIT
 *
 * arena.h - the per-capture arena of the reporter: strings, stacks, frames and
 * the final arrays of the model live here and are freed together by
 * rep_arena_free(), so the model needs no per-object frees.
 *
 * Also a growable array helper for the replay's working arrays (malloc'd,
 * owned by whoever holds the array, freed with free()).
 */
#ifndef HG_REP_ARENA_H
#define HG_REP_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct rep_arena;

/* NULL when out of memory. */
struct rep_arena *rep_arena_new(void);

/* Frees every allocation of the arena and the arena itself. NULL is fine. */
void rep_arena_free(struct rep_arena *a);

/* n bytes aligned to 16, zeroed; NULL when out of memory (or n overflows).
 * Valid until rep_arena_free(). */
void *rep_arena_alloc(struct rep_arena *a, size_t n);

/* Copies n bytes (NULL when n is 0 and src NULL); NULL when out of memory. */
void *rep_arena_dup(struct rep_arena *a, const void *src, size_t n);

/* Copies len bytes of s and adds a NUL; NULL when out of memory. */
char *rep_arena_strndup(struct rep_arena *a, const char *s, size_t len);

/* Makes room for at least `need` elements of `size` bytes in *buf (capacity
 * *cap, grown by doubling). Returns 0, or -1 when out of memory or on
 * overflow; *buf is untouched on failure. */
int rep_grow(void **buf, size_t *cap, size_t need, size_t size);

#endif
