/* rec_daemon_raw_close: a daemon-style child closes every descriptor with
 * a close_range system call of its own, past the runtime's hooks, so the
 * runtime's connection to the collector is gone. Recording goes on through
 * the rings, the collector keeps the image live until the process ends,
 * and the runtime connects again for the exit snapshot. (libunwind's
 * memory-check pipe is gone too: this test unwinds with the runtime's own
 * walker only.)
 *
 * env: HEAPGRAPH_UNWIND=walker
 * expect: len(processes) == 2
 * expect: proc(1).exit.status == 0 and proc(1).snapshot
 * expect: proc(1).summary.allocations == 100010
 * expect: sum(l.blocks for l in proc(1).leaks if l.kind == "definite" and frames(l)[0] == "leak") == 10
 * expect: any("connected again" in n for n in proc(1).notes)
 */
#define _GNU_SOURCE
#include "daemon_work.h"

#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    if (fork() != 0)
        return 0;
    setsid();
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(SYS_close_range), "D"(3), "S"(~0u), "d"(0)
                     : "rcx", "r11", "memory");
    daemon_work();
    exit(r == 0 ? 0 : 2);
}
