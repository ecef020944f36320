/* SPDX-License-Identifier: MIT
 *
 * tree.c - the process tree every report opens with. A capture has one
 * process per image: a wrapper that execs the real program (env, a pyenv
 * shim, a shell running a script) leaves a chain of images under one pid.
 * The tree has one line per chain, named by all its images
 * (`bash -> pyenv-exec -> python3 app.py`), hanging under the chain that
 * forked or spawned it. It also decides which chains matter enough for the
 * text report to detail: the launched program's, those with leaks, and
 * those with a real share of the run's allocations.
 */
#include "report/render/render.h"

#include <stdlib.h>
#include <string.h>

#include "report/analysis/leaked.h"

/* A chain's share of the run's allocations (count or bytes) that makes it
 * worth detailing: a tenth. A twentieth detailed every `$(dirname ...)` of
 * a pyenv shim. */
#define SHARE_DIVISOR 10

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* The image's program name: its argv[0] as run, else its executable. */
static const char *image_name(const struct rep_process *p)
{
    return base_name(p->argc && p->argv[0][0] ? p->argv[0] : p->exe);
}

/* The command with the middle images (all but the first and the last)
 * left out when `skip_middle`. */
static size_t command(const struct rep_tree_line *l, char *buf, size_t len, int skip_middle)
{
    size_t o = 0;
    buf[0] = 0;
    for (const struct rep_process *p = l->first;; p = p->exec_next) {
        int middle = p != l->first && p != l->last;
        if (!middle || !skip_middle)
            o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s",
                                  p == l->first ? "" : " -> ", image_name(p));
        else if (p->parent == l->first)
            o += (size_t)snprintf(buf + o, o < len ? len - o : 0, " -> ...");
        if (p == l->last)
            break;
    }
    for (size_t i = 1; i < l->last->argc; i++)
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, " %s", l->last->argv[i]);
    return o;
}

size_t rep_tree_command(const struct rep_tree_line *l, char *buf, size_t len, size_t fit)
{
    size_t n = command(l, buf, len, 0);
    return n > fit ? command(l, buf, len, 1) : n;
}

/* Per process, the index of the first image of its chain. */
static uint32_t *chain_heads(const struct rep_capture *cap)
{
    size_t n = cap->nprocesses;
    uint32_t *head = malloc((n + 1) * sizeof *head);
    for (size_t i = 0; head && i < n; i++) {
        const struct rep_process *p = &cap->processes[i];
        const struct rep_process *from = p->parent;
        int exec = from && from < p && from->exec_next == p;
        head[i] = exec ? head[from - cap->processes] : (uint32_t)i;
    }
    return head;
}

/* Orders the lines depth first: each line's children follow it, in the
 * order their processes appeared; parents are renumbered to match. */
static int order_lines(struct rep_tree *t, const struct rep_tree_line *lines, size_t n)
{
    uint32_t *child = malloc((n + 1) * sizeof *child), *sib = malloc((n + 1) * sizeof *sib);
    uint32_t *stack = malloc((n + 1) * sizeof *stack), *pos = malloc((n + 1) * sizeof *pos);
    t->lines = malloc((n + 1) * sizeof *t->lines);
    int rc = -1;
    if (!child || !sib || !stack || !pos || !t->lines)
        goto out;
    size_t sp = 0;
    for (size_t i = 0; i < n; i++)
        child[i] = UINT32_MAX;
    for (size_t i = n; i-- > 0;) {
        if (lines[i].parent == UINT32_MAX) {
            stack[sp++] = (uint32_t)i;
        } else {
            sib[i] = child[lines[i].parent];
            child[lines[i].parent] = (uint32_t)i;
        }
    }
    while (sp) {
        uint32_t i = stack[--sp];
        struct rep_tree_line *l = &t->lines[t->n];
        *l = lines[i];
        l->parent = lines[i].parent == UINT32_MAX ? UINT32_MAX : pos[lines[i].parent];
        l->depth = l->parent == UINT32_MAX ? 0 : t->lines[l->parent].depth + 1;
        pos[i] = (uint32_t)t->n++;
        /* The children go on the stack last first, so the first pops first. */
        size_t nk = 0, q = 0;
        for (uint32_t c = child[i]; c != UINT32_MAX; c = sib[c])
            nk++;
        for (uint32_t c = child[i]; c != UINT32_MAX; c = sib[c])
            stack[sp + nk - 1 - q++] = c;
        sp += nk;
    }
    rc = 0;
out:
    free(child);
    free(sib);
    free(stack);
    free(pos);
    return rc;
}

static void add_image(struct rep_tree_line *l, const struct rep_process *p)
{
    uint64_t bytes, blocks;
    rep_process_leaked(p, &bytes, &blocks);
    l->allocations += p->allocations;
    l->allocated_bytes += p->allocated_bytes;
    if (p->peak_bytes > l->peak_bytes)
        l->peak_bytes = p->peak_bytes;
    l->leaked_bytes += bytes;
    l->leaked_blocks += blocks;
}

/* Which lines the text report details, and the launched program's line. */
static void mark_matters(struct rep_tree *t)
{
    uint64_t allocs = 0, bytes = 0;
    for (size_t i = 0; i < t->n; i++) {
        allocs += t->lines[i].allocations;
        bytes += t->lines[i].allocated_bytes;
        if (t->lines[i].first->stream == 1)
            t->main = i;
    }
    for (size_t i = 0; i < t->n; i++) {
        struct rep_tree_line *l = &t->lines[i];
        l->matters = i == t->main || l->leaked_bytes ||
                     (l->allocations && l->allocations * SHARE_DIVISOR >= allocs) ||
                     (l->allocated_bytes && l->allocated_bytes * SHARE_DIVISOR >= bytes);
    }
}

int rep_tree_build(const struct rep_capture *cap, struct rep_tree *t)
{
    size_t n = cap->nprocesses;
    memset(t, 0, sizeof *t);
    uint32_t *head = chain_heads(cap);
    uint32_t *line_of = malloc((n + 1) * sizeof *line_of);
    struct rep_tree_line *lines = calloc(n + 1, sizeof *lines);
    int rc = -1;
    if (!head || !line_of || !lines)
        goto out;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct rep_process *p = &cap->processes[i];
        if (head[i] == i) {
            line_of[i] = (uint32_t)k;
            lines[k].first = p;
            lines[k].parent = p->parent && p->parent < p ? line_of[p->parent - cap->processes]
                                                         : UINT32_MAX;
            k++;
        } else {
            line_of[i] = line_of[head[i]];
        }
        lines[line_of[i]].last = p;
        add_image(&lines[line_of[i]], p);
    }
    rc = order_lines(t, lines, k);
    if (rc == 0)
        mark_matters(t);
out:
    free(head);
    free(line_of);
    free(lines);
    return rc;
}

void rep_tree_release(struct rep_tree *t)
{
    free(t->lines);
    memset(t, 0, sizeof *t);
}
