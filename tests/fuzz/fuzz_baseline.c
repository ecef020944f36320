/* SPDX-License-Identifier: MIT
 *
 * fuzz_baseline.c - libFuzzer target for baselines (report/gate/baseline.c,
 * the JSON reader under it): parses the input as `check --baseline` does
 * and writes the run back as a baseline, to /dev/null.
 */
#include "report/gate/baseline.h"

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *null_out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rep_run run = REP_RUN_INIT;
    char err[256];
    if (rep_baseline_parse((const char *)data, size, &run, err, sizeof err) == 0) {
        if (!null_out)
            null_out = fopen("/dev/null", "w");
        if (null_out)
            rep_baseline_write(null_out, &run);
    }
    rep_run_release(&run);
    return 0;
}
