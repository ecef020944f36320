/* reach_register: a 777-byte block held only in a register of a thread
 * ("spinner") that spins when main returns is reachable, retained by a
 * register. The stack below the thread's loop is overwritten first so no
 * stale copy of the pointer remains there.
 *
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.bytes == 777 and l.retained_by.kind == 'register' and l.retained_by.thread == 'spinner' for l in leaks(0, 'reachable'))
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_ready;
void *volatile g_hold;

__attribute__((noinline)) static void *make(void)
{
    void *p = malloc(777);
    g_hold = p;
    g_hold = NULL;
    return p;
}

__attribute__((noinline)) static void scrub(void)
{
    volatile char junk[4096];
    memset((char *)junk, 0, sizeof junk);
}

static void *spinner(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "spinner");
    void *p = make();
    scrub();
    atomic_store(&g_ready, 1);
    for (;;)
        __asm__ volatile("" : "+r"(p));
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    while (!atomic_load(&g_ready))
        ;
    return 0;
}
