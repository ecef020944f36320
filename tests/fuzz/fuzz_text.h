/* SPDX-License-Identifier: MIT
 *
 * fuzz_text.h - for the fuzz targets of text formats: the input as a
 * NUL-terminated string (caller frees; NULL when out of memory).
 */
#ifndef HG_FUZZ_TEXT_H
#define HG_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
    }
    return text;
}

#endif
