/* SPDX-License-Identifier: MIT
 *
 * jsonread.h - a small JSON reader for heapgraph's own files (baselines).
 * It builds a tree; integers that fit in 64 bits are kept exactly (byte
 * counts must round-trip). Built to take hostile input: nesting is limited,
 * every read is bounds-checked, and any error gives NULL and a message with
 * the byte offset. Why not jansson or json-c: docs/architecture.md,
 * "Libraries and hand-written code".
 */
#ifndef HG_REPORT_JSONREAD_H
#define HG_REPORT_JSONREAD_H

#include <stddef.h>
#include <stdint.h>

enum rep_json_type {
    REP_JSON_NULL = 0, REP_JSON_BOOL, REP_JSON_NUMBER, REP_JSON_STRING,
    REP_JSON_ARRAY, REP_JSON_OBJECT,
};

struct rep_json {
    int type;
    int boolean;
    int is_uint;             /* number is a non-negative integer that fits uint64 */
    uint64_t u;              /* its value when is_uint */
    double num;
    char *str;               /* NUL-terminated, may contain NULs (\u0000) */
    size_t n;                /* items of an array or object */
    struct rep_json *items;
    char **keys;             /* object keys, parallel to items */
    size_t items_cap, keys_cap;   /* private */
};

/* Parses text[0..len). Returns the tree (free with rep_json_free) or NULL +
 * err ("offset N: ..."). */
struct rep_json *rep_json_parse(const char *text, size_t len, char *err, size_t errlen);
void rep_json_free(struct rep_json *j);

/* The member `key` of an object, or NULL (also when j is not an object). */
const struct rep_json *rep_json_get(const struct rep_json *j, const char *key);
/* Convenience: member as uint64 (0 + returns -1 if missing or not one). */
int rep_json_get_u64(const struct rep_json *j, const char *key, uint64_t *out);
/* Member as a string, or NULL. */
const char *rep_json_get_str(const struct rep_json *j, const char *key);

#endif
