/* SPDX-License-Identifier: MIT
 *
 * rt_pygc.c - the garbage collector's work, seen through gc.callbacks
 * (rt_pygc.h).
 *
 * CPython calls each callback with ("start", info) before a collection and
 * ("stop", info) after it, on the collecting thread, holding the GIL. Between
 * the two, the frees of that thread are the collector's: objects in cycles
 * it breaks, what they held, and whatever finalizers free. Around them the
 * interpreter frees what it made to call the callbacks (the phase string,
 * the info dict with its keys and values): those are handed to the callback,
 * which remembers their blocks so that their frees are not counted. The
 * callback is a METH_FASTCALL function (no argument tuple), reads the info
 * dict with PyDict_Next (no lookup string to make) and allocates nothing
 * while the thread is marked. The C API comes from rt_python.h by symbol;
 * the runtime never links libpython.
 */
#include "profiler/runtime/rt_pygc.h"

#include "profiler/ring.h"
#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_pyobj.h"
#include "profiler/runtime/rt_python.h"

#include <string.h>
#include <sys/types.h>

__thread int rt_pygc_collecting __attribute__((tls_model("initial-exec")));

typedef struct py_object py_object; /* opaque: only passed back to the C API */
typedef py_object *(*fastcall_fn)(py_object *, py_object *const *, ssize_t);

struct py_method_def {              /* PyMethodDef */
    const char *name;
    fastcall_fn meth;
    int flags;
    const char *doc;
};
#define PY_METH_FASTCALL 0x0080
#define GENERATIONS 3
#define MAX_HANDED 8                /* the phase, the dict, its keys table, 3 keys, 2 spare */

static struct {
    py_object *(*import_module)(const char *);
    py_object *(*getattr)(py_object *, const char *);
    py_object *(*cfunction_new)(struct py_method_def *, py_object *, py_object *);
    py_object *(*call_method)(py_object *, const char *, const char *, ...);
    int (*dict_next)(py_object *, ssize_t *, py_object **, py_object **);
    int (*str_eq)(py_object *, const char *);
    ssize_t (*as_ssize)(py_object *);
    ssize_t (*list_size)(py_object *);
    py_object *(*list_item)(py_object *, ssize_t);
    void (*incref)(py_object *);
    void (*decref)(py_object *);
    void (*err_clear)(void);
    py_object *none;
} py;

/* The collection under way (one at a time: the collector holds the GIL). */
static struct {
    uint64_t t0;
    uint32_t generation;
    size_t nhanded;
    uintptr_t handed[MAX_HANDED];   /* where the blocks of the objects handed begin */
} cur;

#define FIND(field, name) (py.field = (__typeof__(py.field))rt_py_symbol(name))

static int resolve(void)
{
    FIND(import_module, "PyImport_ImportModule");
    FIND(getattr, "PyObject_GetAttrString");
    FIND(cfunction_new, "PyCFunction_NewEx");
    FIND(call_method, "PyObject_CallMethod");
    FIND(dict_next, "PyDict_Next");
    FIND(str_eq, "PyUnicode_CompareWithASCIIString");
    FIND(as_ssize, "PyLong_AsSsize_t");
    FIND(list_size, "PyList_Size");
    FIND(list_item, "PyList_GetItem");
    FIND(incref, "Py_IncRef");
    FIND(decref, "Py_DecRef");
    FIND(err_clear, "PyErr_Clear");
    FIND(none, "_Py_NoneStruct");
    return py.import_module && py.getattr && py.cfunction_new && py.call_method &&
           py.dict_next && py.str_eq && py.as_ssize && py.list_size && py.list_item &&
           py.incref && py.decref && py.err_clear && py.none;
}

/* ---- the callback ------------------------------------------------------ */

/* The block that begins at `block` is the interpreter's, to be freed after
 * the callbacks. */
static void hand(uintptr_t block)
{
    if (block && cur.nhanded < MAX_HANDED)
        cur.handed[cur.nhanded++] = block;
}

/* The info dict's numbers by key ("generation", "collected",
 * "uncollectable"), and the blocks the interpreter will free after the
 * callbacks: the dict's (its GC header first), its keys table, its keys
 * (strs, untracked: the object is the block); its values are small ints, or
 * freed after "stop", when the thread is no longer marked. */
static void read_info(py_object *info, ssize_t out[3])
{
    static const char *const names[3] = {"generation", "collected", "uncollectable"};
    const struct rt_py *rp = rt_py_get();
    const struct rt_py_objlayout *ol = rp ? rp->layout->objects : NULL;
    hand((uintptr_t)info - RT_PY_GC_HEAD);
    if (ol && ol->dict_keys)
        hand(*(const uintptr_t *)((uintptr_t)info + ol->dict_keys));
    ssize_t pos = 0;
    py_object *k, *v;
    while (py.dict_next(info, &pos, &k, &v)) {
        hand((uintptr_t)k);
        for (int i = 0; i < 3; i++)
            if (py.str_eq(k, names[i]) == 0)
                out[i] = py.as_ssize(v);
    }
}

static py_object *on_gc(py_object *self, py_object *const *args, ssize_t nargs)
{
    (void)self;
    rt_pygc_collecting = 0;
    if (nargs == 2) {
        ssize_t n[3] = {0, 0, 0};
        int start = py.str_eq(args[0], "start") == 0;
        cur.nhanded = 0;
        hand((uintptr_t)args[0]);
        read_info(args[1], n);
        py.err_clear();
        if (start) {
            cur.generation = n[0] >= 0 && n[0] < GENERATIONS ? (uint32_t)n[0] : 0;
            cur.t0 = rt_event_time();
            rt_pygc_collecting = 1;
        } else if (cur.t0) {
            struct rt_blob_pygc g = {.kind = RT_GC_COLLECTION, .generation = cur.generation,
                                     .t0 = cur.t0, .t1 = rt_event_time(),
                                     .collected = n[1] > 0 ? (uint64_t)n[1] : 0,
                                     .uncollectable = n[2] > 0 ? (uint64_t)n[2] : 0};
            rt_ring_push_blob(RT_BLOB_PYGC, &g, sizeof g);
            cur.t0 = 0;
        }
    }
    py.incref(py.none);
    return py.none;
}

static struct py_method_def on_gc_def = {
    "heapgraph_gc", on_gc, PY_METH_FASTCALL,
    "heapgraph: records each garbage collection and what it frees",
};

/* A free of a handed block is the interpreter's, once. Only the exact start
 * says so: a block of 24 bytes (a list's three items, an instance's inline
 * values) sits 32 bytes before the next block of the heap, where malloc
 * may well have put the phase string, and a test of "an object at most 32
 * bytes into the freed block" left such a block, freed by the collector,
 * uncounted (test_python_gc, once in three runs of the suite). Once freed,
 * the address may come back to a finalizer, whose blocks count. */
uint32_t rt_pygc_free_flags(const void *p, size_t size)
{
    for (size_t i = 0; i < cur.nhanded; i++)
        if (cur.handed[i] == (uintptr_t)p) {
            cur.handed[i] = cur.handed[--cur.nhanded];
            return 0;
        }
    return rt_pyobj_gc_free(p, size);
}

/* ---- installing -------------------------------------------------------- */

/* gc.get_stats()[g][key], or 0. */
static uint64_t stat_of(py_object *stats, ssize_t g, const char *key)
{
    py_object *d = py.list_item(stats, g);
    py_object *v = d ? py.call_method(d, "get", "s", key) : NULL;
    ssize_t n = v ? py.as_ssize(v) : 0;
    if (v)
        py.decref(v);
    return n > 0 ? (uint64_t)n : 0;
}

/* What the collector counted before the callback was there. */
static void send_before(py_object *gc)
{
    py_object *stats = py.call_method(gc, "get_stats", NULL);
    if (!stats)
        return;
    uint64_t now = rt_event_time();
    for (ssize_t g = 0; g < GENERATIONS && g < py.list_size(stats); g++) {
        struct rt_blob_pygc b = {.kind = RT_GC_BEFORE, .generation = (uint32_t)g, .t0 = now,
                                 .collections = stat_of(stats, g, "collections"),
                                 .collected = stat_of(stats, g, "collected"),
                                 .uncollectable = stat_of(stats, g, "uncollectable")};
        rt_ring_push_blob(RT_BLOB_PYGC, &b, sizeof b);
    }
    py.decref(stats);
}

void rt_pygc_install(void)
{
    if (!resolve())
        return;
    py_object *gc = py.import_module("gc");
    py_object *list = gc ? py.getattr(gc, "callbacks") : NULL;
    py_object *fn = list ? py.cfunction_new(&on_gc_def, NULL, NULL) : NULL;
    py_object *r = fn ? py.call_method(list, "append", "O", fn) : NULL;
    if (r) {
        py.decref(r);
        send_before(gc);
    }
    py.err_clear();
    if (fn)
        py.decref(fn);
    if (list)
        py.decref(list);
    if (gc)
        py.decref(gc);
}
