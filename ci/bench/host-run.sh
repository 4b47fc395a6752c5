#!/usr/bin/env bash
# Benchmark: wall time of a full host run (`nsconform run`), one check at a time (--jobs 1)
# against concurrent (the default: as many as the CPUs), repeated, in milliseconds.
# Usage: ci/bench/host-run.sh [RUNS] [FILTER...]   (default 20 runs of every check)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
shift || true
cargo build --release --quiet --bin nsconform
bin=${CARGO_TARGET_DIR:-target}/release/nsconform
"$bin" run -q "$@" >/dev/null || { echo "the run itself failed; fix that first" >&2; exit 1; }
# Prints "min median max" of RUNS runs of `nsconform run -q ARGS...`.
measure() {
  local times=() start end
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" run -q "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  echo "$(head -n1 <<<"$sorted") $(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted") $(tail -n1 <<<"$sorted")"
}
read -r smin smed smax < <(measure --jobs 1 "$@")
read -r cmin cmed cmax < <(measure "$@")
checks=$("$bin" list "$@" | tail -n1)
echo "nsconform run ($checks, $(uname -r), $(nproc) CPUs), $runs runs each, wall ms min/median/max:"
echo "  one at a time: $smin / $smed / $smax"
echo "  concurrent:    $cmin / $cmed / $cmax   (serial/concurrent median ratio $(awk -v s="$smed" -v c="$cmed" 'BEGIN { printf "%.2f", s / c }'))"
echo "slowest checks of one run:"
"$bin" run "$@" | grep -E '^(PASS|FAIL|SKIP|XFAIL)' | sed -E 's/^(\S+) (\S+) \(([0-9.]+) ms\).*/\3 ms \2 \1/' | sort -rn | head -n5 | sed 's/^/  /'
