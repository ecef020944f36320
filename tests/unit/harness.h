/* SPDX-License-Identifier: MIT
 *
 * harness.h - the unit tests' assert-and-count harness. A test file defines
 * functions `static void test_<what>(void)` and lists them in main() with
 * RUN(test_<what>); CHECK and CHECK_EQ count failures without stopping, and
 * DONE() prints "N passed, N failed" and returns the exit status.
 */
#ifndef HG_TEST_HARNESS_H
#define HG_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int hg_t_pass, hg_t_fail;

#define CHECK(cond) do { \
        if (cond) hg_t_pass++; \
        else { hg_t_fail++; fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define CHECK_EQ(got, want) do { \
        long long hg_g_ = (long long)(got), hg_w_ = (long long)(want); \
        if (hg_g_ == hg_w_) hg_t_pass++; \
        else { hg_t_fail++; fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
                                    __FILE__, __LINE__, #got, hg_g_, hg_w_); } \
    } while (0)

#define CHECK_STR(got, want) do { \
        const char *hg_g_ = (got), *hg_w_ = (want); \
        if (hg_g_ && strcmp(hg_g_, hg_w_) == 0) hg_t_pass++; \
        else { hg_t_fail++; fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
                                    __FILE__, __LINE__, #got, hg_g_ ? hg_g_ : "(null)", hg_w_); } \
    } while (0)

#define RUN(fn) do { fprintf(stderr, "-- %s\n", #fn); fn(); } while (0)

#define DONE() (printf("%d passed, %d failed\n", hg_t_pass, hg_t_fail), hg_t_fail ? 1 : 0)

#endif
