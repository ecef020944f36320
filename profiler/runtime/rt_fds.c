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

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_OWN 8
#define MAX_LIST 256

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

/* The open descriptors, from /proc/self/fd, without allocating. Returns
 * how many (at most max), or -1. */
static int list_fds(int *out, int max)
{
    int dir = (int)rt_raw_syscall(SYS_open, (long)"/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                                  0, 0, 0, 0);
    if (dir < 0)
        return -1;
    char buf[4096];
    int n = 0;
    long got;
    while ((got = rt_raw_syscall(SYS_getdents64, dir, (long)buf, sizeof buf, 0, 0, 0)) > 0) {
        for (long at = 0; at < got;) {
            const char *name = buf + at + 19; /* d_ino, d_off, d_reclen, d_type */
            unsigned short reclen;
            __builtin_memcpy(&reclen, buf + at + 16, sizeof reclen);
            int fd = 0, digits = 0;
            for (; *name >= '0' && *name <= '9'; name++, digits++)
                fd = fd * 10 + (*name - '0');
            if (digits && !*name && fd != dir && n < max)
                out[n++] = fd;
            at += reclen;
        }
    }
    rt_raw_syscall(SYS_close, dir, 0, 0, 0, 0, 0);
    return n;
}

void rt_fds_own_new(void (*fn)(void))
{
    int before[MAX_LIST], after[MAX_LIST];
    int nb = list_fds(before, MAX_LIST);
    fn();
    int na = nb < 0 ? -1 : list_fds(after, MAX_LIST);
    for (int i = 0; i < na; i++) {
        int seen = 0;
        for (int k = 0; k < nb && !seen; k++)
            seen = before[k] == after[i];
        if (!seen)
            rt_fds_own(after[i]);
    }
}

static int checked(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return (int)r;
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
