#!/usr/bin/env bash
# The convolution kernels per ResNet-18 / SmallCNN layer shape, AttrGuard's default path beside
# PyTorch's, one thread each, one sitting: GFLOP/s (direct convolution's multiply-adds ×2 over the
# time, so Winograd's are effective rates) for forward / input gradient / weight gradient, the
# ratio, and what ran on each side. Prints a Markdown table.
#   launch/conv-vs-torch.sh [--isa avx2|native] [--path fastest|winograd|onednn|direct] [REPEATS]
# --isa avx2 caps both sides as launch/bench-vs-torch.sh does. Needs torch in $PYTHON.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${ATTRGUARD_BIN:-$here/.build/release/attrguard}"
py="${PYTHON:-python3}"
isa=native path=fastest
while [ $# -gt 0 ]; do
  case "$1" in
    --isa) isa="${2:?--isa needs avx2 or native}"; shift 2 ;;
    --path) path="${2:?--path needs a path}"; shift 2 ;;
    *) break ;;
  esac
done
repeats="${1:-5}"
[ -x "$bin" ] || { echo "launch/conv-vs-torch.sh: $bin not found; build first (swift build -c release)" >&2; exit 2; }
"$py" -c "import torch" 2>/dev/null || { echo "launch/conv-vs-torch.sh: $py has no torch (pip install torch numpy, or set PYTHON)" >&2; exit 2; }
case "$isa" in
  avx2) export ATTRGUARD_MAX_ISA=avx2 DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
        export OPENBLAS_CORETYPE=Haswell ;;
  native) ;;
  *) echo "launch/conv-vs-torch.sh: --isa must be avx2 or native, got $isa" >&2; exit 2 ;;
esac
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
"$bin" bench conv --path "$path" --repeats "$repeats" > "$ours"
"$bin" bench conv --shapes | "$py" "$here/launch/conv_bench_torch.py" "$repeats" > "$theirs"
echo "AttrGuard ($path path): $("$bin" bench isa); PyTorch: $("$py" -c 'import torch; print("torch", torch.__version__, "cpu capability", torch.backends.cpu.get_cpu_capability())')"
echo
"$py" - "$ours" "$theirs" <<'PY'
import json, sys
ours = {r["name"]: r for r in map(json.loads, open(sys.argv[1]))}
theirs = {r["name"]: r for r in map(json.loads, open(sys.argv[2]))}
print("| layer (batch) | forward ours / PyTorch | input gradient | weight gradient | lowest ratio | ours ran |")
print("|---|---|---|---|---|---|")
for name, a in ours.items():
    b = theirs[name]
    cells = [f"{x:.0f} / {y:.0f}" for x, y in zip(a["gflops"], b["gflops"])]
    low = min(x / y for x, y in zip(a["gflops"], b["gflops"]))
    print(f"| {name} ({a['batch']}) | " + " | ".join(cells) + f" | {low:.2f}× | {a['implementation']} |")
PY
