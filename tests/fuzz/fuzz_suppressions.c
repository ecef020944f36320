/* SPDX-License-Identifier: MIT
 *
 * fuzz_suppressions.c - libFuzzer target for suppression files (LeakSanitizer
 * leak: lines and valgrind blocks, report/gate/suppress.c): parses the input
 * and matches every suppression against a fixed stack, as `check` does.
 */
#include "report/gate/suppress.h"

#include "tests/fuzz/fuzz_text.h"

static void fuzz_one_text(const char *text)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[256];
    rep_supp_parse(&l, text, "fuzz", err, sizeof err);
    struct rep_frame frames[3] = {
        {.function = "leak_site", .file = "src/leak.c", .module = "/usr/bin/prog"},
        {.function = "main", .file = "src/main.c", .module = "/usr/bin/prog"},
        {.function = "__libc_start_main", .module = "/lib/x86_64-linux-gnu/libc.so.6"},
    };
    for (unsigned kind = 0; kind < 4; kind++)
        rep_supp_match(&l, frames, 3, kind);
    rep_supp_release(&l);
}
