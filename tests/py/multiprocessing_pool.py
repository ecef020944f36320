# A multiprocessing pool of 2 forked workers runs work() 40 times: every
# worker is its own process; their sites together count the 40 blocks, each
# under the worker's frames (work, mapstar, worker, the process bootstrap),
# and the parent made none of them.
# expect: len([p for p in procs if p.origin == "fork"]) >= 2
# expect: sum(at(p, "work", L("work"), 10033)[0] for p in procs if p.origin == "fork") == 40
# expect: all([f for f, _ in pystack(p, "work", L("work"), 10033)][:5] == ["work", "mapstar", "worker", Q("BaseProcess.run"), Q("BaseProcess._bootstrap")] for p in procs if p.origin == "fork" and at(p, "work", L("work"), 10033)[0])
# expect: at(main, "work", L("work"), 10033) == (0, 0)
import multiprocessing

KEPT = []


def work(i):
    KEPT.append(bytes(10000))  #@work
    return i


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(sum(pool.map(work, range(40), chunksize=1)))
