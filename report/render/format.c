/* SPDX-License-Identifier: MIT
 *
 * format.c - formatting helpers shared by the renderers: JSON strings, binary
 * units, thousands separators, how a process ended, and the top-N site lists.
 */
#include "report/render/render.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at c (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *c)
{
    size_t n = *c < 0xc2 ? 0 : *c < 0xe0 ? 2 : *c < 0xf0 ? 3 : *c < 0xf5 ? 4 : 0;
    /* The second byte's range is narrower after these lead bytes. */
    unsigned lo = *c == 0xe0 ? 0xa0 : *c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = *c == 0xed ? 0x9f : *c == 0xf4 ? 0x8f : 0xbf;
    if (n && (c[1] < lo || c[1] > hi))
        return 0;
    for (size_t i = 2; i < n; i++)   /* stops at the NUL: it is no continuation byte */
        if ((c[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void rep_json_puts(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    putc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        size_t n = *c < 0x80 ? 1 : utf8_len(c);
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            fprintf(f, "\\u%04x", *c);
        else if (!n)
            fputs("\\ufffd", f);
        else
            fwrite(c, 1, n, f);
        c += n ? n - 1 : 0;
    }
    putc('"', f);
}

/* 1 when the character of n bytes at c would act on a terminal instead of
 * showing: a C0 control, DEL, or a C1 control (U+0080-U+009F; U+009B starts
 * an escape sequence as ESC [ does). */
static int is_control(const unsigned char *c, size_t n)
{
    return (n == 1 && (*c < 0x20 || *c == 0x7f)) || (n == 2 && c[0] == 0xc2 && c[1] < 0xa0);
}

/* The bytes at c to copy as they are (0: escape one byte as \xHH). */
static size_t safe_len(const unsigned char *c)
{
    size_t n = *c < 0x80 ? 1 : utf8_len(c);
    return n && !is_control(c, n) ? n : 0;
}

void rep_text_puts(FILE *f, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c;) {
        size_t n = safe_len(c);
        if (n)
            fwrite(c, 1, n, f);
        else
            fprintf(f, "\\x%02x", *c);
        c += n ? n : 1;
    }
}

const char *rep_fmt_safe(char *buf, size_t len, const char *s)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c;) {
        size_t n = safe_len(c);
        if (o + (n ? n : 4) >= len)
            break;
        if (n)
            memcpy(buf + o, c, n);
        else
            snprintf(buf + o, len - o, "\\x%02x", *c);
        o += n ? n : 4;
        c += n ? n : 1;
    }
    if (len)
        buf[o] = 0;
    return buf;
}
const char *rep_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

const char *rep_fmt_count(char *buf, size_t len, uint64_t n)
{
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%" PRIu64, n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 2 < len; i++) {
        if (i && (nd - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
    return buf;
}

const char *rep_fmt_duration(char *buf, size_t len, uint64_t us)
{
    if (us < 1000)
        snprintf(buf, len, "%" PRIu64 " us", us);
    else if (us < 1000000)
        snprintf(buf, len, "%.1f ms", (double)us / 1e3);
    else
        snprintf(buf, len, "%.3f s", (double)us / 1e6);
    return buf;
}

const char *rep_fmt_end(char *buf, size_t len, const struct rep_process *p)
{
    switch (p->ended ? p->end_how : REP_END_UNKNOWN) {
    case REP_END_EXIT:
        snprintf(buf, len, "exited with status %d", (int)p->end_code);
        break;
    case REP_END_SIGNAL: {
        const char *name = sigabbrev_np(p->end_code);
        snprintf(buf, len, "killed by signal %d%s%s%s%s", (int)p->end_code, name ? " (SIG" : "",
                 name ? name : "", name ? ")" : "",
                 (p->end_flags & REP_END_F_CORE) ? ", core dumped" : "");
        break;
    }
    case REP_END_EXEC:
        snprintf(buf, len, "replaced by exec");
        break;
    default:
        snprintf(buf, len, "end not recorded");
        break;
    }
    return buf;
}

const char *rep_no_snapshot_reason(char *buf, size_t len, const struct rep_process *p)
{
    if (p->exit_snapshot)
        return NULL;
    char end[96];
    rep_fmt_end(end, sizeof end, p);
    if (p->ended && p->end_how == REP_END_EXIT)
        snprintf(buf, len, "no exit snapshot: it %s through _exit or without reaching the heap "
                 "scan", end);
    else if (p->ended && p->end_how == REP_END_SIGNAL)
        snprintf(buf, len, "no exit snapshot: it was %s", end);
    else if (p->ended && p->end_how == REP_END_EXEC)
        snprintf(buf, len, "no exit snapshot: it was replaced by exec");
    else
        snprintf(buf, len, "no exit snapshot: the capture ends before this process did");
    return buf;
}

static uint64_t site_key(const struct rep_site *s, int key)
{
    return key == 0 ? s->bytes : key == 1 ? s->allocations : key == 2 ? s->temporary
         : s->gc_freed_objects ? s->gc_freed_objects : s->gc_freed;
}

struct sort_ctx {
    const struct rep_site *sites;
    int key;
};

static int cmp_site(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *c = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    uint64_t kx = site_key(&c->sites[x], c->key), ky = site_key(&c->sites[y], c->key);
    if (kx != ky)
        return kx > ky ? -1 : 1;
    return x < y ? -1 : x > y;
}

uint32_t *rep_top_sites(const struct rep_process *p, int key, size_t max, size_t *n)
{
    uint32_t *idx = malloc((p->nstacks + 1) * sizeof *idx);
    if (!idx)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < p->nstacks; i++)
        if (site_key(&p->sites[i], key))
            idx[k++] = (uint32_t)i;
    struct sort_ctx c = {p->sites, key};
    qsort_r(idx, k, sizeof *idx, cmp_site, &c);
    *n = k < max ? k : max;
    return idx;
}
