# Python called back from C: sorted(key=...) and map(...) call key() and
# double() from the interpreter's C code; each callback's frame is its own
# eval-loop call, above the frame that called sorted() or list(map()).
# expect: at(main, "key", L("key"), 5033) == (100, 100 * 5033)
# expect: pystack(main, "key", L("key"), 5033) == [("key", L("key")), ("main", L("sorted")), ("<module>", L("top"))]
# expect: at(main, "double", L("double"), 6033) == (50, 50 * 6033)
# expect: pystack(main, "double", L("double"), 6033) == [("double", L("double")), ("main", L("map")), ("<module>", L("top"))]
KEYS = []


def key(x):
    KEYS.append(bytes(5000))  #@key
    return -x


def double(x):
    return bytes(6000), x * 2  #@double


def main():
    order = sorted(range(100), key=key)  #@sorted
    pairs = list(map(double, range(50)))  #@map
    return order, pairs


KEPT = main()  #@top
