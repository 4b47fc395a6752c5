#!/usr/bin/env bash
# Benchmark: per kernel, wall time of a bare guest boot (init starts, runs no check, reboots)
# against a full run of every check, both under TCG with the kernel already cached.
# Usage: ci/bench/vm-boot.sh [debian:VERSION ...]   (default: 5.10 6.1 6.12 7.2)
set -euo pipefail
cd "$(dirname "$0")/../.."
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(debian:5.10 debian:6.1 debian:6.12 debian:7.2)
cargo build --release --quiet --bin nsconform
bin=target/release/nsconform
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ms() { local s=$(date +%s%N); "$@" >"$out/log" 2>&1 || true; echo $(( ($(date +%s%N) - s) / 1000000 )); }
printf '%-14s %10s %10s %10s %s\n' kernel bare_ms full_ms added_ms initramfs
for k in "${kernels[@]}"; do
  "$bin" vm --kernel "$k" --accel tcg --out "$out" no-check-has-this-id >/dev/null 2>&1 || true  # fetch once
  bare=$(ms "$bin" vm --kernel "$k" --accel tcg --out "$out" no-check-has-this-id)
  full=$(ms "$bin" vm --kernel "$k" --accel tcg --out "$out")
  initramfs=$(grep -o 'in [0-9.]* s;' "$out/log" | head -n1)
  summary=$(grep -E '^[0-9]+ passed' "$out/log" | head -n1)
  printf '%-14s %10s %10s %10s %s | %s\n' "$k" "$bare" "$full" "$((full - bare))" "$initramfs" "$summary"
done
