#!/usr/bin/env bash
# Train on this machine: one MPI rank per core, one BLAS thread per rank.
#   launch/train.sh CONFIG [attrguard train options...]     e.g. launch/train.sh configs/quickstart.yaml --set optim.lr=0.1
# RANKS overrides the rank count (default: the number of cores).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 1 ] || { echo "usage: launch/train.sh CONFIG [--set key=value ...] [--resume]" >&2; exit 2; }
config="$1"; shift
exec "$here/mpirun.sh" -np "${RANKS:-$(getconf _NPROCESSORS_ONLN)}" train --config "$config" "$@"
