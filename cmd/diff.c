/* SPDX-License-Identifier: MIT
 *
 * diff.c - `heapgraph diff BASE NEW`: what changed between two captures, or
 * between a baseline file (check --write-baseline) and a capture: totals,
 * peak, leak sites new/fixed/changed and per-site allocation changes, as
 * text or JSON. Always exits 0 when both inputs are readable: diff informs,
 * check gates.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cmd/check.h"
#include "cmd/cmd.h"
#include "cmd/parse.h"
#include "report/gate/gates.h"
#include "report/gate/compare.h"
#include "report/gate/suppress.h"

#define USAGE \
    "usage: heapgraph diff [OPTIONS] BASE NEW\n" \
    "\n" \
    "Compares two runs: BASE and NEW are captures, or BASE is a baseline written by\n" \
    "'heapgraph check --write-baseline'. Sites and leaks match by the function names of\n" \
    "their stacks, so two builds of the same code compare site by site.\n" \
    "\n" \
    "  --format text|json        output format (default text)\n" \
    "  -o, --output FILE         write to FILE instead of standard output\n" \
    "  --top N                   allocation sites shown in text (default 20, 0 = all)\n" \
    "  --stack-depth N           frames per leak stack in text (default 8, 0 = all)\n" \
    "  --leak-kinds LIST         kinds that count as leaked (default definite,cycle,indirect)\n" \
    "  --suppressions FILE       leave out suppressed leaks (repeatable)\n" \
    "  --no-default-suppressions do not hide glibc/libstdc++ internals\n" \
    "  -h, --help                this help\n" \
    "\n" \
    "Exit status: 0, or 2 when an input is not a readable capture or baseline.\n"

enum { OPT_FORMAT = 256, OPT_TOP, OPT_DEPTH, OPT_KINDS, OPT_SUPP, OPT_NO_DEFAULT };

static const struct option long_opts[] = {
    {"format", required_argument, NULL, OPT_FORMAT},
    {"output", required_argument, NULL, 'o'},
    {"top", required_argument, NULL, OPT_TOP},
    {"stack-depth", required_argument, NULL, OPT_DEPTH},
    {"leak-kinds", required_argument, NULL, OPT_KINDS},
    {"suppressions", required_argument, NULL, OPT_SUPP},
    {"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct diff_opts {
    int json;
    const char *output;
    uint64_t top, depth;
    unsigned kinds;
    const char *supp[32];
    int nsupp, no_default;
};

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("heapgraph: diff: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    fputs(USAGE, stderr);
    return HG_EXIT_USAGE;
}

/* Returns -1 to go on, or an exit status. */
static int parse(struct diff_opts *o, int argc, char **argv)
{
    char err[200];
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+ho:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'h': return fputs(USAGE, stdout), HG_EXIT_OK;
        case 'o': o->output = optarg; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "json"))
                return bad_usage("--format: '%s' is not text or json", optarg);
            o->json = !strcmp(optarg, "json");
            break;
        case OPT_TOP:
            if (cmd_parse_count(optarg, &o->top) < 0)
                return bad_usage("--top: bad count '%s'", optarg);
            break;
        case OPT_DEPTH:
            if (cmd_parse_count(optarg, &o->depth) < 0 || o->depth > UINT_MAX)
                return bad_usage("--stack-depth: bad count '%s'", optarg);
            break;
        case OPT_KINDS:
            if (rep_parse_leak_kinds(optarg, &o->kinds, err, sizeof err) < 0)
                return bad_usage("%s", err);
            break;
        case OPT_SUPP:
            if (o->nsupp == 32)
                return bad_usage("%s", "too many --suppressions files");
            o->supp[o->nsupp++] = optarg;
            break;
        case OPT_NO_DEFAULT: o->no_default = 1; break;
        default: return bad_usage("bad option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return bad_usage("%s", "want two inputs: BASE NEW");
    return -1;
}

static int suppress(const struct diff_opts *o, struct rep_run *a, struct rep_run *b)
{
    struct rep_supp_list l = REP_SUPP_LIST_INIT;
    char err[300];
    int ret = 0;
    if (!o->no_default && rep_supp_add_builtin(&l, err, sizeof err) < 0)
        ret = cmd_error(HG_EXIT_SOFTWARE, "built-in suppressions: %s", err);
    for (int i = 0; i < o->nsupp && !ret; i++)
        if (rep_supp_load(&l, o->supp[i], err, sizeof err) < 0)
            ret = cmd_error(HG_EXIT_USAGE, "%s", err);
    if (!ret) {
        unsigned mask = rep_leak_mask(o->kinds);
        rep_supp_apply_run(&l, a, mask);
        rep_supp_apply_run(&l, b, mask);
    }
    rep_supp_release(&l);
    return ret;
}

static int output(const struct diff_opts *o, const struct rep_diff *d, const char *base,
                  const char *now)
{
    FILE *f = o->output ? fopen(o->output, "w") : stdout;
    if (!f)
        return cmd_error(HG_EXIT_SOFTWARE, "%s: cannot write: %m", o->output);
    int bad;
    if (o->json) {
        bad = rep_diff_write_json(f, d);
    } else {
        fprintf(f, "heapgraph diff: %s -> %s\n", base, now);
        bad = rep_diff_write_text(f, d, (size_t)o->top, (unsigned)o->depth);
    }
    if (o->output)
        bad |= fclose(f) != 0;
    return bad ? cmd_error(HG_EXIT_SOFTWARE, "%s: write failed",
                           o->output ? o->output : "standard output") : 0;
}

int cmd_diff(int argc, char **argv)
{
    struct diff_opts o = {0, NULL, 20, 8, 0, {0}, 0, 0};
    struct rep_run base = REP_RUN_INIT, now = REP_RUN_INIT;
    struct rep_diff d;
    char err[200];
    int ret = parse(&o, argc, argv);
    if (ret >= 0)
        return ret;
    const char *bpath = argv[optind], *npath = argv[optind + 1];
    if ((ret = cmd_check_load(bpath, &base, 1, HG_EXIT_USAGE)) ||
        (ret = cmd_check_load(npath, &now, 0, HG_EXIT_USAGE)) ||
        (ret = suppress(&o, &base, &now)))
        goto out;
    if (rep_diff_compute(&base, &now, o.kinds, &d, err, sizeof err) < 0) {
        ret = cmd_error(HG_EXIT_SOFTWARE, "%s", err);
        goto out;
    }
    ret = output(&o, &d, bpath, npath);
    rep_diff_release(&d);
out:
    rep_run_release(&base);
    rep_run_release(&now);
    return ret;
}
