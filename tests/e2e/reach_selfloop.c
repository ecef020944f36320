/* reach_selfloop: a lost block that points to itself (its field at offset
 * 8) is a cycle of one block, not a definite leak.
 *
 * expect: proc(0).summary.cycle.blocks == 1
 * expect: proc(0).summary.cycle.bytes == 48
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: len(proc(0).cycles) == 1
 * expect: proc(0).cycles[0].blocks == 1
 * expect: proc(0).cycles[0].root == True
 * expect: [(p.member, p.offset) for p in proc(0).cycles[0].members[0].points_to] == [(0, 8)]
 * expect: len(leaks(0, 'cycle')) == 1
 */
#include <stdlib.h>

struct self {
    long id;
    struct self *me;
    char pad[32];
};

void *volatile g_hold;

__attribute__((noinline)) static void make_loop(void)
{
    struct self *s = malloc(sizeof *s);
    s->id = 1;
    s->me = s;
    g_hold = s;
}

int main(void)
{
    make_loop();
    g_hold = NULL;
    return 0;
}
