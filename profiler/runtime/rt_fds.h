/* SPDX-License-Identifier: MIT
 *
 * rt_fds.h - file descriptors that are the runtime's and that the program's
 * close, close_range and closefrom leave open (rt_fds.c).
 */
#ifndef HG_RT_FDS_H
#define HG_RT_FDS_H

/* Marks fd as the runtime's (at most a few at a time). */
void rt_fds_own(int fd);

/* Closes a descriptor of the runtime's for good; returns close's result. */
int rt_fds_close(int fd);

#endif
