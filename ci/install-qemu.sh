#!/usr/bin/env bash
# Installs QEMU for the VM runner: the script lives in the vm crate, which embeds it (and runs
# it when QEMU is missing), so that the published crate carries it.
exec "$(dirname "$0")/../vm/install-qemu.sh" "$@"
