#!/usr/bin/env python3
"""`heapgraph run`: the programs it must refuse before running anything (missing,
not executable, static, setuid, a script whose interpreter is static), an
unwritable output path, a disk that fills up mid-recording (ulimit -f), exit
status passthrough, the default output name, -q, the capture's mode 0600, signal
handling, and an installed tree finding its runtime. Standard library only;
HEAPGRAPH, HG_BUILD_DIR and HG_SOURCE_DIR come from ctest."""
import os, resource, shutil, signal, stat, struct, subprocess, sys, tempfile, time, unittest

HG = os.environ.get("HEAPGRAPH", "build/heapgraph")
BUILD = os.environ.get("HG_BUILD_DIR", "build")
HEADER = struct.Struct("<8sIIQQ")
CHUNK = struct.Struct("<IIII")


def run(args, cwd=None, **kw):
    return subprocess.run([HG, "run"] + args, cwd=cwd, capture_output=True, text=True, timeout=120, **kw)


def whole_chunks(path):
    """Checks the file is a header plus whole chunks; returns the chunk count."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, hsize, _, _ = HEADER.unpack_from(data)
    assert magic == b"HGCAPTUR" and version == 3 and hsize == 32, (magic, version, hsize)
    off, n = hsize, 0
    while off < len(data):
        m, comp, raw, _ = CHUNK.unpack_from(data, off)
        assert m == 0x4B434748 and off + CHUNK.size + comp <= len(data), "chunk %d cut" % n
        off += CHUNK.size + comp
        n += 1
    return n


class RunErrors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hg-run-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cc(self, name, src, *flags):
        c = self.path(name + ".c")
        with open(c, "w") as f:
            f.write(src)
        subprocess.run(["cc", "-O2", "-o", self.path(name), c] + list(flags), check=True)
        return self.path(name)

    def assertOneLine(self, p, code, *words):
        self.assertEqual(p.returncode, code, p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("heapgraph: "), lines[0])
        for w in words:
            self.assertIn(w, lines[0])
        self.assertEqual(os.listdir(self.dir) if not words or "keep" not in words else [], [])

    def test_missing_program(self):
        p = run(["-o", self.path("x.hgcap"), "--", "no-such-program-hg"], cwd=self.dir)
        self.assertOneLine(p, 127, "no-such-program-hg", "not found")
        p = run(["-o", self.path("x.hgcap"), "--", self.path("missing")], cwd=self.dir)
        self.assertOneLine(p, 127, "missing")

    def test_not_executable(self):
        f = self.path("data")
        with open(f, "w") as fh:
            fh.write("not a program\n")
        os.chmod(f, 0o644)
        p = run(["--", f], cwd=self.dir)
        self.assertEqual(p.returncode, 126, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertIn("not executable", p.stderr)
        p = run(["--", self.dir], cwd=self.dir)
        self.assertEqual(p.returncode, 126, p.stderr)

    def test_static_binary(self):
        exe = self.cc("static", "int main(void) { return 0; }\n", "-static")
        p = run(["--", exe], cwd=self.dir)
        self.assertEqual(p.returncode, 126, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertIn("statically linked", p.stderr)
        script = self.path("script")
        with open(script, "w") as f:
            f.write("#!%s\n" % exe)
        os.chmod(script, 0o755)
        p = run(["--", script], cwd=self.dir)
        self.assertEqual(p.returncode, 126, p.stderr)
        self.assertIn("statically linked", p.stderr)
        self.assertEqual([n for n in os.listdir(self.dir) if n.endswith(".hgcap")], [])

    def test_setuid_binary(self):
        exe = self.path("sutrue")
        shutil.copy("/bin/true", exe)
        os.chmod(exe, 0o4755)
        p = run(["--", exe], cwd=self.dir)
        self.assertEqual(p.returncode, 126, p.stderr)
        self.assertIn("setuid", p.stderr)
        os.chmod(exe, 0o2755)
        p = run(["--", exe], cwd=self.dir)
        self.assertEqual(p.returncode, 126, p.stderr)
        self.assertIn("setgid", p.stderr)

    def test_unwritable_output(self):
        marker = self.path("ran")
        p = run(["-o", self.path("no/such/dir/x.hgcap"), "--", "sh", "-c", "touch " + marker])
        self.assertEqual(p.returncode, 125, p.stderr)
        self.assertEqual(len(p.stderr.splitlines()), 1)
        self.assertIn("No such file or directory", p.stderr)
        self.assertFalse(os.path.exists(marker), "the program ran although the capture could not be created")
        p = run(["-o", self.dir, "--", "true"])
        self.assertEqual(p.returncode, 125, p.stderr)
        mode = os.stat("/dev/full").st_mode
        p = run(["-o", "/dev/full", "--", "sh", "-c", "touch " + marker])
        self.assertEqual(p.returncode, 125, p.stderr)
        self.assertIn("No space left on device", p.stderr)
        self.assertFalse(os.path.exists(marker))
        self.assertEqual(os.stat("/dev/full").st_mode, mode)  # a device keeps its mode

    def test_disk_full(self):
        # The file-size limit goes on the launcher alone (prlimit once the capture
        # exists): the program keeps its own limits, as `run` passes them through.
        exe = self.cc("allocs", "#include <stdlib.h>\n#include <stdio.h>\n"
                      "int main(void) { getchar();\n"
                      "  for (int i = 0; i < 200000; i++) { void *volatile p = malloc(16 + i % 512); free(p); }\n"
                      "  return 4; }\n")
        out = self.path("full.hgcap")
        limit = 4096
        p = subprocess.Popen([HG, "run", "-o", out, "--", exe], stdin=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        for _ in range(200):
            if os.path.exists(out) and os.path.getsize(out) >= HEADER.size:
                break
            time.sleep(0.05)
        resource.prlimit(p.pid, resource.RLIMIT_FSIZE, (limit, limit))
        _, err = p.communicate("go\n", timeout=120)
        self.assertEqual(p.returncode, 125, err)
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn("File too large", lines[0])
        self.assertLessEqual(os.path.getsize(out), limit)
        whole_chunks(out)

    def test_runtime_that_cannot_start_is_reported(self):
        # Under a 64 KiB file-size limit the runtime cannot size its 128 MiB ring
        # memfd. ftruncate raises SIGXFSZ there; the runtime must take it back and
        # stand down with one line, so the program runs unrecorded to its own
        # exit status (not 128 + SIGXFSZ) and the launcher says so.
        out = self.path("none.hgcap")
        lim = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        p = run(["-o", out, "--", "sh", "-c", "exit 6"], preexec_fn=lim)
        self.assertEqual(p.returncode, 6, p.stderr)
        lines = p.stderr.splitlines()
        self.assertEqual(lines[0], "heapgraph: the file-size limit (ulimit -f) is below "
                         "the size of the ring memory; not recording", p.stderr)
        self.assertEqual(len(lines), 4, p.stderr)
        self.assertIn("recorded 0 processes", lines[1])
        self.assertIn("runtime never started in sh", lines[-1])
        whole_chunks(out)

    def test_exit_status_passthrough(self):
        out = self.path("x.hgcap")
        self.assertEqual(run(["-q", "-o", out, "--", "true"]).returncode, 0)
        self.assertEqual(run(["-q", "-o", out, "--", "sh", "-c", "exit 3"]).returncode, 3)
        self.assertEqual(run(["-q", "-o", out, "--", "sh", "-c", "kill -TERM $$"]).returncode, 128 + signal.SIGTERM)
        self.assertEqual(run(["-q", "-o", out, "--", "sh", "-c", "kill -SEGV $$"]).returncode, 128 + signal.SIGSEGV)
        self.assertEqual(whole_chunks(out) >= 1, True)

    def test_default_name_mode_and_final_lines(self):
        p = run(["--", "sh", "-c", "echo $$"], cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        name = "heapgraph.sh.%d.hgcap" % int(p.stdout.strip())
        path = self.path(name)
        self.assertTrue(os.path.exists(path), os.listdir(self.dir))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 2, p.stderr)
        self.assertIn(name, lines[0])
        self.assertIn("heapgraph report " + name, lines[1])
        whole_chunks(path)
        p = run(["-q", "--", "sh", "-c", "echo $$"], cwd=self.dir)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stderr, "")
        self.assertEqual(p.stdout, "%s\n" % p.stdout.strip())

    def test_existing_file_gets_mode_0600(self):
        out = self.path("old.hgcap")
        with open(out, "w") as f:
            f.write("x" * 100000)
        os.chmod(out, 0o644)
        self.assertEqual(run(["-q", "-o", out, "--", "true"]).returncode, 0)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        whole_chunks(out)

    def test_usage_errors(self):
        self.assertEqual(run([]).returncode, 2)
        self.assertEqual(run(["--sample-interval", "0", "--", "true"]).returncode, 2)
        self.assertEqual(run(["--bogus", "--", "true"]).returncode, 2)
        p = run(["-h"])
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: heapgraph run", p.stdout)

    def test_arguments_environment_stdin_pass_through(self):
        out = self.path("x.hgcap")
        p = subprocess.run([HG, "run", "-q", "-o", out, "--", "sh", "-c",
                            'printf "%s|" "$@"; echo "$HG_T_VAR"; cat', "sh", "a b", "", "-q"],
                           input="from stdin\n", capture_output=True, text=True,
                           env=dict(os.environ, HG_T_VAR="v1", LD_PRELOAD=""), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "a b||-q|v1\nfrom stdin\n")

    def test_signals(self):
        out = self.path("x.hgcap")
        p = subprocess.Popen([HG, "run", "-q", "-o", out, "--", "sleep", "30"])
        for _ in range(200):  # the capture exists once the launcher set its signals up
            if os.path.exists(out) and os.path.getsize(out) >= HEADER.size:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)  # ignored: the terminal would signal the program itself
        time.sleep(0.3)
        self.assertIsNone(p.poll())
        p.send_signal(signal.SIGTERM)  # forwarded to the program
        self.assertEqual(p.wait(timeout=30), 128 + signal.SIGTERM)

    def test_installed_tree_finds_its_runtime(self):
        prefix = self.path("prefix")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                       capture_output=True)
        hg = os.path.join(prefix, "bin", "heapgraph")
        libs = [os.path.join(r, f) for r, _, fs in os.walk(prefix) for f in fs if f == "libheapgraph-rt.so"]
        self.assertEqual(len(libs), 1, libs)
        out = self.path("i.hgcap")
        p = subprocess.run([hg, "run", "-o", out, "--", "true"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("i.hgcap", p.stderr)
        whole_chunks(out)
        os.remove(libs[0])
        p = subprocess.run([hg, "run", "-o", out, "--", "true"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 125)
        self.assertIn("libheapgraph-rt.so", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
