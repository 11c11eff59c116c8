#!/usr/bin/env bash
# Fresh machine to a first training run: system packages, release build, and the quickstart:
# a double-backprop (l2 + cosine input-gradient alignment) training on the generated dataset,
# one MPI rank per core (configs/quickstart.yaml; checkpoints and metrics under runs/quickstart).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source launch/install-deps.sh
swift build -c release
launch/train.sh configs/quickstart.yaml "$@"
