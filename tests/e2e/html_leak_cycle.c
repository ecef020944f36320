/* html_leak_cycle: the target of the HTML report's browser test
 * (tests/browser/test_html_report.js), also checked here as an e2e test. It
 * leaks one 100-byte block and a cycle of three 32-byte nodes whose
 * allocating function sits in a source file named like an XSS attack, keeps
 * a 48-byte block reachable from the global g_keep, and
 * makes temporaries in two phases (2,000 of 64 bytes, then 1,000 of 128
 * bytes). Phase one is followed by a 400 ms pause, the rest takes about
 * 80 ms, so the first half of the run holds phase one and nothing after it
 * even when the runtime's start-up is slow (up to about 480 ms).
 *
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 100
 * expect: proc(0).summary.cycle.blocks == 3
 * expect: proc(0).summary.cycle.bytes == 96
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: len(proc(0).cycles) == 1
 * expect: len(proc(0).cycles[0].members) == 3
 * expect: proc(0).summary.reachable.blocks == 1
 * expect: leaks(0, "reachable")[0].retained_by.symbol == "g_keep"
 * expect: proc(0).summary.allocations == 3005
 * expect: proc(0).summary.allocated_bytes == 100 + 96 + 48 + 2000 * 64 + 1000 * 128
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

void *g_keep;

struct node {
    struct node *next;
    char pad[24];
};

static void pause_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

NOINLINE static void temporaries(int n, size_t size)
{
    for (int i = 0; i < n; i++) {
        char *volatile p = malloc(size);
        p[0] = (char)i;
        free(p);
    }
}

/* The empty asm after each call keeps it from becoming a tail call, so that
 * the caller stays on the stack. */
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

NOINLINE static void phase_one(void) { temporaries(2000, 64); KEEP_FRAME(); }
NOINLINE static void phase_two(void) { temporaries(1000, 128); KEEP_FRAME(); }

NOINLINE static void keep_block(void)
{
    g_keep = malloc(48);
    KEEP_FRAME();
}

NOINLINE static void leak_buffer(void)
{
    char *volatile p = malloc(100);
    memset(p, 1, 100);
    p = NULL;
}

#line 1 "</script><img src=x onerror=alert(1)>.c"
NOINLINE static struct node *make_node(void)
{
    struct node *n = calloc(1, sizeof(struct node));
    __asm__ volatile("" : : "r"(n) : "memory");
    return n;
}

NOINLINE static void leak_cycle(void)
{
    struct node *a = make_node(), *b = make_node(), *c = make_node();
    a->next = b;
    b->next = c;
    c->next = a;
    __asm__ volatile("" : : "r"(a) : "memory");
}

int main(void)
{
    phase_one();
    pause_ms(400);
    keep_block();
    leak_buffer();
    leak_cycle();
    pause_ms(60);
    phase_two();
    pause_ms(20);
    return 0;
}
