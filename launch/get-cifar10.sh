#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary version, verifies its checksum, unpacks it and checks it.
#   launch/get-cifar10.sh [DIR]      (default: data/) → DIR/cifar-10-batches-bin/
# To use a copy you already have, point the config's data.path (or `attrguard data check
# --cifar10`) at its cifar-10-batches-bin directory instead.
set -euo pipefail
dir="${1:-data}"
url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
md5="c32a1d4ab5d03f1284b67883e8d87530"   # published with the dataset
mkdir -p "$dir"
archive="$dir/cifar-10-binary.tar.gz"
if [ ! -f "$archive" ]; then
  curl -fL --retry 3 -o "$archive.part" "$url"
  mv "$archive.part" "$archive"
fi
echo "$md5  $archive" | md5sum -c - || { echo "get-cifar10: checksum mismatch; delete $archive and retry" >&2; exit 1; }
tar -xzf "$archive" -C "$dir"
bin="$(dirname "${BASH_SOURCE[0]}")/../.build/release/attrguard"
[ -x "$bin" ] && "$bin" data check --cifar10 "$dir/cifar-10-batches-bin"
echo "CIFAR-10 ready in $dir/cifar-10-batches-bin"
