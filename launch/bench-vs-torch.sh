#!/usr/bin/env bash
# One training step, AttrGuard beside PyTorch, one thread each, in one sitting: images/s, the ratio,
# and peak RSS of each (a fresh process per row, so each row's peak is its own).
#   launch/bench-vs-torch.sh [--isa avx2|native] [ROW...]   ROW = model:method:batch, default the six rows below
#   ITERS=4 PYTHON=python3 launch/bench-vs-torch.sh smallcnn:l2cos:64 resnet18:l2cos:32
# --isa avx2 measures an AVX2-only host on an AVX-512 one: both sides capped to AVX2 + FMA
# (ours: ATTRGUARD_MAX_ISA=avx2, which caps our kernel choice and oneDNN, and OPENBLAS_CORETYPE=Haswell
# for OpenBLAS, which picks its kernels at load; PyTorch: ATEN_CPU_CAPABILITY=avx2 for its own kernels,
# ONEDNN_MAX_CPU_ISA=AVX2 for its oneDNN, MKL_ENABLE_INSTRUCTIONS=AVX2 for its BLAS).
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
isa=native
if [ "${1:-}" = "--isa" ]; then isa="${2:?--isa needs avx2 or native}"; shift 2; fi
case "$isa" in
  avx2) export ATTRGUARD_MAX_ISA=avx2 DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
        export OPENBLAS_CORETYPE=Haswell ;;
  native) ;;
  *) echo "launch/bench-vs-torch.sh: --isa must be avx2 or native, got $isa" >&2; exit 2 ;;
esac
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(smallcnn:plain:64 smallcnn:l2cos:64 smallcnn:igr:64 resnet18:plain:32 resnet18:l2cos:32 resnet18:igr:32)

host_isa=avx2; grep -qw avx512f /proc/cpuinfo && host_isa=avx512
echo "host ISA $host_isa, run as --isa $isa; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, $(getconf _NPROCESSORS_ONLN) cores, ${iters} timed steps a row"
echo "AttrGuard: $("$bin" bench isa)"
echo "PyTorch: $("$py" -c 'import torch; print("torch", torch.__version__, "cpu capability", torch.backends.cpu.get_cpu_capability())')"
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
