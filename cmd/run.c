/* SPDX-License-Identifier: MIT
 *
 * run.c - `heapgraph run`: records a program. It refuses, before running
 * anything, programs that LD_PRELOAD cannot reach (missing, not executable,
 * statically linked, setuid), creates the capture (mode 0600), starts the
 * program with the runtime in front of LD_PRELOAD, and stays alive as the
 * collector (profiler/collector/col_collect.h) until the program and every descendant
 * have ended. The program's exit status passes through (128+N for signal N).
 */
#include "cmd/cmd.h"
#include "cmd/check.h"

#include "profiler/collector/col_collect.h"
#include "profiler/collector/col_writer.h"
#include "profiler/ring.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HG_INSTALL_LIBDIR
#define HG_INSTALL_LIBDIR "lib"
#endif
#define RT_NAME "libheapgraph-rt.so"
#define MAX_SCRIPT_DEPTH 4

static const char usage_text[] =
    "usage: heapgraph run [-o FILE] [-q] [--sample-interval MS] -- PROGRAM [ARGS...]\n"
    "\n"
    "Runs PROGRAM (looked up in PATH) with the heapgraph runtime preloaded and\n"
    "records every allocation and free, with its stack, into a capture file.\n"
    "Children (fork) and new images (exec) are recorded too. The exit status is\n"
    "the program's own (128+N when it died of signal N).\n"
    "\n"
    "  -o, --output FILE        capture file (default heapgraph.PROGRAM.PID.hgcap)\n"
    "  -q, --quiet              do not print where the capture is at the end\n"
    "      --sample-interval MS heap and RSS sample interval (default 10)\n"
    "      --check [GATES]      then check the capture: 'heapgraph run [OPTIONS] --check\n"
    "                           [CHECK OPTIONS] -- PROGRAM'; see 'heapgraph check -h'.\n"
    "                           The program's non-zero status wins, else check's status\n"
    "  -h, --help               this help\n";

struct run_opts {
    const char *output;
    int quiet;
    uint64_t sample_ns;
    char **argv; /* PROGRAM ARGS..., NULL-terminated */
    struct cmd_check_split check;
};

static int parse(int argc, char **argv, struct run_opts *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"sample-interval", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    char *end;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+o:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o':
            o->output = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'S': {
            unsigned long ms = strtoul(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || ms == 0 || ms > 3600000) {
                cmd_error(HG_EXIT_USAGE, "--sample-interval: '%s' is not a number of milliseconds (1-3600000)", optarg);
                return fputs(usage_text, stderr), HG_EXIT_USAGE;
            }
            o->sample_ns = ms * 1000000ull;
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return -1;
        default:
            return fputs(usage_text, stderr), HG_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cmd_error(HG_EXIT_USAGE, "run: no PROGRAM given");
        return fputs(usage_text, stderr), HG_EXIT_USAGE;
    }
    o->argv = argv + optind;
    return 0;
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

/* 1 when the ELF file has a PT_INTERP program header (dynamically linked),
 * 0 when it has none, -1 when the headers cannot be read. */
static int elf_has_interp(int fd)
{
    unsigned char id[EI_NIDENT];
    if (pread(fd, id, sizeof id, 0) != (ssize_t)sizeof id)
        return -1;
    uint64_t phoff;
    unsigned phnum, phentsize;
    if (id[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr h;
        if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            return -1;
        phoff = h.e_phoff, phnum = h.e_phnum, phentsize = h.e_phentsize;
    } else {
        Elf32_Ehdr h;
        if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            return -1;
        phoff = h.e_phoff, phnum = h.e_phnum, phentsize = h.e_phentsize;
    }
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

static int check_program(const char *shown, const char *path, int depth);

/* A `#!` script: checks its interpreter (through PATH for `/usr/bin/env X`). */
static int check_script(const char *shown, const char *line)
{
    char interp[PATH_MAX], arg[PATH_MAX] = "", buf[PATH_MAX];
    if (sscanf(line + 2, " %4095s %4095s", interp, arg) < 1)
        return cmd_error(HG_EXIT_NOEXEC, "%s: script without an interpreter after #!", shown);
    const char *base = strrchr(interp, '/');
    if (!strcmp(base ? base + 1 : interp, "env") && arg[0] && arg[0] != '-') {
        int err = resolve(arg, buf, sizeof buf);
        if (err)
            return cmd_error(HG_EXIT_NOEXEC, "%s: interpreter '%s' not found in PATH", shown, arg);
        snprintf(interp, sizeof interp, "%s", buf);
    } else if (access(interp, F_OK) != 0) {
        return cmd_error(HG_EXIT_NOEXEC, "%s: interpreter %s not found", shown, interp);
    }
    return check_program(interp, interp, 1);
}

/* Returns 0 when LD_PRELOAD will reach the program at `path`, else prints
 * why and returns the exit code. */
static int check_program(const char *shown, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return cmd_error(HG_EXIT_NOTFOUND, "%s: %s", shown, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cmd_error(HG_EXIT_NOEXEC, "%s: not a regular file", shown);
    if (access(path, X_OK) < 0)
        return cmd_error(HG_EXIT_NOEXEC, "%s: not executable (%s)", shown, strerror(errno));
    if (st.st_mode & (S_ISUID | S_ISGID))
        return cmd_error(HG_EXIT_NOEXEC, "%s is set%cid; the dynamic linker ignores LD_PRELOAD for it",
                         shown, st.st_mode & S_ISUID ? 'u' : 'g');
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cmd_error(HG_EXIT_NOEXEC, "%s: %s", shown, strerror(errno));
    char head[256] = "";
    ssize_t n = pread(fd, head, sizeof head - 1, 0);
    int ret = 0;
    if (n >= 4 && !memcmp(head, ELFMAG, SELFMAG)) {
        int interp = elf_has_interp(fd);
        if (interp < 0)
            ret = cmd_error(HG_EXIT_NOEXEC, "%s: unreadable ELF headers", shown);
        else if (!interp)
            ret = cmd_error(HG_EXIT_NOEXEC, "%s is statically linked; LD_PRELOAD cannot inject the runtime", shown);
    } else if (n >= 2 && head[0] == '#' && head[1] == '!') {
        head[n] = 0;
        head[strcspn(head, "\n")] = 0;
        ret = depth < MAX_SCRIPT_DEPTH ? check_script(shown, head)
                                       : cmd_error(HG_EXIT_NOEXEC, "%s: too many nested #! interpreters", shown);
    } else {
        ret = cmd_error(HG_EXIT_NOEXEC, "%s: not an ELF executable or a #! script", shown);
    }
    close(fd);
    return ret;
}

/* The runtime library: beside this executable (build tree), else in
 * ../LIBDIR/heapgraph/ (install tree). */
static int find_runtime(char *out, size_t outlen)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    *slash = 0;
    char cand[PATH_MAX + 64];
    snprintf(cand, sizeof cand, "%s/" RT_NAME, self);
    if (access(cand, R_OK) != 0) {
        if (HG_INSTALL_LIBDIR[0] == '/')
            snprintf(cand, sizeof cand, "%s/heapgraph/" RT_NAME, HG_INSTALL_LIBDIR);
        else
            snprintf(cand, sizeof cand, "%s/../%s/heapgraph/" RT_NAME, self, HG_INSTALL_LIBDIR);
    }
    return realpath(cand, out) && strlen(out) < outlen ? 0 : -1;
}

/* ------------------------------------------------------------- the program */

static int listen_socket(char *name, size_t namelen)
{
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    snprintf(name, namelen, "heapgraph-%d-%016llx", (int)getpid(), (unsigned long long)rnd);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(a.sun_path + 1, name, len); /* abstract: leading NUL */
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (bind(fd, (struct sockaddr *)&a, alen) < 0 || listen(fd, 128) < 0) {
        close(fd);
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
        _exit(HG_EXIT_SOFTWARE);
    snprintf(v, n, "%s:%s", rt, old);
    setenv("LD_PRELOAD", v, 1);
}

/* The child: waits at the gate until the capture exists, then becomes the
 * program. Exits 125 without running it if the parent closes the gate. */
static void child(int gate, const sigset_t *mask, const char *path, char **argv, const char *rt,
                  const char *sock)
{
    char go;
    if (read(gate, &go, 1) != 1)
        _exit(HG_EXIT_SOFTWARE);
    close(gate);
    sigprocmask(SIG_SETMASK, mask, NULL);
    set_preload(rt);
    setenv(RT_ENV_SOCK, sock, 1);
    execv(path, argv);
    int e = errno;
    dprintf(2, "heapgraph: %s: %s\n", argv[0], strerror(e));
    _exit(e == ENOENT ? HG_EXIT_NOTFOUND : HG_EXIT_NOEXEC);
}

static int open_output(const struct run_opts *o, pid_t pid, char *path, size_t pathlen)
{
    if (o->output) {
        snprintf(path, pathlen, "%s", o->output);
    } else {
        const char *base = strrchr(o->argv[0], '/');
        snprintf(path, pathlen, "heapgraph.%s.%d.hgcap", base ? base + 1 : o->argv[0], (int)pid);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct stat st;
    /* An existing capture keeps its mode otherwise; a device or pipe is left alone. */
    if (fd >= 0 && (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && fchmod(fd, 0600) < 0))) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int exit_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Aborts a started child that never passed the gate. */
static int abort_child(pid_t pid, int gate, const sigset_t *old)
{
    close(gate);
    waitpid(pid, NULL, 0);
    sigprocmask(SIG_SETMASK, old, NULL);
    return HG_EXIT_SOFTWARE;
}

static int record(const struct run_opts *o, const char *path, const char *rt)
{
    char sock[64], out[PATH_MAX];
    int lfd = listen_socket(sock, sizeof sock);
    if (lfd < 0)
        return cmd_error(HG_EXIT_SOFTWARE, "control socket: %s", strerror(errno));
    int gate[2];
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    uint64_t start_mono = clock_ns(CLOCK_MONOTONIC), start_real = clock_ns(CLOCK_REALTIME);
    if (pipe2(gate, O_CLOEXEC) < 0 || sigprocmask(SIG_BLOCK, &set, &old) < 0) {
        close(lfd);
        return cmd_error(HG_EXIT_SOFTWARE, "starting the program: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(gate[1]);
        child(gate[0], &old, path, o->argv, rt, sock);
    }
    close(gate[0]);
    if (pid < 0) {
        close(lfd);
        close(gate[1]);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return cmd_error(HG_EXIT_SOFTWARE, "starting the program: %s", strerror(errno));
    }
    signal(SIGINT, SIG_IGN); /* the terminal signals the program too */
    signal(SIGQUIT, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file-size limit is a write error, not death */
    signal(SIGPIPE, SIG_IGN);

    struct col_writer w = {.fd = -1};
    int fd = open_output(o, pid, out, sizeof out);
    if (fd < 0) {
        cmd_error(HG_EXIT_SOFTWARE, "%s: %s", out, strerror(errno));
        close(lfd);
        return abort_child(pid, gate[1], &old);
    }
    if (col_writer_open(&w, fd, start_real, start_mono) < 0) {
        cmd_error(HG_EXIT_SOFTWARE, "writing %s: %s", out, strerror(w.err));
        col_writer_release(&w);
        close(lfd);
        return abort_child(pid, gate[1], &old);
    }
    if (write(gate[1], "g", 1) != 1) {
        col_writer_release(&w);
        close(lfd);
        return abort_child(pid, gate[1], &old);
    }
    close(gate[1]);

    struct col_config cfg = {.listen_fd = lfd, .w = &w, .child = pid, .sample_ns = o->sample_ns,
                             .start_ns = start_mono};
    struct col_summary sum = {0};
    char err[256];
    if (col_run(&cfg, &sum, err, sizeof err) < 0) {
        cmd_error(HG_EXIT_SOFTWARE, "%s", err);
        waitpid(pid, &sum.child_status, 0);
        col_writer_release(&w);
        return HG_EXIT_SOFTWARE;
    }
    col_writer_finish(&w, sum.streams, sum.events);
    int werr = w.err;
    col_writer_release(&w);
    if (werr)
        return cmd_error(HG_EXIT_SOFTWARE, "writing %s: %s; the capture holds what was recorded before",
                         out, strerror(werr));
    if (!o->quiet) {
        fprintf(stderr, "heapgraph: recorded %llu process%s, %llu events in %s\n",
                (unsigned long long)sum.streams, sum.streams == 1 ? "" : "es",
                (unsigned long long)sum.events, out);
        fprintf(stderr, "heapgraph: report it with: heapgraph report %s\n", out);
        if (!sum.streams)
            fprintf(stderr, "heapgraph: warning: the runtime never started in %s (LD_PRELOAD "
                    "removed, or a static program exec'd?)\n", o->argv[0]);
    }
    if (o->check.requested)
        return cmd_check_after_run(&o->check, out, exit_code(sum.child_status));
    return exit_code(sum.child_status);
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o = {.sample_ns = COL_SAMPLE_NS_DEFAULT};
    int rc = cmd_check_split(&argc, argv, &o.check);
    if (rc)
        return rc;
    rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? HG_EXIT_OK : rc;
    char path[PATH_MAX], rt[PATH_MAX];
    int err = resolve(o.argv[0], path, sizeof path);
    if (err == ENOENT)
        return cmd_error(HG_EXIT_NOTFOUND, "%s: program not found%s", o.argv[0],
                         strchr(o.argv[0], '/') ? "" : " in PATH");
    if (err)
        return cmd_error(HG_EXIT_NOEXEC, "%s: not executable", o.argv[0]);
    rc = check_program(o.argv[0], path, 0);
    if (rc)
        return rc;
    if (find_runtime(rt, sizeof rt) < 0)
        return cmd_error(HG_EXIT_SOFTWARE, "the runtime " RT_NAME " was not found beside the heapgraph "
                         "executable nor in ../" HG_INSTALL_LIBDIR "/heapgraph/");
    return record(&o, path, rt);
}
