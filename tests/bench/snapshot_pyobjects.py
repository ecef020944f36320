"""snapshot_pyobjects: the Python-objects snapshot benchmark of
docs/benchmarks.md. Keeps about N (default 1,000,000) objects alive in a
module global, a mix of what programs hold: instances of a class with two
attributes, each with its block of inline values, the str and the list each
one refers to, and dicts; then drops pairs of instances that refer to each
other (a tenth as many as it keeps: cycles), with the collector disabled,
so that the exit snapshot has cycles to explain. Not a test: run it under
`heapgraph run`.

usage: snapshot_pyobjects.py [N]
"""
import gc
import sys


class Record:
    def __init__(self, i):
        self.name = "r%d" % i
        self.tags = [i]


def build(n):
    # per record: the instance, its name, its list and the int in it (not
    # one of the cached small ints): 4 objects; a dict for every 4 records;
    # the cycles below add 2 records for every 20: 4.65 objects per record
    records = [Record(i) for i in range(int(n / 4.65))]
    tables = [{"id": i} for i in range(0, len(records), 4)]
    return records, tables


def cycles(n):
    for i in range(n):
        a, b = Record(i), Record(i)
        a.peer, b.peer = b, a


gc.disable()
KEEP = build(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000)
cycles(len(KEEP[0]) // 20)
