/* SPDX-License-Identifier: MIT
 *
 * main.c - the heapgraph executable: finds the subcommand in the table built
 * from commands.def, runs it, and makes a failed flush of stdout (disk full,
 * closed pipe) a failure of the command, not a silent truncation.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
};

static const struct command commands[] = {
#define HG_COMMAND(name, fn, summary) {#name, fn, summary},
#include "cmd/commands.def"
#undef HG_COMMAND
};

int cmd_error(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("heapgraph: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static void usage(FILE *f)
{
    fputs("usage: heapgraph COMMAND [OPTIONS] [ARGS]\n\n"
          "heapgraph records every allocation of a program and reports leaks, cycles\n"
          "and memory use. Commands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'heapgraph COMMAND -h' describes a command.\n\nExit codes:\n", f);
#define HG_EXIT_HELP(name, code, text) fprintf(f, "  %3d  %s\n", code, text);
    HG_EXIT_CODES(HG_EXIT_HELP)
#undef HG_EXIT_HELP
}

static int finish(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        if (status == HG_EXIT_OK || status == HG_EXIT_GATE)
            return cmd_error(HG_EXIT_SOFTWARE, "writing standard output: %s", strerror(e));
    }
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), HG_EXIT_USAGE;
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
        return usage(stdout), finish(HG_EXIT_OK);
    if (!strcmp(argv[1], "--version"))
        return puts("heapgraph " HG_VERSION), finish(HG_EXIT_OK);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return finish(commands[i].fn(argc - 1, argv + 1));
    cmd_error(HG_EXIT_USAGE, "unknown command '%s'", argv[1]);
    usage(stderr);
    return HG_EXIT_USAGE;
}
