/* rec_no_alloc_exit: the exit snapshot of an image that holds no block
 * takes a short way (no roots, no thread stop, no scan) and is recorded
 * as any other; a fork child that allocates nothing still holds what it
 * inherited and takes the whole way. The program keeps 4 blocks of 24
 * bytes in a global and forks a child that returns at once (its snapshot:
 * the 4 inherited blocks); then it execs itself with "empty",
 * an image that allocates nothing (its snapshot: no block, not partial).
 *
 * expect: len(processes) == 3
 * expect: [p.origin for p in processes] == ["root", "fork", "exec"]
 * expect: proc(1).snapshot and len(proc(1).snapshots) == 1
 * expect: proc(1).snapshots[0].blocks == 4 and proc(1).snapshots[0].bytes == 96
 * expect: proc(2).command[1:] == ["empty"] and proc(2).summary.allocations == 0
 * expect: proc(2).snapshot and len(proc(2).snapshots) == 1
 * expect: proc(2).snapshots[0].reason == "exit" and proc(2).snapshots[0].blocks == 0
 * expect: proc(2).snapshots[0].partial == False
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile keep[4];

__attribute__((noinline)) static void hold(int i) { keep[i] = malloc(24); }

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "empty") == 0)
        return 0;
    for (int i = 0; i < 4; i++)
        hold(i);
    pid_t pid = fork();
    if (pid == 0)
        return 0;
    waitpid(pid, NULL, 0);
    execl("/proc/self/exe", argv[0], "empty", (char *)NULL);
    return 1;
}
