/* SPDX-License-Identifier: MIT
 *
 * rt_hooks.h - the interposed allocation family (hooks.def).
 */
#ifndef HG_RT_HOOKS_H
#define HG_RT_HOOKS_H

/* Finds the next definition of every function in hooks.def. Calls made
 * meanwhile (dlsym allocates) are served from a static bootstrap buffer.
 * Returns -1 if a mandatory function is missing. */
int rt_hooks_resolve(void);

/* 0 when the program's calls to malloc do not reach the runtime: the
 * program defines malloc itself (an allocator linked into it), which the
 * dynamic linker then prefers to any preloaded one. */
int rt_hooks_interposed(void);

#endif
