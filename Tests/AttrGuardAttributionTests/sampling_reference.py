#!/usr/bin/env python3
"""Writes sampling-reference.json: random observations (an attribution, an input in pixel units,
logits, and their values at a few draws, some of which change the prediction) and each sampling
metric computed with NumPy straight from the formulas in configs/README.md ("Sampling metrics").
SamplingMetricsTests reads the file and checks AttrGuard's values against it. Regenerate with
  python3 Tests/AttrGuardAttributionTests/sampling_reference.py
(needs numpy; not a dependency of the build or the tests, which read the committed file)."""
import json
import os

import numpy as np

EPS_MIN = 1e-6


def rel(a, b):
    # ‖(a − b) ⊘ a‖₂, a zero element of a divided as ε_min
    return np.linalg.norm((a - b) / np.where(a == 0, EPS_MIN, a))


def metrics(obs):
    e, p, h = (np.array(obs[k]) for k in ("attribution", "pixels", "logits"))
    draws = obs["draws"]
    base = np.linalg.norm(e)
    sens = [np.linalg.norm(np.array(d["attribution"]) - e) / (base if base != 0 else 1) for d in draws]
    lip = [np.linalg.norm(np.array(d["attribution"]) - e) / np.linalg.norm(np.array(d["pixels"]) - p)
           for d in draws if np.linalg.norm(np.array(d["pixels"]) - p) > 0]
    kept = [d for d in draws if d["same_prediction"]]
    ris = [rel(e, np.array(d["attribution"])) / max(rel(p, np.array(d["pixels"])), EPS_MIN) for d in kept]
    ros = [rel(e, np.array(d["attribution"])) / max(rel(h, np.array(d["logits"])), EPS_MIN) for d in kept]
    return {"max_sensitivity": max(sens), "avg_sensitivity": float(np.mean(sens)),
            "local_lipschitz": max(lip) if lip else None,
            "ris": max(ris) if ris else None, "ros": max(ros) if ros else None}


def main():
    rng = np.random.default_rng(20261206)
    cases = []
    for case in range(6):
        n = int(rng.integers(6, 40))
        e = rng.normal(size=n)
        if case == 1:
            e[:3] = 0.0          # zero attribution elements: the ε_min stand-in
        if case == 2:
            e[:] = 0.0           # a zero map: sensitivity divides by 1
        p = rng.uniform(0, 1, size=n)
        if case == 3:
            p[:2] = 0.0          # black pixels
        h = rng.normal(size=10)
        draws = []
        for d in range(int(rng.integers(2, 6))):
            delta = rng.uniform(-0.05, 0.05, size=n)
            same = bool(rng.uniform() > 0.3) if case != 4 else False   # case 4: every draw flips
            draws.append({"attribution": (e + rng.normal(scale=0.1, size=n)).tolist(),
                          "pixels": (p + delta).tolist(),
                          "logits": (h + rng.normal(scale=0.2, size=10)).tolist(),
                          "same_prediction": same})
        if case == 5:
            draws[0]["pixels"] = p.tolist()   # a draw equal to x: no Lipschitz quotient
        obs = {"attribution": e.tolist(), "pixels": p.tolist(), "logits": h.tolist(), "draws": draws}
        cases.append({"observation": obs, "expected": metrics(obs)})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sampling-reference.json")
    with open(out, "w") as f:
        json.dump({"eps_min": EPS_MIN, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
