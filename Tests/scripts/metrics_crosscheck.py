"""Cross-checks `attrguard metrics` against SciPy, NumPy and scikit-image on 20 random pairs of maps
with ties, written from ../shared/ALGORITHMS.md without reading the Swift code.
Usage: python3 metrics_crosscheck.py ATTRGUARD_BINARY WORKDIR   (exit 0 when every value agrees to 1e-9)"""
import json, subprocess, sys
import numpy as np
from scipy.stats import kendalltau, spearmanr, pearsonr
from skimage.metrics import structural_similarity


def dilate(mask, w):
    """D_w: a boolean H×W mask grown by a (2w+1)×(2w+1) square, clipped at the border."""
    h, wd = mask.shape
    out = np.zeros_like(mask)
    for y, x in zip(*np.nonzero(mask)):
        out[max(0, y - w):y + w + 1, max(0, x - w):x + w + 1] = True
    return out


def diverse_topk(m, k, w):
    """Greedy non-maximum suppression, exactly k picks (then the best unpicked pixels)."""
    h, wd = m.shape
    order = np.argsort(-m.ravel(), kind="stable")
    free = np.ones((h, wd), bool)
    picks = []
    for p in order:
        if len(picks) == k: break
        y, x = divmod(int(p), wd)
        if free[y, x]:
            picks.append(int(p)); free[max(0, y - w):y + w + 1, max(0, x - w):x + w + 1] = False
    rest = [int(p) for p in order if int(p) not in set(picks)]
    return picks + rest[:k - len(picks)]


def as_mask(pixels, shape):
    m = np.zeros(shape[0] * shape[1], bool); m[list(pixels)] = True
    return m.reshape(shape)


def ssim_ref(a, b, win=7):
    """scikit-image's structural_similarity(a, b, data_range=1) for maps in [0, 1], written with NumPy."""
    from numpy.lib.stride_tricks import sliding_window_view as windows
    wy, wx = min(win, a.shape[0]), min(win, a.shape[1])
    A, B = windows(a, (wy, wx)), windows(b, (wy, wx))
    n = wy * wx
    ux, uy = A.mean((-1, -2)), B.mean((-1, -2))
    cov = n / (n - 1)
    vx = cov * ((A * A).mean((-1, -2)) - ux * ux); vy = cov * ((B * B).mean((-1, -2)) - uy * uy)
    vxy = cov * ((A * B).mean((-1, -2)) - ux * uy)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return float((((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))).mean())

binary, work = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(2026)
worst = 0.0
skimage_cases = 0
for case in range(20):
    h, w = [(8, 8), (16, 16), (32, 32), (5, 13)][case % 4]
    a = rng.normal(size=(h, w))
    b = a + rng.normal(scale=rng.uniform(0.1, 2.0), size=(h, w))
    # ties: round to a coarse grid, and zero a block in one map
    a, b = np.round(a, 1), np.round(b, case % 3)
    b[: h // 4, : w // 4] = 0
    a, b = np.abs(a), np.abs(b)   # attribution maps are non-negative
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
        "pearson": pearsonr(fa, fb).statistic,
    }
    ma, mb = a.astype(np.float64) / a.max(), b.astype(np.float64) / b.max()
    expected["ssim"] = ssim_ref(ma, mb)
    if min(h, w) >= 7:   # scikit-image needs the whole 7×7 window inside the map
        expected["ssim_skimage"] = structural_similarity(ma, mb, win_size=7, data_range=1.0)
        got["ssim_skimage"] = got["ssim"]
        skimage_cases += 1
    expected["mse"] = float(((ma - mb) ** 2).mean())
    shape = (h, w)
    for hw in (1, 2, 3):
        Ta, Tb = as_mask(ta, shape), as_mask(tb, shape)
        expected[f"lens_recall_w{hw}"] = (dilate(Ta, hw) & Tb).sum() / k
        expected[f"lens_precision_w{hw}"] = (Ta & dilate(Tb, hw)).sum() / k
        Da, Db = as_mask(diverse_topk(a.astype(np.float64), k, hw), shape), as_mask(diverse_topk(b.astype(np.float64), k, hw), shape)
        expected[f"topk_div_intersection_w{hw}"] = (Da & Db).sum() / k
        expected[f"lens_recall_div_w{hw}"] = (dilate(Da, hw) & Db).sum() / k
        expected[f"lens_precision_div_w{hw}"] = (Da & dilate(Db, hw)).sum() / k
    for key, value in expected.items():
        err = abs(got[key] - value)
        worst = max(worst, err)
        if not err <= 1e-9:
            print(f"case {case} {key}: attrguard {got[key]} vs reference {value}")
            sys.exit(1)
print(f"20 pairs agree with scipy/numpy on {len(expected)} metrics (SSIM also with scikit-image on {skimage_cases}); "
      f"max abs difference {worst:.3e}")
