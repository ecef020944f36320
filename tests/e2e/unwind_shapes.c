/* unwind_shapes: frames of every shape the runtime's stack walker meets,
 * each leaking one block from its own stack. run_e2e.py also compares every
 * stack the walker takes with libunwind's (HEAPGRAPH_UNWIND=check).
 *   vla_user   a variable-length array: the CFA is rbp-based
 *   fp_user    built with a frame pointer inside -O2 code
 *   deep       100 levels of recursion: the stack is cut at 64 frames
 *   cmp        a qsort callback: frames of libc between it and main
 *   on_signal  a signal handler: the walk meets a signal frame
 *   on_alt     a handler on an alternate signal stack, outside the thread's
 *              stack: the runtime leaves that walk to libunwind
 *   thread_fn  another thread, whose outermost frame is clone3
 *   again      the same call site twice in a row: the second walk reuses
 *              the first one's frames
 * expect: proc(0).summary.definite.blocks == 9
 * expect: proc(0).summary.definite.bytes == 9 * 40
 * expect: any(frames(l)[:3] == ["leaf", "vla_user", "main"] for l in leaks(0, "definite"))
 * expect: any(frames(l)[:3] == ["leaf", "fp_user", "main"] for l in leaks(0, "definite"))
 * expect: any(len(frames(l)) == 64 and frames(l)[0] == "leaf" and set(frames(l)[1:]) == {"deep"} for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "cmp"] and "main" in frames(l) for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "on_signal"] and "main" in frames(l) for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "thread_fn"] for l in leaks(0, "definite"))
 * expect: any(frames(l)[:2] == ["leaf", "on_alt"] and "main" in frames(l) for l in leaks(0, "definite"))
 * expect: any(frames(l)[:3] == ["leaf", "again", "main"] and l.blocks == 2 for l in leaks(0, "definite"))
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOINLINE __attribute__((noinline))

static void *volatile sink[16];
static int next;

static NOINLINE void leaf(void)
{
    /* Masked so that no root holds it: every block is definitely lost. */
    sink[next++] = (void *)~(uintptr_t)malloc(40);
    __asm__ volatile("" ::: "memory");
}

static NOINLINE void vla_user(int n)
{
    volatile char buf[n];
    buf[0] = 1;
    leaf();
    buf[n - 1] = buf[0];
}

__attribute__((optimize("no-omit-frame-pointer"))) static NOINLINE void fp_user(void)
{
    leaf();
    __asm__ volatile("" ::: "memory");
}

static NOINLINE void deep(int n)
{
    if (n == 0)
        leaf();
    else
        deep(n - 1);
    __asm__ volatile("" ::: "memory");
}

static int calls;

static NOINLINE int cmp(const void *a, const void *b)
{
    if (calls++ == 0)
        leaf();
    return memcmp(a, b, sizeof(int));
}

static NOINLINE void on_signal(int sig)
{
    (void)sig;
    leaf();
    __asm__ volatile("" ::: "memory");
}

static NOINLINE void on_alt(int sig)
{
    (void)sig;
    leaf();
    __asm__ volatile("" ::: "memory");
}

static NOINLINE void *thread_fn(void *arg)
{
    leaf();
    return arg;
}

static NOINLINE void again(void)
{
    leaf();
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
    (void)argv;
    vla_user(argc + 100);
    fp_user();
    deep(100);
    int v[8] = { 5, 3, 7, 1, 8, 2, 6, 4 };
    qsort(v, 8, sizeof v[0], cmp);
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    /* mmap, not a global: the handler's frame leaves the block's address
     * on this stack, which must not be a root. */
    size_t alt_size = 1 << 16;
    void *alt = mmap(NULL, alt_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss = { .ss_sp = alt, .ss_size = alt_size };
    sigaltstack(&ss, NULL);
    struct sigaction sa = { .sa_handler = on_alt, .sa_flags = SA_ONSTACK };
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    pthread_t t;
    pthread_create(&t, NULL, thread_fn, NULL);
    pthread_join(t, NULL);
    for (volatile int i = 0; i < 2; i++)
        again();
    return 0;
}
