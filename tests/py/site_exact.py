# 1,000 bytes objects of 1,000 bytes (1,033-byte blocks: a 32-byte header and a
# NUL) made at one line of make_blocks show as that site with exactly those
# counts, under main and the module's code; the interpreter's own frames
# (bytes_new, the eval loop, Py_RunMain, _start) are hidden.
# expect: at(main, "make_blocks", L("make"), 1033) == (1000, 1033000)
# expect: pystack(main, "make_blocks", L("make"), 1033) == [("make_blocks", L("make")), ("main", L("call")), ("<module>", L("top"))]
# expect: all(lang == "python" for _, lang in stack(main, "make_blocks", L("make"), 1033))
# expect: main.python.frames and main.python.version == version
KEPT = []


def make_blocks(n):
    out = []
    for _ in range(n):
        out.append(bytes(1000))  #@make
    return out


def main():
    KEPT.append(make_blocks(1000))  #@call


main()  #@top
