/* reach_vector_string: a leaked `new std::vector<std::string>` (24 bytes)
 * whose buffer (reserved for 100: 3,200 bytes) holds 100 strings of 40
 * characters (41-byte heap buffers each) is one definite block with 101
 * indirect ones.
 *
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 24
 * expect: proc(0).summary.indirect.blocks == 101
 * expect: proc(0).summary.indirect.bytes == 3200 + 100 * 41
 * expect: proc(0).summary.possible.blocks == 0
 * expect: proc(0).summary.cycle.blocks == 0
 */
#include <string>
#include <vector>

std::vector<std::string> *volatile g_hold;

__attribute__((noinline)) static void leak()
{
    auto *v = new std::vector<std::string>;
    v->reserve(100);
    for (int i = 0; i < 100; i++)
        v->push_back(std::string(40, char('a' + i % 26)));
    g_hold = v;
}

int main()
{
    leak();
    g_hold = nullptr;
    return 0;
}
