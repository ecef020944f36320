/* reach_tree: a lost complete binary tree of 15 nodes (40 bytes each) is
 * one definite block (the root) holding 14 indirect ones.
 *
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 40
 * expect: proc(0).summary.indirect.blocks == 14
 * expect: proc(0).summary.indirect.bytes == 560
 * expect: proc(0).summary.cycle.blocks == 0
 * expect: len(proc(0).cycles) == 0
 * expect: len(leaks(0, 'definite')) == 1
 * expect: leaks(0, 'definite')[0].indirect_blocks == 14
 * expect: leaks(0, 'definite')[0].indirect_bytes == 560
 */
#include <stdlib.h>

struct tree {
    struct tree *left, *right;
    char pad[24];
};

void *volatile g_hold;

__attribute__((noinline)) static struct tree *build(int depth)
{
    struct tree *t = malloc(sizeof *t);
    g_hold = t;
    t->left = depth > 1 ? build(depth - 1) : NULL;
    t->right = depth > 1 ? build(depth - 1) : NULL;
    return t;
}

int main(void)
{
    g_hold = build(4);
    g_hold = NULL;
    return 0;
}
