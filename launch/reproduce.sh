#!/usr/bin/env bash
# Trains every method (standard, gradnorm, PGD-AT, l2cos and igr with λ sweeps, and the baselines
# hessian, TRADES and IGR on top of TRADES) on real CIFAR-10,
# evaluates each with `attrguard eval` (saliency and integrated gradients under the top-k attack
# and the random-sign baseline, metrics over the correctly classified test images), and writes
# results.json, results.md, tradeoff.svg and training-curves.svg.
#
#   launch/reproduce.sh [--full] [--torch] [--out DIR] [--data DIR] [-np N] [--samples N] [--only a,b,...] [--eval-methods LIST]
#
# Default (small): the CNN of configs/cifar10-small.yaml on the first 10,000 training images,
# 8 epochs; the whole suite takes about 36 minutes on 2 cores (README.md, Results).
# --full: the papers' setting, configs/cifar10-*.yaml (ResNet-18, all 50,000 images, 200 epochs);
# meant for a cluster (sbatch a script that calls this with -np = cores); cost in README.md.
# --torch: also run launch/reproduce_torch.py (PyTorch, same setting, -np threads) for standard,
# gradnorm-1, l2cos-1, hessian-0.1 and trades-6 and table them beside ours in results.md (needs torch, numpy, scipy in
# $PYTHON, default python3; never a dependency of the build or the tests).
# --eval-methods: eval's --methods (default: eval's, saliency and integrated gradients, each attacked
# through itself; IG's top-k attack differentiates 50-point IG at every step, ~20 min a run here).
# A finished run (its run.json exists) is not trained again; delete its folder to redo it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mode=small; out=""; np=$(getconf _NPROCESSORS_ONLN); samples=""; only=""; torch=0; eval_methods=()
data="$here/../shared/datasets/cifar-10-batches-bin"
[ -d "$data" ] || data="$here/data/cifar-10-batches-bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --full) mode=full; shift ;;
    --torch) torch=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    -np) np="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --only) only=",$2,"; shift 2 ;;
    --eval-methods) eval_methods=(--methods "$2"); shift 2 ;;
    *) echo "launch/reproduce.sh: unknown argument '$1' (see the header of this script)" >&2; exit 2 ;;
  esac
done
out="${out:-runs/cifar10-$mode}"
samples="${samples:-$([ "$mode" = full ] && echo 10000 || echo 1000)}"
bin="${ATTRGUARD_BIN:-$here/.build/release/attrguard}"
[ -x "$bin" ] || { echo "launch/reproduce.sh: $bin not found; build first (swift build -c release)" >&2; exit 2; }
[ -f "$data/test_batch.bin" ] || { echo "launch/reproduce.sh: no CIFAR-10 at $data (launch/get-cifar10.sh data, or --data DIR)" >&2; exit 2; }
export ATTRGUARD_BIN="$bin"

# name | config | overrides. ε = 8/255 everywhere; λ values bracket the ALGORITHMS.md starting points.
if [ "$mode" = small ]; then
  base=configs/cifar10-small.yaml
  runs=(
    "standard|$base|method.name=standard"
    "gradnorm-1|$base|method.name=gradnorm method.lambda=1"
    "pgd|$base|method.name=pgd method.perturbation.steps=3 method.perturbation.step_size=0.0117647"
    "l2cos-0.3|$base|method.name=l2cos method.lambda_l2=0.3 method.lambda_cos=0.3"
    "l2cos-1|$base|method.name=l2cos method.lambda_l2=1 method.lambda_cos=1"
    "l2cos-3|$base|method.name=l2cos method.lambda_l2=3 method.lambda_cos=3"
    "igr-3|$base|method.name=igr method.lambda=3 method.ig_steps=4 method.perturbation.steps=1 method.perturbation.step_size=0.0313725"
    "igr-10|$base|method.name=igr method.lambda=10 method.ig_steps=4 method.perturbation.steps=1 method.perturbation.step_size=0.0313725"
    "hessian-0.1|$base|method.name=hessian method.lambda=0.1 method.attribution_of=logit"
    "trades-6|$base|method.name=trades method.beta=6 method.perturbation.steps=3 method.perturbation.step_size=0.0117647"
    "igr-10-trades|$base|method.name=igr method.base=trades method.beta=6 method.lambda=10 method.ig_steps=4 method.perturbation.kind=trades method.perturbation.steps=3 method.perturbation.step_size=0.0117647"
  )
else
  runs=(
    "standard|configs/cifar10-standard.yaml|"
    "gradnorm-0.01|configs/cifar10-gradnorm.yaml|method.lambda=0.01"
    "pgd|configs/cifar10-pgd.yaml|"
    "l2cos-paper|configs/cifar10-l2cos.yaml|"
    "l2cos-10x|configs/cifar10-l2cos.yaml|method.lambda_l2=0.1 method.lambda_cos=0.5"
    "igr-3|configs/cifar10-igr.yaml|method.lambda=3"
    "igr-10|configs/cifar10-igr.yaml|method.lambda=10"
    "hessian|configs/cifar10-hessian.yaml|"
    "trades|configs/cifar10-trades.yaml|"
    "igr-10-trades|configs/cifar10-igr-trades.yaml|"
  )
fi

mkdir -p "$out"
suite_start=$(date +%s)
for entry in "${runs[@]}"; do
  IFS='|' read -r name config overrides <<< "$entry"
  [ -z "$only" ] || [[ "$only" == *",$name,"* ]] || continue
  dir="$out/$name"
  sets=(--set "data.path=$data" --set "checkpoint.dir=$dir/checkpoints" --set "log.metrics=$dir/metrics.jsonl")
  for o in $overrides; do sets+=(--set "$o"); done
  if [ ! -f "$dir/run.json" ]; then
    rm -rf "$dir/checkpoints" "$dir/metrics.jsonl" "$dir/eval"
    mkdir -p "$dir"
    echo "== $name: training ($config ${overrides:-as shipped}) on $np rank(s)"
    t0=$(date +%s%N)
    "$here/launch/mpirun.sh" -np "$np" train --config "$config" "${sets[@]}" 2>&1 | tee "$dir/train.log" | grep -E "^(train:|eval )" || true
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "launch/reproduce.sh: training $name failed; see $dir/train.log" >&2; exit 1; }
    t1=$(date +%s%N)
    printf '{"name": "%s", "config": "%s", "overrides": "%s", "ranks": %d, "train_seconds": %.1f}\n' \
      "$name" "$config" "$overrides" "$np" "$(( (t1 - t0) / 1000000 ))e-3" > "$dir/run.json"
  fi
  if [ ! -f "$dir/eval/report.json" ]; then
    echo "== $name: evaluating $samples test images"
    "$here/launch/mpirun.sh" -np "$np" eval --checkpoint "$dir/checkpoints" --samples "$samples" --out "$dir/eval" "${eval_methods[@]}" 2>&1 | tail -1
  fi
done
refs=()
if [ "$torch" = 1 ]; then
  [ "$mode" = small ] || { echo "launch/reproduce.sh: --torch has a PyTorch twin for the small setting only" >&2; exit 2; }
  py="${PYTHON:-python3}"
  "$py" -c "import torch, numpy, scipy" 2>/dev/null || { echo "launch/reproduce.sh: --torch needs torch, numpy and scipy in $py" >&2; exit 2; }
  for spec in "standard|--method standard" "gradnorm-1|--method gradnorm --lambd 1" "l2cos-1|--method l2cos --lambda-l2 1 --lambda-cos 1" \
              "hessian-0.1|--method hessian --lambd 0.1" "trades-6|--method trades --beta 6 --attack-steps 3 --attack-step 0.0117647"; do
    IFS='|' read -r name args <<< "$spec"
    [ -z "$only" ] || [[ "$only" == *",$name,"* ]] || continue
    if [ ! -f "$out/torch/$name.json" ]; then
      echo "== $name: PyTorch ($np threads)"
      # shellcheck disable=SC2086
      "$py" "$here/launch/reproduce_torch.py" $args --data "$data" --samples "$samples" --threads "$np" --out "$out/torch/$name.json" \
        > "$out/torch-$name.log" 2>&1 || { echo "launch/reproduce.sh: PyTorch $name failed; see $out/torch-$name.log" >&2; exit 1; }
      grep "test accuracy" "$out/torch-$name.log" || true
    fi
    refs+=(--reference "$out/torch/$name.json")
  done
fi
"$bin" results "$out" --out "$out" "${refs[@]}"
"$bin" plot "$out"/*/metrics.jsonl --out "$out/training-curves.svg"
echo "reproduce: $mode suite in $(( ($(date +%s) - suite_start) / 60 )) min; see $out/results.md"
