/* SPDX-License-Identifier: MIT
 *
 * test_col_collect.c - the collector against a fake runtime. A forked child
 * plays the injected runtime by the book (profiler/ring.h): it maps a memfd
 * of rings, says HELLO, publishes events on two threads' rings out of time
 * order (a cross-thread free, an unknown free, a realloc, an aligned
 * allocation), asks for a snapshot, checks the live blocks it is sent, sends
 * roots and edges, and exits 7. The test decodes the capture with its own
 * tiny decoder and compares every field with what the child did.
 */
#include "profiler/collector/col_collect.h"
#include "profiler/collector/col_writer.h"
#include "profiler/ring.h"
#include "tests/unit/harness.h"
#include "tests/unit/test_col_decode.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t start_ns;
static char sock_name[64];

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ fake runtime */

static uint64_t at(uint64_t us)
{
    return start_ns + us * 1000;
}

static void push(struct rt_ring *r, const struct rt_rec *recs, unsigned n)
{
    uint64_t h = atomic_load(&r->head);
    for (unsigned i = 0; i < n; i++)
        r->slots[(h + i) & (RT_RING_SLOTS - 1)] = recs[i];
    atomic_store_explicit(&r->head, h + n, memory_order_release);
}

static void push_blob(struct rt_ring *r, uint32_t kind, const void *p, uint32_t len, uint64_t t)
{
    struct rt_rec v[8] = {{.type = RT_REC_BLOB, .u32 = len, .a = kind, .time_ns = t}};
    memcpy(&v[1], p, len);
    push(r, v, RT_BLOB_SLOTS(len));
}

static int send_fd_msg(int s, const void *msg, size_t len, int fd)
{
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        mh.msg_control = ctl.b;
        mh.msg_controllen = sizeof ctl.b;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    return sendmsg(s, &mh, 0) == (ssize_t)len ? 0 : -1;
}

/* Returns the exit status the test expects (7), or 20+ when the collector's
 * answer to the snapshot request was wrong. */
static int fake_runtime(void)
{
    int mfd = memfd_create("fake-rings", MFD_ALLOW_SEALING);
    if (mfd < 0 || ftruncate(mfd, (off_t)RT_SHM_SIZE) < 0 ||
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
        return 20;
    struct rt_shm *shm = mmap(NULL, RT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (shm == MAP_FAILED)
        return 21;
    shm->magic = RT_SHM_MAGIC;
    shm->version = RT_PROTO_VERSION;
    shm->nrings = RT_SHM_RINGS;
    shm->ring_slots = RT_RING_SLOTS;
    struct rt_ring *r0 = &shm->rings[0], *r1 = &shm->rings[1];
    r0->thread_index = 0;
    r1->thread_index = 9; /* a thread index past the tag's codes: tag byte >= 0x80 and a varint */
    r0->state = RT_RING_ACTIVE;
    r1->state = RT_RING_ACTIVE;
    shm->rings_used = 2;

    struct {
        struct rt_blob_thread t;
        char name[4];
    } th = {{.thread_index = 0, .tid = getpid(), .stack_lo = 0x7000, .stack_hi = 0x9000, .name_len = 4}, "main"};
    push_blob(r0, RT_BLOB_THREAD, &th, sizeof th, at(50));
    struct rt_rec stack[2] = {{.type = RT_REC_STACK, .u32 = 1, .a = 3, .b = 2}};
    uint64_t frames[4] = {0x401000, 0x402000, 0x7f0000001234ull, 0};
    memcpy(&stack[1], frames, sizeof frames);
    push(r0, stack, 2);
    struct rt_rec e0[] = {
        {.type = RT_REC_ALLOC, .u32 = 1, .time_ns = at(100), .a = 0x1000, .b = 24},
        {.type = RT_REC_FREE, .time_ns = at(200), .a = 0x2000},
        {.type = RT_REC_FREE | RT_F_REALLOC, .time_ns = at(300), .a = 0x1000},
        {.type = RT_REC_ALLOC | RT_F_REALLOC, .u32 = 1, .time_ns = at(301), .a = 0x1010, .b = 48},
        {.type = RT_REC_ALLOC, .u32 = 1, .time_ns = at(350), .a = 0x2000, .b = 30}, /* reuses a free */
    };
    struct rt_rec e1[] = {
        {.type = RT_REC_FREE, .time_ns = at(120), .a = 0x9990},
        {.type = RT_REC_ALLOC, .u32 = 1, .time_ns = at(150), .a = 0x2000, .b = 32},
        {.type = RT_REC_ALLOC | 6u << RT_F_ALIGN_SHIFT, .u32 = 1, .time_ns = at(400), .a = 0x4000, .b = 100},
        {.type = RT_REC_ALLOC, .u32 = 1, .time_ns = at(450), .a = 0x4000, .b = 8}, /* its free was missed */
    };
    push(r0, e0, 5);
    push(r1, e1, 4);

    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path + 1, sock_name, strlen(sock_name));
    if (connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sock_name))) < 0)
        return 22;
    struct {
        struct rt_msg m;
        char data[18];
    } hello = {{.type = RT_MSG_HELLO, .origin = RT_ORIGIN_ROOT, .pid = getpid(), .ppid = getppid(),
                .time_ns = at(10), .argv_len = 9, .exe_len = 9}, "fake\0arg\0/bin/fake"};
    if (send_fd_msg(s, &hello, sizeof hello, mfd) < 0)
        return 23;

    struct rt_msg req = {.type = RT_MSG_SNAP_REQ, .pid = getpid(), .time_ns = at(500), .snapshot_id = 1, .reason = 0};
    if (send_fd_msg(s, &req, sizeof req, -1) < 0)
        return 24;
    struct rt_msg ans;
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = &ans, .iov_len = sizeof ans};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    if (recvmsg(s, &mh, 0) != (ssize_t)sizeof ans || ans.type != RT_MSG_SNAP_LIVE || ans.count != 3 ||
        ans.snapshot_id != 1 || !CMSG_FIRSTHDR(&mh))
        return 25;
    int lfd;
    memcpy(&lfd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof lfd);
    const struct rt_live *live = mmap(NULL, 3 * sizeof *live, PROT_READ, MAP_SHARED, lfd, 0);
    if (live == MAP_FAILED || live[0].addr != 0x1010 || live[0].size != 48 || live[1].addr != 0x2000 ||
        live[1].size != 30 || live[2].addr != 0x4000 || live[2].size != 8)
        return 26;

    struct rt_blob_root root = {.snapshot_id = 1, .root_id = 0, .kind = RT_ROOT_STACK, .owner = 0,
                                .start = 0x7000, .size = 64};
    push_blob(r0, RT_BLOB_ROOT, &root, sizeof root, at(510));
    struct rt_rec tail[] = {
        {.type = RT_REC_EDGE, .time_ns = 8, .a = RT_EDGE_ROOT | 0, .b = 1, .u32 = 0},
        {.type = RT_REC_EDGE, .time_ns = 16, .a = 1, .b = 0, .u32 = 4},
        {.type = RT_REC_SNAP_END, .a = 1, .b = 2, .u32 = RT_SNAP_OK},
        {.type = RT_REC_EXIT, .time_ns = at(600), .a = 7, .b = RT_EXIT_EXIT},
    };
    push(r0, tail, 4);
    return 7;
}

/* ------------------------------------------------------------------- checks */

/* Decodes one HG_REC_EVENTS record into text lines, per capture.h: fields
 * from their columns, addresses through the per-thread reuse stacks. */
struct ev_state {
    uint64_t time, thread, nalloc, prev[8];
    uint64_t reuse[8][HG_EV_REUSE_CLASSES][HG_EV_REUSE_DEPTH];
    unsigned n[8][HG_EV_REUSE_CLASSES];
    uint64_t addr[64], size[64]; /* by allocation number */
    unsigned hits;               /* addresses taken from a reuse stack */
};

static int cls(uint64_t size)
{
    return size <= HG_EV_REUSE_MAX_SIZE ? (int)HG_EV_REUSE_CLASS(size) : -1;
}

static void push_reuse(struct ev_state *st, uint64_t number)
{
    int k = cls(st->size[number & 63]);
    unsigned *n = &st->n[st->thread & 7][k < 0 ? 0 : k];
    uint64_t *v = st->reuse[st->thread & 7][k < 0 ? 0 : k];
    if (k < 0)
        return;
    if (*n == HG_EV_REUSE_DEPTH) {
        memmove(v, v + 1, (HG_EV_REUSE_DEPTH - 1) * sizeof *v);
        --*n;
    }
    v[(*n)++] = st->addr[number & 63];
}

static void decode_events(struct dec *r, struct ev_state *st, char *out, size_t outlen)
{
    uint64_t n = d_u(r), len[HG_EV_COLUMNS], total = 0;
    for (int k = 0; k < HG_EV_COLUMNS; k++)
        total += len[k] = d_u(r);
    CHECK_EQ(total, (uint64_t)(r->end - r->p));
    struct dec col[HG_EV_COLUMNS];
    for (int k = 0; k < HG_EV_COLUMNS; k++) {
        col[k] = (struct dec){r->p, r->p + len[k], 0};
        r->p += len[k];
    }
    size_t used = 0;
    out[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct dec *tc = &col[HG_EV_COL_TAG];
        uint8_t tag = tc->p < tc->end ? *tc->p++ : (tc->bad = 1, 0); /* a byte, not a varint */
        unsigned op = tag & HG_EV_OP_MASK, code = tag >> HG_EV_SEL_SHIFT;
        if (code == HG_EV_SEL_VARINT)
            st->thread = d_u(&col[HG_EV_COL_TAG]);
        else if (code != HG_EV_SEL_SAME)
            st->thread = code - 1;
        st->time += d_u(&col[HG_EV_COL_TIME]);
        char line[160];
        uint64_t *prev = &st->prev[st->thread & 7];
        uint64_t ref = 0, stack = 0, size = 0, align = 0, addr = 0;
        if (op == HG_EV_FREE || op == HG_EV_REALLOC) {
            ref = st->nalloc - 1 - d_u(&col[HG_EV_COL_REF]);
            push_reuse(st, ref);
        }
        if (op == HG_EV_ALLOC || op == HG_EV_REALLOC) {
            stack = d_u(&col[HG_EV_COL_STACK]);
            size = d_u(&col[HG_EV_COL_SIZE]);
            if (tag & HG_EV_F_ALIGN)
                align = d_u(&col[HG_EV_COL_SIZE]);
            uint64_t na = d_u(&col[HG_EV_COL_ADDR]);
            int k = cls(size);
            if (na == 0 && k >= 0 && st->n[st->thread & 7][k]) {
                st->hits++;
                addr = *prev = st->reuse[st->thread & 7][k][--st->n[st->thread & 7][k]];
            } else {
                int64_t d = (int64_t)((na - 1) >> 1) ^ -(int64_t)((na - 1) & 1);
                addr = *prev = *prev + (uint64_t)((tag & HG_EV_F_RAWADDR) ? d : d * HG_EV_ADDR_UNIT);
            }
            st->addr[st->nalloc & 63] = addr;
            st->size[st->nalloc & 63] = size;
        }
        if (op == HG_EV_FREE_UNKNOWN) {
            int64_t d = d_zz(&col[HG_EV_COL_ADDR]);
            addr = *prev = *prev + (uint64_t)((tag & HG_EV_F_RAWADDR) ? d : d * HG_EV_ADDR_UNIT);
        }
        if (op == HG_EV_ALLOC)
            snprintf(line, sizeof line, "t%llu T%llu alloc #%llu s%llu %llu a%llu %#llx\n",
                     (unsigned long long)st->time, (unsigned long long)st->thread,
                     (unsigned long long)st->nalloc++, (unsigned long long)stack,
                     (unsigned long long)size, (unsigned long long)align, (unsigned long long)addr);
        else if (op == HG_EV_REALLOC)
            snprintf(line, sizeof line, "t%llu T%llu realloc #%llu -> #%llu s%llu %llu %#llx\n",
                     (unsigned long long)st->time, (unsigned long long)st->thread,
                     (unsigned long long)ref, (unsigned long long)st->nalloc++,
                     (unsigned long long)stack, (unsigned long long)size, (unsigned long long)addr);
        else if (op == HG_EV_FREE)
            snprintf(line, sizeof line, "t%llu T%llu free #%llu\n", (unsigned long long)st->time,
                     (unsigned long long)st->thread, (unsigned long long)ref);
        else if (op == HG_EV_FREE_UNKNOWN)
            snprintf(line, sizeof line, "t%llu T%llu free? %#llx\n", (unsigned long long)st->time,
                     (unsigned long long)st->thread, (unsigned long long)addr);
        else {
            uint64_t kind = d_u(&col[HG_EV_COL_REF]), value = d_u(&col[HG_EV_COL_REF]);
            snprintf(line, sizeof line, "t%llu T%llu mark %llu %llu\n", (unsigned long long)st->time,
                     (unsigned long long)st->thread, (unsigned long long)kind, (unsigned long long)value);
        }
        used += (size_t)snprintf(out + used, outlen - used, "%s", line);
    }
    for (int k = 0; k < HG_EV_COLUMNS; k++)
        CHECK(col[k].p == col[k].end && !col[k].bad);
}

static void check_capture(const char *path, pid_t pid)
{
    struct capture c;
    CHECK_EQ(read_capture(path, &c), 0);
    CHECK_EQ(c.bad_chunk, 0);
    struct dec all = {c.raw, c.raw + c.raw_len, 0}, r;
    unsigned type;
    char s[64], events[2048] = "";
    static struct ev_state st;
    int seen[32] = {0};
    uint64_t nevents = 0;
    while (next_rec(&all, &type, &r)) {
        seen[type < 32 ? type : 0]++;
        if (type != HG_REC_END && type != HG_REC_SAMPLE)
            CHECK_EQ(d_u(&r), 1); /* stream 1 */
        switch (type) {
        case HG_REC_PROCESS:
            CHECK_EQ(d_u(&r), (uint64_t)pid);
            CHECK_EQ(d_u(&r), (uint64_t)getpid());
            CHECK_EQ(d_u(&r), 0);
            CHECK_EQ(d_u(&r), HG_ORIGIN_ROOT);
            CHECK_EQ(d_u(&r), 10);
            CHECK_STR(d_str(&r, s, sizeof s), "/bin/fake");
            CHECK_EQ(d_u(&r), 2);
            CHECK_STR(d_str(&r, s, sizeof s), "fake");
            CHECK_STR(d_str(&r, s, sizeof s), "arg");
            break;
        case HG_REC_THREAD:
            CHECK_EQ(d_u(&r), 0);
            CHECK_EQ(d_u(&r), (uint64_t)pid);
            CHECK_EQ(d_u(&r), 50);
            CHECK_EQ(d_u(&r), 0x7000);
            CHECK_EQ(d_u(&r), 0x9000);
            CHECK_STR(d_str(&r, s, sizeof s), "main");
            break;
        case HG_REC_STACK:
            CHECK_EQ(d_u(&r), 1);
            CHECK_EQ(d_u(&r), 2);
            CHECK_EQ(d_u(&r), 3);
            CHECK_EQ(d_u(&r), 0x401000);
            CHECK_EQ(d_u(&r), 0x402000);
            CHECK_EQ(d_u(&r), 0x7f0000001234ll);
            break;
        case HG_REC_EVENTS: {
            size_t used = strlen(events);
            struct dec copy = r;
            uint64_t n = d_u(&copy);
            nevents += n;
            decode_events(&r, &st, events + used, sizeof events - used);
            break;
        }
        case HG_REC_SNAPSHOT:
            CHECK(strstr(events, "mark 2 1") != NULL); /* the mark comes first */
            CHECK_EQ(d_u(&r), 1);
            CHECK_EQ(d_u(&r), 500);
            CHECK_EQ(d_u(&r), 0);
            CHECK_EQ(d_u(&r), 3);
            break;
        case HG_REC_ROOT:
            CHECK_EQ(d_u(&r), 1);
            CHECK_EQ(d_u(&r), 0);
            CHECK_EQ(d_u(&r), HG_ROOT_STACK);
            CHECK_EQ(d_u(&r), 0);
            CHECK_EQ(d_u(&r), 0x7000);
            CHECK_EQ(d_u(&r), 64);
            break;
        case HG_REC_EDGES:
            CHECK_EQ(d_u(&r), 1);
            CHECK_EQ(d_u(&r), 2);
            for (int i = 0; i < 8; i++) /* (root 0 +8 -> block 1), (block 1 +16 -> block 0 +4) */
                CHECK_EQ(d_u(&r), ((const int[]){1, 8, 1, 0, 2, 16, 0, 4})[i]);
            break;
        case HG_REC_SNAPSHOT_END:
            CHECK_EQ(d_u(&r), 1);
            CHECK_EQ(d_u(&r), 2);
            CHECK_EQ(d_u(&r), 0);
            break;
        case HG_REC_PROCESS_END:
            d_u(&r); /* time: when the collector saw the end */
            CHECK_EQ(d_u(&r), HG_END_EXIT);
            CHECK_EQ(d_u(&r), 7);
            CHECK_EQ(d_u(&r), HG_END_F_SNAPSHOT);
            break;
        case HG_REC_END:
            CHECK_EQ(d_u(&r), 1);
            CHECK_EQ(d_u(&r), nevents);
            break;
        }
        CHECK(!r.bad);
    }
    CHECK_STR(events,
              "t100 T0 alloc #0 s1 24 a0 0x1000\n"
              "t120 T9 free? 0x9990\n"
              "t150 T9 alloc #1 s1 32 a0 0x2000\n"
              "t200 T0 free #1\n"
              "t301 T0 realloc #0 -> #2 s1 48 0x1010\n" /* at its new block's time */
              "t350 T0 alloc #3 s1 30 a0 0x2000\n"
              "t400 T9 alloc #4 s1 100 a6 0x4000\n"
              "t450 T9 free #4\n" /* the collector ends the stale block itself */
              "t450 T9 alloc #5 s1 8 a0 0x4000\n"
              "t500 T9 mark 2 1\n");
    CHECK_EQ(nevents, 10);
    CHECK_EQ(seen[HG_REC_NOTE], 1); /* saying so once */
    CHECK_EQ(st.hits, 1); /* 0x2000 came back from thread 0's reuse stack of its class */
    CHECK_EQ(seen[HG_REC_PROCESS], 1);
    CHECK_EQ(seen[HG_REC_THREAD], 1);
    CHECK_EQ(seen[HG_REC_STACK], 1);
    CHECK_EQ(seen[HG_REC_SNAPSHOT], 1);
    CHECK_EQ(seen[HG_REC_ROOT], 1);
    CHECK_EQ(seen[HG_REC_EDGES], 1);
    CHECK_EQ(seen[HG_REC_SNAPSHOT_END], 1);
    CHECK_EQ(seen[HG_REC_PROCESS_END], 1);
    CHECK_EQ(seen[HG_REC_END], 1);
    free(c.raw);
}

static void test_fake_runtime_recording(void)
{
    char path[] = "/tmp/test_col_collect.XXXXXX";
    int fd = mkstemp(path);
    start_ns = mono();
    snprintf(sock_name, sizeof sock_name, "hg-test-col-%d", (int)getpid());
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path + 1, sock_name, strlen(sock_name));
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sock_name))), 0);
    CHECK_EQ(listen(lfd, 8), 0);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &old);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fake_runtime());
    struct col_writer w = {0};
    CHECK_EQ(col_writer_open(&w, fd, 1, start_ns), 0);
    struct col_config cfg = {.listen_fd = lfd, .w = &w, .child = pid, .sample_ns = COL_SAMPLE_NS_DEFAULT,
                             .start_ns = start_ns};
    struct col_summary sum = {0};
    char err[128];
    CHECK_EQ(col_run(&cfg, &sum, err, sizeof err), 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    CHECK(WIFEXITED(sum.child_status));
    CHECK_EQ(WEXITSTATUS(sum.child_status), 7);
    CHECK_EQ(sum.streams, 1);
    CHECK_EQ(sum.events, 10);
    CHECK_EQ(col_writer_finish(&w, sum.streams, sum.events), 0);
    col_writer_release(&w);
    check_capture(path, pid);
    unlink(path);
}

int main(void)
{
    RUN(test_fake_runtime_recording);
    return DONE();
}
