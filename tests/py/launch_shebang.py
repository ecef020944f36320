# site_exact.py run as an executable `#!/usr/bin/env python3` script (the
# kernel runs env, env finds python3 on PATH): the same site, counts and frames.
# script: site_exact.py
# launch: shebang
# expect: at(main, "make_blocks", L("make"), 1033) == (1000, 1033000)
# expect: pystack(main, "make_blocks", L("make"), 1033) == [("make_blocks", L("make")), ("main", L("call")), ("<module>", L("top"))]
