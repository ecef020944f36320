/* SPDX-License-Identifier: MIT
 *
 * test_live.c - the replay's live-block table (report/model/live.h): every
 * block put is found and taken exactly once, whatever the order of frees,
 * and the slots visited stay in proportion to the operations. The last is
 * what broke: freeing 400,000 blocks in the order they were made (a FIFO
 * queue) walked the whole run of later blocks on every free, 8e10 steps,
 * and `heapgraph info` took two minutes on such a capture.
 */
#include "report/model/live.h"

#include <stdlib.h>

#include "harness.h"

#define N 400000u

static void put_n(struct rep_live_table *t, uint64_t first, uint64_t n)
{
    for (uint64_t i = first; i < first + n; i++) {
        struct rep_live b = {i, 0x1000 + 16 * i, i % 97, (uint32_t)(i % 13)};
        if (rep_live_put(t, &b) < 0)
            CHECK(!"put");
    }
}

/* Takes `number` and checks it is the block put_n made. */
static void take_ok(struct rep_live_table *t, uint64_t number)
{
    struct rep_live b;
    if (rep_live_take(t, number, &b) < 0 || b.number != number ||
        b.addr != 0x1000 + 16 * number || b.size != number % 97 || b.site != number % 13)
        CHECK(!"block taken as it was put");
}

static void test_fifo_is_linear(void)
{
    struct rep_live_table t = {0};
    put_n(&t, 0, N);
    uint64_t after_put = t.steps;
    for (uint64_t i = 0; i < N; i++)
        take_ok(&t, i);
    CHECK_EQ(t.count, 0);
    /* One slot per take: every block is found at its home and the shift
     * stops at once. Puts (with the growths re-placing every block once per
     * doubling) stay a few slots each. */
    CHECK(after_put < 4 * (uint64_t)N);
    CHECK_EQ(t.steps - after_put, N);
    rep_live_release(&t);
}

static void test_lifo_is_linear(void)
{
    struct rep_live_table t = {0};
    put_n(&t, 0, N);
    uint64_t after_put = t.steps;
    for (uint64_t i = N; i-- > 0;)
        take_ok(&t, i);
    CHECK_EQ(t.count, 0);
    CHECK_EQ(t.steps - after_put, N);
    rep_live_release(&t);
}

/* A queue that keeps every 100th block for good while numbers stream
 * through the table many times over, so runs wrap around and the kept
 * blocks displace newer ones from their homes. */
static void test_queue_with_long_lived(void)
{
    struct rep_live_table t = {0};
    uint64_t next = 0, oldest = 0, ops = 0;
    for (int round = 0; round < 200; round++) {
        put_n(&t, next, 5000);
        next += 5000;
        ops += 5000;
        for (; oldest + 2000 < next; oldest++, ops++)
            if (oldest % 100)
                take_ok(&t, oldest);
    }
    CHECK_EQ(t.count, (next - oldest) + oldest / 100 + (oldest % 100 != 0));
    CHECK(t.steps < 5 * ops);
    struct rep_live b;
    CHECK_EQ(rep_live_take(&t, 1, &b), -1);
    CHECK_EQ(rep_live_take(&t, next, &b), -1);
    for (uint64_t i = 0; i < oldest; i += 100)
        take_ok(&t, i);
    for (uint64_t i = oldest; i < next; i++)
        take_ok(&t, i);
    CHECK_EQ(t.count, 0);
    rep_live_release(&t);
}

static void test_random_order(void)
{
    struct rep_live_table t = {0};
    uint64_t n = 100000, *order = malloc(n * sizeof *order);
    put_n(&t, 0, n);
    for (uint64_t i = 0; i < n; i++)
        order[i] = i;
    srand(7);
    for (uint64_t i = n - 1; i > 0; i--) {
        uint64_t j = (uint64_t)rand() % (i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    for (uint64_t i = 0; i < n; i++)
        take_ok(&t, order[i]);
    CHECK_EQ(t.count, 0);
    CHECK(t.steps < 4 * 2 * n);
    free(order);
    rep_live_release(&t);
}

int main(void)
{
    RUN(test_fifo_is_linear);
    RUN(test_lifo_is_linear);
    RUN(test_queue_with_long_lived);
    RUN(test_random_order);
    return DONE();
}
