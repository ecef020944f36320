/* SPDX-License-Identifier: MIT
 *
 * render.h - the text and JSON renderers of a classified, symbolized capture
 * (report/model/model.h), and the small formatting helpers other renderers share.
 * Text is for people (100 columns, binary units, optional ANSI colour); JSON
 * is schema heapgraph-report/2 (docs/report.md, docs/report.schema.json) for tools.
 * Both carry the same facts. Renderers only write to `out`; they never print
 * elsewhere and never exit.
 */
#ifndef HG_REP_RENDER_H
#define HG_REP_RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/model/model.h"

struct rep_render_opts {
    unsigned top;            /* entries per site list; 0: 10 */
    unsigned stack_depth;    /* frames per stack; 0: text 6, JSON all */
    const char *process;     /* only the processes it names (rep_process_selected); NULL: all */
    int show_reachable;      /* text, JSON: list reachable entries (with their retention
                                path); the summary counts them either way */
    unsigned max_leaks;      /* JSON: leak entries per process at most (0: all; the
                                HTML page shows 300) */
    int color;               /* text: ANSI colour */
    unsigned width;          /* text: columns; 0: 100 */
    struct rep_stacktab *stacks;   /* JSON: put the stacks into this table and leave
                                      writing it to the caller (the HTML page shares
                                      one with its views); NULL: the report's own */
};


/* Each returns 0, or -1 + err when writing failed (errno-based message). */
int rep_render_text(FILE *out, const struct rep_capture *cap, const struct rep_render_opts *o,
                    char *err, size_t errlen);
int rep_render_json(FILE *out, const struct rep_capture *cap, const struct rep_render_opts *o,
                    char *err, size_t errlen);

/* Stacks written once (stacks.c): a table of distinct frames and a tree of
 * call paths whose entries are a frame and the entry of its caller. A stack
 * is named by its innermost entry; functions that return an entry give its
 * id + 1 (0: the empty stack), or -1 when out of memory. Frames are kept by
 * pointer: they must outlive the table. */
struct rep_stacktab;
struct rep_stacktab *rep_stacktab_new(void);
void rep_stacktab_free(struct rep_stacktab *t);
/* The id of a frame equal to f (function, file, line, module, offset,
 * inlined, language), added if new; -1 when out of memory. */
int64_t rep_stacktab_frame(struct rep_stacktab *t, const struct rep_frame *f);
/* The entry of frame id `frame` called from entry caller - 1 (0: none). */
int64_t rep_stacktab_entry(struct rep_stacktab *t, uint32_t frame, uint64_t caller);
/* The entry of frames[0..n), innermost first. */
int64_t rep_stacktab_add(struct rep_stacktab *t, const struct rep_frame *frames, uint32_t n);
size_t rep_stacktab_nframes(const struct rep_stacktab *t);
const struct rep_frame *rep_stacktab_frame_at(const struct rep_stacktab *t, size_t id);
size_t rep_stacktab_nentries(const struct rep_stacktab *t);
/* Entry id's frame, and its caller's entry + 1 (0: none). */
void rep_stacktab_entry_at(const struct rep_stacktab *t, size_t id, uint32_t *frame,
                           uint32_t *caller);
/* Writes "frames":[{...},...],"stacks":[[frame, caller or null],...] as the
 * JSON report has them (docs/report.md, "Stacks"). */
void rep_stacktab_write_json(FILE *f, const struct rep_stacktab *t);

/* Writes s as a JSON string literal, quotes included (NULL writes null): the
 * one string writer of every JSON heapgraph writes (report, HTML data,
 * baselines, diffs, SARIF, GitLab). '"' and '\\' are escaped, every control
 * character and DEL is written as \u00XX, well-formed UTF-8 is kept, and each
 * byte that does not start a well-formed sequence (paths and names come from
 * the program, in no promised encoding) becomes \ufffd, so that the document
 * is always valid JSON. */
void rep_json_puts(FILE *f, const char *s);

/* Text output of strings that come from the program (command lines, paths,
 * thread and function names, notes): a control character (C0, DEL, C1) or a
 * byte that does not start well-formed UTF-8 is written as \xHH, so that a
 * name cannot move the cursor, clear the screen or forge report lines.
 * rep_text_puts writes s to f (NULL as ""); rep_fmt_safe writes it into buf,
 * cut to len, and returns buf. */
void rep_text_puts(FILE *f, const char *s);
const char *rep_fmt_safe(char *buf, size_t len, const char *s);

/* "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB" into buf; returns buf. */
const char *rep_fmt_bytes(char *buf, size_t len, uint64_t bytes);

/* "1,234,567" into buf; returns buf. */
const char *rep_fmt_count(char *buf, size_t len, uint64_t n);

/* "850 us", "12.5 ms", "3.250 s" into buf; returns buf. */
const char *rep_fmt_duration(char *buf, size_t len, uint64_t us);

/* How a process ended, in words: "exited with status 0", "killed by signal 9
 * (SIGKILL)", "replaced by exec", "end not recorded". */
const char *rep_fmt_end(char *buf, size_t len, const struct rep_process *p);

/* Why a process has no exit snapshot, or NULL when it has one. */
const char *rep_no_snapshot_reason(char *buf, size_t len, const struct rep_process *p);

/* Site indexes of p sorted by key (0 bytes, 1 allocations, 2 temporaries, 3
 * Python objects (else blocks) the garbage collector freed),
 * descending, only those with a non-zero key, at most `max`. Caller frees;
 * NULL when out of memory. *n gets the count. */
uint32_t *rep_top_sites(const struct rep_process *p, int key, size_t max, size_t *n);

/* The process tree (tree.c): one line per exec chain (the images one pid
 * went through, first to last), depth first in the order processes
 * appeared. */
struct rep_tree_line {
    const struct rep_process *first, *last;
    uint32_t parent;             /* the line that forked or spawned it; UINT32_MAX: none */
    uint32_t depth;              /* 0 for the launched program (and orphans) */
    uint64_t allocations, allocated_bytes;   /* over the chain's images */
    uint64_t peak_bytes;                     /* the largest of the images' peaks */
    uint64_t leaked_bytes, leaked_blocks;    /* rep_process_leaked (leaked.h) over the images */
    int matters;                 /* the launched program, a leak, or a tenth of the
                                    run's allocations (count or bytes) */
};

struct rep_tree {
    size_t n;
    struct rep_tree_line *lines;
    size_t main;                 /* the launched program's line */
};

/* Builds the tree of cap; 0, or -1 when out of memory. rep_tree_release
 * frees it. */
int rep_tree_build(const struct rep_capture *cap, struct rep_tree *t);
void rep_tree_release(struct rep_tree *t);

/* The line's command: its images' names joined by " -> ", then the last
 * image's arguments ("bash -> pyenv-exec -> python3 app.py"); when that is
 * longer than `fit`, the images between the first and the last become
 * "..." ("env -> ... -> python3 app.py"). Writes at most len bytes with the
 * NUL and returns the full length, as snprintf does. */
size_t rep_tree_command(const struct rep_tree_line *l, char *buf, size_t len, size_t fit);

#endif
