/* reach_ring_tail: a lost ring of two 32-byte nodes with a tail of five
 * 32-byte nodes hanging off it: the ring is a root cycle of 2, the tail 5
 * indirect blocks attributed to it.
 *
 * expect: proc(0).summary.cycle.blocks == 2
 * expect: proc(0).summary.cycle.bytes == 64
 * expect: proc(0).summary.indirect.blocks == 5
 * expect: proc(0).summary.indirect.bytes == 160
 * expect: proc(0).summary.definite.blocks == 0
 * expect: len(proc(0).cycles) == 1
 * expect: proc(0).cycles[0].root == True
 * expect: proc(0).cycles[0].blocks == 2
 * expect: sum(l.indirect_blocks for l in leaks(0, 'cycle')) == 5
 */
#include <stdlib.h>

struct node {
    struct node *next;
    struct node *tail;
    char pad[16];
};

void *volatile g_hold;

__attribute__((noinline)) static struct node *node(void)
{
    struct node *n = calloc(1, sizeof *n);
    g_hold = n;
    return n;
}

__attribute__((noinline)) static void leak(void)
{
    struct node *a = node(), *b = node();
    a->next = b;
    b->next = a;
    struct node *at = b;
    for (int i = 0; i < 5; i++) {
        at->tail = node();
        at = at->tail;
    }
}

int main(void)
{
    leak();
    g_hold = NULL;
    return 0;
}
