/* SPDX-License-Identifier: MIT
 *
 * rt_hooks.h - the interposed allocation family (hooks.def), and the same
 * recording around CPython's own allocators when the runtime wraps them.
 */
#ifndef HG_RT_HOOKS_H
#define HG_RT_HOOKS_H

#include <stddef.h>
#include <stdint.h>

/* Finds the next definition of every function in hooks.def. Calls made
 * meanwhile (dlsym allocates) are served from a static bootstrap buffer.
 * Returns -1 if a mandatory function is missing. */
int rt_hooks_resolve(void);

/* 0 when the program's calls to malloc do not reach the runtime: the
 * program defines malloc itself (an allocator linked into it), which the
 * dynamic linker then prefers to any preloaded one. */
int rt_hooks_interposed(void);

/* CPython's PyMemAllocatorEx (unchanged from 3.5 to 3.13). */
struct rt_pymem_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
};

/* Fills *wrap with an allocator that records each call of `inner` (which
 * must stay valid) as the malloc hooks record theirs: a block per object,
 * at the address and size the interpreter asked for. What `inner` does
 * meanwhile is not recorded (pymalloc's own malloc calls: a large object
 * is recorded once, by the wrapper). */
void rt_hooks_pymem_wrap(struct rt_pymem_allocator *inner, struct rt_pymem_allocator *wrap);

/* 1 while the calling thread is inside a wrapped call. */
int rt_hooks_in_pymem(void);

/* The block the calling thread's last wrapped allocation returned. */
uintptr_t rt_hooks_pymem_last(void);

#endif
