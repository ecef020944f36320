/* SPDX-License-Identifier: MIT
 *
 * rt_pymem.c - CPython's PyMem and PyObject allocators (rt_pymem.h).
 *
 * The wrappers go in before the interpreter has made anything: a block made
 * by the old allocator would be invisible, and the blocks it points to would
 * look lost. PyMem_SetAllocator only stores the new functions then (3.12
 * takes a lock that does not exist yet). The interpreter replaces the
 * domains itself when PYTHONMALLOC, -X dev or -X tracemalloc asks for
 * another allocator at start-up; the launcher refuses PYTHONMALLOC with
 * --python-allocator=pymalloc, and the probe at the first safe point
 * (rt_pymem_started) tells what really happened.
 */
#include "profiler/runtime/rt_pymem.h"

#include "profiler/runtime/rt_hooks.h"
#include "profiler/runtime/rt_python.h"
#include "profiler/runtime/rt_rec.h"

#include <stdlib.h>
#include <string.h>

enum { DOMAIN_MEM = 1, DOMAIN_OBJ = 2 }; /* PyMemAllocatorDomain */

static int attached;
static int wrapped;                 /* the PyMem and PyObject domains */
static struct rt_pymem_allocator inner_mem, inner_obj;

/* ---- attaching ---------------------------------------------------------- */

#define SYM(type, name) ((type)rt_py_symbol(name))

typedef void (*get_domain_fn)(int, struct rt_pymem_allocator *);
typedef int (*flag_fn)(void);

static void wrap_domains(void)
{
    get_domain_fn get = SYM(get_domain_fn, "PyMem_GetAllocator");
    get_domain_fn set = SYM(get_domain_fn, "PyMem_SetAllocator");
    if (!get || !set)
        return;
    struct rt_pymem_allocator w;
    get(DOMAIN_MEM, &inner_mem);
    get(DOMAIN_OBJ, &inner_obj);
    rt_hooks_pymem_wrap(&inner_mem, &w);
    set(DOMAIN_MEM, &w);
    rt_hooks_pymem_wrap(&inner_obj, &w);
    set(DOMAIN_OBJ, &w);
    wrapped = 1;
}

/* 1 once the interpreter has begun to make objects (then wrapping would
 * leave the earlier ones out). */
static int started(void)
{
    flag_fn core = SYM(flag_fn, "_Py_IsCoreInitialized");
    flag_fn full = SYM(flag_fn, "Py_IsInitialized");
    return (core && core()) || !full || full();
}

void rt_pymem_attach(void)
{
    if (attached || !rt_py_get())
        return;
    attached = 1;
    const char *want = getenv(RT_ENV_PYALLOC);
    if (want && !strcmp(want, "pymalloc") && !started())
        wrap_domains();
}

/* ---- the allocator in use ----------------------------------------------- */

/* 1 when an object allocation goes through the wrapper: the interpreter
 * may have replaced it at start-up. */
static int wrapper_in_use(void)
{
    void *(*obj_malloc)(size_t) = SYM(void *(*)(size_t), "PyObject_Malloc");
    void (*obj_free)(void *) = SYM(void (*)(void *), "PyObject_Free");
    if (!obj_malloc || !obj_free)
        return 0;
    void *p = obj_malloc(24);
    int seen = p && rt_hooks_pymem_last() == (uintptr_t)p;
    obj_free(p);
    return seen;
}

void rt_pymem_started(long pymalloc_blocks)
{
    const struct rt_py *py = rt_py_get();
    if (!py)
        return;
    uint32_t how = wrapped && wrapper_in_use() ? RT_PYALLOC_PYMALLOC
                 : pymalloc_blocks > 0 ? RT_PYALLOC_PYMALLOC_UNSEEN
                 : pymalloc_blocks == 0 ? RT_PYALLOC_MALLOC : RT_PYALLOC_UNKNOWN;
    if (wrapped && how != RT_PYALLOC_PYMALLOC)
        rt_degrade("the interpreter replaced heapgraph's pymalloc wrappers (PYTHONMALLOC, -X dev, "
                   "-X tracemalloc?): the objects it makes through pymalloc are not recorded");
    struct rt_blob_python b = { py->layout->version, py->module_id, 1, how };
    rt_ring_push_blob(RT_BLOB_PYTHON, &b, sizeof b);
}
