/* SPDX-License-Identifier: MIT
 *
 * parse.c - option values (see parse.h). Numbers must start with a digit:
 * strtoull alone would take " 12", "+12" and, worse, "-1" as 2^64-1.
 */
#include "cmd/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/gate/gates.h"

int cmd_parse_count(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cmd_parse_size(const char *s, uint64_t *out)
{
    static const struct { const char *unit; uint64_t mul; } units[] = {
        {"", 1}, {"B", 1},
        {"K", 1024}, {"KiB", 1024}, {"M", 1024 * 1024}, {"MiB", 1024 * 1024},
        {"G", 1024ull * 1024 * 1024}, {"GiB", 1024ull * 1024 * 1024},
        {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000ull * 1000 * 1000},
    };
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit))
            continue;
        if (v > UINT64_MAX / units[i].mul)
            return -1;
        *out = v * units[i].mul;
        return 0;
    }
    return -1;
}

/* The metric named by s[0..n), or -1. */
static int growth_metric(const char *s, size_t n)
{
    for (int m = 0; m < REP_GROWTH_NMETRICS; m++)
        if (strlen(rep_growth_name(m)) == n && !strncmp(s, rep_growth_name(m), n))
            return m;
    return -1;
}

int cmd_parse_growth(const char *s, struct rep_gates *g, char *err, size_t errlen)
{
    while (*s) {
        size_t n = strcspn(s, ",");
        const char *eq = memchr(s, '=', n);
        int metric = eq ? growth_metric(s, (size_t)(eq - s)) : -1;
        char *end = NULL;
        double pct = eq ? strtod(eq + 1, &end) : -1;
        if (metric < 0 || !end || end == eq + 1 || *end != '%' || end + 1 != s + n || pct < 0) {
            snprintf(err, errlen, "bad --max-growth item '%.*s' (want METRIC=N%%, metric one of "
                     "peak, allocations, allocated, leaked)", (int)n, s);
            return -1;
        }
        g->growth_set[metric] = 1;
        g->growth_pct[metric] = pct;
        s += n;
        if (*s == ',')
            s++;
    }
    return 0;
}
