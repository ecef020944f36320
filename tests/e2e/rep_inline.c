/* rep_inline: an allocation inside an inlined function shows that function
 * as its own frame, marked inlined, above the function it was inlined into;
 * each frame has its own line (the malloc in fill_node, the call in build).
 *
 * expect: frames(leaks(0, "definite")[0])[:2] == ["fill_node", "build"]
 * expect: leaks(0, "definite")[0].stack[0].inlined == True
 * expect: leaks(0, "definite")[0].stack[1].inlined == False
 * expect: leaks(0, "definite")[0].stack[0].line == 19
 * expect: leaks(0, "definite")[0].stack[1].line == 26
 * expect: leaks(0, "definite")[0].bytes == 48 * 10
 */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

static inline __attribute__((always_inline)) void *fill_node(int v)
{
    int *p = malloc(48);                       /* line 19 */
    memset(p, v, 48);
    return p;
}

__attribute__((noinline)) void build(int i)
{
    sink = fill_node(i);                       /* line 26 */
}

int main(void)
{
    for (int i = 0; i < 10; i++)
        build(i);
    sink = NULL;
    return 0;
}
