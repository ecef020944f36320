/* SPDX-License-Identifier: MIT
 *
 * rt_peek.c - copies of the process's own memory that come back short
 * where a load would fault. The kernel does the copy: a write of the memory
 * into a pipe, read back at once, fails with EFAULT on a page that is not
 * mapped readable (or lies past the end of its file) instead of raising
 * SIGSEGV or SIGBUS. A pipe needs nothing but write and read, which no
 * sandbox forbids; process_vm_readv, the way without a descriptor, is
 * refused by some (systemd's @system-service, where the refusal may kill
 * the process) and is only the fallback when no pipe can be had.
 *
 * The pipe is non-blocking and drained after every write, so a copy never
 * waits. A write copies into the pipe a page of its buffer at a time and
 * drops the page whose copy faulted, so each write starts at a page
 * boundary of the source (after a first piece up to one): a page that
 * cannot be read then costs only itself.
 */
#include "profiler/runtime/rt_peek.h"

#include "profiler/runtime/rt_core.h"
#include "profiler/runtime/rt_fds.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096u
#define PIPE_WANT (256u << 10)

static int g_pipe[2] = {-1, -1};
static size_t g_cap; /* bytes the pipe holds */

static long sys(long nr, long a, long b, long c)
{
    return rt_raw_syscall(nr, a, b, c, 0, 0, 0);
}

void rt_peek_begin(void)
{
    int fds[2];
    if (sys(SYS_pipe2, (long)fds, O_NONBLOCK | O_CLOEXEC, 0) < 0)
        return;
    sys(SYS_fcntl, fds[1], F_SETPIPE_SZ, PIPE_WANT); /* past the user's pipe quota: keep the default */
    long cap = sys(SYS_fcntl, fds[1], F_GETPIPE_SZ, 0);
    if (cap < (long)PAGE) {
        sys(SYS_close, fds[0], 0, 0);
        sys(SYS_close, fds[1], 0, 0);
        return;
    }
    rt_fds_own(fds[0]);
    rt_fds_own(fds[1]);
    g_pipe[0] = fds[0];
    g_pipe[1] = fds[1];
    g_cap = (size_t)cap;
}

void rt_peek_end(void)
{
    if (g_pipe[0] < 0)
        return;
    rt_fds_close(g_pipe[0]);
    rt_fds_close(g_pipe[1]);
    g_pipe[0] = g_pipe[1] = -1;
}

/* Empties the pipe after a failed write (a faulted copy leaves an empty
 * page buffer in it). */
static void drain(void)
{
    char scratch[512];
    while (sys(SYS_read, g_pipe[0], (long)scratch, sizeof scratch) > 0)
        ;
}

static size_t through_pipe(char *dst, uintptr_t src, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uintptr_t at = src + done;
        size_t piece = at % PAGE ? PAGE - at % PAGE : g_cap;
        if (piece > len - done)
            piece = len - done;
        long w = sys(SYS_write, g_pipe[1], (long)at, (long)piece), got = 0;
        while (w > 0 && got < w) {
            long r = sys(SYS_read, g_pipe[0], (long)(dst + done + got), w - got);
            if (r <= 0)
                break;
            got += r;
        }
        if (w <= 0 || got < w) {
            drain();
            return done + (size_t)got;
        }
        done += (size_t)w;
    }
    return done;
}

static size_t through_vm(char *dst, uintptr_t src, size_t len)
{
    struct iovec local = {dst, len}, remote = {(void *)src, len};
    long n = rt_raw_syscall(SYS_process_vm_readv, getpid(), (long)&local, 1, (long)&remote, 1, 0);
    return n > 0 ? (size_t)n : 0;
}

size_t rt_peek(void *dst, uintptr_t src, size_t len)
{
    if (!len)
        return 0;
    return g_pipe[1] >= 0 ? through_pipe(dst, src, len) : through_vm(dst, src, len);
}

int rt_peek_all(void *dst, uintptr_t src, size_t len)
{
    return src && rt_peek(dst, src, len) == len;
}

uintptr_t rt_peek_word(uintptr_t addr)
{
    uintptr_t v = 0;
    return rt_peek_all(&v, addr, sizeof v) ? v : 0;
}
