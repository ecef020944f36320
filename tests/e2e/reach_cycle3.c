/* reach_cycle3: a pure cycle of three 32-byte nodes that nothing points at
 * is one cycle of 3 blocks, not a definite leak plus two indirect ones (as
 * valgrind reports it). Each member's `next` field (offset 0) closes it.
 *
 * expect: proc(0).summary.cycle.blocks == 3
 * expect: proc(0).summary.cycle.bytes == 96
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: len(proc(0).cycles) == 1
 * expect: proc(0).cycles[0].blocks == 3
 * expect: proc(0).cycles[0].bytes == 96
 * expect: proc(0).cycles[0].root == True
 * expect: sorted(p.offset for m in proc(0).cycles[0].members for p in m.points_to) == [0, 0, 0]
 * expect: sorted(p.member for m in proc(0).cycles[0].members for p in m.points_to) == [0, 1, 2]
 * expect: sum(l.blocks for l in leaks(0, 'cycle')) == 3
 */
#include <stdlib.h>

struct node {
    struct node *next;
    char pad[24];
};

void *volatile g_hold;

__attribute__((noinline)) static struct node *node(struct node *next)
{
    struct node *n = malloc(sizeof *n);
    n->next = next;
    g_hold = n;
    return n;
}

__attribute__((noinline)) static void make_cycle(void)
{
    struct node *c = node(NULL);
    struct node *b = node(c);
    struct node *a = node(b);
    c->next = a;
}

int main(void)
{
    make_cycle();
    g_hold = NULL;
    return 0;
}
