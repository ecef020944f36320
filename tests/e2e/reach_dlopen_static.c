/* reach_dlopen_static: a block of 3,000 bytes held only by a static
 * variable of a dlopen'd library (this file built with -DLIB) is reachable,
 * retained by that variable in the library's writable segment.
 *
 * lib: reach_dlopen_static.c -DLIB
 * build: -ldl
 * expect: proc(0).summary.definite.blocks == 0
 * expect: proc(0).summary.possible.blocks == 0
 * expect: any(l.bytes == 3000 and l.retained_by.kind == 'global' and l.retained_by.symbol == 'lib_cache' and 'libreach_dlopen_static.so' in l.retained_by.module for l in leaks(0, 'reachable'))
 */
#ifdef LIB
#include <stdlib.h>

static void *volatile lib_cache;

void lib_fill(void)
{
    lib_cache = malloc(3000);
}
#else
#include "lib_fill_main.h"
#endif
