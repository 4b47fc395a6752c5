#!/usr/bin/env bash
# Puts Debian's linux-source-VERSION at /usr/src/linux-source-VERSION.tar.xz and installs the
# kernel build tools. 6.12 (the default) is the source of the matrix's built rows and of the
# kernel mutants of ci/mutants/; 7.2 that of ci/mutants-7.2/. On Debian 12 and 13, 6.12 is the
# package itself (Debian 12 takes it from bookworm-backports); elsewhere (another release, an
# Ubuntu host or GitHub runner), and for 7.2 (Debian unstable's, while unstable carries 7.2),
# the package is fetched from Debian's archive through a private apt state trusted by Debian's
# keyring alone, and only the tarball is taken out of it.
# Usage: ci/install-linux-source.sh [6.12|7.2]             install (nothing to do when present)
#        ci/install-linux-source.sh [6.12|7.2] --version   print the version Debian's archive has now
set -euo pipefail
version=6.12
print_version=false
for arg in "$@"; do
  case $arg in
    6.12 | 7.2) version=$arg ;;
    --version) print_version=true ;;
    *) echo "ci/install-linux-source.sh: unknown argument $arg (usage: [6.12|7.2] [--version])" >&2; exit 2 ;;
  esac
done
package=linux-source-$version
tarball=/usr/src/$package.tar.xz
case $version in
  6.12) suites=("debian bookworm" "debian-security bookworm-security" "debian bookworm-backports") ;;
  7.2) suites=("debian sid") ;;
esac
tools=(bc flex bison libelf-dev libssl-dev build-essential xz-utils git)
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

# A private apt state for the version's suites; the newest package wins (for 6.12 today
# bookworm-security's, above backports', as on Debian 12 itself).
private_apt() {
  [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || apt_install debian-archive-keyring
  state=$(mktemp -d)
  trap 'rm -rf "$state"' EXIT
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  for suite in "${suites[@]}"; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/${suite% *} ${suite#* } main"
  done >"$state/sources.list"
  apt=(-qq -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o APT::Architecture=amd64
    -o APT::Sandbox::User=root) # _apt could not enter the private directory
  apt-get "${apt[@]}" update
}

if $print_version; then
  private_apt
  apt-cache "${apt[@]}" policy "$package" | sed -n 's/^ *Candidate: //p'
  exit 0
fi
if [ -e "$tarball" ] && command -v bison >/dev/null && command -v flex >/dev/null; then exit 0; fi
echo "installing $package and the kernel build tools"
. /etc/os-release
if [ "${ID:-}" = debian ] && [ "$version" = 6.12 ] && [[ "${VERSION_CODENAME:-}" =~ ^(bookworm|trixie)$ ]]; then
  if [ "${VERSION_CODENAME:-}" = bookworm ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/nsconform-backports.list
    apt-get update -qq
  fi
  apt_install "$package" "${tools[@]}"
  exit 0
fi
apt_install "${tools[@]}"
private_apt
(cd "$state" && apt-get "${apt[@]}" download "$package")
mkdir -p /usr/src
dpkg-deb --fsys-tarfile "$state"/"$package"_*.deb | tar -xO "./usr/src/$package.tar.xz" >"$tarball.part"
mv "$tarball.part" "$tarball"
echo "$tarball from $(basename "$state"/"$package"_*.deb)"
