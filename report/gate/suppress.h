/* SPDX-License-Identifier: MIT
 *
 * suppress.h - leak suppressions: known leaks a report or a gate should not
 * count. Two file syntaxes are read, told apart line by line:
 *
 *   LeakSanitizer:  leak:PATTERN      one per line, '#' starts a comment.
 *       PATTERN is a substring of the function name, the source file or
 *       the module path of ANY frame of the allocation stack; '*' matches
 *       any run of characters, a leading '^' anchors at the start and a
 *       trailing '$' at the end.
 *   valgrind:       { NAME  Memcheck:Leak  [match-leak-kinds: K,K]
 *                     fun:GLOB | obj:GLOB | src:FILE[:LINE] | ...  }
 *       frame lines match the stack from its innermost frame outwards; a
 *       GLOB ('*' any run, '?' one character) must match the whole demangled
 *       function name (fun:) or module path (obj:); "..." matches any number
 *       of frames. A mangled C++ name without wildcards (as valgrind writes
 *       them) is demangled first. Leading fun: lines naming an allocator
 *       (malloc, operator new, strdup, ...: report/model/allocators.def) are
 *       skipped when the stack has no such frame, because heapgraph drops
 *       allocator frames from its stacks.
 *       match-leak-kinds: definite covers heapgraph's definite, cycle and
 *       not_freed entries; possible and reachable map to themselves;
 *       indirect never selects a group (indirect blocks follow their group).
 *
 * Suppressing a leak group suppresses its indirect blocks with it. Each
 * suppression counts the entries, blocks and bytes it matched, so reports can
 * list them and warn about unused ones.
 */
#ifndef HG_REPORT_SUPPRESS_H
#define HG_REPORT_SUPPRESS_H

#include <stdint.h>
#include <stdio.h>

#include "report/gate/gates.h"

struct rep_supp_frame;   /* one frame line of a valgrind block; private */
struct rep_capture;

struct rep_supp {
    char *name;            /* valgrind block name, or "leak:PATTERN" */
    char *origin;          /* "FILE:LINE", or "built-in" */
    int builtin;
    char *pattern;         /* LeakSanitizer pattern, NULL for a valgrind block */
    unsigned kinds;        /* mask (1u << enum rep_leak_kind) it applies to */
    size_t nframes;
    struct rep_supp_frame *frames;
    uint64_t matched, blocks, bytes;   /* usage: entries, blocks, bytes (with indirect) */
};

struct rep_supp_list {
    size_t n;
    struct rep_supp *s;
};

#define REP_SUPP_LIST_INIT {0, NULL}

/* Parses suppression text (both syntaxes may be mixed). origin names the
 * source in messages and in rep_supp.origin. Returns 0, or -1 + err
 * ("FILE:LINE: ..."); on failure the list keeps what was parsed before. */
int rep_supp_parse(struct rep_supp_list *l, const char *text, const char *origin,
                   char *err, size_t errlen);
/* Reads and parses a file of at most REP_SUPP_MAX_FILE bytes (a regular
 * file: a FIFO or a device is refused at once). 0, or -1 + err
 * (unreadable, too large, syntax). */
#define REP_SUPP_MAX_FILE ((size_t)16 << 20)
int rep_supp_load(struct rep_supp_list *l, const char *path, char *err, size_t errlen);
/* Appends the built-in list for glibc and libstdc++ internals. 0 or -1. */
int rep_supp_add_builtin(struct rep_supp_list *l, char *err, size_t errlen);
void rep_supp_release(struct rep_supp_list *l);

/* Index of the first suppression matching the stack frames[0..n) (innermost
 * first) of an entry of `kind` (enum rep_leak_kind), or -1. The one matcher
 * of both paths below, the run's and the capture's. Does not touch the
 * usage counts. */
long rep_supp_match(const struct rep_supp_list *l, const struct rep_frame *frames, uint32_t n,
                    int kind);
/* Counts one matched entry on suppression i. */
void rep_supp_count(struct rep_supp_list *l, long i, uint64_t blocks, uint64_t bytes);

/* Marks every leak entry of the run whose kind is in `kinds` (a mask of
 * 1u << REP_LEAK_x) and that a suppression matches (leak->suppressed = index
 * + 1), and counts it. Entries of other kinds (typically reachable ones,
 * which no gate counts) are left alone so that usage counts mean something.
 * Returns the number of entries suppressed. */
size_t rep_supp_apply_run(struct rep_supp_list *l, struct rep_run *r, unsigned kinds);

/* Filters a symbolized and classified capture: removes the leak entries a
 * suppression matches from every process's leak list (and its exit
 * snapshot's, with its groups of Python cycles), subtracts them (with their indirect blocks) from the exit
 * snapshot's summary, counts them, and appends notes to cap->notes naming
 * each suppression that matched ("suppressed by NAME (ORIGIN): N entries,
 * B bytes in K blocks") and each user suppression that matched nothing.
 * It changes the capture, after classification, through the model's
 * writable view (report/model/replay.h), like the passes that build it.
 * Returns the number of entries removed, or -1 + err (out of memory). */
long rep_supp_filter_capture(struct rep_supp_list *l, struct rep_capture *cap,
                             char *err, size_t errlen);

/* Writes a valgrind-syntax block that suppresses exactly the stack
 * frames[0..n) of an entry of `kind` (its function names; obj: for frames
 * without one). Returns 0, or -1 when the write fails. */
int rep_supp_write(FILE *f, const struct rep_frame *frames, uint32_t n, int kind,
                   unsigned serial);

#endif
