/* rec_daemon_close_fds: a daemon-style child closes every descriptor it
 * inherited (close_range), and opens a socket pair that gets the first
 * numbers free. The runtime's connection to the collector was closed with
 * the rest, and the collector took the EOF for the end of the image: the
 * child kept 0 to 16,291 of its 100,000 allocations and no exit snapshot;
 * libunwind's memory-check pipe went too, and libunwind then read from the
 * program's socket. Now the runtime's descriptors stay open (the program is
 * told they closed), nothing is written to the program's socket (the child
 * exits 3 if anything arrived on it) and the child is recorded whole. The
 * parent exits at once. rec_daemon_raw_close closes them past the hooks.
 *
 * expect: len(processes) == 2
 * expect: proc(1).exit.status == 0 and proc(1).snapshot
 * expect: proc(1).summary.allocations == 100010
 * expect: sum(l.blocks for l in proc(1).leaks if l.kind == "definite" and frames(l)[0] == "leak") == 10
 * expect: sum(l.bytes for l in proc(1).leaks if l.kind == "definite" and frames(l)[0] == "leak") == 400
 */
#define _GNU_SOURCE
#include "daemon_work.h"

#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    if (fork() != 0)
        return 0;
    setsid();
    close_range(3, ~0u, 0);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return 2;
    daemon_work();
    char buf[64];
    if (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) >= 0)
        return 3;
    exit(0);
}
