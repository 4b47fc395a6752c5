#!/usr/bin/env bash
# Runs `nsconform vm --kernel debian:VERSION` inside an Ubuntu 24.04 userland (a debootstrap
# chroot with Ubuntu's own apt trust, no Debian keys), as a user of an Ubuntu host or a
# GitHub-hosted runner would: QEMU and debian-archive-keyring are installed there by apt, the
# Debian kernel is fetched into the chroot's empty cache, then booted. Mounts live in a private
# mount namespace and vanish with it. Needs root, debootstrap and network to both archives.
# Usage: ci/ubuntu-userland.sh [DIR] [debian:VERSION]   (default /var/tmp/nsconform-noble, debian:6.1)
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/var/tmp/nsconform-noble}
kernel=${2:-debian:6.1}
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
if [ ! -x "$root/usr/bin/apt-get" ]; then
  echo "debootstrap Ubuntu noble into $root"
  # Debian's debootstrap has no noble script; gutsy's is the one every Ubuntu release uses.
  debootstrap --variant=minbase --no-check-gpg --components=main,universe noble "$root" \
    http://archive.ubuntu.com/ubuntu /usr/share/debootstrap/scripts/gutsy >/dev/null
fi
cargo build --release --quiet -p nsconform
cp "${CARGO_TARGET_DIR:-target}/release/nsconform" "$root/usr/local/bin/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The host's apt policy for its mirror goes along (a registry that serves a snapshot of the
# archives sets Acquire::Check-Valid-Until false; sid's Release would count as expired).
grep -ls "Check-Valid-Until" /etc/apt/apt.conf.d/* 2>/dev/null | xargs -r cp -t "$root/etc/apt/apt.conf.d/"
rm -rf "$root/root/.cache/nsconform/debian"
unshare -m bash -euo pipefail -c '
  mount --make-rprivate /
  mount -t proc proc "$1/proc"; mount --rbind /sys "$1/sys"; mount --rbind /dev "$1/dev"; mount -t tmpfs tmpfs "$1/tmp"
  chroot "$1" /bin/bash -c "apt-get update -qq && apt-get purge -y -qq debian-archive-keyring >/dev/null 2>&1; cd /tmp && nsconform vm --kernel $2 --out /tmp/vm -- uts"
' - "$root" "$kernel"
