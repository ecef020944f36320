/* reach_dyn_tls: a 1,500-byte block held only by a __thread variable of a
 * dlopen'd library (dynamic TLS: a block glibc allocates on first use and
 * lists in the thread's DTV) is reachable, retained by TLS; the DTV and the
 * TLS block are glibc's and never lost or possible.
 *
 * lib: reach_dyn_tls.c -DLIB
 * build: -ldl
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: proc(0).summary.indirect.blocks == 0
 * expect: any(l.bytes == 1500 and l.retained_by.kind == 'tls' for l in leaks(0, 'reachable'))
 */
#ifdef LIB
#include <stdlib.h>

__thread void *lib_tls;
__thread char lib_tls_pad[4096];

void lib_fill(void)
{
    lib_tls_pad[0] = 1;
    lib_tls = malloc(1500);
}
#else
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
#endif
