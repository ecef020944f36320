/* rec_sigkill: a program that SIGKILLs itself right after 200,000
 * allocations loses none of them: the shared rings outlive the process.
 *
 * exit: 137
 * expect: proc(0).exit.signal == 9
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] == "make"] == [200000]
 * expect: [s.live_bytes for s in proc(0).sites if frames(s)[0] == "make"] == [1600000]
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile last;

__attribute__((noinline)) static void make(void)
{
    last = malloc(8);
}

int main(void)
{
    for (int i = 0; i < 200000; i++)
        make();
    kill(getpid(), SIGKILL);
    return 0;
}
