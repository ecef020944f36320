/* SPDX-License-Identifier: MIT
 *
 * rt_python.h - CPython in the recorded process, found without linking
 * libpython: the one place in the runtime that knows where the interpreter
 * is, which version it is and how its structures are laid out.
 *
 * Discovery. Every module the module map sends (rt_module.c: at start, after
 * each dlopen, and whenever a stack leads outside the known modules) is
 * offered to rt_py_consider(), which looks `_PyRuntime` up in the module's
 * dynamic symbol table (read from memory: no dlsym, no allocation). That
 * finds a shared libpython (pyenv's libpython3.11.so.1.0), a static
 * interpreter that exports the C API (Debian's /usr/bin/python3.11, built
 * with -Xlinker -export-dynamic) and a libpython dlopen'd later, RTLD_LOCAL
 * or not. The first module that has it is the interpreter of the process.
 *
 * Version and layout. The version comes from `Py_Version` (3.11+) or the
 * string `Py_GetVersion()` returns (3.8-3.10, a call that only formats
 * static strings). 3.8 to 3.12 get a layout table checked against each
 * version's headers (docs/runtime.md, "Python"); 3.13 reads its own layout
 * from the `_Py_DebugOffsets` at the start of `_PyRuntime` and refuses a
 * free-threaded build. Anything else (older, newer, free-threaded, a debug
 * offsets cookie that does not match) leaves the process native-only, with
 * one RT_BLOB_NOTE in the capture saying why: never a crash, never wrong
 * frames.
 *
 * What it gives the rest of the runtime (and later work: the allocator
 * wrapping of PyMem_SetAllocator, Python objects and the GC) is below. Every
 * function is safe inside an allocation hook: no allocation, no lock, no
 * Python API call, no GIL.
 */
#ifndef HG_RT_PYTHON_H
#define HG_RT_PYTHON_H

#include <elf.h>
#include "profiler/runtime/rt_core.h"

#include <link.h>
#include <stdint.h>

/* How the frames of a thread are chained. */
enum rt_py_frames {
    RT_PY_FRAMEOBJ = 1,  /* 3.8-3.10: PyFrameObject via f_back; one eval-loop
                            call (_PyEval_EvalFrameDefault) per frame */
    RT_PY_IFRAME_ENTRY,  /* 3.11: _PyInterpreterFrame via previous; a frame
                            with is_entry set is the first an eval-loop call ran */
    RT_PY_IFRAME_CSTACK, /* 3.12+: the same, and each eval-loop call starts
                            with a shim frame owned by the C stack (owner 3) */
};

/* The line-table format of code objects (what the reporter decodes). */
enum rt_py_lines {
    RT_PY_LNOTAB = 1,    /* 3.8-3.9: co_lnotab, (byte delta, line delta) pairs */
    RT_PY_LINETABLE310,  /* 3.10: co_linetable, (byte delta, line delta) pairs */
    RT_PY_LOCATIONS311,  /* 3.11+: co_linetable, the location table */
};

/* Byte offsets into the interpreter's structures, for the running version.
 * A field that does not exist in that version is 0 (never a valid offset of
 * the fields below, none of which is first in its struct, except as said). */
struct rt_py_layout {
    uint32_t version;            /* PY_VERSION_HEX, e.g. 0x030b07f0 for 3.11.7 */
    uint8_t frames;              /* enum rt_py_frames */
    uint8_t lines;               /* enum rt_py_lines */
    uint8_t lasti_units;         /* 3.8-3.10: f_lasti counts bytes (1) or code
                                    units (2, 3.10); 0 for 3.11+ */
    /* _PyRuntimeState (at rt_py.runtime) */
    uint32_t rt_tss;             /* Py_tss_t autoTSSkey: int initialized, then the
                                    pthread key; the calling thread's tstate */
    uint32_t rt_interp_head;     /* PyInterpreterState *interpreters.head */
    uint32_t rt_interp_main;     /* PyInterpreterState *interpreters.main */
    uint32_t rt_gil_holder;      /* 3.8-3.11: gilstate.tstate_current, the GIL
                                    holder; 0 when the holder is in the GIL state */
    /* PyInterpreterState */
    uint32_t is_next;            /* 0 in 3.8-3.12, where it is the first field */
    uint32_t is_threads_head;
    uint32_t is_gil;             /* 3.12+: struct _gil_runtime_state *ceval.gil */
    uint32_t gil_holder;         /* 3.12+: last_holder in that struct */
    uint32_t gil_locked;         /* 3.12+: locked in that struct (an int) */
    /* PyThreadState */
    uint32_t ts_next, ts_interp, ts_thread_id;
    uint32_t ts_frame;           /* 3.8-3.10 frame, 3.11-3.12 cframe, 3.13 current_frame */
    int32_t ts_cframe_frame;     /* 3.11-3.12: current_frame in _PyCFrame; -1 when
                                    ts_frame holds the frame itself */
    uint32_t ts_datastack;       /* 3.11+: _PyStackChunk *datastack_chunk, then
                                    PyObject **datastack_top; 0 before */
    /* the frame (PyFrameObject in 3.8-3.10, _PyInterpreterFrame after) */
    uint32_t fr_previous;        /* f_back / previous */
    uint32_t fr_code;            /* f_code / f_executable (3.13); may be 0 (3.12+) */
    uint32_t fr_instr;           /* f_lasti (an int) / prev_instr (3.11-3.12: the
                                    code unit before the next, which maps to the
                                    line of the instruction running) / instr_ptr
                                    (3.13: the instruction running) */
    uint32_t fr_owner;           /* 3.11: is_entry (a bool); 3.12+: owner (a char) */
    /* PyCodeObject */
    uint32_t co_firstlineno;     /* an int */
    uint32_t co_filename, co_name;
    uint32_t co_qualname;        /* 3.11+; 0 before (the name is co_name) */
    uint32_t co_linetable;       /* co_lnotab (3.8-3.9) / co_linetable, a bytes object */
    uint32_t co_code;            /* 3.8-3.10: co_code (a bytes object); 3.11+:
                                    co_code_adaptive, the code units themselves */
    /* str and bytes */
    uint32_t str_state;          /* PyASCIIObject.state: kind bits 2-4, compact
                                    bit 5, ascii bit 6 */
    uint32_t str_length;         /* code points */
    uint32_t str_ascii_size;     /* sizeof(PyASCIIObject): compact ASCII data */
    uint32_t str_compact_size;   /* sizeof(PyCompactUnicodeObject): other data */
    uint32_t str_utf8_length, str_utf8;
    uint32_t var_size;           /* PyVarObject.ob_size */
    uint32_t bytes_data;         /* PyBytesObject.ob_sval */
    /* Python objects in snapshots (rt_pyobj.c); NULL for a version whose
     * object layout is not described: its objects are then found and typed,
     * but not their parts, frames and the collector's state. */
    const struct rt_py_objlayout *objects;
};

/* Byte offsets of objects and of the interpreter state around them, for
 * heap snapshots of Python processes: type objects, containers and their
 * parts, the managed-dict pre-header, the interpreter's well-known objects
 * and its garbage collector, frames' local variables. */
struct rt_py_objlayout {
    /* PyTypeObject, PyHeapTypeObject */
    uint16_t tp_name, tp_basicsize, tp_itemsize, tp_flags, tp_weaklistoffset, tp_members,
             tp_base, tp_dict, tp_dictoffset, tp_mro, tp_del, tp_finalize, tp_end;  /* tp_end: sizeof */
    uint16_t ht_name, ht_qualname, ht_cached_keys;
    /* PyMemberDef: name at 0, type, offset; size */
    uint16_t md_type, md_offset, md_size;
    /* containers and their parts */
    uint16_t list_items, tuple_items, dict_keys, dict_values, set_table, set_small;
    uint16_t dk_log2_index_bytes, dk_kind, dk_nentries, dk_indices;  /* PyDictKeysObject */
    uint16_t long_digits;        /* PyLongObject.ob_digit (30-bit digits; ob_size the count) */
    int16_t pre_values, pre_dict;   /* managed dict pre-header, from the object */
    uint16_t module_dict, module_name;
    uint16_t cell_ref, method_func, method_self;
    uint16_t wr_object, wr_prev, wr_next;   /* PyWeakReference: borrowed pointers */
    uint16_t exc_args, exc_traceback, exc_context, exc_cause;  /* PyBaseExceptionObject */
    uint16_t tb_next, tb_frame, frame_back;  /* tracebacks, frame objects */
    uint16_t func_globals, func_name, func_qualname, func_code, func_defaults,
             func_kwdefaults, func_closure, func_doc, func_dict, func_module,
             func_annotations;
    /* PyInterpreterState and its struct _gc_runtime_state */
    uint16_t is_modules, is_sysdict, is_builtins, is_gc;
    uint16_t is_keys_free, is_keys_numfree;  /* dict keys on the free list (3.11) */
    /* The interpreter's free lists kept as arrays: entries [0, numfree) are
     * dead objects, the rest stale pointers to objects that were reused. */
    struct { uint16_t array, count, numfree; } free_arrays[6];
    uint32_t type_cache, type_cache_size;  /* borrowed pointers to attribute values */
    uint16_t gc_enabled, gc_stats, gc_collecting, gc_garbage, gc_callbacks;
    /* frames: the locals and the evaluation stack of a _PyInterpreterFrame */
    uint16_t fr_localsplus, fr_stacktop, fr_owner;  /* fr_owner: who owns the frame (a char) */
    uint16_t ts_native_id;       /* PyThreadState.native_thread_id: the thread's tid */
    uint16_t co_nlocalsplus, co_localsplusnames, co_stacksize;  /* ints, a tuple, an int */
};

struct rt_py {
    uintptr_t runtime;           /* &_PyRuntime */
    uintptr_t bias;              /* load bias of the interpreter's module */
    uintptr_t code_type;         /* &PyCode_Type, 0 if not exported */
    uintptr_t data_lo, data_hi;  /* the module's data (its largest writable PT_LOAD) */
    uint32_t module_id;          /* as sent in RT_BLOB_MODULE */
    const struct rt_py_layout *layout;
    char version[16];            /* "3.11.7" */
};

/* Offers a module the module map is about to send (its load bias, program
 * headers and id). Finds the interpreter in it if it is the first module of
 * the process that exports `_PyRuntime`; sends a note when that interpreter
 * is not supported. Called under the runtime's re-entry guard. */
void rt_py_consider(uintptr_t bias, const ElfW(Phdr) *phdr, uint16_t phnum, uint32_t module_id);

/* The module was unloaded: if it held the interpreter, forget it. */
void rt_py_unloaded(uintptr_t bias);

/* The supported interpreter of this process, or NULL (none yet, or one that
 * is not supported). Stable once set: the pointer stays valid for the life
 * of the process image, also in a forked child. */
const struct rt_py *rt_py_get(void);

/* The address of a symbol of the interpreter's module (its dynamic symbol
 * table), 0 when there is no interpreter or no such symbol: for the C API,
 * e.g. "PyGILState_Ensure", "Py_AddPendingCall", "PyMem_SetAllocator",
 * "PyGC_Collect", "PyType_Type". Reads memory only. */
uintptr_t rt_py_symbol(const char *name);

/* The calling thread's PyThreadState, or 0 when the thread has none (it never
 * ran Python, the interpreter is not initialized or is finalized past its
 * thread-state key). Costs a few loads and pthread_getspecific; the result
 * is checked against the thread's id. It is the thread's own state whether
 * or not the thread holds the GIL: its frames are only changed by itself. */
uintptr_t rt_py_tstate(void);

/* 1 when `tstate` holds the GIL, 0 when not (or no interpreter). */
int rt_py_gil_held(uintptr_t tstate);

/* Since 3.11 the interpreter keeps its frames in stacks of chunks it maps
 * itself (16 KiB and more); above each thread's top lie dead frames, whose
 * stale slots would hold lost blocks for the heap scanner. Copies up to
 * `max` of those dead parts (the current chunk's above datastack_top,
 * each earlier chunk's above its saved top) into `out`, for every thread
 * of every interpreter, and returns how many there are. Reads that cannot
 * fault; 0 without an interpreter of 3.11 or later. */
size_t rt_py_dead_stacks(struct rt_range *out, size_t max);

#endif
