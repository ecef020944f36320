/* SPDX-License-Identifier: MIT
 *
 * col_launch.c - the launcher: refuses, before running anything, programs
 * that LD_PRELOAD cannot reach (missing, not executable, statically linked,
 * setuid, a #! script whose interpreter is one of those), finds the runtime
 * library, creates the capture and starts the program behind a gate (a pipe
 * it waits on until the capture exists), with the runtime in front of
 * LD_PRELOAD and the collector's socket in RT_ENV_SOCK, then runs the
 * collector. Errors come back as a struct col_err (col_launch.h).
 */
#include "profiler/collector/col_launch.h"

#include "profiler/collector/col_writer.h"
#include "profiler/ring.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef HG_INSTALL_LIBDIR
#define HG_INSTALL_LIBDIR "lib"
#endif
#define MAX_SCRIPT_DEPTH 4

/* Fills e; returns -1, so that callers can write `return fail(e, ...)`. */
static int fail(struct col_err *e, enum col_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct col_err *e, enum col_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->status = status;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------ can it be recorded */

/* Looks `name` up as execvp would (PATH, unless it holds a '/'). Fills out
 * with the path; returns 0, or ENOENT / EACCES. */
static int resolve(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/')) {
        snprintf(out, outlen, "%s", name);
        return access(out, F_OK) == 0 ? 0 : ENOENT;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    int err = ENOENT;
    for (const char *p = path;; p++) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(out, outlen, "%.*s%s%s", (int)len, p, len ? "/" : "", name);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(out, X_OK) == 0)
                return 0;
            err = EACCES;
        }
        if (!e)
            break;
        p = e;
    }
    return err;
}

/* The runtime is built for this machine: a program of another ELF class or
 * machine (a 32-bit x86 program on x86-64) cannot load it, and the dynamic
 * linker skips it without a word. Fills what with the program's kind; 0
 * when it matches. */
static int elf_foreign(int fd, char *what, size_t len)
{
    Elf64_Ehdr h;
    if (pread(fd, &h, sizeof h, 0) < (ssize_t)EI_NIDENT + 4)
        return snprintf(what, len, "an ELF file too short to load"), 1;
    int bits = h.e_ident[EI_CLASS] == ELFCLASS64 ? 64 : h.e_ident[EI_CLASS] == ELFCLASS32 ? 32 : 0;
    uint16_t machine = h.e_machine; /* at the same offset in both classes */
    if (bits == 64 && machine == EM_X86_64)
        return 0;
    if (bits == 32 && machine == EM_386)
        snprintf(what, len, "a 32-bit x86 program");
    else if (bits)
        snprintf(what, len, "a %d-bit program for ELF machine %u", bits, (unsigned)machine);
    else
        snprintf(what, len, "an ELF file of unknown class %u", (unsigned)h.e_ident[EI_CLASS]);
    return 1;
}

/* 1 when the ELF file has a PT_INTERP program header (dynamically linked),
 * 0 when it has none, -1 when the headers cannot be read. Only for
 * programs elf_foreign accepts. */
static int elf_has_interp(int fd)
{
    Elf64_Ehdr h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        return -1;
    uint64_t phoff = h.e_phoff;
    unsigned phnum = h.e_phnum, phentsize = h.e_phentsize;
    if (phentsize < sizeof(uint32_t))
        return -1;
    for (unsigned i = 0; i < phnum; i++) {
        uint32_t type; /* p_type is the first word in both classes */
        if (pread(fd, &type, sizeof type, (off_t)(phoff + (uint64_t)i * phentsize)) != (ssize_t)sizeof type)
            return -1;
        if (type == PT_INTERP)
            return 1;
    }
    return 0;
}

static int check_program(const char *shown, const char *path, int depth, struct col_err *e);

/* A `#!` script: checks its interpreter (through PATH for `/usr/bin/env X`). */
static int check_script(const char *shown, const char *line, struct col_err *e)
{
    char interp[PATH_MAX], arg[PATH_MAX] = "", buf[PATH_MAX];
    if (sscanf(line + 2, " %4095s %4095s", interp, arg) < 1)
        return fail(e, COL_NOEXEC, "%s: script without an interpreter after #!", shown);
    const char *base = strrchr(interp, '/');
    if (!strcmp(base ? base + 1 : interp, "env") && arg[0] && arg[0] != '-') {
        int err = resolve(arg, buf, sizeof buf);
        if (err)
            return fail(e, COL_NOEXEC, "%s: interpreter '%s' not found in PATH", shown, arg);
        snprintf(interp, sizeof interp, "%s", buf);
    } else if (access(interp, F_OK) != 0) {
        return fail(e, COL_NOEXEC, "%s: interpreter %s not found", shown, interp);
    }
    return check_program(interp, interp, 1, e);
}

/* Returns 0 when LD_PRELOAD will reach the program at `path`, else -1 with
 * the reason in e. */
static int check_program(const char *shown, const char *path, int depth, struct col_err *e)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return fail(e, COL_NOTFOUND, "%s: %s", shown, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(e, COL_NOEXEC, "%s: not a regular file", shown);
    if (access(path, X_OK) < 0)
        return fail(e, COL_NOEXEC, "%s: not executable (%s)", shown, strerror(errno));
    if (st.st_mode & (S_ISUID | S_ISGID))
        return fail(e, COL_NOEXEC, "%s is set%cid; the dynamic linker ignores LD_PRELOAD for it",
                    shown, st.st_mode & S_ISUID ? 'u' : 'g');
    /* file capabilities put a user's program in secure-execution mode too
     * (root already holds them all) */
    if (geteuid() != 0 && getxattr(path, "security.capability", NULL, 0) >= 0)
        return fail(e, COL_NOEXEC, "%s has file capabilities; the dynamic linker ignores "
                    "LD_PRELOAD for it", shown);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(e, COL_NOEXEC, "%s: %s", shown, strerror(errno));
    char head[256] = "";
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    int ret = 0;
    char foreign[96];
    if (n >= 4 && !memcmp(head, ELFMAG, SELFMAG)) {
        int interp = elf_foreign(fd, foreign, sizeof foreign) ? 2 : elf_has_interp(fd);
        if (interp == 2)
            ret = fail(e, COL_NOEXEC, "%s is %s; the runtime is a 64-bit x86-64 library and cannot "
                       "be loaded into it", shown, foreign);
        else if (interp < 0)
            ret = fail(e, COL_NOEXEC, "%s: unreadable ELF headers", shown);
        else if (!interp)
            ret = fail(e, COL_NOEXEC, "%s is statically linked; LD_PRELOAD cannot inject the runtime", shown);
    } else if (n >= 2 && head[0] == '#' && head[1] == '!') {
        head[n] = 0;
        head[strcspn(head, "\n")] = 0;
        ret = depth < MAX_SCRIPT_DEPTH ? check_script(shown, head, e)
                                       : fail(e, COL_NOEXEC, "%s: too many nested #! interpreters", shown);
    } else {
        ret = fail(e, COL_NOEXEC, "%s: not an ELF executable or a #! script", shown);
    }
    close(fd);
    return ret;
}

int col_check_program(const char *name, char *path, size_t pathlen, struct col_err *e)
{
    int err = resolve(name, path, pathlen);
    if (err == ENOENT)
        return fail(e, COL_NOTFOUND, "%s: program not found%s", name, strchr(name, '/') ? "" : " in PATH");
    if (err)
        return fail(e, COL_NOEXEC, "%s: not executable", name);
    return check_program(name, path, 0, e);
}

int col_find_runtime(char *path, size_t pathlen, struct col_err *e)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        *slash = 0;
        char cand[PATH_MAX + 64];
        snprintf(cand, sizeof cand, "%s/" COL_RUNTIME_NAME, self);
        if (access(cand, R_OK) != 0) {
            if (HG_INSTALL_LIBDIR[0] == '/')
                snprintf(cand, sizeof cand, "%s/heapgraph/" COL_RUNTIME_NAME, HG_INSTALL_LIBDIR);
            else
                snprintf(cand, sizeof cand, "%s/../%s/heapgraph/" COL_RUNTIME_NAME, self, HG_INSTALL_LIBDIR);
        }
        if (realpath(cand, path) && strlen(path) < pathlen)
            return 0;
    }
    return fail(e, COL_FAILED, "the runtime " COL_RUNTIME_NAME " was not found beside the heapgraph "
                "executable nor in ../" HG_INSTALL_LIBDIR "/heapgraph/");
}

/* ------------------------------------------------------------- the program */

/* The control socket lives in a directory of its own, mode 0700 (mkdtemp),
 * so that no other user can reach it (an abstract name is listed in
 * /proc/net/unix for anyone to connect to); the collector also admits only
 * processes of this run (col_collect.c). dir receives the directory,
 * which the caller removes with the socket. */
static int listen_socket(char *name, size_t namelen, char *dir, size_t dirlen)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    if (!base || base[0] != '/' || strlen(base) > 64 || stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
        base = "/tmp";
    snprintf(dir, dirlen, "%s/heapgraph-XXXXXX", base);
    if (!mkdtemp(dir))
        return -1;
    snprintf(name, namelen, "%s/control", dir);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(a.sun_path, name, len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, alen) < 0 || listen(fd, 128) < 0) {
        if (fd >= 0)
            close(fd);
        unlink(name);
        rmdir(dir);
        return -1;
    }
    return fd;
}

static void set_preload(const char *rt)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old) {
        setenv("LD_PRELOAD", rt, 1);
        return;
    }
    size_t n = strlen(rt) + strlen(old) + 2;
    char *v = malloc(n);
    if (!v)
        _exit(COL_FAILED);
    snprintf(v, n, "%s:%s", rt, old);
    setenv("LD_PRELOAD", v, 1);
}

/* PYTHONMALLOC=malloc, unless the user chose an allocator; or the runtime
 * is told to wrap pymalloc (PYTHONMALLOC=pymalloc, the same allocator,
 * would make the interpreter replace the wrappers at start-up). */
static void set_python_allocator(enum col_pyalloc a)
{
    const char *set = getenv("PYTHONMALLOC");
    if (a == COL_PYALLOC_PYMALLOC) {
        setenv(RT_ENV_PYALLOC, "pymalloc", 1);
        if (set && !strcmp(set, "pymalloc"))
            unsetenv("PYTHONMALLOC");
        return;
    }
    unsetenv(RT_ENV_PYALLOC);
    if (!set)
        setenv("PYTHONMALLOC", "malloc", 1);
}

/* The child: waits at the gate until the capture exists, then becomes the
 * program. Exits 125 without running it if the parent closes the gate. Its
 * one message, when exec fails, is the only thing this module prints: the
 * child has no caller to return it to. */
static void child(int gate, const sigset_t *mask, const struct col_launch *l, const char *sock)
{
    char go;
    if (read(gate, &go, 1) != 1)
        _exit(COL_FAILED);
    close(gate);
    sigprocmask(SIG_SETMASK, mask, NULL);
    set_preload(l->runtime);
    set_python_allocator(l->python_allocator);
    setenv(RT_ENV_SOCK, sock, 1);
    execv(l->path, l->argv);
    int e = errno;
    dprintf(2, "heapgraph: %s: %s\n", l->argv[0], strerror(e));
    _exit(e == ENOENT ? COL_NOTFOUND : COL_NOEXEC);
}

/* Reuses the existing file at path (-o): a regular file of this user with
 * no other name, emptied and made 0600, or a character device named
 * outright (/dev/null); opened without following a symbolic link and
 * without blocking on a FIFO, which is refused. */
static int reuse_output(const char *path, struct col_err *e)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return fail(e, COL_FAILED, "%s is a symbolic link; give the file itself", path);
        if (errno == ENXIO)
            return fail(e, COL_FAILED, "%s is a FIFO; the capture must be a regular file", path);
        return fail(e, COL_FAILED, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && fcntl(fd, F_SETFL, 0) == 0)
        return fd;
    const char *why = fstat(fd, &st) < 0 ? strerror(errno)
                    : !S_ISREG(st.st_mode) ? "not a regular file"
                    : st.st_uid != geteuid() ? "it belongs to another user"
                    : st.st_nlink != 1 ? "it has other hard links"
                    : ftruncate(fd, 0) < 0 || fchmod(fd, 0600) < 0 ? strerror(errno)
                    : fcntl(fd, F_SETFL, 0) < 0 ? strerror(errno) : NULL;
    if (why) {
        close(fd);
        return fail(e, COL_FAILED, "%s: %s; the capture is not written there", path, why);
    }
    return fd;
}

/* Creates the capture 0600, never through a symbolic link: the default name
 * is predictable from the pid, so another user could plant one there. An
 * existing file is reused only when named with -o (reuse_output). */
static int open_output(const struct col_launch *l, pid_t pid, char *path, size_t pathlen,
                       struct col_err *e)
{
    if (l->output) {
        snprintf(path, pathlen, "%s", l->output);
    } else {
        const char *base = strrchr(l->argv[0], '/');
        snprintf(path, pathlen, "heapgraph.%s.%d.hgcap", base ? base + 1 : l->argv[0], (int)pid);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    if (errno == EEXIST && l->output)
        return reuse_output(path, e);
    if (errno == EEXIST)
        return fail(e, COL_FAILED, "%s exists (not written over); name the capture with -o", path);
    return fail(e, COL_FAILED, "%s: %s", path, strerror(errno));
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What col_record has set up, for its one cleanup path. */
struct launch {
    int lfd;        /* the listening socket until col_run takes it, else -1 */
    int gate;       /* the gate's write end while the child waits at it, else -1 */
    pid_t pid;      /* the child, once forked */
    int masked;     /* old holds the signal mask before col_record's */
    sigset_t old;
    uint64_t start_mono, start_real;
    struct col_writer w;
};

/* Forks the child, which waits at the gate; SIGCHLD, SIGTERM and SIGHUP
 * stay blocked here for col_run's signalfd. */
static int start_child(struct launch *L, const struct col_launch *l, const char *sock, struct col_err *e)
{
    int gate[2];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    L->start_mono = clock_ns(CLOCK_MONOTONIC), L->start_real = clock_ns(CLOCK_REALTIME);
    if (pipe2(gate, O_CLOEXEC) < 0)
        return fail(e, COL_FAILED, "starting the program: %s", strerror(errno));
    L->gate = gate[1];
    if (sigprocmask(SIG_BLOCK, &set, &L->old) < 0) {
        fail(e, COL_FAILED, "starting the program: %s", strerror(errno));
        close(gate[0]);
        return -1;
    }
    L->masked = 1;
    L->pid = fork();
    if (L->pid == 0) {
        close(gate[1]);
        child(gate[0], &L->old, l, sock);
    }
    close(gate[0]);
    if (L->pid < 0)
        return fail(e, COL_FAILED, "starting the program: %s", strerror(errno));
    signal(SIGINT, SIG_IGN); /* the terminal signals the program too */
    signal(SIGQUIT, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error, not death */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Creates the capture and writes its header. */
static int open_capture(struct launch *L, const struct col_launch *l, char *out, size_t outlen,
                        struct col_err *e)
{
    int fd = open_output(l, L->pid, out, outlen, e);
    if (fd < 0)
        return -1;
    if (col_writer_open(&L->w, fd, L->start_real, L->start_mono) < 0)
        return fail(e, COL_FAILED, "writing %s: %s", out, strerror(L->w.err));
    return 0;
}

/* Opens the gate: the capture exists, the program may start. */
static int open_gate(struct launch *L, struct col_err *e)
{
    if (write(L->gate, "g", 1) != 1) {
        e->status = COL_FAILED;
        e->msg[0] = 0; /* the child is gone before it started; it said nothing either */
        return -1;
    }
    close(L->gate);
    L->gate = -1;
    return 0;
}

/* Runs the collector on the started program and ends the capture. */
static int collect(struct launch *L, const struct col_launch *l, const char *out, struct col_summary *sum,
                   struct col_err *e)
{
    char err[256];
    struct col_config cfg = {.listen_fd = L->lfd, .w = &L->w, .child = L->pid, .sample_ns = l->sample_ns,
                             .start_ns = L->start_mono};
    L->lfd = -1; /* col_run closes it */
    if (col_run(&cfg, sum, err, sizeof err) < 0)
        return fail(e, COL_FAILED, "%s", err);
    L->pid = -1; /* reaped by col_run */
    col_writer_finish(&L->w, sum->streams, sum->events);
    if (L->w.err)
        return fail(e, COL_FAILED, "writing %s: %s; the capture holds what was recorded before", out,
                    strerror(L->w.err));
    return 0;
}

/* The one cleanup path. A child still at the gate sees it close and exits
 * without running the program; one the collector could not follow is
 * waited for. */
static void launch_end(struct launch *L, int ret)
{
    int at_gate = L->gate >= 0;
    col_writer_release(&L->w);
    if (L->lfd >= 0)
        close(L->lfd);
    if (at_gate)
        close(L->gate);
    if (ret < 0 && L->pid > 0)
        waitpid(L->pid, NULL, 0);
    if (at_gate && L->masked)
        sigprocmask(SIG_SETMASK, &L->old, NULL);
}

int col_record(const struct col_launch *l, char *out, size_t outlen, struct col_summary *sum,
               struct col_err *e)
{
    struct launch L = {.gate = -1, .pid = -1, .w = {.fd = -1}};
    char sock[108], dir[96];
    int ret = -1;
    out[0] = 0;
    L.lfd = listen_socket(sock, sizeof sock, dir, sizeof dir);
    int made = L.lfd >= 0;
    if (L.lfd < 0)
        fail(e, COL_FAILED, "control socket: %s", strerror(errno));
    else if (start_child(&L, l, sock, e) == 0 && open_capture(&L, l, out, outlen, e) == 0 &&
             open_gate(&L, e) == 0)
        ret = collect(&L, l, out, sum, e);
    launch_end(&L, ret);
    if (made) {
        unlink(sock);
        rmdir(dir);
    }
    return ret;
}
