#!/usr/bin/env bash
# Puts Debian's linux-source-6.12 at /usr/src/linux-source-6.12.tar.xz (the source of the
# matrix's built rows and of the kernel mutants) and installs the kernel build tools. On
# Debian it is the package itself (bookworm takes it from bookworm-backports); elsewhere (an
# Ubuntu host or GitHub runner) the package is fetched from Debian's archive through a private
# apt state trusted by Debian's keyring alone, and only the tarball is taken out of it.
# Usage: ci/install-linux-source.sh              install (nothing to do when present)
#        ci/install-linux-source.sh --version    print the version Debian's archive has now
set -euo pipefail
tarball=/usr/src/linux-source-6.12.tar.xz
tools=(bc flex bison libelf-dev libssl-dev build-essential xz-utils git)
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

# A private apt state for Debian 12's suites; the newest 6.12 wins, as on Debian 12 itself
# (today bookworm-security's, above backports').
private_apt() {
  [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || apt_install debian-archive-keyring
  state=$(mktemp -d)
  trap 'rm -rf "$state"' EXIT
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  for suite in "debian bookworm" "debian-security bookworm-security" "debian bookworm-backports"; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/${suite% *} ${suite#* } main"
  done >"$state/sources.list"
  apt=(-qq -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o APT::Architecture=amd64
    -o APT::Sandbox::User=root) # _apt could not enter the private directory
  apt-get "${apt[@]}" update
}

if [ "${1:-}" = --version ]; then
  private_apt
  apt-cache "${apt[@]}" policy linux-source-6.12 | sed -n 's/^ *Candidate: //p'
  exit 0
fi
if [ -e "$tarball" ] && command -v bison >/dev/null && command -v flex >/dev/null; then exit 0; fi
echo "installing linux-source-6.12 and the kernel build tools"
. /etc/os-release
if [ "${ID:-}" = debian ]; then
  if [ "${VERSION_CODENAME:-}" = bookworm ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/nsconform-backports.list
    apt-get update -qq
  fi
  apt_install linux-source-6.12 "${tools[@]}"
  exit 0
fi
apt_install "${tools[@]}"
private_apt
(cd "$state" && apt-get "${apt[@]}" download linux-source-6.12)
mkdir -p /usr/src
dpkg-deb --fsys-tarfile "$state"/linux-source-6.12_*.deb | tar -xO ./usr/src/linux-source-6.12.tar.xz >"$tarball.part"
mv "$tarball.part" "$tarball"
echo "$tarball from $(basename "$state"/linux-source-6.12_*.deb)"
