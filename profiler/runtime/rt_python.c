/* SPDX-License-Identifier: MIT
 *
 * rt_python.c - finds CPython in the process and describes its layout
 * (rt_python.h).
 *
 * Symbols are read from a module's dynamic symbol table in memory (the GNU
 * hash table, or the SysV one), which needs no lock and no allocation, and
 * finds a module whatever scope it was loaded in. Layouts: 3.8 to 3.12 from
 * tables made from each version's headers (offsetof, checked for 3.8.18,
 * 3.9.18, 3.10.13, 3.11.2, 3.11.7, 3.12.1: docs/runtime.md); 3.13 from the
 * `_Py_DebugOffsets` the interpreter keeps at the start of `_PyRuntime`,
 * plus the few offsets they do not give (the thread-state key, the str
 * layout), from the 3.13 headers.
 */
#include "profiler/runtime/rt_python.h"

#include "profiler/runtime/rt_peek.h"
#include "profiler/runtime/rt_pyframe.h"
#include "profiler/runtime/rt_rec.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- layouts ---------------------------------------------------------- */

#define STR_OLD .str_state = 32, .str_length = 16, .str_ascii_size = 48, \
                .str_compact_size = 72, .str_utf8_length = 48, .str_utf8 = 56
#define STR_NEW .str_state = 32, .str_length = 16, .str_ascii_size = 40, \
                .str_compact_size = 56, .str_utf8_length = 40, .str_utf8 = 48
#define OBJ .var_size = 16, .bytes_data = 32

static struct rt_py_layout py38 = {
    .frames = RT_PY_FRAMEOBJ, .lines = RT_PY_LNOTAB, .lasti_units = 1,
    .rt_tss = 1392, .rt_interp_head = 32, .rt_interp_main = 40, .rt_gil_holder = 1368,
    .is_threads_head = 8,
    .ts_next = 8, .ts_interp = 16, .ts_thread_id = 176, .ts_frame = 24, .ts_cframe_frame = -1,
    .fr_previous = 24, .fr_code = 32, .fr_instr = 104,
    .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_linetable = 120, .co_code = 48,
    STR_OLD, OBJ,
};

static struct rt_py_layout py39 = {
    .frames = RT_PY_FRAMEOBJ, .lines = RT_PY_LNOTAB, .lasti_units = 1,
    .rt_tss = 584, .rt_interp_head = 32, .rt_interp_main = 40, .rt_gil_holder = 568,
    .is_threads_head = 8,
    .ts_next = 8, .ts_interp = 16, .ts_thread_id = 176, .ts_frame = 24, .ts_cframe_frame = -1,
    .fr_previous = 24, .fr_code = 32, .fr_instr = 104,
    .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_linetable = 120, .co_code = 48,
    STR_OLD, OBJ,
};

static struct rt_py_layout py310 = {
    .frames = RT_PY_FRAMEOBJ, .lines = RT_PY_LINETABLE310, .lasti_units = 2,
    .rt_tss = 584, .rt_interp_head = 32, .rt_interp_main = 40, .rt_gil_holder = 568,
    .is_threads_head = 8,
    .ts_next = 8, .ts_interp = 16, .ts_thread_id = 176, .ts_frame = 24, .ts_cframe_frame = -1,
    .fr_previous = 24, .fr_code = 32, .fr_instr = 96,
    .co_firstlineno = 40, .co_filename = 104, .co_name = 112, .co_linetable = 120, .co_code = 48,
    STR_OLD, OBJ,
};

/* 3.11 (3.11.2 and 3.11.7 agree): offsetof against the headers, with
 * Py_BUILD_CORE for the interpreter state and frames. */
static const struct rt_py_objlayout obj311 = {
    .tp_name = 24, .tp_basicsize = 32, .tp_itemsize = 40, .tp_flags = 168,
    .tp_weaklistoffset = 208, .tp_members = 240,
    .tp_base = 256, .tp_dict = 264, .tp_dictoffset = 288, .tp_mro = 344, .tp_del = 376,
    .tp_finalize = 392, .tp_end = 408,
    .ht_name = 848, .ht_qualname = 864, .ht_cached_keys = 872,
    .md_type = 8, .md_offset = 16, .md_size = 40,
    .list_items = 24, .tuple_items = 24, .dict_keys = 32, .dict_values = 40, .set_table = 40,
    .set_small = 64, .dk_log2_index_bytes = 9, .dk_kind = 10, .dk_nentries = 24,
    .dk_indices = 32, .long_digits = 24,
    .pre_values = -32, .pre_dict = -24,
    .module_dict = 16, .module_name = 48, .cell_ref = 16, .method_func = 16, .method_self = 24,
    .wr_object = 16, .wr_prev = 40, .wr_next = 48,
    .exc_args = 24, .exc_traceback = 40, .exc_context = 48, .exc_cause = 56,
    .tb_next = 16, .tb_frame = 24, .frame_back = 16,
    .func_globals = 16, .func_name = 32, .func_qualname = 40, .func_code = 48,
    .func_defaults = 56, .func_kwdefaults = 64, .func_closure = 72, .func_doc = 80,
    .func_dict = 88, .func_module = 104, .func_annotations = 112,
    .is_modules = 888, .is_sysdict = 904, .is_builtins = 912, .is_gc = 648,
    .is_keys_free = 4520 + 648, .is_keys_numfree = 4520 + 1288,
    .free_arrays = {{3872, 80, 4512}, {4520, 80, 5160}, {5168, 80, 5808},
                    {5816, 80, 6456}, {6464, 80, 7104}},
    .type_cache = 9056, .type_cache_size = 98304,
    .gc_enabled = 12, .gc_stats = 128, .gc_collecting = 200, .gc_garbage = 208,
    .gc_callbacks = 216,
    .fr_localsplus = 72, .fr_stacktop = 64, .fr_owner = 69, .ts_native_id = 160,
    .co_nlocalsplus = 76, .co_localsplusnames = 96, .co_stacksize = 68,
};

static struct rt_py_layout py311 = {
    .frames = RT_PY_IFRAME_ENTRY, .lines = RT_PY_LOCATIONS311,
    .rt_tss = 592, .rt_interp_head = 40, .rt_interp_main = 48, .rt_gil_holder = 576,
    .is_threads_head = 16,
    .ts_next = 8, .ts_interp = 16, .ts_thread_id = 152, .ts_frame = 56, .ts_cframe_frame = 8,
    .ts_datastack = 296,
    .fr_previous = 48, .fr_code = 32, .fr_instr = 56, .fr_owner = 68,
    .co_firstlineno = 72, .co_filename = 112, .co_name = 120, .co_qualname = 128,
    .co_linetable = 136, .co_code = 184,
    STR_OLD, OBJ, .objects = &obj311,
};

static struct rt_py_layout py312 = {
    .frames = RT_PY_IFRAME_CSTACK, .lines = RT_PY_LOCATIONS311,
    .rt_tss = 1544, .rt_interp_head = 40, .rt_interp_main = 48,
    .is_threads_head = 72, .is_gil = 384, .gil_holder = 8, .gil_locked = 16,
    .ts_next = 8, .ts_interp = 16, .ts_thread_id = 136, .ts_frame = 56, .ts_cframe_frame = 0,
    .ts_datastack = 232,
    .fr_previous = 8, .fr_code = 0, .fr_instr = 56, .fr_owner = 70,
    .co_firstlineno = 68, .co_filename = 112, .co_name = 120, .co_qualname = 128,
    .co_linetable = 136, .co_code = 192,
    STR_NEW, OBJ,
};

/* 3.13: what _Py_DebugOffsets does not say. */
#define PY313_TSS 2160
#define PY313_INTERP_MAIN 640

static struct rt_py_layout py313; /* filled from _Py_DebugOffsets */

/* ---- dynamic symbol tables ---------------------------------------------- */

struct dynsyms {
    uintptr_t bias;
    const ElfW(Sym) *sym;
    const char *str;
    const uint32_t *gnu;  /* DT_GNU_HASH */
    const uint32_t *sysv; /* DT_HASH */
};

/* d_ptr values are addresses once the dynamic linker relocated them in
 * place, offsets from the bias where it did not (the vDSO). */
static uintptr_t dyn_addr(uintptr_t bias, uintptr_t v)
{
    return v < bias ? bias + v : v;
}

static int dynsyms_of(uintptr_t bias, const ElfW(Phdr) *phdr, uint16_t phnum, struct dynsyms *d)
{
    memset(d, 0, sizeof *d);
    d->bias = bias;
    const ElfW(Dyn) *dyn = NULL;
    for (uint16_t i = 0; i < phnum; i++)
        if (phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(bias + phdr[i].p_vaddr);
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t v = dyn_addr(bias, dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_SYMTAB)
            d->sym = (const ElfW(Sym) *)v;
        else if (dyn->d_tag == DT_STRTAB)
            d->str = (const char *)v;
        else if (dyn->d_tag == DT_GNU_HASH)
            d->gnu = (const uint32_t *)v;
        else if (dyn->d_tag == DT_HASH)
            d->sysv = (const uint32_t *)v;
    }
    return d->sym && d->str && (d->gnu || d->sysv) ? 0 : -1;
}

static uintptr_t defined(const struct dynsyms *d, uint32_t i, const char *name)
{
    const ElfW(Sym) *s = &d->sym[i];
    if (s->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(s->st_info) == STT_TLS ||
        strcmp(d->str + s->st_name, name) != 0)
        return 0;
    return d->bias + s->st_value;
}

/* The GNU hash table: a bloom filter, buckets, then chains of hashes whose
 * low bit ends a chain. */
static uintptr_t lookup_gnu(const struct dynsyms *d, const char *name)
{
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = h * 33 + *c;
    uint32_t nbuckets = d->gnu[0], symoffset = d->gnu[1], nbloom = d->gnu[2], shift = d->gnu[3];
    if (nbuckets == 0 || nbloom == 0)
        return 0;
    const uint64_t *bloom = (const uint64_t *)(d->gnu + 4);
    const uint32_t *buckets = (const uint32_t *)(bloom + nbloom);
    const uint32_t *chain = buckets + nbuckets;
    uint64_t word = bloom[(h / 64) % nbloom];
    uint64_t mask = (1ull << (h % 64)) | (1ull << ((h >> shift) % 64));
    if ((word & mask) != mask)
        return 0;
    uint32_t i = buckets[h % nbuckets];
    if (i < symoffset)
        return 0;
    for (;; i++) {
        uint32_t h2 = chain[i - symoffset];
        if ((h | 1) == (h2 | 1)) {
            uintptr_t a = defined(d, i, name);
            if (a)
                return a;
        }
        if (h2 & 1)
            return 0;
    }
}

static uintptr_t lookup_sysv(const struct dynsyms *d, const char *name)
{
    uint32_t h = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        h = (h << 4) + *c;
        uint32_t g = h & 0xf0000000u;
        h ^= g >> 24;
        h &= ~g;
    }
    uint32_t nbucket = d->sysv[0], nchain = d->sysv[1];
    const uint32_t *bucket = d->sysv + 2, *chain = bucket + nbucket;
    if (nbucket == 0)
        return 0;
    for (uint32_t i = bucket[h % nbucket], steps = 0; i != 0 && i < nchain && steps < nchain;
         i = chain[i], steps++) {
        uintptr_t a = defined(d, i, name);
        if (a)
            return a;
    }
    return 0;
}

static uintptr_t lookup(const struct dynsyms *d, const char *name)
{
    return d->gnu ? lookup_gnu(d, name) : lookup_sysv(d, name);
}

/* ---- discovery ---------------------------------------------------------- */

static struct rt_py found;          /* valid once `ready` is set */
static struct dynsyms found_syms;
static _Atomic int ready;
static int decided;                 /* an interpreter was seen (supported or not) */
static uintptr_t decided_bias;
static uint32_t decided_version;

/* A note in the capture (not a degradation of the recording: the process is
 * recorded in full, only without Python frames). */
static void note(const char *fmt, const char *what)
{
    char msg[200];
    int n = snprintf(msg, sizeof msg, fmt, what);
    if (n > 0 && rt_proc_recording())
        rt_ring_push_blob(RT_BLOB_NOTE, msg, (uint32_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1));
}

static void announce(uint32_t version, uint32_t module_id, uint32_t frames)
{
    struct rt_blob_python b = { version, module_id, frames, 0 };
    if (rt_proc_recording())
        rt_ring_push_blob(RT_BLOB_PYTHON, &b, sizeof b);
}

/* PY_VERSION_HEX of the interpreter: Py_Version (3.11+), else parsed from
 * Py_GetVersion(), which formats static strings into a static buffer. */
static uint32_t version_of(const struct dynsyms *d)
{
    uintptr_t v = lookup(d, "Py_Version");
    if (v)
        return *(const uint32_t *)v;
    uintptr_t f = lookup(d, "Py_GetVersion");
    if (!f)
        return 0;
    const char *s = ((const char *(*)(void))f)();
    unsigned major = 0, minor = 0, micro = 0;
    if (!s || sscanf(s, "%u.%u.%u", &major, &minor, &micro) < 2)
        return 0;
    return major << 24 | minor << 16 | micro << 8;
}

/* Reads the layout of a 3.13 interpreter from its _Py_DebugOffsets. NULL
 * with *why set when it cannot be used. */
struct debug_offsets {
    char cookie[8];
    uint64_t version, free_threaded;
    uint64_t rt_size, rt_finalizing, rt_interpreters_head;
    uint64_t is_size, is_id, is_next, is_threads_head, is_gc, is_modules, is_sysdict,
        is_builtins, is_ceval_gil, is_gil_state, is_gil_enabled, is_gil_locked, is_gil_holder;
    uint64_t ts_size, ts_prev, ts_next, ts_interp, ts_current_frame, ts_thread_id,
        ts_native_thread_id, ts_datastack_chunk, ts_status;
    uint64_t fr_size, fr_previous, fr_executable, fr_instr_ptr, fr_localsplus, fr_owner;
    uint64_t co_size, co_filename, co_name, co_qualname, co_linetable, co_firstlineno,
        co_argcount, co_localsplusnames, co_localspluskinds, co_code_adaptive;
};

static struct rt_py_layout *layout_313(uintptr_t runtime, uint32_t version, const char **why)
{
    const struct debug_offsets *o = (const struct debug_offsets *)runtime;
    if (memcmp(o->cookie, "xdebugpy", 8) != 0 || o->version != version) {
        *why = "its _Py_DebugOffsets do not match its version";
        return NULL;
    }
    if (o->free_threaded) {
        *why = "it is a free-threaded build";
        return NULL;
    }
    const uint64_t need[] = { o->rt_interpreters_head, o->is_threads_head, o->ts_current_frame,
                              o->ts_thread_id, o->fr_previous, o->fr_instr_ptr, o->fr_owner,
                              o->co_qualname, o->co_linetable, o->co_code_adaptive };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (need[i] == 0 || need[i] > 65536) {
            *why = "its _Py_DebugOffsets are out of range";
            return NULL;
        }
    struct rt_py_layout *l = &py313;
    *l = (struct rt_py_layout){
        .frames = RT_PY_IFRAME_CSTACK, .lines = RT_PY_LOCATIONS311,
        .rt_tss = PY313_TSS, .rt_interp_head = (uint32_t)o->rt_interpreters_head,
        .rt_interp_main = PY313_INTERP_MAIN,
        .is_next = (uint32_t)o->is_next, .is_threads_head = (uint32_t)o->is_threads_head,
        .is_gil = (uint32_t)o->is_ceval_gil,
        .gil_holder = (uint32_t)(o->is_gil_holder - o->is_gil_state),
        .gil_locked = (uint32_t)(o->is_gil_locked - o->is_gil_state),
        .ts_next = (uint32_t)o->ts_next, .ts_interp = (uint32_t)o->ts_interp,
        .ts_thread_id = (uint32_t)o->ts_thread_id, .ts_frame = (uint32_t)o->ts_current_frame,
        .ts_cframe_frame = -1, .ts_datastack = (uint32_t)o->ts_datastack_chunk,
        .fr_previous = (uint32_t)o->fr_previous, .fr_code = (uint32_t)o->fr_executable,
        .fr_instr = (uint32_t)o->fr_instr_ptr, .fr_owner = (uint32_t)o->fr_owner,
        .co_firstlineno = (uint32_t)o->co_firstlineno, .co_filename = (uint32_t)o->co_filename,
        .co_name = (uint32_t)o->co_name, .co_qualname = (uint32_t)o->co_qualname,
        .co_linetable = (uint32_t)o->co_linetable, .co_code = (uint32_t)o->co_code_adaptive,
        STR_NEW, OBJ,
    };
    return l;
}

static struct rt_py_layout *layout_for(uintptr_t runtime, uint32_t version, const char **why)
{
    switch (version >> 16) {
    case 0x0308: return &py38;
    case 0x0309: return &py39;
    case 0x030a: return &py310;
    case 0x030b: return &py311;
    case 0x030c: return &py312;
    case 0x030d: return layout_313(runtime, version, why);
    default:
        *why = "it is a version heapgraph does not know (3.8 to 3.13 are)";
        return NULL;
    }
}

/* The module's largest writable segment: its data (one segment in every
 * build seen). */
static void writable_data(uintptr_t bias, const ElfW(Phdr) *phdr, uint16_t phnum,
                          struct rt_py *py)
{
    for (uint16_t i = 0; i < phnum; i++) {
        if (phdr[i].p_type != PT_LOAD || !(phdr[i].p_flags & PF_W) ||
            phdr[i].p_memsz <= py->data_hi - py->data_lo)
            continue;
        py->data_lo = bias + phdr[i].p_vaddr;
        py->data_hi = py->data_lo + phdr[i].p_memsz;
    }
}

void rt_py_consider(uintptr_t bias, const ElfW(Phdr) *phdr, uint16_t phnum, uint32_t module_id)
{
    struct dynsyms d;
    if (decided && bias == decided_bias) {
        /* A forked child sends its modules again, under new ids. */
        found.module_id = module_id;
        announce(decided_version, module_id, rt_py_get() != NULL);
    }
    if (decided || dynsyms_of(bias, phdr, phnum, &d) < 0)
        return;
    uintptr_t runtime = lookup(&d, "_PyRuntime");
    if (!runtime)
        return;
    decided = 1;
    decided_bias = bias;
    uint32_t version = decided_version = version_of(&d);
    char vs[16];
    snprintf(vs, sizeof vs, "%u.%u.%u", version >> 24, version >> 16 & 0xff, version >> 8 & 0xff);
    const char *why = "its version is unknown";
    struct rt_py_layout *l = version ? layout_for(runtime, version, &why) : NULL;
    if (!l) {
        char what[160];
        snprintf(what, sizeof what, "%s: %s", version ? vs : "?", why);
        note("python %s; stacks have no Python frames", what);
        announce(version, module_id, 0);
        return;
    }
    found = (struct rt_py){ .runtime = runtime, .bias = bias, .module_id = module_id, .layout = l,
                            .code_type = lookup(&d, "PyCode_Type") };
    writable_data(bias, phdr, phnum, &found);
    memcpy(found.version, vs, sizeof vs);
    l->version = version;
    found_syms = d;
    atomic_store_explicit(&ready, 1, memory_order_release);
    rt_pyf_start();
    announce(version, module_id, 1);
}

void rt_py_unloaded(uintptr_t bias)
{
    if (!decided || bias != decided_bias)
        return;
    atomic_store(&ready, 0);
    decided = 0;
}

const struct rt_py *rt_py_get(void)
{
    return atomic_load_explicit(&ready, memory_order_acquire) ? &found : NULL;
}

uintptr_t rt_py_symbol(const char *name)
{
    return rt_py_get() ? lookup(&found_syms, name) : 0;
}

/* ---- threads ------------------------------------------------------------ */

#define LOAD(type, base, off) (*(const type *)((base) + (off)))

uintptr_t rt_py_tstate(void)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return 0;
    const struct rt_py_layout *l = found.layout;
    uintptr_t tss = found.runtime + l->rt_tss;
    if (LOAD(int, tss, 0) != 1)
        return 0;
    pthread_key_t key = LOAD(pthread_key_t, tss, sizeof(int));
    uintptr_t ts = (uintptr_t)pthread_getspecific(key);
    if (!ts || (ts & 7) || LOAD(unsigned long, ts, l->ts_thread_id) != (unsigned long)pthread_self())
        return 0;
    return ts;
}

int rt_py_gil_held(uintptr_t tstate)
{
    const struct rt_py *p = rt_py_get();
    if (!p || !tstate)
        return 0;
    const struct rt_py_layout *l = p->layout;
    if (l->rt_gil_holder)
        return LOAD(uintptr_t, p->runtime, l->rt_gil_holder) == tstate;
    uintptr_t interp = LOAD(uintptr_t, tstate, l->ts_interp);
    uintptr_t gil = interp ? LOAD(uintptr_t, interp, l->is_gil) : 0;
    return gil && LOAD(int, gil, l->gil_locked) && LOAD(uintptr_t, gil, l->gil_holder) == tstate;
}

/* ---- frame stacks ----------------------------------------------------- */

#define CHUNK_DATA 24 /* _PyStackChunk: previous, size, top (in slots), data[] */
#define MAX_WALK 4096 /* interpreters, threads, chunks: a bound against a bad list */

/* The dead parts of one thread's chunks. */
static void dead_chunks(uintptr_t ts, const struct rt_py_layout *l, struct rt_range *out,
                        size_t max, size_t *n)
{
    uintptr_t chunk = rt_peek_word(ts + l->ts_datastack), top = rt_peek_word(ts + l->ts_datastack + 8);
    for (int k = 0; chunk && k < MAX_WALK; k++, chunk = rt_peek_word(chunk)) {
        uintptr_t size = rt_peek_word(chunk + 8), end = chunk + size;
        uintptr_t lo = k ? chunk + CHUNK_DATA + rt_peek_word(chunk + 16) * sizeof(uintptr_t) : top;
        if (size > ((uintptr_t)1 << 32) || lo < chunk + CHUNK_DATA || lo > end)
            return;
        if (*n < max)
            out[*n] = (struct rt_range){ lo, end };
        (*n)++;
    }
}

size_t rt_py_dead_stacks(struct rt_range *out, size_t max)
{
    const struct rt_py *p = rt_py_get();
    size_t n = 0;
    if (!p || !p->layout->ts_datastack)
        return 0;
    const struct rt_py_layout *l = p->layout;
    uintptr_t interp = rt_peek_word(p->runtime + l->rt_interp_head);
    for (int i = 0; interp && i < MAX_WALK; i++, interp = rt_peek_word(interp + l->is_next)) {
        uintptr_t ts = rt_peek_word(interp + l->is_threads_head);
        for (int k = 0; ts && k < MAX_WALK; k++, ts = rt_peek_word(ts + l->ts_next))
            dead_chunks(ts, l, out, max, &n);
    }
    return n;
}
