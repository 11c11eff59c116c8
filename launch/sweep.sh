#!/usr/bin/env bash
# One training per value of a config key, each with its own checkpoints and metrics:
#   launch/sweep.sh configs/cifar10-igr.yaml method.lambda 1 3 10 30
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 3 ] || { echo "usage: launch/sweep.sh CONFIG KEY VALUE..." >&2; exit 2; }
config="$1" key="$2"; shift 2
name="$(basename "$config" .yaml)"
for value in "$@"; do
  run="runs/$name-$key-$value"
  echo "== $key=$value → $run"
  "$here/train.sh" "$config" --set "$key=$value" --set "checkpoint.dir=$run/checkpoints" --set "log.metrics=$run/metrics.jsonl"
done
