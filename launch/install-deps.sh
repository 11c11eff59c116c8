#!/usr/bin/env bash
# Installs the system packages AttrGuard builds against (Debian/Ubuntu), idempotently:
# Open MPI, OpenBLAS, oneDNN, libjpeg-turbo, libpng, librsvg (charts as PNG, with a font) and pkg-config. Needs a Swift 6 toolchain on PATH.
set -euo pipefail
packages=(pkg-config libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libturbojpeg0-dev libpng-dev zlib1g-dev librsvg2-dev fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: system packages present"
fi
# For the tests only: the metrics cross-check compares against SciPy, NumPy and scikit-image.
if ! python3 -c "import numpy, scipy, skimage" 2>/dev/null; then
  echo "install-deps: installing numpy, scipy and scikit-image for the tests"
  python3 -m pip install --quiet numpy scipy scikit-image 2>/dev/null \
    || { sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"; $sudo apt-get install -y -qq python3 python3-numpy python3-scipy python3-skimage; }
fi
if ! command -v swift >/dev/null 2>&1; then
  for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
fi
command -v swift >/dev/null 2>&1 || {
  echo "install-deps: no Swift toolchain on PATH; install Swift 6 from https://www.swift.org/install/linux/ and re-run" >&2
  exit 1
}
