/* rec_fork: a forked child is recorded as its own process with its own
 * exact counts. The parent allocates and frees 100 blocks of 32 bytes before
 * the fork and 20 of 64 after; the child allocates and frees 50 of 48 and
 * exits with status 3.
 *
 * expect: len(processes) == 2
 * expect: proc(1).origin == "fork" and proc(1).ppid == proc(0).pid
 * expect: proc(1).exit.status == 3
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] == "before"] == [100]
 * expect: [s.bytes for s in proc(0).sites if frames(s)[0] == "after"] == [1280]
 * expect: [s.bytes for s in proc(1).sites if frames(s)[0] == "in_child"] == [2400]
 * expect: [s for s in proc(1).sites if frames(s)[0] in ("before", "after")] == []
 * expect: [s for s in proc(0).sites if frames(s)[0] == "in_child"] == []
 * expect: proc(0).summary.live_blocks == 0 and proc(1).summary.live_blocks == 0
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile keep[100];

__attribute__((noinline)) static void before(int i) { keep[i] = malloc(32); }
__attribute__((noinline)) static void after(int i) { keep[i] = malloc(64); }
__attribute__((noinline)) static void in_child(int i) { keep[i] = malloc(48); }

static void release(int n)
{
    for (int i = 0; i < n; i++)
        free(keep[i]);
}

int main(void)
{
    for (int i = 0; i < 100; i++)
        before(i);
    release(100);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 50; i++)
            in_child(i);
        release(50);
        exit(3);
    }
    int status;
    waitpid(pid, &status, 0);
    for (int i = 0; i < 20; i++)
        after(i);
    release(20);
    return 0;
}
