/* SPDX-License-Identifier: MIT
 *
 * check.h - what `heapgraph run --check` needs from `heapgraph check`:
 *
 *     heapgraph run [RUN OPTIONS] --check [CHECK OPTIONS] -- PROGRAM [ARGS]
 *
 * cmd_run calls cmd_check_split() on its argv before parsing its own
 * options; it removes "--check" and the check options (everything after it
 * up to "--") and validates them, so that a bad gate is a usage error before
 * the program runs. After recording it calls cmd_check_after_run().
 */
#ifndef HG_CMD_CHECK_H
#define HG_CMD_CHECK_H

struct cmd_check_split {
    int requested;      /* --check was given */
    int argc;           /* check options, argv[0] = "check" */
    char **argv;        /* a static array (strings are run's argv's); NULL-terminated */
};

/* Finds "--check" before "--" in argv[0..*argc), moves it and the options
 * after it out of argv (shifting the rest down, updating *argc) into out,
 * and validates them. Returns 0 (also when there is no --check), or
 * HG_EXIT_USAGE after printing the error. */
int cmd_check_split(int *argc, char **argv, struct cmd_check_split *out);

/* Checks the capture written by run. Exit status:
 * the program's own non-zero status wins (a crash says more than a gate);
 * when the program exited 0, the check's status is returned (0 pass, 1 a
 * gate failed, 3 capture unreadable). */
int cmd_check_after_run(const struct cmd_check_split *split, const char *capture,
                        int program_status);

/* Reads a capture (or, when allow_baseline and the file is JSON, a
 * baseline) into an empty run, for check and diff. Returns 0, or bad_code
 * after printing the error (HG_EXIT_SOFTWARE when out of memory). */
struct rep_run;
int cmd_check_load(const char *path, struct rep_run *run, int allow_baseline, int bad_code);

#endif
