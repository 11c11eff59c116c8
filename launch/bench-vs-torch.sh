#!/usr/bin/env bash
# One training step, AttrGuard beside PyTorch, one thread each, in one sitting: images/s, the ratio,
# and peak RSS of each (a fresh process per row, so each row's peak is its own).
#   launch/bench-vs-torch.sh [ROW...]      ROW = model:method:batch, default the six rows below
#   ITERS=4 PYTHON=python3 launch/bench-vs-torch.sh smallcnn:l2cos:64 resnet18:l2cos:32
# AttrGuard: `attrguard bench step` (2 warm-up steps, then ITERS timed). PyTorch:
# ../shared/anchors/torch_step_bench.py (the same warm-up and timing); needs torch in $PYTHON
# (pip install torch numpy; never a dependency of the build or the tests). Prints a Markdown table.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ATTRGUARD_BIN:-$here/.build/release/attrguard}"
py="${PYTHON:-python3}"
anchor="${ANCHOR:-$here/../shared/anchors/torch_step_bench.py}"
iters="${ITERS:-4}"
[ -x "$bin" ] || { echo "launch/bench-vs-torch.sh: $bin not found; build first (swift build -c release)" >&2; exit 2; }
[ -f "$anchor" ] || { echo "launch/bench-vs-torch.sh: no PyTorch anchor at $anchor (set ANCHOR)" >&2; exit 2; }
"$py" -c "import torch" 2>/dev/null || { echo "launch/bench-vs-torch.sh: $py has no torch (pip install torch numpy, or set PYTHON)" >&2; exit 2; }
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(smallcnn:plain:64 smallcnn:l2cos:64 smallcnn:igr:64 resnet18:plain:32 resnet18:l2cos:32 resnet18:igr:32)

echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(getconf _NPROCESSORS_ONLN) cores, ${iters} timed steps a row, $("$py" -c 'import torch; print("torch", torch.__version__)')"
echo
echo "| model | method | batch | AttrGuard img/s | PyTorch img/s | ratio | AttrGuard RSS MiB | PyTorch RSS MiB | RSS ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  IFS=: read -r model method batch <<< "$row"
  ours=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$bin" bench step --model "$model" --method "$method" --batch "$batch" --iters "$iters" | tail -1)
  # PyTorch in a child process, its peak RSS from getrusage of the children.
  theirs=$("$py" - "$anchor" "$model" "$method" "$batch" "$iters" <<'PY'
import json, resource, subprocess, sys
anchor, model, method, batch, iters = sys.argv[1:]
plan = json.dumps([dict(dev="cpu", model_name=model, method=method, batch=int(batch), threads=1, iters=int(iters))])
out = subprocess.run([sys.executable, anchor, plan], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
row = json.loads(out)
row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(row))
PY
)
  "$py" - "$ours" "$theirs" "$model" "$method" "$batch" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ra, rb = a.get("peak_rss_mib"), b["peak_rss_mib"]
cells = [sys.argv[3], sys.argv[4], sys.argv[5], f"{a['img_per_s']:.1f}", f"{b['img_per_s']:.1f}", f"{a['img_per_s'] / b['img_per_s']:.2f}×",
         f"{ra:.0f}" if ra is not None else "—", f"{rb:.0f}", f"{ra / rb:.2f}×" if ra is not None else "—"]
print("| " + " | ".join(cells) + " |")
PY
done
