#!/usr/bin/env bash
# ensure-packages.sh DEBIAN_PACKAGE PROGRAM...
# Installs DEBIAN_PACKAGE when one of PROGRAMs is missing (Debian/Ubuntu, as root), or says
# exactly how to install it. A PROGRAM given as an absolute path is a file that must exist
# (a library's header, for a -dev package).
set -euo pipefail
package=$1; shift
missing=()
for program in "$@"; do
  if [[ $program == /* ]]; then
    [ -e "$program" ] || missing+=("$program")
    continue
  fi
  command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || missing+=("$program")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Missing: ${missing[*]} (Debian package '$package')."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing $package with apt-get..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  exit 0
fi
cat >&2 <<MSG
Please install $package, then run this again:
  Debian/Ubuntu:  sudo apt-get install -y $package
  Fedora/RHEL:    sudo dnf install -y $package
  macOS:          brew install $package
MSG
exit 1
