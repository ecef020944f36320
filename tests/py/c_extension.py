# C extensions under their Python caller: zlib.compress's deflate state (20
# calls, each 4 blocks of 64 KiB made by libz's deflateInit2_, through the
# zlib module, which Debian builds into its interpreter and pyenv as an
# extension) and json.loads's strings (10 calls, each 200 strings "v" * 50
# of 99 bytes, 91 from 3.12, made by the _json extension's scanner) show the
# native frames of libz or of the extension first, then the Python line that
# called it and its callers; the interpreter's frames between are hidden.
# expect: at(main, Q("compress.<locals>.<listcomp>") if vt < (3, 12) else "compress", L("z"), 65536) == (80, 80 * 65536)
# expect: frames(main, Q("compress.<locals>.<listcomp>") if vt < (3, 12) else "compress", L("z"), 65536)[0].function == "deflateInit2_"
# expect: set(base(f.module) for f in frames(main, Q("compress.<locals>.<listcomp>") if vt < (3, 12) else "compress", L("z"), 65536) if f.language == "native") <= {"libz.so.1", base(zlib_module)}
# expect: pystack(main, Q("compress.<locals>.<listcomp>") if vt < (3, 12) else "compress", L("z"), 65536) == [(Q("compress.<locals>.<listcomp>"), L("z"))] * (vt < (3, 12)) + [("compress", L("z")), ("<module>", L("top"))]
# expect: at(main, Q("JSONDecoder.raw_decode"), None, 99 - 8 * (vt >= (3, 12))) == (2000, 2000 * (99 - 8 * (vt >= (3, 12))))
# expect: all(base(f.module).startswith("_json.") for f in frames(main, Q("JSONDecoder.raw_decode"), None, 99 - 8 * (vt >= (3, 12))) if f.language == "native")
# expect: [f for f, _ in pystack(main, Q("JSONDecoder.raw_decode"), None, 99 - 8 * (vt >= (3, 12)))] == [Q("JSONDecoder.raw_decode"), Q("JSONDecoder.decode"), "loads"] + [Q("parse.<locals>.<listcomp>")] * (vt < (3, 12)) + ["parse", "<module>"]
# expect: pystack(main, Q("JSONDecoder.raw_decode"), None, 99 - 8 * (vt >= (3, 12)))[-2:] == [("parse", L("j")), ("<module>", L("top"))]
# expect: frames(main, Q("JSONDecoder.raw_decode"), None, 99 - 8 * (vt >= (3, 12)))[0].language == "native"
import json
import zlib

DATA = bytes(range(256)) * 400
TEXT = json.dumps([{"key%d" % i: "v" * 50} for i in range(200)])


def compress():
    return [zlib.compress(DATA) for _ in range(20)]  #@z


def parse():
    return [json.loads(TEXT) for _ in range(10)]  #@j


KEPT = compress(), parse()  #@top
