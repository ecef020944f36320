/* SPDX-License-Identifier: MIT
 *
 * col_collect.c - the collector's event loop. One epoll set watches the
 * listening socket, one connection per recorded process image, a signalfd
 * (SIGCHLD, SIGTERM, SIGHUP) and a 1 ms timer. A connection's messages are
 * a HELLO (col_origin.c) or a snapshot request (col_snap.c); EOF means the
 * image is gone (col_stream.c). Each tick drains every process's rings
 * (col_drain.c), merging them every MERGE_NS, and takes the samples
 * (col_sample.c) and flushes the capture when they are due. SIGCHLD reaps
 * every child (this process is a child subreaper) and keeps the statuses
 * that come before their stream ends; SIGTERM and SIGHUP are forwarded to
 * the program.
 *
 * The collector's other files: col_clock.c (the TSC clock), col_encode.c
 * (events and runtime records into capture records), col_live.c (the live
 * map), col_writer.c (the capture file), col_launch.c (starting the program).
 */
#include "profiler/collector/col_collect.h"
#include "profiler/collector/col_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* Merge (and pay for the watermark: a membarrier that interrupts every CPU
 * running the program, 10% of the collector's time at one a millisecond)
 * at most this often; the rings are still drained every tick. */
#define MERGE_NS 2000000u

static char tag_listen, tag_sig, tag_timer;

/* Receives one message with at most one passed fd. Returns its length, 0 at
 * EOF, -1 with errno (EAGAIN: nothing waiting). */
static ssize_t recv_msg(int fd, uint8_t **buf, size_t *cap, int *passed)
{
    *passed = -1;
    ssize_t want = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    if (want <= 0)
        return want;
    if (col_buf_grow(buf, cap, (size_t)want) < 0) {
        errno = ENOMEM;
        return -1;
    }
    union {
        char b[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = *buf, .iov_len = *cap};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return n;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof f, sizeof f);
            if (*passed < 0)
                *passed = f;
            else
                close(f);
        }
    }
    return n;
}

static void on_readable(struct col *c, struct col_stream *s, uint8_t **buf, size_t *cap)
{
    while (s->fd >= 0) {
        int memfd;
        ssize_t n = recv_msg(s->fd, buf, cap, &memfd);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            col_conn_closed(c, s);
            return;
        }
        struct rt_msg m;
        if ((size_t)n < sizeof m) {
            if (memfd >= 0)
                close(memfd);
            continue;
        }
        memcpy(&m, *buf, sizeof m);
        if (m.type == RT_MSG_HELLO) {
            s = col_on_hello(c, s, &m, *buf + sizeof m, (size_t)n - sizeof m, memfd);
            continue;
        }
        if (memfd >= 0)
            close(memfd);
        if (m.type == RT_MSG_SNAP_REQ)
            col_on_snap_req(c, s, &m);
    }
}


/* Only processes of this run, of this user, may talk to the collector:
 * another user's process that found the socket could otherwise inject
 * processes into the capture, stall the collector or hand it rings that
 * fault. Returns the peer's pid, or -1 after noting the refusal. A peer
 * gone before it was accepted (a child the runtime could not record says
 * so and exits) is flagged: it may only say that (col_on_hello). */
static pid_t admit(struct col *c, int fd, int *gone)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    int ours = cred.uid == geteuid() ? col_of_this_run(cred.pid) : 0;
    *gone = ours < 0;
    if (ours)
        return cred.pid;
    col_note(c, NULL, "refused a connection from process %d (uid %u): not a process of this run",
             (int)cred.pid, (unsigned)cred.uid);
    return -1;
}

static void accept_all(struct col *c);

void col_read_hellos(struct col *c, const struct col_stream *upto)
{
    if (c->reading_hellos)
        return;   /* the outer call goes on in order */
    c->reading_hellos = 1;
    accept_all(c);
    for (size_t i = 0; i < c->ns && c->s[i] != upto; i++) {
        struct col_stream *s = c->s[i];
        int memfd;
        if (s->state != COL_ST_NEW || s->fd < 0)
            continue;
        ssize_t n = recv_msg(s->fd, &c->hello_buf, &c->hello_cap, &memfd);
        struct rt_msg m;
        if (n > 0 && (size_t)n >= sizeof m) {
            memcpy(&m, c->hello_buf, sizeof m);
            if (m.type == RT_MSG_HELLO) {
                col_on_hello(c, s, &m, c->hello_buf + sizeof m, (size_t)n - sizeof m, memfd);
                continue;
            }
        }
        if (memfd >= 0)
            close(memfd);
        if (n == 0)
            col_image_gone(c, s, 0);
    }
    c->reading_hellos = 0;
}

static void accept_all(struct col *c)
{
    for (;;) {
        int fd = accept4(c->cfg->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int gone;
        pid_t peer = admit(c, fd, &gone);
        if (peer < 0) {
            close(fd);
            continue;
        }
        struct col_stream *s = col_stream_new(c);
        if (!s) {
            close(fd);
            continue;
        }
        s->fd = fd;
        s->peer = peer;
        s->peer_gone = gone;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = s};
        if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
            close(fd);
            s->fd = -1;
            s->state = COL_ST_MOVED;
            continue;
        }
        c->open_conns++;
    }
}

static void reap_all(struct col *c)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            c->no_children = errno == ECHILD;
            return;
        }
        if (pid == 0)
            return;
        if (pid == c->cfg->child) {
            c->child_done = 1;
            c->child_status = status;
        }
        struct col_stream *s = col_find_pid(c, pid, 1u << COL_ST_LIVE);
        if (s && s->end_pending) {
            col_stream_end_status(c, s, status);
            continue;
        }
        if (c->nreaped == c->reaped_cap) {
            size_t n = c->reaped_cap ? c->reaped_cap * 2 : 16;
            struct col_reaped *v = realloc(c->reaped, n * sizeof *v);
            if (!v)
                continue;
            c->reaped = v;
            c->reaped_cap = n;
        }
        c->reaped[c->nreaped++] = (struct col_reaped){pid, status};
        if (s && s->unlinked) /* it closed its connection long ago: drain and end it now */
            col_image_gone(c, s, 0);
    }
}

static void on_signal(struct col *c)
{
    struct signalfd_siginfo si;
    while (read(c->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            reap_all(c);
        else if (!c->child_done)
            kill(c->cfg->child, (int)si.ssi_signo);
    }
}

static void on_tick(struct col *c)
{
    uint64_t t;
    if (read(c->timerfd, &t, sizeof t) < 0 && errno != EAGAIN)
        return;
    uint64_t now = col_now_ns();
    enum col_drain_mode mode = now >= c->next_merge ? COL_DRAIN_MERGE : COL_DRAIN_READ;
    if (mode == COL_DRAIN_MERGE)
        c->next_merge = now + MERGE_NS;
    for (size_t i = 0; i < c->ns; i++)
        col_drain(c, c->s[i], mode);
    if (now >= c->next_sample) {
        c->next_sample = now + c->cfg->sample_ns;
        col_sample(c, now);
        col_check_orphans(c);
        col_resolve_stale(c, now);
    }
    if (now >= c->next_flush) {
        c->next_flush = now + COL_FLUSH_NS;
        for (size_t i = 0; i < c->ns; i++)
            col_flush_events(c, c->s[i]);
        col_writer_tick(c->w, now);
    }
}

static int setup(struct col *c, char *err, size_t errlen)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    c->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    c->ep = epoll_create1(EPOLL_CLOEXEC);
    c->blob = malloc(RT_RING_SLOTS * sizeof(struct rt_rec));
    struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
    struct epoll_event el = {.events = EPOLLIN, .data.ptr = &tag_listen};
    struct epoll_event es = {.events = EPOLLIN, .data.ptr = &tag_sig};
    struct epoll_event et = {.events = EPOLLIN, .data.ptr = &tag_timer};
    if (c->sigfd < 0 || c->timerfd < 0 || c->ep < 0 || !c->blob ||
        timerfd_settime(c->timerfd, 0, &its, NULL) < 0 ||
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->cfg->listen_fd, &el) < 0 ||
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->sigfd, &es) < 0 ||
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->timerfd, &et) < 0) {
        snprintf(err, errlen, "starting the collector: %s", strerror(errno ? errno : ENOMEM));
        return -1;
    }
    uint64_t now = col_now_ns();
    c->next_sample = now + c->cfg->sample_ns;
    c->next_flush = now + COL_FLUSH_NS;
    col_clock_start(c);
    return 0;
}

/* Finished when the program and every descendant are reaped and every
 * connection (including any still in the listen backlog) is closed. */
static int finished(struct col *c)
{
    if (!c->child_done || !c->no_children || c->open_conns)
        return 0;
    accept_all(c);
    return c->open_conns == 0;
}

static void loop(struct col *c)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    reap_all(c);
    while (!finished(c)) {
        struct epoll_event ev[32];
        int n = epoll_wait(c->ep, ev, 32, -1);
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &tag_listen)
                accept_all(c);
            else if (p == &tag_sig)
                on_signal(c);
            else if (p == &tag_timer)
                on_tick(c);
            else
                on_readable(c, p, &buf, &cap);
        }
        if (c->child_done && !c->no_children)
            reap_all(c);
    }
    free(buf);
}

/* 1 when a new image of s's process said HELLO after s exec'd. */
static int exec_recorded(const struct col *c, const struct col_stream *s)
{
    for (size_t i = 0; i < c->ns; i++)
        if (c->s[i]->origin == HG_ORIGIN_EXEC && c->s[i]->parent_id == s->id &&
            (c->s[i]->state == COL_ST_LIVE || c->s[i]->state == COL_ST_ENDED))
            return 1;
    return 0;
}

/* Processes the run made that were never recorded are losses: a fork
 * child that never reached the collector (killed at once, or out of
 * descriptors), and the program an image exec'd when no new image of that
 * process said HELLO (the runtime cannot load into a static, setuid or
 * 32-bit program, nor reach the collector's socket from another user), and
 * so a program started with posix_spawn or from a vfork child. */
static void note_unrecorded(struct col *c)
{
    for (size_t i = 0; i < c->ns; i++) {
        const struct col_stream *s = c->s[i];
        if (s->state != COL_ST_ENDED)
            continue;
        if (s->origin == HG_ORIGIN_FORK && !s->hello_ns)
            col_loss(c, NULL, "process %d (forked by %d) was not recorded: it never reached "
                     "the collector", (int)s->pid, (int)s->ppid);
        else if (s->end_how == HG_END_EXEC && !exec_recorded(c, s))
            col_loss(c, NULL, "the program process %d exec'd was not recorded: the runtime could "
                     "not load into it (static, setuid or 32-bit) or reach the collector (it "
                     "runs as another user)", (int)s->pid);
    }
    for (size_t i = 0; i < c->nspawns; i++)
        col_loss(c, NULL, "process %d (started by %d with posix_spawn or vfork) was not "
                 "recorded: the runtime could not load into it (static, setuid or 32-bit) or "
                 "reach the collector", (int)c->spawns[i].pid, (int)c->spawns[i].ppid);
}

/* Ends whatever is still open: held fork children, streams whose status
 * never came, fork children that never connected; then notes what was
 * never recorded. */
static void wrap_up(struct col *c)
{
    for (size_t i = 0; i < c->ns; i++) {
        struct col_stream *s = c->s[i];
        if (s->state == COL_ST_HELD)
            col_resolve_held(c, s);
        if (s->state != COL_ST_LIVE)
            continue;
        if (s->unlinked) {
            col_image_gone(c, s, 0);
            continue;
        }
        int status;
        if (col_reaped_status(c, s->pid, &status))
            col_stream_end_status(c, s, status);
        else
            col_stream_end_known(c, s);
    }
    note_unrecorded(c);
}

int col_run(const struct col_config *cfg, struct col_summary *sum, char *err, size_t errlen)
{
    struct col c = {.cfg = cfg, .w = cfg->w, .ep = -1, .sigfd = -1, .timerfd = -1};
    c.page = sysconf(_SC_PAGESIZE);
    int ret = setup(&c, err, errlen);
    if (ret == 0) {
        loop(&c);
        wrap_up(&c);
    }
    sum->child_status = c.child_status;
    sum->streams = c.next_id;
    sum->events = c.events;
    for (size_t i = 0; i < c.ns; i++) {
        col_close_conn(&c, c.s[i]);
        col_stream_free(c.s[i]);
    }
    free(c.s);
    free(c.reaped);
    free(c.spawns);
    free(c.blob);
    free(c.hello_buf);
    if (c.ep >= 0)
        close(c.ep);
    if (c.sigfd >= 0)
        close(c.sigfd);
    if (c.timerfd >= 0)
        close(c.timerfd);
    close(cfg->listen_fd);
    return ret;
}
