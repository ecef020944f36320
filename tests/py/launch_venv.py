# site_exact.py run by the python of a venv (python -m venv --without-pip):
# the same site, counts and frames.
# script: site_exact.py
# launch: venv
# expect: at(main, "make_blocks", L("make"), 1033) == (1000, 1033000)
# expect: pystack(main, "make_blocks", L("make"), 1033) == [("make_blocks", L("make")), ("main", L("call")), ("<module>", L("top"))]
