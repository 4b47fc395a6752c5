#!/usr/bin/env bash
# Installs qemu-system-x86 for the VM runner on Debian 12. The machine's qemu-utils comes
# from bookworm-backports, and Debian 12's own qemu-system-x86 conflicts with it, so the
# package is taken from backports too (see the project's vm notes).
set -euo pipefail
if command -v qemu-system-x86_64 >/dev/null; then
  qemu-system-x86_64 --version | head -n1
  exit 0
fi
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/nsconform-backports.list
  grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ ||
    echo "deb http://deb.debian.org/debian bookworm-backports main" >"$list"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86
else
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86
fi
qemu-system-x86_64 --version | head -n1
