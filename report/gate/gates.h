/* SPDX-License-Identifier: MIT
 *
 * gates.h - CI gates: the figures of a run that gates, baselines, diffs and
 * the CI formats look at, and the evaluation of gates over them.
 *
 * A `struct rep_run` is a flat, self-contained copy of what CI cares about:
 * per process its totals, its leak entries (leak groups, possible entries and
 * "not freed" blocks of processes that ended without an exit snapshot) and
 * its allocation sites, each with a symbolized stack. It is filled either
 * from a capture (rep_run_from_capture, run_capture.c) or from a baseline
 * file (baseline.h), so every consumer works on the same thing whichever the
 * source. The run owns all its memory; rep_run_release frees it.
 *
 * Multiple processes (a test suite recorded under one `heapgraph run`): leak
 * gates and allocation counts sum over every process; the peak gate looks at
 * the largest peak of any single process, because processes that ran one
 * after the other never shared a heap.
 */
#ifndef HG_REP_GATE_GATES_H
#define HG_REP_GATE_GATES_H

#include <stddef.h>
#include <stdint.h>

#include "report/model/model.h"

struct rep_arena;

/* The kinds the leak gates count unless --leak-kinds says otherwise: a mask
 * of 1u << enum rep_leak_kind (model.h), as every kind mask here. */
#define REP_LEAK_DEFAULT_KINDS \
    ((1u << REP_LEAK_DEFINITE) | (1u << REP_LEAK_CYCLE) | (1u << REP_LEAK_INDIRECT))

/* A stack of the run: the model's frames, copied with their strings into the
 * run (a run outlives the capture it was read from). The module is never
 * NULL ("?" when none); address is 0 when read from a baseline. */
struct rep_ck_stack {
    uint32_t nframes;
    struct rep_frame *frames;   /* innermost first */
};

/* A leak entry. For DEFINITE and CYCLE entries (leak groups) the indirect
 * blocks attributed to the group come along in indirect_*; the INDIRECT kind
 * itself never appears as an entry, it is selected through those fields. */
struct rep_ck_leak {
    uint32_t process;              /* index into rep_run.processes */
    uint8_t kind;                  /* enum rep_leak_kind, never INDIRECT */
    uint64_t blocks, bytes;
    uint64_t indirect_blocks, indirect_bytes;
    uint64_t groups;               /* leak groups merged into a DEFINITE/CYCLE entry */
    struct rep_ck_stack stack;
    int suppressed;                /* 1 + index of the suppression that matched, or 0 */
    int in_baseline;               /* 1 when --new-leaks-only found its site in the baseline */
};

struct rep_ck_site {
    uint32_t process;
    uint64_t allocations, bytes;   /* over the whole run */
    uint64_t live_blocks, live_bytes;   /* at exit */
    struct rep_ck_stack stack;
};

struct rep_ck_process {
    int32_t pid, ppid;
    const char *command;           /* the command line joined by spaces */
    int snapshot;                  /* 1: an exit snapshot exists */
    int exit_signal;               /* 0, or the signal that ended it */
    int exit_status;
    uint64_t allocations, frees, allocated_bytes, peak_bytes;
    uint64_t cycles;               /* unreachable cycles listed for the process */
    int partial;                   /* the exit snapshot is partial */
};

struct rep_run {
    uint32_t nprocesses;
    struct rep_ck_process *processes;
    size_t nleaks;
    struct rep_ck_leak *leaks;
    size_t nsites;
    struct rep_ck_site *sites;
    int incomplete;                /* the capture is damaged or its recording did not finish */
    char incomplete_why[160];      /* "damaged at byte N: ...", "recording did not finish" */
    /* private */
    struct rep_arena *arena;       /* strings and frames (report/model/arena.h) */
    size_t processes_cap, leaks_cap, sites_cap;
};

/* Zeroed is a valid empty run. */
#define REP_RUN_INIT {0}

void rep_run_release(struct rep_run *r);

/* Fills an empty run from a capture that has been symbolized and classified.
 * A process that ended by exec contributes no leak entries (its image was
 * replaced, not leaked). Returns 0, or -1 + err (out of memory); on failure
 * the run is released. */
int rep_run_from_capture(const struct rep_capture *cap, struct rep_run *out,
                         char *err, size_t errlen);

/* Appending to a run (used by the capture and baseline loaders and tests).
 * Strings are copied into the run. Each returns the new element (zeroed
 * apart from what the arguments give) or NULL when out of memory. */
struct rep_ck_process *rep_run_add_process(struct rep_run *r);
struct rep_ck_leak *rep_run_add_leak(struct rep_run *r, uint32_t process, int kind);
struct rep_ck_site *rep_run_add_site(struct rep_run *r, uint32_t process);
/* Copies a string into the run's arena; NULL in gives NULL out. */
const char *rep_run_strdup(struct rep_run *r, const char *s);
/* Gives `st` room for n frames (zeroed) from the arena; 0 or -1 (no memory). */
int rep_run_alloc_frames(struct rep_run *r, struct rep_ck_stack *st, uint32_t n);

/* The key that matches a stack across rebuilds: the function names of its
 * frames joined by ';' (a frame without a name contributes
 * "<module basename>+0x<offset>"). Writes at most len bytes including the
 * NUL; returns the full length it needed, like snprintf. */
size_t rep_ck_stack_key(const struct rep_ck_stack *st, char *buf, size_t len);

/* The kinds the leak gates count for a --leak-kinds mask (0: the default):
 * always with NOT_FREED, since a process that crashed left those blocks
 * behind whatever they would have been classified as. */
unsigned rep_leak_mask(unsigned kinds);
/* Parses a comma-separated list of kind names (rep_leak_kind_name) into a
 * mask. Returns 0, or -1 with err filled ("unknown leak kind 'x'"). "all"
 * selects every kind. */
int rep_parse_leak_kinds(const char *s, unsigned *mask, char *err, size_t errlen);

/* ---- gates ---- */

enum rep_gate_id {
    REP_GATE_LEAKED = 0,      /* bytes over the leak kinds */
    REP_GATE_LEAKED_BLOCKS,
    REP_GATE_CYCLES,
    REP_GATE_POSSIBLE,        /* bytes of possible leaks */
    REP_GATE_PEAK,
    REP_GATE_ALLOCATIONS,
    REP_GATE_LEAK_PER_SITE,   /* bytes (with indirect) of the largest leak entry */
    REP_GATE_NGATES
};

/* Growth metrics compared with a baseline. */
enum rep_growth_id {
    REP_GROWTH_PEAK = 0,
    REP_GROWTH_ALLOCATIONS,
    REP_GROWTH_ALLOCATED,     /* bytes allocated over the run */
    REP_GROWTH_LEAKED,
    REP_GROWTH_NMETRICS
};

struct rep_gates {
    int set[REP_GATE_NGATES];          /* 1 when the gate is active */
    uint64_t limit[REP_GATE_NGATES];
    unsigned leak_kinds;               /* mask; 0 means the default */
    int growth_set[REP_GROWTH_NMETRICS];
    double growth_pct[REP_GROWTH_NMETRICS];  /* allowed relative growth, percent */
    uint64_t min_delta;                /* absolute floor for byte metrics */
    uint64_t min_delta_count;          /* absolute floor for allocations */
    int new_leaks_only;
    int allow_incomplete;              /* 0: an incomplete run fails the "capture" gate */
};

const char *rep_gate_name(int gate);          /* "max-leaked", ... */
const char *rep_growth_name(int metric);      /* "peak", ... */

struct rep_gate_result {
    char name[48];          /* "max-leaked", "growth peak", "new-leaks" */
    char value[64];         /* formatted value, e.g. "24000 B" or "+12.5% (+80000 B)" */
    char limit[64];         /* formatted limit */
    int pass;
    size_t noffending;      /* leak entries (indexes into run.leaks) behind a failure */
    size_t *offending;      /* sorted biggest first */
};

struct rep_check {
    size_t nresults;
    struct rep_gate_result results[REP_GATE_NGATES + REP_GROWTH_NMETRICS + 2];
    size_t failed;
    size_t nnotes;
    char notes[4][160];     /* e.g. processes without an exit snapshot */
};

/* Totals over a run as the gates see them (suppressed and baseline-matched
 * leak entries excluded from leaked_*). */
struct rep_run_totals {
    uint64_t leaked_bytes, leaked_blocks, cycles, possible_bytes, possible_blocks;
    uint64_t peak_bytes, allocations, allocated_bytes, max_site_bytes;
    uint32_t processes_without_snapshot;
};
void rep_run_totals(const struct rep_run *r, unsigned leak_kinds, struct rep_run_totals *t);

/* Bytes and blocks of a leak entry that count for the kinds in mask. */
uint64_t rep_ck_leak_bytes(const struct rep_ck_leak *l, unsigned mask);
uint64_t rep_ck_leak_blocks(const struct rep_ck_leak *l, unsigned mask);

/* Marks run leak entries whose stack key appears among base's leak entries
 * (in_baseline = 1). Returns the number marked, or -1 when out of memory. */
long rep_check_match_baseline(struct rep_run *run, const struct rep_run *base);

/* Evaluates the active gates (and growth gates when base is not NULL) over
 * run. A value equal to its limit passes. An incomplete run (damaged or
 * unfinished capture) adds a failing "capture" gate first, unless
 * g->allow_incomplete: figures cut short must not pass a gate silently.
 * Returns 0, or -1 + err (out of memory). rep_check_release frees the
 * offending lists. */
int rep_check_eval(const struct rep_run *run, const struct rep_run *base,
                   const struct rep_gates *g, struct rep_check *out,
                   char *err, size_t errlen);
void rep_check_release(struct rep_check *c);

#endif
