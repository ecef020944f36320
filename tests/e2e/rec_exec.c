/* rec_exec: an exec'd image is recorded as its own process (same pid,
 * origin "exec"), even when the program passes an empty environment (the
 * runtime puts LD_PRELOAD and HEAPGRAPH_SOCK back). Before the exec the
 * program allocates and frees 10 blocks of 16 bytes; the new image, this
 * program with the argument "child", allocates and frees 77 of 100.
 *
 * expect: len(processes) == 2
 * expect: proc(1).origin == "exec" and proc(1).pid == proc(0).pid
 * expect: proc(1).command[1:] == ["child"]
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] == "parent_work"] == [10]
 * expect: [s.bytes for s in proc(1).sites if frames(s)[0] == "child_work"] == [7700]
 * expect: proc(1).summary.live_blocks == 0
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile keep[100];

__attribute__((noinline)) static void parent_work(int i) { keep[i] = malloc(16); }
__attribute__((noinline)) static void child_work(int i) { keep[i] = malloc(100); }

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        for (int i = 0; i < 77; i++)
            child_work(i);
        for (int i = 0; i < 77; i++)
            free(keep[i]);
        return 0;
    }
    for (int i = 0; i < 10; i++)
        parent_work(i);
    for (int i = 0; i < 10; i++)
        free(keep[i]);
    char *empty[] = { NULL };
    execle("/proc/self/exe", argv[0], "child", (char *)NULL, empty);
    return 1;
}
