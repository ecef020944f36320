/* reach_xor: a 48-byte block whose only reference is XOR-masked (as in a
 * XOR linked list) cannot be found by a scan: it is a definite leak.
 *
 * expect: proc(0).summary.definite.blocks == 1
 * expect: proc(0).summary.definite.bytes == 48
 * expect: proc(0).summary.possible.blocks == 0
 */
#include <stdint.h>
#include <stdlib.h>

volatile uintptr_t g_masked;

__attribute__((noinline)) static void hide(void)
{
    g_masked = (uintptr_t)malloc(48) ^ (uintptr_t)0x5a5a5a5a5a5a5a5aull;
}

int main(void)
{
    hide();
    return 0;
}
