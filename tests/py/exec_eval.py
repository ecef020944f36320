# Code made at run time: a function defined by exec() of compiled source
# ("<generated>") and an expression run by eval() ("<string>") have their
# own frames and lines, under the line of this file that ran them. Then 30
# functions are compiled, run once and dropped, one after another: a freed
# code object's address may hold the next one, which must not inherit its
# name or lines (each f<i> makes its block on line i + 2 of its source).
# (3.12 runs a comprehension inside the frame that contains it, PEP 709.)
# expect: at(main, "made", 2, 8033) == (50, 50 * 8033)
# expect: [(f, l) for f, l in pystack(main, "made", 2, 8033)][-1] == ("<module>", L("exec"))
# expect: pystack(main, "made", 2, 8033)[0] == ("made", 2)
# expect: at(main, "<listcomp>" if vt < (3, 12) else "<module>", 1, 7033) == (40, 40 * 7033)
# expect: pystack(main, "<listcomp>" if vt < (3, 12) else "<module>", 1, 7033) == [("<listcomp>", 1)] * (vt < (3, 12)) + [("<module>", 1), ("<module>", L("eval"))]
# expect: all(at(main, "f%d" % i, i + 2, 9033 + i) == (1, 9033 + i) for i in range(30))
KEPT = []
SOURCE = "def made():\n    return bytes(8000)\nKEPT.extend(made() for _ in range(50))\n"
exec(compile(SOURCE, "<generated>", "exec"), {"KEPT": KEPT})  #@exec
KEPT.append(eval("[bytes(7000) for _ in range(40)]"))  #@eval
for i in range(30):
    namespace = {}
    exec("def f%d():\n%s    return bytes(%d)\n" % (i, "\n" * i, 9000 + i), namespace)
    KEPT.append(namespace["f%d" % i]())
    del namespace
