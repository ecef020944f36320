/* SPDX-License-Identifier: MIT
 *
 * run.c - `heapgraph run`: records a program. Parses the arguments, has the
 * launcher (profiler/collector/col_launch.h) check the program, find the
 * runtime and record, and turns its errors into one stderr line and an exit
 * code. The program's exit status passes through (128+N for signal N).
 */
#include "cmd/cmd.h"
#include "cmd/check.h"

#include "profiler/collector/col_launch.h"

#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

_Static_assert((int)COL_FAILED == HG_EXIT_SOFTWARE && (int)COL_NOEXEC == HG_EXIT_NOEXEC &&
                   (int)COL_NOTFOUND == HG_EXIT_NOTFOUND,
               "the launcher's statuses are the exit codes of heapgraph run");

static const char usage_text[] =
    "usage: heapgraph run [-o FILE] [-q] [--sample-interval MS] [--python-allocator A]\n"
    "                     -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM (looked up in PATH) with the heapgraph runtime preloaded and\n"
    "records every allocation and free, with its stack, into a capture file.\n"
    "Children (fork) and new images (exec) are recorded too. The exit status is\n"
    "the program's own (128+N when it died of signal N).\n"
    "\n"
    "  -o, --output FILE        capture file (default heapgraph.PROGRAM.PID.hgcap)\n"
    "  -q, --quiet              do not print where the capture is at the end\n"
    "      --sample-interval MS heap and RSS sample interval (default 10)\n"
    "      --python-allocator A how Python processes allocate their objects:\n"
    "                           malloc (default): PYTHONMALLOC=malloc, every object is\n"
    "                           its own block (unless PYTHONMALLOC is already set);\n"
    "                           pymalloc: the interpreter's own allocator, as it normally\n"
    "                           runs, with every object it makes recorded as a block\n"
    "      --check [GATES]      then check the capture: 'heapgraph run [OPTIONS] --check\n"
    "                           [CHECK OPTIONS] -- PROGRAM'; see 'heapgraph check -h'.\n"
    "                           The program's non-zero status wins, else check's status\n"
    "  -h, --help               this help\n";

struct run_opts {
    const char *output;
    int quiet;
    uint64_t sample_ns;
    enum col_pyalloc python_allocator;
    char **argv; /* PROGRAM ARGS..., NULL-terminated */
    struct cmd_check_split check;
};

/* --python-allocator: malloc or pymalloc. pymalloc keeps the interpreter's
 * allocator, which PYTHONMALLOC set to anything else would replace. */
static int parse_python_allocator(const char *v, enum col_pyalloc *out)
{
    const char *env = getenv("PYTHONMALLOC");
    if (!strcmp(v, "malloc")) {
        *out = COL_PYALLOC_MALLOC;
        return 0;
    }
    if (strcmp(v, "pymalloc"))
        return cmd_error(HG_EXIT_USAGE, "--python-allocator: '%s' is not malloc or pymalloc", v);
    if (env && *env && strcmp(env, "pymalloc"))
        return cmd_error(HG_EXIT_USAGE, "--python-allocator=pymalloc: PYTHONMALLOC=%s is set; "
                         "unset it to keep the interpreter's own allocator", env);
    *out = COL_PYALLOC_PYMALLOC;
    return 0;
}

static int parse(int argc, char **argv, struct run_opts *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"sample-interval", required_argument, NULL, 'S'},
        {"python-allocator", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+o:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o->output = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'S': {
            unsigned long ms = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || ms == 0 || ms > 3600000) {
                cmd_error(HG_EXIT_USAGE, "--sample-interval: '%s' is not a number of milliseconds (1-3600000)", optarg);
                return fputs(usage_text, stderr), HG_EXIT_USAGE;
            }
            o->sample_ns = ms * 1000000ull;
            break;
        }
        case 'P':
            if (parse_python_allocator(optarg, &o->python_allocator))
                return fputs(usage_text, stderr), HG_EXIT_USAGE;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return -1;
        default:
            return fputs(usage_text, stderr), HG_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cmd_error(HG_EXIT_USAGE, "run: no PROGRAM given");
        return fputs(usage_text, stderr), HG_EXIT_USAGE;
    }
    o->argv = argv + optind;
    return 0;
}

static int exit_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* One stderr line for a launcher error (none when it has nothing to say:
 * the program ended before it started, and said why itself). */
static int launch_error(const struct col_err *e)
{
    return e->msg[0] ? cmd_error((int)e->status, "%s", e->msg) : (int)e->status;
}

static int record(const struct run_opts *o, const char *path, const char *rt)
{
    struct col_launch l = {.path = path, .argv = o->argv, .runtime = rt, .output = o->output,
                           .sample_ns = o->sample_ns, .python_allocator = o->python_allocator};
    struct col_summary sum = {0};
    struct col_err e;
    char out[PATH_MAX];
    if (col_record(&l, out, sizeof out, &sum, &e) < 0)
        return launch_error(&e);
    if (!o->quiet) {
        fprintf(stderr, "heapgraph: recorded %llu process%s, %llu events in %s\n",
                (unsigned long long)sum.streams, sum.streams == 1 ? "" : "es",
                (unsigned long long)sum.events, out);
        fprintf(stderr, "heapgraph: report it with: heapgraph report %s\n", out);
        if (!sum.streams)
            fprintf(stderr, "heapgraph: warning: the runtime never started in %s (LD_PRELOAD "
                    "removed, or a static program exec'd?)\n", o->argv[0]);
    }
    if (o->check.requested)
        return cmd_check_after_run(&o->check, out, exit_code(sum.child_status));
    return exit_code(sum.child_status);
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o = {.sample_ns = COL_SAMPLE_NS_DEFAULT};
    int rc = cmd_check_split(&argc, argv, &o.check);
    if (rc)
        return rc;
    rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? HG_EXIT_OK : rc;
    char path[PATH_MAX], rt[PATH_MAX];
    struct col_err e;
    if (col_check_program(o.argv[0], path, sizeof path, &e) < 0 || col_find_runtime(rt, sizeof rt, &e) < 0)
        return launch_error(&e);
    return record(&o, path, rt);
}
