/* SPDX-License-Identifier: MIT
 *
 * rt_peek.h - reads of the process's own memory that fail instead of
 * faulting. The heap scanner reads memory that can go away or be cut short
 * under it: a region unmapped after /proc/self/maps was read (by the
 * runtime itself, or by a thread that did not stop), a module unloaded
 * after it was listed, a file mapping past the file's end (SIGBUS), the
 * interpreter's structures followed from a stale pointer. A plain load
 * there would end the program; these copies come back short instead.
 */
#ifndef HG_RT_PEEK_H
#define HG_RT_PEEK_H

#include <stddef.h>
#include <stdint.h>

/* Brackets one snapshot's reads: opens the pipe the copies go through (and
 * owns its descriptors against a program that closes what it did not
 * open), and closes it. Without a pipe (no descriptor left) the copies go
 * through process_vm_readv. */
void rt_peek_begin(void);
void rt_peek_end(void);

/* Copies [src, src + len) to dst up to the first byte that cannot be read;
 * returns how many bytes it copied. */
size_t rt_peek(void *dst, uintptr_t src, size_t len);

/* 1 when all of [src, src + len) was copied to dst (never from address 0). */
int rt_peek_all(void *dst, uintptr_t src, size_t len);

/* The word at addr, or 0 when it cannot be read. */
uintptr_t rt_peek_word(uintptr_t addr);

#endif
