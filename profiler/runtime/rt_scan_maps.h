/* SPDX-License-Identifier: MIT
 *
 * rt_scan_maps.h - the process's mappings as the heap scanner sees them:
 * /proc/self/maps read into arena memory, what kind each mapping is, and
 * which parts of them are memory the program (or its interpreter, its
 * allocator's clients, its runtime) mapped for itself and therefore a root.
 * Internal to the scanner (rt_scan*.c).
 */
#ifndef HG_RT_SCAN_MAPS_H
#define HG_RT_SCAN_MAPS_H

#include "profiler/runtime/rt_core.h"

#include <stddef.h>
#include <stdint.h>

enum rt_map_kind {
    RT_MAP_ANON = 0,  /* anonymous, private or shared (/dev/zero), named or not */
    RT_MAP_FILE,      /* a file: reads past its end would raise SIGBUS */
    RT_MAP_BRK,       /* [heap]: the brk heap, malloc's */
    RT_MAP_STACK,     /* [stack]: the main thread's stack */
    RT_MAP_SPECIAL,   /* [vdso] and the like, devices, anon_inode: never read */
};

struct rt_map {
    uintptr_t start, end;
    char perms[4];
    uint8_t kind;     /* enum rt_map_kind */
};

struct rt_maps {
    struct rt_map *m; /* sorted by address */
    size_t n, bytes;
    char *text;       /* what was read, kept until the release */
    size_t text_bytes;
};

/* Reads /proc/self/maps into arena memory. Leaves `out` empty when it
 * cannot (no memory, no procfs). */
void rt_maps_read(struct rt_maps *out);
void rt_maps_release(struct rt_maps *maps);

/* The mapping containing addr, or NULL. */
const struct rt_map *rt_maps_at(const struct rt_maps *maps, uintptr_t addr);

/* glibc's thread-arena heaps among the mappings: up to `max` ranges into
 * `out`; returns how many there are. */
size_t rt_maps_glibc_heaps(const struct rt_maps *maps, struct rt_range *out, size_t max);

/* The parts of readable and writable mappings that are the program's own
 * memory: everything but the brk heap, the main stack, special mappings and
 * the `skip` ranges (module segments and other roots, thread stacks, glibc's
 * heaps, the runtime's regions), which it sorts and merges in place. Calls
 * fn for each part with the kind of its mapping. */
void rt_maps_program_parts(const struct rt_maps *maps, struct rt_range *skip, size_t nskip,
                           void (*fn)(void *arg, uintptr_t start, uintptr_t end, int kind), void *arg);

/* Page residency over [start, end) (page aligned), from /proc/self/pagemap
 * opened as `fd`: calls fn for each run of pages that hold data (present or
 * swapped out). Pages never touched hold no pointers and are not read, so a
 * large reserved mapping costs nothing. With fd < 0, the whole range is one
 * run. */
void rt_maps_resident(int fd, uintptr_t start, uintptr_t end,
                      void (*fn)(void *arg, uintptr_t start, uintptr_t end), void *arg);

#endif
