/* SPDX-License-Identifier: MIT
 *
 * col_stream.c - the life of a stream (one process image): created on a
 * connection or by its parent's fork, numbered and announced by an
 * HG_REC_PROCESS when it starts, ended by an HG_REC_PROCESS_END with the
 * best status known: the one waitpid gives (this process is a child
 * subreaper), else the runtime's RT_REC_EXIT, else unknown. An image that
 * is gone (EOF, or a new image of its pid) is drained and ended here; what
 * an ended stream no longer needs is freed at once.
 */
#include "profiler/collector/col_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct col_stream *col_stream_new(struct col *c)
{
    if (c->ns == c->cap) {
        size_t n = c->cap ? c->cap * 2 : 16;
        struct col_stream **v = realloc(c->s, n * sizeof *v);
        if (!v)
            return NULL;
        c->s = v;
        c->cap = n;
    }
    struct col_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fd = -1;
    s->statm_fd = -1;
    c->s[c->ns++] = s;
    return s;
}

static void free_queues(struct col_stream *s)
{
    for (size_t i = 0; s->q && i < RT_SHM_RINGS; i++)
        free(s->q[i].v);
    free(s->q);
    s->q = NULL;
}

/* What an ended stream no longer needs: a program that forks thousands of
 * children keeps only their small stream structs until the end. */
static void free_encoder(struct col_stream *s)
{
    col_live_release(&s->live);
    for (int k = 0; k < HG_EV_COLUMNS; k++) {
        free(s->col[k].p);
        s->col[k] = (struct col_column){0};
    }
    s->ev_room = 0;
    for (size_t i = 0; i < s->nthr; i++)
        free(s->thr[i]);
    free(s->thr);
    s->thr = NULL;
    s->nthr = 0;
    free(s->ed);
    free(s->po);
    free(s->pp);
    s->ed = s->po = s->pp = NULL;
    s->ed_len = s->ed_cap = s->po_len = s->po_cap = s->pp_len = s->pp_cap = 0;
}

void col_stream_free(struct col_stream *s)
{
    free_queues(s);
    free_encoder(s);
    free(s->argv);
    free(s->exe);
    free(s);
}

/* The stream of pid in one of the given states that appeared last. */
struct col_stream *col_find_pid(struct col *c, pid_t pid, unsigned states)
{
    for (size_t i = c->ns; i-- > 0;)
        if (c->s[i]->pid == pid && (states & 1u << c->s[i]->state))
            return c->s[i];
    return NULL;
}

static void put_cmdline(struct col *c, const struct col_stream *s)
{
    col_put_str(c->w, s->exe ? s->exe : "", s->exe_len);
    size_t argc = 0;
    for (size_t i = 0; i < s->argv_len; i++)
        argc += s->argv[i] == 0 || i + 1 == s->argv_len;
    col_put_u(c->w, argc);
    for (size_t i = 0, start = 0; i < s->argv_len; i++) {
        if (s->argv[i] == 0 || i + 1 == s->argv_len) {
            size_t end = s->argv[i] == 0 ? i : i + 1;
            col_put_str(c->w, s->argv + start, end - start);
            start = i + 1;
        }
    }
}

/* Gives the stream its number and writes its HG_REC_PROCESS. */
void col_stream_start(struct col *c, struct col_stream *s, uint32_t origin,
                         const struct col_stream *parent, uint64_t time_ns)
{
    s->state = COL_ST_LIVE;
    s->id = ++c->next_id;
    s->origin = origin;
    s->parent_id = parent ? parent->id : 0;
    col_rec_begin(c->w, HG_REC_PROCESS);
    col_put_u(c->w, s->id);
    col_put_u(c->w, (uint64_t)s->pid);
    col_put_u(c->w, (uint64_t)s->ppid);
    col_put_u(c->w, s->parent_id);
    col_put_u(c->w, origin);
    col_put_u(c->w, col_to_us(c, time_ns));
    put_cmdline(c, s);
    col_rec_end(c->w);
}

void col_stream_end(struct col *c, struct col_stream *s, unsigned how, uint64_t code, unsigned flags)
{
    col_flush_events(c, s);
    col_rec_begin(c->w, HG_REC_PROCESS_END);
    col_put_u(c->w, s->id);
    col_put_u(c->w, col_to_us(c, s->have_exit ? s->exit_ns : col_now_ns()));
    col_put_u(c->w, how);
    col_put_u(c->w, code);
    col_put_u(c->w, flags | (s->exit_snapshot ? HG_END_F_SNAPSHOT : 0));
    col_rec_end(c->w);
    s->state = COL_ST_ENDED;
    s->end_how = how;
    s->end_pending = 0;
    free_encoder(s);
}

void col_stream_end_status(struct col *c, struct col_stream *s, int status)
{
    if (WIFSIGNALED(status))
        col_stream_end(c, s, HG_END_SIGNAL, (uint64_t)WTERMSIG(status), WCOREDUMP(status) ? HG_END_F_CORE : 0);
    else
        col_stream_end(c, s, HG_END_EXIT, (uint64_t)WEXITSTATUS(status), 0);
}

/* Ends a stream whose image is gone, with the best status known now. */
void col_stream_end_known(struct col *c, struct col_stream *s)
{
    if (s->have_exit)
        col_stream_end(c, s, HG_END_EXIT, s->exit_status, 0);
    else
        col_stream_end(c, s, HG_END_UNKNOWN, 0, 0);
}

int col_copy_str(char **dst, size_t *dlen, const char *src, size_t len)
{
    *dst = malloc(len + 1);
    if (!*dst)
        return -1;
    memcpy(*dst, src, len);
    (*dst)[len] = 0;
    *dlen = len;
    return 0;
}

static void close_fd(struct col *c, struct col_stream *s)
{
    if (s->fd >= 0) {
        epoll_ctl(c->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
        c->open_conns--;
    }
}

void col_close_conn(struct col *c, struct col_stream *s)
{
    close_fd(c, s);
    if (s->shm) {
        munmap(s->shm, RT_SHM_SIZE);
        s->shm = NULL;
    }
    free_queues(s);
    if (s->statm_fd >= 0) {
        close(s->statm_fd);
        s->statm_fd = -1;
    }
}

int col_reaped_status(struct col *c, pid_t pid, int *status)
{
    for (size_t i = 0; i < c->nreaped; i++) {
        if (c->reaped[i].pid == pid) {
            *status = c->reaped[i].status;
            c->reaped[i] = c->reaped[--c->nreaped];
            return 1;
        }
    }
    return 0;
}

pid_t col_parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold anything */
    int ppid;
    return p && sscanf(p + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* 1 when pid is this process or one of its descendants, -1 when it is
 * gone already. This process is a child subreaper, so a descendant whose
 * parent died is now its child. */
int col_of_this_run(pid_t pid)
{
    for (int depth = 0; pid > 1 && depth < 4096; depth++) {
        if (pid == getpid())
            return 1;
        pid_t parent = col_parent_of(pid);
        if (parent < 0 && depth == 0)
            return -1;
        pid = parent;
    }
    return 0;
}

/* 1 while pid is a process that has not ended (a zombie has). */
static int running(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

void col_after_hold(struct col *c, struct col_stream *s)
{
    if (!s->gone)
        return;
    s->gone = 0;
    if (running(s->pid))
        s->unlinked = 1;   /* it closed the connection itself and runs on */
    else
        col_image_gone(c, s, 0);
}

/* A held fork child whose parent's RT_REC_FORK cannot come any more starts
 * without its inherited blocks; a late fork record only marks it. */
static void start_alone(struct col *c, struct col_stream *s, struct col_stream *parent)
{
    s->alone = 1;
    col_stream_start(c, s, HG_ORIGIN_FORK, parent, s->hello_ns);
    col_after_hold(c, s);
}

static void resolve(struct col *c, struct col_stream *s, int depth);

/* One step towards the RT_REC_FORK of held child s: its parent's HELLO
 * read, the parent itself started if it is held too, its rings drained.
 * Returns 0 when the parent cannot bring the fork any more. */
static int reach_parent(struct col *c, struct col_stream *s, int depth)
{
    struct col_stream *p = col_find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_HELD);
    if (!p) {
        col_read_hellos(c, NULL);
        p = col_find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_HELD);
    }
    if (p && p->state == COL_ST_HELD && depth < 64)
        resolve(c, p, depth + 1);
    if (!p || p->state != COL_ST_LIVE)
        return 0;
    if (!p->shm)
        col_read_hellos(c, NULL);   /* it may join the stream its parent's fork started */
    if (p->shm)
        col_drain(c, p, COL_DRAIN_MERGE);
    return p->shm != NULL;
}

/* Waits up to COL_HOLD_NS from the hold for a parent that can still bring
 * the fork: one descheduled between its fork and the record under a loaded
 * machine took over 10 ms. */
static void resolve(struct col *c, struct col_stream *s, int depth)
{
    while (s->state == COL_ST_HELD && col_now_ns() - s->held_ns < COL_HOLD_NS) {
        if (!reach_parent(c, s, depth))
            break;
        struct timespec ts = {0, 200000};
        if (s->state == COL_ST_HELD)
            nanosleep(&ts, NULL);
    }
    if (s->state == COL_ST_HELD)
        start_alone(c, s, col_find_pid(c, s->ppid, 1u << COL_ST_LIVE | 1u << COL_ST_ENDED));
}

/* A held fork child must start now (it asked for a snapshot, or it waited
 * too long): give its parent (and a held grandparent...) a few chances to
 * merge the RT_REC_FORK, which starts it with its inherited blocks; start
 * it without them if that fails. */
void col_resolve_held(struct col *c, struct col_stream *s)
{
    resolve(c, s, 0);
}

void col_resolve_stale(struct col *c, uint64_t now)
{
    for (size_t i = 0; i < c->ns; i++)
        if (c->s[i]->state == COL_ST_HELD && now - c->s[i]->held_ns > COL_HOLD_NS)
            col_resolve_held(c, c->s[i]);
}

static void start_held_children(struct col *c, struct col_stream *parent)
{
    for (size_t i = 0; i < c->ns; i++) {
        struct col_stream *h = c->s[i];
        if (h->state == COL_ST_HELD && h->ppid == parent->pid)
            start_alone(c, h, parent);
    }
}

void col_conn_closed(struct col *c, struct col_stream *s)
{
    int status;
    if (s->state != COL_ST_LIVE || !s->shm || s->exec_pending || !running(s->pid)) {
        col_image_gone(c, s, 0);
        return;
    }
    if (col_reaped_status(c, s->pid, &status)) { /* put back: it is gone after all */
        c->reaped[c->nreaped++] = (struct col_reaped){s->pid, status};
        col_image_gone(c, s, 0);
        return;
    }
    close_fd(c, s);
    s->unlinked = 1;
}

void col_check_orphans(struct col *c)
{
    for (size_t i = 0; i < c->ns; i++)
        if (c->s[i]->unlinked && c->s[i]->state == COL_ST_LIVE && !running(c->s[i]->pid))
            col_image_gone(c, c->s[i], 0);
}

/* The image behind s is gone (EOF, or a new image of its pid said HELLO):
 * drain what it left, then end the stream now or once waitpid says how. */
void col_image_gone(struct col *c, struct col_stream *s, int exec_seen)
{
    if (s->state == COL_ST_NEW || s->state == COL_ST_MOVED) {
        col_close_conn(c, s);
        s->state = COL_ST_MOVED;
        return;
    }
    if (s->state == COL_ST_HELD && !exec_seen) {
        /* Its rings keep what it published until its parent's fork starts
         * it (col_on_fork), or it waited too long (col_resolve_stale). */
        close_fd(c, s);
        s->gone = 1;
        return;
    }
    col_resolve_held(c, s);
    col_drain(c, s, COL_DRAIN_FINAL);
    col_flush_edges(c, s);
    /* the runtime sets degraded with every loss it says; one it could not
     * say (no ring left for a note) is still a loss */
    if (s->shm && atomic_load(&s->shm->degraded) && !s->losses)
        col_loss(c, s, "the runtime of process %d lost events", (int)s->pid);
    col_close_conn(c, s);
    s->unlinked = 0;
    int status;
    if (s->state != COL_ST_LIVE)
        return;
    if (s->exec_pending || exec_seen)
        col_stream_end(c, s, HG_END_EXEC, 0, 0);
    else if (col_reaped_status(c, s->pid, &status))
        col_stream_end_status(c, s, status);
    else if (s->pid == c->cfg->child || col_parent_of(s->pid) == getpid())
        s->end_pending = 1; /* ours to reap: SIGCHLD brings the status */
    else
        col_stream_end_known(c, s);
    start_held_children(c, s);
}
