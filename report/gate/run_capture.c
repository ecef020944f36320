/* SPDX-License-Identifier: MIT
 *
 * run_capture.c - fills a `struct rep_run` (gates.h) from the model of a
 * capture (model.h): per process its totals, its leak entries with their
 * allocation stacks and its allocation sites. Kept apart from gates.c so
 * that gates, baselines and CI writers stay testable without a capture.
 */
#include "report/gate/gates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model/model.h"

static int copy_stack(struct rep_run *r, const struct rep_stack *st, struct rep_ck_stack *out)
{
    uint32_t n = st ? st->nframes : 0;
    if (rep_run_alloc_frames(r, out, n) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const struct rep_frame *f = &st->frames[i];
        struct rep_frame *o = &out->frames[i];
        /* Symbol strings live as long as the capture; the run must outlive
         * it (check writes reports after closing), so they are copied. */
        *o = *f;
        o->function = rep_run_strdup(r, f->function);
        o->file = rep_run_strdup(r, f->file);
        o->module = rep_run_strdup(r, f->module ? f->module : "?");
        if (!o->module || (f->function && !o->function) || (f->file && !o->file))
            return -1;
    }
    return 0;
}

static const char *join_argv(struct rep_run *r, const struct rep_process *p)
{
    size_t len = 1;
    for (size_t i = 0; i < p->argc; i++)
        len += strlen(p->argv[i]) + 1;
    char *s = malloc(len), *o = s;
    if (!s)
        return NULL;
    *o = 0;
    for (size_t i = 0; i < p->argc; i++)
        o += sprintf(o, "%s%s", i ? " " : "", p->argv[i]);
    const char *copy = rep_run_strdup(r, p->argc ? s : (p->exe ? p->exe : "?"));
    free(s);
    return copy;
}

static int add_process(struct rep_run *r, const struct rep_process *p, uint32_t index)
{
    struct rep_ck_process *o = rep_run_add_process(r);
    int exec_ended = p->ended && p->end_how == REP_END_EXEC;
    if (!o)
        return -1;
    o->pid = p->pid;
    o->ppid = p->ppid;
    o->snapshot = p->exit_snapshot != NULL || exec_ended;
    o->partial = p->exit_snapshot && p->exit_snapshot->partial;
    o->exit_signal = p->ended && p->end_how == REP_END_SIGNAL ? p->end_code : 0;
    o->exit_status = p->ended && p->end_how == REP_END_EXIT ? p->end_code : 0;
    o->allocations = p->allocations;
    o->frees = p->frees;
    o->allocated_bytes = p->allocated_bytes;
    o->peak_bytes = p->peak_bytes;
    o->cycles = p->exit_snapshot ? p->exit_snapshot->ncycles : 0;
    if (!(o->command = join_argv(r, p)))
        return -1;
    for (size_t i = 0; i < p->nleaks && !exec_ended; i++) {
        const struct rep_leak *lk = &p->leaks[i];
        struct rep_ck_leak *l = rep_run_add_leak(r, index, lk->kind);
        if (!l)
            return -1;
        l->blocks = lk->blocks;
        l->bytes = lk->bytes;
        l->indirect_blocks = lk->indirect_blocks;
        l->indirect_bytes = lk->indirect_bytes;
        l->groups = lk->ngroups;
        if (lk->site < p->nstacks && copy_stack(r, p->sites[lk->site].stack, &l->stack) < 0)
            return -1;
    }
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct rep_site *s = &p->sites[i];
        if (!s->allocations && !s->live_blocks)
            continue;
        struct rep_ck_site *o2 = rep_run_add_site(r, index);
        if (!o2)
            return -1;
        o2->allocations = s->allocations;
        o2->bytes = s->bytes;
        o2->live_blocks = s->live_blocks;
        o2->live_bytes = s->live_bytes;
        if (copy_stack(r, s->stack, &o2->stack) < 0)
            return -1;
    }
    return 0;
}

/* A capture whose recording lost something, or recorded no process, cannot
 * vouch for its figures any more than a damaged one. */
static void losses(const struct rep_capture *cap, struct rep_run *out)
{
    size_t n = cap->nlosses;
    for (size_t i = 0; i < cap->nprocesses; i++)
        n += cap->processes[i].nlosses;
    if (n) {
        out->incomplete = 1;
        snprintf(out->incomplete_why, sizeof out->incomplete_why, "%zu %s: not everything was "
                 "recorded", n, n == 1 ? "loss" : "losses");
    } else if (!cap->nprocesses) {
        out->incomplete = 1;
        snprintf(out->incomplete_why, sizeof out->incomplete_why, "no process was recorded");
    }
}

int rep_run_from_capture(const struct rep_capture *cap, struct rep_run *out,
                         char *err, size_t errlen)
{
    out->incomplete = cap->damaged || !cap->complete;
    if (cap->damaged)
        snprintf(out->incomplete_why, sizeof out->incomplete_why, "damaged at byte %llu",
                 (unsigned long long)cap->damage_offset);
    else if (!cap->complete)
        snprintf(out->incomplete_why, sizeof out->incomplete_why, "recording did not finish");
    else
        losses(cap, out);
    for (size_t i = 0; i < cap->nprocesses; i++) {
        if (add_process(out, &cap->processes[i], (uint32_t)i) < 0) {
            rep_run_release(out);
            snprintf(err, errlen, "out of memory reading the capture's figures");
            return -1;
        }
    }
    return 0;
}
