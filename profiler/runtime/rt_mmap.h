/* SPDX-License-Identifier: MIT
 *
 * rt_mmap.h - which of the program's mappings belong to its allocator. The
 * runtime interposes mmap, mmap64, munmap, mremap and syscall (tcmalloc maps
 * through syscall(SYS_mmap)); a mapping made while the thread is inside the
 * real allocator (a recording hook is under way), inside the runtime, or by
 * code of the allocator's own module (jemalloc, tcmalloc, mimalloc loaded as
 * a library, also from its constructor or its background threads) is entered
 * in the allocator's region list, which the heap scanner leaves out: their
 * free lists and metadata would otherwise hold lost blocks.
 */
#ifndef HG_RT_MMAP_H
#define HG_RT_MMAP_H

/* Called once the real malloc is known: when it lives in a module of its
 * own (neither the C library nor the program), mappings made by code of
 * that module are the allocator's, those made before this call included. */
void rt_mmap_allocator(void *real_malloc);

#endif
