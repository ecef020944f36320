/* SPDX-License-Identifier: MIT
 *
 * live.c - the slow paths of the replay's live-block table (live.h): growing
 * it and the Robin Hood insertion.
 */
#include "report/model/live.h"

#include <stdlib.h>

void rep_live_place(struct rep_live_table *t, struct rep_live b)
{
    size_t i = rep_live_home(b.number, t->mask);
    for (size_t d = 0;; d++, i = (i + 1) & t->mask) {
        t->steps++;
        if (t->slots[i].number == REP_LIVE_EMPTY) {
            t->slots[i] = b;
            return;
        }
        size_t di = rep_live_dist(t, i);
        if (di < d) {
            /* The resident is nearer its home than b: b takes the slot and
             * the resident goes on looking, from its own distance. */
            struct rep_live resident = t->slots[i];
            t->slots[i] = b;
            b = resident;
            d = di;
        }
    }
}

int rep_live_grow(struct rep_live_table *t)
{
    size_t n = t->slots ? (t->mask + 1) * 2 : 1024;
    struct rep_live *old = t->slots;
    size_t old_n = old ? t->mask + 1 : 0;
    struct rep_live *slots = malloc(n * sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < n; i++)
        slots[i].number = REP_LIVE_EMPTY;
    t->slots = slots;
    t->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].number != REP_LIVE_EMPTY)
            rep_live_place(t, old[i]);
    free(old);
    return 0;
}

void rep_live_release(struct rep_live_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->mask = t->count = 0;
}
