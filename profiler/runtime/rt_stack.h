/* SPDX-License-Identifier: MIT
 *
 * rt_stack.h - in-process deduplication of call stacks. Every distinct stack
 * gets an id (from 1, per process image) and is sent once as RT_REC_STACK;
 * events then carry the id. Lookups and inserts are lock-free. A table of
 * its own rather than uthash: every thread of the target shares it without
 * a lock, and it lives in the runtime's mmap arena, never in the allocator
 * the runtime watches.
 */
#ifndef HG_RT_STACK_H
#define HG_RT_STACK_H

#include <stdint.h>

/* Sets up an empty table (at init and in a forked child; the parent's table
 * is dropped, ids go on from the parent's). Returns -1 when memory is short. */
int rt_stack_reset(void);

/* What identifies a stack in the table: 96 bits of hash of its frames. */
struct rt_stack_key {
    uint64_t key;   /* never 0 */
    uint32_t check;
};

/* The hash is one chain over the frames from the outermost to the
 * innermost, so that an unwinder that knows the outer part of a stack is
 * unchanged resumes the chain from the state it kept for that part
 * (rt_unwind.c). Two multiply chains with different constants make the
 * 96 bits. */
struct rt_stack_hstate {
    uint64_t a, b;
};

#define RT_STACK_HSTATE0 ((struct rt_stack_hstate){ 0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full })

static inline struct rt_stack_hstate rt_stack_hstep(struct rt_stack_hstate h, uint64_t frame)
{
    h.a = (h.a ^ frame) * 0xff51afd7ed558ccdull;
    h.b = (h.b ^ frame) * 0xc4ceb9fe1a85ec53ull;
    h.a ^= h.a >> 32;
    h.b ^= h.b >> 29;
    return h;
}

static inline struct rt_stack_key rt_stack_hfinal(struct rt_stack_hstate h, unsigned n)
{
    uint64_t a = (h.a ^ n) * 0xff51afd7ed558ccdull, b = (h.b + n) * 0xc4ceb9fe1a85ec53ull;
    a ^= a >> 32;
    b ^= b >> 29;
    return (struct rt_stack_key){ a | 1, (uint32_t)b };
}

/* The same hash over frames[] (innermost first) in one go. */
struct rt_stack_key rt_stack_hash(const uint64_t *frames, unsigned n);

/* The id of k when the calling thread used it recently (a small per-thread
 * cache), else 0 after starting to load k's table slot: a table lookup is a
 * cache miss, which the real allocator's work can partly hide. */
uint32_t rt_stack_recent(struct rt_stack_key k);

/* The id of a stack of n frames already seen, 0 if none yet (or n == 0). */
uint32_t rt_stack_find(struct rt_stack_key k, unsigned n);

/* The id of the stack, inserting it when new; a new stack's RT_REC_STACK
 * (at `time`, with the current module generation) is written into the open
 * publication `how`. Returns 0 when the table is full (the event then has no
 * stack; the runtime says it degraded). */
uint32_t rt_stack_intern(int how, struct rt_stack_key k, const uint64_t *frames, unsigned n,
                         uint64_t time);

#endif
