/* SPDX-License-Identifier: MIT
 *
 * text.c - the report people read first, in a terminal: per process who it
 * was and how it ended, allocation totals, the peak and what made it up, the
 * top sites, then the leaks (definite and cycle groups, possible, reachable
 * with --show-reachable), every unreachable cycle with the pointers that
 * close it, and a LEAK SUMMARY in valgrind's spirit with the cycle class
 * added. It opens with the process tree and details the processes that
 * matter (tree.c). Lines fit the width (100 columns unless the terminal's
 * is given); sizes use binary units; colour is optional.
 */
#include "report/render/render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WIDTH 100
#define MIN_WIDTH 60
#define MAX_WIDTH 1000   /* line buffers are this long */

struct tx {
    FILE *f;
    const struct rep_render_opts *o;
    const struct rep_process *p;
    unsigned depth, top;
    size_t width;
};

enum { C_BOLD, C_RED, C_YELLOW, C_GREEN, C_DIM };

static const char *on(const struct tx *t, int c)
{
    static const char *const codes[] = {"\033[1m", "\033[31m", "\033[33m", "\033[32m", "\033[2m"};
    return t->o->color ? codes[c] : "";
}

static const char *off(const struct tx *t)
{
    return t->o->color ? "\033[0m" : "";
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Escapes, in place, what in buf came from the program (rep_fmt_safe). */
static void make_safe(char *buf, size_t len)
{
    char tmp[MAX_WIDTH * 4];
    rep_fmt_safe(tmp, sizeof tmp < len ? sizeof tmp : len, buf);
    memcpy(buf, tmp, strlen(tmp) + 1);
}

/* Cuts buf to at most max characters, marking the cut with "...". */
static void clip(char *buf, size_t max)
{
    if (max > 3 && strlen(buf) > max)
        memcpy(buf + max - 3, "...", 4);
}

/* "function (file:line)", or "module+0xoffset" when the function is unknown. */
static void frame_label(char *buf, size_t len, const struct rep_frame *fr, int with_file)
{
    if (!fr->function)
        snprintf(buf, len, "%s+0x%" PRIx64, base_name(fr->module), fr->offset);
    else if (with_file && fr->file)
        snprintf(buf, len, "%s (%s:%u)", fr->function, base_name(fr->file), fr->line);
    else
        snprintf(buf, len, "%s", fr->function);
    make_safe(buf, len);
}

/* The function that made a block: the first outside the allocation wrappers
 * (rep_stack_site) and the C++ standard library (make_shared's frames say
 * little), "block" when the stack names none. */
static const char *user_function(const struct rep_stack *st)
{
    for (uint32_t i = rep_stack_site(st); i < st->nframes; i++) {
        const char *fn = st->frames[i].function;
        if (fn && strncmp(fn, "std::", 5) && strncmp(fn, "__gnu_cxx::", 11))
            return fn;
    }
    const struct rep_frame *top = rep_stack_top(st);
    return top && top->function ? top->function : "block";
}

/* The frame after frame i of s in a site line: the innermost Python frame
 * py when i is native above it (what lies between is the glue that called a
 * C extension: libffi, ctypes), else i + 1. */
static uint32_t next_shown(const struct rep_stack *s, uint32_t i, uint32_t py)
{
    return i < py && py < s->nframes ? py : i + 1;
}

/* One line for a site, shorter than width: the first frame outside the
 * allocation wrappers and the C library (rep_stack_site) with file:line, then
 * its callers (with theirs up to frame `files`) while whole ones fit, up to
 * main; the full stack is where the entry prints it (print_stack). */
static void site_line_as(const struct tx *t, char *buf, size_t width, uint32_t site, uint32_t files)
{
    const struct rep_stack *s = t->p->sites[site].stack;
    buf[0] = 0;
    if (!s->nframes) {
        snprintf(buf, width, "stack %" PRIu32 " (%s)", s->id, s->defined ? "empty" : "not recorded");
        return;
    }
    uint32_t first = rep_stack_site(s), py = first;
    while (py < s->nframes && !s->frames[py].python)
        py++;
    size_t o = 0;
    for (uint32_t i = first; i < s->nframes; i = next_shown(s, i, py)) {
        char one[512];
        frame_label(one, sizeof one, &s->frames[i], i == first || i <= files);
        /* what runs main says nothing about the site */
        int last = next_shown(s, i, py) == s->nframes ||
                   (s->frames[i].function && !strcmp(s->frames[i].function, "main"));
        if (i > first && o + 3 + strlen(one) + (last ? 0 : 6) >= width) {
            if (o + 6 < width)
                memcpy(buf + o, " < ...", 7);
            break;
        }
        o += (size_t)snprintf(buf + o, width - o, "%s%s", i > first ? " < " : "", one);
        if (last)
            break;
    }
    if (o >= width - 1 && width > 4)
        memcpy(buf + width - 4, "...", 4);
}

static void site_line(const struct tx *t, char *buf, size_t width, uint32_t site)
{
    site_line_as(t, buf, width, site, 0);
}

static int same_text(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static int same_frame(const struct rep_frame *a, const struct rep_frame *b)
{
    return a->line == b->line && same_text(a->function, b->function) && same_text(a->file, b->file) &&
           (a->function || (a->offset == b->offset && !strcmp(a->module, b->module)));
}

/* The first frame of a, from its site frame outward, that is not b's at
 * the same depth below theirs; a->nframes when none is. */
static uint32_t first_difference(const struct rep_stack *a, const struct rep_stack *b)
{
    uint32_t i = rep_stack_site(a), j = rep_stack_site(b);
    for (; i < a->nframes; i++, j++)
        if (j >= b->nframes || !same_frame(&a->frames[i], &b->frames[j]))
            return i;
    return a->nframes;
}

/* Makes line k of a list end with `tail`, its callers with file:line up to
 * frame `files`, as many as fit before it. */
static void end_with(const struct tx *t, char (*lines)[MAX_WIDTH], const uint32_t *sites,
                     size_t k, uint32_t files, const char *tail, size_t width)
{
    size_t room = strlen(tail) + 20 < width ? width - strlen(tail) : 20;
    site_line_as(t, lines[k], room, sites[k], files);
    strncat(lines[k], tail, MAX_WIDTH - strlen(lines[k]) - 1);
    clip(lines[k], width - 1);
}

/* Makes line k of a list end with " (via caller (file:line))", frame d of
 * its stack, where it parts from a stack whose line reads the same. */
static void tell_apart(const struct tx *t, char (*lines)[MAX_WIDTH], const uint32_t *sites,
                       size_t k, uint32_t d, size_t width)
{
    char one[512], tail[600];
    frame_label(one, sizeof one, &t->p->sites[sites[k]].stack->frames[d], 1);
    snprintf(tail, sizeof tail, " (via %s)", one);
    end_with(t, lines, sites, k, d, tail, width);
}

/* Makes line k of a list end with " [list_resize]", the frame its stack
 * hides in front of those shown (rep_stack.made_by), when a stack that
 * shows the same frames has another there: the interpreter's function that
 * made the block is then what tells the two apart. */
static void tell_made_by(const struct tx *t, char (*lines)[MAX_WIDTH], const uint32_t *sites,
                         size_t k, size_t width)
{
    char one[512], tail[600];
    frame_label(one, sizeof one, t->p->sites[sites[k]].stack->made_by, 0);
    snprintf(tail, sizeof tail, " [%s]", one);
    end_with(t, lines, sites, k, 0, tail, width);
}

/* 1 when sites a and b show the same frames and another function made a's
 * blocks (rep_stack.made_by). */
static int other_made_by(const struct tx *t, uint32_t a, uint32_t b)
{
    const struct rep_stack *s = t->p->sites[a].stack, *u = t->p->sites[b].stack;
    if (!s->made_by || (u->made_by && same_frame(s->made_by, u->made_by)) ||
        s->nframes != u->nframes)
        return 0;
    for (uint32_t i = 0; i < s->nframes; i++)
        if (!same_frame(&s->frames[i], &u->frames[i]))
            return 0;
    return 1;
}

/* Where site a's stack parts from site b's (first_difference), or
 * UINT32_MAX when every frame of a is b's. */
static uint32_t part(const struct tx *t, uint32_t a, uint32_t b)
{
    const struct rep_stack *s = t->p->sites[a].stack;
    uint32_t d = first_difference(s, t->p->sites[b].stack);
    return d < s->nframes ? d : UINT32_MAX;
}

static int by_line(const void *x, const void *y, void *lines)
{
    const char(*l)[MAX_WIDTH] = lines;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    int c = strcmp(l[i], l[j]);
    return c ? c : (i > j) - (i < j);
}

/* For each line, another line of the list it reads the same as, or itself:
 * found by sorting, since --top may list thousands. 1 when there is any. */
static int find_twins(char (*lines)[MAX_WIDTH], size_t n, size_t *twin, size_t *order)
{
    int any = 0;
    for (size_t i = 0; i < n; i++)
        order[i] = twin[i] = i;
    qsort_r(order, n, sizeof *order, by_line, lines);
    for (size_t k = 1; k < n; k++)
        if (!strcmp(lines[order[k - 1]], lines[order[k]])) {
            twin[order[k]] = order[k - 1];
            if (twin[order[k - 1]] == order[k - 1])
                twin[order[k - 1]] = order[k];
            any = 1;
        }
    return any;
}

/* The site lines of a list of n sites, no two alike where their frames
 * differ: sites that read the same get file:line up to the frame where
 * their stacks part, and those whose lines cannot show it say it at the
 * end. Python stacks that show the same frames differ in the hidden
 * function that made the block (sites that read alike in full are one site,
 * alike.c), which ends the line. */
static int site_lines(const struct tx *t, char (*lines)[MAX_WIDTH], const uint32_t *sites,
                      size_t n, size_t width)
{
    for (size_t i = 0; i < n; i++)
        site_line(t, lines[i], width, sites[i]);
    size_t *twin = malloc(2 * (n ? n : 1) * sizeof *twin);
    if (!twin)
        return -1;
    size_t *order = twin + n;
    for (int pass = 0; pass < 2 && find_twins(lines, n, twin, order); pass++)
        for (size_t i = 0; i < n; i++) {
            if (twin[i] == i)
                continue;
            uint32_t d = part(t, sites[i], sites[twin[i]]);
            if (d == UINT32_MAX) {
                if (pass == 0 && other_made_by(t, sites[i], sites[twin[i]]))
                    tell_made_by(t, lines, sites, i, width);
                continue;
            }
            if (pass == 0)
                site_line_as(t, lines[i], width, sites[i], d);
            else
                tell_apart(t, lines, sites, i, d, width);
        }
    free(twin);
    return 0;
}

static void print_stack(const struct tx *t, uint32_t site, const char *indent)
{
    const struct rep_stack *s = t->p->sites[site].stack;
    if (!s->nframes)
        fprintf(t->f, "%s(stack %" PRIu32 " %s)\n", indent, s->id,
                s->defined ? "is empty" : "was not recorded");
    for (uint32_t i = 0; i < s->nframes && i < t->depth; i++) {
        char one[600];
        frame_label(one, sizeof one, &s->frames[i], 1);
        clip(one, t->width - strlen(indent) - 5 - (s->frames[i].inlined ? 10 : 0));
        fprintf(t->f, "%s#%-2u %s%s\n", indent, i, one, s->frames[i].inlined ? " [inlined]" : "");
    }
    if (s->nframes > t->depth)
        fprintf(t->f, "%s... %u more frames (--stack-depth)\n", indent, s->nframes - t->depth);
}

/* Prints prefix + text, wrapped at spaces to fit the width; continuation lines
 * are indented by the prefix's width. A word longer than a line is cut. */
static void wrapped(const struct tx *t, const char *prefix, const char *text)
{
    size_t indent = strlen(prefix), room = t->width - indent;
    char safe[1024];
    const char *p = rep_fmt_safe(safe, sizeof safe, text);
    fputs(prefix, t->f);
    for (int first = 1; first || *p; first = 0) {
        size_t n = strlen(p);
        if (n > room) {
            n = room;
            while (n > room / 2 && p[n] != ' ')
                n--;
            if (p[n] != ' ')
                n = room;
        }
        if (!first)
            fprintf(t->f, "%*s", (int)indent, "");
        fprintf(t->f, "%.*s\n", (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

static void header(const struct tx *t, const struct rep_capture *cap)
{
    fprintf(t->f, "%sheapgraph report%s: %s\n", on(t, C_BOLD), off(t), cap->path);
    if (cap->damaged) {
        fprintf(t->f, "%sdamaged capture%s: reading stopped at byte %" PRIu64 ":\n", on(t, C_RED),
                off(t), cap->damage_offset);
        wrapped(t, "  ", cap->damage_message);
        fputs("  the report covers what was recorded before it\n", t->f);
    }
    else if (!cap->complete)
        fprintf(t->f, "%sincomplete capture%s: it ends without an end record (the recording "
                "was cut short)\n", on(t, C_YELLOW), off(t));
    for (size_t i = 0; i < cap->nlosses; i++)
        wrapped(t, "LOSS: ", cap->losses[i]);
    for (size_t i = 0; i < cap->nnotes; i++)
        wrapped(t, "note: ", cap->notes[i]);
    for (size_t i = 0; i < cap->nwarnings; i++)
        wrapped(t, "warning: ", cap->warnings[i]);
}

/* "env -> bash -> [python3]": the images of this pid, this one bracketed. */
static void exec_chain(const struct tx *t)
{
    const struct rep_process *first = t->p;
    while (first->origin == REP_ORIGIN_EXEC && first->parent && first->parent->exec_next == first)
        first = first->parent;
    char line[MAX_WIDTH];
    size_t o = 0;
    for (const struct rep_process *q = first; q && o < sizeof line; q = q->exec_next) {
        const char *name = q->argc ? base_name(q->argv[0]) : base_name(q->exe);
        o += (size_t)snprintf(line + o, sizeof line - o, q == t->p ? "%s[%s]" : "%s%s",
                              q == first ? "" : " -> ", name);
    }
    make_safe(line, sizeof line);
    clip(line, t->width - 13);
    fprintf(t->f, "  exec chain %s\n", line);
}

/* The CPython the process runs and how its objects were allocated. */
static void python_line(const struct tx *t)
{
    static const char *const how[] = {
        [REP_PYALLOC_MALLOC] = "allocator malloc: every object is its own block",
        [REP_PYALLOC_PYMALLOC] = "allocator pymalloc: every object recorded as a block",
        [REP_PYALLOC_PYMALLOC_UNSEEN] = "allocator pymalloc: objects inside its arenas not recorded",
    };
    const struct rep_process *p = t->p;
    uint32_t v = p->python_version;
    if (!v)
        return;
    const char *a = p->python_allocator < sizeof how / sizeof how[0] ? how[p->python_allocator] : NULL;
    fprintf(t->f, "  python     %u.%u.%u%s%s%s\n", v >> 24, v >> 16 & 0xff, v >> 8 & 0xff,
            a ? "; " : "", a ? a : "", p->python_frames ? "" : "; stacks without Python frames");
}

static void identity(const struct tx *t)
{
    const struct rep_process *p = t->p;
    char cmd[MAX_WIDTH * 4], end[128];
    size_t o = 0;
    cmd[0] = 0;
    for (size_t i = 0; i < p->argc && o + 1 < sizeof cmd; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%s", i ? " " : "", p->argv[i]);
    if (!p->argc)
        snprintf(cmd, sizeof cmd, "%s", p->exe);
    make_safe(cmd, sizeof cmd);
    if (strlen(cmd) > t->width - 14)
        memcpy(cmd + t->width - 17, "...", 4);
    fprintf(t->f, "\n%s== process %" PRId32 " ==%s\n", on(t, C_BOLD), p->pid, off(t));
    fprintf(t->f, "  command    %s\n", cmd);
    fprintf(t->f, "  pid        %" PRId32 ", parent %" PRId32 "%s%s\n", p->pid, p->ppid,
            p->origin == REP_ORIGIN_FORK ? " (forked)" : "",
            p->origin == REP_ORIGIN_EXEC ? " (exec'd)" : "");
    if (p->origin == REP_ORIGIN_EXEC || p->exec_next)
        exec_chain(t);
    uint64_t dur = p->end_us > p->start_us ? p->end_us - p->start_us : 0;
    char d[32];
    fprintf(t->f, "  ended      %s after %s\n", rep_fmt_end(end, sizeof end, p),
            rep_fmt_duration(d, sizeof d, dur));
    python_line(t);
}

static void totals(const struct tx *t)
{
    const struct rep_process *p = t->p;
    char a[32], b[32], c[32], d[32];
    fprintf(t->f, "  memory     %s allocations, %s frees, %s allocated\n",
            rep_fmt_count(a, sizeof a, p->allocations), rep_fmt_count(b, sizeof b, p->frees),
            rep_fmt_bytes(c, sizeof c, p->allocated_bytes));
    if (p->frees_unknown)
        fprintf(t->f, "             %s frees of addresses that were not live blocks\n",
                rep_fmt_count(a, sizeof a, p->frees_unknown));
    if (p->inherited_blocks)
        fprintf(t->f, "             %s blocks (%s) inherited from the parent at fork\n",
                rep_fmt_count(a, sizeof a, p->inherited_blocks),
                rep_fmt_bytes(b, sizeof b, p->inherited_bytes));
    if (p->unjudged_blocks && p->ended && p->end_how == REP_END_EXEC)
        fprintf(t->f, "             %s blocks (%s) live at the exec went with the old image\n",
                rep_fmt_count(a, sizeof a, p->unjudged_blocks),
                rep_fmt_bytes(b, sizeof b, p->unjudged_bytes));
    else if (p->unjudged_blocks)
        fprintf(t->f, "             %s blocks (%s) at the end are the parent's (--inherited)\n",
                rep_fmt_count(a, sizeof a, p->unjudged_blocks),
                rep_fmt_bytes(b, sizeof b, p->unjudged_bytes));
    fprintf(t->f, "  peak       %s in %s blocks, %s after the start\n",
            rep_fmt_bytes(a, sizeof a, p->peak_bytes), rep_fmt_count(b, sizeof b, p->peak_blocks),
            rep_fmt_duration(c, sizeof c, p->peak_time_us > p->start_us ? p->peak_time_us - p->start_us : 0));
    size_t n = p->npeak_sites < t->top ? p->npeak_sites : t->top;
    char (*lines)[MAX_WIDTH] = malloc((n ? n : 1) * sizeof *lines);
    if (lines && site_lines(t, lines, p->peak_sites, n, t->width - 36) == 0)
        for (size_t i = 0; i < n; i++) {
            const struct rep_site *s = &p->sites[p->peak_sites[i]];
            fprintf(t->f, "    %10s %10s blocks  %s\n", rep_fmt_bytes(a, sizeof a, s->peak_bytes),
                    rep_fmt_count(b, sizeof b, s->peak_blocks), lines[i]);
        }
    free(lines);
    fprintf(t->f, "  at exit    %s in %s blocks still in use\n",
            rep_fmt_bytes(c, sizeof c, p->live_bytes), rep_fmt_count(d, sizeof d, p->live_blocks));
}

static int site_table(const struct tx *t, const char *title, int key)
{
    size_t n;
    uint32_t *idx = rep_top_sites(t->p, key, t->top, &n);
    if (!idx)
        return -1;
    if (n) {
        fprintf(t->f, "\n  %sTop sites by %s%s\n", on(t, C_BOLD), title, off(t));
        fprintf(t->f, "  %10s %12s %12s  %s\n", "bytes", "allocations", "temporary", "site");
    }
    char (*lines)[MAX_WIDTH] = malloc((n ? n : 1) * sizeof *lines);
    if (!lines || site_lines(t, lines, idx, n, t->width - 42) < 0) {
        free(lines);
        free(idx);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct rep_site *s = &t->p->sites[idx[i]];
        char a[32], b[32], c[32];
        fprintf(t->f, "  %10s %12s %12s  %s\n", rep_fmt_bytes(a, sizeof a, s->bytes),
                rep_fmt_count(b, sizeof b, s->allocations), rep_fmt_count(c, sizeof c, s->temporary),
                lines[i]);
    }
    free(lines);
    free(idx);
    return 0;
}

static const char *root_words(const struct rep_retention *r, char *buf, size_t len)
{
    switch (r->root_kind) {
    case REP_ROOT_GLOBAL:
        snprintf(buf, len, "global %s in %s", r->symbol ? r->symbol : "(unnamed data)",
                 r->module ? base_name(r->module) : "?");
        break;
    case REP_ROOT_STACK:
        snprintf(buf, len, "the stack of thread %s", r->thread ? r->thread : "(unnamed)");
        break;
    case REP_ROOT_REGISTER:
        snprintf(buf, len, "a register of thread %s", r->thread ? r->thread : "(unnamed)");
        break;
    case REP_ROOT_TLS:
        snprintf(buf, len, "thread-local %s%s%s", r->symbol ? r->symbol : "storage",
                 r->module ? " of " : "", r->module ? base_name(r->module) : "");
        break;
    case REP_ROOT_MAPPED:
        snprintf(buf, len, "memory the program mapped, at 0x%" PRIx64, r->root_addr);
        break;
    default:
        snprintf(buf, len, "a root");
        break;
    }
    make_safe(buf, len);
    return buf;
}

static void retention(const struct tx *t, const struct rep_retention *r)
{
    char root[300];
    root_words(r, root, sizeof root);
    clip(root, t->width - 18);
    if (r->py_expr) {
        /* in Python terms; a C global names its symbol as well */
        char line[600];
        snprintf(line, sizeof line, "retained by %s %s%s%s", r->py_holder, r->py_expr,
                 r->root_kind == REP_ROOT_GLOBAL ? ", reached from " : "",
                 r->root_kind == REP_ROOT_GLOBAL ? root : "");
        wrapped(t, "      ", line);
        return;
    }
    fprintf(t->f, "      retained by %s\n", root);
    for (uint32_t i = 0; i < r->npath; i++) {
        char a[32];
        char fn[MAX_WIDTH];
        rep_fmt_safe(fn, sizeof fn, user_function(t->p->sites[r->path[i].site].stack));
        clip(fn, t->width - 48);
        fprintf(t->f, "        +%-6" PRIu64 " -> %s block from %s\n", r->path[i].offset,
                rep_fmt_bytes(a, sizeof a, r->path[i].size), fn);
    }
}

static void leak_entry(const struct tx *t, const struct rep_leak *l)
{
    static const char *const labels[REP_LEAK_NKINDS] = {
        "DEFINITE", "CYCLE", "INDIRECT", "POSSIBLE", "REACHABLE", "NOT FREED",
    };
    static const int colours[REP_LEAK_NKINDS] = {C_RED, C_RED, C_RED, C_YELLOW, C_GREEN, C_RED};
    char a[32], b[32], c[32], d[32];
    fprintf(t->f, "\n  %s%s%s  %s in %s blocks", on(t, colours[l->kind]), labels[l->kind], off(t),
            rep_fmt_bytes(a, sizeof a, l->bytes), rep_fmt_count(b, sizeof b, l->blocks));
    if (l->kind <= REP_LEAK_CYCLE)
        fprintf(t->f, ", + %s indirect in %s blocks", rep_fmt_bytes(c, sizeof c, l->indirect_bytes),
                rep_fmt_count(d, sizeof d, l->indirect_blocks));
    if (l->kind == REP_LEAK_CYCLE)
        fprintf(t->f, " (%" PRIu32 " cycle%s)", l->ngroups, l->ngroups == 1 ? "" : "s");
    fputs(", allocated at\n", t->f);
    print_stack(t, l->site, "      ");
    if (l->retained_by)
        retention(t, l->retained_by);
}

static int leaks(const struct tx *t)
{
    const struct rep_process *p = t->p;
    char why[200], a[32], b[32];
    if (p->ended && p->end_how == REP_END_EXEC) {
        fprintf(t->f, "\n  %sNo leaks%s: exec replaced the image and its address space\n",
                on(t, C_BOLD), off(t));
        return 0;
    }
    if (!p->exit_snapshot) {
        fprintf(t->f, "\n  %sNot freed at the end%s: %s in %s blocks\n  (%s)\n", on(t, C_BOLD),
                off(t), rep_fmt_bytes(a, sizeof a, p->live_bytes - p->unjudged_bytes),
                rep_fmt_count(b, sizeof b, p->live_blocks - p->unjudged_blocks),
                rep_no_snapshot_reason(why, sizeof why, p));
    } else {
        fprintf(t->f, "\n  %sLeaks at exit%s\n", on(t, C_BOLD), off(t));
        if (p->exit_snapshot->partial)
            fputs("  (the exit snapshot is partial: some pointers may be missing)\n", t->f);
    }
    unsigned shown = 0;
    for (size_t i = 0; i < p->nleaks; i++) {
        const struct rep_leak *l = &p->leaks[i];
        if (l->kind == REP_LEAK_REACHABLE && !t->o->show_reachable)
            continue;
        if (shown++ == t->top) {
            fprintf(t->f, "\n  ... more entries (--top)\n");
            break;
        }
        leak_entry(t, l);
    }
    return 0;
}

/* "Node+8 -> Node": the type if known, else the allocating function. */
static void member_name(const struct tx *t, const struct rep_snapshot *s, uint32_t block,
                        char *buf, size_t len, uint32_t member)
{
    const struct rep_block *b = &s->blocks[block];
    snprintf(buf, len, "[%" PRIu32 "] %s", member,
             b->type ? b->type : user_function(t->p->sites[b->site].stack));
}

static uint32_t member_index(const struct rep_cycle *c, uint32_t block)
{
    uint32_t i = rep_cycle_member(c, block);
    return i < c->nmembers && c->members[i] == block ? i : 0;
}

/* A cycle's edges as member indexes, sorted so that the pointers from one
 * member to another are a run, by offset. */
struct member_edge {
    uint32_t src, dst;
    uint64_t off;
};

static int cmp_member_edge(const void *pa, const void *pb)
{
    const struct member_edge *a = pa, *b = pb;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    if (a->dst != b->dst)
        return a->dst < b->dst ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

static struct member_edge *member_edges(const struct rep_cycle *c)
{
    struct member_edge *me = malloc((c->nedges ? c->nedges : 1) * sizeof *me);
    if (!me)
        return NULL;
    for (uint32_t e = 0; e < c->nedges; e++)
        me[e] = (struct member_edge){member_index(c, c->edges[e].src),
                                     member_index(c, c->edges[e].dst), c->edges[e].src_off};
    qsort(me, c->nedges, sizeof *me, cmp_member_edge);
    return me;
}

/* "+8", "+8, +24", "+0..+312 every 8": the n offsets of a run, three or more
 * evenly spaced written as a range. */
static void offsets_text(char *buf, size_t len, const struct member_edge *e, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o < len; ) {
        size_t j = i + 1;
        uint64_t step = j < n ? e[j].off - e[i].off : 0;
        while (j < n && e[j].off - e[j - 1].off == step)
            j++;
        const char *sep = i ? ", " : "";
        if (j - i >= 3) {
            o += (size_t)snprintf(buf + o, len - o, "%s+%" PRIu64 "..+%" PRIu64 " every %" PRIu64,
                                  sep, e[i].off, e[j - 1].off, step);
            i = j;
        } else {
            o += (size_t)snprintf(buf + o, len - o, "%s+%" PRIu64, sep, e[i].off);
            i++;
        }
    }
    if (o >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);   /* the line says how many pointers */
}

static void more_members(const struct tx *t, const struct rep_cycle *c)
{
    char n[32];
    if (c->nmembers > t->top)
        fprintf(t->f, "    ... %s more members (--top)\n",
                rep_fmt_count(n, sizeof n, c->nmembers - t->top));
}

/* ------------------------------------------------------------ Python */

static const char *py_type(const struct tx *t, const struct rep_snapshot *s, uint32_t b)
{
    uint32_t ty = s->py ? s->py[b].type : 0;
    return ty ? t->p->pytypes[ty - 1].name : NULL;
}

static const char *py_state_words(uint8_t state)
{
    switch (state) {
    case REP_PYC_PENDING: return "the garbage collector frees it when it next collects";
    case REP_PYC_UNTRACKED: return "an object the garbage collector does not track holds it: "
                                   "it is never freed";
    case REP_PYC_NATIVE_LINK: return "native memory holds it together: the garbage collector "
                                     "cannot free it";
    default: return "";
    }
}

/* "[1] attribute values of [0]" for a part, "[0] Node" for an object. */
static void py_member(const struct tx *t, const struct rep_snapshot *s, const struct rep_cycle *c,
                      uint32_t m, char *buf, size_t len)
{
    static const char *const roles[] = {"", "items", "keys", "attribute values", "table",
                                        "__dict__"};
    uint32_t b = c->members[m];
    const struct rep_pyblock *pb = &s->py[b];
    const char *type = py_type(t, s, b);
    if (type && pb->role != REP_PYP_ATTR_DICT)
        snprintf(buf, len, "%s", type);
    else if (pb->role && pb->role <= REP_PYP_ATTR_DICT)
        snprintf(buf, len, "%s of [%u] %s", roles[pb->role], member_index(c, pb->owner),
                 py_type(t, s, pb->owner) ? py_type(t, s, pb->owner) : "");
    else
        snprintf(buf, len, "native, %s", user_function(t->p->sites[s->blocks[b].site].stack));
}

/* "[0] -> [1]  Node.peer": the references that close a Python cycle, and the
 * pointers from native memory as "[2] -> [0]  make_link+16" (an object's
 * links to its own parts say nothing); up to 4 x --top lines. */
static void py_cycle_edges(const struct tx *t, const struct rep_snapshot *s, const struct rep_cycle *c)
{
    size_t shown = 0, more = 0;
    for (uint32_t e = 0; e < c->nedges; e++) {
        const struct rep_graph_edge *ed = &c->edges[e];
        const struct rep_pyblock *pb = &s->py[ed->src];
        char label[300];
        if (c->labels[e])
            snprintf(label, sizeof label, "%s", c->labels[e]);
        else if (!pb->type && !pb->role)
            snprintf(label, sizeof label, "%s+%" PRIu64,
                     user_function(t->p->sites[s->blocks[ed->src].site].stack), ed->src_off);
        else
            continue;
        if (shown == 4 * (size_t)t->top) {
            more++;
            continue;
        }
        shown++;
        make_safe(label, sizeof label);
        fprintf(t->f, "    [%" PRIu32 "] -> [%" PRIu32 "]  %s\n", member_index(c, ed->src),
                member_index(c, ed->dst), label);
    }
    char n[32];
    if (more)
        fprintf(t->f, "    ... %s more references (--top)\n", rep_fmt_count(n, sizeof n, more));
}

static void py_cycle(const struct tx *t, const struct rep_snapshot *s, const struct rep_cycle *c,
                     size_t i)
{
    char a[32], line[MAX_WIDTH * 2];
    fprintf(t->f, "\n  cycle %zu: %" PRIu32 " Python object%s in %" PRIu32 " blocks, %s, %s\n",
            i + 1, c->nobjects, c->nobjects == 1 ? "" : "s", c->nmembers,
            rep_fmt_bytes(a, sizeof a, c->bytes),
            c->root ? "nothing else points into it" : "held by other lost blocks");
    wrapped(t, "    ", py_state_words(c->py_state));
    for (uint32_t m = 0; m < c->nmembers && m < t->top; m++) {
        uint32_t b = c->members[m];
        char what[120], where[MAX_WIDTH];
        py_member(t, s, c, m, what, sizeof what);
        site_line(t, where, t->width - 40, s->blocks[b].site);
        if (s->py[b].type)
            snprintf(line, sizeof line, "[%" PRIu32 "] %s, %s, refcount %" PRIu64 " (%" PRIu32
                     " from the cycle), made at %s", m, what, rep_fmt_bytes(a, sizeof a, s->blocks[b].size),
                     s->py[b].refcnt, c->internal_refs[m], where);
        else
            snprintf(line, sizeof line, "[%" PRIu32 "] %s, %s", m, what,
                     rep_fmt_bytes(a, sizeof a, s->blocks[b].size));
        wrapped(t, "    ", line);
    }
    more_members(t, c);
    py_cycle_edges(t, s, c);
}

/* "50 cycles of 2 Node objects made at make_pair (app.py:16), joined by Node.peer". */
static void py_cycle_groups(const struct tx *t, const struct rep_snapshot *s)
{
    if (!s->npycycle_groups)
        return;
    fprintf(t->f, "\n  %sPython reference cycles%s\n", on(t, C_BOLD), off(t));
    for (size_t i = 0; i < s->npycycle_groups && i < t->top; i++) {
        const struct rep_pycycle_group *g = &s->pycycle_groups[i];
        char a[32], n[32], where[MAX_WIDTH], line[MAX_WIDTH + 800];
        site_line(t, where, t->width, g->site);
        snprintf(line, sizeof line, "%" PRIu32 " cycle%s of %" PRIu32 " %s object%s made at %s, "
                 "joined by %s (%s in %s blocks): %s", g->ncycles, g->ncycles == 1 ? "" : "s",
                 g->objects, g->types, g->objects == 1 ? "" : "s", where,
                 *g->labels ? g->labels : "references the report cannot name",
                 rep_fmt_bytes(a, sizeof a, g->bytes), rep_fmt_count(n, sizeof n, g->blocks),
                 py_state_words(g->state));
        wrapped(t, "  ", line);
    }
}

/* A change in bytes: "+1.2 KiB", "-96 B", "0 B". */
static const char *fmt_delta_bytes(char *buf, size_t len, int64_t d)
{
    char b[24];
    rep_fmt_bytes(b, sizeof b, d < 0 ? (uint64_t)-d : (uint64_t)d);
    snprintf(buf, len, "%s%s", d > 0 ? "+" : d < 0 ? "-" : "", b);
    return buf;
}

static void py_type_row(const struct tx *t, const struct rep_typestat *ts, const char *indent)
{
    char a[32], b[32], c[32];
    fprintf(t->f, "%s%10s %10s %+11" PRId64 " %10s  %s\n", indent,
            rep_fmt_count(a, sizeof a, ts->count), rep_fmt_bytes(b, sizeof b, ts->bytes),
            ts->delta_count, fmt_delta_bytes(c, sizeof c, ts->delta_bytes),
            t->p->pytypes[ts->type].name);
}

static int cmp_growth(const void *pa, const void *pb)
{
    const struct rep_typestat *a = *(const struct rep_typestat *const *)pa;
    const struct rep_typestat *b = *(const struct rep_typestat *const *)pb;
    if (a->delta_count != b->delta_count)
        return a->delta_count > b->delta_count ? -1 : 1;
    return a->delta_bytes > b->delta_bytes ? -1 : a->delta_bytes < b->delta_bytes;
}

/* The types whose count grew most since the snapshot before (as
 * objgraph.show_growth lists them). */
static void py_growth(const struct tx *t, const struct rep_snapshot *s, const char *indent)
{
    const struct rep_typestat **grew = calloc(s->ntypestats + 1, sizeof *grew);
    size_t n = 0;
    for (size_t i = 0; grew && i < s->ntypestats; i++)
        if (s->typestats[i].delta_count > 0)
            grew[n++] = &s->typestats[i];
    qsort(grew, n, sizeof *grew, cmp_growth);
    if (n)
        fprintf(t->f, "%sgrew most since the snapshot before:\n", indent);
    for (size_t i = 0; i < n && i < t->top; i++)
        py_type_row(t, grew[i], indent);
    free(grew);
}

/* Live objects by type at a snapshot, with the change since the one before
 * (the first: since nothing), and after the first what grew most. */
static void py_types(const struct tx *t, const struct rep_snapshot *s, int first, const char *indent)
{
    if (!s->ntypestats)
        return;
    fprintf(t->f, "%s%10s %10s %11s %10s  %s\n", indent, "objects", "bytes", "change", "bytes",
            "type");
    for (size_t i = 0; i < s->ntypestats && i < t->top; i++)
        py_type_row(t, &s->typestats[i], indent);
    if (!first)
        py_growth(t, s, indent);
}

/* Sites that the collector freed from, merged by what the reader sees of
 * them (a Python line has one stack per instruction and allocation). */
struct gc_line {
    char where[MAX_WIDTH];
    uint64_t objects, blocks, bytes;
};

static size_t gc_lines(const struct tx *t, struct gc_line *out, size_t max)
{
    size_t n = 0, nidx = 0;
    uint32_t *idx = rep_top_sites(t->p, 3, t->p->nstacks, &nidx);
    for (size_t i = 0; idx && i < nidx; i++) {
        const struct rep_site *st = &t->p->sites[idx[i]];
        char where[MAX_WIDTH];
        site_line(t, where, t->width, idx[i]);
        size_t k = 0;
        while (k < n && strcmp(out[k].where, where))
            k++;
        if (k == n) {
            if (n == max)
                continue;
            memcpy(out[n++].where, where, sizeof where);
        }
        out[k].objects += st->gc_freed_objects;
        out[k].blocks += st->gc_freed;
        out[k].bytes += st->gc_freed_bytes;
    }
    free(idx);
    return n;
}

static int cmp_gc_line(const void *pa, const void *pb)
{
    const struct gc_line *a = pa, *b = pb;
    uint64_t ka = a->objects ? a->objects : a->blocks, kb = b->objects ? b->objects : b->blocks;
    return ka != kb ? (ka > kb ? -1 : 1) : strcmp(a->where, b->where);
}

/* What the cyclic garbage collector did while the process was recorded. */
static void py_gc(const struct tx *t)
{
    const struct rep_process *p = t->p;
    if (!p->gc_seen)
        return;
    char a[32], b[32], c[32], d[32], line[MAX_WIDTH + 400];
    uint64_t n = 0, collected = 0, uncollectable = 0, pause = 0, longest = 0;
    for (int g = 0; g < 3; g++) {
        n += p->gc_gens[g].collections;
        collected += p->gc_gens[g].collected;
        uncollectable += p->gc_gens[g].uncollectable;
        pause += p->gc_gens[g].pause_us;
        if (p->gc_gens[g].longest_us > longest)
            longest = p->gc_gens[g].longest_us;
    }
    fprintf(t->f, "\n  %sGarbage collector%s\n", on(t, C_BOLD), off(t));
    snprintf(line, sizeof line, "%s collections (generation 0: %" PRIu64 ", 1: %" PRIu64
             ", 2: %" PRIu64 "), %s objects collected, %" PRIu64 " uncollectable; the %zu "
             "recorded took %s in all, the longest %s", rep_fmt_count(a, sizeof a, n),
             p->gc_gens[0].collections, p->gc_gens[1].collections, p->gc_gens[2].collections,
             rep_fmt_count(b, sizeof b, collected), uncollectable, p->ngc,
             rep_fmt_duration(c, sizeof c, pause), rep_fmt_duration(d, sizeof d, longest));
    wrapped(t, "  ", line);
    struct gc_line *lines = calloc(t->top ? t->top : 1, sizeof *lines);
    size_t shown = lines ? gc_lines(t, lines, t->top) : 0;
    qsort(lines, shown, sizeof *lines, cmp_gc_line);
    for (size_t i = 0; i < shown; i++) {
        rep_fmt_count(b, sizeof b, lines[i].blocks);
        rep_fmt_bytes(c, sizeof c, lines[i].bytes);
        /* a line that made only objects' parts (a list's items) */
        if (!lines[i].objects)
            snprintf(line, sizeof line, "%s made %s blocks (%s) of objects that only the garbage "
                     "collector freed", lines[i].where, b, c);
        else
            snprintf(line, sizeof line, "%s made %s objects (%s blocks, %s) that only the "
                     "garbage collector freed: cycles you could break, or make weak",
                     lines[i].where, rep_fmt_count(a, sizeof a, lines[i].objects), b, c);
        wrapped(t, "    ", line);
    }
    free(lines);
}

/* "[0] node_new+8 -> [1] node_new": the pointers that close cycle c, one
 * line per pair of members, up to 4 x --top lines. */
static int cycle_edges(const struct tx *t, const struct rep_snapshot *s, const struct rep_cycle *c)
{
    struct member_edge *me = member_edges(c);
    if (!me)
        return -1;
    size_t lines = 0, i = 0;
    for (; i < c->nedges && lines < 4 * (size_t)t->top; lines++) {
        size_t j = i + 1;
        while (j < c->nedges && me[j].src == me[i].src && me[j].dst == me[i].dst)
            j++;
        char from[200], to[200], offs[200], line[700], n[32];
        member_name(t, s, c->members[me[i].src], from, sizeof from, me[i].src);
        member_name(t, s, c->members[me[i].dst], to, sizeof to, me[i].dst);
        clip(from, (t->width - 20) / 2);
        clip(to, (t->width - 20) / 2);
        offsets_text(offs, sizeof offs, me + i, j - i);
        snprintf(line, sizeof line, "%s%s -> %s%s%s%s", from, offs, to, j - i > 1 ? " (" : "",
                 j - i > 1 ? rep_fmt_count(n, sizeof n, j - i) : "", j - i > 1 ? " pointers)" : "");
        wrapped(t, "    ", line);
        i = j;
    }
    if (i < c->nedges) {
        char n[32];
        fprintf(t->f, "    ... %s more edges (--top)\n", rep_fmt_count(n, sizeof n, c->nedges - i));
    }
    free(me);
    return 0;
}

static int cycles(const struct tx *t)
{
    const struct rep_snapshot *s = t->p->exit_snapshot;
    if (!s || !s->ncycles)
        return 0;
    py_cycle_groups(t, s);
    fprintf(t->f, "\n  %sCycles%s (unreachable structures that point at each other)\n",
            on(t, C_BOLD), off(t));
    for (size_t i = 0; i < s->ncycles && i < t->top; i++) {
        const struct rep_cycle *c = &s->cycles[i];
        char a[32];
        if (c->nobjects) {
            py_cycle(t, s, c, i);
            continue;
        }
        fprintf(t->f, "\n  cycle %zu: %" PRIu32 " blocks, %s, %s\n", i + 1, c->nmembers,
                rep_fmt_bytes(a, sizeof a, c->bytes),
                c->root ? "nothing else points into it" : "held by other lost blocks");
        for (uint32_t m = 0; m < c->nmembers && m < t->top; m++) {
            char line[MAX_WIDTH];
            const struct rep_block *b = &s->blocks[c->members[m]];
            site_line(t, line, t->width - 24, b->site);
            fprintf(t->f, "    [%" PRIu32 "] %9s  %s\n", m, rep_fmt_bytes(a, sizeof a, b->size), line);
        }
        more_members(t, c);
        if (cycle_edges(t, s, c) < 0)
            return -1;
    }
    return 0;
}

static void summary_line(const struct tx *t, const char *label, const struct rep_class_count *c)
{
    char a[32], b[32];
    fprintf(t->f, "  %20s: %s bytes in %s blocks\n", label, rep_fmt_count(a, sizeof a, c->bytes),
            rep_fmt_count(b, sizeof b, c->blocks));
}

static void leak_summary(const struct tx *t)
{
    const struct rep_process *p = t->p;
    fprintf(t->f, "\n  %sLEAK SUMMARY%s\n", on(t, C_BOLD), off(t));
    struct rep_class_count unjudged = {p->unjudged_blocks, p->unjudged_bytes};
    if (!p->exit_snapshot) {
        struct rep_class_count c = {p->live_blocks - unjudged.blocks,
                                    p->live_bytes - unjudged.bytes};
        summary_line(t, "not freed", &c);
        if (unjudged.blocks)
            summary_line(t, p->end_how == REP_END_EXEC ? "gone with exec" : "the parent's", &unjudged);
        fputs("  (no exit snapshot: not classified)\n", t->f);
        return;
    }
    const struct rep_summary *s = &p->exit_snapshot->summary;
    summary_line(t, "definitely lost", &s->definite);
    summary_line(t, "lost in cycles", &s->cycle);
    summary_line(t, "indirectly lost", &s->indirect);
    summary_line(t, "possibly lost", &s->possible);
    summary_line(t, "still reachable", &s->reachable);
    if (unjudged.blocks)
        summary_line(t, "the parent's", &unjudged);
}

static void snapshots(const struct tx *t)
{
    const struct rep_process *p = t->p;
    if (!p->nsnapshots)
        return;
    fprintf(t->f, "\n  %sSnapshots%s\n", on(t, C_BOLD), off(t));
    for (size_t i = 0; i < p->nsnapshots; i++) {
        const struct rep_snapshot *s = &p->snapshots[i];
        char a[32], b[32];
        char d[32];
        fprintf(t->f, "    #%-3" PRIu32 " %-7s at %s: %s blocks, %s%s\n", s->id,
                s->reason ? "request" : "exit", rep_fmt_duration(d, sizeof d, s->time_us),
                rep_fmt_count(a, sizeof a, s->nblocks), rep_fmt_bytes(b, sizeof b, s->bytes),
                s->partial ? " (partial)" : "");
        if (s->npyobjects) {
            fprintf(t->f, "         %s Python objects%s%s; live objects by type:\n",
                    rep_fmt_count(a, sizeof a, s->npyobjects),
                    s->gc_state_known && !s->gc_enabled ? ", the garbage collector disabled" : "",
                    s->gc_garbage ? ", objects in gc.garbage" : "");
            py_types(t, s, i == 0, "         ");
        }
        for (size_t g = 0; g < s->ngrew && g < t->top; g++) {
            char line[MAX_WIDTH];
            site_line(t, line, t->width - 40, s->grew[g].site);
            fprintf(t->f, "         grew %-9s +%-10s %s\n", rep_leak_kind_name(s->grew[g].kind),
                    rep_fmt_bytes(a, sizeof a, (uint64_t)s->grew[g].delta_bytes), line);
        }
    }
}

static int process(struct tx *t)
{
    identity(t);
    totals(t);
    if (site_table(t, "bytes allocated", 0) < 0 || site_table(t, "number of allocations", 1) < 0 ||
        site_table(t, "temporary allocations", 2) < 0 || leaks(t) < 0 || cycles(t) < 0)
        return -1;
    py_gc(t);
    leak_summary(t);
    snapshots(t);
    for (size_t i = 0; i < t->p->nlosses; i++)
        wrapped(t, "  LOSS: ", t->p->losses[i]);
    for (size_t i = 0; i < t->p->nnotes; i++)
        wrapped(t, "  note: ", t->p->notes[i]);
    return 0;
}

/* "exit 0", "signal 9", "exec", "unknown": how a tree line ended. */
static const char *short_end(char *buf, size_t len, const struct rep_process *p)
{
    switch (p->ended ? p->end_how : REP_END_UNKNOWN) {
    case REP_END_EXIT: snprintf(buf, len, "exit %d", (int)p->end_code); break;
    case REP_END_SIGNAL: snprintf(buf, len, "signal %d", (int)p->end_code); break;
    case REP_END_EXEC: snprintf(buf, len, "exec"); break;
    default: snprintf(buf, len, "unknown"); break;
    }
    return buf;
}

static size_t tree_images(const struct rep_tree *tree)
{
    size_t n = 0;
    for (size_t i = 0; i < tree->n; i++)
        for (const struct rep_process *p = tree->lines[i].first; p; p = p->exec_next) {
            n++;
            if (p == tree->lines[i].last)
                break;
        }
    return n;
}

static void tree_line(const struct tx *t, const struct rep_tree_line *l)
{
    char a[32], b[32], c[32], e[32], cmd[MAX_WIDTH];
    const struct rep_process *p = l->last;
    size_t indent = 2 * (l->depth < 20 ? l->depth : 20), room = t->width - 60;
    memset(cmd, ' ', indent);
    rep_tree_command(l, cmd + indent, sizeof cmd - indent, room > indent ? room - indent : 0);
    make_safe(cmd, sizeof cmd);
    clip(cmd, room);
    if (l->leaked_bytes)
        rep_fmt_bytes(c, sizeof c, l->leaked_bytes);
    else
        snprintf(c, sizeof c, "-");
    fprintf(t->f, "  %s%c%7" PRId32 "%s %7" PRId32 " %10s %9s %s%9s%s %-9s %s\n",
            l->matters ? on(t, C_BOLD) : "", l->matters ? '*' : ' ', p->pid,
            l->matters ? off(t) : "", l->first->ppid,
            rep_fmt_count(a, sizeof a, l->allocations), rep_fmt_bytes(b, sizeof b, l->peak_bytes),
            l->leaked_bytes ? on(t, C_RED) : "", c, l->leaked_bytes ? off(t) : "",
            short_end(e, sizeof e, p), cmd);
}

static void process_tree(const struct tx *t, const struct rep_tree *tree)
{
    size_t detailed = 0;
    for (size_t i = 0; i < tree->n; i++)
        detailed += tree->lines[i].matters;
    fprintf(t->f, "\n%sProcesses%s: %zu, as %zu exec chain%s; * detailed below (%zu)\n",
            on(t, C_BOLD), off(t), tree_images(tree), tree->n,
            tree->n == 1 ? "" : "s", detailed);
    fprintf(t->f, "  %8s %7s %10s %9s %9s %-9s %s\n", "pid", "parent", "allocs", "peak",
            "leaked", "ended", "command");
    for (size_t i = 0; i < tree->n; i++)
        tree_line(t, &tree->lines[i]);
}

/* Details the processes that matter, the launched program first; the
 * others are their tree line. */
static int tree_details(struct tx *t, const struct rep_tree *tree)
{
    for (size_t k = 0; k <= tree->n; k++) {
        size_t i = k == 0 ? tree->main : k - 1;
        if (k && (i == tree->main || !tree->lines[i].matters))
            continue;
        t->p = tree->lines[i].last;
        if (process(t) < 0)
            return -1;
    }
    size_t rest = tree->n;
    for (size_t i = 0; i < tree->n; i++)
        rest -= tree->lines[i].matters;
    if (rest) {
        const char *fmt = "\n%zu other process%s: one line each in the tree above;%s"
                          "--process PID|NAME details one\n";
        const char *es = rest == 1 ? "" : "es";
        int one_line = snprintf(NULL, 0, fmt, rest, es, " ") - 2 <= (int)t->width;
        fprintf(t->f, fmt, rest, es, one_line ? " " : "\n");
    }
    return 0;
}

int rep_render_text(FILE *out, const struct rep_capture *cap, const struct rep_render_opts *o,
                    char *err, size_t errlen)
{
    struct tx t = {out, o, NULL, o->stack_depth ? o->stack_depth : 6, o->top ? o->top : 10,
                   o->width ? o->width : DEFAULT_WIDTH};
    if (t.width < MIN_WIDTH)
        t.width = MIN_WIDTH;
    if (t.width > MAX_WIDTH - 1)
        t.width = MAX_WIDTH - 1;
    header(&t, cap);
    int rc = 0;
    if (o->process) {
        for (size_t i = 0; i < cap->nprocesses && rc == 0; i++) {
            t.p = &cap->processes[i];
            if (rep_process_selected(t.p, o->process))
                rc = process(&t);
        }
    } else {
        struct rep_tree tree;
        rc = rep_tree_build(cap, &tree);
        if (rc == 0 && tree.n) {
            process_tree(&t, &tree);
            rc = tree_details(&t, &tree);
        }
        rep_tree_release(&tree);
    }
    if (rc < 0)
        return snprintf(err, errlen, "out of memory"), -1;
    if (ferror(out))
        return snprintf(err, errlen, "%s", strerror(errno)), -1;
    return 0;
}
