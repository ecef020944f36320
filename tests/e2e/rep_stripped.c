/* rep_stripped: a stripped executable (no symbols, no debug info) is reported
 * with module+offset frames and one warning for that module, not a failure.
 *
 * build: -s
 * expect: len(leaks(0, "definite")) == 1
 * expect: leaks(0, "definite")[0].bytes == 100 * 33
 * expect: leaks(0, "definite")[0].stack[0].function is None
 * expect: leaks(0, "definite")[0].stack[0].module.endswith("/rep_stripped")
 * expect: leaks(0, "definite")[0].stack[0].offset > 0
 * expect: any("rep_stripped" in w for w in warnings)
 */
#include <stdlib.h>

void *volatile sink;

__attribute__((noinline)) void lose(void)
{
    sink = malloc(33);
}

int main(void)
{
    for (int i = 0; i < 100; i++)
        lose();
    sink = NULL;
    return 0;
}
