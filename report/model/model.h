/* SPDX-License-Identifier: MIT
 *
 * model.h - the in-memory model of a capture: what the reader and the replay
 * of its event streams produce, and what every renderer (text, JSON, HTML,
 * folded stacks) and every CI consumer (check, diff, suppressions, baselines)
 * reads. Nothing downstream re-reads a capture file.
 *
 * Life cycle:
 *
 *     char err[256];
 *     struct rep_capture *cap = rep_capture_open(path, NULL, err, sizeof err);
 *     if (!cap) -> err says why (not a capture, newer version, unreadable)
 *     rep_capture_symbolize(cap, err, sizeof err);   stacks get names
 *     rep_capture_classify(cap, err, sizeof err);    snapshots get leak classes
 *                                  (report/analysis/classify.h)
 *     ... read cap ...
 *     rep_capture_close(cap);                        frees everything below
 *
 * Ownership: one capture owns all its memory. Every pointer reachable from a
 * struct rep_capture (strings, arrays, stacks, frames, snapshots, leaks) is
 * valid until rep_capture_close() and must not be freed or modified by the
 * caller. Symbol strings belong to the capture's symbolizer, also freed by
 * rep_capture_close(). The model is const all the way down for renderers and
 * gates; the passes that finish it (rep_capture_symbolize,
 * rep_capture_classify, rep_supp_filter_capture) take a non-const capture
 * and change it through the writable view the replay keeps (replay.h), never
 * by casting const away.
 *
 * Damage: a corrupt or truncated capture is not an error. The reader stops at
 * the first damaged chunk or record, keeps everything before it, and records
 * where and why in damage_offset / damage_message. Only a file that is not a
 * capture at all, a newer format version, or an I/O or memory failure make
 * rep_capture_open() return NULL.
 *
 * Counting conventions (docs/report.md says the same for users):
 * - allocations: every block made in this process (malloc & co, and the new
 *   block of each realloc). Blocks inherited at fork are not allocations of
 *   the child; they are counted in inherited_blocks and are live from the
 *   start.
 * - frees: every known block that ended (free, and the old block of each
 *   realloc). frees_unknown: frees of addresses that were not live blocks.
 *   So inherited_blocks + allocations - frees == live_blocks at the end.
 * - temporary: a block freed (by free, not by realloc) by the thread that
 *   made it, with no other allocation by that thread in between.
 * - peak: the largest heap in use (sum of live block sizes, inherited blocks
 *   included) over the event order; the first moment it was reached. Every
 *   site's bytes and blocks at that moment are exact.
 */
#ifndef HG_REP_MODEL_H
#define HG_REP_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* How a process began, how it ended, and the kinds of scan roots. The values
 * are the capture's own (reader.c asserts it), so that renderers need not
 * include the capture format. */
enum rep_origin { REP_ORIGIN_ROOT = 0, REP_ORIGIN_FORK, REP_ORIGIN_EXEC, REP_ORIGIN_SPAWN };
enum rep_end { REP_END_EXIT = 0, REP_END_SIGNAL, REP_END_EXEC, REP_END_UNKNOWN };
#define REP_END_F_CORE 1u       /* core dumped */
#define REP_END_F_SNAPSHOT 2u   /* an exit snapshot was taken */
/* How a CPython process allocates its objects (HG_REC_PYTHON). */
enum rep_py_allocator {
    REP_PYALLOC_UNKNOWN = 0,     /* not said (the interpreter never started) */
    REP_PYALLOC_MALLOC,          /* PYTHONMALLOC=malloc: every object its own block */
    REP_PYALLOC_PYMALLOC,        /* pymalloc, every object recorded as a block */
    REP_PYALLOC_PYMALLOC_UNSEEN, /* pymalloc, objects inside its arenas not recorded */
};

/* The report's name of an allocator ("malloc", "pymalloc",
 * "pymalloc-unrecorded"), NULL for REP_PYALLOC_UNKNOWN. */
const char *rep_py_allocator_name(unsigned a);

enum rep_root_kind { REP_ROOT_GLOBAL = 0, REP_ROOT_STACK, REP_ROOT_TLS, REP_ROOT_REGISTER,
                     REP_ROOT_OTHER, REP_ROOT_PYFRAME, REP_ROOT_MAPPED };

/* Python objects (capture.h mirrors them: the values are the capture's). */
enum rep_py_kind { REP_PYK_OTHER = 0, REP_PYK_LIST, REP_PYK_TUPLE, REP_PYK_DICT, REP_PYK_SET,
                   REP_PYK_STR, REP_PYK_MODULE, REP_PYK_TYPE, REP_PYK_FUNCTION, REP_PYK_CELL,
                   REP_PYK_METHOD, REP_PYK_FRAME, REP_PYK_CODE, REP_PYK_GENERATOR,
                   REP_PYK_BYTES, REP_PYK_INT, REP_PYK_FLOAT, REP_PYK_WEAKREF };
#define REP_PYT_GC 1u           /* instances are tracked by the garbage collector */
#define REP_PYT_MANAGED_DICT 2u /* instances keep their attributes before the object */
#define REP_PYT_FINALIZER 4u    /* instances have a finalizer (__del__) */
#define REP_PYT_HEAP 8u         /* a class made by a class statement */
#define REP_PYO_TRACKED 1u      /* in the collector's lists */
#define REP_PYO_FINALIZED 2u    /* its finalizer has run */
enum rep_py_part { REP_PYP_NONE = 0, REP_PYP_LIST_ITEMS, REP_PYP_DICT_KEYS, REP_PYP_DICT_VALUES,
                   REP_PYP_SET_TABLE, REP_PYP_ATTR_DICT };
enum rep_py_name { REP_PYN_STR = 0, REP_PYN_NAME, REP_PYN_WELL_KNOWN, REP_PYN_KEYS };

/* Reachability classes of a snapshot's blocks (report/analysis/graph.h). */
enum rep_kind { REP_KIND_REACHABLE = 0, REP_KIND_POSSIBLE, REP_KIND_DEFINITE,
                REP_KIND_CYCLE, REP_KIND_INDIRECT };

#define REP_GRAPH_ROOT 0x80000000u      /* src = REP_GRAPH_ROOT | root id */

/* One pointer found by the scanner: the word at src_off inside block (or
 * root) src points dst_off bytes into block dst; dst_off 0 is a start pointer,
 * anything else an interior pointer. A block pointing to itself is an edge. */
struct rep_graph_edge {
    uint32_t src, dst;
    uint64_t src_off;
    uint32_t dst_off;
};

struct sym_ctx;
struct rep_arena;
struct rep_replay;

/* One frame of a symbolized stack. */
struct rep_frame {
    const char *function;   /* demangled; NULL when unknown */
    const char *file;       /* NULL when unknown */
    unsigned line;          /* 0 when unknown */
    const char *module;     /* module path, never NULL ("?" when none; "python" for
                               Python frames) */
    uint64_t address;       /* runtime address (0 for Python frames) */
    uint64_t offset;        /* address - module bias, for "module+0xoffset"; for a
                               Python frame the instruction's byte offset */
    int inlined;            /* 1 for an inline frame inside the next (outer) frame */
    int python;             /* 1: a Python frame (function is the code's qualified
                               name, file and line come from the code object) */
};

/* A stack as recorded (stack id of its stream) and, after
 * rep_capture_symbolize(), as shown: frames innermost first, with the frames
 * of the runtime and of allocation wrappers (operator new, strdup, ...)
 * dropped from the top. In a process running CPython, the Python frames take
 * the place of the eval-loop call that ran them (a C extension's frames stay
 * above the Python line that called it), and the interpreter's own frames
 * (and the C library's below the outermost Python frame) are dropped unless
 * rep_capture.interpreter_frames is set. */
struct rep_stack {
    uint32_t id;            /* stack id within the stream */
    uint32_t generation;    /* module-map generation the addresses belong to */
    int defined;            /* 0: events used the id but no STACK record came */
    uint32_t nraw;
    const uint64_t *raw;    /* return addresses, innermost first, then the Python
                               frames (capture.h HG_PYF_*) */
    uint32_t nframes;       /* 0 until symbolized (or when nothing is left) */
    const struct rep_frame *frames;
    /* The innermost frame left out in front of the first frame shown, other
     * than an allocation wrapper's: in a Python stack, the interpreter's
     * function that made the block (list_resize, object_new, new_values);
     * NULL when the stack shows where it starts. */
    const struct rep_frame *made_by;
};

/* An allocation site: everything allocated from one stack. sites[i] of a
 * process describes stacks[i] of the same process (site->stack ==
 * &process->stacks[i]). */
struct rep_site {
    const struct rep_stack *stack;
    uint64_t allocations, bytes;       /* made here over the whole run */
    uint64_t temporary;                /* of which were temporaries */
    uint64_t live_blocks, live_bytes;  /* live at the end of the stream */
    uint64_t peak_blocks, peak_bytes;  /* live at the moment of the process's peak */
    uint64_t gc_freed, gc_freed_bytes; /* blocks made here that the garbage collector freed */
    uint64_t gc_freed_objects;         /* of which were Python objects */
};

struct rep_segment {
    uint64_t vaddr, memsz;  /* as in the program header; runtime address = bias + vaddr */
    uint32_t flags;         /* p_flags */
};

/* A module mapping. It is part of the module map of generations
 * [generation, unload_generation). */
struct rep_module {
    uint32_t id;                 /* module id within the stream */
    uint32_t generation, unload_generation;   /* UINT32_MAX: never unloaded */
    uint64_t load_us, unload_us;
    uint64_t bias;
    const char *path;
    const uint8_t *build_id;
    size_t build_id_len;
    uint32_t nsegments;
    const struct rep_segment *segments;
    uint32_t sym_key;            /* key of this module in the capture's sym_ctx, unique
                                    in the capture */
};

struct rep_thread {
    uint32_t index;              /* thread index within the stream */
    int32_t tid;
    int seen;                    /* 0: events used the index but no THREAD record came */
    uint64_t start_us, end_us;   /* end_us 0: no THREAD_END */
    uint64_t stack_lo, stack_hi;
    const char *name;            /* NULL when unnamed */
};

struct rep_sample {
    uint64_t time_us, heap_bytes, rss_bytes;
};

/* A live block of a snapshot. */
struct rep_block {
    uint64_t addr, size;
    uint64_t number;             /* allocation number within the stream */
    uint32_t site;               /* index into the process's sites */
    const char *type;            /* Python type name (HG_REC_BLOCKTYPE) or NULL */
};

/* A named pointer field of a Python type's instances. offset is from the
 * object's address (negative: before it, in the pre-header). */
struct rep_pyfield {
    int64_t offset;
    const char *name;
};

/* A Python type of a process (HG_REC_PYTYPE). */
struct rep_pytype {
    uint32_t id;                 /* the runtime's type id */
    uint8_t kind;                /* enum rep_py_kind */
    uint32_t flags;              /* REP_PYT_* */
    uint64_t items_offset;       /* tuple-like: offset of item 0 in the object; 0: none */
    const char *name;
    uint32_t nfields;
    const struct rep_pyfield *fields;
};

/* What a snapshot knows of one of its blocks in a Python process
 * (snapshot->py[i] describes blocks[i]). A block is a Python object
 * (type != 0), belongs to one (role != 0: list items, dict keys or values,
 * or a dict holding the owner's attributes; a dict object may be both), or
 * neither: native memory. */
struct rep_pyblock {
    uint32_t type;               /* 1 + index into the process's pytypes; 0: not an object */
    uint32_t offset;             /* the object's address minus the block's */
    uint64_t refcnt;             /* its reference count at the snapshot */
    uint8_t flags;               /* REP_PYO_* */
    uint8_t role;                /* enum rep_py_part */
    uint8_t text_kind;           /* enum rep_py_name, when text */
    uint32_t owner;              /* role: block index of the owner object */
    uint32_t a, b;               /* role: as capture.h's enum hg_py_part says */
    const char *text;            /* a str's text, an object's name, a well-known name, the keys
                                    of a keys table (NUL-separated); or NULL */
    uint32_t text_len;           /* bytes of text */
};

/* A Python frame whose local variables are the root of that id. */
struct rep_pyframe_root {
    uint32_t root_id;
    uint32_t thread;             /* thread index */
    unsigned line;
    const char *function, *file;
    uint32_t nnames;
    const char *const *names;    /* word i of the root is the local names[i] */
};

/* One collection of the cyclic garbage collector (HG_REC_GC). */
struct rep_gc {
    uint64_t time_us, duration_us;
    uint32_t generation;
    uint64_t collected, uncollectable;
};

/* Per generation: what the collector did (before recording began, and in all). */
struct rep_gc_gen {
    uint64_t collections, collected, uncollectable;  /* in all (before included) */
    uint64_t before_collections, before_collected, before_uncollectable;
    uint64_t pause_us, longest_us;                    /* recorded collections only */
};

struct rep_root {
    uint32_t id;
    uint8_t kind;                /* enum rep_root_kind */
    uint32_t owner;              /* module id (GLOBAL, module TLS) or thread index */
    uint64_t start, size;
};

struct rep_class_count {
    uint64_t blocks, bytes;
};

/* The summary counts of one classified snapshot: definite + cycle + indirect
 * is every lost block, each counted once; possible and reachable complete
 * the live set. */
struct rep_summary {
    struct rep_class_count definite, cycle, indirect, possible, reachable;
};

/* Kinds of leak entries, the one list for the model, the CI run
 * (report/gate/gates.h), suppressions and every output, in the order of the
 * classification's classes. INDIRECT is never an entry of its own: the
 * indirect blocks of a DEFINITE or CYCLE group come with it (indirect_*
 * below); it is a kind of the masks that select what counts (--leak-kinds,
 * match-leak-kinds), 1u << kind each. */
enum rep_leak_kind {
    REP_LEAK_DEFINITE = 0,  /* groups rooted at a definite block */
    REP_LEAK_CYCLE,         /* groups rooted at a root cycle */
    REP_LEAK_INDIRECT,      /* blocks held only by a group (masks only) */
    REP_LEAK_POSSIBLE,
    REP_LEAK_REACHABLE,
    REP_LEAK_NOT_FREED,     /* live at the end of a process with no exit snapshot */
    REP_LEAK_NKINDS
};

/* One step of a retention path: a block below the root. */
struct rep_path_step {
    uint32_t block;              /* index into the snapshot's blocks */
    uint64_t size;
    uint64_t offset;             /* offset of the pointer to this block inside the
                                    previous step (or inside the root) */
    uint32_t site;
};

/* What keeps a reachable entry alive: the root and the chain of blocks from
 * it down to the entry's first (lowest-address) block. */
struct rep_retention {
    uint8_t root_kind;           /* enum rep_root_kind */
    uint32_t root_id;
    uint32_t owner;              /* as in struct rep_root */
    uint64_t root_addr;          /* address of the pointer inside the root */
    const char *symbol;          /* GLOBAL: data symbol containing root_addr, after
                                    symbolization; else NULL */
    const char *module;          /* GLOBAL, TLS: module path; else NULL */
    const char *thread;          /* STACK, REGISTER, thread TLS: thread name or NULL */
    uint32_t npath;
    const struct rep_path_step *path;   /* path[npath-1] is the entry's block */
    /* In a Python snapshot, the same path as a Python developer names it
     * (report/analysis/pyobj.h): what holds it ("module global", "local
     * variable", "class attribute", ...) and an expression that reaches
     * the block ("app.CACHE['users'][3]"); NULL when the path has no
     * Python object. */
    const char *py_holder;
    const char *py_expr;
};

/* Leak entries aggregated by allocation stack (site), as the JSON "leaks"
 * array has them. For DEFINITE and CYCLE, blocks/bytes count the group roots
 * (the definite block, the members of the root cycle) allocated at the site
 * and indirect_* the blocks those groups hold; a cycle group counts under the
 * site of its first (lowest-address) Python object, or member when it has no
 * Python object. For POSSIBLE, REACHABLE and
 * NOT_FREED, blocks/bytes are the blocks of that class allocated at the site
 * and indirect_* are 0. */
struct rep_leak {
    uint8_t kind;                /* enum rep_leak_kind */
    uint32_t site;               /* index into the process's sites */
    uint64_t blocks, bytes;
    uint64_t indirect_blocks, indirect_bytes;
    uint32_t ngroups;            /* leak groups merged into this entry (DEFINITE/CYCLE) */
    uint32_t cycle;              /* CYCLE: index of its biggest cycle in snapshot cycles;
                                    else UINT32_MAX */
    const struct rep_retention *retained_by;   /* REACHABLE only, else NULL */
};

/* Whether Python's garbage collector can free a cycle. */
enum rep_pycycle_state {
    REP_PYC_NATIVE = 0,          /* no Python object in it */
    REP_PYC_PENDING,             /* only tracked objects: the next full collection frees it */
    REP_PYC_UNTRACKED,           /* an object the collector does not track holds it together */
    REP_PYC_NATIVE_LINK,         /* native memory (a C extension's) holds it together */
};

/* An unreachable cycle (root or not) with the edges that close it. */
struct rep_cycle {
    int root;                    /* 1: a leak group of its own; 0: held by other lost blocks */
    uint64_t bytes;
    uint32_t nmembers;
    const uint32_t *members;     /* block indexes, ascending */
    uint32_t nedges;
    const struct rep_graph_edge *edges;  /* src, dst are block indexes */
    /* Python snapshots (report/analysis/pyobj.h); zero otherwise. */
    uint32_t nobjects;           /* members that are Python objects */
    uint8_t py_state;            /* enum rep_pycycle_state */
    const char *const *labels;   /* per edge: "Node.peer", "list[3]", ...; NULL when native
                                    or when the edge only joins an object to its own part */
    const uint32_t *internal_refs;  /* per member: references to it from the cycle's members */
};

/* Cycles of a snapshot with the same shape, grouped: "50 cycles of 2 Node
 * objects made at make_pair (app.py:16), joined by Node.peer". */
struct rep_pycycle_group {
    uint32_t site;               /* allocation site of the cycles' first object */
    uint8_t state;               /* enum rep_pycycle_state */
    uint32_t ncycles;
    uint32_t objects;            /* Python objects per cycle */
    uint64_t blocks, bytes;      /* of all its cycles */
    const char *types;           /* "Node", "Node, dict" */
    const char *labels;          /* "Node.peer", "Node.parent, list[0]" */
    uint32_t first;              /* index of its first cycle in the snapshot's cycles */
};

/* Live Python objects of one type at a snapshot, and the change since the
 * snapshot before it of the same process. bytes counts the objects' blocks
 * and the blocks they own (list items, dict keys and values). */
struct rep_typestat {
    uint32_t type;               /* index into the process's pytypes */
    uint64_t count, bytes;
    int64_t delta_count, delta_bytes;
};

/* A leak entry that grew between the previous snapshot and this one. */
struct rep_growth {
    uint8_t kind;                /* enum rep_leak_kind */
    uint32_t site;
    uint64_t blocks, bytes;      /* in this snapshot */
    int64_t delta_bytes;         /* minus the previous snapshot's entry (0 if none) */
};

struct rep_snapshot {
    uint32_t id;
    uint64_t time_us;
    uint8_t reason;              /* 0 exit, 1 request */
    int have_blocks;             /* the HG_EV_MARK was replayed: blocks[] is set */
    int ended;                   /* HG_REC_SNAPSHOT_END seen */
    uint64_t end_us;             /* when it ended; 0 when the capture does not say */
    int partial;                 /* the runtime said partial, or the snapshot is incomplete */
    uint64_t bytes;              /* sum of block sizes */
    size_t nblocks;
    const struct rep_block *blocks;      /* sorted by address */
    size_t nroots;
    const struct rep_root *roots;
    size_t nedges;
    const struct rep_graph_edge *edges;  /* src: block index or REP_GRAPH_ROOT|root id */

    /* Set by rep_capture_classify(); zero before. */
    int classified;
    const uint8_t *kind;         /* per block: enum rep_kind */
    const uint8_t *judged;       /* per block: 1 when the process answers for it (a fork
                                    child's inherited blocks may not; docs/report.md);
                                    NULL when it answers for every block */
    struct rep_summary summary;  /* of the judged blocks */
    struct rep_class_count unjudged;   /* the others */
    size_t nleaks;
    const struct rep_leak *leaks;   /* DEFINITE and CYCLE by bytes+indirect bytes desc,
                                       then POSSIBLE by bytes, then REACHABLE by bytes */
    size_t ncycles;
    const struct rep_cycle *cycles;   /* by bytes desc; those with a judged member */
    size_t ngrew;
    const struct rep_growth *grew;    /* vs the previous snapshot of the process */

    /* Python objects (HG_REC_PY*), set by the reader; py is NULL when the
     * snapshot has none. */
    const struct rep_pyblock *py;     /* per block */
    size_t npyobjects;
    size_t npyframes;
    const struct rep_pyframe_root *pyframes;
    int gc_state_known;               /* the runtime said whether the collector was on */
    int gc_enabled;
    uint64_t gc_garbage;              /* objects in gc.garbage */
    /* Set by rep_capture_classify() for Python snapshots. */
    size_t ntypestats;
    const struct rep_typestat *typestats;   /* by bytes desc */
    size_t npycycle_groups;
    const struct rep_pycycle_group *pycycle_groups;  /* by bytes desc */
};

struct rep_process {
    uint32_t stream;             /* 1-based stream number */
    int32_t pid, ppid;
    const struct rep_process *parent;   /* the stream it forked/exec'd from, or NULL */
    const struct rep_process *exec_next; /* the image that exec replaced it with, or NULL */
    uint8_t origin;              /* enum rep_origin */
    const char *exe;
    size_t argc;
    const char *const *argv;

    int ended;                   /* a PROCESS_END record was read */
    uint8_t end_how;             /* enum rep_end; REP_END_UNKNOWN when !ended */
    int32_t end_code;            /* exit status or signal number */
    uint32_t end_flags;          /* REP_END_F_* */
    uint64_t start_us, end_us;   /* end_us: PROCESS_END time, else the last time seen */

    uint64_t events;             /* events replayed */
    uint64_t allocations, frees, frees_unknown, reallocs;
    uint64_t allocated_bytes;
    uint64_t inherited_blocks, inherited_bytes;
    uint64_t own_from;           /* a fork child's first allocation number of its own:
                                    the blocks numbered below are inherited (format 3
                                    keeps the parent's numbers, older formats number
                                    them 0..inherited_blocks-1) */
    uint64_t fork_number;        /* fork child: how many blocks its parent had made at the
                                    fork (the parent's blocks numbered below it existed
                                    then); 0 when the fork was not seen */
    uint64_t peak_bytes, peak_blocks, peak_time_us;
    uint64_t live_blocks, live_bytes;      /* at the end of the stream */
    /* Live at the end but not this process's to answer for (docs/report.md,
     * "Who answers for a block"): a fork child's inherited blocks whose fate
     * it did not change, or every block of an image replaced by exec. They
     * are in no leak entry and, for a snapshot, in no summary class, unless
     * the capture was opened with whole_heap. */
    uint64_t unjudged_blocks, unjudged_bytes;

    size_t nstacks;
    const struct rep_stack *stacks;        /* in order of first appearance */
    const struct rep_site *sites;          /* nstacks of them, sites[i] <-> stacks[i] */
    size_t npeak_sites;
    const uint32_t *peak_sites;            /* site indexes with bytes at the peak, by
                                              peak_bytes desc */
    /* Once symbolized, sites that read alike (a Python process's stacks that
     * differ only in hidden interpreter frames or in the instruction within
     * a line) count under the first of them, site_canon[i] (alike.c): the
     * others' figures are zero and no block or entry names them. NULL when
     * every site is its own. */
    const uint32_t *site_canon;
    size_t nmodules;
    const struct rep_module *modules;      /* in order of loading */
    size_t nthreads;
    const struct rep_thread *threads;      /* indexed by thread index */
    size_t nsamples;
    const struct rep_sample *samples;      /* by time */
    size_t nsnapshots;
    const struct rep_snapshot *snapshots;  /* by id */
    const struct rep_snapshot *exit_snapshot;   /* the reason-0 snapshot, or NULL */
    size_t nnotes;
    const char *const *notes;              /* the stream's HG_REC_NOTEs */
    size_t nlosses;
    const char *const *losses;             /* its notes of kind HG_NOTE_LOSS: what was
                                              not recorded */

    uint32_t python_version;     /* PY_VERSION_HEX of the CPython the process runs,
                                    0 when none was found */
    uint32_t python_module;      /* module id of the module that holds it */
    int python_frames;           /* 1: its stacks carry Python frames */
    uint8_t python_allocator;    /* enum rep_py_allocator */

    size_t npytypes;
    const struct rep_pytype *pytypes;      /* in order of appearance */
    size_t ngc;
    const struct rep_gc *gc;               /* recorded collections, by time */
    struct rep_gc_gen gc_gens[3];          /* per generation */
    int gc_seen;                           /* any HG_REC_GC came */
    uint64_t gc_freed, gc_freed_objects;   /* blocks (objects) the collector freed */

    /* The report's leak list: the exit snapshot's leaks once classified; for
     * a process without an exit snapshot, one REP_LEAK_NOT_FREED entry per
     * site with live blocks at the end (by live bytes desc), set by
     * rep_capture_open(). Either way only blocks the process answers for
     * (unjudged_* above): none for an image replaced by exec. */
    size_t nleaks;
    const struct rep_leak *leaks;
};

struct rep_capture {
    const char *path;
    uint32_t version;
    uint64_t start_realtime_ns, start_monotonic_ns;
    uint64_t file_size;

    int complete;                /* HG_REC_END was read */
    int damaged;                 /* reading stopped early */
    uint64_t damage_offset;      /* file offset of the first damaged chunk */
    const char *damage_message;  /* NULL when !damaged */
    uint64_t events;             /* events replayed, all streams */
    uint64_t chunks;             /* whole chunks read */

    size_t nnotes;
    const char *const *notes;    /* capture notes and reader notes (e.g. counts that
                                    disagree with HG_REC_END) */
    size_t nlosses;
    const char *const *losses;   /* the capture's notes of kind HG_NOTE_LOSS (a process
                                    that could not be recorded); each process has its own */
    size_t nprocesses;
    const struct rep_process *processes;   /* by stream number (processes[i].stream == i+1) */

    int symbolized, classified;
    int interpreter_frames;      /* set before rep_capture_symbolize(): keep the
                                    interpreter's own frames in Python stacks */
    int whole_heap;              /* opened with whole_heap (struct rep_open_opts) */
    size_t nwarnings;
    const char *const *warnings; /* the symbolizer's warnings, after symbolization */

    /* private */
    struct rep_arena *arena;
    struct sym_ctx *sym;
    struct rep_replay *replay;
};

/* Progress callback for long reads: done and total are file bytes. */
struct rep_open_opts {
    void (*progress)(void *progress_arg, uint64_t done, uint64_t total);
    void *progress_arg;
    void *arg;                   /* for block() below */
    /* Optional (NULL: never called), for renderers that show block lifetimes
     * (the HTML report's time-range selection): called as the replay applies
     * each event, in event order per stream. op 0: block `number` of `size`
     * bytes was made at `site` (index into the stream's sites); op 1: block
     * `number` (of that site and size) ended: a free, or the old block of a
     * realloc; temporary is 1 when that end made it a temporary. time_us is
     * the event's time. Inherited blocks have no op 0. */
    void (*block)(void *arg, uint32_t stream, int op, uint64_t number, uint32_t site,
                  uint64_t size, uint64_t time_us, int temporary);
    /* 1: judge a fork child on the whole heap it inherited, as if every
     * inherited block were its own (by default only the blocks whose fate
     * it changed count; docs/report.md). */
    int whole_heap;
};

/* Reads the capture at `path` and replays every stream, streaming: memory
 * grows with live blocks and distinct stacks, not with events. opts may be
 * NULL. Returns the capture (damaged or not; see damage_* above), or NULL
 * with a one-line message in err: "not a heapgraph capture", "capture format
 * version N is newer than this heapgraph (1)", an I/O error, out of memory. */
struct rep_capture *rep_capture_open(const char *path, const struct rep_open_opts *opts,
                                     char *err, size_t errlen);

/* Resolves every stack's addresses to frames (each distinct address once,
 * against the module map of the stack's generation), drops the runtime's
 * frames wherever they are and the allocation wrappers' from the top of each
 * stack (operator new/delete, malloc & co, strdup & co, the C++ allocator
 * plumbing). Missing debug info degrades to module+offset and a warning,
 * never a failure. Returns 0, or -1 + err (out of memory, the
 * symbolizer could not start). Calling it twice does nothing the second time. */
int rep_capture_symbolize(struct rep_capture *cap, char *err, size_t errlen);

/* 1 when `function` (a demangled name) allocates or only passes an
 * allocation on: the names of report/model/allocators.def and the C++
 * library's allocator plumbing, which rep_capture_symbolize() drops from the
 * top of stacks. */
int rep_is_allocator(const char *function);

/* Where a site starts in stack s: the index of its first frame outside the
 * allocation wrappers and the C library. Leading frames are skipped while
 * they are wrappers by name (anything with "alloc", "strdup" or "operator
 * new" in it, je_ and tc_ functions, rep_is_allocator's), frames of libc,
 * ld.so, libstdc++ or libpython before the first kept frame, or frames
 * without a name that a wrapper follows (its static helpers). A Python frame
 * ends the skip. libpython's frames stay when skipping them would leave the
 * process's or thread's entry first (main, _start, start_thread). 0 when
 * nothing would be left. */
uint32_t rep_stack_site(const struct rep_stack *s);

/* Frees the capture and everything it owns. NULL is fine. */
void rep_capture_close(struct rep_capture *cap);

/* Small helpers every renderer needs. */

/* The first frame worth naming in a stack (the first with a function name,
 * else the first), or NULL for an empty stack. */
const struct rep_frame *rep_stack_top(const struct rep_stack *s);

/* The thread of `index` in process p, or NULL. */
const struct rep_thread *rep_process_thread(const struct rep_process *p, uint32_t index);

/* Whether `sel` names p: NULL names every process, digits a pid, anything
 * else a command name (the last part of argv[0] or of the executable). */
int rep_process_selected(const struct rep_process *p, const char *sel);

/* The root with id `id` in snapshot s, or NULL. */
const struct rep_root *rep_snapshot_root(const struct rep_snapshot *s, uint32_t id);

/* The index of block in c->members (ascending), or where it would stand
 * when it is not a member. */
uint32_t rep_cycle_member(const struct rep_cycle *c, uint32_t block);

/* Name of a leak kind as every output writes it: "definite", "cycle",
 * "indirect", "possible", "reachable", "not_freed"; "?" for a bad value. */
const char *rep_leak_kind_name(unsigned kind);

#endif
