#!/bin/bash
# Report sizes of runs with many processes (docs/benchmarks.md): records the
# three workloads with HEAPGRAPH (default build/heapgraph) and prints, for
# each, the number of processes, the capture, the JSON and the HTML report
# sizes in bytes. usage: tests/bench/report_sizes.sh [HEAPGRAPH] [WORKDIR]
set -e
here=$(cd "$(dirname "$0")" && pwd)
hg=$(realpath "${1:-build/heapgraph}")
work=${2:-$(mktemp -d /tmp/hgsizes-XXXXXX)}
mkdir -p "$work"
cd "$work"
run() {
    local name=$1
    shift
    rm -f "$name.hgcap"
    "$hg" run -q -o "$name.hgcap" -- "$@" > /dev/null
    "$hg" report --format json -o "$name.json" "$name.hgcap" 2> /dev/null
    "$hg" report --format html -o "$name.html" "$name.hgcap" 2> /dev/null
    local procs
    procs=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["processes"]))' "$name.json")
    printf '%-10s processes %4s  capture %10s  json %10s  html %10s\n' "$name" "$procs" \
        "$(stat -c %s "$name.hgcap")" "$(stat -c %s "$name.json")" "$(stat -c %s "$name.html")"
}
run bash bash "$here/procs_script.sh"
run gxx g++ -O1 -c "$here/template_heavy.cc" -o "$work/template_heavy.o"
run pyshim python3 "$here/procs_app.py"
echo "files in $work"
