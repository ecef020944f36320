/* SPDX-License-Identifier: MIT
 *
 * index.c - growth and insertion of the u64 -> u32 hash map; lookups are
 * inline in index.h because they sit on the reporter's per-event path.
 */
#include "report/model/index.h"

#include <stdlib.h>

static void insert_slot(struct rep_index_slot *slots, size_t mask, uint64_t key, uint32_t value)
{
    size_t i = rep_index_hash(key) & mask;
    while (slots[i].value != REP_INDEX_NONE && slots[i].key != key)
        i = (i + 1) & mask;
    slots[i].key = key;
    slots[i].value = value;
}

static int resize(struct rep_index *m, size_t nslots)
{
    struct rep_index_slot *slots = malloc(nslots * sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < nslots; i++)
        slots[i].value = REP_INDEX_NONE;
    if (m->slots)
        for (size_t i = 0; i <= m->mask; i++)
            if (m->slots[i].value != REP_INDEX_NONE)
                insert_slot(slots, nslots - 1, m->slots[i].key, m->slots[i].value);
    free(m->slots);
    m->slots = slots;
    m->mask = nslots - 1;
    return 0;
}

int rep_index_put(struct rep_index *m, uint64_t key, uint32_t value)
{
    /* Keep the load under 1/2 so that probes stay short. */
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
        if (resize(m, m->slots ? (m->mask + 1) * 2 : 64) < 0)
            return -1;
    }
    size_t i = rep_index_hash(key) & m->mask;
    while (m->slots[i].value != REP_INDEX_NONE && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    if (m->slots[i].value == REP_INDEX_NONE)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    return 0;
}

void rep_index_del(struct rep_index *m, uint64_t key)
{
    if (!m->slots)
        return;
    size_t i = rep_index_hash(key) & m->mask;
    while (m->slots[i].key != key || m->slots[i].value == REP_INDEX_NONE) {
        if (m->slots[i].value == REP_INDEX_NONE)
            return;
        i = (i + 1) & m->mask;
    }
    m->count--;
    for (size_t j = (i + 1) & m->mask; m->slots[j].value != REP_INDEX_NONE; j = (j + 1) & m->mask) {
        size_t home = rep_index_hash(m->slots[j].key) & m->mask;
        /* Move j into the hole at i unless its home lies in (i, j]. */
        if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].value = REP_INDEX_NONE;
}

void rep_index_release(struct rep_index *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = m->count = 0;
}
