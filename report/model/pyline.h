/* SPDX-License-Identifier: MIT
 *
 * pyline.h - the line of a Python instruction, from the line table the
 * runtime copied out of its code object (HG_REC_PYCODE). Three formats, by
 * interpreter version:
 *
 *   3.8-3.9  co_lnotab: (byte delta, signed line delta) pairs; a line
 *            starts where its bytes do.
 *   3.10     co_linetable: (byte length, signed line delta) pairs, each a
 *            range of bytes; a delta of -128 means the range has no line.
 *   3.11+    the location table: entries of 1-8 code units, each with a
 *            kind (no location, a line delta as varint or implied, columns).
 */
#ifndef HG_REP_PYLINE_H
#define HG_REP_PYLINE_H

#include <stddef.h>
#include <stdint.h>

enum rep_pyline_format {
    REP_PYLINE_LNOTAB = 1,   /* 3.8-3.9 */
    REP_PYLINE_310,          /* 3.10 */
    REP_PYLINE_311,          /* 3.11-3.13 */
};

/* The table format of the interpreter PY_VERSION_HEX `version`; 0 if none. */
int rep_pyline_format_of(uint32_t version);

/* The line of the instruction at byte offset `offset` of a code object whose
 * first line is first_line; 0 when the table gives it none or is cut short.
 * Reads only within table[0..len). */
unsigned rep_pyline(const uint8_t *table, size_t len, int format, unsigned first_line,
                    uint32_t offset);

#endif
