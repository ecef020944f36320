/* lib_fill_main.h - the main program of the e2e tests whose interesting
 * memory belongs to a dlopen'd library: it loads the library that run_e2e.py
 * built from the same source (path in HG_TEST_LIB) and calls its lib_fill. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const char *path = getenv("HG_TEST_LIB");
    void *h = path ? dlopen(path, RTLD_NOW) : NULL;
    void (*fill)(void) = h ? (void (*)(void))dlsym(h, "lib_fill") : NULL;
    if (!fill) {
        fprintf(stderr, "cannot load %s\n", path ? path : "(HG_TEST_LIB unset)");
        return 1;
    }
    fill();
    return 0;
}
