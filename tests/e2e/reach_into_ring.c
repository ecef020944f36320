/* reach_into_ring: a lost 64-byte block points at one member of a lost
 * ring of four 32-byte nodes. The block is the definite leak; the ring is
 * indirect (it belongs to that leak) and is still listed as a cycle, one
 * that is not the root of its group.
 *
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 64
 * expect: proc(0).summary.indirect.blocks == 4
 * expect: proc(0).summary.indirect.bytes == 128
 * expect: proc(0).summary.cycle.blocks == 0
 * expect: len(proc(0).cycles) == 1
 * expect: proc(0).cycles[0].blocks == 4
 * expect: proc(0).cycles[0].root == False
 * expect: leaks(0, 'definite')[0].indirect_blocks == 4
 */
#include <stdlib.h>

struct node {
    struct node *next;
    char pad[24];
};

struct owner {
    long id;
    struct node *member;
    char pad[48];
};

void *volatile g_hold;

__attribute__((noinline)) static struct node *ring(int n)
{
    struct node *first = malloc(sizeof *first), *at = first;
    g_hold = first;
    for (int i = 1; i < n; i++) {
        at->next = malloc(sizeof *at);
        at = at->next;
        g_hold = at;
    }
    at->next = first;
    return first;
}

__attribute__((noinline)) static void leak(void)
{
    struct owner *o = malloc(sizeof *o);
    o->member = ring(4)->next->next;
    g_hold = o;
}

int main(void)
{
    leak();
    g_hold = NULL;
    return 0;
}
