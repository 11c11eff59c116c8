"""Cross-checks `attrguard metrics` against SciPy and NumPy on 20 random pairs of maps with ties.
Usage: python3 metrics_crosscheck.py ATTRGUARD_BINARY WORKDIR   (exit 0 when every value agrees to 1e-6)"""
import json, subprocess, sys
import numpy as np
from scipy.stats import kendalltau, spearmanr

binary, work = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(2026)
worst = 0.0
for case in range(20):
    h, w = [(8, 8), (16, 16), (32, 32), (5, 13)][case % 4]
    a = rng.normal(size=(h, w))
    b = a + rng.normal(scale=rng.uniform(0.1, 2.0), size=(h, w))
    # ties: round to a coarse grid, and zero a block in one map
    a, b = np.round(a, 1), np.round(b, case % 3)
    b[: h // 4, : w // 4] = 0
    dtype = np.float32 if case % 2 else np.float64
    a, b = a.astype(dtype), b.astype(dtype)
    np.save(f"{work}/a{case}.npy", a); np.save(f"{work}/b{case}.npy", b)
    k = max(1, (h * w) // 10)
    out = subprocess.run([binary, "metrics", f"{work}/a{case}.npy", f"{work}/b{case}.npy", "--k", str(k), "--window", "1", "--json"],
                         check=True, capture_output=True, text=True).stdout
    got = json.loads(out)
    fa, fb = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    ta, tb = np.argsort(-fa, kind="stable")[:k], np.argsort(-fb, kind="stable")[:k]
    expected = {
        "kendall": kendalltau(fa, fb).statistic,
        "spearman": spearmanr(fa, fb).statistic,
        "cosine": float(fa @ fb / np.sqrt((fa @ fa) * (fb @ fb))),
        "topk_intersection": len(set(ta) & set(tb)) / k,
        "lens_topk_intersection": len(set(ta) & set(tb)) / k,   # window 1 is the plain intersection
    }
    for key, value in expected.items():
        err = abs(got[key] - value)
        worst = max(worst, err)
        if not err <= 1e-6:
            print(f"case {case} {key}: attrguard {got[key]} vs reference {value}")
            sys.exit(1)
print(f"20 pairs agree with scipy/numpy; max abs difference {worst:.3e}")
