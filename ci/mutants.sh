#!/usr/bin/env bash
# Plants the kernel mutants of ci/mutants/ one at a time in a minimal 6.12 kernel built from
# source and checks that a check FAILs for every one, after installing what that needs: QEMU,
# the kernel source and its build tools. Reports go to nsconform-matrix/mutants.{md,html,json}.
# Usage: ci/mutants.sh [OPTIONS]   e.g. ci/mutants.sh --only 01,02   ci/mutants.sh --shard 2/4
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-qemu.sh >/dev/null
ci/install-linux-source.sh
cargo run --release --quiet -- mutants "$@"
