/* SPDX-License-Identifier: MIT
 *
 * rt_proc.c - the process image: start, fork, exec, exit.
 *
 * Start: without RT_ENV_SOCK the runtime stays passive (hooks pass straight
 * through). Otherwise it connects to the collector's abstract SOCK_SEQPACKET
 * socket, creates the shared memory (a sparse memfd of RT_SHM_SIZE), sends
 * HELLO with the memfd, argv and executable, registers the calling thread
 * and sends the module map. The exit handler is registered first, so it runs
 * after the program's own handlers and C++ destructors: it takes the exit
 * snapshot and sends RT_REC_EXIT.
 *
 * Fork: the parent stamps the time before fork (under busy) and sends
 * RT_REC_FORK after. The child, in the first atfork child handler, drops the
 * parent's state and starts over as a new image (origin FORK). Exec: EXEC
 * before (and after a failed exec), with LD_PRELOAD and RT_ENV_SOCK put back
 * into the new environment when the program dropped them; the new image
 * learns that it came from an exec through HEAPGRAPH_EXEC_PID. A program
 * started with posix_spawn, or exec'd by a vfork child, is announced with
 * RT_REC_SPAWN, so that the collector notes it if it never says HELLO.
 */
#include "profiler/runtime/rt_proc.h"

#include "profiler/runtime/rt_fds.h"
#include "profiler/runtime/rt_hooks.h"
#include "profiler/runtime/rt_module.h"
#include "profiler/runtime/rt_pyexit.h"
#include "profiler/runtime/rt_pyframe.h"
#include "profiler/runtime/rt_pymem.h"
#include "profiler/runtime/rt_rec.h"
#include "profiler/runtime/rt_scan.h"
#include "profiler/runtime/rt_stack.h"
#include "profiler/runtime/rt_thread.h"
#include "profiler/runtime/unwind.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ENV_EXEC_PID "HEAPGRAPH_EXEC_PID"
#define MAX_ARGV 65536
#define MAX_PATH 4096

struct rt_image rt_image;

static struct rt_shm *shm;
static int sock = -1;
static pid_t my_pid;
static char sock_name[108];
static char self_path[MAX_PATH];   /* this library, as the dynamic linker found it */

static uintptr_t clean_sp, exit_sp;
static pid_t exit_tid;
static int main_returned, exit_called;
static _Atomic int exit_snapshot_taken;
static int forked_image; /* this image began as a fork child: it inherited blocks */

static void exit_handler(int status, void *arg);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
static void unseen_child(void);

/* Outside the wiped page: the pid of the image that started recording, and
 * whether a fork that runs the handlers is under way. */
static pid_t recording_pid;
static ino_t sock_ino; /* of the runtime's connection (sock_ours) */
static _Atomic int forking;

/* ---- small helpers ---------------------------------------------------- */

int rt_proc_recording(void)
{
    return atomic_load_explicit(&rt_image.connected, memory_order_relaxed);
}

int rt_proc_no_blocks(void)
{
    return !forked_image && !atomic_load(&rt_image.made);
}

struct rt_shm *rt_proc_shm(void)
{
    return shm;
}

uintptr_t rt_proc_clean_sp(void)
{
    return clean_sp;
}

uintptr_t rt_proc_exit_sp(void)
{
    return exit_sp;
}

pid_t rt_proc_exit_tid(void)
{
    return exit_tid;
}

static uintptr_t stack_pointer(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    return sp;
}

/* What a hook that is not an allocation needs: recording, and not a vfork
 * child sharing the parent's memory. */
static int active(void)
{
    return rt_proc_recording() && !rt_tls.guard && getpid() == my_pid;
}

/* A vfork child: it runs on its parent's memory, in the thread its parent
 * suspended until the child execs or ends, so the thread's ring is its own
 * for that while, if it has one: registering the thread from the child
 * would put the child's tid in the parent's registry. (A clone sharing
 * memory without CLONE_VFORK would share a running thread's TLS, which
 * libc itself does not survive.) */
static int vfork_child(void)
{
    return rt_proc_recording() && !rt_tls.guard && rt_tls.ring && getpid() != my_pid;
}

/* 1 while sock is still the runtime's connection: a program that closes
 * the descriptors it inherited (a daemon) may have closed it, and its
 * number may now belong to a file or socket of the program's own, which
 * the runtime must never read or write. */
static int sock_ours(void)
{
    struct stat st;
    return sock >= 0 && fstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == sock_ino;
}

static int send_hello(uint32_t origin, int memfd);
static int dial(void);

/* Connects again when the program closed the connection (recording went on
 * through the rings meanwhile); the collector finds the image by pid.
 * Returns 0 when sock is the runtime's, -1 when the collector cannot be
 * reached. */
static int relink(void)
{
    static atomic_flag busy = ATOMIC_FLAG_INIT;
    if (sock_ours())
        return 0;
    if (atomic_flag_test_and_set(&busy))
        return 0; /* another thread is at it */
    int e = errno;
    sock = dial();
    int ok = sock >= 0 && send_hello(RT_ORIGIN_RECONNECT, -1) == 0;
    if (!ok && sock >= 0)
        rt_fds_close(sock);
    if (!ok)
        sock = -1;
    atomic_flag_clear(&busy);
    errno = e;
    return ok ? 0 : -1;
}

int rt_proc_collector_gone(void)
{
    if (relink() < 0)
        return 1;
    int e = errno;
    char c;
    ssize_t n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    int gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    errno = e;
    return gone;
}

void rt_proc_stop_recording(void)
{
    if (!atomic_exchange(&rt_image.connected, 0))
        return;
    atomic_store(&rt_image.mode, RT_MODE_PASSIVE);
    rt_degrade("the collector went away; recording stopped");
}

static void push_simple(uint32_t type, uint64_t a, uint64_t b)
{
    int how = rt_pub_begin(1);
    if (how == RT_PUB_NONE)
        return;
    struct rt_rec r = { .type = type, .time_ns = rt_event_time(), .a = a, .b = b };
    rt_pub_write(how, &r, 1);
    rt_pub_end(how);
}

/* ---- connecting ------------------------------------------------------- */

static int read_file(const char *path, char *buf, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < max) {
        ssize_t k = read(fd, buf + n, max - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    return (int)n;
}

static int send_hello(uint32_t origin, int memfd)
{
    size_t cap = sizeof(struct rt_msg) + MAX_ARGV + MAX_PATH;
    char *buf = rt_arena_alloc(cap);
    if (!buf)
        return -1;
    struct rt_msg *m = (struct rt_msg *)buf;
    char *argv = buf + sizeof *m;
    int alen = read_file("/proc/self/cmdline", argv, MAX_ARGV);
    if (alen < 0)
        alen = 0;
    while (alen > 0 && alen == MAX_ARGV && argv[alen - 1] != 0)
        alen--; /* cut at an argument boundary */
    ssize_t elen = readlink("/proc/self/exe", argv + alen, MAX_PATH);
    if (elen < 0)
        elen = 0;
    *m = (struct rt_msg){ .type = RT_MSG_HELLO, .origin = origin, .pid = getpid(),
                          .ppid = getppid(), .time_ns = rt_now_ns(),
                          .argv_len = (uint32_t)alen, .exe_len = (uint32_t)elen };
    struct iovec iov = { buf, sizeof *m + (size_t)alen + (size_t)elen };
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.space, .msg_controllen = sizeof ctl.space };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &memfd, sizeof memfd);
    if (memfd < 0) { /* a HELLO that hands over no rings */
        msg.msg_control = NULL;
        msg.msg_controllen = 0;
    }
    ssize_t sent = sendmsg(sock, &msg, MSG_NOSIGNAL);
    rt_arena_free(buf, cap);
    return sent == (ssize_t)iov.iov_len ? 0 : -1;
}

/* Why the last connect_collector failed, when it was not the socket. */
static const char *shm_error;

/* Sizes the memfd. Past RLIMIT_FSIZE (ulimit -f) ftruncate raises SIGXFSZ,
 * whose default action would end the program: the signal is blocked around
 * the call and a SIGXFSZ it raised is taken back, leaving EFBIG. */
static int size_memfd(int fd)
{
    sigset_t xfsz, old, pending;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &xfsz, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGXFSZ);
    int r = ftruncate(fd, (off_t)RT_SHM_SIZE);
    int e = errno;
    if (r < 0 && e == EFBIG && !was_pending) {
        struct timespec zero = { 0, 0 };
        sigtimedwait(&xfsz, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

static struct rt_shm *make_shm(int *memfd)
{
    *memfd = memfd_create("heapgraph-rt", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (*memfd < 0)
        return NULL;
    if (size_memfd(*memfd) < 0) {
        if (errno == EFBIG)
            shm_error = "the file-size limit (ulimit -f) is below the size of the ring memory; not recording";
        return NULL;
    }
    /* the collector maps it too: it must not be cut short under it */
    if (fcntl(*memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return NULL;
    void *p = rt_raw_mmap(NULL, RT_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *memfd, 0);
    if (p == MAP_FAILED)
        return NULL;
    rt_region_add((uintptr_t)p, RT_SHM_SIZE);
    struct rt_shm *s = p;
    s->magic = RT_SHM_MAGIC;
    s->version = RT_PROTO_VERSION;
    s->nrings = RT_SHM_RINGS;
    s->ring_slots = RT_RING_SLOTS;
    s->clock = rt_clock_choose();
    s->fence = rt_fence_choose();
    return s;
}

static void unmap_shm(void)
{
    rt_region_remove((uintptr_t)shm);
    rt_raw_munmap(shm, RT_SHM_SIZE);
}

/* Connects, creates the shared memory and says HELLO. Returns -1 with
 * nothing left open on failure. */
/* A new connection to the collector, or -1; sock_ino learns its inode. */
static int dial(void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t len = strlen(sock_name);
    memcpy(addr.sun_path, sock_name, len);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr,
                           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1)) < 0) {
        close(fd);
        fd = -1;
    }
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0)
        sock_ino = st.st_ino;
    rt_fds_own(fd);
    return fd;
}

static int connect_collector(uint32_t origin)
{
    sock = dial();
    if (sock < 0)
        return -1;
    int memfd = -1;
    shm = make_shm(&memfd);
    if (!shm || send_hello(origin, memfd) < 0)
        goto fail;
    close(memfd);
    my_pid = getpid();
    rt_rec_bind(shm);
    atomic_store(&rt_image.connected, 1);
    return 0;
fail:
    if (shm)
        unmap_shm();
    shm = NULL;
    if (memfd >= 0)
        close(memfd);
    rt_fds_close(sock);
    sock = -1;
    return -1;
}

/* Registers the thread and sends the module map of a freshly connected
 * image. In a fork child this runs inside the fork, before the child
 * handlers of libraries registered after the runtime (an allocator's,
 * which releases its locks): nothing here may allocate or wait for a lock
 * that a library or the loader may hold. */
static void announce(int fork_child)
{
    rt_thread_reset();
    rt_modules_reset(fork_child);
}

static uint32_t boot_origin(void)
{
    const char *v = getenv(ENV_EXEC_PID);
    if (!v || atoi(v) != getpid())
        return RT_ORIGIN_ROOT;
    unsetenv(ENV_EXEC_PID);
    return RT_ORIGIN_EXEC;
}

static void save_self_path(void)
{
    Dl_info info;
    if (dladdr((void *)&rt_proc_boot, &info) && info.dli_fname)
        strncpy(self_path, info.dli_fname, sizeof self_path - 1);
}

static void boot(void)
{
    if (recording_pid && recording_pid != getpid()) {
        if (atomic_load(&forking))
            atomic_store(&rt_image.mode, RT_MODE_BOOT); /* fork_child comes next */
        else
            unseen_child();
        return;
    }
    if (rt_hooks_resolve() < 0) {
        atomic_store(&rt_image.mode, RT_MODE_PASSIVE);
        rt_degrade("the C library's allocator was not found; not recording");
        return;
    }
    on_exit(exit_handler, NULL);
    const char *name = getenv(RT_ENV_SOCK);
    if (!name || !*name || strlen(name) >= sizeof sock_name - 1) {
        atomic_store(&rt_image.mode, RT_MODE_PASSIVE);
        return;
    }
    strcpy(sock_name, name);
    save_self_path();
    uint32_t origin = boot_origin();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    madvise(&rt_image, sizeof rt_image, MADV_WIPEONFORK);
    rt_unwind_init();
    if (rt_stack_reset() < 0 || connect_collector(origin) < 0) {
        atomic_store(&rt_image.mode, RT_MODE_PASSIVE);
        rt_degrade(shm_error ? shm_error : "cannot reach the collector; not recording");
        return;
    }
    rt_tls.is_main = getpid() == gettid();
    announce(0);
    if (!rt_hooks_interposed())
        rt_degrade("the program has a malloc of its own (linked into it), which the runtime "
                   "cannot hook: its allocations are not recorded");
    rt_scan_init();
    recording_pid = getpid();
    rt_pymem_attach();
    rt_pyexit_attach();
    atomic_store(&rt_image.mode, RT_MODE_RECORD);
}

/* Starting runs under the guard: an allocator of the program's own that
 * starts inside it (jemalloc linked into the program) maps its memory as
 * the runtime's caller, and rt_mmap.c must see that those mappings are the
 * allocator's. */
void rt_proc_boot(void)
{
    int expect = RT_MODE_BOOT;
    if (!atomic_compare_exchange_strong(&rt_image.mode, &expect, RT_MODE_INIT))
        return;
    int g = rt_guard_enter();
    boot();
    rt_guard_leave(g);
}

__attribute__((constructor(101))) static void rt_proc_ctor(void)
{
    rt_proc_boot();
}

/* ---- snapshots -------------------------------------------------------- */

int64_t rt_proc_request_live(uint32_t snapshot_id, uint32_t reason, const struct rt_live **out)
{
    *out = NULL;
    if (!rt_proc_recording())
        return -1;
    struct rt_msg m = { .type = RT_MSG_SNAP_REQ, .pid = getpid(), .ppid = getppid(),
                        .time_ns = rt_now_ns(), .snapshot_id = snapshot_id, .reason = reason };
    if (relink() < 0 || send(sock, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m)
        return -1;
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { &m, sizeof m };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.space, .msg_controllen = sizeof ctl.space };
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int fd = -1;
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
    int64_t count = -1;
    struct stat st;
    if (n == (ssize_t)sizeof m && m.type == RT_MSG_SNAP_LIVE && m.snapshot_id == snapshot_id &&
        m.count <= INT64_MAX / sizeof(struct rt_live)) {
        if (m.count == 0) {
            count = 0;
        } else if (fd >= 0 && fstat(fd, &st) == 0 &&
                   (uint64_t)st.st_size >= m.count * sizeof(struct rt_live)) {
            void *p = rt_raw_mmap(NULL, m.count * sizeof(struct rt_live), PROT_READ, MAP_SHARED, fd, 0);
            if (p != MAP_FAILED) {
                *out = p;
                count = (int64_t)m.count;
            }
        }
    }
    if (fd >= 0)
        close(fd);
    return count;
}

void rt_proc_release_live(const struct rt_live *live, int64_t count)
{
    if (live && count > 0)
        rt_raw_munmap((void *)live, (size_t)count * sizeof *live);
}

/* ---- exit ------------------------------------------------------------- */

void rt_proc_exit_snapshot(uintptr_t sp)
{
    if (!rt_proc_recording() || getpid() != my_pid || atomic_exchange(&exit_snapshot_taken, 1))
        return;
    if (sp && !exit_sp) {
        exit_sp = sp;
        exit_tid = gettid();
    }
    rt_scan_snapshot(0);
}

static void exit_handler(int status, void *arg)
{
    (void)arg;
    if (!rt_proc_recording() || getpid() != my_pid)
        return;
    rt_pub_abandon();
    rt_proc_exit_snapshot(0);
    push_simple(RT_REC_EXIT, (uint32_t)status, main_returned ? RT_EXIT_RETURN : RT_EXIT_EXIT);
}

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

/* Runs main from a frame above all of main's: its stack pointer is the
 * main thread's clean point for the exit snapshot. */
static int main_wrapper(int argc, char **argv, char **envp)
{
    clean_sp = stack_pointer();
    int r = real_main(argc, argv, envp);
    main_returned = !exit_called;
    return r;
}

RT_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
                                void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
    int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *) =
        (int (*)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *))
            dlsym(RTLD_NEXT, "__libc_start_main");
    real_main = main;
    return real(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}

RT_EXPORT void exit(int status)
{
    static void (*real)(int);
    if (!real)
        real = (void (*)(int))dlsym(RTLD_NEXT, "exit");
    if (!exit_called) {
        exit_called = 1;
        exit_sp = stack_pointer();
        exit_tid = gettid();
    }
    real(status);
    __builtin_unreachable();
}

static void record_quick_exit(int status)
{
    if (!active())
        return;
    rt_pub_abandon();
    push_simple(RT_REC_EXIT, (uint32_t)status, RT_EXIT__EXIT);
}

RT_EXPORT void _exit(int status)
{
    static void (*real)(int);
    if (!real)
        real = (void (*)(int))dlsym(RTLD_NEXT, "_exit");
    record_quick_exit(status);
    real(status);
    __builtin_unreachable();
}

RT_EXPORT void _Exit(int status)
{
    static void (*real)(int);
    if (!real)
        real = (void (*)(int))dlsym(RTLD_NEXT, "_Exit");
    record_quick_exit(status);
    real(status);
    __builtin_unreachable();
}

/* ---- fork ------------------------------------------------------------- */

/* A fork that runs the handlers: its child must not take itself for one
 * the runtime did not see, should a hook run in it before fork_child. */
static void fork_prepare(void)
{
    if (!rt_proc_recording())
        return;
    rt_unwind_fork_prepare();
    atomic_store(&forking, 1);
}

static void fork_parent(void)
{
    rt_unwind_fork_parent();
    atomic_store(&forking, 0);
}

/* A child made by a clone or fork system call that ran no fork handler:
 * its rings are its parent's, which it must not write into. It stays
 * passive, drops what it inherited of its parent's connection and rings,
 * and tells the collector, which notes the process as not recorded. */
static void unseen_child(void)
{
    atomic_store(&rt_image.mode, RT_MODE_PASSIVE);
    rt_rec_forget();
    if (shm)
        rt_raw_munmap(shm, RT_SHM_SIZE);
    shm = NULL;
    if (sock >= 0)
        rt_fds_close(sock);
    sock = dial();
    if (sock >= 0)
        send_hello(RT_ORIGIN_UNSEEN, -1);
    if (sock >= 0)
        rt_fds_close(sock);
    sock = -1;
    static const char msg[] = "heapgraph: a process made by a clone or fork system call that ran "
                              "no fork handler is not recorded\n";
    if (write(2, msg, sizeof msg - 1) < 0)
        return;
}

/* The first atfork child handler: the child is a new process image. */
static void fork_child(void)
{
    if (!atomic_exchange(&forking, 0))
        return;
    rt_unwind_fork_child();
    int e = errno;
    int is_main = rt_tls.is_main;
    rt_said_forget();
    rt_rec_forget();
    memset(&rt_tls, 0, sizeof rt_tls);
    rt_tls.is_main = is_main;
    atomic_store(&rt_image.connected, 0);
    if (shm)
        unmap_shm();
    shm = NULL;
    if (sock >= 0)
        rt_fds_close(sock);
    sock = -1;
    exit_called = 0;
    atomic_store(&exit_snapshot_taken, 0);
    forked_image = 1;
    rt_pyf_reset();
    if (rt_stack_reset() < 0 || connect_collector(RT_ORIGIN_FORK) < 0) {
        atomic_store(&rt_image.mode, RT_MODE_PASSIVE);
        rt_degrade(shm_error ? shm_error : "forked child cannot reach the collector; not recording it");
    } else {
        announce(1);
        recording_pid = getpid();
        atomic_store(&rt_image.mode, RT_MODE_RECORD);
    }
    errno = e;
}

RT_EXPORT pid_t fork(void)
{
    static pid_t (*real)(void);
    if (!real)
        real = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
    if (!active())
        return real();
    int how = rt_pub_begin(1);
    uint64_t t = rt_event_time();
    pid_t pid = real();
    if (pid == 0)
        return 0; /* fork_child made this a new image */
    if (how != RT_PUB_NONE) {
        if (pid > 0) {
            struct rt_rec r = { .type = RT_REC_FORK, .time_ns = t, .a = (uint64_t)pid };
            rt_pub_write(how, &r, 1);
        }
        rt_pub_end(how);
    }
    return pid;
}

/* ---- exec ------------------------------------------------------------- */

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A copy of envp (in arena memory, *size bytes) that still loads the
 * runtime and finds the collector, and marks the exec for the new image. */
static char **exec_env(char *const *envp, size_t *size)
{
    size_t n = 0, strings = 0;
    const char *preload = NULL;
    int have_sock = 0;
    for (; envp && envp[n]; n++) {
        if (starts(envp[n], "LD_PRELOAD="))
            preload = envp[n] + 11;
        have_sock |= starts(envp[n], RT_ENV_SOCK "=");
    }
    int keep_preload = preload && strstr(preload, self_path);
    strings += 12 + strlen(self_path) + 1 + (preload ? strlen(preload) : 0) + 1;
    strings += sizeof RT_ENV_SOCK + 1 + strlen(sock_name) + 1;
    strings += sizeof ENV_EXEC_PID + 1 + 24;
    *size = (n + 4) * sizeof(char *) + strings;
    char **env = rt_arena_alloc(*size);
    if (!env)
        return NULL;
    char *s = (char *)(env + n + 4);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (starts(envp[i], ENV_EXEC_PID "=") || (!keep_preload && starts(envp[i], "LD_PRELOAD=")))
            continue;
        env[k++] = envp[i];
    }
    if (!keep_preload) {
        env[k++] = s;
        s += sprintf(s, "LD_PRELOAD=%s%s%s", self_path, preload && *preload ? ":" : "",
                     preload ? preload : "") + 1;
    }
    if (!have_sock) {
        env[k++] = s;
        s += sprintf(s, "%s=%s", RT_ENV_SOCK, sock_name) + 1;
    }
    env[k++] = s;
    sprintf(s, "%s=%d", ENV_EXEC_PID, (int)getpid());
    env[k] = NULL;
    return env;
}

enum exec_kind { EXEC_VE, EXEC_VPE, EXEC_FD };

static int do_exec(enum exec_kind kind, const char *path, int fd, char *const argv[],
                   char *const envp[])
{
    static int (*real_ve)(const char *, char *const[], char *const[]);
    static int (*real_vpe)(const char *, char *const[], char *const[]);
    static int (*real_fd)(int, char *const[], char *const[]);
    if (!real_ve) {
        real_vpe = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execvpe");
        real_fd = (int (*)(int, char *const[], char *const[]))dlsym(RTLD_NEXT, "fexecve");
        real_ve = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execve");
    }
    int rec = active(), spawn = !rec && vfork_child();
    size_t size = 0;
    char **env = NULL;
    if (rec) {
        int g = rt_guard_enter();
        env = exec_env(envp, &size);
        rt_guard_leave(g);
        push_simple(RT_REC_EXEC, 0, 0);
    }
    if (spawn) /* the collector awaits the program's HELLO */
        push_simple(RT_REC_SPAWN, (uint64_t)getpid(), 0);
    char *const *use = env ? env : envp;
    int r = kind == EXEC_VE ? real_ve(path, argv, use)
          : kind == EXEC_VPE ? real_vpe(path, argv, use)
          : real_fd(fd, argv, use);
    int e = errno;
    if (rec) {
        push_simple(RT_REC_EXEC, 1, 0);
        rt_arena_free(env, size);
    }
    if (spawn)
        push_simple(RT_REC_SPAWN, (uint64_t)getpid(), 1);
    errno = e;
    return r;
}

RT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return do_exec(EXEC_VE, path, -1, argv, envp);
}

RT_EXPORT int execv(const char *path, char *const argv[])
{
    return do_exec(EXEC_VE, path, -1, argv, environ);
}

RT_EXPORT int execvp(const char *file, char *const argv[])
{
    return do_exec(EXEC_VPE, file, -1, argv, environ);
}

RT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return do_exec(EXEC_VPE, file, -1, argv, envp);
}

RT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    return do_exec(EXEC_FD, NULL, fd, argv, envp);
}

/* ---- posix_spawn -------------------------------------------------------- */

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);

/* glibc's posix_spawn execs in a clone that runs no hook and returns only
 * once the exec succeeded: the collector then awaits the program's HELLO,
 * and notes a loss if the runtime could not load into it. */
static int do_spawn(spawn_fn real, pid_t *pid, const char *path,
                    const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                    char *const argv[], char *const envp[])
{
    pid_t child = 0;
    int r = real(&child, path, actions, attr, argv, envp);
    if (pid)
        *pid = child;
    if (r == 0 && active())
        push_simple(RT_REC_SPAWN, (uint64_t)child, 0);
    return r;
}

RT_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    static spawn_fn real;
    if (!real)
        real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
    return do_spawn(real, pid, path, actions, attr, argv, envp);
}

RT_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    static spawn_fn real;
    if (!real)
        real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawnp");
    return do_spawn(real, pid, file, actions, attr, argv, envp);
}

/* Counts the arguments after arg0 up to the terminating NULL. */
#define COUNT_ARGS(last, n) do { \
        va_list ap_; \
        va_start(ap_, last); \
        while (va_arg(ap_, char *)) \
            n++; \
        va_end(ap_); \
    } while (0)

/* Fills argv[1..n] (the NULL included) from ap; for execle returns the
 * environment that follows. */
static char *const *collect_args(va_list ap, char **argv, size_t n, int want_env)
{
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    return want_env ? va_arg(ap, char *const *) : NULL;
}

RT_EXPORT int execl(const char *path, const char *arg, ...)
{
    size_t n = 1;
    COUNT_ARGS(arg, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    va_list ap;
    va_start(ap, arg);
    collect_args(ap, argv, n, 0);
    va_end(ap);
    return do_exec(EXEC_VE, path, -1, argv, environ);
}

RT_EXPORT int execlp(const char *file, const char *arg, ...)
{
    size_t n = 1;
    COUNT_ARGS(arg, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    va_list ap;
    va_start(ap, arg);
    collect_args(ap, argv, n, 0);
    va_end(ap);
    return do_exec(EXEC_VPE, file, -1, argv, environ);
}

RT_EXPORT int execle(const char *path, const char *arg, ...)
{
    size_t n = 1;
    COUNT_ARGS(arg, n);
    char *argv[n + 1];
    argv[0] = (char *)arg;
    va_list ap;
    va_start(ap, arg);
    char *const *envp = collect_args(ap, argv, n, 1);
    va_end(ap);
    return do_exec(EXEC_VE, path, -1, argv, envp);
}
