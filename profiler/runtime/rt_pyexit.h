/* SPDX-License-Identifier: MIT
 *
 * rt_pyexit.h - the exit snapshot of a CPython process, taken while the
 * interpreter is still whole: from a Python atexit callback, which
 * Py_FinalizeEx runs after the program's threads were joined and before it
 * tears the modules down. The runtime's own exit handler (after main) would
 * see an interpreter that has freed most of what the program held.
 */
#ifndef HG_RT_PYEXIT_H
#define HG_RT_PYEXIT_H

#include <stdatomic.h>

/* 1 while a CPython's C API was found and the atexit callback is not yet
 * registered: hooks then call rt_pyexit_arm on their slow path. */
extern _Atomic int rt_pyexit_waiting;

/* Once rt_python.h knows the interpreter (at start and after a dlopen),
 * finds the C API the callback needs. */
void rt_pyexit_attach(void);

/* Once the interpreter is initialized, asks it (Py_AddPendingCall, which
 * any thread may call without the GIL) to register the callback at its next
 * safe point. Called from a hook outside the real allocator. */
void rt_pyexit_arm(void);

#endif
