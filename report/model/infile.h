/* SPDX-License-Identifier: MIT
 *
 * infile.h - opening the files `report`, `check` and `diff` read (captures,
 * baselines, suppression lists, the configuration): regular files only, so
 * that no input can block the command (a FIFO with no writer) or feed it
 * forever (/dev/zero), and whole-file reads capped in size. Each is
 * opened without blocking, checked, then read normally.
 */
#ifndef HG_REP_INFILE_H
#define HG_REP_INFILE_H

#include <stddef.h>
#include <stdio.h>

/* Opens path for reading: a FILE (caller closes), or NULL with the reason
 * in err ("not a regular file", or the system's). */
FILE *rep_open_input(const char *path, char *err, size_t errlen);

/* Reads the whole file at path, at most max bytes, into a malloc'd buffer
 * with a NUL after it (caller frees); *len receives its length. NULL with
 * the reason in err (not a regular file, larger than max, unreadable, out
 * of memory). */
char *rep_read_input(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* rep_read_input for a text file (no NUL byte in it); the message in err
 * starts with the path. */
char *rep_read_text(const char *path, size_t max, char *err, size_t errlen);

#endif
