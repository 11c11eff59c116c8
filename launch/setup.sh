#!/usr/bin/env bash
# Fresh machine to a first training run: system packages, release build, and the quickstart:
# a double-backprop (l2 + cosine input-gradient alignment) training on the generated dataset,
# one MPI rank per core (configs/quickstart.yaml; checkpoints and metrics under runs/quickstart).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source launch/install-deps.sh
swift build -c release
# A run refuses a checkpoint folder holding another run's checkpoints: a second setup keeps the first quickstart aside.
if [ -d runs/quickstart ]; then
  kept="runs/quickstart.$(date +%Y%m%d-%H%M%S)"
  mv runs/quickstart "$kept" && echo "setup: the previous quickstart run is kept in $kept"
fi
launch/train.sh configs/quickstart.yaml "$@"
