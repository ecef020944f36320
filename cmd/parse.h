/* SPDX-License-Identifier: MIT
 *
 * parse.h - the values of heapgraph's options: counts, sizes and the
 * --max-growth list, read the same way from the command line and from
 * .heapgraph.conf by check and diff.
 */
#ifndef HG_CMD_PARSE_H
#define HG_CMD_PARSE_H

#include <stddef.h>
#include <stdint.h>

struct rep_gates;

/* Plain non-negative decimal count; 0 or -1. */
int cmd_parse_count(const char *s, uint64_t *out);

/* Sizes: a decimal number with an optional unit B, KiB, MiB, GiB (1024^n),
 * KB, MB, GB (1000^n), or K/M/G (binary). Returns 0, or -1 for anything
 * else, including overflow of 64 bits. */
int cmd_parse_size(const char *s, uint64_t *out);

/* Parses "peak=10%,allocations=5%" into g->growth_*. 0, or -1 + err. */
int cmd_parse_growth(const char *s, struct rep_gates *g, char *err, size_t errlen);

#endif
