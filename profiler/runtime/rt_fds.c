/* SPDX-License-Identifier: MIT
 *
 * rt_fds.c - the runtime's file descriptors outlive a program that closes
 * what it inherited (a daemon calling close_range or closefrom, or closing
 * every number up to a limit): the runtime's connection to the collector,
 * and the pipe libunwind checks memory through. libunwind keeps its pipe's
 * numbers; closed, they would be reused by the program's own files, which
 * libunwind would then write into and block reading from. The close,
 * close_range and closefrom hooks leave the runtime's descriptors open and
 * tell the program they closed them, as the program asked. A descriptor
 * closed past them (a raw system call) is still handled: the runtime
 * checks its connection before using it and connects again.
 */
#include "profiler/runtime/rt_fds.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_rec.h"
#include "profiler/runtime/unwind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_OWN 8

static _Atomic int own[MAX_OWN]; /* fd + 1; 0: free */

static int owned(int fd)
{
    for (int i = 0; i < MAX_OWN; i++)
        if (atomic_load_explicit(&own[i], memory_order_relaxed) == fd + 1)
            return 1;
    return 0;
}

void rt_fds_own(int fd)
{
    for (int i = 0; fd >= 0 && i < MAX_OWN; i++) {
        int free_slot = 0;
        if (atomic_compare_exchange_strong(&own[i], &free_slot, fd + 1))
            return;
    }
}

int rt_fds_close(int fd)
{
    for (int i = 0; fd >= 0 && i < MAX_OWN; i++) {
        int cur = fd + 1;
        atomic_compare_exchange_strong(&own[i], &cur, 0);
    }
    return (int)rt_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}

static int checked(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return (int)r;
}

/* libunwind makes its memory-check pipe at its first use, which may come at
 * any time (rt_unwind.c sets it up when first needed), and again when it
 * finds the pipe closed: a pipe that libunwind's code makes is the
 * runtime's. */
RT_EXPORT int pipe2(int fds[2], int flags)
{
    int r = checked(rt_raw_syscall(SYS_pipe2, (long)fds, flags, 0, 0, 0, 0));
    if (r == 0 && rt_unwind_in_libunwind((uintptr_t)__builtin_return_address(0))) {
        rt_fds_own(fds[0]);
        rt_fds_own(fds[1]);
    }
    return r;
}

RT_EXPORT int close(int fd)
{
    if (owned(fd))
        return 0;
    return checked(rt_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0));
}

/* close_range over [first, last] around the runtime's descriptors. */
static int close_around(unsigned first, unsigned last, int flags)
{
    unsigned from = first;
    for (;;) {
        unsigned next = last, found = 0;
        for (int i = 0; i < MAX_OWN; i++) {
            int v = atomic_load(&own[i]);
            if (v > 0 && (unsigned)(v - 1) >= from && (unsigned)(v - 1) <= next) {
                next = (unsigned)(v - 1);
                found = 1;
            }
        }
        if (!found || next > from) {
            unsigned to = found ? next - 1 : last;
            int r = checked(rt_raw_syscall(SYS_close_range, from, to, flags, 0, 0, 0));
            if (r < 0)
                return r;
        }
        if (!found || next == last)
            return 0;
        from = next + 1;
    }
}

RT_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (first > last)
        return checked(-EINVAL);
    return close_around(first, last, flags);
}

RT_EXPORT void closefrom(int lowfd)
{
    close_around(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u, 0);
}
