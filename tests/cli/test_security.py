#!/usr/bin/env python3
"""heapgraph trusts only itself, and no input can hang it (issue 14):
- the capture (-o, or the default name predictable from the pid) is never
  written through a symbolic link, into a FIFO (which used to hang the
  launcher with SIGTERM blocked) or over another user's file; it is 0600;
- the control socket lives in a private 0700 directory (it was an abstract
  name anyone could read in /proc/net/unix): another user cannot connect;
  a process of the same user that is not part of the run is refused with a
  note; a process of the run that hands over rings that are not sealed
  against shrinking (it could cut them short under the collector: SIGBUS)
  is refused with a note;
- `run` refuses what it cannot record before running it (exit 126): a
  32-bit program, a program with file capabilities run by another user;
- report, check and diff read regular files only: a FIFO as capture,
  baseline or configuration and /dev/zero as suppressions give an error at
  once, and `report` does not hang when a module of the capture became a
  FIFO;
- control characters in argv are escaped in `info` and `report`.
Tests that need a second user run only as root (as CI does); they create
none: they use the user nobody. Standard library only."""
import json
import os
import pwd
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import time

from ci_helpers import HG, check, compile_c, finish, hg, record


LEAK = r"""
#include <stdlib.h>
void *volatile sink;
int main(void) { for (int i = 0; i < 10; i++) sink = malloc(24); sink = 0; return 0; }
"""

# Hands the collector rings that are not sealed, then cuts them short.
BAD_RINGS = r"""
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
struct msg { uint32_t type, origin; int32_t pid, ppid; uint64_t time_ns; uint32_t sid, reason;
             uint64_t count; uint32_t argv_len, exe_len; };
int main(void)
{
    const char *path = getenv("HEAPGRAPH_SOCK");
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path ? path : "", sizeof a.sun_path - 1);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
        return 2;
    int fd = memfd_create("rings", 0);
    ftruncate(fd, (off_t)1 << 28);
    struct msg m = {.type = 1, .pid = getpid(), .ppid = getppid()};
    struct iovec iov = {&m, sizeof m};
    union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr h; } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    sendmsg(s, &mh, 0);
    ftruncate(fd, 0);
    usleep(200000);
    return 0;
}
"""

# Loads a library of its own: the report reads its file again.
DLOPEN = r"""
#include <dlfcn.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
    void *h = dlopen(argv[1], RTLD_NOW);
    void *(*get)(void) = h ? (void *(*)(void))dlsym(h, "get") : NULL;
    return get && get() ? 0 : 1;
}
"""
LIB = r"""
#include <stdlib.h>
void *get(void) { return malloc(77); }
"""


def test_output(d):
    exe = compile_c(d, "leak", LEAK)
    victim = os.path.join(d, "victim")
    with open(victim, "w") as f:
        f.write("keep")
    link = os.path.join(d, "link.hgcap")
    os.symlink(victim, link)
    r = hg("run", "-q", "-o", link, "--", exe, cwd=d)
    check(r.returncode == 125 and "symbolic link" in r.stderr, "-o through a symlink: 125, said: %r" % r.stderr)
    check(open(victim).read() == "keep" and stat.S_IMODE(os.stat(victim).st_mode) != 0o600,
          "the link's target is untouched")
    fifo = os.path.join(d, "fifo.hgcap")
    os.mkfifo(fifo)
    t = time.monotonic()
    r = hg("run", "-q", "-o", fifo, "--", exe, cwd=d, timeout=20)
    check(r.returncode == 125 and "FIFO" in r.stderr, "-o FIFO: 125, said: %r" % r.stderr)
    check(time.monotonic() - t < 10, "-o FIFO does not hang")
    # a capture created here is the user's and 0600; an existing one is reused as 0600
    cap = os.path.join(d, "new.hgcap")
    r = hg("run", "-q", "-o", cap, "--", exe, cwd=d)
    check(r.returncode == 0 and stat.S_IMODE(os.stat(cap).st_mode) == 0o600, "new capture is 0600")
    os.chmod(cap, 0o644)
    r = hg("run", "-q", "-o", cap, "--", exe, cwd=d)
    check(r.returncode == 0 and stat.S_IMODE(os.stat(cap).st_mode) == 0o600, "reused capture is 0600")
    if os.geteuid() == 0:
        os.chown(cap, 65534, 65534)
        r = hg("run", "-q", "-o", cap, "--", exe, cwd=d)
        check(r.returncode == 125 and "another user" in r.stderr,
              "a capture of another user is not written over: %r" % r.stderr)
    # the default name is predictable from the pid: links planted for the
    # next pids are not followed
    sub = os.path.join(d, "default")
    os.mkdir(sub)
    last = int(open("/proc/sys/kernel/ns_last_pid").read())
    for pid in range(last + 1, last + 400):
        os.symlink(victim, os.path.join(sub, "heapgraph.leak.%d.hgcap" % pid))
    r = hg("run", "--", exe, cwd=sub)
    planted = r.returncode == 125
    check(planted or r.returncode == 0, "default name: 125 or (pid out of range) 0: %r" % r.stderr)
    check(not planted or "exists" in r.stderr, "default name: says the file exists: %r" % r.stderr)
    check(open(victim).read() == "keep", "the planted links' target is untouched")


HELLO = struct.Struct("<IIiiQIIQII")


def sock_of(pid):
    """HEAPGRAPH_SOCK in the environment of process pid (the run's program)."""
    for _ in range(200):
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                for kv in f.read().split(b"\0"):
                    if kv.startswith(b"HEAPGRAPH_SOCK="):
                        return kv.split(b"=", 1)[1].decode()
        except OSError:
            pass
        time.sleep(0.02)
    return None


def test_control_socket(d):
    cap = os.path.join(d, "sleep.hgcap")
    p = subprocess.Popen([HG, "run", "-q", "-o", cap, "--", "sleep", "2"], cwd=d,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child = None
    for _ in range(200):
        kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()
        if kids:
            child = int(kids[0])
            break
        time.sleep(0.01)
    path = sock_of(child) if child else None
    check(path is not None and path.startswith("/"), "the control socket is a path: %r" % path)
    if path:
        check(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700, "its directory is 0700")
        if os.geteuid() == 0 and os.access("/usr/bin/python3", os.X_OK):
            r = subprocess.run(["/usr/bin/python3", "-c",
                                "import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
                                "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n sys.exit(7)\n",
                                path], user=65534, capture_output=True)
            check(r.returncode == 7, "another user cannot connect: %d %s" % (r.returncode, r.stderr))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(path)
        try:
            s.send(HELLO.pack(1, 0, os.getpid(), os.getppid(), 0, 0, 0, 0, 0, 0))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused at once
        s.close()
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0, "the run ends normally: %r" % err)
    rep = json.loads(hg("report", "-f", "json", cap).stdout)
    check(len(rep["processes"]) == 1, "only the program is in the capture")
    check(any("refused a connection from process %d" % os.getpid() in n for n in rep["notes"]),
          "the stranger is refused with a note: %s" % rep["notes"])
    check(path is None or not os.path.exists(os.path.dirname(path)), "the directory is removed at the end")
    exe = compile_c(d, "bad_rings", BAD_RINGS)
    cap = os.path.join(d, "bad.hgcap")
    r = hg("run", "-q", "-o", cap, "--", exe, cwd=d)
    check(r.returncode == 0, "unsealed rings: the run ends normally: %r" % r.stderr)
    rep = json.loads(hg("report", "-f", "json", cap).stdout)
    check(any("bad HELLO" in n for n in rep["notes"]), "unsealed rings are refused with a note: %s" % rep["notes"])


def elf32(path):
    """A 32-bit x86 ELF executable header (it needs not run: run refuses it)."""
    hdr = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8) + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0,
                                                                      52, 32, 0, 40, 0, 0)
    with open(path, "wb") as f:
        f.write(hdr)
    os.chmod(path, 0o755)


def test_refusals(d):
    prog = os.path.join(d, "prog32")
    elf32(prog)
    r = hg("run", "-q", "-o", os.path.join(d, "x.hgcap"), "--", prog, cwd=d)
    check(r.returncode == 126 and "32-bit" in r.stderr, "32-bit program: 126, said: %r" % r.stderr)
    setcap = shutil.which("setcap")
    if os.geteuid() != 0 or not setcap:
        print("skip: file capabilities need root and setcap")
        return
    nobody = pwd.getpwuid(65534)
    if not os.access(HG, os.X_OK) or subprocess.run([HG, "-h"], user=65534, capture_output=True).returncode != 0:
        print("skip: user nobody cannot run %s" % HG)
        return
    capdir = tempfile.mkdtemp(prefix="hg-caps-")
    os.chmod(capdir, 0o755)
    exe = os.path.join(capdir, "true")
    shutil.copy("/bin/true", exe)
    if subprocess.run([setcap, "cap_net_bind_service+ep", exe]).returncode != 0:
        print("skip: setcap failed")
        shutil.rmtree(capdir)
        return
    r = subprocess.run([HG, "run", "-q", "-o", "/tmp/hg-caps-none.hgcap", "--", exe], user=nobody.pw_uid,
                       cwd=capdir, capture_output=True, text=True)
    check(r.returncode == 126 and "file capabilities" in r.stderr,
          "file capabilities, another user: 126, said: %r" % r.stderr)
    shutil.rmtree(capdir)


def quick(args, code, what, cwd=None):
    t = time.monotonic()
    r = hg(*args, cwd=cwd, timeout=30)
    check(r.returncode == code, "%s: exit %d, got %d: %r" % (what, code, r.returncode, r.stderr))
    check(time.monotonic() - t < 10, what + ": at once")
    return r


def test_inputs(d):
    exe = compile_c(d, "leak", LEAK)
    cap = record(d, exe, "inputs")
    fifo = os.path.join(d, "in.fifo")
    os.mkfifo(fifo)
    r = quick(["check", "--baseline", fifo, cap], 2, "FIFO as baseline")
    check("not a regular file" in r.stderr, "FIFO as baseline says why: %r" % r.stderr)
    r = quick(["check", "--suppressions", "/dev/zero", cap], 2, "/dev/zero as suppressions")
    check("not a regular file" in r.stderr, "/dev/zero as suppressions says why: %r" % r.stderr)
    quick(["report", fifo], 2, "FIFO as capture (report)")
    quick(["check", fifo], 3, "FIFO as capture (check)")
    confdir = os.path.join(d, "conf")
    os.mkdir(confdir)
    os.mkfifo(os.path.join(confdir, ".heapgraph.conf"))
    r = quick(["check", cap], 2, "FIFO as .heapgraph.conf", cwd=confdir)
    check("not a regular file" in r.stderr, "FIFO as configuration says why: %r" % r.stderr)
    # a module of the capture that became a FIFO
    lib = os.path.join(d, "libget.so")
    subprocess.run(["cc", "-O2", "-g", "-shared", "-fPIC", "-o", lib, "-x", "c", "-"], input=LIB, text=True,
                   check=True)
    prog = compile_c(d, "dlopen", DLOPEN, "-ldl")
    cap2 = record(d, prog, "dl", lib)
    os.remove(lib)
    os.mkfifo(lib)
    quick(["report", cap2], 0, "report with a module that became a FIFO")


def test_escapes(d):
    exe = compile_c(d, "leak", LEAK)
    cap = os.path.join(d, "esc.hgcap")
    evil = "\x1b[2Jhello\nFAKE LINE\x9b"
    r = subprocess.run([HG, "run", "-q", "-o", cap, "--", exe, evil], cwd=d, capture_output=True)
    check(r.returncode == 0, "run with control characters in argv")
    for cmd in (["info", cap], ["report", cap]):
        out = subprocess.run([HG] + cmd, capture_output=True).stdout
        check(b"\x1b" not in out and b"\xc2\x9b" not in out, "%s escapes ESC and C1" % cmd[0])
        check(b"\\x1b[2Jhello" in out, "%s shows the escape as text" % cmd[0])
        check(not any(line.startswith(b"FAKE LINE") for line in out.split(b"\n")),
              "%s: a newline in argv starts no line" % cmd[0])


def main():
    for t in (test_output, test_control_socket, test_refusals, test_inputs, test_escapes):
        with tempfile.TemporaryDirectory() as d:
            t(d)
    finish()


if __name__ == "__main__":
    main()
