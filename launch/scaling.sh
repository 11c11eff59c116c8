#!/usr/bin/env bash
# Weak scaling of `attrguard train`: a fixed batch per rank, images/s for each rank count.
#   launch/scaling.sh [MODEL [METHOD [BATCH_PER_RANK [RANKS...]]]]     e.g. launch/scaling.sh smallcnn l2cos 64 1 2 4 8 16
# Prints one JSON line per rank count (steady-state rate over the last 8 of 12 steps, generated
# data, float32, one BLAS thread per rank). Compare with ../shared/anchors/torch_ddp_bench.py
# for the same model, method and batch per rank.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model="${1:-smallcnn}" method="${2:-l2cos}" batch="${3:-64}"
shift $(( $# < 3 ? $# : 3 ))
ranks=("$@"); [ ${#ranks[@]} -gt 0 ] || ranks=(1 $(getconf _NPROCESSORS_ONLN))
case "$method" in
  l2cos) m="{name: l2cos, lambda_l2: 1.0, lambda_cos: 1.0, perturbation: {kind: uniform, epsilon: 0.0313725}}" ;;
  igr) m="{name: igr, attribution_of: logit, lambda: 1.0, ig_steps: 4, perturbation: {kind: pgd, epsilon: 0.0313725, step_size: 0.0313725, steps: 1, random_start: false}}" ;;
  *) m="{name: standard}" ;;
esac
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for n in "${ranks[@]}"; do
  cat > "$tmp/c.yaml" <<YAML
model: {name: $model, activation: softplus, beta: 10.0}
data: {dataset: synthetic, train_per_class: $(( (batch * n * 12 + 9) / 10 + 1 )), test_per_class: 1, augmentation: none}
method: $m
optim: {lr: 0.01, momentum: 0.9, weight_decay: 0.0}
schedule: {kind: constant}
train: {epochs: 1, max_steps: 12, global_batch: $(( batch * n )), log_every: 4, consistency_every: 0, eval_samples: 10}
YAML
  out="$("$here/mpirun.sh" -np "$n" train --config "$tmp/c.yaml")"
  rate="$(echo "$out" | grep -E '^epoch .* step 12/12' | sed -E 's/.* ([0-9.]+) img\/s.*/\1/')"
  prev="$(echo "$out" | grep -E '^epoch .* step 8/12' | sed -E 's/.* ([0-9.]+) img\/s.*/\1/')"
  echo "{\"ranks\": $n, \"model\": \"$model\", \"method\": \"$method\", \"batch_per_rank\": $batch, \"img_per_s\": $(python3 -c "print(round(($rate + $prev) / 2, 1))")}"
done
