# Two threading.Thread threads each make 300 blocks at one line of work():
# the site counts both threads' blocks exactly, and its Python frames are the
# thread's own (work, then threading's run and bootstrap), none of the main
# thread's, which was elsewhere (join) at the time.
# expect: at(main, "work", L("work"), 2033) == (600, 600 * 2033)
# expect: [f for f, _ in pystack(main, "work", L("work"), 2033)] == ["work", Q("Thread.run"), Q("Thread._bootstrap_inner"), Q("Thread._bootstrap")]
# expect: pystack(main, "work", L("work"), 2033)[0] == ("work", L("work"))
import threading


def work(n, out):
    for _ in range(n):
        out.append(bytes(2000))  #@work


def main():
    outs = [[], []]
    threads = [threading.Thread(target=work, args=(300, out)) for out in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outs


KEPT = main()
