# site_exact.py run as `python -m site_exact` (runpy imports and runs it):
# the same site and counts; below the module's code come runpy's frames.
# script: site_exact.py
# launch: module
# expect: at(main, "make_blocks", L("make"), 1033) == (1000, 1033000)
# expect: pystack(main, "make_blocks", L("make"), 1033)[:3] == [("make_blocks", L("make")), ("main", L("call")), ("<module>", L("top"))]
# expect: [f for f, _ in pystack(main, "make_blocks", L("make"), 1033)[3:]] == ["_run_code", "_run_module_as_main"]
