/* SPDX-License-Identifier: MIT
 *
 * col_writer.h - the capture file writer used by the collector. It builds one
 * record at a time (col_rec_begin, col_put_*, col_rec_end), gathers whole
 * records into a chunk and writes each chunk as one independent zstd frame
 * (profiler/capture.h), so that the file is readable up to its last whole
 * chunk whatever happens later.
 *
 * A write error (ENOSPC, EFBIG under `ulimit -f`, EIO) is sticky: the writer
 * cuts the file back to its last whole chunk, keeps `err`, and every later
 * call does nothing. The caller checks `err` once the recording has ended;
 * it never has to stop feeding records.
 */
#ifndef HG_COL_WRITER_H
#define HG_COL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define COL_CHUNK_TARGET (1u << 20)     /* raw bytes that trigger a chunk */
#define COL_FLUSH_NS (200ull * 1000000) /* a partial chunk waits at most this long */
#define COL_ZSTD_LEVEL 1       /* churn: levels 1-5 within 1% in size; 1 is the cheapest */

struct col_writer {
    int fd;
    int level;            /* zstd level */
    uint8_t *raw;         /* whole records waiting for the next chunk */
    size_t raw_len, raw_cap;
    uint8_t *rec;         /* the record being built (payload only) */
    size_t rec_len, rec_cap;
    unsigned rec_type;
    void *cctx;           /* ZSTD_CCtx */
    uint8_t *out;         /* chunk header + compressed frame */
    size_t out_cap;
    uint64_t offset;      /* bytes of the file that are whole (header + chunks) */
    uint64_t last_flush_ns;
    uint64_t chunks, raw_total;
    uint64_t fail_at;     /* test switch: a write reaching past this offset fails with ENOSPC (0: off) */
    int err;              /* errno of the first failure, 0 while all is well */
};

/* Takes over `fd` (closed by col_writer_release) and writes the file header.
 * Returns 0, or -1 with w->err set; w is then still safe to use and release. */
int col_writer_open(struct col_writer *w, int fd, uint64_t start_realtime_ns,
                    uint64_t start_monotonic_ns);

/* Starts a record of `type` (enum hg_rec_type); the payload follows through
 * col_put_* and ends with col_rec_end, which appends it to the chunk and
 * writes the chunk once it holds COL_CHUNK_TARGET bytes. */
void col_rec_begin(struct col_writer *w, unsigned type);
void col_rec_end(struct col_writer *w);

/* col_rec_end for a record whose payload goes on with n byte ranges: they
 * are copied once, straight into the chunk (HG_REC_EVENTS: its columns). */
void col_rec_end_parts(struct col_writer *w, const uint8_t *const *part, const size_t *len, int n);

/* Makes room for `n` (<= COL_RESERVE_MAX) more payload bytes; returns where
 * they go (a scratch area once the writer failed). The caller advances
 * rec_len itself. */
#define COL_RESERVE_MAX 64
uint8_t *col_rec_reserve(struct col_writer *w, size_t n);

static inline size_t col_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline uint64_t col_zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline void col_put_u(struct col_writer *w, uint64_t v)
{
    /* Inline while the record has room: stack records put a varint per frame. */
    uint8_t *p;
    if (w->rec_len + 10 <= w->rec_cap && !w->err)
        p = w->rec + w->rec_len;
    else
        p = col_rec_reserve(w, 10);
    w->rec_len += col_varint(p, v);
}

static inline void col_put_zz(struct col_writer *w, int64_t v)
{
    col_put_u(w, col_zz(v));
}

/* Appends raw bytes; col_put_str puts a varint length first. */
void col_put_bytes(struct col_writer *w, const void *p, size_t n);
void col_put_str(struct col_writer *w, const void *s, size_t n);

/* Writes the pending records as a chunk if there are any. Returns 0 or -1. */
int col_writer_flush(struct col_writer *w);

/* Flushes when the pending records are older than COL_FLUSH_NS at `now_ns`. */
void col_writer_tick(struct col_writer *w, uint64_t now_ns);

/* Writes HG_REC_END and the last chunk. Returns 0 or -1 (w->err). */
int col_writer_finish(struct col_writer *w, uint64_t nstreams, uint64_t nevents);

/* Frees the buffers and closes the file. A zeroed struct is safe to release. */
void col_writer_release(struct col_writer *w);

#endif
