/* SPDX-License-Identifier: MIT
 *
 * rt_stack.h - in-process deduplication of call stacks. Every distinct stack
 * gets an id (from 1, per process image) and is sent once as RT_REC_STACK;
 * events then carry the id. Lookups and inserts are lock-free.
 */
#ifndef HG_RT_STACK_H
#define HG_RT_STACK_H

#include "profiler/unwind.h"

#include <stdint.h>

/* Slots an RT_REC_STACK of n frames takes. */
#define RT_STACK_SLOTS(n) (1u + ((n) + 3u) / 4u)

/* Sets up an empty table (at init and in a forked child; the parent's table
 * is dropped, ids start again at 1). Returns -1 when memory is short. */
int rt_stack_reset(void);

/* What identifies a stack in the table: 96 bits of hash of its frames. */
struct rt_stack_key {
    uint64_t key;   /* never 0 */
    uint32_t check;
};

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
