/* rec_dlopen: allocations made inside a dlopen'd library (in its
 * constructor and in a function called later) are recorded with stacks
 * through the library, and the library is in the module map even after
 * dlclose. The constructor allocates 5 blocks of 200 bytes, lib_work 30 of
 * 300; everything is freed before dlclose.
 *
 * lib: rec_dlopen.c -DLIB
 * build: -ldl
 * expect: [s.allocations for s in proc(0).sites if frames(s)[0] == "lib_init"] == [5]
 * expect: [s.bytes for s in proc(0).sites if frames(s)[0] == "lib_work"] == [9000]
 * expect: [f.module for f in [s for s in proc(0).sites if frames(s)[0] == "lib_work"][0].stack][0].endswith("librec_dlopen.so")
 * expect: frames([s for s in proc(0).sites if frames(s)[0] == "lib_work"][0])[1] == "main"
 * expect: sum(s.live_blocks for s in proc(0).sites if frames(s)[0] in ("lib_init", "lib_work")) == 0
 */
#ifdef LIB
#include <stdlib.h>

static void *blocks[30];

__attribute__((constructor)) static void lib_init(void)
{
    for (int i = 0; i < 5; i++)
        blocks[i] = malloc(200);
    for (int i = 0; i < 5; i++)
        free(blocks[i]);
}

__attribute__((noinline)) void lib_work(void)
{
    for (int i = 0; i < 30; i++)
        blocks[i] = malloc(300);
    for (int i = 0; i < 30; i++)
        free(blocks[i]);
}
#else
#include <dlfcn.h>
#include <stdlib.h>

int main(void)
{
    void *h = dlopen(getenv("HG_TEST_LIB"), RTLD_NOW);
    if (!h)
        return 1;
    void (*work)(void) = (void (*)(void))dlsym(h, "lib_work");
    if (!work)
        return 1;
    work();
    dlclose(h);
    return 0;
}
#endif
