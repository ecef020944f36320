/* rec_segv: a program killed by SIGSEGV: heapgraph run exits 139, the
 * process ended by signal 11, and the 5,000 blocks of 16 bytes it allocated
 * before the crash are all there (not freed, no exit snapshot).
 *
 * exit: 139
 * expect: proc(0).exit.signal == 11
 * expect: proc(0).snapshot == False
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] == "make"] == [5000]
 * expect: [s.live_bytes for s in proc(0).sites if frames(s)[0] == "make"] == [80000]
 */
#include <stdint.h>
#include <stdlib.h>

static void *volatile keep[5000];

__attribute__((noinline)) static void make(int i)
{
    keep[i] = malloc(16);
}

int main(void)
{
    for (int i = 0; i < 5000; i++)
        make(i);
    *(volatile int *)(uintptr_t)(keep[4999] ? 0 : 8) = 1;
    return 0;
}
