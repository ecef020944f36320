/* SPDX-License-Identifier: MIT
 *
 * col_origin.c - where streams come from (enum hg_origin). A HELLO maps the
 * image's rings and starts a stream: the launched program (ROOT), an exec'd
 * image whose stream the exec ended (EXEC), or a program started some other
 * way (SPAWN). A fork child (FORK) waits, held, until its parent's
 * RT_REC_FORK is merged, which starts its stream with the blocks it
 * inherited; a child whose parent's fork came first joins the stream that
 * fork started.
 *
 * Every image must be one stream, whatever the order in which the HELLOs,
 * the fork records and the ends of fast processes reach the collector. A
 * child that forks at once may say HELLO before its own parent's fork is
 * merged (its parent is still held or not connected yet), or before its
 * parent's HELLO was read: it is held all the same, as long as its parent
 * may still merge the fork. A child held too long, or that must answer a
 * snapshot, starts alone (col_resolve_held); its parent's fork, should it
 * come later, then marks that stream instead of starting a second one.
 */
#include "profiler/collector/col_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The parent's RT_REC_FORK, in time order: the child's stream starts here
 * with the parent's live blocks; its rings are drained from now on. */
void col_on_fork(struct col *c, struct col_stream *parent, uint32_t thread, uint64_t t, pid_t pid)
{
    struct col_stream *ch = col_find_pid(c, pid, 1u << COL_ST_HELD);
    struct col_stream *alone = col_find_pid(c, pid, 1u << COL_ST_LIVE | 1u << COL_ST_ENDED);
    if (!ch && alone && alone->alone && alone->ppid == parent->pid) {
        col_emit_mark(c, parent, thread, t, HG_MARK_FORK, alone->id);
        return;
    }
    if (!ch) {
        ch = col_stream_new(c);
        if (!ch) {
            col_emit_mark(c, parent, thread, t, HG_MARK_FORK, 0);
            return;
        }
        ch->pid = pid;
        ch->ppid = parent->pid;
        if (parent->argv)
            col_copy_str(&ch->argv, &ch->argv_len, parent->argv, parent->argv_len);
        if (parent->exe)
            col_copy_str(&ch->exe, &ch->exe_len, parent->exe, parent->exe_len);
    }
    col_stream_start(c, ch, HG_ORIGIN_FORK, parent, t);
    col_write_forked(c, ch, parent);
    /* the reader gives the child its blocks at this mark: it must come
     * before any event of the child */
    col_emit_mark(c, parent, thread, t, HG_MARK_FORK, ch->id);
    col_flush_events(c, parent);
    col_after_hold(c, ch);
}

/* Drops the spawned program `pid` from those awaited. */
static void forget_spawn(struct col *c, pid_t pid)
{
    for (size_t i = 0; i < c->nspawns; i++)
        if (c->spawns[i].pid == pid)
            c->spawns[i--] = c->spawns[--c->nspawns];
}

/* 1 when program `pid` said HELLO as a program started some other way. */
static int spawn_said_hello(const struct col *c, pid_t pid)
{
    for (size_t i = 0; i < c->ns; i++)
        if (c->s[i]->pid == pid && c->s[i]->origin == HG_ORIGIN_SPAWN && c->s[i]->hello_ns)
            return 1;
    return 0;
}

void col_on_spawn(struct col *c, const struct col_stream *parent, pid_t pid, int failed)
{
    forget_spawn(c, pid);
    if (failed || spawn_said_hello(c, pid))
        return;
    if (c->nspawns == c->spawns_cap) {
        size_t n = c->spawns_cap ? c->spawns_cap * 2 : 8;
        struct col_spawn *v = realloc(c->spawns, n * sizeof *v);
        if (!v) {
            col_note(c, NULL, "out of memory noting the program process %d started", (int)pid);
            return;
        }
        c->spawns = v;
        c->spawns_cap = n;
    }
    c->spawns[c->nspawns++] = (struct col_spawn){pid, parent->pid};
}

static int map_rings(struct col *c, struct col_stream *s, int memfd)
{
    /* sealed against shrinking: a peer cutting the memfd short under the
     * collector's mapping would make its reads fault (SIGBUS) */
    struct stat st;
    int seals = memfd < 0 ? -1 : fcntl(memfd, F_GET_SEALS);
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
        fstat(memfd, &st) < 0 || (uint64_t)st.st_size < RT_SHM_SIZE)
        return -1;
    void *p = mmap(NULL, RT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (p == MAP_FAILED)
        return -1;
    struct rt_shm *shm = p;
    uint32_t clock = shm->clock;
    if (shm->magic != RT_SHM_MAGIC || shm->version != RT_PROTO_VERSION ||
        shm->nrings != RT_SHM_RINGS || shm->ring_slots != RT_RING_SLOTS ||
        (clock != RT_CLOCK_MONOTONIC && !(clock == RT_CLOCK_TSC && col_tsc_read())) ||
        shm->fence > RT_FENCE_MEMBARRIER ||
        !(s->q = calloc(RT_SHM_RINGS, sizeof *s->q))) {
        munmap(p, RT_SHM_SIZE);
        return -1;
    }
    s->shm = shm;
    s->tsc = clock == RT_CLOCK_TSC;
    s->membarrier = shm->fence == RT_FENCE_MEMBARRIER;
    if (s->tsc)
        col_tsc_calibrate(c);
    return 0;
}

/* Moves the connection of `from` (a fork child's HELLO) into `to`, the
 * stream its parent's RT_REC_FORK already started. */
static void move_conn(struct col *c, struct col_stream *from, struct col_stream *to)
{
    to->fd = from->fd;
    to->peer = from->peer;
    to->shm = from->shm;
    to->tsc = from->tsc;
    to->membarrier = from->membarrier;
    to->q = from->q;
    from->q = NULL;
    to->statm_fd = from->statm_fd;
    to->hello_ns = from->hello_ns;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = to};
    epoll_ctl(c->ep, EPOLL_CTL_MOD, to->fd, &e);
    from->fd = -1;
    from->shm = NULL;
    from->statm_fd = -1;
    from->state = COL_ST_MOVED;
}

/* HELLO of a forked child: join the stream its parent's fork started, or
 * wait for that fork to be merged. Only a parent whose stream has ended
 * (drained to its last record) can no longer bring it: then the child
 * starts alone. A parent not known yet is still to say HELLO: a child is
 * recorded only if its parent was at the fork. */
static struct col_stream *hello_fork(struct col *c, struct col_stream *s)
{
    struct col_stream *r = col_find_pid(c, s->pid, 1u << COL_ST_LIVE);
    if (r && r != s && r->fd < 0 && !r->shm && r->origin == HG_ORIGIN_FORK) {
        move_conn(c, s, r);
        return r;
    }
    struct col_stream *open = col_find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_HELD);
    struct col_stream *ended = col_find_pid(c, s->ppid, 1u << COL_ST_ENDED);
    if (open || !ended) {
        s->state = COL_ST_HELD;
        s->held_ns = col_now_ns();
    } else {
        s->alone = 1;
        col_stream_start(c, s, HG_ORIGIN_FORK, ended, s->hello_ns);
    }
    return s;
}

/* HELLO of a fresh image: after an exec of a recorded image, the root
 * program, or a program started some other way (posix_spawn, vfork). */
static void hello_image(struct col *c, struct col_stream *s)
{
    forget_spawn(c, s->pid);
    struct col_stream *old = col_find_pid(c, s->pid, 1u << COL_ST_LIVE | 1u << COL_ST_HELD);
    if (old == s)
        old = NULL;
    if (old && old->state == COL_ST_HELD)
        col_resolve_held(c, old);   /* the exec'd image needs its stream number */
    if (old) {
        old->exec_pending = 1;
        col_image_gone(c, old, 1);
    }
    struct col_stream *prev = old ? old : col_find_pid(c, s->pid, 1u << COL_ST_ENDED);
    if (prev && prev->exec_pending)
        col_stream_start(c, s, HG_ORIGIN_EXEC, prev, s->hello_ns);
    else if (s->pid == c->cfg->child)
        col_stream_start(c, s, HG_ORIGIN_ROOT, NULL, s->hello_ns);
    else
        col_stream_start(c, s, HG_ORIGIN_SPAWN,
                     col_find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_ENDED), s->hello_ns);
}

/* HELLO of a child the runtime could not record (ring.h, RT_ORIGIN_UNSEEN). */
static void hello_unseen(struct col *c, struct col_stream *s, const struct rt_msg *m,
                         const uint8_t *data, size_t len)
{
    size_t n = m->argv_len < len ? m->argv_len : len;
    col_loss(c, NULL, "process %d (child of %d: %.*s) was made by a clone or fork system call "
             "that ran no fork handler (raw clone, clone3, syscall(SYS_fork), _Fork): not recorded",
             (int)m->pid, (int)m->ppid, (int)strnlen((const char *)data, n), (const char *)data);
    col_close_conn(c, s);
    s->state = COL_ST_MOVED;
}

/* HELLO of an image whose program closed its first connection: the stream
 * goes on with this one. */
static void hello_again(struct col *c, struct col_stream *s)
{
    struct col_stream *t = col_find_pid(c, s->peer, 1u << COL_ST_LIVE);
    if (!t || t == s || !t->shm || s->peer_gone) {
        col_close_conn(c, s);
        s->state = COL_ST_MOVED;
        return;
    }
    if (t->fd >= 0) { /* its EOF is still on the way */
        epoll_ctl(c->ep, EPOLL_CTL_DEL, t->fd, NULL);
        close(t->fd);
        c->open_conns--;
    }
    t->fd = s->fd;
    t->unlinked = 0;
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = t};
    epoll_ctl(c->ep, EPOLL_CTL_MOD, t->fd, &e);
    s->fd = -1;
    s->state = COL_ST_MOVED;
    col_note(c, t, "the program closed the runtime's control connection; the runtime connected again");
}

/* A peer that had exited when it was accepted (a short-lived child) cannot
 * show its ancestry any more: it is one of this run when this process
 * reaped it, or when the parent it names is a process of the run. */
static int vouched(struct col *c, const struct col_stream *s, const struct rt_msg *m)
{
    if (!s->peer_gone)
        return 1;
    for (size_t i = 0; i < c->nreaped; i++)
        if (c->reaped[i].pid == s->peer)
            return 1;
    unsigned any = 1u << COL_ST_LIVE | 1u << COL_ST_ENDED | 1u << COL_ST_HELD;
    return col_find_pid(c, m->ppid, any) || col_of_this_run(m->ppid) == 1;
}

struct col_stream *col_on_hello(struct col *c, struct col_stream *s, const struct rt_msg *m,
                                   const uint8_t *data, size_t len, int memfd)
{
    if (m->origin == RT_ORIGIN_RECONNECT && s->state == COL_ST_NEW) {
        if (memfd >= 0)
            close(memfd);
        hello_again(c, s);
        return s;
    }
    if (m->origin == RT_ORIGIN_UNSEEN && s->state == COL_ST_NEW && m->pid == s->peer &&
        vouched(c, s, m)) {
        if (memfd >= 0)
            close(memfd);
        hello_unseen(c, s, m, data, len);
        return s;
    }
    int mapped = s->state == COL_ST_NEW && map_rings(c, s, memfd) == 0;
    if (memfd >= 0)
        close(memfd);
    if (!mapped || (size_t)m->argv_len + m->exe_len > len) {
        col_note(c, NULL, "process %d: bad HELLO (protocol version or rings); not recorded", (int)m->pid);
        col_close_conn(c, s);
        s->state = COL_ST_MOVED;
        return s;
    }
    if (m->pid != s->peer || !vouched(c, s, m)) {
        col_note(c, NULL, "refused a HELLO from process %d that said it was process %d%s",
                 (int)s->peer, (int)m->pid, m->pid == s->peer ? " of no process of this run" : "");
        col_close_conn(c, s);
        s->state = COL_ST_MOVED;
        return s;
    }
    col_read_hellos(c, s);
    s->pid = m->pid;
    s->ppid = m->ppid;
    s->hello_ns = m->time_ns;
    col_copy_str(&s->argv, &s->argv_len, (const char *)data, m->argv_len);
    col_copy_str(&s->exe, &s->exe_len, (const char *)data + m->argv_len, m->exe_len);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)s->pid);
    s->statm_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->origin == RT_ORIGIN_FORK)
        return hello_fork(c, s);
    hello_image(c, s);
    return s;
}
