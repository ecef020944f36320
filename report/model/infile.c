/* SPDX-License-Identifier: MIT
 *
 * infile.c - input files of the reporter, checked before they are read
 * (infile.h).
 */
#include "report/model/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An fd open on path for reading, which is a regular file; -1 + err. */
static int open_regular(const char *path, off_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    const char *why = fd < 0 || fstat(fd, &st) < 0 ? strerror(errno)
                    : !S_ISREG(st.st_mode) ? "not a regular file"
                    : fcntl(fd, F_SETFL, 0) < 0 ? strerror(errno) : NULL;
    if (!why) {
        *size = st.st_size;
        return fd;
    }
    snprintf(err, errlen, "%s", why);
    if (fd >= 0)
        close(fd);
    return -1;
}

FILE *rep_open_input(const char *path, char *err, size_t errlen)
{
    off_t size;
    int fd = open_regular(path, &size, err, errlen);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (fd >= 0 && !f) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
    }
    return f;
}

char *rep_read_input(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    off_t size;
    int fd = open_regular(path, &size, err, errlen);
    if (fd < 0)
        return NULL;
    /* a regular file may still grow while it is read (or be a /proc file
     * that says 0): read at most max + 1 bytes and judge by what came */
    size_t cap = (size_t)size < max ? (size_t)size + 1 : max + 1, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r = buf ? 1 : 0;
    int oom = !buf;
    while (r > 0 && n <= max) {
        if (n == cap) {
            size_t more = cap * 2 < max + 1 ? cap * 2 : max + 1;
            char *b = realloc(buf, more + 1);
            if (!b) {
                oom = 1;
                break;
            }
            buf = b;
            cap = more;
        }
        r = read(fd, buf + n, cap - n);
        if (r > 0)
            n += (size_t)r;
    }
    int e = errno;
    close(fd);
    char big[64];
    snprintf(big, sizeof big, "larger than %zu bytes", max);
    const char *why = oom ? "out of memory" : r < 0 ? strerror(e) : n > max ? big : NULL;
    if (why) {
        snprintf(err, errlen, "%s", why);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *rep_read_text(const char *path, size_t max, char *err, size_t errlen)
{
    char why[128];
    size_t len;
    char *text = rep_read_input(path, max, &len, why, sizeof why);
    if (text && memchr(text, 0, len)) {
        snprintf(why, sizeof why, "not a text file");
        free(text);
        text = NULL;
    }
    if (!text)
        snprintf(err, errlen, "%s: %s", path, why);
    return text;
}
