"""A small Python program for docs/benchmarks.md ("Report sizes of runs with
many processes"), run through pyenv's shim (`python3`: bash scripts and
pyenv's helpers exec'd in turn before the interpreter)."""
import collections
import json
import re

words = collections.Counter()
for i in range(20000):
    words[f"word{i % 700}"] += 1
table = {k: [v, re.sub(r"\d", "#", k)] for k, v in words.items()}
text = json.dumps(table)
print(len(json.loads(text)))
