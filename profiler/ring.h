/* SPDX-License-Identifier: MIT
 *
 * ring.h - the protocol between the injected runtime (producer) and the
 * collector in the `heapgraph run` launcher (consumer).
 *
 * Each recorded process image creates one memfd, maps it MAP_SHARED, and hands
 * it to the collector over the control socket (HELLO, SCM_RIGHTS). The memfd
 * holds a struct rt_shm followed by RT_SHM_RINGS rings. Every thread of the
 * process owns one ring for its lifetime: a single-producer single-consumer
 * array of 32-byte slots. Because the collector maps the same pages, a crash,
 * abort() or SIGKILL of the target loses at most the record being written:
 * everything published (head advanced) is drained after the process dies.
 *
 * A full ring makes the producer wait (spin, then sched_yield/nanosleep) until
 * the collector advances tail; nothing is ever dropped. The collector drains
 * every ring ever claimed (rt_shm.rings_used) at least once a millisecond;
 * it never reads the others, so that a single-threaded process costs it one
 * page of ring headers, not RT_SHM_RINGS (each a page the kernel would
 * allocate and clear on the first read).
 *
 * Ordering across threads. Every record carries the time of the event
 * clock named by rt_shm.clock: CLOCK_MONOTONIC nanoseconds, or where the TSC
 * is invariant (constant rate, runs in every C-state, and the kernel's own
 * clocksource, which it is only when synchronized across CPUs) the TSC read
 * by `lfence; rdtsc`, four times cheaper than the vDSO clock_gettime.
 * A free takes its time *before* the real free() runs and an allocation takes
 * its time *after* the real allocator returned, so when thread B gets back an
 * address thread A freed, A's free time <= B's allocation time; at equal time
 * frees sort first. (For the TSC: A's read executes before its free's stores
 * retire, so before B can see them; B's lfence lets its read execute only
 * after the loads through which its allocator saw them, and B skips it only
 * while no second thread of its process claimed a ring, which A did before
 * its free; the counters of all CPUs agree.)
 * A process whose only thread with a ring is the one producer may stamp up to
 * 7 events in a row with the time of its last clock read, within one
 * collector tick (rt_shm.tick): a ring's times never step back, and at equal
 * times its own order is the program's. So the collector merges the rings of
 * a process by time, keeping each ring's order and sorting frees first only
 * between rings. It needs a watermark: it reads the clock (T), then for each
 * ring waits while `busy` is 1, then drains it. A producer sets busy = 1
 * before it reads the clock and clears it after publishing; so any event with
 * time < T is either published when the collector looks, or its ring was
 * busy. That needs the store of busy to be visible before the collector reads
 * it, although the producer's CPU may still hold it in its store buffer after
 * reading the clock.
 * rt_shm.fence says who pays for that: RT_FENCE_LOCKED, every publication
 * (a locked exchange, about 20 cycles that also stall the clock read's
 * lfence); RT_FENCE_MEMBARRIER, the collector, once per drain: the runtime
 * registered the process for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) and
 * the collector calls it between reading T and reading the flags, which runs a
 * full barrier on every CPU that runs one of the process's threads (a thread
 * that is not running passed one when it was switched out).
 * Events with time < T are then final and can be merged and written. The
 * collector compares TSC values as read and converts them to nanoseconds
 * only to write them, with one fixed rate per run, so order is kept exactly.
 *
 * Shared with: profiler/ (runtime and collector). Holds no code.
 */
#ifndef HG_RING_H
#define HG_RING_H

#include <stdatomic.h>
#include <stdint.h>

#define RT_SHM_MAGIC 0x48475348u /* "HGSH" */
#define RT_PROTO_VERSION 6u
#define RT_SHM_RINGS 128u        /* threads alive at once; more wait for a ring */
#define RT_RING_SLOTS 32768u     /* power of two: 1 MiB of slots per ring */

/* Environment the launcher sets for the runtime. */
#define RT_ENV_SOCK "HEAPGRAPH_SOCK"     /* abstract unix socket name, without the leading NUL */
#define RT_ENV_PYALLOC "HEAPGRAPH_PYTHON_ALLOCATOR" /* "pymalloc": wrap CPython's PyMem domains */
#define RT_ENV_SNAPSIG "HEAPGRAPH_SNAPSHOT_SIGNAL" /* number; default RT_SNAPSHOT_SIGNAL_OFFSET */
#define RT_SNAPSHOT_SIGNAL_OFFSET 7      /* SIGRTMIN + 7 requests a snapshot */

/* One slot. Records that need more room continue in the following slots
 * (RT_REC_STACK, RT_REC_BLOB); a record may wrap around the end of the ring. */
struct rt_rec {
    uint32_t type;    /* enum rt_rec_type in bits 0-7, RT_F_* flags above */
    uint32_t u32;     /* stack id, blob length, ... (per type) */
    uint64_t time_ns; /* event clock (rt_shm.clock); for RT_REC_EDGE: source offset */
    uint64_t a;
    uint64_t b;
};

enum rt_rec_type {
    RT_REC_ALLOC = 1, /* u32 stack id, a addr, b size; RT_F_ALIGN_SHIFT: log2 alignment */
    RT_REC_FREE,      /* a addr (never NULL) */
    RT_REC_STACK,     /* u32 stack id, a nframes, b module generation;
                         then ceil(nframes/4) slots of uint64_t frames, innermost
                         first: the native frames, then the Python frames
                         (bit 63 set, rt_pyframe.h RT_PYF_*). */
    RT_REC_BLOB,      /* u32 payload bytes, a enum rt_blob_kind;
                         then ceil(len/32) slots holding the payload struct */
    RT_REC_FORK,      /* time = just before fork(); a = child pid (parent side) */
    RT_REC_EXEC,      /* a = 0 exec is about to happen, 1 the exec failed */
    RT_REC_EXIT,      /* a = status, b = enum rt_exit_how */
    RT_REC_EDGE,      /* time_ns = offset in source, a = source (block index, or
                         root id | RT_EDGE_ROOT), b = target block index,
                         u32 = offset of the pointer inside the target (0: start) */
    RT_REC_SNAP_END,  /* a = snapshot id, b = edges emitted, u32 = enum rt_snap_status */
    RT_REC_PYOBJ,     /* a Python object of the snapshot under way: a = block index,
                         b = reference count, u32 = type id (RT_BLOB_PYTYPE),
                         time_ns = offset of the object in its block | flags << 32
                         (HG_PYO_* of capture.h) */
    RT_REC_PYPART,    /* a block that belongs to a Python object: a = block index,
                         b = owner block index, u32 = role (enum hg_py_part),
                         time_ns = role's a | role's b << 32 */
    RT_REC_SPAWN,     /* a = pid of a program started with posix_spawn, or exec'd
                         by a vfork child (which writes it into the ring of the
                         thread its parent suspended); b = 0 started, 1 the vfork
                         child's exec failed */
};

/* Slots a record takes: RT_REC_STACK and RT_REC_BLOB continue in the
 * slots that follow their header slot. */
#define RT_SLOT_FRAMES 4u /* frames of an RT_REC_STACK per continuation slot */
#define RT_STACK_SLOTS(nframes) (1u + ((nframes) + RT_SLOT_FRAMES - 1) / RT_SLOT_FRAMES)
#define RT_BLOB_SLOTS(len) (1 + ((len) + sizeof(struct rt_rec) - 1) / sizeof(struct rt_rec))

/* flags in rt_rec.type */
#define RT_REC_TYPE_MASK 0xffu        /* bits 0-7: enum rt_rec_type */
#define RT_F_REALLOC (1u << 8)        /* FREE/ALLOC halves of one realloc */
#define RT_F_GC (1u << 9)             /* FREE: made by Python's garbage collector */
#define RT_F_PYOBJ (1u << 10)         /* FREE with RT_F_GC: the block held a Python object */
#define RT_F_ALIGN_SHIFT 16           /* bits 16-23: log2(alignment), 0 = default */
#define RT_F_ALIGN_MASK (0xffu << RT_F_ALIGN_SHIFT)
#define RT_EDGE_ROOT (1ull << 63)

enum rt_exit_how { RT_EXIT_RETURN = 0, RT_EXIT_EXIT = 1, RT_EXIT__EXIT = 2 };
enum rt_snap_status { RT_SNAP_OK = 0, RT_SNAP_PARTIAL = 1 /* a thread could not be stopped */ };

enum rt_blob_kind {
    RT_BLOB_MODULE = 1,    /* struct rt_blob_module + segs + build-id + path */
    RT_BLOB_MODULE_UNLOAD, /* struct rt_blob_module_unload */
    RT_BLOB_THREAD,        /* struct rt_blob_thread + name: a thread started (or the main thread at init) */
    RT_BLOB_THREAD_NAME,   /* struct rt_blob_thread + name */
    RT_BLOB_THREAD_END,    /* struct rt_blob_thread, no name */
    RT_BLOB_ROOT,          /* struct rt_blob_root */
    RT_BLOB_NOTE,          /* UTF-8 text: something the runtime found (said once) */
    RT_BLOB_PYCODE,        /* struct rt_blob_pycode + name + file + line table */
    RT_BLOB_PYTYPE,        /* struct rt_blob_pytype + name + fields */
    RT_BLOB_PYNAME,        /* struct rt_blob_pyname + text */
    RT_BLOB_PYFRAMEROOT,   /* struct rt_blob_pyframeroot + function + file + names */
    RT_BLOB_PYGC,          /* struct rt_blob_pygc */
    RT_BLOB_PYTHON,        /* struct rt_blob_python: the process runs CPython */
    RT_BLOB_LOSS,          /* UTF-8 text: events were lost (said once per message) */
};

struct rt_blob_seg {
    uint64_t vaddr; /* p_vaddr of a PT_LOAD; runtime address = bias + vaddr */
    uint64_t memsz;
    uint32_t flags; /* p_flags (PF_R/PF_W/PF_X) */
    uint32_t pad;
};

struct rt_blob_module {
    uint32_t module_id;  /* per process image, from 1, never reused */
    uint32_t generation; /* module-map generation after this load */
    uint64_t bias;       /* dlpi_addr */
    uint16_t nseg;
    uint16_t build_id_len;
    uint32_t path_len;   /* bytes, no NUL */
    /* followed by nseg struct rt_blob_seg, build-id bytes, path bytes */
};

struct rt_blob_module_unload {
    uint32_t module_id;
    uint32_t generation; /* generation after the unload */
};

struct rt_blob_thread {
    uint32_t thread_index; /* ring index is not the thread index: indexes count up from 0 */
    int32_t tid;
    uint64_t stack_lo, stack_hi;
    uint32_t name_len; /* bytes, no NUL */
    uint32_t pad;
};

/* The collector copies the kind into the capture: values are the capture's
 * (enum hg_root_kind). */
enum rt_root_kind { RT_ROOT_GLOBAL = 0, RT_ROOT_STACK = 1, RT_ROOT_TLS = 2, RT_ROOT_REGISTER = 3, RT_ROOT_OTHER = 4,
                    RT_ROOT_PYFRAME = 5, /* a Python frame's locals: RT_BLOB_PYFRAMEROOT */
                    RT_ROOT_MAPPED = 6 /* memory the program mapped for itself */ };

struct rt_blob_root {
    uint32_t snapshot_id;
    uint32_t root_id;   /* per snapshot, from 0 */
    uint32_t kind;      /* enum rt_root_kind */
    uint32_t owner;     /* module id (GLOBAL, TLS of a module) or thread index (STACK, REGISTER, TLS) */
    uint64_t start, size;
};

/* A Python code object, sent once (per address generation) before the
 * first stack that names it: what its frames need to be named offline. */
struct rt_blob_pycode {
    uint32_t code_id;    /* per process image, from 1; 0 is never sent */
    int32_t first_line;  /* co_firstlineno */
    uint32_t name_len;   /* co_qualname (3.11+) or co_name, UTF-8 */
    uint32_t file_len;   /* co_filename, UTF-8 */
    uint32_t table_len;  /* the line table's bytes (format: by version, HG_REC_PYCODE) */
    uint32_t pad;
    /* followed by name, file, table */
};

/* How the objects of a CPython process are allocated (rt_pymem.h). */
enum rt_py_allocator {
    RT_PYALLOC_UNKNOWN = 0,     /* not known yet (the interpreter has not started) */
    RT_PYALLOC_MALLOC,          /* PYTHONMALLOC=malloc: every object is its own block */
    RT_PYALLOC_PYMALLOC,        /* pymalloc, every object recorded through the runtime's
                                   wrappers of the PyMem and PyObject domains */
    RT_PYALLOC_PYMALLOC_UNSEEN, /* pymalloc unwrapped: objects inside its arenas are not recorded */
};

/* Python objects: the values of capture.h's HG_PYK_*, HG_PYT_*, HG_PYO_*,
 * HG_PYP_*, HG_PYN_* and HG_GC_* (the collector checks they agree). */
enum rt_py_kind {
    RT_PYK_OTHER = 0, RT_PYK_LIST, RT_PYK_TUPLE, RT_PYK_DICT, RT_PYK_SET, RT_PYK_STR,
    RT_PYK_MODULE, RT_PYK_TYPE, RT_PYK_FUNCTION, RT_PYK_CELL, RT_PYK_METHOD, RT_PYK_FRAME,
    RT_PYK_CODE, RT_PYK_GENERATOR, RT_PYK_BYTES, RT_PYK_INT, RT_PYK_FLOAT, RT_PYK_WEAKREF,
};
#define RT_PYT_GC 1u
#define RT_PYT_MANAGED_DICT 2u
#define RT_PYT_FINALIZER 4u
#define RT_PYT_HEAP 8u
#define RT_PYO_TRACKED 1u
#define RT_PYO_FINALIZED 2u
enum rt_py_part { RT_PYP_LIST_ITEMS = 1, RT_PYP_DICT_KEYS, RT_PYP_DICT_VALUES, RT_PYP_SET_TABLE,
                  RT_PYP_ATTR_DICT };
enum rt_py_name { RT_PYN_STR = 0, RT_PYN_NAME, RT_PYN_WELL_KNOWN, RT_PYN_KEYS };
enum rt_gc_kind { RT_GC_COLLECTION = 0, RT_GC_BEFORE, RT_GC_STATE };

/* A Python type (capture.h HG_REC_PYTYPE), sent once per type id before the
 * first RT_REC_PYOBJ that uses it. Followed by the name and nfields x
 * (struct rt_blob_pyfield + name). */
struct rt_blob_pytype {
    uint32_t type_id;
    uint32_t kind;      /* enum hg_py_kind */
    uint32_t flags;     /* HG_PYT_* */
    uint32_t items_off;
    uint32_t name_len;
    uint32_t nfields;
};

struct rt_blob_pyfield {
    int32_t offset;     /* from the object's address */
    uint32_t name_len;
};

/* A text of the snapshot under way (HG_REC_PYNAMES), followed by the text. */
struct rt_blob_pyname {
    uint32_t snapshot_id;
    uint32_t block;
    uint32_t kind;      /* enum hg_py_name */
    uint32_t len;
};

/* The Python frame whose locals a RT_ROOT_PYFRAME root is, followed by the
 * function, the file and nnames x (uint32_t length + name). */
struct rt_blob_pyframeroot {
    uint32_t snapshot_id, root_id, thread_index, line;
    uint32_t func_len, file_len, nnames, pad;
};

/* The garbage collector (HG_REC_GC); fields per kind (enum hg_gc_kind):
 * COLLECTION generation, t0 and t1 (event clock), collected, uncollectable;
 * BEFORE generation, t0, collections, collected, uncollectable; STATE
 * generation = the snapshot id, collections = enabled, collected = objects
 * in gc.garbage. */
struct rt_blob_pygc {
    uint32_t kind;
    uint32_t generation;
    uint64_t t0, t1;
    uint64_t collections, collected, uncollectable;
};

/* The interpreter found in the process (rt_python.h), once; again with the
 * allocator once the interpreter has started. */
struct rt_blob_python {
    uint32_t version;   /* PY_VERSION_HEX */
    uint32_t module_id; /* the module that holds it */
    uint32_t frames;    /* 1: stacks carry its frames; 0: not supported (a NOTE says why) */
    uint32_t allocator; /* enum rt_py_allocator */
};

enum rt_clock {
    RT_CLOCK_MONOTONIC = 0, /* CLOCK_MONOTONIC nanoseconds */
    RT_CLOCK_TSC = 1,       /* x86 time-stamp counter ticks */
};

enum rt_fence {
    RT_FENCE_LOCKED = 0,     /* producers set busy with a locked exchange */
    RT_FENCE_MEMBARRIER = 1, /* producers store busy; the collector calls membarrier */
};

enum rt_ring_state { RT_RING_FREE = 0, RT_RING_ACTIVE = 1, RT_RING_CLOSED = 2 };

struct rt_ring {
    _Atomic uint64_t head; /* slots published; written by the producer only */
    char pad0[56];
    _Atomic uint64_t tail; /* slots consumed; written by the collector only */
    char pad1[56];
    _Atomic uint32_t busy;  /* see the file comment */
    _Atomic uint32_t state; /* enum rt_ring_state; CLOSED -> FREE by the collector once drained */
    uint32_t thread_index;
    int32_t tid;
    char pad2[48];
    struct rt_rec slots[RT_RING_SLOTS];
};

struct rt_shm {
    uint32_t magic;   /* RT_SHM_MAGIC */
    uint32_t version; /* RT_PROTO_VERSION */
    uint32_t nrings;  /* RT_SHM_RINGS */
    uint32_t ring_slots;
    _Atomic uint32_t next_thread_index;
    _Atomic uint32_t degraded; /* nonzero once the runtime lost precision (said in a NOTE) */
    uint32_t clock;   /* enum rt_clock: what rt_rec.time_ns counts; set before HELLO */
    uint32_t fence;   /* enum rt_fence: how busy = 1 is made visible; set before HELLO */
    /* Rings claimed so far are among rings[0..rings_used). A producer raises
     * it (a locked compare-exchange) after claiming its ring and before its
     * first busy = 1, so a collector that reads it after its watermark's
     * fence sees every ring an event older than the watermark can be in. */
    _Atomic uint32_t rings_used;
    /* Raised by the collector at every drain (its tick, 1 ms): a producer
     * reuses an event time only within one tick (rt_rec.h). */
    _Atomic uint32_t tick;
    char pad[24];
    struct rt_ring rings[]; /* nrings */
};

#define RT_SHM_SIZE (sizeof(struct rt_shm) + (uint64_t)RT_SHM_RINGS * sizeof(struct rt_ring))

/* Control socket: SOCK_SEQPACKET, abstract name from RT_ENV_SOCK. One
 * connection per process image; its EOF tells the collector the image is gone
 * (exit, crash, kill or exec). */
enum rt_msg_type {
    RT_MSG_HELLO = 1, /* runtime -> collector, carries the memfd (SCM_RIGHTS) */
    RT_MSG_SNAP_REQ,  /* runtime -> collector: all other threads are stopped */
    RT_MSG_SNAP_LIVE, /* collector -> runtime, carries a memfd of struct rt_live */
};

/* UNSEEN: a HELLO without rings from a child made by a clone or fork system
 * call that ran no fork handler (raw clone, clone3, syscall(SYS_fork),
 * _Fork): the runtime does not record it, the collector notes it. */
/* RECONNECT: a HELLO without rings from a recording image whose program
 * closed the runtime's connection (a daemon closing what it inherited);
 * the collector gives the image's stream this connection. */
enum rt_origin { RT_ORIGIN_ROOT = 0, RT_ORIGIN_FORK = 1, RT_ORIGIN_EXEC = 2, RT_ORIGIN_UNSEEN = 3,
                 RT_ORIGIN_RECONNECT = 4 };

struct rt_msg {
    uint32_t type;
    uint32_t origin;     /* HELLO: enum rt_origin; ROOT and EXEC both mean a fresh image */
    int32_t pid, ppid;
    uint64_t time_ns;    /* CLOCK_MONOTONIC. HELLO: runtime init time; SNAP_REQ: request time */
    uint32_t snapshot_id;/* SNAP_REQ / SNAP_LIVE */
    uint32_t reason;     /* SNAP_REQ: 0 exit, 1 request */
    uint64_t count;      /* SNAP_LIVE: number of live blocks */
    uint32_t argv_len;   /* HELLO: bytes of NUL-separated argv that follow */
    uint32_t exe_len;    /* HELLO: bytes of the executable path that follow argv */
};

/* SNAP_LIVE memfd content: `count` blocks sorted by address, the process's
 * live blocks at the moment of the request. Edge indexes refer to this order. */
struct rt_live {
    uint64_t addr;
    uint64_t size;
};

#endif
