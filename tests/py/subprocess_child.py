# A child started with subprocess.run (fork + exec of the same interpreter)
# is its own process with its own Python frames: its blocks and frames are
# its own, and the parent, which made none of them, shows none. (3.8 and
# 3.9 fork then exec, and the forked image runs Python for a while; 3.10+
# use vfork.)
# expect: len([p for p in procs if p.origin != "fork"]) == 2
# expect: at([p for p in procs if "child" in p.command][0], "<listcomp>" if vt < (3, 12) else "<module>", L("child"), 9033) == (30, 30 * 9033)
# expect: pystack([p for p in procs if "child" in p.command][0], "<listcomp>" if vt < (3, 12) else "<module>", L("child"), 9033) == [("<listcomp>", L("child"))] * (vt < (3, 12)) + [("<module>", L("child"))]
# expect: at([p for p in procs if "child" not in p.command][0], "<listcomp>" if vt < (3, 12) else "<module>", L("child"), 9033) == (0, 0)
import subprocess
import sys

if len(sys.argv) > 1:
    KEPT = [bytes(9000) for _ in range(30)]  #@child
else:
    subprocess.run([sys.executable, __file__, "child"], check=True)
