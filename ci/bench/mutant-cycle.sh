#!/usr/bin/env bash
# Benchmark: the per-mutant cycle of `nsconform mutants` with the kernel tree already built
# (apply, incremental make bzImage, boot under TCG with every check, revert and prove the tree
# clean): figures per mutant and their median. Preparing the tree is not counted.
# Usage: ci/bench/mutant-cycle.sh [MUTANTS_OPTIONS]   (default: --only 01,02,03,04,05)
# e.g.   ci/bench/mutant-cycle.sh --mutants app/tests/fixtures/mutants --only 01,02
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v jq >/dev/null || { echo "this benchmark reads mutants.json with jq (apt-get install jq)" >&2; exit 2; }
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--only 01,02,03,04,05)
cargo build --release --quiet --bin nsconform
bin=${CARGO_TARGET_DIR:-target}/release/nsconform
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" mutants "${args[@]}" --list >/dev/null   # bad input fails here, before any build
echo "preparing the kernel tree (not counted)" >&2
"$bin" mutants "${args[@]}" --prepare --out "$out" >"$out/prepare.log" 2>&1 || { tail -n5 "$out/prepare.log" >&2; exit 1; }
"$bin" mutants "${args[@]}" --out "$out" >"$out/run.log" 2>&1 || true
json=$out/mutants.json
[ -s "$json" ] || { tail -n5 "$out/run.log" >&2; exit 1; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) printf "%.1f\n", v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }
jq -r '"kernel \(.kernel), \(.checks) checks; unmutated kernel: incremental build \(.baseline_build_s*10|round/10) s, boot with every check \(.baseline_boot_s*10|round/10) s"' "$json"
printf '%-40s %8s %8s %8s  %s\n' mutant build_s boot_s cycle_s verdict
jq -r '.mutants[] | [.name, ((.build_s // 0)*10|round/10), ((.boot_s // 0)*10|round/10), ((.cycle_s // 0)*10|round/10), .verdict] | @tsv' "$json" |
  while IFS=$'\t' read -r name build boot cycle verdict; do printf '%-40s %8s %8s %8s  %s\n' "$name" "$build" "$boot" "$cycle" "$verdict"; done
printf '%-40s %8s %8s %8s  (%s mutants; cycle = apply + build + boot + revert)\n' median \
  "$(jq -r '.mutants[].build_s // empty' "$json" | median)" \
  "$(jq -r '.mutants[].boot_s // empty' "$json" | median)" \
  "$(jq -r '.mutants[].cycle_s // empty' "$json" | median)" \
  "$(jq '.mutants | length' "$json")"
