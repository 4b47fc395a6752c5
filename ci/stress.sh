#!/usr/bin/env bash
# Reliability under concurrency: RUNS consecutive concurrent host runs (default 20), then 3
# runs at the same time, then the residue test (a full run leaves the host unchanged); with
# --vm KERNEL..., also 5 concurrent guest runs per kernel under TCG. A run passes when it
# ends with exit status 0 (every check PASS, XFAIL or SKIP). Prints each run's summary and,
# at the end, every check that FAILed or was BROKEN in some run (a flaky check shows here).
# Usage: ci/stress.sh [RUNS] [--vm debian:VERSION...]   Exit status: 0 all runs passed, 1 not.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=20
kernels=()
while [ $# -gt 0 ]; do
  case $1 in
    --vm) shift; while [ $# -gt 0 ]; do kernels+=("$1"); shift; done ;;
    [0-9]*) runs=$1; shift ;;
    *) echo "usage: ci/stress.sh [RUNS] [--vm debian:VERSION...]" >&2; exit 2 ;;
  esac
done
cargo build --release --quiet --bin nsconform
bin=${CARGO_TARGET_DIR:-target}/release/nsconform
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
# Runs `nsconform ARGS...` into $out/NAME.log and prints its summary line.
one() {
  local name=$1
  shift
  if "$bin" "$@" >"$out/$name.log" 2>&1; then status=ok; else status="FAILED ($?)"; failed=1; fi
  echo "$name: $status: $(grep -E '^[0-9]+ passed' "$out/$name.log" | tail -n1)"
}
for i in $(seq "$runs"); do one "host-$i" run; done
for i in 1 2 3; do "$bin" run >"$out/simultaneous-$i.log" 2>&1 & done
for i in 1 2 3; do
  if wait -n; then :; else failed=1; fi
done
for i in 1 2 3; do echo "simultaneous-$i: $(grep -E '^[0-9]+ passed' "$out/simultaneous-$i.log" | tail -n1)"; done
if cargo test --release --quiet --test host_state >"$out/residue.log" 2>&1; then
  echo "residue test: ok"
else
  echo "residue test: FAILED"; cat "$out/residue.log"; failed=1
fi
for k in "${kernels[@]}"; do
  for i in 1 2 3 4 5; do one "vm-${k#debian:}-$i" vm --kernel "$k" --accel tcg --out "$out/vm"; done
done
echo "checks that FAILed or were BROKEN in some run:"
cat "$out"/*.log | grep -E '^(FAIL|BROKEN) ' | sed -E 's/^(\S+) (\S+).*/\2 \1/' | sort | uniq -c | sed 's/^/  /' || echo "  none"
exit "$failed"
