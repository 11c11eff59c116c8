#!/usr/bin/env bash
# Fresh machine to a first training run: system packages, release build, and the quickstart:
# a double-backprop (l2 + cosine input-gradient alignment) training run on generated images,
# one MPI rank per core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source launch/install-deps.sh
swift build -c release
launch/mpirun.sh -np "${RANKS:-$(nproc)}" demo "$@"
