#!/usr/bin/env python3
"""By hand, not a ctest: runs every tests/py test under each CPython that
pyenv has installed on this machine (3.8 to 3.13 are supported; the suite
itself runs 3.11 only, since CI may have no other), and prints one line per
test and version. The tests' expectations say where versions differ.

    python3 tests/py/check_versions.py build/heapgraph [VERSION...]

Exits 1 when any test failed. Standard library only."""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def interpreters(wanted):
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = []
    for d in sorted(glob.glob(os.path.join(root, "versions", "3.*"))):
        full = os.path.basename(d)
        minor = ".".join(full.split(".")[:2])
        exe = os.path.join(d, "bin", "python" + minor)
        supported = tuple(int(x) for x in minor.split(".")) >= (3, 8)
        if supported and os.access(exe, os.X_OK) and (not wanted or minor in wanted or full in wanted):
            found.append((full, exe))
    return found


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    heapgraph = os.path.abspath(sys.argv[1])
    tests = sorted(t for t in glob.glob(os.path.join(HERE, "*.py"))
                   if os.path.basename(t) not in ("run_py.py", "check_versions.py"))
    failed = 0
    for full, exe in interpreters(sys.argv[2:]):
        for t in tests:
            r = subprocess.run([sys.executable, os.path.join(HERE, "run_py.py"), "--heapgraph",
                                heapgraph, "--python", exe, "--workdir", "/tmp/hg-py-versions", t],
                               capture_output=True, text=True)
            status = {0: "ok", 77: "skipped"}.get(r.returncode, "FAILED")
            failed += status == "FAILED"
            print("%-8s %-22s %s" % (full, os.path.basename(t)[:-3], status))
            if status == "FAILED":
                print("    " + r.stdout.strip().replace("\n", "\n    "))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
