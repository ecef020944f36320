/* SPDX-License-Identifier: MIT
 *
 * col_snap.c - the live set of a snapshot. When a runtime asks for a
 * snapshot its other threads are stopped, so the collector drains
 * everything it published, writes the HG_REC_SNAPSHOT with the live blocks
 * at that point of the event stream, and sends the runtime the same list in
 * a memfd (RT_MSG_SNAP_LIVE); the runtime scans against it and sends roots
 * and edges back through its rings.
 */
#include "profiler/collector/col_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int send_live(struct col_stream *s, const struct rt_msg *req, const struct col_block *v, size_t n)
{
    int fd = memfd_create("heapgraph-live", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t bytes = n * sizeof(struct rt_live);
    struct rt_live *lv = NULL;
    if (n && ftruncate(fd, (off_t)bytes) == 0) {
        lv = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (lv == MAP_FAILED)
            lv = NULL;
    }
    if (n && !lv) {
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        lv[i] = (struct rt_live){.addr = v[i].addr, .size = v[i].size};
    if (lv)
        munmap(lv, bytes);
    struct rt_msg msg = {.type = RT_MSG_SNAP_LIVE, .pid = req->pid, .snapshot_id = req->snapshot_id,
                         .count = n, .time_ns = req->time_ns};
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = &msg, .iov_len = sizeof msg};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    ssize_t k = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
    close(fd);
    return k == (ssize_t)sizeof msg ? 0 : -1;
}

/* RT_MSG_SNAP_REQ: the process's other threads are stopped, so everything
 * it published is final. The live set after it is the snapshot's block
 * list; the runtime scans against it and then sends roots and edges. */
void col_on_snap_req(struct col *c, struct col_stream *s, const struct rt_msg *m)
{
    col_resolve_held(c, s);
    if (s->state != COL_ST_LIVE)
        return;
    col_drain(c, s, COL_DRAIN_FINAL);
    col_emit_mark(c, s, s->last_thread, m->time_ns, HG_MARK_SNAPSHOT, m->snapshot_id);
    col_flush_events(c, s);
    size_t n = s->live.count;
    struct col_block *v = col_live_sorted(&s->live);
    if (n && !v) {
        col_note(c, s, "out of memory listing the live blocks of snapshot %u", m->snapshot_id);
        n = 0;
    }
    col_rec_begin(c->w, HG_REC_SNAPSHOT);
    col_put_u(c->w, s->id);
    col_put_u(c->w, m->snapshot_id);
    col_put_u(c->w, col_to_us(c, m->time_ns));
    col_put_u(c->w, m->reason);
    col_put_u(c->w, n);
    col_rec_end(c->w);
    s->snap_id = m->snapshot_id;
    s->snap_reason = m->reason;
    s->ed_total = 0;
    if (send_live(s, m, v, n) < 0)
        col_note(c, s, "snapshot %u: could not send the live blocks: %s", m->snapshot_id, strerror(errno));
    free(v);
}
