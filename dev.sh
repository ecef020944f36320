#!/usr/bin/env bash
# dev.sh - set up, build, demo and test heapgraph on a Debian 12 machine.
#
#   ./dev.sh demo   install missing packages, build into build/, record the
#                   example program examples/leaky.c and print its report
#   ./dev.sh test   install missing packages, build build/ and the sanitizer
#                   build build-asan/ (HG_SANITIZE=ON), run every test in both;
#                   exits non-zero if any test fails
#
# Run as root (or with sudo available) on a fresh machine: apt-get installs
# whatever is missing. Parallelism is -j2 (the project's CI machines have two
# cores); override with JOBS=N.
set -euo pipefail
cd "$(dirname "$0")"

JOBS=${JOBS:-2}
PACKAGES=(build-essential cmake pkg-config libunwind-dev libelf-dev libdw-dev uthash-dev
          libzstd-dev zstd valgrind clang python3 nodejs npm chromium
          libjemalloc-dev libgoogle-perftools-dev libmimalloc-dev libclang-rt-14-dev
          python3-pytest)

# A package counts as present when dpkg has it, or for tools that also come
# from elsewhere (npm ships with some nodejs builds) when the command exists.
have() {
    case $1 in
        nodejs) command -v node >/dev/null && return 0 ;;
        npm | chromium | python3) command -v "$1" >/dev/null && return 0 ;;
    esac
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_missing() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        have "$p" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "dev.sh: installing ${missing[*]}"
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
}

build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@"
    cmake --build "$dir" -j"$JOBS"
}

demo() {
    install_missing
    build build
    cc -g -O1 examples/leaky.c -o build/leaky
    build/heapgraph run -o build/leaky.hgcap -- build/leaky
    build/heapgraph report build/leaky.hgcap
}

run_tests() {
    install_missing
    build build
    build build-asan -DHG_SANITIZE=ON
    if [ -f tests/browser/package.json ]; then
        (cd tests/browser && npm ci --no-audit --no-fund)
    fi
    local status=0
    ctest --test-dir build --output-on-failure -j"$JOBS" || status=1
    ctest --test-dir build-asan --output-on-failure -j"$JOBS" || status=1
    if [ "$status" -ne 0 ]; then
        echo "dev.sh: some tests failed" >&2
    fi
    return "$status"
}

case "${1:-}" in
    demo) demo ;;
    test) run_tests ;;
    *)
        echo "usage: ./dev.sh demo|test" >&2
        exit 2
        ;;
esac
