/* SPDX-License-Identifier: MIT
 *
 * rt_mmap.c - the mappings the program's allocator makes for itself.
 *
 * The heap scanner reads the memory a program maps as a root (rt_scan_maps.c)
 * but must leave out the allocator's own: jemalloc's and tcmalloc's extents
 * keep stale data in free regions, and their metadata points at every large
 * block, so a leaked block would look held. glibc's malloc maps through its
 * internal __mmap, which no interposition sees; the scanner recognises its
 * heaps instead. Every other allocator maps through mmap or syscall, and the
 * caller tells whose mapping it is: a thread inside a recording hook is
 * inside the real allocator, and code of the allocator's own module is the
 * allocator whenever it runs. A library's allocator starts in its
 * constructor, before the runtime knows which module the allocator is:
 * those mappings wait in a short list with their caller.
 *
 * The hooks make the system calls themselves (glibc's wrappers only set
 * errno), so they work before the runtime has resolved anything.
 */
#include "profiler/runtime/rt_mmap.h"

#include "profiler/runtime/rt_rec.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PENDING 64

struct pending {
    uintptr_t start, end;
    uintptr_t caller;
};

static uintptr_t alloc_lo, alloc_hi; /* the allocator's module, if it has its own */
static _Atomic int known;            /* rt_mmap_allocator ran */
static struct pending pending[MAX_PENDING];
static _Atomic uint32_t npending;

static long checked(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static int module_of(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
    struct dl_find_object obj;
    if (!addr || _dl_find_object((void *)addr, &obj) != 0)
        return -1;
    *lo = (uintptr_t)obj.dlfo_map_start;
    *hi = (uintptr_t)obj.dlfo_map_end;
    return 0;
}

void rt_mmap_allocator(void *real_malloc)
{
    uintptr_t lo, hi, libc_lo, libc_hi, main_lo, main_hi;
    if (module_of(real_malloc, &lo, &hi) == 0 &&
        module_of((void *)&getpid, &libc_lo, &libc_hi) == 0 && lo != libc_lo &&
        (module_of((void *)getauxval(AT_ENTRY), &main_lo, &main_hi) != 0 || lo != main_lo)) {
        alloc_lo = lo;
        alloc_hi = hi;
    }
    uint32_t n = atomic_exchange(&npending, MAX_PENDING);
    for (uint32_t i = 0; i < n && i < MAX_PENDING; i++)
        if (pending[i].end > pending[i].start && pending[i].caller >= alloc_lo &&
            pending[i].caller < alloc_hi)
            rt_region_add_alloc(pending[i].start, pending[i].end - pending[i].start);
    atomic_store(&known, 1);
}

static void note_pending(uintptr_t start, size_t len, uintptr_t caller)
{
    uint32_t i = atomic_fetch_add(&npending, 1);
    if (i < MAX_PENDING)
        pending[i] = (struct pending){start, start + len, caller};
}

/* An unmap before the allocator is known trims the waiting mappings. */
static void trim_pending(uintptr_t start, uintptr_t end)
{
    uint32_t n = atomic_load(&npending);
    for (uint32_t i = 0; i < n && i < MAX_PENDING; i++) {
        struct pending *p = &pending[i];
        if (end <= p->start || start >= p->end)
            continue;
        if (start > p->start)
            p->end = start; /* a hole in the middle drops the tail too */
        else
            p->start = end < p->end ? end : p->end;
    }
}

static void mapped(void *p, size_t len, uintptr_t caller)
{
    if (p == MAP_FAILED)
        return;
    if (rt_tls.in_hook || rt_tls.guard || (caller >= alloc_lo && caller < alloc_hi))
        rt_region_add_alloc((uintptr_t)p, len);
    else if (!atomic_load_explicit(&known, memory_order_acquire))
        note_pending((uintptr_t)p, len, caller);
}

static void unmapped(void *addr, size_t len)
{
    rt_region_unmapped((uintptr_t)addr, len);
    if (!atomic_load_explicit(&known, memory_order_acquire))
        trim_pending((uintptr_t)addr, (uintptr_t)addr + len);
}

static long do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, uintptr_t caller)
{
    long r = checked(rt_raw_syscall(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)off));
    mapped(r == -1 ? MAP_FAILED : (void *)r, len, caller);
    return r;
}

static long do_munmap(void *addr, size_t len)
{
    long r = checked(rt_raw_syscall(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0));
    if (r == 0)
        unmapped(addr, len);
    return r;
}

static long do_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
    long r = checked(rt_raw_syscall(SYS_mremap, (long)old, (long)old_len, (long)new_len, flags,
                                    (long)new_addr, 0));
    if (r != -1 && rt_region_unmapped((uintptr_t)old, old_len))
        rt_region_add_alloc((uintptr_t)r, new_len);
    return r;
}

RT_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return (void *)do_mmap(addr, len, prot, flags, fd, off, (uintptr_t)__builtin_return_address(0));
}

RT_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return (void *)do_mmap(addr, len, prot, flags, fd, off, (uintptr_t)__builtin_return_address(0));
}

RT_EXPORT int munmap(void *addr, size_t len)
{
    return (int)do_munmap(addr, len);
}

RT_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    void *new_addr = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void *);
        va_end(ap);
    }
    return (void *)do_mremap(old, old_len, new_len, flags, new_addr);
}

/* glibc's syscall() moves its arguments into place and sets errno; so does
 * this one, after looking at the calls that map memory. */
RT_EXPORT long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    switch (nr) {
    case SYS_mmap:
        return do_mmap((void *)a, (size_t)b, (int)c, (int)d, (int)e, (off_t)f,
                       (uintptr_t)__builtin_return_address(0));
    case SYS_munmap:
        return do_munmap((void *)a, (size_t)b);
    case SYS_mremap:
        return do_mremap((void *)a, (size_t)b, (size_t)c, (int)d, (void *)e);
    case SYS_close:
        return close((int)a);
    case SYS_close_range:
        return close_range((unsigned)a, (unsigned)b, (int)c);
    default:
        return checked(rt_raw_syscall(nr, a, b, c, d, e, f));
    }
}
