/* SPDX-License-Identifier: MIT
 *
 * jsonread.c - recursive-descent JSON reader (RFC 8259) with a nesting limit
 * of 64, so that crafted input cannot exhaust the stack; every byte access
 * checks the end of the buffer first.
 */
#include "report/gate/jsonread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/model/arena.h"

#define MAX_DEPTH 64

struct reader {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
};

static int fail(struct reader *r, const char *what)
{
    snprintf(r->err, r->errlen, "offset %zu: %s", r->pos, what);
    return -1;
}

static void skip_ws(struct reader *r)
{
    while (r->pos < r->len && strchr(" \t\r\n", r->s[r->pos]) && r->s[r->pos])
        r->pos++;
}

static int peek(struct reader *r)
{
    return r->pos < r->len ? (unsigned char)r->s[r->pos] : -1;
}

static int literal(struct reader *r, const char *word)
{
    size_t n = strlen(word);
    if (r->len - r->pos < n || memcmp(r->s + r->pos, word, n))
        return fail(r, "invalid literal");
    r->pos += n;
    return 0;
}

static int hex4(struct reader *r, unsigned *out)
{
    unsigned v = 0;
    if (r->len - r->pos < 4)
        return fail(r, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = r->s[r->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(r, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int escape(struct reader *r, char *out, size_t *k)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (r->pos >= r->len)
        return fail(r, "truncated escape");
    char c = r->s[r->pos++];
    const char *e = c ? strchr(from, c) : NULL;
    if (e) {
        out[(*k)++] = to[e - from];
        return 0;
    }
    if (c != 'u')
        return fail(r, "bad escape");
    unsigned cp, lo;
    if (hex4(r, &cp) < 0)
        return -1;
    if (cp >= 0xd800 && cp < 0xdc00 && r->len - r->pos >= 6 && r->s[r->pos] == '\\' &&
        r->s[r->pos + 1] == 'u') {
        r->pos += 2;
        if (hex4(r, &lo) < 0)
            return -1;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail(r, "bad surrogate pair");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *k += put_utf8(out + *k, cp);
    return 0;
}

/* A string starting at the opening quote; *out is malloc'd. */
static int string(struct reader *r, char **out)
{
    r->pos++;
    size_t start = r->pos, end = start;
    while (end < r->len && r->s[end] != '"')
        end += r->s[end] == '\\' ? 2 : 1;
    if (end >= r->len)
        return fail(r, "unterminated string");
    /* Escapes never grow the text (\uXXXX is 6 bytes for at most 4). */
    char *o = malloc(end - start + 1);
    size_t k = 0;
    if (!o)
        return fail(r, "out of memory");
    while (r->pos < end) {
        unsigned char c = (unsigned char)r->s[r->pos];
        if (c < 0x20) {
            free(o);
            return fail(r, "control character in string");
        }
        r->pos++;
        if (c != '\\')
            o[k++] = (char)c;
        else if (escape(r, o, &k) < 0) {
            free(o);
            return -1;
        }
    }
    o[k] = 0;
    r->pos = end + 1;
    *out = o;
    return 0;
}

static int number(struct reader *r, struct rep_json *j)
{
    size_t start = r->pos;
    int integer = 1;
    if (peek(r) == '-') {
        integer = 0;
        r->pos++;
    }
    if (peek(r) < '0' || peek(r) > '9')
        return fail(r, "bad number");
    while (peek(r) >= '0' && peek(r) <= '9')
        r->pos++;
    if (peek(r) == '.' || peek(r) == 'e' || peek(r) == 'E') {
        integer = 0;
        r->pos++;
        while (strchr("0123456789+-eE", peek(r) > 0 ? peek(r) : 'x') && peek(r) > 0)
            r->pos++;
    }
    char buf[64];
    size_t n = r->pos - start;
    if (n >= sizeof buf)
        return fail(r, "number too long");
    memcpy(buf, r->s + start, n);
    buf[n] = 0;
    char *end;
    j->type = REP_JSON_NUMBER;
    j->num = strtod(buf, &end);
    if (*end)
        return fail(r, "bad number");
    if (integer && (n < 20 || (n == 20 && strcmp(buf, "18446744073709551615") <= 0))) {
        j->is_uint = 1;
        j->u = strtoull(buf, NULL, 10);
    }
    return 0;
}

static int value(struct reader *r, struct rep_json *j, int depth);

static int push(struct reader *r, struct rep_json *j, char *key)
{
    if (rep_grow((void **)&j->items, &j->items_cap, j->n + 1, sizeof *j->items) < 0 ||
        (j->type == REP_JSON_OBJECT &&
         rep_grow((void **)&j->keys, &j->keys_cap, j->n + 1, sizeof *j->keys) < 0)) {
        free(key);
        return fail(r, "out of memory");
    }
    memset(&j->items[j->n], 0, sizeof j->items[0]);
    if (key)
        j->keys[j->n] = key;
    j->n++;
    return 0;
}

static int container(struct reader *r, struct rep_json *j, int depth)
{
    int obj = r->s[r->pos] == '{';
    char close = obj ? '}' : ']';
    j->type = obj ? REP_JSON_OBJECT : REP_JSON_ARRAY;
    r->pos++;
    skip_ws(r);
    if (peek(r) == close) {
        r->pos++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(r);
        if (obj) {
            if (peek(r) != '"')
                return fail(r, "expected a key");
            if (string(r, &key) < 0)
                return -1;
            skip_ws(r);
            if (peek(r) != ':') {
                free(key);
                return fail(r, "expected ':'");
            }
            r->pos++;
        }
        if (push(r, j, key) < 0 || value(r, &j->items[j->n - 1], depth + 1) < 0)
            return -1;
        skip_ws(r);
        int c = peek(r);
        r->pos++;
        if (c == close)
            return 0;
        if (c != ',') {
            r->pos--;
            return fail(r, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

static int value(struct reader *r, struct rep_json *j, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(r, "nesting too deep");
    skip_ws(r);
    switch (peek(r)) {
    case '{':
    case '[':
        return container(r, j, depth);
    case '"':
        j->type = REP_JSON_STRING;
        return string(r, &j->str);
    case 't':
        j->type = REP_JSON_BOOL;
        j->boolean = 1;
        return literal(r, "true");
    case 'f':
        j->type = REP_JSON_BOOL;
        return literal(r, "false");
    case 'n':
        return literal(r, "null");
    case -1:
        return fail(r, "unexpected end of input");
    default:
        return number(r, j);
    }
}

static void release(struct rep_json *j)
{
    for (size_t i = 0; i < j->n; i++) {
        release(&j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
}

void rep_json_free(struct rep_json *j)
{
    if (!j)
        return;
    release(j);
    free(j);
}

struct rep_json *rep_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct reader r = {text, len, 0, err, errlen};
    struct rep_json *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (value(&r, j, 0) == 0) {
        skip_ws(&r);
        if (r.pos == len)
            return j;
        fail(&r, "trailing data after the JSON value");
    }
    rep_json_free(j);
    return NULL;
}

const struct rep_json *rep_json_get(const struct rep_json *j, const char *key)
{
    if (!j || j->type != REP_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->keys[i], key))
            return &j->items[i];
    return NULL;
}

int rep_json_get_u64(const struct rep_json *j, const char *key, uint64_t *out)
{
    const struct rep_json *v = rep_json_get(j, key);
    *out = 0;
    if (!v || v->type != REP_JSON_NUMBER || !v->is_uint)
        return -1;
    *out = v->u;
    return 0;
}

const char *rep_json_get_str(const struct rep_json *j, const char *key)
{
    const struct rep_json *v = rep_json_get(j, key);
    return v && v->type == REP_JSON_STRING ? v->str : NULL;
}
