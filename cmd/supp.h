/* SPDX-License-Identifier: MIT
 *
 * supp.h - suppression options of `heapgraph report` (owned with check):
 * --suppressions FILE (repeatable), --no-default-suppressions and
 * --gen-suppressions, plus the [report] section of .heapgraph.conf
 * (suppressions = FILE, no-default-suppressions = true). report.c adds
 * CMD_SUPP_LONGOPTS to its option table, passes those option values to
 * cmd_supp_option(), and calls cmd_supp_apply() once the capture is loaded.
 */
#ifndef HG_CMD_SUPP_H
#define HG_CMD_SUPP_H

#include <stdio.h>

struct rep_capture;

enum { CMD_SUPP_OPT_FILE = 1001, CMD_SUPP_OPT_NO_DEFAULT, CMD_SUPP_OPT_GEN };

#define CMD_SUPP_LONGOPTS \
    {"suppressions", required_argument, NULL, CMD_SUPP_OPT_FILE}, \
    {"no-default-suppressions", no_argument, NULL, CMD_SUPP_OPT_NO_DEFAULT}, \
    {"gen-suppressions", no_argument, NULL, CMD_SUPP_OPT_GEN}

#define CMD_SUPP_USAGE \
    "      --suppressions FILE  hide leaks matching FILE (leak:PATTERN lines or valgrind\n" \
    "                           Memcheck:Leak blocks; repeatable)\n" \
    "      --no-default-suppressions  also show glibc/libstdc++ internal allocations\n" \
    "      --gen-suppressions   print a suppression for each leak instead of the report\n"

struct cmd_supp_opts {
    const char *files[32];
    int nfiles;
    int no_default;
    int gen;
};

/* Records one of the CMD_SUPP_OPT_* options. 0, or HG_EXIT_USAGE after
 * printing the error. */
int cmd_supp_option(struct cmd_supp_opts *s, int opt, const char *arg);

/* Loads the suppressions (built-in unless switched off, the conf file's,
 * then the command line's) and filters cap's leak lists; notes on cap say
 * what matched and which suppressions were unused. With --gen-suppressions
 * it writes one valgrind-syntax block per remaining leak entry to out and
 * sets *done. Returns 0, or an exit status after printing the error. */
int cmd_supp_apply(const struct cmd_supp_opts *s, struct rep_capture *cap, FILE *out,
                   int *done);

#endif
