/* SPDX-License-Identifier: MIT
 *
 * rt_thread.h - threads: registration (RT_BLOB_THREAD with stack bounds and
 * name), names, ends, the registry behind rt_threads_list, and the
 * pthread_create/pthread_setname_np hooks.
 */
#ifndef HG_RT_THREAD_H
#define HG_RT_THREAD_H

/* Gives the calling thread a ring; the first time also registers it (a
 * thread index, RT_BLOB_THREAD). Called by rt_pub_begin on a thread's first
 * record. Returns -1 when not recording. */
int rt_thread_attach(void);

/* At init and in a forked child: empties the registry and registers the
 * calling thread (the only one) as the first thread. */
void rt_thread_reset(void);

#endif
