/* SPDX-License-Identifier: MIT
 *
 * check.c - `heapgraph check [GATES] CAPTURE`: the CI verdict on a capture.
 * Options come from .heapgraph.conf ([check] section) first and the command
 * line second, so the command line wins. Parse, load the capture into a
 * rep_run, apply suppressions and the baseline, evaluate the gates, write
 * the text verdict and any --report files; the exit status is the verdict.
 * Also the `--check` half of `heapgraph run` (check.h).
 */
#include "cmd/check.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/parse.h"
#include "report/gate/baseline.h"
#include "report/gate/gates.h"
#include "report/render/render.h"
#include "report/gate/ci.h"
#include "cmd/conf.h"
#include "report/analysis/classify.h"
#include "report/model/model.h"
#include "report/gate/suppress.h"

#define USAGE \
    "usage: heapgraph check [OPTIONS] CAPTURE\n" \
    "\n" \
    "Evaluates gates on a capture. Exit status: 0 every gate passed, 1 a gate failed,\n" \
    "2 usage error (or a bad baseline/suppression file), 3 the capture is missing or\n" \
    "unreadable, 125 a report file could not be written.\n" \
    "\n" \
    "Gates (a value equal to its limit passes; 'none' switches a gate off):\n" \
    "  --max-leaked BYTES        leaked bytes over --leak-kinds (default: on, limit 0)\n" \
    "  --max-leaked-blocks N     leaked blocks over --leak-kinds\n" \
    "  --max-cycles N            leak groups rooted at an unreachable cycle\n" \
    "  --max-possible BYTES      possibly lost bytes\n" \
    "  --max-peak SIZE           largest heap peak of any one process\n" \
    "  --max-allocations N       allocations, all processes\n" \
    "  --max-leak-per-site BYTES largest leak entry (with its indirect bytes)\n" \
    "  --leak-kinds LIST         definite,cycle,indirect (default), possible, reachable, all\n" \
    "Sizes take B, KiB, MiB, GiB (1024) or KB, MB, GB (1000). Blocks of a process that\n" \
    "ended without an exit snapshot (crash, kill) count as leaked; an image replaced by\n" \
    "exec leaks nothing, and a forked child answers only for the blocks it made or\n" \
    "whose fate it changed (docs/report.md):\n" \
    "  --inherited               judge forked children on the whole heap they inherited\n" \
    "\n" \
    "Suppressions:\n" \
    "  --suppressions FILE       leak:PATTERN lines or valgrind blocks (repeatable)\n" \
    "  --no-default-suppressions do not hide glibc/libstdc++ internals\n" \
    "\n" \
    "Baselines (docs/baseline.md):\n" \
    "  --write-baseline FILE     save this run's figures and leak sites\n" \
    "  --baseline FILE           compare with a saved baseline\n" \
    "  --max-growth LIST         e.g. peak=10%,allocations=5% (also allocated, leaked)\n" \
    "  --min-delta SIZE          growth of a byte metric must also exceed this (default 0)\n" \
    "  --min-delta-allocations N growth of allocations must also exceed this (default 0)\n" \
    "  --new-leaks-only          leak gates count only leak sites not in the baseline\n" \
    "\n" \
    "A damaged or unfinished capture, one with a loss (something that was not recorded:\n" \
    "a process made by a raw clone, events the runtime could not publish) or one without\n" \
    "any process fails the 'capture' gate, because its figures may be short;\n" \
    "--allow-incomplete gates what was recorded instead.\n" \
    "\n" \
    "Output:\n" \
    "  --report FORMAT[:PATH]    junit, sarif, github, gitlab (repeatable; PATH '-' is\n" \
    "                            stdout; defaults heapgraph-junit.xml, heapgraph.sarif,\n" \
    "                            stdout, gl-code-quality-report.json)\n" \
    "  --source-root DIR         locations are relative to DIR (default: the current dir)\n" \
    "  --stack-depth N           frames shown per stack (default 16, 0 = all)\n" \
    "  --no-config               ignore .heapgraph.conf\n" \
    "  -h, --help                this help\n" \
    "\n" \
    "Defaults come from ./.heapgraph.conf or $XDG_CONFIG_HOME/heapgraph/heapgraph.conf,\n" \
    "section [check], keys named like the long options; the command line wins.\n" \
    "With 'heapgraph run --check': the program's non-zero exit status wins; when the\n" \
    "program exits 0, check's status is returned.\n"

enum {
    OPT_GATE = 256,              /* + enum rep_gate_id */
    OPT_LEAK_KINDS = OPT_GATE + REP_GATE_NGATES,
    OPT_SUPP, OPT_NO_DEFAULT_SUPP, OPT_WRITE_BASELINE, OPT_BASELINE, OPT_MAX_GROWTH,
    OPT_MIN_DELTA, OPT_MIN_DELTA_ALLOCS, OPT_NEW_LEAKS_ONLY, OPT_REPORT, OPT_SOURCE_ROOT,
    OPT_STACK_DEPTH, OPT_NO_CONFIG, OPT_ALLOW_INCOMPLETE, OPT_INHERITED,
};

static const struct option long_opts[] = {
    {"max-leaked", required_argument, NULL, OPT_GATE + REP_GATE_LEAKED},
    {"max-leaked-blocks", required_argument, NULL, OPT_GATE + REP_GATE_LEAKED_BLOCKS},
    {"max-cycles", required_argument, NULL, OPT_GATE + REP_GATE_CYCLES},
    {"max-possible", required_argument, NULL, OPT_GATE + REP_GATE_POSSIBLE},
    {"max-peak", required_argument, NULL, OPT_GATE + REP_GATE_PEAK},
    {"max-allocations", required_argument, NULL, OPT_GATE + REP_GATE_ALLOCATIONS},
    {"max-leak-per-site", required_argument, NULL, OPT_GATE + REP_GATE_LEAK_PER_SITE},
    {"leak-kinds", required_argument, NULL, OPT_LEAK_KINDS},
    {"suppressions", required_argument, NULL, OPT_SUPP},
    {"no-default-suppressions", no_argument, NULL, OPT_NO_DEFAULT_SUPP},
    {"write-baseline", required_argument, NULL, OPT_WRITE_BASELINE},
    {"baseline", required_argument, NULL, OPT_BASELINE},
    {"max-growth", required_argument, NULL, OPT_MAX_GROWTH},
    {"min-delta", required_argument, NULL, OPT_MIN_DELTA},
    {"min-delta-allocations", required_argument, NULL, OPT_MIN_DELTA_ALLOCS},
    {"new-leaks-only", no_argument, NULL, OPT_NEW_LEAKS_ONLY},
    {"report", required_argument, NULL, OPT_REPORT},
    {"source-root", required_argument, NULL, OPT_SOURCE_ROOT},
    {"stack-depth", required_argument, NULL, OPT_STACK_DEPTH},
    {"no-config", no_argument, NULL, OPT_NO_CONFIG},
    {"allow-incomplete", no_argument, NULL, OPT_ALLOW_INCOMPLETE},
    {"inherited", no_argument, NULL, OPT_INHERITED},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

enum { FMT_JUNIT, FMT_SARIF, FMT_GITHUB, FMT_GITLAB };
static const char *const fmt_names[] = {"junit", "sarif", "github", "gitlab"};
static const char *const fmt_defaults[] = {
    "heapgraph-junit.xml", "heapgraph.sarif", "-", "gl-code-quality-report.json",
};

#define MAX_LIST 32

struct opts {
    struct rep_gates g;
    char *supp[MAX_LIST];
    int nsupp;
    int no_default_supp;
    char *baseline, *write_baseline;
    int report_fmt[MAX_LIST];
    char *report_path[MAX_LIST];
    int nreports;
    char *source_root;
    unsigned stack_depth;
    int no_config;
    int whole_heap;
};

static void opts_release(struct opts *o)
{
    for (int i = 0; i < o->nsupp; i++)
        free(o->supp[i]);
    for (int i = 0; i < o->nreports; i++)
        free(o->report_path[i]);
    free(o->baseline);
    free(o->write_baseline);
    free(o->source_root);
}

static int set_str(char **slot, const char *v, char *err, size_t errlen)
{
    free(*slot);
    if (!(*slot = strdup(v))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int parse_report(struct opts *o, const char *v, char *err, size_t errlen)
{
    size_t n = strcspn(v, ":");
    for (int f = 0; f < 4; f++) {
        if (strlen(fmt_names[f]) != n || strncmp(v, fmt_names[f], n))
            continue;
        if (o->nreports == MAX_LIST) {
            snprintf(err, errlen, "too many --report options");
            return -1;
        }
        o->report_fmt[o->nreports] = f;
        o->report_path[o->nreports] = NULL;
        if (set_str(&o->report_path[o->nreports], v[n] ? v + n + 1 : fmt_defaults[f],
                    err, errlen) < 0)
            return -1;
        if (!*o->report_path[o->nreports]) {
            free(o->report_path[o->nreports]);
            snprintf(err, errlen, "--report %s: empty path", fmt_names[f]);
            return -1;
        }
        o->nreports++;
        return 0;
    }
    snprintf(err, errlen, "unknown report format '%.*s' (junit, sarif, github, gitlab)",
             (int)n, v);
    return -1;
}

static int parse_gate(struct opts *o, int gate, const char *v, char *err, size_t errlen)
{
    int bytes = gate == REP_GATE_LEAKED || gate == REP_GATE_POSSIBLE ||
                gate == REP_GATE_PEAK || gate == REP_GATE_LEAK_PER_SITE;
    if (!strcmp(v, "none")) {
        o->g.set[gate] = 0;
        return 0;
    }
    uint64_t *limit = &o->g.limit[gate];
    if ((bytes ? cmd_parse_size(v, limit) : cmd_parse_count(v, limit)) < 0) {
        snprintf(err, errlen, "--%s: bad %s '%s'", rep_gate_name(gate),
                 bytes ? "size" : "count", v);
        return -1;
    }
    o->g.set[gate] = 1;
    return 0;
}

/* Applies one option, from the command line or the conf file. */
static int apply(struct opts *o, int id, const char *v, char *err, size_t errlen)
{
    uint64_t n;
    if (id >= OPT_GATE && id < OPT_GATE + REP_GATE_NGATES)
        return parse_gate(o, id - OPT_GATE, v, err, errlen);
    switch (id) {
    case OPT_LEAK_KINDS:
        return rep_parse_leak_kinds(v, &o->g.leak_kinds, err, errlen);
    case OPT_SUPP:
        if (o->nsupp == MAX_LIST) {
            snprintf(err, errlen, "too many --suppressions files");
            return -1;
        }
        o->supp[o->nsupp] = NULL;
        if (set_str(&o->supp[o->nsupp], v, err, errlen) < 0)
            return -1;
        o->nsupp++;
        return 0;
    case OPT_NO_DEFAULT_SUPP: o->no_default_supp = 1; return 0;
    case OPT_NEW_LEAKS_ONLY: o->g.new_leaks_only = 1; return 0;
    case OPT_NO_CONFIG: o->no_config = 1; return 0;
    case OPT_ALLOW_INCOMPLETE: o->g.allow_incomplete = 1; return 0;
    case OPT_INHERITED: o->whole_heap = 1; return 0;
    case OPT_WRITE_BASELINE: return set_str(&o->write_baseline, v, err, errlen);
    case OPT_BASELINE: return set_str(&o->baseline, v, err, errlen);
    case OPT_SOURCE_ROOT: return set_str(&o->source_root, v, err, errlen);
    case OPT_MAX_GROWTH: return cmd_parse_growth(v, &o->g, err, errlen);
    case OPT_REPORT: return parse_report(o, v, err, errlen);
    case OPT_MIN_DELTA:
        if (cmd_parse_size(v, &o->g.min_delta) == 0)
            return 0;
        snprintf(err, errlen, "--min-delta: bad size '%s'", v);
        return -1;
    case OPT_MIN_DELTA_ALLOCS:
        if (cmd_parse_count(v, &o->g.min_delta_count) == 0)
            return 0;
        snprintf(err, errlen, "--min-delta-allocations: bad count '%s'", v);
        return -1;
    case OPT_STACK_DEPTH:
        if (cmd_parse_count(v, &n) == 0 && n <= UINT_MAX) {
            o->stack_depth = (unsigned)n;
            return 0;
        }
        snprintf(err, errlen, "--stack-depth: bad count '%s'", v);
        return -1;
    default:
        snprintf(err, errlen, "internal: unknown option %d", id);
        return -1;
    }
}

/* Applies the [check] section of the conf file, unless --no-config is in argv. */
static int apply_conf(struct opts *o, int argc, char **argv)
{
    char err[300], *path;
    struct cmd_conf c = CMD_CONF_INIT;
    int ret = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--no-config"))
            return 0;
    if (!(path = cmd_conf_find()))
        return 0;
    if (cmd_conf_load(&c, path, err, sizeof err) < 0) {
        free(path);
        return cmd_error(HG_EXIT_USAGE, "%s", err);
    }
    for (size_t i = 0; i < c.n && !ret; i++) {
        const struct cmd_conf_entry *e = &c.e[i];
        const struct option *opt = long_opts;
        if (strcmp(e->section, "check"))
            continue;
        while (opt->name && strcmp(opt->name, e->key))
            opt++;
        if (!opt->name || opt->val == 'h' || opt->val == OPT_NO_CONFIG) {
            ret = cmd_error(HG_EXIT_USAGE, "%s:%u: unknown key '%s' in [check]", path, e->line,
                            e->key);
            continue;
        }
        if (opt->has_arg == no_argument) {
            if (!strcmp(e->value, "false"))
                continue;
            if (strcmp(e->value, "true")) {
                ret = cmd_error(HG_EXIT_USAGE, "%s:%u: %s takes true or false", path, e->line,
                                e->key);
                continue;
            }
        }
        int is_path = opt->val == OPT_SUPP || opt->val == OPT_BASELINE;
        char *value = is_path ? cmd_conf_path(&c, e->value) : strdup(e->value);
        if (!value || apply(o, opt->val, value, err, sizeof err) < 0)
            ret = cmd_error(HG_EXIT_USAGE, "%s:%u: %s", path, e->line,
                            value ? err : "out of memory");
        free(value);
    }
    cmd_conf_release(&c);
    free(path);
    return ret;
}

/* Parses conf and argv into o; *capture gets the positional argument when
 * want_capture. Returns -1 to go on, or an exit status (0 after -h). */
static int parse(struct opts *o, int argc, char **argv, int want_capture, const char **capture)
{
    char err[300];
    int c, ret;
    memset(o, 0, sizeof *o);
    o->stack_depth = 16;
    o->g.set[REP_GATE_LEAKED] = 1;
    if ((ret = apply_conf(o, argc, argv)))
        return ret;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
        if (c == 'h')
            return fputs(USAGE, stdout), HG_EXIT_OK;
        if (c == '?' || c == ':') {
            cmd_error(HG_EXIT_USAGE, "check: bad option '%s'", argv[optind - 1]);
            return fputs(USAGE, stderr), HG_EXIT_USAGE;
        }
        if (apply(o, c, optarg, err, sizeof err) < 0)
            return cmd_error(HG_EXIT_USAGE, "%s", err);
    }
    if (want_capture && optind != argc - 1) {
        cmd_error(HG_EXIT_USAGE, "check: %s", optind >= argc ? "no capture given"
                                                            : "more than one capture given");
        return fputs(USAGE, stderr), HG_EXIT_USAGE;
    }
    if (!want_capture && optind != argc)
        return cmd_error(HG_EXIT_USAGE, "--check: unexpected argument '%s' (put the program "
                         "after --)", argv[optind]);
    if (want_capture)
        *capture = argv[optind];
    int growth = 0;
    for (int m = 0; m < REP_GROWTH_NMETRICS; m++)
        growth |= o->g.growth_set[m];
    if ((growth || o->g.new_leaks_only) && !o->baseline)
        return cmd_error(HG_EXIT_USAGE, "--max-growth and --new-leaks-only need --baseline FILE");
    return -1;
}

/* ---- loading ---- */

/* What the capture says was not recorded, one stderr line each. */
static void print_losses(const struct rep_capture *cap)
{
    for (size_t i = 0; i < cap->nlosses; i++) {
        fputs("heapgraph: loss: ", stderr);
        rep_text_puts(stderr, cap->losses[i]);
        putc('\n', stderr);
    }
    for (size_t i = 0; i < cap->nprocesses; i++)
        for (size_t k = 0; k < cap->processes[i].nlosses; k++) {
            fprintf(stderr, "heapgraph: loss: process %d: ", (int)cap->processes[i].pid);
            rep_text_puts(stderr, cap->processes[i].losses[k]);
            putc('\n', stderr);
        }
}

/* Reads a capture into run (whole_heap: struct rep_open_opts). Returns 0,
 * or the exit code after printing. */
static int load_capture(const char *path, struct rep_run *run, int bad_code, int whole_heap)
{
    char err[300];
    struct rep_open_opts oo = {.whole_heap = whole_heap};
    struct rep_capture *cap = rep_capture_open(path, &oo, err, sizeof err);
    if (!cap)
        return cmd_error(bad_code, "%s: %s", path, err);
    if (rep_capture_symbolize(cap, err, sizeof err) < 0 ||
        rep_capture_classify(cap, err, sizeof err) < 0 ||
        rep_run_from_capture(cap, run, err, sizeof err) < 0) {
        rep_capture_close(cap);
        return cmd_error(HG_EXIT_SOFTWARE, "%s: %s", path, err);
    }
    if (cap->damaged)
        fprintf(stderr, "heapgraph: note: %s is damaged at offset %llu (%s): figures cover "
                "what was recorded before it\n", path, (unsigned long long)cap->damage_offset,
                cap->damage_message ? cap->damage_message : "?");
    else if (!cap->complete)
        fprintf(stderr, "heapgraph: note: %s is incomplete (the recording did not finish)\n", path);
    print_losses(cap);
    rep_capture_close(cap);
    return 0;
}

int cmd_check_load(const char *path, struct rep_run *run, int allow_baseline, int bad_code)
{
    char err[300];
    if (allow_baseline && rep_baseline_sniff(path) == 1) {
        if (rep_baseline_read(path, run, err, sizeof err) < 0)
            return cmd_error(bad_code, "%s", err);
        return 0;
    }
    return load_capture(path, run, bad_code, 0);
}

static int load_suppressions(const struct opts *o, struct rep_supp_list *l)
{
    char err[300];
    if (!o->no_default_supp && rep_supp_add_builtin(l, err, sizeof err) < 0)
        return cmd_error(HG_EXIT_SOFTWARE, "built-in suppressions: %s", err);
    for (int i = 0; i < o->nsupp; i++)
        if (rep_supp_load(l, o->supp[i], err, sizeof err) < 0)
            return cmd_error(HG_EXIT_USAGE, "%s", err);
    return 0;
}

static void print_suppressions(const struct rep_supp_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct rep_supp *s = &l->s[i];
        if (s->matched)
            printf("suppressed by %s (%s): %llu entries, %llu bytes in %llu blocks\n",
                   s->name, s->origin, (unsigned long long)s->matched,
                   (unsigned long long)s->bytes, (unsigned long long)s->blocks);
        else if (!s->builtin)
            printf("warning: unused suppression %s (%s)\n", s->name, s->origin);
    }
}

/* ---- output ---- */

static int write_baseline(const char *path, const struct rep_run *run)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return cmd_error(HG_EXIT_SOFTWARE, "%s: cannot write: %m", path);
    int bad = rep_baseline_write(f, run) < 0;
    bad |= fclose(f) != 0;
    return bad ? cmd_error(HG_EXIT_SOFTWARE, "%s: write failed", path) : 0;
}

static int write_report(const struct opts *o, int i, const struct rep_run *run,
                        const struct rep_check *c, const struct rep_ci_opts *co)
{
    const char *path = o->report_path[i];
    int to_stdout = !strcmp(path, "-");
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    FILE *summary = NULL;
    int bad;
    if (!f)
        return cmd_error(HG_EXIT_SOFTWARE, "%s: cannot write: %m", path);
    switch (o->report_fmt[i]) {
    case FMT_JUNIT: bad = rep_ci_junit(f, run, c, co); break;
    case FMT_SARIF: bad = rep_ci_sarif(f, run, c, co); break;
    case FMT_GITLAB: bad = rep_ci_gitlab(f, run, c, co); break;
    default: {
        const char *sp = getenv("GITHUB_STEP_SUMMARY");
        if (sp && *sp && !(summary = fopen(sp, "a")))
            cmd_error(HG_EXIT_OK, "warning: %s: cannot append the step summary: %m", sp);
        bad = rep_ci_github(f, summary, run, c, co);
        if (summary)
            bad |= fclose(summary) != 0;
    }
    }
    if (!to_stdout)
        bad |= fclose(f) != 0;
    return bad ? cmd_error(HG_EXIT_SOFTWARE, "%s: write failed", path) : 0;
}

/* Everything after parsing: returns the exit status. */
static int run_check(struct opts *o, const char *capture)
{
    struct rep_run run = REP_RUN_INIT, base = REP_RUN_INIT;
    struct rep_supp_list supp = REP_SUPP_LIST_INIT;
    struct rep_check result;
    char err[300], root[PATH_MAX];
    int ret;
    if ((ret = load_capture(capture, &run, HG_EXIT_NOCAPTURE, o->whole_heap)) ||
        (ret = load_suppressions(o, &supp)))
        goto out;
    if (o->baseline && rep_baseline_read(o->baseline, &base, err, sizeof err) < 0) {
        ret = cmd_error(HG_EXIT_USAGE, "%s", err);
        goto out;
    }
    const char *source_root = o->source_root ? o->source_root : ".";
    if (!realpath(source_root, root)) {
        ret = cmd_error(HG_EXIT_USAGE, "--source-root %s: %m", source_root);
        goto out;
    }
    /* Suppressions apply to what some gate counts; reachable memory only
     * when --leak-kinds includes it. */
    rep_supp_apply_run(&supp, &run, rep_leak_mask(o->g.leak_kinds) | 1u << REP_LEAK_POSSIBLE);
    if ((o->write_baseline && (ret = write_baseline(o->write_baseline, &run))))
        goto out;
    if (o->g.new_leaks_only && rep_check_match_baseline(&run, &base) < 0) {
        ret = cmd_error(HG_EXIT_SOFTWARE, "out of memory matching the baseline");
        goto out;
    }
    if (rep_check_eval(&run, o->baseline ? &base : NULL, &o->g, &result, err, sizeof err) < 0) {
        ret = cmd_error(HG_EXIT_SOFTWARE, "%s", err);
        goto out;
    }
    struct rep_ci_opts co = {root, o->g.leak_kinds, o->stack_depth, 10};
    printf("heapgraph check: %s (%u process%s)\n", capture, run.nprocesses,
           run.nprocesses == 1 ? "" : "es");
    print_suppressions(&supp);
    rep_ci_text(stdout, &run, &result, &co);
    ret = result.failed ? HG_EXIT_GATE : HG_EXIT_OK;
    for (int i = 0; i < o->nreports; i++) {
        int r = write_report(o, i, &run, &result, &co);
        if (r)
            ret = r;
    }
    rep_check_release(&result);
out:
    rep_supp_release(&supp);
    rep_run_release(&run);
    rep_run_release(&base);
    return ret;
}

int cmd_check(int argc, char **argv)
{
    struct opts o;
    const char *capture = NULL;
    int ret = parse(&o, argc, argv, 1, &capture);
    if (ret < 0)
        ret = run_check(&o, capture);
    opts_release(&o);
    return ret;
}

/* ---- heapgraph run --check ---- */

int cmd_check_split(int *argc, char **argv, struct cmd_check_split *out)
{
    int start = -1, end = *argc;
    memset(out, 0, sizeof *out);
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--")) {
            end = i;
            break;
        }
        if (start < 0 && !strcmp(argv[i], "--check"))
            start = i;
    }
    if (start < 0)
        return 0;
    /* Static, so that no path through cmd_run has to free it. */
    static char *check_argv[256];
    int n = end - start - 1;
    if (n + 2 > (int)(sizeof check_argv / sizeof check_argv[0]))
        return cmd_error(HG_EXIT_USAGE, "--check: too many options");
    out->argv = check_argv;
    out->requested = 1;
    out->argc = n + 1;
    out->argv[0] = "check";
    memcpy(out->argv + 1, argv + start + 1, (size_t)n * sizeof *argv);
    out->argv[n + 1] = NULL;
    memmove(argv + start, argv + end, (size_t)(*argc - end + 1) * sizeof *argv);
    *argc -= n + 1;
    struct opts o;
    int ret = parse(&o, out->argc, out->argv, 0, NULL);
    opts_release(&o);
    if (ret >= 0) {
        memset(out, 0, sizeof *out);
        return ret == HG_EXIT_OK ? HG_EXIT_USAGE : ret;
    }
    return 0;
}

int cmd_check_after_run(const struct cmd_check_split *split, const char *capture,
                        int program_status)
{
    struct opts o;
    int ret = parse(&o, split->argc, split->argv, 0, NULL);
    if (ret < 0) {
        fflush(stdout);
        ret = run_check(&o, capture);
    }
    opts_release(&o);
    return program_status != 0 ? program_status : ret;
}
