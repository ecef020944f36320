/* SPDX-License-Identifier: MIT
 *
 * cmd.h - the subcommands of the heapgraph executable and its exit codes.
 *
 * To add a command: write cmd/<name>.c exporting `int cmd_<name>(int argc,
 * char **argv)` (argv[0] is the command name; parse with getopt_long, print
 * usage to stdout and return 0 on -h, print usage to stderr and return
 * HG_EXIT_USAGE on a bad option), then add one HG_COMMAND line to
 * commands.def. Errors are one stderr line through cmd_error().
 */
#ifndef HG_CMD_H
#define HG_CMD_H

/* The exit-code table; `heapgraph --help` prints it. `run` passes the
 * program's own status through (128+N for death by signal N) unless
 * heapgraph itself failed. */
#define HG_EXIT_CODES(X) \
    X(HG_EXIT_OK, 0, "success; all gates passed") \
    X(HG_EXIT_GATE, 1, "check: a gate failed") \
    X(HG_EXIT_USAGE, 2, "usage error, or an input file that is not a readable capture (report, info, diff)") \
    X(HG_EXIT_NOCAPTURE, 3, "check: the capture is missing or unreadable") \
    X(HG_EXIT_SOFTWARE, 125, "run: heapgraph failed (output not writable, disk full, internal error)") \
    X(HG_EXIT_NOEXEC, 126, "run: the program cannot be recorded (not executable, static, setuid)") \
    X(HG_EXIT_NOTFOUND, 127, "run: the program does not exist")

#define HG_EXIT_ENUM(name, code, text) name = code,
enum { HG_EXIT_CODES(HG_EXIT_ENUM) };
#undef HG_EXIT_ENUM

#define HG_COMMAND(name, fn, summary) int fn(int argc, char **argv);
#include "cmd/commands.def"
#undef HG_COMMAND

/* Prints "heapgraph: <message>\n" to stderr (printf-style) and returns `code`,
 * so that callers can write `return cmd_error(HG_EXIT_USAGE, "...")`. */
int cmd_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
