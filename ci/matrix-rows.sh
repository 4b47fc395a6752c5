#!/usr/bin/env bash
# Prints the names of the VM rows of ci/kernels.toml as a JSON list, for a CI job matrix.
# The host row is left out: its verdicts are those of whatever kernel the CI runner has,
# while its expectations were recorded on the project's own machines.
set -euo pipefail
cd "$(dirname "$0")/.."
awk -F'"' '/^name = /{name=$2} /^kernel = /{if ($2 != "host") rows = rows (rows ? "," : "") "\"" name "\""} END{print "[" rows "]"}' ci/kernels.toml
