/* SPDX-License-Identifier: MIT
 *
 * rt_pyframe.h - the Python frames of an allocation's stack.
 *
 * In the hook, rt_pyf_read() reads the calling thread's own frame chain
 * (rt_python.h: its PyThreadState, whether or not it holds the GIL) and
 * keeps per frame the code object's address and the instruction's byte
 * offset; it folds them into the stack's table key, so that the same native
 * stack running different Python lines is a different stack. Only when the
 * stack is new does rt_pyf_encode() turn code addresses into code ids,
 * sending each code object's metadata once (RT_BLOB_PYCODE: qualified name,
 * file, first line, line table); lines are resolved offline.
 *
 * Reuse of a code object's address. A freed code object's block may hold a
 * new code object later, which must not inherit the old one's id (nor the
 * stacks that named it). Every recorded allocation big enough to be a code
 * object is shown to rt_pyf_born(); a filter indexed by address finds the
 * blocks that held a code object the runtime sent, and bumps a generation
 * kept per address hash. The generation is part of every frame's key and of
 * the code table's key, so frames at that address are then a new code object
 * with a new id. (Checking allocations rather than frees costs the many small
 * blocks one compare, and a new code object is always an allocation.) That
 * needs the interpreter's objects to be heap blocks (PYTHONMALLOC=malloc, or
 * the allocator wrapping that keeps pymalloc): with plain pymalloc a small
 * code object's allocation is not seen.
 *
 * The hash. Consecutive allocations of a thread mostly share their outer
 * Python frames, so each thread keeps its last Python frames (outermost
 * first) with the hash state after each; a new read hashes only the frames
 * past the outer ones it shares, then mixes in the native stack's key.
 */
#ifndef HG_RT_PYFRAME_H
#define HG_RT_PYFRAME_H

#include "profiler/runtime/rt_stack.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RT_PY_MAX_FRAMES 64
#define RT_PYF_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* The Python frames read in a hook, innermost first. */
struct rt_pyf {
    unsigned n;
    uintptr_t code[RT_PY_MAX_FRAMES];  /* code object */
    uint32_t pos[RT_PY_MAX_FRAMES];    /* RT_PYF_POS / RT_PYF_ENTRY bits of the word */
    uint16_t gen[RT_PY_MAX_FRAMES];    /* generation of the code's address */
};

/* A Python frame in a stack (ring.h RT_REC_STACK, capture.h HG_REC_STACK):
 * bit 63 set; bit 62: the outermost frame one eval-loop call runs (3.11+
 * run several per call; 3.8-3.10 one); bits 32-61: the instruction's byte
 * offset in the code plus one (0: not started); bits 0-31: the code id. */
#define RT_PYF_PYTHON (1ull << 63)
#define RT_PYF_ENTRY (1u << 30)       /* in rt_pyf.pos, bit 62 of the word */
#define RT_PYF_POS_MAX ((1u << 30) - 1)

/* Nonzero once the process's interpreter is known and supported. */
extern _Atomic int rt_pyf_on;

/* Reads the calling thread's Python frames into *f and mixes them into
 * *key (the native stack's key). Costs one load when the process runs no
 * supported Python. Not from a signal handler that interrupted a hook:
 * `nested` skips the read (the chain may be mid-update). */
void rt_pyf_read_slow(struct rt_pyf *f, struct rt_stack_key *key);

static inline void rt_pyf_read(struct rt_pyf *f, struct rt_stack_key *key, int nested)
{
    f->n = 0;
    if (atomic_load_explicit(&rt_pyf_on, memory_order_relaxed) && !nested)
        rt_pyf_read_slow(f, key);
}

/* Writes the n stack words of f into out, sending the metadata of code
 * objects not sent before. Outside any publication (it publishes). A code
 * object that does not check out (its type is not code) gets id 0. */
void rt_pyf_encode(const struct rt_pyf *f, uint64_t *out);

/* Smallest block that can hold a code object (0 until an interpreter is found). */
extern size_t rt_pyf_min_block;

/* The allocation hooks call it with every block they publish as allocated. */
void rt_pyf_born_slow(uintptr_t block);

static inline void rt_pyf_born(const void *block, size_t size)
{
    if (RT_PYF_UNLIKELY(size >= rt_pyf_min_block) &&
        atomic_load_explicit(&rt_pyf_on, memory_order_relaxed))
        rt_pyf_born_slow((uintptr_t)block);
}

/* The calling thread ends: releases its frame shadow. */
void rt_pyf_thread_end(void);

/* The interpreter was found (rt_python.c): sets up the tables. */
void rt_pyf_start(void);

/* In a forked child: forget which code objects were sent (ids restart). */
void rt_pyf_reset(void);

#endif
