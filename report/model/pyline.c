/* SPDX-License-Identifier: MIT
 *
 * pyline.c - instruction offset -> source line for the three line-table
 * formats of CPython 3.8 to 3.13 (pyline.h). Each decoder walks the table
 * from its start, as the interpreter does for a traceback; a table cut
 * short (the runtime caps what it copies) gives 0 past its end.
 */
#include "report/model/pyline.h"

int rep_pyline_format_of(uint32_t version)
{
    if (version >= 0x030b0000)
        return REP_PYLINE_311;
    if (version >= 0x030a0000)
        return REP_PYLINE_310;
    return version >= 0x03080000 ? REP_PYLINE_LNOTAB : 0;
}

static unsigned clamp(long line)
{
    return line > 0 && line <= (long)UINT32_MAX ? (unsigned)line : 0;
}

/* 3.8-3.9: the line changes by each signed delta once its byte delta has
 * been passed. */
static unsigned lnotab(const uint8_t *t, size_t len, unsigned first, uint32_t offset)
{
    long line = first;
    uint64_t addr = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        addr += t[i];
        if (addr > offset)
            break;
        line += (int8_t)t[i + 1];
    }
    return clamp(line);
}

/* 3.10: each pair is a range of t[i] bytes whose line is the running line
 * plus t[i+1] (-128: the range has no line); empty ranges only move it. */
static unsigned linetable310(const uint8_t *t, size_t len, unsigned first, uint32_t offset)
{
    long line = first;
    uint64_t end = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint64_t start = end;
        end += t[i];
        int delta = (int8_t)t[i + 1];
        int has_line = delta != -128;
        if (has_line)
            line += delta;
        if (start <= offset && offset < end)
            return has_line ? clamp(line) : 0;
    }
    return 0;
}

struct cursor {
    const uint8_t *p, *end;
    int bad;
};

static unsigned byte_at(struct cursor *c)
{
    if (c->p >= c->end) {
        c->bad = 1;
        return 0;
    }
    return *c->p++;
}

/* 6 bits per byte, least significant first; bit 6 says another follows. */
static uint64_t varint(struct cursor *c)
{
    unsigned b = byte_at(c);
    uint64_t v = b & 63;
    for (unsigned shift = 6; (b & 64) && !c->bad && shift < 60; shift += 6) {
        b = byte_at(c);
        v |= (uint64_t)(b & 63) << shift;
    }
    return v;
}

static long svarint(struct cursor *c)
{
    uint64_t u = varint(c);
    return u & 1 ? -(long)(u >> 1) : (long)(u >> 1);
}

/* 3.11+: entries of (first byte & 7) + 1 code units; the kind in bits 3-6
 * says how the line moves: 15 no location, 14 long form and 13 no columns
 * (a signed varint delta), 10-12 a delta of kind - 10, 0-9 the same line. */
static unsigned locations(const uint8_t *t, size_t len, unsigned first, uint32_t offset)
{
    struct cursor c = { t, t + len, 0 };
    long line = first;
    uint64_t unit = offset / 2, start = 0;
    while (c.p < c.end) {
        unsigned b = byte_at(&c);
        unsigned kind = b >> 3 & 15;
        uint64_t end = start + (b & 7) + 1;
        int has_line = kind != 15;
        if (kind == 14) {
            line += svarint(&c);
            varint(&c);
            varint(&c);
            varint(&c);
        } else if (kind == 13) {
            line += svarint(&c);
        } else if (kind >= 10 && kind <= 12) {
            line += kind - 10;
            byte_at(&c);
            byte_at(&c);
        } else if (kind < 10) {
            byte_at(&c);
        }
        if (c.bad)
            return 0;
        if (start <= unit && unit < end)
            return has_line ? clamp(line) : 0;
        start = end;
    }
    return 0;
}

unsigned rep_pyline(const uint8_t *table, size_t len, int format, unsigned first_line,
                    uint32_t offset)
{
    switch (format) {
    case REP_PYLINE_LNOTAB: return lnotab(table, len, first_line, offset);
    case REP_PYLINE_310: return linetable310(table, len, first_line, offset);
    case REP_PYLINE_311: return locations(table, len, first_line, offset);
    default: return 0;
    }
}
