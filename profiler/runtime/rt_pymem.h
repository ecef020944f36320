/* SPDX-License-Identifier: MIT
 *
 * rt_pymem.h - CPython's allocators, as the runtime sees them. With
 * HEAPGRAPH_PYTHON_ALLOCATOR=pymalloc the PyMem and PyObject domains are
 * wrapped before the interpreter starts (rt_hooks_pymem_wrap), so that every
 * object made through pymalloc is recorded as a block of its own. Once the
 * interpreter has started, the capture says how its objects are allocated.
 */
#ifndef HG_RT_PYMEM_H
#define HG_RT_PYMEM_H

/* Once rt_python.h knows the interpreter (at start and after a dlopen):
 * wraps its PyMem and PyObject domains when the environment asks for it and
 * the interpreter has not started yet. */
void rt_pymem_attach(void);

/* At the interpreter's first safe point, holding the GIL (rt_pyexit.c):
 * says how its objects are allocated (RT_BLOB_PYTHON with the allocator).
 * `pymalloc_blocks` is sys.getallocatedblocks(): 0 when pymalloc is unused. */
void rt_pymem_started(long pymalloc_blocks);

#endif
