/* SPDX-License-Identifier: MIT
 *
 * col_writer.c - writes a capture file: the header, then chunks of whole
 * records, each chunk one independent zstd frame behind a chunk header
 * (profiler/capture.h, docs/capture-format.md). Because a frame never spans
 * chunks and a chunk never splits a record, a reader can stop at any damaged
 * or missing chunk and still use everything before it. On a write error the
 * file is cut back to its last whole chunk and the writer goes quiet.
 */
#include "profiler/collector/col_writer.h"

#include "profiler/capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct col_writer *w, int err)
{
    if (!w->err)
        w->err = err ? err : EIO;
}

/* Grows *buf to hold `need` bytes; 0 or -1 (and the writer fails with ENOMEM). */
static int grow(struct col_writer *w, uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p) {
        fail(w, ENOMEM);
        return -1;
    }
    *buf = p;
    *cap = n;
    return 0;
}

/* Writes all of buf at the current end of the file. The test switch fail_at
 * makes a write that would reach past it stop there with ENOSPC, as a full
 * disk does. On failure the file is cut back to w->offset. */
static int write_all(struct col_writer *w, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n = len - done;
        if (w->fail_at) {
            uint64_t pos = w->offset + done;
            if (pos >= w->fail_at) {
                errno = ENOSPC;
                goto failed;
            }
            if (pos + n > w->fail_at)
                n = (size_t)(w->fail_at - pos);
        }
        ssize_t k = write(w->fd, buf + done, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = ENOSPC;
            goto failed;
        }
        done += (size_t)k;
    }
    w->offset += len;
    return 0;
failed:
    fail(w, errno);
    if (done && ftruncate(w->fd, (off_t)w->offset) == 0)
        lseek(w->fd, (off_t)w->offset, SEEK_SET);
    return -1;
}

int col_writer_open(struct col_writer *w, int fd, uint64_t start_realtime_ns,
                    uint64_t start_monotonic_ns)
{
    uint64_t fail_at = w->fail_at;
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->fail_at = fail_at;
    w->level = COL_ZSTD_LEVEL;
    w->last_flush_ns = start_monotonic_ns;
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) {
        fail(w, ENOMEM);
        return -1;
    }
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    struct hg_cap_header h = {
        .version = HG_CAP_VERSION,
        .header_size = sizeof h,
        .start_realtime_ns = start_realtime_ns,
        .start_monotonic_ns = start_monotonic_ns,
    };
    memcpy(h.magic, HG_CAP_MAGIC, sizeof h.magic);
    return write_all(w, (const uint8_t *)&h, sizeof h);
}

void col_rec_begin(struct col_writer *w, unsigned type)
{
    w->rec_type = type;
    w->rec_len = 0;
}

uint8_t *col_rec_reserve(struct col_writer *w, size_t n)
{
    /* Once failed, writes land in a scratch area and the record is dropped. */
    static uint8_t scratch[COL_RESERVE_MAX];
    if (w->err || n > COL_RESERVE_MAX || grow(w, &w->rec, &w->rec_cap, w->rec_len + n) < 0) {
        fail(w, ENOMEM);
        w->rec_len = 0;
        return scratch;
    }
    return w->rec + w->rec_len;
}

void col_put_bytes(struct col_writer *w, const void *p, size_t n)
{
    if (!n)
        return;
    if (w->err || grow(w, &w->rec, &w->rec_cap, w->rec_len + n) < 0)
        return;
    memcpy(w->rec + w->rec_len, p, n);
    w->rec_len += n;
}

void col_put_str(struct col_writer *w, const void *s, size_t n)
{
    col_put_u(w, n);
    col_put_bytes(w, s, n);
}

void col_rec_end_parts(struct col_writer *w, const uint8_t *const *part, const size_t *len, int n)
{
    if (w->err)
        return;
    size_t payload = w->rec_len;
    for (int i = 0; i < n; i++)
        payload += len[i];
    size_t whole = 1 + 10 + payload;
    if (whole > HG_CHUNK_MAX_RAW) {
        fail(w, EMSGSIZE); /* every producer batches far below this */
        return;
    }
    if (w->raw_len + whole > COL_CHUNK_TARGET && w->raw_len && col_writer_flush(w) < 0)
        return;
    if (grow(w, &w->raw, &w->raw_cap, w->raw_len + whole) < 0)
        return;
    uint8_t *p = w->raw + w->raw_len;
    p[0] = (uint8_t)w->rec_type;
    size_t k = 1 + col_varint(p + 1, payload);
    memcpy(p + k, w->rec, w->rec_len);
    k += w->rec_len;
    for (int i = 0; i < n; i++) {
        memcpy(p + k, part[i], len[i]);
        k += len[i];
    }
    w->raw_len += k;
    w->rec_len = 0;
    if (w->raw_len >= COL_CHUNK_TARGET)
        col_writer_flush(w);
}

void col_rec_end(struct col_writer *w)
{
    col_rec_end_parts(w, NULL, NULL, 0);
}

int col_writer_flush(struct col_writer *w)
{
    if (w->err)
        return -1;
    if (!w->raw_len)
        return 0;
    size_t bound = ZSTD_compressBound(w->raw_len);
    if (grow(w, &w->out, &w->out_cap, sizeof(struct hg_chunk_header) + bound) < 0)
        return -1;
    size_t c = ZSTD_compress2(w->cctx, w->out + sizeof(struct hg_chunk_header), bound,
                              w->raw, w->raw_len);
    if (ZSTD_isError(c)) {
        fail(w, EIO);
        return -1;
    }
    struct hg_chunk_header h = {
        .magic = HG_CHUNK_MAGIC,
        .comp_size = (uint32_t)c,
        .raw_size = (uint32_t)w->raw_len,
    };
    memcpy(w->out, &h, sizeof h);
    if (write_all(w, w->out, sizeof h + c) < 0)
        return -1;
    w->chunks++;
    w->raw_total += w->raw_len;
    w->raw_len = 0;
    w->last_flush_ns = mono_ns();
    return 0;
}

void col_writer_tick(struct col_writer *w, uint64_t now_ns)
{
    if (w->raw_len && now_ns - w->last_flush_ns >= COL_FLUSH_NS)
        col_writer_flush(w);
}

int col_writer_finish(struct col_writer *w, uint64_t nstreams, uint64_t nevents)
{
    col_rec_begin(w, HG_REC_END);
    col_put_u(w, nstreams);
    col_put_u(w, nevents);
    col_rec_end(w);
    return col_writer_flush(w);
}

void col_writer_release(struct col_writer *w)
{
    ZSTD_freeCCtx(w->cctx);
    free(w->raw);
    free(w->rec);
    free(w->out);
    if (w->fd >= 0)
        close(w->fd);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}
