#!/usr/bin/env bash
# Plants the kernel mutants of ci/mutants/ one at a time in a minimal 6.12 kernel built from
# source and checks that a check FAILs for every one, after installing what that needs: QEMU,
# the kernel source and its build tools. Reports go to nsconform-matrix/mutants.{md,html,json}.
# Usage: ci/mutants.sh [OPTIONS]   e.g. ci/mutants.sh --only 01,02   ci/mutants.sh --shard 2/4
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-qemu.sh >/dev/null
if [ ! -e /usr/src/linux-source-6.12.tar.xz ] || ! command -v bison >/dev/null || ! command -v flex >/dev/null; then
  echo "installing linux-source-6.12 and the kernel build tools"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    linux-source-6.12 bc flex bison libelf-dev libssl-dev build-essential xz-utils git >/dev/null
fi
cargo run --release --quiet -- mutants "$@"
