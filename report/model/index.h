/* SPDX-License-Identifier: MIT
 *
 * index.h - an open-addressing hash map from a 64-bit key to a 32-bit value,
 * for the reporter's lookups that happen once per event or per frame (stack
 * id -> site, Python frame id -> frame, address -> symbol). Linear probing,
 * no per-entry allocation. A zeroed struct is a valid empty map.
 */
#ifndef HG_REP_INDEX_H
#define HG_REP_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct rep_index_slot {
    uint64_t key;
    uint32_t value;     /* REP_INDEX_NONE marks an empty slot */
};

struct rep_index {
    struct rep_index_slot *slots;
    size_t mask, count;
};

#define REP_INDEX_NONE UINT32_MAX

static inline size_t rep_index_hash(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key;
}

/* The value stored under key, or REP_INDEX_NONE. */
static inline uint32_t rep_index_get(const struct rep_index *m, uint64_t key)
{
    if (!m->slots)
        return REP_INDEX_NONE;
    for (size_t i = rep_index_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        const struct rep_index_slot *s = &m->slots[i];
        if (s->value == REP_INDEX_NONE || s->key == key)
            return s->value;
    }
}

/* Stores value (not REP_INDEX_NONE) under key, replacing any. 0, or -1 when
 * out of memory. */
int rep_index_put(struct rep_index *m, uint64_t key, uint32_t value);

/* Removes key if present (later entries of its probe run move back, so no
 * tombstones pile up). */
void rep_index_del(struct rep_index *m, uint64_t key);

/* Frees the slots; the map is empty and reusable afterwards. */
void rep_index_release(struct rep_index *m);

#endif
