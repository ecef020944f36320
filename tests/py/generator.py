# A generator's blocks, made at its yield while list() drives it from C:
# the generator's frame (its own eval-loop call) comes first, then the
# function that called list(), then the module.
# expect: at(main, "gen", L("yield"), 3033) == (200, 200 * 3033)
# expect: pystack(main, "gen", L("yield"), 3033) == [("gen", L("yield")), ("consume", L("list")), ("<module>", L("top"))]


def gen(n):
    for _ in range(n):
        yield bytes(3000)  #@yield


def consume():
    return list(gen(200))  #@list


KEPT = consume()  #@top
