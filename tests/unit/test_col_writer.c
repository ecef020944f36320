/* SPDX-License-Identifier: MIT
 *
 * test_col_writer.c - the capture writer and the collector's live map:
 * records read back with exact values, chunks that end on record boundaries
 * at the size the writer promises, a disk that fills up mid-chunk (the file
 * keeps its whole chunks and stays readable), and the live map's add/remove
 * under heavy collisions, clone and sorted listing (qsort below 4,096
 * blocks, a radix sort above).
 */
#include "profiler/collector/col_live.h"
#include "profiler/collector/col_writer.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_col_decode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[256];

static int temp_capture(void)
{
    snprintf(path, sizeof path, "/tmp/test_col_writer.XXXXXX");
    return mkstemp(path);
}

/* Reads the capture at path back into c and removes the file. */
static void read_back(struct capture *c)
{
    CHECK_EQ(read_capture(path, c), 0);
    unlink(path);
}

/* Finishes w (its END record's totals), releases it and reads it back. */
static void finish_and_read(struct col_writer *w, uint64_t streams, uint64_t events,
                            struct capture *c)
{
    CHECK_EQ(col_writer_finish(w, streams, events), 0);
    col_writer_release(w);
    read_back(c);
}

static void test_records_read_back_exactly(void)
{
    struct col_writer w = {0};
    CHECK_EQ(col_writer_open(&w, temp_capture(), 1234567890123ull, 987654321ull), 0);
    col_rec_begin(&w, HG_REC_NOTE);
    col_put_u(&w, 0);
    col_put_u(&w, 127);
    col_put_u(&w, 128);
    col_put_u(&w, 300);
    col_put_u(&w, UINT64_MAX);
    col_put_zz(&w, -1);
    col_put_zz(&w, INT64_MIN);
    col_put_str(&w, "hello", 5);
    col_rec_end(&w);
    struct capture c;
    finish_and_read(&w, 2, 5, &c);
    CHECK(!memcmp(c.h.magic, HG_CAP_MAGIC, 8));
    CHECK_EQ(c.h.version, HG_CAP_VERSION);
    CHECK_EQ(c.h.header_size, 32);
    CHECK_EQ(c.h.start_realtime_ns, 1234567890123ull);
    CHECK_EQ(c.h.start_monotonic_ns, 987654321ull);
    CHECK_EQ(c.bad_chunk, 0);
    CHECK_EQ(c.nchunks, 1);
    struct dec all = {c.raw, c.raw + c.raw_len, 0}, r;
    unsigned type;
    char s[16];
    CHECK(next_rec(&all, &type, &r));
    CHECK_EQ(type, HG_REC_NOTE);
    CHECK_EQ(d_u(&r), 0);
    CHECK_EQ(d_u(&r), 127);
    CHECK_EQ(d_u(&r), 128);
    CHECK_EQ(d_u(&r), 300);
    CHECK(d_u(&r) == UINT64_MAX);
    CHECK_EQ(d_zz(&r), -1);
    CHECK(d_zz(&r) == INT64_MIN);
    CHECK_STR(d_str(&r, s, sizeof s), "hello");
    CHECK(r.p == r.end && !r.bad);
    CHECK(next_rec(&all, &type, &r));
    CHECK_EQ(type, HG_REC_END);
    CHECK_EQ(d_u(&r), 2);
    CHECK_EQ(d_u(&r), 5);
    CHECK(!next_rec(&all, &type, &r));
    free(c.raw);
}

/* 3000 records of 1003 bytes (type, 2-byte length, 1000 bytes of payload). */
static void write_kilo_records(struct col_writer *w)
{
    uint8_t payload[1000];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 3000; i++) {
        for (size_t k = 0; k < sizeof payload; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            payload[k] = (uint8_t)x; /* incompressible: chunks keep their size on disk */
        }
        col_rec_begin(w, HG_REC_NOTE);
        col_put_bytes(w, payload, sizeof payload);
        col_rec_end(w);
    }
}

/* Counts the records of one chunk's raw bytes; -1 if one crosses its end. */
static long chunk_records(const uint8_t *p, size_t len)
{
    struct dec all = {p, p + len, 0}, r;
    unsigned type;
    long n = 0;
    while (next_rec(&all, &type, &r))
        n++;
    return all.bad || all.p != all.end ? -1 : n;
}

static void test_chunks_end_on_record_boundaries(void)
{
    struct col_writer w = {0};
    CHECK_EQ(col_writer_open(&w, temp_capture(), 1, 2), 0);
    write_kilo_records(&w);
    struct capture c;
    finish_and_read(&w, 0, 0, &c);
    CHECK_EQ(c.bad_chunk, 0);
    CHECK_EQ(c.nchunks, 3);
    /* a chunk is written once the next record would pass 1 MiB: 1045 records */
    CHECK_EQ(c.chunk_raw[0], 1045 * 1003);
    CHECK_EQ(c.chunk_raw[1], 1045 * 1003);
    CHECK_EQ(c.chunk_raw[2], 910 * 1003 + 4); /* + HG_REC_END: type, length, 0, 0 */
    CHECK_EQ(chunk_records(c.raw, c.chunk_raw[0]), 1045);
    CHECK_EQ(chunk_records(c.raw + c.chunk_raw[0], c.chunk_raw[1]), 1045);
    CHECK_EQ(chunk_records(c.raw + c.chunk_raw[0] + c.chunk_raw[1], c.chunk_raw[2]), 911);
    free(c.raw);
}

static void test_disk_full_keeps_whole_chunks(void)
{
    struct col_writer w = {.fail_at = 1536 * 1024}; /* the disk fills up inside the second chunk */
    CHECK_EQ(col_writer_open(&w, temp_capture(), 1, 2), 0);
    write_kilo_records(&w);
    CHECK_EQ(w.err, ENOSPC);
    CHECK_EQ(col_writer_finish(&w, 0, 0), -1);
    CHECK_EQ(w.chunks, 1);
    uint64_t whole = w.offset;
    col_writer_release(&w);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, (long long)whole);
    struct capture c;
    read_back(&c);
    CHECK_EQ(c.bad_chunk, 0);
    CHECK_EQ(c.nchunks, 1);
    CHECK_EQ(chunk_records(c.raw, c.raw_len), 1045);
    free(c.raw);
}

static void test_header_write_failure(void)
{
    struct col_writer w = {.fail_at = 10};
    CHECK_EQ(col_writer_open(&w, temp_capture(), 1, 2), -1);
    CHECK_EQ(w.err, ENOSPC);
    col_writer_release(&w);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, 0);
    unlink(path);
}

static void test_live_map(void)
{
    struct col_live m = {0};
    /* addresses 16 MiB apart all hash close together: long probe runs */
    struct col_block b;
    int added = 0;
    for (uint64_t i = 1; i <= 5000; i++)
        added += col_live_add(&m, i << 24, i, i - 1, (uint32_t)(i % 7), &b) == 0;
    CHECK_EQ(added, 5000);
    CHECK_EQ(m.count, 5000);
    CHECK_EQ(m.bytes, 5000ull * 5001 / 2);
    /* an address that is still live: the old block comes back, the new one replaces it */
    CHECK_EQ(col_live_add(&m, 7ull << 24, 1000, 9999, 3, &b), 1);
    CHECK_EQ(b.size, 7);
    CHECK_EQ(b.number, 6);
    CHECK_EQ(m.count, 5000);
    CHECK_EQ(m.bytes, 5000ull * 5001 / 2 - 7 + 1000);
    CHECK_EQ(col_live_add(&m, 7ull << 24, 7, 6, 0, &b), 1);
    CHECK_EQ(b.number, 9999);
    uint64_t removed = 0;
    for (uint64_t i = 1; i <= 5000; i += 3) {
        CHECK_EQ(col_live_remove(&m, i << 24, &b), 1);
        CHECK_EQ(b.size, i);
        CHECK_EQ(b.number, i - 1);
        removed += i;
    }
    CHECK_EQ(col_live_remove(&m, 1ull << 24, &b), 0);
    CHECK_EQ(col_live_remove(&m, 12345, &b), 0);
    CHECK_EQ(m.count, 5000 - 1667);
    CHECK_EQ(m.bytes, 5000ull * 5001 / 2 - removed);
    struct col_live copy;
    CHECK_EQ(col_live_clone(&copy, &m), 0);
    for (uint64_t i = 2; i <= 5000; i += 3)
        CHECK_EQ(col_live_remove(&m, i << 24, &b), 1);
    CHECK_EQ(copy.count, 5000 - 1667);
    struct col_block *v = col_live_sorted(&copy);
    int sorted = v != NULL, all_there = 1;
    for (size_t i = 0; v && i < copy.count; i++) {
        if (i && v[i].addr <= v[i - 1].addr)
            sorted = 0;
        if (v[i].size != v[i].addr >> 24 || (v[i].size - 1) % 3 == 0)
            all_there = 0;
    }
    CHECK(sorted);
    CHECK(all_there);
    CHECK_EQ(v ? v[0].addr : 0, 2ull << 24);
    free(v);
    for (uint64_t i = 3; i <= 5000; i += 3)
        CHECK_EQ(col_live_remove(&m, i << 24, &b), 1);
    CHECK_EQ(m.count, 0);
    CHECK_EQ(m.bytes, 0);
    CHECK(col_live_sorted(&m) == NULL);
    col_live_release(&m);
    col_live_release(&copy);
}

/* Enough blocks for the radix sort, at addresses spread over 47 bits
 * (every 16-bit digit varies) and in runs that share their low digits. */
static void test_live_sorted_large(void)
{
    struct col_live m = {0};
    struct col_block b;
    uint64_t x = 0x9e3779b97f4a7c15ull, sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t addr = (i % 5 ? x & 0x7fffffffff0ull : (x & 0x7fff00000000ull) | 0x1230) + 16;
        if (col_live_add(&m, addr, addr % 1000 + 1, i, 0, &b) == 0) {
            n++;
            sum += addr % 1000 + 1;
        }
    }
    CHECK_EQ(m.count, n);
    struct col_block *v = col_live_sorted(&m);
    int sorted = v != NULL, sizes = 1;
    uint64_t seen = 0;
    for (size_t i = 0; v && i < n; i++) {
        if (i && v[i].addr <= v[i - 1].addr)
            sorted = 0;
        if (v[i].size != v[i].addr % 1000 + 1)
            sizes = 0;
        seen += v[i].size;
    }
    CHECK(sorted);
    CHECK(sizes);
    CHECK_EQ(seen, sum);
    free(v);
    col_live_release(&m);
}

int main(void)
{
    RUN(test_records_read_back_exactly);
    RUN(test_chunks_end_on_record_boundaries);
    RUN(test_disk_full_keeps_whole_chunks);
    RUN(test_header_write_failure);
    RUN(test_live_map);
    RUN(test_live_sorted_large);
    return DONE();
}
