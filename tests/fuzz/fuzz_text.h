/* SPDX-License-Identifier: MIT
 *
 * fuzz_text.h - the libFuzzer entry point of the fuzz targets of text
 * formats: a target that includes it defines fuzz_one_text(), which gets
 * each input as a NUL-terminated string (inputs are bytes; the parsers take
 * a C string, as they do when they read a file).
 */
#ifndef HG_FUZZ_TEXT_H
#define HG_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_one_text(const char *text);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    fuzz_one_text(text);
    free(text);
    return 0;
}

#endif
