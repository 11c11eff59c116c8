#!/usr/bin/env python3
"""Weak-scaling projection of AttrGuard training from 1 to 1024 ranks (standard library only).

Inputs, all measured with AttrGuard's own commands:
  --step FILE...     JSON lines of `attrguard bench step --model resnet18 --method M --batch B`
                     (one per method; compute time per image on one rank, one thread)
  --allreduce FILE   `launch/mpirun.sh -np N bench allreduce --out FILE` (α–β fit within a node)
Model (stated in README "Scaling"):
  step(N)    = compute + exposed(N)          compute = step_ms of the bench line (per-rank batch fixed)
  allreduce  = ring over N ranks, per bucket: 2(N−1)·α + 2(N−1)/N · bytes · β, α and β those of the
               slowest link in the ring: the node's (measured) up to --cores-per-node ranks, the
               network's (--inter-alpha-us, --inter-gbs) beyond
  exposed(N) = max(last bucket's all-reduce, Σ buckets' all-reduces − overlap · compute): buckets
               start during the final backward (a fraction `overlap` of the step), the last one
               only when it ends
  224×224:   compute × --resolution-factor (the ImageNet stem puts layer 1 at 56² instead of 32²:
             (56/32)² ≈ 3.06); the gradient is the same size.
Prints a Markdown table and, with --json, the same numbers as JSON."""
import argparse, json, math, sys

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--step", nargs="+", required=True, help="bench step JSON line files (one per method)")
p.add_argument("--allreduce", required=True, help="bench allreduce --out file (intra-node α–β)")
p.add_argument("--parameters", type=int, default=11_173_962, help="gradient floats (ResNet-18, 10 classes)")
p.add_argument("--bucket-mb", type=float, default=25.0, help="train.bucket_mb")
p.add_argument("--overlap", type=float, default=0.65,
               help="fraction of the step that is the final backward (bench step --profile: 0.68 for ResNet-18 l2cos)")
p.add_argument("--cores-per-node", type=int, default=16)
p.add_argument("--inter-alpha-us", type=float, default=2.0, help="network latency per hop (InfiniBand EDR MPI: 1–2 µs)")
p.add_argument("--inter-gbs", type=float, default=12.5, help="network bandwidth per node, GB/s (100 Gb/s EDR line rate)")
p.add_argument("--resolution-factor", type=float, default=(56 / 32) ** 2)
p.add_argument("--ranks", default="1,2,4,8,16,32,64,128,256,512,1024")
p.add_argument("--json", action="store_true")
a = p.parse_args()

def load_json(path, what):
    try:
        with open(path) as f:
            text = f.read().strip()
        return json.loads(text.splitlines()[-1] if what == "step" else text)
    except (OSError, ValueError, IndexError) as e:
        sys.exit(f"scaling-model.py: {path}: not a readable {what} file ({e})")

fit = load_json(a.allreduce, "allreduce").get("fit", {})
if not fit.get("bandwidth_gbs"):
    sys.exit(f"scaling-model.py: {a.allreduce}: no 'fit' with a bandwidth (run bench allreduce on 2+ ranks)")
intra = (fit["alpha_us"] * 1e-6, 1 / (fit["bandwidth_gbs"] * 1e9))
inter = (a.inter_alpha_us * 1e-6, 1 / (a.inter_gbs * 1e9))
grad_bytes = 4 * a.parameters
bucket = int(a.bucket_mb * 2**20)
buckets = [bucket] * (grad_bytes // bucket) + ([grad_bytes % bucket] if grad_bytes % bucket else [])

def allreduce(n, nbytes):
    if n == 1:
        return 0.0
    alpha, beta = intra if n <= a.cores_per_node else (max(intra[0], inter[0]), max(intra[1], inter[1]))
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes * beta

rows = []
for path in a.step:
    s = load_json(path, "step")
    for res, factor in (("32×32", 1.0), ("224×224", a.resolution_factor)):
        compute = s["step_ms"] / 1e3 * factor
        row = {"method": s["method"], "model": s["model"], "resolution": res, "batch_per_rank": s["batch"], "points": []}
        for n in map(int, a.ranks.split(",")):
            comm = sum(allreduce(n, b) for b in buckets)
            exposed = 0.0 if n == 1 else max(allreduce(n, buckets[-1]), comm - a.overlap * compute)
            step = compute + exposed
            row["points"].append({"ranks": n, "images_per_s": n * s["batch"] / step, "efficiency": compute / step,
                                  "allreduce_ms": comm * 1e3, "exposed_ms": exposed * 1e3})
        rows.append(row)

if a.json:
    print(json.dumps({"assumptions": vars(a), "intra_alpha_us": fit["alpha_us"], "intra_gbs": fit["bandwidth_gbs"], "rows": rows}, indent=1))
else:
    ranks = [pt["ranks"] for pt in rows[0]["points"]]
    print("| step | " + " | ".join(str(n) for n in ranks) + " |")
    print("|---|" + "---|" * len(ranks))
    for r in rows:
        cells = [f"{pt['images_per_s']:.3g} ({100 * pt['efficiency']:.1f} %)" for pt in r["points"]]
        print(f"| {r['model']} {r['method']} {r['resolution']} b{r['batch_per_rank']}/rank | " + " | ".join(cells) + " |")
    print()
    comm = [sum(allreduce(n, b) for b in buckets) for n in ranks]
    print("All-reduce of the gradient (" + f"{grad_bytes / 2**20:.1f} MiB in {len(buckets)} buckets) per step, ms: "
          + ", ".join(f"{n}: {c * 1e3:.2f}" for n, c in zip(ranks, comm)))
    print("It stops hiding behind the final backward when a step is shorter than all-reduce / overlap: "
          + ", ".join(f"{n} ranks {c / a.overlap * 1e3:.1f} ms" for n, c in zip(ranks, comm) if n > 1))
