/* reach_shared_ptr_cycle: two objects made with std::make_shared that hold
 * shared_ptrs to each other can never be freed by reference counting: one
 * root cycle of two blocks (each block is control block + object).
 *
 * expect: proc(0).summary.cycle.blocks == 2
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: len(proc(0).cycles) == 1
 * expect: proc(0).cycles[0].root == True
 * expect: proc(0).cycles[0].blocks == 2
 * expect: len(leaks(0, 'cycle')) >= 1 and sum(l.blocks for l in leaks(0, 'cycle')) == 2
 */
#include <memory>

struct Node {
    std::shared_ptr<Node> other;
    char payload[40];
};

__attribute__((noinline)) static void leak()
{
    auto a = std::make_shared<Node>();
    auto b = std::make_shared<Node>();
    a->other = b;
    b->other = a;
}

int main()
{
    leak();
    return 0;
}
