#!/usr/bin/env bash
# Benchmark: wall time of a full host run (`nsconform run`), repeated, in milliseconds.
# Usage: ci/bench/host-run.sh [RUNS] [FILTER...]   (default 20 runs of every check)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
shift || true
cargo build --release --quiet --bin nsconform
bin=target/release/nsconform
"$bin" run -q "$@" >/dev/null || { echo "the run itself failed; fix that first" >&2; exit 1; }
times=()
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$bin" run -q "$@" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
min=$(head -n1 <<<"$sorted"); max=$(tail -n1 <<<"$sorted")
median=$(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted")
checks=$("$bin" list "$@" | tail -n1)
echo "nsconform run ($checks, $(uname -r), $(nproc) cores): $runs runs, wall ms min $min, median $median, max $max"
echo "slowest checks of one run:"
"$bin" run "$@" | grep -E '^(PASS|FAIL|SKIP)' | sed -E 's/^(\S+) (\S+) \(([0-9.]+) ms\).*/\3 ms \2 \1/' | sort -rn | head -n5 | sed 's/^/  /'
