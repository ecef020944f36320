# site_exact.py through pyenv's python3 shim (a bash script that execs the
# real binary): the wrapper processes are recorded too, and the python one
# has the same site with the same counts and frames (skipped without pyenv).
# script: site_exact.py
# launch: shim
# expect: at(main, "make_blocks", L("make"), 1033) == (1000, 1033000)
# expect: pystack(main, "make_blocks", L("make"), 1033) == [("make_blocks", L("make")), ("main", L("call")), ("<module>", L("top"))]
# expect: len(procs) == 1 and len(report_processes) > 1
