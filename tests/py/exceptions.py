# Blocks made while raising and while handling: the message string made in
# fail() (a 3,000-character ASCII str: 3,049 bytes with its header and NUL;
# 3,041 from 3.12, whose str header lost a pointer)
# is fail's, below the try in catch(); the block made in the except clause
# is catch's, at the handler's line.
# expect: at(main, "fail", L("raise"), 3049 - 8 * (vt >= (3, 12))) == (100, 100 * (3049 - 8 * (vt >= (3, 12))))
# expect: pystack(main, "fail", L("raise"), 3049 - 8 * (vt >= (3, 12))) == [("fail", L("raise")), ("catch", L("call")), ("<module>", L("top"))]
# expect: at(main, "catch", L("handler"), 7033) == (100, 100 * 7033)
# expect: pystack(main, "catch", L("handler"), 7033) == [("catch", L("handler")), ("<module>", L("top"))]


def fail(n):
    raise ValueError("x" * n)  #@raise


def catch():
    out = []
    for _ in range(100):
        try:
            fail(3000)  #@call
        except ValueError as e:
            out.append((e, bytes(7000)))  #@handler
    return out


KEPT = catch()  #@top
