/* SPDX-License-Identifier: MIT
 *
 * info.c - `heapgraph info`: describes a capture without symbolizing it:
 * whether it is complete (and where damage starts), then per process its
 * command line, how it ended, event counts, duration, distinct stacks,
 * modules, threads and snapshots. Cheap enough to run on any capture first.
 */
#include "cmd/cmd.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report/model/model.h"
#include "report/render/render.h"

static const char usage_text[] =
    "usage: heapgraph info CAPTURE\n"
    "\n"
    "Describes a capture: whether it is complete (and where damage starts), its\n"
    "processes with their command lines and exit statuses, event counts,\n"
    "duration, distinct stacks, modules and snapshots.\n"
    "\n"
    "  -h, --help   this help\n";

/* One line per text, after prefix; the text comes from the program. */
static void lines(const char *prefix, const char *const *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputs(prefix, stdout);
        rep_text_puts(stdout, text[i]);
        putchar('\n');
    }
}

static void capture_lines(const struct rep_capture *cap)
{
    char a[32], b[32];
    time_t t = (time_t)(cap->start_realtime_ns / 1000000000u);
    struct tm tm;
    char when[64] = "?";
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    fputs("capture    ", stdout);
    rep_text_puts(stdout, cap->path);
    putchar('\n');
    printf("format     version %" PRIu32 ", %s in %s chunks\n", cap->version,
           rep_fmt_bytes(a, sizeof a, cap->file_size), rep_fmt_count(b, sizeof b, cap->chunks));
    printf("recorded   %s\n", when);
    size_t losses = cap->nlosses;
    for (size_t i = 0; i < cap->nprocesses; i++)
        losses += cap->processes[i].nlosses;
    if (cap->damaged)
        printf("complete   no: damaged at byte %" PRIu64 ": %s\n", cap->damage_offset,
               cap->damage_message);
    else if (!cap->complete)
        printf("complete   no: it ends without an end record\n");
    else if (losses)
        printf("complete   no: %zu %s (something that happened was not recorded)\n", losses,
               losses == 1 ? "loss" : "losses");
    else if (!cap->nprocesses)
        printf("complete   no: no process was recorded\n");
    else
        printf("complete   yes\n");
    printf("events     %s\n", rep_fmt_count(a, sizeof a, cap->events));
    printf("processes  %zu\n", cap->nprocesses);
    lines("loss       ", cap->losses, cap->nlosses);
    lines("note       ", cap->notes, cap->nnotes);
}

static void process_lines(const struct rep_process *p)
{
    char a[32], b[32], c[32], end[128], d[32];
    printf("\nprocess %" PRId32 " (parent %" PRId32 ", stream %" PRIu32 ", %s):", p->pid, p->ppid,
           p->stream, p->origin == 1 ? "forked" : p->origin == 2 ? "exec'd" : "launched");
    for (size_t i = 0; i < p->argc; i++) {
        putchar(' ');
        rep_text_puts(stdout, p->argv[i]);
    }
    fputs("\n  exe        ", stdout);
    rep_text_puts(stdout, p->exe);
    putchar('\n');
    uint64_t dur = p->end_us > p->start_us ? p->end_us - p->start_us : 0;
    printf("  ended      %s after %s\n", rep_fmt_end(end, sizeof end, p),
           rep_fmt_duration(d, sizeof d, dur));
    printf("  events     %s: %s allocations, %s frees, %s unknown frees\n",
           rep_fmt_count(a, sizeof a, p->events), rep_fmt_count(b, sizeof b, p->allocations),
           rep_fmt_count(c, sizeof c, p->frees), rep_fmt_count(end, sizeof end, p->frees_unknown));
    printf("  stacks     %zu distinct\n", p->nstacks);
    printf("  modules    %zu\n", p->nmodules);
    printf("  threads    %zu\n", p->nthreads);
    printf("  snapshots  %zu (%s exit snapshot)\n", p->nsnapshots,
           p->exit_snapshot ? "with" : "no");
    printf("  live       %s in %s blocks at the end\n", rep_fmt_bytes(a, sizeof a, p->live_bytes),
           rep_fmt_count(b, sizeof b, p->live_blocks));
    lines("  loss       ", p->losses, p->nlosses);
    lines("  note       ", p->notes, p->nnotes);
}

int cmd_info(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h')
            return fputs(usage_text, stdout), HG_EXIT_OK;
        return fputs(usage_text, stderr), HG_EXIT_USAGE;
    }
    if (optind != argc - 1) {
        cmd_error(HG_EXIT_USAGE, "info needs one CAPTURE");
        return fputs(usage_text, stderr), HG_EXIT_USAGE;
    }
    char err[512];
    struct rep_capture *cap = rep_capture_open(argv[optind], NULL, err, sizeof err);
    if (!cap)
        return cmd_error(HG_EXIT_USAGE, "%s: %s", argv[optind], err);
    capture_lines(cap);
    for (size_t i = 0; i < cap->nprocesses; i++)
        process_lines(&cap->processes[i]);
    rep_capture_close(cap);
    return HG_EXIT_OK;
}
