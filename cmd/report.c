/* SPDX-License-Identifier: MIT
 *
 * report.c - `heapgraph report`: reads a capture (report/model/model.h),
 * symbolizes and classifies it, and writes it in one of the formats of the
 * table below. Parsing and output handling only; the analysis lives in
 * report/. A damaged capture is reported up to its damage, with one stderr
 * line saying so; a file that is not a capture is an error (exit 2).
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cmd/supp.h"
#include "report/render/collapsed.h"
#include "report/render/html.h"
#include "report/analysis/classify.h"
#include "report/analysis/lifetime.h"
#include "report/model/model.h"
#include "report/render/render.h"

static const char usage_text[] =
    "usage: heapgraph report [OPTIONS] CAPTURE\n"
    "\n"
    "Reports a capture: per process its allocations, peak, top allocation sites,\n"
    "leaks (definite, cycles, possible; reachable with --show-reachable), every\n"
    "unreachable cycle and a leak summary.\n"
    "\n"
    "  -f, --format FORMAT      text (default), json, html (one self-contained page)\n"
    "                           or collapsed (folded stacks for flamegraph.pl & co)\n"
    "  -o, --output FILE        write the report to FILE instead of standard output\n"
    "  -n, --top N              entries per list (default 10)\n"
    "  -d, --stack-depth N      frames per stack (default: text 6, json all)\n"
    "  -p, --process PID|NAME   only the processes with this pid or command name\n"
    "                           (text: without the process tree)\n"
    "      --inherited          judge forked children on the whole heap they inherited\n"
    "                           (by default only on what they changed)\n"
    "      --width N            text: columns (default: the terminal's, 100 when not one)\n"
    "  -r, --show-reachable     also list reachable memory and what retains it (text,\n"
    "                           JSON; the HTML page lists the biggest 300 leak entries\n"
    "                           of each process, reachable ones included)\n"
    "  -m, --metric METRIC      collapsed: leaked (default), peak, allocated or allocations\n"
    "      --interpreter-frames Python stacks: also show the interpreter's own native\n"
    "                           frames (eval loop, call machinery, startup), hidden by\n"
    "                           default\n"
    "      --color WHEN         auto (default: when writing to a terminal and NO_COLOR\n"
    "                           is unset), always or never\n"
    CMD_SUPP_USAGE
    "  -h, --help               this help\n";

struct report_opts {
    struct rep_render_opts render;
    const char *format;
    const char *output;
    const char *path;
    const char *color;
    const char *metric;
    int interpreter_frames;
    int inherited;
    struct cmd_supp_opts supp;
};

/* ---- formats ----------------------------------------------------------------
 * One row per --format. prepare (optional) runs before the capture is read and
 * may hook the replay through oo (e.g. the block callback); its state is
 * handed to write and then to release. */
struct format {
    const char *name;
    int (*prepare)(const struct report_opts *o, struct rep_open_opts *oo, void **state);
    int (*write)(FILE *out, const struct rep_capture *cap, const struct report_opts *o,
                 void *state, char *err, size_t errlen);
    void (*release)(void *state);
};

static int write_text(FILE *out, const struct rep_capture *cap, const struct report_opts *o,
                      void *state, char *err, size_t errlen)
{
    (void)state;
    return rep_render_text(out, cap, &o->render, err, errlen);
}

static int write_json(FILE *out, const struct rep_capture *cap, const struct report_opts *o,
                      void *state, char *err, size_t errlen)
{
    (void)state;
    return rep_render_json(out, cap, &o->render, err, errlen);
}

/* html: block lifetimes are gathered during the read (state is the
 * struct rep_life); the page embeds the JSON report. */
static int prepare_html(const struct report_opts *o, struct rep_open_opts *oo, void **state)
{
    (void)o;
    if (!(*state = rep_life_new()))
        return -1;
    oo->block = rep_life_block;
    oo->arg = *state;
    return 0;
}

struct html_json {
    const struct rep_capture *cap;
    const struct rep_render_opts *render;
};

static int html_json(FILE *f, void *arg, struct rep_stacktab *stacks, char *err, size_t errlen)
{
    const struct html_json *j = arg;
    struct rep_render_opts render = *j->render;
    render.stacks = stacks;
    return rep_render_json(f, j->cap, &render, err, errlen);
}

/* The embedded JSON report keeps at most 32 frames per stack unless
 * --stack-depth says otherwise: deep recursions would bloat the page. It
 * lists reachable entries, as many leak entries as the page shows. */
#define HTML_LEAKS 300
static int write_html(FILE *out, const struct rep_capture *cap, const struct report_opts *o,
                      void *state, char *err, size_t errlen)
{
    struct rep_render_opts render = o->render;
    if (!render.stack_depth)
        render.stack_depth = 32;
    render.show_reachable = 1;
    render.max_leaks = HTML_LEAKS;
    struct html_json j = {cap, &render};
    struct rep_html_opts ho = {.life = state, .write_json = html_json, .json_arg = &j,
                               .process = o->render.process};
    return rep_html_write(out, cap, &ho, err, errlen);
}

static void release_html(void *state)
{
    rep_life_free(state);
}

static int write_collapsed(FILE *out, const struct rep_capture *cap, const struct report_opts *o,
                           void *state, char *err, size_t errlen)
{
    (void)state;
    return rep_collapsed_write(out, cap, rep_metric_parse(o->metric), o->render.process, err,
                               errlen);
}

static const struct format formats[] = {
    {"text", NULL, write_text, NULL},
    {"json", NULL, write_json, NULL},
    {"html", prepare_html, write_html, release_html},
    {"collapsed", NULL, write_collapsed, NULL},
};

static const struct format *find_format(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(formats[i].name, name))
            return &formats[i];
    return NULL;
}

/* ---- progress ---------------------------------------------------------------- */

struct progress {
    struct timespec start;
    int shown;
    int last;               /* the percentage shown last */
};

static double elapsed(const struct progress *pr)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - pr->start.tv_sec) + (double)(now.tv_nsec - pr->start.tv_nsec) / 1e9;
}

/* Shown only once reading has taken more than a second. */
static void show_progress(void *arg, uint64_t done, uint64_t total)
{
    struct progress *pr = arg;
    int pct = total ? (int)(done * 100 / total) : 0;
    if (!total || (pr->shown && pct == pr->last) || elapsed(pr) < 1.0)
        return;
    fprintf(stderr, "\rheapgraph: reading capture %3d%%", pct);
    pr->shown = 1;
    pr->last = pct;
}

static void end_progress(struct progress *pr, const char *what)
{
    if (pr->shown && what)
        fprintf(stderr, "\rheapgraph: %-30s", what);
    if (pr->shown && !what)
        fputs("\r\033[K", stderr);
}

/* ---- options ----------------------------------------------------------------- */

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v > 1000000)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int bad_usage(const char *fmt, const char *arg)
{
    cmd_error(HG_EXIT_USAGE, fmt, arg);
    fputs(usage_text, stderr);
    return HG_EXIT_USAGE;
}

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct report_opts *o)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},   {"output", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 'n'},      {"stack-depth", required_argument, NULL, 'd'},
        {"process", required_argument, NULL, 'p'},  {"show-reachable", no_argument, NULL, 'r'},
        {"color", required_argument, NULL, 'C'},    {"colour", required_argument, NULL, 'C'},
        {"metric", required_argument, NULL, 'm'},
        {"interpreter-frames", no_argument, NULL, 'I'},
        {"inherited", no_argument, NULL, 'H'},      {"width", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},           CMD_SUPP_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "f:o:n:d:p:rm:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': o->format = optarg; break;
        case 'o': o->output = optarg; break;
        case 'n':
            if (parse_uint(optarg, &o->render.top) < 0 || !o->render.top)
                return bad_usage("--top wants a positive number, not '%s'", optarg);
            break;
        case 'd':
            if (parse_uint(optarg, &o->render.stack_depth) < 0 || !o->render.stack_depth)
                return bad_usage("--stack-depth wants a positive number, not '%s'", optarg);
            break;
        case 'p':
            if (!*optarg || strspn(optarg, "0") == strlen(optarg))
                return bad_usage("--process wants a pid or a command name, not '%s'", optarg);
            o->render.process = optarg;
            break;
        case 'H': o->inherited = 1; break;
        case 'W':
            if (parse_uint(optarg, &o->render.width) < 0 || o->render.width < 40)
                return bad_usage("--width wants a number of columns from 40, not '%s'", optarg);
            break;
        case 'r': o->render.show_reachable = 1; break;
        case 'C': o->color = optarg; break;
        case 'm': o->metric = optarg; break;
        case 'I': o->interpreter_frames = 1; break;
        case 'h': fputs(usage_text, stdout); return HG_EXIT_OK;
        case CMD_SUPP_OPT_FILE:
        case CMD_SUPP_OPT_NO_DEFAULT:
        case CMD_SUPP_OPT_GEN:
            if (cmd_supp_option(&o->supp, ch, optarg))
                return HG_EXIT_USAGE;
            break;
        default: fputs(usage_text, stderr); return HG_EXIT_USAGE;
        }
    }
    if (optind != argc - 1)
        return bad_usage("%s", optind >= argc ? "report needs one CAPTURE" : "report takes one CAPTURE");
    o->path = argv[optind];
    if (!find_format(o->format))
        return bad_usage("unknown format '%s'", o->format);
    if (strcmp(o->color, "auto") && strcmp(o->color, "always") && strcmp(o->color, "never"))
        return bad_usage("--color wants auto, always or never, not '%s'", o->color);
    if (rep_metric_parse(o->metric) < 0)
        return bad_usage("--metric wants leaked, peak, allocated or allocations, not '%s'", o->metric);
    return -1;
}

static int want_color(const struct report_opts *o, FILE *out)
{
    if (!strcmp(o->color, "always"))
        return 1;
    if (!strcmp(o->color, "never"))
        return 0;
    const char *no = getenv("NO_COLOR");
    return (!no || !*no) && isatty(fileno(out));
}

/* The terminal's columns when out is one (COLUMNS first, as shells export
 * it, then the tty's size), else 0: the renderer's 100, which keeps files
 * and pipes the same whatever terminal ran the command. */
static unsigned term_width(FILE *out)
{
    if (!isatty(fileno(out)))
        return 0;
    const char *env = getenv("COLUMNS");
    unsigned cols;
    if (env && parse_uint(env, &cols) == 0 && cols >= 40)
        return cols;
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 0;
}

/* ---- the command ----------------------------------------------------------- */

static int has_process(const struct rep_capture *cap, const char *process)
{
    for (size_t i = 0; i < cap->nprocesses; i++)
        if (rep_process_selected(&cap->processes[i], process))
            return 1;
    return 0;
}

/* Reads, symbolizes and classifies; NULL after printing the error. */
static struct rep_capture *load(const struct report_opts *o, struct rep_open_opts *oo, int *rc)
{
    char err[512];
    struct progress pr = {.shown = 0};
    clock_gettime(CLOCK_MONOTONIC, &pr.start);
    if (isatty(STDERR_FILENO) && !oo->progress) {
        oo->progress = show_progress;
        oo->progress_arg = &pr;
    }
    struct rep_capture *cap = rep_capture_open(o->path, oo, err, sizeof err);
    if (!cap) {
        end_progress(&pr, NULL);
        *rc = cmd_error(HG_EXIT_USAGE, "%s: %s", o->path, err);
        return NULL;
    }
    end_progress(&pr, "symbolizing...");
    cap->interpreter_frames = o->interpreter_frames;
    if (rep_capture_symbolize(cap, err, sizeof err) < 0 ||
        rep_capture_classify(cap, err, sizeof err) < 0) {
        end_progress(&pr, NULL);
        rep_capture_close(cap);
        *rc = cmd_error(HG_EXIT_SOFTWARE, "%s: %s", o->path, err);
        return NULL;
    }
    end_progress(&pr, NULL);
    if (oo->progress == show_progress)
        oo->progress = NULL;
    return cap;
}

static int write_report(const struct report_opts *o, const struct format *fmt,
                        const struct rep_capture *cap, void *state)
{
    char err[512];
    FILE *out = o->output ? fopen(o->output, "w") : stdout;
    if (!out)
        return cmd_error(HG_EXIT_USAGE, "%s: %s", o->output, strerror(errno));
    struct report_opts ro = *o;
    ro.render.color = want_color(o, out);
    if (!ro.render.width)
        ro.render.width = term_width(out);
    int rc = fmt->write(out, cap, &ro, state, err, sizeof err);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        return cmd_error(HG_EXIT_SOFTWARE, "%s: %s", o->output, strerror(errno));
    if (rc < 0)
        return cmd_error(HG_EXIT_SOFTWARE, "%s: %s", o->output ? o->output : "standard output", err);
    return HG_EXIT_OK;
}

int cmd_report(int argc, char **argv)
{
    struct report_opts o = {.format = "text", .color = "auto", .metric = "leaked"};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    const struct format *fmt = find_format(o.format);
    struct rep_open_opts oo = {.whole_heap = o.inherited};
    void *state = NULL;
    if (fmt->prepare && fmt->prepare(&o, &oo, &state) < 0)
        return cmd_error(HG_EXIT_SOFTWARE, "out of memory");
    struct rep_capture *cap = load(&o, &oo, &rc);
    int gen_done = 0;
    if (cap && (rc = cmd_supp_apply(&o.supp, cap, stdout, &gen_done)) != 0) {
        rep_capture_close(cap);
        cap = NULL;
    }
    if (cap && o.render.process && !has_process(cap, o.render.process))
        rc = cmd_error(HG_EXIT_USAGE, "%s: no process %s %s", o.path,
                       strspn(o.render.process, "0123456789") == strlen(o.render.process)
                           ? "with pid" : "named", o.render.process);
    else if (cap && !gen_done)
        rc = write_report(&o, fmt, cap, state);
    if (cap && cap->damaged)
        cmd_error(rc, "%s: damaged at byte %llu (%s); reported what came before", o.path,
                  (unsigned long long)cap->damage_offset, cap->damage_message);
    rep_capture_close(cap);
    if (fmt->release)
        fmt->release(state);
    return rc;
}
