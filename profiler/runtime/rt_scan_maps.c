/* SPDX-License-Identifier: MIT
 *
 * rt_scan_maps.c - the mappings of the process for the heap scanner.
 *
 * Like valgrind, which scans every readable and writable mapping of its
 * client, the scanner treats the memory a program maps for itself as a
 * root: an interpreter's object arenas (CPython's pymalloc), a compiler's
 * garbage-collected pages (GCC's ggc), a region a program manages itself.
 * What is left out is what would hold blocks that the program lost: malloc's
 * own memory (the brk heap and glibc's thread-arena heaps, whose free chunks
 * keep stale pointers), stacks (scanned from their stack pointer up
 * elsewhere), the runtime's own mappings, and mappings whose reads could
 * have effects (devices, the vDSO). Pages never touched are not read, and
 * the caller reads the rest through copies that cannot fault (rt_peek.h):
 * a file cut short under its mapping cannot raise SIGBUS in the program,
 * and a range unmapped since the list was read is skipped.
 */
#include "profiler/runtime/rt_scan_maps.h"

#include "profiler/runtime/rt_peek.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc (64-bit): a thread arena's heaps are HEAP_MAX_SIZE-aligned
 * reservations of 2 * DEFAULT_MMAP_THRESHOLD_MAX, each starting with a
 * heap_info (arena, previous heap, size, mprotect'ed size). */
#define GLIBC_HEAP_MAX ((uintptr_t)64 << 20)
#define PAGE 4096u
#define PAGEMAP_BATCH 512

/* ------------------------------------------------------------- reading */

static uint8_t kind_of(const char *path, size_t len)
{
    if (len == 0)
        return RT_MAP_ANON;
#define IS(lit) (len >= sizeof lit - 1 && memcmp(path, lit, sizeof lit - 1) == 0)
    if (IS("[heap]"))
        return RT_MAP_BRK;
    if (IS("[stack]"))
        return RT_MAP_STACK;
    if (IS("[anon:") || IS("/dev/zero"))
        return RT_MAP_ANON;
    if (IS("[") || IS("/dev/") || IS("anon_inode:"))
        return RT_MAP_SPECIAL;
#undef IS
    return RT_MAP_FILE;
}

/* Parses one line "start-end perms offset dev inode [path]"; returns the
 * index just past its newline. */
static size_t parse_line(const char *buf, size_t len, size_t at, struct rt_map *m)
{
    char *end;
    m->start = strtoul(buf + at, &end, 16);
    m->end = strtoul(end + 1, &end, 16);
    memcpy(m->perms, end + 1, 4);
    const char *p = end + 1, *stop = buf + len;
    for (int field = 0; field < 4 && p < stop && *p != '\n'; field++) {
        while (p < stop && *p != ' ' && *p != '\n')
            p++;
        while (p < stop && *p == ' ')
            p++;
    }
    const char *path = p;
    while (p < stop && *p != '\n')
        p++;
    m->kind = kind_of(path, (size_t)(p - path));
    return (size_t)(p - buf) + 1;
}

void rt_maps_read(struct rt_maps *out)
{
    *out = (struct rt_maps){0};
    size_t cap = 1 << 16, len = 0;
    char *buf = NULL;
    for (;;) {
        buf = rt_arena_alloc(cap);
        int fd = buf ? open("/proc/self/maps", O_RDONLY | O_CLOEXEC) : -1;
        if (fd < 0)
            break;
        ssize_t r;
        len = 0;
        while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
            len += (size_t)r;
        close(fd);
        if (len < cap)
            break;
        rt_arena_free(buf, cap);
        buf = NULL;
        cap *= 2;
    }
    if (!buf)
        return;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    /* the text stays mapped until the release: unmapped now, it would be
     * a range the list shows and nothing holds any more */
    out->text = buf;
    out->text_bytes = cap;
    out->bytes = (lines + 1) * sizeof *out->m;
    out->m = rt_arena_alloc(out->bytes);
    for (size_t at = 0; out->m && at < len;)
        at = parse_line(buf, len, at, &out->m[out->n++]);
}

void rt_maps_release(struct rt_maps *maps)
{
    if (maps->m)
        rt_arena_free(maps->m, maps->bytes);
    if (maps->text)
        rt_arena_free(maps->text, maps->text_bytes);
    *maps = (struct rt_maps){0};
}

const struct rt_map *rt_maps_at(const struct rt_maps *maps, uintptr_t addr)
{
    size_t a = 0, b = maps->n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (maps->m[m].end <= addr)
            a = m + 1;
        else
            b = m;
    }
    return a < maps->n && maps->m[a].start <= addr ? &maps->m[a] : NULL;
}

/* ------------------------------------------------------------- ranges */

/* Sorts ranges by start. A Shell sort: it allocates nothing, and other
 * threads may be stopped holding malloc's locks. */
static void sort_ranges(struct rt_range *r, size_t n)
{
    for (size_t gap = n / 2; gap > 0; gap /= 2)
        for (size_t i = gap; i < n; i++) {
            struct rt_range v = r[i];
            size_t j = i;
            for (; j >= gap && r[j - gap].start > v.start; j -= gap)
                r[j] = r[j - gap];
            r[j] = v;
        }
}

/* Merges sorted ranges into disjoint ones; returns their number. */
static size_t merge(struct rt_range *r, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].end <= r[i].start)
            continue;
        if (k && r[i].start <= r[k - 1].end) {
            if (r[i].end > r[k - 1].end)
                r[k - 1].end = r[i].end;
        } else {
            r[k++] = r[i];
        }
    }
    return k;
}

static int readable_writable(const struct rt_map *m)
{
    return m->perms[0] == 'r' && m->perms[1] == 'w';
}

/* 1 if a glibc heap_info lies at the HEAP_MAX-aligned address h, which the
 * list shows in a readable and writable mapping (read without faulting:
 * the list may be older than the mapping). The arena it names is right
 * after it (an arena's first heap) or in an earlier heap of the same
 * arena. */
static int glibc_heap_at(const struct rt_maps *maps, uintptr_t h)
{
    uintptr_t w[4];
    if (rt_peek(w, h, sizeof w) != sizeof w)
        return 0;
    uintptr_t arena = w[0], prev = w[1], size = w[2], mprotected = w[3];
    if (!size || size > GLIBC_HEAP_MAX || size % PAGE || mprotected < size ||
        mprotected > GLIBC_HEAP_MAX || mprotected % PAGE || prev % GLIBC_HEAP_MAX || arena % 8)
        return 0;
    if (arena > h && arena < h + PAGE)
        return 1;
    uintptr_t first = arena & ~(GLIBC_HEAP_MAX - 1);
    const struct rt_map *m = rt_maps_at(maps, first);
    return first != h && m && readable_writable(m) && rt_peek_word(first) == arena;
}

size_t rt_maps_glibc_heaps(const struct rt_maps *maps, struct rt_range *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < maps->n; i++) {
        const struct rt_map *m = &maps->m[i];
        if (m->kind != RT_MAP_ANON || !readable_writable(m))
            continue;
        uintptr_t h = (m->start + GLIBC_HEAP_MAX - 1) & ~(GLIBC_HEAP_MAX - 1);
        for (; h >= m->start && h + 4 * sizeof(uintptr_t) <= m->end; h += GLIBC_HEAP_MAX)
            if (glibc_heap_at(maps, h)) {
                if (n < max)
                    out[n] = (struct rt_range){h, h + GLIBC_HEAP_MAX};
                n++;
            }
    }
    return n;
}

void rt_maps_program_parts(const struct rt_maps *maps, struct rt_range *skip, size_t nskip,
                           void (*fn)(void *arg, uintptr_t start, uintptr_t end, int kind), void *arg)
{
    sort_ranges(skip, nskip);
    nskip = merge(skip, nskip);
    size_t k = 0;
    for (size_t i = 0; i < maps->n; i++) {
        const struct rt_map *m = &maps->m[i];
        if (!readable_writable(m) || (m->kind != RT_MAP_ANON && m->kind != RT_MAP_FILE))
            continue;
        while (k < nskip && skip[k].end <= m->start)
            k++;
        uintptr_t at = m->start;
        for (size_t j = k; j < nskip && skip[j].start < m->end && at < m->end; j++) {
            if (skip[j].start > at)
                fn(arg, at, skip[j].start, m->kind);
            if (skip[j].end > at)
                at = skip[j].end;
        }
        if (at < m->end)
            fn(arg, at, m->end, m->kind);
    }
}

/* ------------------------------------------------------------ residency */

void rt_maps_resident(int fd, uintptr_t start, uintptr_t end,
                      void (*fn)(void *arg, uintptr_t start, uintptr_t end), void *arg)
{
    if (fd < 0) {
        fn(arg, start, end);
        return;
    }
    uint64_t bits[PAGEMAP_BATCH];
    uintptr_t page = start & ~(uintptr_t)(PAGE - 1), run = start;
    int in_run = 0;
    while (page < end) {
        size_t want = (end - page + PAGE - 1) / PAGE;
        if (want > PAGEMAP_BATCH)
            want = PAGEMAP_BATCH;
        ssize_t got = pread(fd, bits, want * sizeof bits[0], (off_t)(page / PAGE * sizeof bits[0]));
        if (got < (ssize_t)sizeof bits[0]) { /* unknown: read the rest */
            fn(arg, in_run ? run : (page > start ? page : start), end);
            return;
        }
        for (size_t i = 0; i < (size_t)got / sizeof bits[0]; i++, page += PAGE) {
            uintptr_t at = page > start ? page : start;
            int data = (bits[i] >> 62) != 0; /* bit 63 present, bit 62 swapped */
            if (data && !in_run)
                run = at;
            else if (!data && in_run)
                fn(arg, run, at);
            in_run = data;
        }
    }
    if (in_run)
        fn(arg, run, end);
}
