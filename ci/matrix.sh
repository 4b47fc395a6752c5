#!/usr/bin/env bash
# Runs rows of the kernel matrix (all by default, or those named) against their expectations,
# after installing what they need: QEMU, and for source-built rows the kernel source and
# its build tools. Reports go to nsconform-matrix/. Usage: ci/matrix.sh [ROW...] [-- OPTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do rows+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
ci/install-qemu.sh >/dev/null
if grep -q linux-source ci/kernels.toml; then ci/install-linux-source.sh; fi
selection=()
if [ ${#rows[@]} -gt 0 ]; then selection=(--rows "$(IFS=,; echo "${rows[*]}")"); fi
cargo run --release --quiet -- matrix "${selection[@]}" "$@"
