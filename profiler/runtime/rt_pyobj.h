/* SPDX-License-Identifier: MIT
 *
 * rt_pyobj.h - what the heap scanner knows about CPython's objects: where
 * inside its heap block a Python object starts. An object the cyclic
 * collector tracks lies after the collector's 16-byte header (3.8 and
 * later), and since 3.11 an instance with a managed __dict__ (3.12: or
 * managed weak references) after two more words; every reference to it
 * points there, into its block. Taken as interior pointers they would make
 * nearly every object "possibly lost"; a pointer to an object's header holds
 * its block as a pointer to its start does.
 */
#ifndef HG_RT_PYOBJ_H
#define HG_RT_PYOBJ_H

#include <stdint.h>

/* Called at the start of every snapshot: takes the layout of the process's
 * interpreter (rt_python.h; none: every pointer stays as it is) and forgets
 * what it learnt about type objects (a type may have been freed and its
 * address reused). */
void rt_pyobj_begin(void);

/* 1 when a pointer `off` bytes into the live block [addr, addr + size) is
 * how CPython refers to that block: the header of an object after its GC
 * header and pre-header (its type is a type object, checked once per type
 * through reads that cannot fault, whose layout puts the header exactly
 * there), or the values of a split dict after their prefix (3.11, 3.12).
 * The block itself must be readable. */
int rt_pyobj_ref(uintptr_t addr, uint64_t size, uint64_t off);

#endif
