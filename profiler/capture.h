/* SPDX-License-Identifier: MIT
 *
 * capture.h - the heapgraph capture file format, version 2. The collector
 * (profiler/) writes it; the reader (report/) reads it. docs/capture-format.md
 * is the prose version of this header. Holds no code.
 *
 * Layout: a 32-byte header, then chunks. A chunk is a 16-byte chunk header and
 * one independent zstd frame that decompresses to raw_size bytes of records;
 * a chunk always ends on a record boundary. A file cut at any byte is readable
 * up to the last whole chunk before the cut; a damaged chunk (bad magic, sizes
 * past the end of file, zstd error, size mismatch) ends the readable part and
 * its offset is reported as the start of the damage. A complete file ends with
 * an HG_REC_END record.
 *
 * A record is: u8 type, varint payload length, payload. Readers skip record
 * types they do not know. All integers in payloads are unsigned LEB128 varints
 * unless said otherwise; a string is a varint length followed by its bytes (no
 * NUL); "zz" marks a zigzag-encoded signed varint. Times are microseconds since
 * the capture started (hg_cap_header.start_monotonic_ns).
 *
 * Streams: every process image (the launched program, each forked child, each
 * exec'd image) is one stream, numbered from 1 in order of appearance. A
 * record's first field is its stream number.
 */
#ifndef HG_CAPTURE_H
#define HG_CAPTURE_H

#include <stdint.h>

#define HG_CAP_MAGIC "HGCAPTUR"
#define HG_CAP_VERSION 3u
#define HG_CHUNK_MAGIC 0x4b434748u /* "HGCK" little-endian */
#define HG_CHUNK_MAX_RAW (4u << 20)

struct hg_cap_header {          /* little-endian, uncompressed, at offset 0 */
    char magic[8];              /* HG_CAP_MAGIC, no NUL */
    uint32_t version;           /* HG_CAP_VERSION; a reader refuses a newer one */
    uint32_t header_size;       /* 32 */
    uint64_t start_realtime_ns; /* CLOCK_REALTIME when recording started */
    uint64_t start_monotonic_ns;
};

struct hg_chunk_header {        /* little-endian, uncompressed */
    uint32_t magic;             /* HG_CHUNK_MAGIC */
    uint32_t comp_size;         /* bytes of the zstd frame that follows */
    uint32_t raw_size;          /* bytes it decompresses to, <= HG_CHUNK_MAX_RAW */
    uint32_t reserved;          /* 0 */
};

enum hg_rec_type {
    /* stream, pid, ppid, parent stream (0: none), origin (enum hg_origin),
       time, exe string, argc, argc strings */
    HG_REC_PROCESS = 1,
    /* stream, time, how (enum hg_end), code (exit status or signal number),
       flags (HG_END_F_*) */
    HG_REC_PROCESS_END = 2,
    /* stream, module id, generation, time, bias, path string, build-id
       (varint length + bytes), nseg, nseg x (vaddr, memsz, p_flags) */
    HG_REC_MODULE = 3,
    /* stream, module id, generation, time */
    HG_REC_MODULE_UNLOAD = 4,
    /* stream, thread index, tid, time, stack_lo, stack_hi, name string */
    HG_REC_THREAD = 5,
    /* stream, thread index, name string */
    HG_REC_THREAD_NAME = 6,
    /* stream, thread index, time */
    HG_REC_THREAD_END = 7,
    /* stream, stack id, module generation, nframes, nframes x frame
       (innermost first): the native frames (return addresses), then the
       Python frames (HG_PYF_*). Stack ids are per stream and may be used by
       events before the STACK record that defines them appears. */
    HG_REC_STACK = 8,
    /* stream, nevents, HG_EV_COLUMNS x column length (bytes), then the
       columns back to back; their lengths add up to the rest of the
       payload. nevents events are spread over the columns (see "Events"). */
    HG_REC_EVENTS = 9,
    /* stream, time, heap bytes in use, RSS bytes */
    HG_REC_SAMPLE = 10,
    /* stream (the child), parent stream, nblocks, nblocks x (addr zz-delta
       from the previous block's addr, starting at 0; size; parent stack id).
       Blocks the child inherited from its parent at fork; they take the
       child's allocation numbers 0..nblocks-1. Comes before the child's
       first HG_REC_EVENTS. A large set is split over several consecutive
       records: numbers continue, each record's addr deltas restart at 0.
       Written by format versions 1 and 2 (HG_REC_FORKED since). */
    HG_REC_INHERIT = 11,
    /* stream, snapshot id, time, reason (0 exit, 1 request), nblocks.
       The blocks are the stream's live blocks at the event-stream position of
       the matching HG_EV_MARK(HG_MARK_SNAPSHOT), sorted by address. */
    HG_REC_SNAPSHOT = 12,
    /* stream, snapshot id, root id, kind (enum hg_root_kind), owner (module
       id for GLOBAL and module TLS, thread index for STACK/REGISTER/thread
       TLS), start, size */
    HG_REC_ROOT = 13,
    /* stream, snapshot id, nedges, nedges x (src, src offset, dst block
       index, dst offset). src is 2*block index for a block, 2*root id+1 for a
       root. dst offset 0 is a start pointer, anything else interior. */
    HG_REC_EDGES = 14,
    /* stream, snapshot id, nedges in all, status (0 ok, 1 partial), then
       the time the snapshot ended (optional: older captures end before it) */
    HG_REC_SNAPSHOT_END = 15,
    /* stream, code id, first line, name string (qualified name from 3.11,
       else the name), file string, line table (varint length + bytes, in the
       format of the stream's HG_REC_PYTHON version: co_lnotab for 3.8-3.9,
       co_linetable for 3.10, the location table from 3.11). A Python code
       object; a code id may be used by stacks before its PYCODE record.
       (Format version 1 had HG_REC_PYFRAME here, which no runtime wrote.) */
    HG_REC_PYCODE = 16,
    /* stream, allocation number, type name string (Python object types) */
    HG_REC_BLOCKTYPE = 17,
    /* stream (0: the capture), time, text, then optionally a kind (enum
       hg_note_kind; absent: HG_NOTE_INFO): something degraded or failed */
    HG_REC_NOTE = 18,
    /* number of streams, number of events in all: last record of a complete file */
    HG_REC_END = 19,
    /* stream, version (PY_VERSION_HEX), module id, frames (1: stacks carry
       Python frames; 0: an interpreter the runtime does not support), then
       (if present) allocator (enum hg_py_allocator). A later record of the
       stream replaces an earlier one (the allocator is known once the
       interpreter has started). */
    HG_REC_PYTHON = 20,
    /* Python objects (docs/capture-format.md, "Python objects"). A stream's
     * type ids, from 1, are given by the runtime; a type record comes before
     * the first object record that uses its id.
     * stream, type id, kind (enum hg_py_kind), flags (HG_PYT_*), items
     * offset (offset of item 0 of an inline array of object pointers in the
     * object, tuple-like types; 0: none), name string, nfields, nfields x
     * (offset from the object's address, name string): the named pointer
     * fields of its instances. */
    HG_REC_PYTYPE = 21,
    /* stream, snapshot id, n, n x (block index delta, offset of the object
     * in its block, type id, reference count, flags (HG_PYO_*)). The block
     * index delta is from the previous object's index + 1 (in each record,
     * the first is from 0). Objects come in block order; a snapshot may have
     * several records. */
    HG_REC_PYOBJECTS = 22,
    /* stream, snapshot id, n, n x (block index, owner block index, role
     * (enum hg_py_part), a, b): blocks that belong to a Python object
     * (list items, dict keys and values) and dicts that hold an object's
     * attributes. a and b per role. */
    HG_REC_PYPARTS = 23,
    /* stream, snapshot id, n, n x (block index, kind (enum hg_py_name),
     * text string): the text of str objects, the names of modules, the
     * interpreter's well-known objects. */
    HG_REC_PYNAMES = 24,
    /* stream, snapshot id, root id, thread index, line, function string,
     * file string, nnames, nnames x name string: the Python frame that the
     * HG_ROOT_PYFRAME root of that id is the local variables of. */
    HG_REC_PYFRAMEROOT = 25,
    /* stream, kind (enum hg_gc_kind), then per kind: Python's cyclic
     * garbage collector */
    HG_REC_GC = 26,
    /* stream (the child), parent stream. The child inherits the blocks live
     * in its parent at the parent's HG_MARK_FORK that names it, keeping
     * their allocation numbers; its own allocations are numbered on from the
     * parent's next number. That mark comes before the child's first
     * HG_REC_EVENTS. Replaces HG_REC_INHERIT from format version 3: the
     * collector no longer sorts and writes the parent's heap at every fork
     * (a shell script's captures were mostly that). */
    HG_REC_FORKED = 27,
};
#define HG_REC_LAST HG_REC_FORKED

/* A Python frame in HG_REC_STACK: bit 63 set; bit 62 set on the outermost
 * frame an eval-loop call (_PyEval_EvalFrameDefault) runs, so the frames of
 * one call are a run ending at that bit; bits 32-61: the byte offset of the
 * instruction in the code, plus one (0: not started); bits 0-31: the code id
 * (HG_REC_PYCODE; 0: unknown). */
#define HG_PYF_PYTHON (1ull << 63)
#define HG_PYF_ENTRY (1ull << 62)
#define HG_PYF_POS(w) ((uint32_t)((w) >> 32) & 0x3fffffffu)
#define HG_PYF_CODE(w) ((uint32_t)(w))

/* HG_NOTE_LOSS: what was recorded is short of what happened (events a
 * runtime could not publish, a process that could not be recorded, ...). */
enum hg_note_kind { HG_NOTE_INFO = 0, HG_NOTE_LOSS = 1 };

enum hg_origin { HG_ORIGIN_ROOT = 0, HG_ORIGIN_FORK = 1, HG_ORIGIN_EXEC = 2, HG_ORIGIN_SPAWN = 3 };
enum hg_end { HG_END_EXIT = 0, HG_END_SIGNAL = 1, HG_END_EXEC = 2, HG_END_UNKNOWN = 3 };
#define HG_END_F_CORE 1u       /* core dumped */
#define HG_END_F_SNAPSHOT 2u   /* an exit snapshot was taken */
enum hg_root_kind { HG_ROOT_GLOBAL = 0, HG_ROOT_STACK = 1, HG_ROOT_TLS = 2, HG_ROOT_REGISTER = 3, HG_ROOT_OTHER = 4,
                    HG_ROOT_PYFRAME = 5 /* a Python frame's local variables (HG_REC_PYFRAMEROOT) */,
                    HG_ROOT_MAPPED = 6 /* memory the program mapped for itself (mmap) */ };

/* Python objects. Kinds of types, as far as the report labels references. */
enum hg_py_kind {
    HG_PYK_OTHER = 0, HG_PYK_LIST, HG_PYK_TUPLE, HG_PYK_DICT, HG_PYK_SET, HG_PYK_STR,
    HG_PYK_MODULE, HG_PYK_TYPE, HG_PYK_FUNCTION, HG_PYK_CELL, HG_PYK_METHOD, HG_PYK_FRAME,
    HG_PYK_CODE, HG_PYK_GENERATOR, HG_PYK_BYTES, HG_PYK_INT, HG_PYK_FLOAT, HG_PYK_WEAKREF,
    HG_PYK_COUNT
};
#define HG_PYT_GC 1u           /* instances are tracked by the cyclic garbage collector */
#define HG_PYT_MANAGED_DICT 2u /* instances keep their attributes before the object (3.11+) */
#define HG_PYT_FINALIZER 4u    /* instances have a finalizer (__del__, tp_finalize, tp_del) */
#define HG_PYT_HEAP 8u         /* made by a class statement or type() (a heap type) */
#define HG_PYO_TRACKED 1u      /* the object is in the collector's lists */
#define HG_PYO_FINALIZED 2u    /* its finalizer has run already */
/* Roles of HG_REC_PYPARTS. */
enum hg_py_part {
    HG_PYP_LIST_ITEMS = 1,  /* the items of a list; a: items in use */
    HG_PYP_DICT_KEYS = 2,   /* a dict's keys table; a: offset of entry 0, b: entry size
                               (16: key, value; 24: hash, key, value) */
    HG_PYP_DICT_VALUES = 3, /* the values of a split dict or of an instance's inline
                               attributes; a: offset of value 0, b: 1 + block index
                               of the keys table that names them (0: unknown) */
    HG_PYP_SET_TABLE = 4,   /* a set's hash table; a: offset of entry 0, b: entry size
                               (16: key, hash) */
    HG_PYP_ATTR_DICT = 5,   /* a dict object holding the owner's attributes (an
                               instance's __dict__, a class's, a module's globals) */
};
/* Kinds of HG_REC_PYNAMES. */
enum hg_py_name {
    HG_PYN_STR = 0,         /* the text of a str object (UTF-8, at most 64 bytes) */
    HG_PYN_NAME = 1,        /* the (qualified) name of a module, class or function object */
    HG_PYN_WELL_KNOWN = 2,  /* an interpreter object: "sys.modules", "gc.garbage", ... */
    HG_PYN_KEYS = 3,        /* the keys of a keys table in entry order, each followed by a
                               NUL: a str key in single quotes, an int key in decimal, else
                               empty; entries past the text are not named */
};
/* Kinds of HG_REC_GC, and the fields that follow the kind. */
enum hg_gc_kind {
    HG_GC_COLLECTION = 0,   /* generation, time, duration (us), collected, uncollectable:
                               one collection */
    HG_GC_BEFORE = 1,       /* generation, time, collections, collected, uncollectable: the
                               interpreter's totals when recording of collections began */
    HG_GC_STATE = 2,        /* snapshot id, enabled (0/1), objects in gc.garbage: the
                               collector when the snapshot was taken */
};
/* How a CPython process allocates its objects (HG_REC_PYTHON). */
enum hg_py_allocator {
    HG_PYALLOC_UNKNOWN = 0,     /* not said (the interpreter never started) */
    HG_PYALLOC_MALLOC = 1,      /* PYTHONMALLOC=malloc: every object is its own block */
    HG_PYALLOC_PYMALLOC = 2,    /* pymalloc; every object recorded as a block */
    HG_PYALLOC_PYMALLOC_UNSEEN = 3, /* pymalloc; objects inside its arenas not recorded */
};

/* Events (inside HG_REC_EVENTS), in the order they happened in the process.
 * Each field of an event is read from its own column (enum hg_ev_column):
 * like values side by side compress far better than interleaved ones
 * (churn: 3.5 instead of 4.3 bytes per event after zstd).
 *
 * HG_EV_COL_TAG:   tag byte: bits 0-2 op, bit 3 HG_EV_F_ALIGN, bit 4
 *                  HG_EV_F_RAWADDR, bits 5-7 thread: 0 same thread as the
 *                  previous event, 1-6 thread index 0-5, 7 a varint thread
 *                  index follows the tag (in this column); HG_EV_SEL_*.
 * HG_EV_COL_TIME:  dt: time minus the previous event's time, in us.
 * HG_EV_COL_REF:   ref (FREE, REALLOC), mark kind and value (MARK).
 * HG_EV_COL_STACK: stack id (ALLOC, REALLOC).
 * HG_EV_COL_SIZE:  size, then [alignment if F_ALIGN] (ALLOC, REALLOC).
 * HG_EV_COL_ADDR:  naddr (ALLOC, REALLOC), addr (FREE_UNKNOWN).
 *
 * Decoder state per stream, carried across HG_REC_EVENTS records: time (starts
 * at 0), thread (starts at 0), per thread index prev_addr (starts at 0) and
 * the reuse stacks (start empty), and nalloc (allocation numbers handed out
 * so far; starts at the number of inherited blocks). A realloc's time is that
 * of its new block.
 *
 * addr: zz((addr - prev_addr) / 16) unless HG_EV_F_RAWADDR, then
 *       zz(addr - prev_addr), where prev_addr is the event's thread's;
 *       that prev_addr becomes addr. (Per thread because threads allocate
 *       from their own arenas: one shared prev_addr made deltas 4-5 bytes.)
 * naddr: 0: the address is the top of the thread's reuse stack for the
 *       block's size class, popped; else addr + 1 (the same delta, plus one).
 *       Either way prev_addr becomes the address.
 * reuse stacks: per thread index and size class, class(size) = (size + 23)
 *       / 16 for size <= 1032 (HG_EV_REUSE_CLASS), none above (glibc's tcache bins: most programs
 *       get back the block their thread freed last in the class). FREE and
 *       the old block of REALLOC push the freed block's address on the stack
 *       of the freeing event's thread and the block's class; a stack keeps
 *       the 8 latest (pushing a 9th drops the oldest).
 * alignment: log2 of the alignment in bytes (HG_EV_F_ALIGN set only when
 *       the program asked for one: posix_memalign, aligned_alloc, ...).
 * ref:  the allocation number of a live block, as nalloc - 1 - number.
 */
enum hg_ev_op {
    HG_EV_ALLOC = 0,   /* stack id, size, [alignment if F_ALIGN], naddr; takes number nalloc++ */
    HG_EV_FREE = 1,    /* ref */
    HG_EV_FREE_UNKNOWN = 2, /* addr: a free of an address that was not a live block */
    HG_EV_REALLOC = 3, /* ref (the old block ends, pushed on the reuse stack first), stack id,
                          size, [alignment], naddr (the new block, also when the address is
                          unchanged); takes nalloc++ */
    HG_EV_MARK = 4,    /* mark kind (enum hg_mark), value */
};
/* The tag byte: op, flags and the thread selector. */
#define HG_EV_OP_MASK 0x07u     /* bits 0-2: enum hg_ev_op */
#define HG_EV_F_ALIGN 0x08u
#define HG_EV_F_RAWADDR 0x10u
#define HG_EV_SEL_SHIFT 5       /* bits 5-7: the thread selector */
#define HG_EV_SEL_SAME 0        /* the previous event's thread */
#define HG_EV_SEL_DIRECT 6      /* selectors 1-6 name thread index selector - 1 (0-5) */
#define HG_EV_SEL_VARINT 7      /* a varint thread index follows the tag */

/* addr deltas count units of this many bytes unless HG_EV_F_RAWADDR. */
#define HG_EV_ADDR_SHIFT 4
#define HG_EV_ADDR_UNIT (1 << HG_EV_ADDR_SHIFT)

/* On FREE only (it has neither alignment nor address): the block was freed
 * by Python's cyclic garbage collector, during a collection, and (F_PYOBJ)
 * it held a Python object. Old readers ignore both. */
#define HG_EV_F_GC 0x08u
#define HG_EV_F_PYOBJ 0x10u

enum hg_ev_column {
    HG_EV_COL_TAG = 0, HG_EV_COL_TIME, HG_EV_COL_REF, HG_EV_COL_STACK, HG_EV_COL_SIZE, HG_EV_COL_ADDR,
    HG_EV_COLUMNS
};
#define HG_EV_REUSE_MAX_SIZE 1032u
#define HG_EV_REUSE_DEPTH 8u
/* The reuse stacks' size class of a block of size <= HG_EV_REUSE_MAX_SIZE,
 * and the number of classes. */
#define HG_EV_REUSE_CLASS(size) (((size) + 23) / 16)
#define HG_EV_REUSE_CLASSES (HG_EV_REUSE_CLASS(HG_EV_REUSE_MAX_SIZE) + 1)

enum hg_mark {
    HG_MARK_FORK = 1,     /* value: the child's stream number (0 if not recorded) */
    HG_MARK_SNAPSHOT = 2, /* value: snapshot id; the live set here is that snapshot's block list */
    HG_MARK_EXEC = 3,     /* value: 0 exec attempted, 1 exec failed */
};

#endif
