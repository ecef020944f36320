/* rep_realloc_loop: a block grown by realloc in a loop and then dropped is
 * one leak of the final size, attributed to the function and line of the
 * realloc call (REALLOC_LINE below); the site counts every step: 50 blocks of
 * 64, 128, ... 3200 bytes = 81,600 bytes allocated there.
 *
 * expect: len(leaks(0, "definite")) == 1
 * expect: leaks(0, "definite")[0].bytes == 3200 and leaks(0, "definite")[0].blocks == 1
 * expect: frames(leaks(0, "definite")[0])[0] == "grow"
 * expect: leaks(0, "definite")[0].stack[0].line == 22
 * expect: leaks(0, "definite")[0].stack[0].file.endswith("rep_realloc_loop.c")
 * expect: [s for s in proc(0).sites if frames(s)[0] == "grow"][0].allocations == 50
 * expect: [s for s in proc(0).sites if frames(s)[0] == "grow"][0].bytes == 81600
 */
#include <stdlib.h>

char *volatile sink;

__attribute__((noinline)) char *grow(int n)
{
    char *buf = NULL;
    for (int i = 1; i <= n; i++) {
        buf = realloc(buf, (size_t)i * 64);    /* REALLOC_LINE: 22 */
        buf[i - 1] = (char)i;
    }
    return buf;
}

int main(void)
{
    sink = grow(50);
    sink = NULL;
    return 0;
}
