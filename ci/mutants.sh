#!/usr/bin/env bash
# Plants the kernel mutants one at a time in a minimal kernel built from source and checks that
# a check FAILs for every one, after installing what that needs: QEMU, the kernel source and its
# build tools. By default the mutants of ci/mutants/ in Linux 6.12; with `7.2` first, those of
# ci/mutants-7.2/ (interfaces 6.12 lacks, and POSIX timers) in Linux 7.2. Reports go to
# nsconform-matrix/mutants.{md,html,json} (nsconform-matrix/7.2/ for the 7.2 set).
# Usage: ci/mutants.sh [7.2] [OPTIONS]   e.g. ci/mutants.sh --only 01,02   ci/mutants.sh --shard 2/4
set -euo pipefail
cd "$(dirname "$0")/.."
set_options=()
if [ "${1:-}" = 7.2 ]; then
  shift
  set_options=(--source /usr/src/linux-source-7.2.tar.xz --mutants ci/mutants-7.2 --out nsconform-matrix/7.2
    --fragment ci/configs/minimal.config --fragment ci/configs/mutants.config --fragment ci/configs/posix-timers.config)
  ci/install-linux-source.sh 7.2
else
  ci/install-linux-source.sh
fi
ci/install-qemu.sh >/dev/null
cargo run --release --quiet -- mutants ${set_options[@]+"${set_options[@]}"} "$@"
