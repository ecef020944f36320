/* SPDX-License-Identifier: MIT
 *
 * rt_pyexit.c - the exit snapshot of a CPython process at interpreter exit.
 *
 * Py_FinalizeEx joins the program's threads (threading._shutdown), runs the
 * pending calls, then the atexit callbacks (last registered first), and only
 * then clears the modules, the interned strings and the type caches. A
 * callback registered early runs after the program's own callbacks and sees
 * the interpreter whole: module globals are roots, and memory the
 * interpreter keeps for itself is reachable from its state. Py_FinalizeEx
 * cannot be interposed (Debian's python3.11 and libpython call it
 * directly), so the runtime registers a C function with atexit.register.
 *
 * Registering runs Python code, which only the interpreter's own safe
 * points allow: once Py_IsInitialized(), a hook's slow path (a new stack,
 * outside the real allocator) asks for it with Py_AddPendingCall, which any
 * thread may call without the GIL; the main thread runs it at its next
 * eval-loop check, holding the GIL. The objects that registration makes
 * (the function object, the atexit list entry) are recorded like the
 * program's own. If the callback never runs (os._exit, a fatal signal, an
 * interpreter that exits before its first safe point), the runtime's C exit
 * handler takes the snapshot as for any program. The C API comes from
 * rt_python.h; the runtime never links libpython.
 */
#include "profiler/runtime/rt_pyexit.h"

#include "profiler/runtime/rt_proc.h"
#include "profiler/runtime/rt_pygc.h"
#include "profiler/runtime/rt_pymem.h"
#include "profiler/runtime/rt_python.h"

#include <stddef.h>
#include <stdint.h>

_Atomic int rt_pyexit_waiting;

typedef struct py_object py_object; /* opaque: only passed back to the C API */

struct py_method_def {              /* PyMethodDef, unchanged since Python 2 */
    const char *name;
    py_object *(*meth)(py_object *, py_object *);
    int flags;
    const char *doc;
};
#define PY_METH_NOARGS 0x0004

static struct {
    int (*is_initialized)(void);
    int (*add_pending_call)(int (*)(void *), void *);
    void *(*interp_main)(void);
    void *(*interp_get)(void);
    py_object *(*import_module)(const char *);
    py_object *(*cfunction_new)(struct py_method_def *, py_object *, py_object *);
    py_object *(*call_method)(py_object *, const char *, const char *, ...);
    py_object *(*build_value)(const char *, ...);
    long (*as_long)(py_object *);
    void (*decref)(py_object *);
    void (*err_clear)(void);
    long (*gc_collect)(void);
} py;

/* ---- the C API ---------------------------------------------------------- */

static _Atomic int attached;

#define FIND(field, name) (py.field = (__typeof__(py.field))rt_py_symbol(name))

/* Fills py from the interpreter's symbols; returns 1 when all are there
 * (PyInterpreterState_Get is _PyInterpreterState_Get in 3.8). */
static int resolve(void)
{
    FIND(is_initialized, "Py_IsInitialized");
    FIND(add_pending_call, "Py_AddPendingCall");
    FIND(interp_main, "PyInterpreterState_Main");
    if (!FIND(interp_get, "PyInterpreterState_Get"))
        FIND(interp_get, "_PyInterpreterState_Get");
    FIND(import_module, "PyImport_ImportModule");
    FIND(cfunction_new, "PyCFunction_NewEx");
    FIND(call_method, "PyObject_CallMethod");
    FIND(build_value, "Py_BuildValue");
    FIND(as_long, "PyLong_AsLong");
    FIND(decref, "Py_DecRef");
    FIND(err_clear, "PyErr_Clear");
    FIND(gc_collect, "PyGC_Collect");
    return py.is_initialized && py.add_pending_call && py.interp_main && py.interp_get &&
           py.import_module && py.cfunction_new && py.call_method && py.build_value &&
           py.as_long && py.decref && py.err_clear;
}

void rt_pyexit_attach(void)
{
    if (!rt_py_get() || atomic_load(&attached))
        return;
    if (resolve() && !atomic_exchange(&attached, 1))
        atomic_store(&rt_pyexit_waiting, 1);
}

/* ---- the callback ----------------------------------------------------- */

/* atexit calls this on the thread that finalizes, holding the GIL. */
static py_object *at_exit(py_object *self, py_object *unused)
{
    (void)self;
    (void)unused;
    /* Py_FinalizeEx collects right after the atexit callbacks when the
     * collector is enabled (PyGC_Collect does nothing when it is not):
     * collect first, so that cyclic garbage it would free is not reported
     * as a leak, and what remains is what it cannot or may not free. */
    if (py.gc_collect)
        py.gc_collect();
    __builtin_unwind_init(); /* the callers' registers, spilled into this frame */
    rt_proc_exit_snapshot((uintptr_t)__builtin_frame_address(0));
    return py.build_value("");
}

static struct py_method_def at_exit_def = {
    "heapgraph_exit_snapshot", at_exit, PY_METH_NOARGS,
    "heapgraph: takes the exit snapshot before the interpreter is torn down",
};

/* sys.getallocatedblocks(): the blocks pymalloc holds (0 when the
 * interpreter does not use it); -1 when it cannot be asked. */
static long pymalloc_blocks(void)
{
    py_object *sys = py.import_module("sys");
    py_object *n = sys ? py.call_method(sys, "getallocatedblocks", NULL) : NULL;
    long blocks = n ? py.as_long(n) : -1;
    if (n)
        py.decref(n);
    if (sys)
        py.decref(sys);
    if (blocks < 0)
        py.err_clear();
    return blocks;
}

/* The pending call, the interpreter's first safe point: says how its
 * objects are allocated, starts recording the garbage collector's work and
 * registers at_exit with atexit. Only in the
 * main interpreter, whose atexit callbacks run at process exit. */
static int register_at_exit(void *arg)
{
    (void)arg;
    if (py.interp_get() != py.interp_main()) {
        atomic_store(&rt_pyexit_waiting, 1);
        return 0;
    }
    rt_pymem_started(pymalloc_blocks());
    rt_pygc_install();
    py_object *mod = py.import_module("atexit");
    py_object *fn = mod ? py.cfunction_new(&at_exit_def, NULL, NULL) : NULL;
    py_object *r = fn ? py.call_method(mod, "register", "O", fn) : NULL;
    if (r)
        py.decref(r);
    else
        py.err_clear();
    if (fn)
        py.decref(fn);
    if (mod)
        py.decref(mod);
    return 0;
}

void rt_pyexit_arm(void)
{
    if (!py.is_initialized() || !atomic_exchange(&rt_pyexit_waiting, 0))
        return;
    if (py.add_pending_call(register_at_exit, NULL) != 0)
        atomic_store(&rt_pyexit_waiting, 1); /* the queue is full: later */
}
