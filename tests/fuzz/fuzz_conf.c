/* SPDX-License-Identifier: MIT
 *
 * fuzz_conf.c - libFuzzer target for .heapgraph.conf (cmd/conf.c): parses
 * the input and resolves every value as a path, as `check` does.
 */
#include "cmd/conf.h"

#include "tests/fuzz/fuzz_text.h"

#include <stdlib.h>

static void fuzz_one_text(const char *text)
{
    struct cmd_conf c = CMD_CONF_INIT;
    char err[256];
    if (cmd_conf_parse(&c, text, "/fuzz/.heapgraph.conf", err, sizeof err) == 0)
        for (size_t i = 0; i < c.n; i++)
            free(cmd_conf_path(&c, c.e[i].value));
    cmd_conf_release(&c);
}
