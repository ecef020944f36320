/* SPDX-License-Identifier: MIT
 *
 * test_col_decode.h - a deliberately tiny capture decoder for the collector's
 * unit tests: it reads the file header and the chunks back (profiler/capture.h)
 * so the tests can compare exact values with what was written, independently
 * of the report/ reader.
 */
#ifndef HG_TEST_COL_DECODE_H
#define HG_TEST_COL_DECODE_H

#include "profiler/capture.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

struct dec {
    const uint8_t *p, *end;
    int bad;
};

static uint64_t d_u(struct dec *d)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (d->p >= d->end) {
            d->bad = 1;
            return 0;
        }
        uint8_t b = *d->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    d->bad = 1;
    return 0;
}

static int64_t d_zz(struct dec *d)
{
    uint64_t v = d_u(d);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A string field, copied into buf (NUL-terminated, cut at buflen). */
static const char *d_str(struct dec *d, char *buf, size_t buflen)
{
    uint64_t n = d_u(d);
    if (n > (uint64_t)(d->end - d->p)) {
        d->bad = 1;
        n = 0;
    }
    size_t k = n < buflen - 1 ? (size_t)n : buflen - 1;
    memcpy(buf, d->p, k);
    buf[k] = 0;
    d->p += n;
    return buf;
}

struct capture {
    struct hg_cap_header h;
    uint8_t *raw;        /* all chunks' records, concatenated */
    size_t raw_len;
    size_t nchunks;
    size_t chunk_raw[64];/* raw size of the first chunks */
    size_t file_len;
    int bad_chunk;       /* a chunk did not decode (or the header was bad) */
};

/* Reads a whole capture; 0 or -1 (file unreadable). */
static int read_capture(const char *path, struct capture *c)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *file = malloc(len > 0 ? (size_t)len : 1);
    size_t got = fread(file, 1, (size_t)len, f);
    fclose(f);
    c->file_len = got;
    if (got < sizeof c->h || memcmp(file, HG_CAP_MAGIC, 8)) {
        c->bad_chunk = 1;
        free(file);
        return 0;
    }
    memcpy(&c->h, file, sizeof c->h);
    size_t off = c->h.header_size;
    while (off + sizeof(struct hg_chunk_header) <= got) {
        struct hg_chunk_header ch;
        memcpy(&ch, file + off, sizeof ch);
        off += sizeof ch;
        if (ch.magic != HG_CHUNK_MAGIC || ch.comp_size > got - off || ch.raw_size > HG_CHUNK_MAX_RAW) {
            c->bad_chunk = 1;
            break;
        }
        c->raw = realloc(c->raw, c->raw_len + ch.raw_size + 1);
        size_t n = ZSTD_decompress(c->raw + c->raw_len, ch.raw_size, file + off, ch.comp_size);
        if (ZSTD_isError(n) || n != ch.raw_size) {
            c->bad_chunk = 1;
            break;
        }
        if (c->nchunks < 64)
            c->chunk_raw[c->nchunks] = n;
        c->nchunks++;
        c->raw_len += n;
        off += ch.comp_size;
    }
    if (off != got)
        c->bad_chunk = 1;
    free(file);
    return 0;
}

/* Iterates records: type and payload. Returns 1, or 0 at the end. */
static int next_rec(struct dec *all, unsigned *type, struct dec *payload)
{
    if (all->p >= all->end)
        return 0;
    *type = *all->p++;
    uint64_t n = d_u(all);
    if (all->bad || n > (uint64_t)(all->end - all->p)) {
        all->bad = 1;
        return 0;
    }
    payload->p = all->p;
    payload->end = all->p + n;
    payload->bad = 0;
    all->p += n;
    return 1;
}

#endif
