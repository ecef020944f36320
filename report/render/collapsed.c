/* SPDX-License-Identifier: MIT
 *
 * collapsed.c - folded stacks for flamegraph.pl, inferno and speedscope: one
 * line per allocation site with a non-zero value, its frames outermost first
 * joined by ';', a space, and the value. Those tools split frames on ';' and
 * the value off the last space, so ';' and line breaks in names are replaced;
 * sites that fold to the same line are merged, sorted by line.
 * The leaked figures attribute every lost block to its own allocation site
 * (an indirect block counts where it was allocated, not under its group), so
 * the folded stacks and the HTML flame graph add up to the summary.
 */
#include "report/render/collapsed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis/leaked.h"

static const char *const metric_names[] = { "leaked", "peak", "allocated", "allocations" };

int rep_metric_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof metric_names / sizeof metric_names[0]); i++)
        if (!strcmp(name, metric_names[i]))
            return i;
    return -1;
}

/* Writes a name with the characters that would break a folded line replaced. */
static void put_name(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc(*s == ';' ? ':' : (*s == '\n' || *s == '\r') ? ' ' : *s, out);
}

static void put_frame(FILE *out, const struct rep_frame *f)
{
    if (f->function) {
        put_name(out, f->function);
        return;
    }
    const char *slash = strrchr(f->module, '/');
    put_name(out, slash ? slash + 1 : f->module);
    fprintf(out, "+0x%" PRIx64, f->offset);
}

static uint64_t site_value(const struct rep_site *s, int metric, uint64_t leaked)
{
    switch (metric) {
    case REP_METRIC_LEAKED: return leaked;
    case REP_METRIC_PEAK: return s->peak_bytes;
    case REP_METRIC_ALLOCATED: return s->bytes;
    default: return s->allocations;
    }
}

/* One folded line of a site, without its value; NULL when out of memory. */
static char *fold(const struct rep_process *p, const struct rep_site *s, int tag)
{
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    if (tag) {
        const char *exe = p->argc ? p->argv[0] : p->exe ? p->exe : "?";
        const char *slash = strrchr(exe, '/');
        put_name(f, slash ? slash + 1 : exe);
        fprintf(f, " [%" PRId32 "]%s", p->pid, s->stack->nframes ? ";" : "");
    }
    for (uint32_t j = s->stack->nframes; j-- > 0;) {
        put_frame(f, &s->stack->frames[j]);
        if (j)
            fputc(';', f);
    }
    if (!tag && !s->stack->nframes)
        fputs("[unknown]", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

struct line {
    char *text;
    uint64_t value;
};

static int line_cmp(const void *a, const void *b)
{
    return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

/* Sites whose stacks fold to the same line (they differ only in return
 * addresses or file:line) are written once, with their values summed. */
static int write_process(FILE *out, const struct rep_process *p, int metric, int tag,
                         char *err, size_t errlen)
{
    size_t n = p->nstacks ? p->nstacks : 1, nlines = 0;
    uint64_t *leaked = calloc(n, sizeof *leaked), *blocks = calloc(n, sizeof *blocks);
    struct line *lines = calloc(n, sizeof *lines);
    int ret = -1;
    if (!leaked || !blocks || !lines)
        goto out;
    if (metric == REP_METRIC_LEAKED)
        rep_leaked_by_site(p, leaked, blocks);
    for (size_t i = 0; i < p->nstacks; i++) {
        uint64_t v = site_value(&p->sites[i], metric, leaked[i]);
        if (!v)
            continue;
        if (!(lines[nlines].text = fold(p, &p->sites[i], tag)))
            goto out;
        lines[nlines++].value = v;
    }
    qsort(lines, nlines, sizeof *lines, line_cmp);
    for (size_t i = 0; i < nlines; i++) {
        uint64_t v = lines[i].value;
        for (; i + 1 < nlines && !strcmp(lines[i].text, lines[i + 1].text); i++)
            v += lines[i + 1].value;
        fprintf(out, "%s %" PRIu64 "\n", lines[i].text, v);
    }
    ret = 0;
out:
    if (ret < 0)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; lines && i < nlines; i++)
        free(lines[i].text);
    free(lines);
    free(leaked);
    free(blocks);
    return ret;
}

int rep_collapsed_write(FILE *out, const struct rep_capture *cap, int metric,
                        const char *process, char *err, size_t errlen)
{
    int found = 0;
    for (size_t i = 0; i < cap->nprocesses; i++) {
        const struct rep_process *p = &cap->processes[i];
        if (!rep_process_selected(p, process))
            continue;
        found = 1;
        if (write_process(out, p, metric, !process && cap->nprocesses > 1, err, errlen) < 0)
            return -1;
    }
    if (process && !found) {
        snprintf(err, errlen, "no process %s %s in the capture",
                 strspn(process, "0123456789") == strlen(process) ? "with pid" : "named", process);
        return -1;
    }
    if (fflush(out) != 0 || ferror(out)) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        return -1;
    }
    return 0;
}
