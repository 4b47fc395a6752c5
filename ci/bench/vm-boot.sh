#!/usr/bin/env bash
# Benchmark: per kernel, wall time of a bare guest boot (init starts, one check that skips at
# once, reboot) against a run of every check one at a time (--jobs 1) and concurrently (the
# default: the guest's CPUs), all under TCG with the kernel already cached.
# Usage: ci/bench/vm-boot.sh [debian:VERSION ...]   (default: 5.10 6.1 6.12 7.2)
set -euo pipefail
cd "$(dirname "$0")/../.."
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(debian:5.10 debian:6.1 debian:6.12 debian:7.2)
cargo build --release --quiet --bin nsconform
bin=${CARGO_TARGET_DIR:-target}/release/nsconform
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bare_check=cgroup.flag-ignored-when-configured-out
ms() { local s=$(date +%s%N); "$@" >"$out/log" 2>&1 || true; echo $(( ($(date +%s%N) - s) / 1000000 )); }
printf '%-14s %8s %10s %10s %10s %10s\n' kernel bare_ms serial_ms added_ms conc_ms added_ms
for k in "${kernels[@]}"; do
  "$bin" vm --kernel "$k" --accel tcg --out "$out" "$bare_check" >/dev/null 2>&1 || true  # fetch once
  bare=$(ms "$bin" vm --kernel "$k" --accel tcg --out "$out" "$bare_check")
  serial=$(ms "$bin" vm --kernel "$k" --accel tcg --out "$out" --jobs 1)
  conc=$(ms "$bin" vm --kernel "$k" --accel tcg --out "$out")
  summary=$(grep -E '^[0-9]+ passed' "$out/log" | head -n1)
  printf '%-14s %8s %10s %10s %10s %10s | %s\n' "$k" "$bare" "$serial" "$((serial - bare))" "$conc" "$((conc - bare))" "$summary"
done
