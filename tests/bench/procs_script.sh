#!/bin/bash
# A shell script with pipes, command substitutions and subshells: 472
# processes (bash forks, exec'd tools), for docs/benchmarks.md, "Report
# sizes of runs with many processes". Run it under report_sizes.sh.
total=0
for i in $(seq 1 39); do
    echo "line $i of the input" | tr a-z A-Z | sed 's/LINE/line/' > /dev/null
    n=$(echo "$i" | wc -c)
    total=$((total + n))
    ( cd / && ls > /dev/null )
done
echo "$total" > /dev/null
