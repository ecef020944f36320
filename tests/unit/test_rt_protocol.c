/* SPDX-License-Identifier: MIT
 *
 * test_rt_protocol.c - the injected runtime against a real, minimal
 * collector written here from ring.h alone: a listening abstract socket, the
 * target started with LD_PRELOAD and HEAPGRAPH_SOCK, HELLO with the memfd,
 * the rings drained until the target hangs up. The target programs are
 * compiled by the test; their records are counted exactly (allocations whose
 * innermost frame lies in the program, frees of those blocks, stacks,
 * modules, threads, exit).
 */
#include "profiler/ring.h"
#include "tests/unit/harness.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_BLOCKS 100000
#define MAX_STACKS 4096
#define MAX_MODULES 64
#define MAX_FRAMES 64

struct module {
    uint64_t lo, hi;
    char path[256];
    int build_id_len;
};

struct stack {
    uint32_t id;
    uint32_t n;
    uint64_t frames[MAX_FRAMES];
};

/* What one process image sent. */
struct image {
    struct rt_msg hello;
    char exe[256];
    struct rt_shm *shm;
    struct module mods[MAX_MODULES];
    int nmods;
    struct stack stacks[MAX_STACKS];
    int nstacks;
    int stack_dups;          /* a stack id sent twice */
    int threads, thread_ends, notes;
    int32_t main_tid;
    uint64_t main_lo, main_hi;
    int exits;
    uint64_t exit_status, exit_how;
    int forks, execs;
    /* events of the program's own code (innermost frame in the executable) */
    int allocs, frees, realloc_frees, realloc_allocs, aligned64;
    uint64_t alloc_bytes;
    int unknown_stack;       /* an event with a stack id never defined */
    int runtime_frames;      /* a frame inside libheapgraph-rt.so */
    uint64_t blocks[MAX_BLOCKS];
    int nblocks;
    uint64_t last_time;
    int time_backwards;
};

/* Every ALLOC and FREE of all images, for the ordering check. */
struct ev {
    uint64_t time, addr, size;
    uint32_t type, stack;
    int is_free;
    struct image *im;
    uint32_t ring, seq; /* seq: the order records were read in */
};
#define MAX_EVENTS 400000
static struct ev events[MAX_EVENTS];
static int nevents;

static char workdir[256];
static char sockname[64];
static const char *build_dir;

/* ---- records ---------------------------------------------------------- */

static const struct stack *find_stack(struct image *im, uint32_t id)
{
    for (int i = 0; i < im->nstacks; i++)
        if (im->stacks[i].id == id)
            return &im->stacks[i];
    return NULL;
}

static int in_exe(struct image *im, uint64_t addr)
{
    for (int i = 0; i < im->nmods; i++)
        if (strcmp(im->mods[i].path, im->exe) == 0 && addr >= im->mods[i].lo && addr < im->mods[i].hi)
            return 1;
    return 0;
}

static int in_runtime(struct image *im, uint64_t addr)
{
    for (int i = 0; i < im->nmods; i++)
        if (strstr(im->mods[i].path, "libheapgraph-rt") && addr >= im->mods[i].lo && addr < im->mods[i].hi)
            return 1;
    return 0;
}

static void take_module(struct image *im, const uint8_t *p, uint32_t len)
{
    struct rt_blob_module m;
    if (len < sizeof m || im->nmods == MAX_MODULES)
        return;
    memcpy(&m, p, sizeof m);
    struct module *mod = &im->mods[im->nmods++];
    const struct rt_blob_seg *seg = (const struct rt_blob_seg *)(p + sizeof m);
    mod->lo = UINT64_MAX;
    for (int i = 0; i < m.nseg; i++) {
        uint64_t a = m.bias + seg[i].vaddr;
        if (a < mod->lo)
            mod->lo = a;
        if (a + seg[i].memsz > mod->hi)
            mod->hi = a + seg[i].memsz;
    }
    const char *path = (const char *)(seg + m.nseg) + m.build_id_len;
    size_t n = m.path_len < sizeof mod->path - 1 ? m.path_len : sizeof mod->path - 1;
    memcpy(mod->path, path, n);
    mod->build_id_len = m.build_id_len;
}

static void take_blob(struct image *im, uint64_t kind, const uint8_t *p, uint32_t len)
{
    struct rt_blob_thread t;
    switch (kind) {
    case RT_BLOB_MODULE:
        take_module(im, p, len);
        break;
    case RT_BLOB_THREAD:
        memcpy(&t, p, sizeof t);
        if (im->threads++ == 0) {
            im->main_tid = t.tid;
            im->main_lo = t.stack_lo;
            im->main_hi = t.stack_hi;
        }
        break;
    case RT_BLOB_THREAD_END:
        im->thread_ends++;
        break;
    case RT_BLOB_NOTE:
        fprintf(stderr, "note: %.*s\n", (int)len, (const char *)p);
        im->notes++;
        break;
    }
}

static void take_event(struct image *im, const struct rt_rec *r, uint32_t ring)
{
    uint32_t type = r->type & RT_REC_TYPE_MASK;
    if ((type == RT_REC_ALLOC || type == RT_REC_FREE) && nevents < MAX_EVENTS) {
        events[nevents] = (struct ev){ r->time_ns, r->a, r->b, r->type, r->u32,
                                       type == RT_REC_FREE, im, ring, (uint32_t)nevents };
        nevents++;
    }
    if (type == RT_REC_EXIT) {
        im->exits++;
        im->exit_status = r->a;
        im->exit_how = r->b;
    } else if (type == RT_REC_FORK) {
        im->forks++;
    } else if (type == RT_REC_EXEC) {
        im->execs++;
    }
}

/* Counts an ALLOC or FREE once every stack is known. */
static void tally(const struct ev *e)
{
    struct image *im = e->im;
    if (!e->is_free) {
        const struct stack *s = find_stack(im, e->stack);
        if (!s) {
            im->unknown_stack++;
            return;
        }
        for (uint32_t i = 0; i < s->n; i++)
            im->runtime_frames += in_runtime(im, s->frames[i]);
        if (s->n == 0 || !in_exe(im, s->frames[0]))
            return;
        im->allocs++;
        im->alloc_bytes += e->size;
        im->realloc_allocs += !!(e->type & RT_F_REALLOC);
        im->aligned64 += ((e->type & RT_F_ALIGN_MASK) >> RT_F_ALIGN_SHIFT) == 6;
        if (im->nblocks < MAX_BLOCKS)
            im->blocks[im->nblocks++] = e->addr;
        return;
    }
    for (int i = 0; i < im->nblocks; i++) {
        if (im->blocks[i] == e->addr) {
            im->blocks[i] = im->blocks[--im->nblocks];
            im->frees++;
            im->realloc_frees += !!(e->type & RT_F_REALLOC);
            return;
        }
    }
}

/* Reads the record at `pos` of ring r; returns its slot count, 0 when it
 * is not complete yet. */
static uint32_t take_record(struct image *im, struct rt_ring *r, uint64_t pos, uint64_t head)
{
    const struct rt_rec *h = &r->slots[pos % RT_RING_SLOTS];
    uint32_t type = h->type & RT_REC_TYPE_MASK, n = 1;
    if (type == RT_REC_STACK)
        n = (uint32_t)RT_STACK_SLOTS(h->a);
    else if (type == RT_REC_BLOB)
        n = (uint32_t)RT_BLOB_SLOTS(h->u32);
    if (pos + n > head)
        return 0;
    static uint8_t buf[RT_RING_SLOTS * sizeof(struct rt_rec)];
    for (uint32_t i = 1; i < n; i++)
        memcpy(buf + (i - 1) * sizeof(struct rt_rec), &r->slots[(pos + i) % RT_RING_SLOTS],
               sizeof(struct rt_rec));
    if (type != RT_REC_EDGE && type != RT_REC_SNAP_END && type != RT_REC_STACK) {
        if (h->time_ns < im->last_time && r->thread_index == 0)
            im->time_backwards++;
        if (r->thread_index == 0)
            im->last_time = h->time_ns;
    }
    if (type == RT_REC_STACK) {
        if (find_stack(im, h->u32))
            im->stack_dups++;
        if (im->nstacks < MAX_STACKS && h->a <= MAX_FRAMES) {
            struct stack *s = &im->stacks[im->nstacks++];
            s->id = h->u32;
            s->n = (uint32_t)h->a;
            memcpy(s->frames, buf, s->n * sizeof(uint64_t));
        }
    } else if (type == RT_REC_BLOB) {
        take_blob(im, h->a, buf, h->u32);
    } else {
        take_event(im, h, (uint32_t)(r - im->shm->rings));
    }
    return n;
}

static void drain(struct image *im)
{
    struct rt_shm *s = im->shm;
    for (uint32_t k = 0; k < RT_SHM_RINGS; k++) {
        struct rt_ring *r = &s->rings[k];
        uint32_t state = atomic_load(&r->state);
        if (state == RT_RING_FREE)
            continue;
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        uint64_t tail = atomic_load(&r->tail);
        while (tail < head) {
            uint32_t n = take_record(im, r, tail, head);
            if (!n)
                break;
            tail += n;
        }
        atomic_store_explicit(&r->tail, tail, memory_order_release);
        if (state == RT_RING_CLOSED && tail == head)
            atomic_store(&r->state, RT_RING_FREE);
    }
}

/* ---- the collector ---------------------------------------------------- */

/* The runtime reaches its collector at a path (a socket in a private
 * directory, as the launcher makes it). */
static int listen_socket(void)
{
    snprintf(sockname, sizeof sockname, "/tmp/hg-test-rt-%d.sock", (int)getpid());
    unlink(sockname);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    memcpy(a.sun_path, sockname, strlen(sockname));
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sockname) + 1)) < 0 ||
        listen(fd, 16) < 0)
        return -1;
    return fd;
}

static int recv_hello(int c, struct image *im)
{
    char buf[sizeof(struct rt_msg) + 70000];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { buf, sizeof buf };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                          .msg_controllen = sizeof ctl.space };
    ssize_t n = recvmsg(c, &msg, 0);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (n < (ssize_t)sizeof im->hello || !cm || cm->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    memcpy(&im->hello, buf, sizeof im->hello);
    size_t el = im->hello.exe_len < sizeof im->exe - 1 ? im->hello.exe_len : sizeof im->exe - 1;
    memcpy(im->exe, buf + sizeof im->hello + im->hello.argv_len, el);
    im->shm = mmap(NULL, RT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return im->shm == MAP_FAILED ? -1 : 0;
}

/* Answers a snapshot request with no live blocks. */
static void answer(int c, const struct rt_msg *req)
{
    struct rt_msg m = { .type = RT_MSG_SNAP_LIVE, .snapshot_id = req->snapshot_id, .count = 0 };
    send(c, &m, sizeof m, MSG_NOSIGNAL);
}

/* Serves images until all have hung up and `child` has exited; returns how
 * many images there were. */
/* Milliseconds the collector sleeps after the first HELLO, as a descheduled
 * collector would: the program's rings fill up meanwhile. */
static int stall_ms;

static int collect(int lfd, pid_t child, struct image *ims, int max, int *status)
{
    int conns[8], n = 0, open = 0, exited = 0;
    for (int rounds = 0; rounds < 60000 && (!exited || open > 0); rounds++) {
        struct pollfd p[9];
        p[0] = (struct pollfd){ lfd, POLLIN, 0 };
        for (int i = 0; i < n; i++)
            p[1 + i] = (struct pollfd){ conns[i], conns[i] >= 0 ? POLLIN : 0, 0 };
        poll(p, (nfds_t)(1 + n), 1);
        if ((p[0].revents & POLLIN) && n < max) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            memset(&ims[n], 0, sizeof ims[n]);
            if (c >= 0 && recv_hello(c, &ims[n]) == 0) {
                if (n == 0 && stall_ms)
                    usleep((useconds_t)stall_ms * 1000);
                conns[n++] = c;
                open++;
            }
        }
        for (int i = 0; i < n; i++) {
            drain(&ims[i]);
            if (conns[i] < 0 || !(p[1 + i].revents & (POLLIN | POLLHUP)))
                continue;
            struct rt_msg m;
            ssize_t k = recv(conns[i], &m, sizeof m, MSG_DONTWAIT);
            if (k == (ssize_t)sizeof m && m.type == RT_MSG_SNAP_REQ) {
                drain(&ims[i]);
                answer(conns[i], &m);
            } else if (k == 0) {
                drain(&ims[i]);
                close(conns[i]);
                conns[i] = -1;
                open--;
            }
        }
        if (!exited && waitpid(child, status, WNOHANG) == child)
            exited = 1;
    }
    return n;
}

/* Compiles src (C text) into workdir/name. */
static int build(const char *name, const char *src, const char *flags)
{
    char path[512], cmd[1536];
    snprintf(path, sizeof path, "%s/%s.c", workdir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -O2 -g -pthread -o %s/%s %s %s", workdir, name, path, flags);
    return system(cmd) == 0 ? 0 : -1;
}

static int violations;

/* Groups the events by ring, each ring's in the order they were read. */
static int by_ring(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->im != y->im)
        return x->im < y->im ? -1 : 1;
    if (x->ring != y->ring)
        return x->ring < y->ring ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* At the heads of two rings: by time, a free first at equal times. */
static int merges_before(const struct ev *x, const struct ev *y)
{
    if (x->time != y->time)
        return x->time < y->time;
    return x->is_free && !y->is_free;
}

/* Puts the events in the order the collector merges them (ring.h): each
 * ring's own order kept, the earliest head of all rings taken next. */
static void merge_rings(void)
{
    enum { MAX_RUNS = 4 * RT_SHM_RINGS }; /* ims[] holds 4 images */
    static struct ev sorted[MAX_EVENTS];
    int start[MAX_RUNS + 1], head[MAX_RUNS], nruns = 0;
    qsort(events, (size_t)nevents, sizeof events[0], by_ring);
    for (int i = 0; i < nevents; i++)
        if (i == 0 || events[i].im != events[i - 1].im || events[i].ring != events[i - 1].ring)
            start[nruns] = head[nruns] = i, nruns++;
    start[nruns] = nevents;
    for (int k = 0; k < nevents; k++) {
        int best = -1;
        for (int r = 0; r < nruns; r++)
            if (head[r] < start[r + 1] &&
                (best < 0 || merges_before(&events[head[r]], &events[head[best]])))
                best = r;
        sorted[k] = events[head[best]++];
    }
    memcpy(events, sorted, (size_t)nevents * sizeof events[0]);
}

/* Replays every event in the collector's order: an address is never
 * allocated twice without a free in between, nor freed when not
 * allocated. Returns the number of violations. */
static int order_violations(void)
{
    enum { BITS = 20 };
    static uint64_t live[1u << BITS];
    memset(live, 0, sizeof live);
    merge_rings();
    int bad = 0;
    for (int i = 0; i < nevents; i++) {
        tally(&events[i]);
        uint64_t a = events[i].addr;
        uint32_t h = (uint32_t)((a * 0x9E3779B97F4A7C15ull) >> (64 - BITS));
        while (live[h] && live[h] != a)
            h = (h + 1) & ((1u << BITS) - 1);
        if (events[i].is_free) {
            if (live[h] != a) {
                bad++;
                continue;
            }
            /* delete with backward shift */
            uint32_t j = h;
            live[j] = 0;
            for (;;) {
                j = (j + 1) & ((1u << BITS) - 1);
                if (!live[j])
                    break;
                uint32_t k = (uint32_t)((live[j] * 0x9E3779B97F4A7C15ull) >> (64 - BITS));
                if (((j - k) & ((1u << BITS) - 1)) >= ((j - h) & ((1u << BITS) - 1))) {
                    live[h] = live[j];
                    live[j] = 0;
                    h = j;
                }
            }
        } else {
            if (live[h] == a)
                bad++;
            live[h] = a;
        }
    }
    return bad;
}

/* Runs workdir/name under the runtime with a collector; fills ims. */
static int run(const char *name, struct image *ims, int max, int *status)
{
    int lfd = listen_socket();
    if (lfd < 0)
        return 0;
    char prog[512], preload[512];
    snprintf(prog, sizeof prog, "%s/%s", workdir, name);
    snprintf(preload, sizeof preload, "%s/libheapgraph-rt.so", build_dir);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LD_PRELOAD", preload, 1);
        setenv(RT_ENV_SOCK, sockname, 1);
        execl(prog, prog, (char *)NULL);
        _exit(127);
    }
    nevents = 0;
    int n = collect(lfd, pid, ims, max, status);
    close(lfd);
    unlink(sockname);
    violations = order_violations();
    return n;
}

static struct image ims[4];

/* ---- cases ------------------------------------------------------------ */

static const char *counts_src =
    "#include <stdlib.h>\n"
    "static void *volatile keep[1000];\n"
    "__attribute__((noinline)) static void make(int i) { keep[i] = malloc(24); }\n"
    "int main(void) {\n"
    "    for (int i = 0; i < 1000; i++) make(i);\n"
    "    for (int i = 0; i < 1000; i++) free(keep[i]);\n"
    "    void *p = malloc(10); p = realloc(p, 100000); p = reallocarray(p, 2, 100000); free(p);\n"
    "    void *q = NULL; if (posix_memalign(&q, 64, 100)) return 1; free(q);\n"
    "    keep[0] = calloc(10, 10); free(keep[0]);\n"
    "    return 7;\n"
    "}\n";

static void test_counts(void)
{
    int status = -1;
    CHECK(build("counts", counts_src, "") == 0);
    int n = run("counts", ims, 4, &status);
    CHECK_EQ(n, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
    struct image *im = &ims[0];
    CHECK_EQ(im->hello.origin, RT_ORIGIN_ROOT);
    CHECK(strstr(im->exe, "/counts") != NULL);
    CHECK_EQ(im->shm->magic, RT_SHM_MAGIC);
    CHECK_EQ(atomic_load(&im->shm->rings_used), 1);   /* one thread, one ring */
    /* 1000 x 24 + malloc(10) + realloc(100000) + reallocarray(2 x 100000)
     * + posix_memalign(100) + calloc(100); reallocarray once broke this by
     * recording glibc's inner realloc as a second pair */
    CHECK_EQ(im->allocs, 1005);
    CHECK_EQ(im->alloc_bytes, 24000 + 10 + 100000 + 200000 + 100 + 100);
    CHECK_EQ(im->frees, 1005);
    CHECK_EQ(im->nblocks, 0);
    CHECK_EQ(im->realloc_frees, 2);
    CHECK_EQ(im->realloc_allocs, 2);
    CHECK_EQ(im->aligned64, 1);
    CHECK_EQ(im->unknown_stack, 0);
    CHECK_EQ(im->runtime_frames, 0);
    CHECK_EQ(im->stack_dups, 0);
    CHECK_EQ(im->time_backwards, 0);
    CHECK_EQ(violations, 0);
    CHECK_EQ(im->exits, 1);
    CHECK_EQ(im->exit_status, 7);
    CHECK_EQ(im->exit_how, RT_EXIT_RETURN);
    CHECK_EQ(im->threads, 1);
    CHECK_EQ(im->main_tid, im->hello.pid);
    CHECK(im->main_lo < im->main_hi);
    CHECK_EQ(im->notes, 0);
    int libc = 0, exe = 0;
    for (int i = 0; i < im->nmods; i++) {
        libc += strstr(im->mods[i].path, "libc.so") && im->mods[i].build_id_len == 20;
        exe += strcmp(im->mods[i].path, im->exe) == 0 && im->mods[i].build_id_len == 20;
    }
    CHECK_EQ(libc, 1);
    CHECK_EQ(exe, 1);
}

static const char *threads_src =
    "#include <pthread.h>\n"
    "#include <stdlib.h>\n"
    "static void *blocks[8][1000];\n"
    "static pthread_barrier_t barrier;\n"
    "__attribute__((noinline)) static void *work(void *arg) {\n"
    "    long me = (long)arg, next = (me + 1) % 8;\n"
    "    for (int i = 0; i < 1000; i++) blocks[me][i] = malloc(40);\n"
    "    pthread_barrier_wait(&barrier);\n"
    "    for (int i = 0; i < 1000; i++) free(blocks[next][i]);\n"
    "    pthread_barrier_wait(&barrier);\n"
    "    for (int i = 0; i < 1000; i++) blocks[me][i] = malloc(40);\n"
    "    for (int i = 0; i < 1000; i++) free(blocks[me][i]);\n"
    "    return NULL;\n"
    "}\n"
    "int main(void) {\n"
    "    pthread_t t[8];\n"
    "    pthread_barrier_init(&barrier, NULL, 8);\n"
    "    for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, work, (void *)i);\n"
    "    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);\n"
    "    return 0;\n"
    "}\n";

static void test_threads(void)
{
    int status = -1;
    CHECK(build("threads", threads_src, "") == 0);
    int n = run("threads", ims, 4, &status);
    CHECK_EQ(n, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct image *im = &ims[0];
    CHECK_EQ(im->allocs, 16000);
    CHECK_EQ(im->frees, 16000);
    CHECK_EQ(im->threads, 9);
    CHECK_EQ(im->thread_ends, 8);
    CHECK_EQ(im->unknown_stack, 0);
    CHECK_EQ(im->runtime_frames, 0);
    CHECK_EQ(violations, 0);
}

/* A thread starts while the main thread churns with reused clock reads
 * (rt_rec.h): it frees the main thread's blocks, whose chunks go back to the
 * main arena's bins and to the main thread's next allocations, and
 * allocates again. Every event must stay in a valid order. */
static const char *handover_src =
    "#include <pthread.h>\n"
    "#include <stdlib.h>\n"
    "static void *volatile keep[2000];\n"
    "static void *volatile sink;\n"
    "__attribute__((noinline)) static void *make(void) { return malloc(40); }\n"
    "__attribute__((noinline)) static void *work(void *arg) {\n"
    "    for (int i = 0; i < 2000; i++) free(keep[i]);\n"
    "    for (int i = 0; i < 2000; i++) keep[i] = make();\n"
    "    return arg;\n"
    "}\n"
    "int main(void) {\n"
    "    for (int i = 0; i < 2000; i++) keep[i] = make();\n"
    "    for (int r = 0; r < 1000; r++) { sink = make(); free(sink); }\n"
    "    pthread_t t;\n"
    "    if (pthread_create(&t, NULL, work, NULL)) return 1;\n"
    "    for (int r = 0; r < 5000; r++) { sink = make(); free(sink); }\n"
    "    pthread_join(t, NULL);\n"
    "    for (int i = 0; i < 2000; i++) free(keep[i]);\n"
    "    return 0;\n"
    "}\n";

static void test_thread_after_one(void)
{
    int status = -1;
    CHECK(build("handover", handover_src, "") == 0);
    int n = run("handover", ims, 4, &status);
    CHECK_EQ(n, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct image *im = &ims[0];
    CHECK_EQ(im->allocs, 10000);
    CHECK_EQ(im->frees, 10000);
    CHECK_EQ(im->unknown_stack, 0);
    CHECK_EQ(violations, 0);
}

static const char *fork_src =
    "#include <stdlib.h>\n"
    "#include <sys/wait.h>\n"
    "#include <unistd.h>\n"
    "static void *volatile keep[100];\n"
    "__attribute__((noinline)) static void make(int i, size_t n) { keep[i] = malloc(n); }\n"
    "int main(void) {\n"
    "    for (int i = 0; i < 100; i++) make(i, 32);\n"
    "    for (int i = 0; i < 100; i++) free(keep[i]);\n"
    "    pid_t pid = fork();\n"
    "    if (pid == 0) {\n"
    "        for (int i = 0; i < 50; i++) make(i, 48);\n"
    "        for (int i = 0; i < 50; i++) free(keep[i]);\n"
    "        exit(3);\n"
    "    }\n"
    "    int status;\n"
    "    waitpid(pid, &status, 0);\n"
    "    return WEXITSTATUS(status);\n"
    "}\n";

static void test_fork(void)
{
    int status = -1;
    CHECK(build("fork", fork_src, "") == 0);
    int n = run("fork", ims, 4, &status);
    CHECK_EQ(n, 2);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    struct image *parent = &ims[0], *child = &ims[1];
    if (n == 2 && ims[0].hello.origin == RT_ORIGIN_FORK) {
        parent = &ims[1];
        child = &ims[0];
    }
    CHECK_EQ(parent->hello.origin, RT_ORIGIN_ROOT);
    CHECK_EQ(child->hello.origin, RT_ORIGIN_FORK);
    CHECK_EQ(child->hello.ppid, parent->hello.pid);
    CHECK_EQ(parent->forks, 1);
    CHECK_EQ(parent->allocs, 100);
    CHECK_EQ(parent->frees, 100);
    CHECK_EQ(parent->exit_status, 3);
    CHECK_EQ(child->allocs, 50);
    CHECK_EQ(child->frees, 50);
    CHECK_EQ(child->exits, 1);
    CHECK_EQ(child->exit_status, 3);
    CHECK_EQ(child->exit_how, RT_EXIT_EXIT);
    CHECK_EQ(child->threads, 1);
    CHECK_EQ(child->main_tid, child->hello.pid);
    CHECK(child->nmods >= 4);
    CHECK_EQ(violations, 0);
}

static const char *runpath_lib_src =
    "#include <stdlib.h>\n"
    "void *volatile lib_keep;\n"
    "__attribute__((constructor)) static void init(void) { lib_keep = malloc(70); }\n";

static const char *runpath_src =
    "#include <dlfcn.h>\n"
    "int main(void) { return dlopen(\"librunpath.so\", RTLD_NOW) ? 0 : 2; }\n";

/* A bare-name dlopen that only the program's DT_RUNPATH resolves still
 * works under the runtime (whose dlopen hook calls the real one). */
static void test_dlopen_runpath(void)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/sub && printf '%%s' '%s' > %s/sub/lib.c && "
             "cc -O2 -shared -fPIC -o %s/sub/librunpath.so %s/sub/lib.c",
             workdir, runpath_lib_src, workdir, workdir, workdir);
    CHECK(system(cmd) == 0);
    CHECK(build("runpath", runpath_src, "-ldl -Wl,--enable-new-dtags -Wl,-rpath,'$ORIGIN/sub'") == 0);
    int status = -1;
    int n = run("runpath", ims, 4, &status);
    CHECK_EQ(n, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int found = 0;
    for (int i = 0; i < ims[0].nmods; i++)
        found += strstr(ims[0].mods[i].path, "/sub/librunpath.so") != NULL;
    CHECK_EQ(found, 1);
}

static const char *many_src =
    "#include <pthread.h>\n"
    "#include <stdlib.h>\n"
    "#define N 200\n"
    "static pthread_barrier_t b;\n"
    "static void *volatile sink;\n"
    "static void *work(void *a) { void *p = malloc(16); sink = p; pthread_barrier_wait(&b); free(p); return a; }\n"
    "int main(void) {\n"
    "    pthread_t t[N];\n"
    "    pthread_barrier_init(&b, NULL, N);\n"
    "    for (int i = 0; i < N; i++) pthread_create(&t[i], NULL, work, NULL);\n"
    "    for (int i = 0; i < N; i++) pthread_join(t[i], NULL);\n"
    "    return 0;\n"
    "}\n";

/* 200 threads that wait for each other, more than there are rings: the
 * program still finishes (the threads without a ring lose their events and
 * the runtime marks the shared memory degraded; its note is lost with them
 * when the thread that says it has no ring) instead of waiting forever. */
static void test_more_threads_than_rings(void)
{
    int status = -1;
    CHECK(build("many", many_src, "") == 0);
    int n = run("many", ims, 4, &status);
    CHECK_EQ(n, 1);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(atomic_load(&ims[0].shm->degraded), 1);
    CHECK(ims[0].threads >= (int)RT_SHM_RINGS - 1 && ims[0].threads <= 201);
    CHECK_EQ(atomic_load(&ims[0].shm->rings_used), RT_SHM_RINGS);
}

static const char *signal_stall_src =
    "#include <pthread.h>\n"
    "#include <signal.h>\n"
    "#include <stdatomic.h>\n"
    "#include <stdlib.h>\n"
    "#include <unistd.h>\n"
    "#define SIGNALS 100\n"
    "static atomic_int handled;\n"
    "static void *volatile sink;\n"
    "static void handler(int s) { (void)s; void *a = malloc(33), *b = malloc(33); sink = a; sink = b;\n"
    "    free(a); free(b); atomic_fetch_add(&handled, 1); }\n"
    "static void *sender(void *arg) {\n"
    "    usleep(100000); /* the main thread has filled its ring by now */\n"
    "    for (int i = 0; i < SIGNALS; i++) {\n"
    "        pthread_kill(*(pthread_t *)arg, SIGUSR1);\n"
    "        while (atomic_load(&handled) <= i) ;\n"
    "    }\n"
    "    return NULL;\n"
    "}\n"
    "int main(void) {\n"
    "    struct sigaction sa = { .sa_handler = handler };\n"
    "    sigaction(SIGUSR1, &sa, NULL);\n"
    "    pthread_t self = pthread_self(), t;\n"
    "    pthread_create(&t, NULL, sender, &self);\n"
    "    for (int i = 0; i < 20000; i++) { void *p = malloc(100); sink = p; free(p); }\n"
    "    while (atomic_load(&handled) < SIGNALS) ;\n"
    "    pthread_join(t, NULL);\n"
    "    return 0;\n"
    "}\n";

/* Regression: signal-handler events were lost ("deferred queue full") when
 * the collector fell behind. A thread waiting for ring room had already
 * claimed its publication, so every handler that ran during the wait was
 * queued in the 128-slot deferred queue, which overflowed. Here the collector
 * stalls for 300 ms while the main thread's ring is full and 100 handlers
 * allocate 2 blocks of 33 bytes each: all 200 must arrive. The main thread
 * makes 20,000 malloc/free pairs, more than a ring holds, so its ring is
 * full during the stall, and then waits without allocating. */
static void test_signals_while_ring_full(void)
{
    int status = -1;
    CHECK(build("signal_stall", signal_stall_src, "") == 0);
    stall_ms = 300;
    int n = run("signal_stall", ims, 4, &status);
    stall_ms = 0;
    CHECK_EQ(n, 1);
    CHECK_EQ(status, 0);
    int handler_allocs = 0;
    for (int i = 0; i < nevents; i++)
        handler_allocs += !events[i].is_free && events[i].size == 33;
    CHECK(nevents < MAX_EVENTS);
    CHECK_EQ(handler_allocs, 200);
    CHECK_EQ(atomic_load(&ims[0].shm->degraded), 0);
}

int main(void)
{
    build_dir = getenv("HG_BUILD_DIR");
    if (!build_dir) {
        fprintf(stderr, "HG_BUILD_DIR is not set\n");
        return 1;
    }
    snprintf(workdir, sizeof workdir, "%s/tests/rt_protocol", build_dir);
    mkdir(workdir, 0755);
    RUN(test_counts);
    RUN(test_threads);
    RUN(test_thread_after_one);
    RUN(test_fork);
    RUN(test_dlopen_runpath);
    RUN(test_more_threads_than_rings);
    RUN(test_signals_while_ring_full);
    return DONE();
}
