/* SPDX-License-Identifier: MIT
 *
 * rt_arena.c - the runtime's own memory. The runtime must never call the
 * allocator it watches (that would record itself and re-enter its hooks), so
 * everything it keeps lives in anonymous mappings made here: zeroed, private,
 * never a root for the heap scanner (the scanner skips the runtime's
 * mappings by never being told about them) and never counted.
 */
#include "profiler/runtime/rt_core.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t size)
{
    size_t page = 4096;
    return (size + page - 1) & ~(page - 1);
}

void *rt_arena_alloc(size_t size)
{
    if (size == 0)
        size = 1;
    void *p = mmap(NULL, page_round(size), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void rt_arena_free(void *p, size_t size)
{
    if (p)
        munmap(p, page_round(size ? size : 1));
}
