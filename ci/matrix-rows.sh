#!/usr/bin/env bash
# Prints the names of the rows of ci/kernels.toml as a JSON list (for a CI job matrix).
set -euo pipefail
cd "$(dirname "$0")/.."
names=$(grep -E '^name = ' ci/kernels.toml | sed -E 's/^name = "(.*)"/"\1"/' | paste -sd, -)
echo "[$names]"
