/* SPDX-License-Identifier: MIT
 *
 * fuzz_capture.c - libFuzzer target for the capture reader: the input is a
 * capture file. It is read, replayed and classified (rep_capture_open),
 * then rendered as the JSON and text reports to /dev/null, as `report`
 * does without symbolizing (which would open whatever module paths the
 * input names). A damaged input must give an error or a damaged capture,
 * never a crash, a hang or a leak (ASan and UBSan are on).
 */
#include "report/model/model.h"
#include "report/render/render.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *null_out;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-capture", MFD_CLOEXEC);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char path[64], err[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct rep_capture *cap = rep_capture_open(path, NULL, err, sizeof err);
    close(fd);
    if (!cap)
        return 0;
    if (!null_out)
        null_out = fopen("/dev/null", "w");
    struct rep_render_opts o = {.show_reachable = 1};
    if (null_out) {
        rep_render_text(null_out, cap, &o, err, sizeof err);
        rep_render_json(null_out, cap, &o, err, sizeof err);
    }
    rep_capture_close(cap);
    return 0;
}
