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
#include "lib_fill_main.h"
#endif
