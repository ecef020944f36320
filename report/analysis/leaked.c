/* SPDX-License-Identifier: MIT
 *
 * leaked.c - leaked figures of a classified process (leaked.h): per site
 * from the exit snapshot's block classes, per process from its leak list.
 */
#include "report/analysis/leaked.h"

#include <stddef.h>

int rep_kind_is_lost(uint8_t kind)
{
    return kind == REP_KIND_DEFINITE || kind == REP_KIND_CYCLE || kind == REP_KIND_INDIRECT;
}

void rep_leaked_by_site(const struct rep_process *p, uint64_t *bytes, uint64_t *blocks)
{
    const struct rep_snapshot *s = p->exit_snapshot;
    if (!s || !s->classified || !s->kind) {
        /* the not-freed entries hold only the blocks the process answers for */
        for (size_t i = 0; i < p->nleaks; i++) {
            const struct rep_leak *l = &p->leaks[i];
            if (l->kind != REP_LEAK_NOT_FREED || l->site >= p->nstacks)
                continue;
            bytes[l->site] += l->bytes;
            blocks[l->site] += l->blocks;
        }
        return;
    }
    for (size_t b = 0; b < s->nblocks; b++) {
        uint32_t site = s->blocks[b].site;
        if (!rep_kind_is_lost(s->kind[b]) || site >= p->nstacks || (s->judged && !s->judged[b]))
            continue;
        bytes[site] += s->blocks[b].size;
        blocks[site]++;
    }
}

void rep_process_leaked(const struct rep_process *p, uint64_t *bytes, uint64_t *blocks)
{
    *bytes = *blocks = 0;
    for (size_t i = 0; i < p->nleaks; i++) {
        const struct rep_leak *l = &p->leaks[i];
        if (l->kind == REP_LEAK_POSSIBLE || l->kind == REP_LEAK_REACHABLE)
            continue;
        *bytes += l->bytes + l->indirect_bytes;
        *blocks += l->blocks + l->indirect_blocks;
    }
}
