#!/usr/bin/env python3
"""AttrGuard's max/avg sensitivity beside Captum's `sensitivity_max` and Quantus's MaxSensitivity /
AvgSensitivity on the same model and test images. Optional (not a test dependency); needs torch,
numpy, captum and quantus in the Python that runs it.

  python Tests/scripts/sampling_vs_captum_quantus.py CHECKPOINT_DIR [--samples 50] [--draws 10]
         [--radius 0.02] [--cifar DIR] [--attrguard .build/release/attrguard]

It exports the checkpoint (`attrguard export`), rebuilds the network in PyTorch from the config the
export carries (sequential `layers` models: conv2d, batchnorm2d, relu, softplus, maxpool2d,
avgpool2d, global_avgpool, flatten, linear), checks that the accuracy agrees, runs
`attrguard eval --protocol sampling --methods saliency` on the first N test images, and computes on
the same correctly classified images, with signed saliency of the clean prediction's class:
  - Captum `sensitivity_max` with our settings (U[−r, r], the draws, Saliency(abs=False)): the same
    definition; the two differ only by their random draws, so the gap should sit within a few
    standard errors of the per-image values;
  - Quantus MaxSensitivity / AvgSensitivity with lower_bound r and our number of draws: the same
    ratio (Quantus 0.6.0 divides by ‖e(x)‖ as Captum and we do), so again only the draws differ;
  - Quantus with its own defaults (U[−0.2, 0.2], 200 draws): ten times the radius.
Differences are explained in configs/README.md, "Sampling metrics". Models trained with
`data.normalize` other than none take inputs in normalised units; the script refuses them (its
radius would then differ from ours by 1/std).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_safetensors import read as read_safetensors_numpy  # noqa: E402


def read_safetensors(path):
    arrays, metadata = read_safetensors_numpy(path)
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()}, metadata


def layer_specs(config_text):
    """`model.layers` of the config an export carries (block-style YAML, as `attrguard export`
    writes it: `- key: value` starting each layer, `  key: value` continuing it), in order."""
    specs, inside, indent = [], False, 0
    for line in config_text.splitlines():
        m = re.match(r"^(\s*)layers:\s*$", line)
        if m:
            inside, indent = True, len(m.group(1))
            continue
        if not inside or not line.strip():
            continue
        stripped = line.lstrip()
        depth = len(line) - len(stripped)
        if depth < indent or (depth == indent and not stripped.startswith("- ")):
            break
        if stripped.startswith("- "):
            specs.append({})
            stripped = stripped[2:]
        key, value = (t.strip() for t in stripped.split(":", 1))
        specs[-1][key] = value
    return specs


def build(specs):
    modules = []
    for s in specs:
        t = s["type"]
        num = lambda k, d=None: int(s.get(k, d))
        if t == "conv2d":
            modules.append(nn.Conv2d(num("in"), num("out"), num("kernel"), num("stride", 1), num("padding", 0),
                                     bias=s.get("bias", "true") == "true"))
        elif t == "batchnorm2d":
            modules.append(nn.BatchNorm2d(num("features"), eps=float(s.get("eps", 1e-5))))
        elif t == "relu":
            modules.append(nn.ReLU())
        elif t == "softplus":
            modules.append(nn.Softplus(beta=float(s.get("beta", 1)), threshold=20.0))
        elif t == "maxpool2d":
            modules.append(nn.MaxPool2d(num("kernel"), num("stride", s["kernel"]), num("padding", 0)))
        elif t == "avgpool2d":
            modules.append(nn.AvgPool2d(num("kernel"), num("stride", s["kernel"]), num("padding", 0)))
        elif t == "global_avgpool":
            modules.append(nn.AdaptiveAvgPool2d(1))
        elif t == "flatten":
            modules.append(nn.Flatten())
        elif t == "linear":
            modules.append(nn.Linear(num("in"), num("out"), bias=s.get("bias", "true") == "true"))
        else:
            sys.exit(f"sampling_vs_captum_quantus.py: layer type {t} is not supported here (sequential models only)")
    return nn.Sequential(*modules)


def cifar_test(directory, count):
    raw = np.fromfile(os.path.join(directory, "test_batch.bin"), dtype=np.uint8).reshape(-1, 3073)[:count]
    return torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255), raw[:, 0].astype(np.int64)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser()
    p.add_argument("checkpoint")
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--radius", type=float, default=0.02)
    p.add_argument("--cifar", default=os.path.join(root, "..", "shared", "datasets", "cifar-10-batches-bin"))
    p.add_argument("--attrguard", default=os.path.join(root, ".build", "release", "attrguard"))
    a = p.parse_args()
    from captum.attr import Saliency
    from captum.metrics import sensitivity_max
    import quantus

    torch.manual_seed(0)
    np.random.seed(0)
    work = tempfile.mkdtemp(prefix="sampling-compare-")
    model_file = os.path.join(work, "model.safetensors")
    subprocess.run([a.attrguard, "export", "--checkpoint", a.checkpoint, "--out", model_file], check=True, stdout=subprocess.DEVNULL)
    tensors, meta = read_safetensors(model_file)
    config = meta["config"]
    if re.search(r"^\s*normalize:\s*(cifar10|imagenet)", config, re.M):
        sys.exit("sampling_vs_captum_quantus.py: the model normalises its inputs (data.normalize); use one trained with normalize: none")
    model = build(layer_specs(config))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        sys.exit(f"sampling_vs_captum_quantus.py: the export does not fit the rebuilt network (missing {missing}, unexpected {unexpected})")
    model.eval()
    subprocess.run([a.attrguard, "eval", "--checkpoint", a.checkpoint, "--protocol", "sampling", "--methods", "saliency",
                    "--sampling-metrics", "max_sensitivity,avg_sensitivity", "--sampling-draws", str(a.draws),
                    "--sampling-radius", str(a.radius), "--samples", str(a.samples), "--out", os.path.join(work, "eval")],
                   check=True, stdout=subprocess.DEVNULL)
    report = json.load(open(os.path.join(work, "eval", "report.json")))
    ours = report["sampling"]["saliency"]

    x, y = cifar_test(a.cifar, a.samples)
    with torch.no_grad():
        pred = model(x).argmax(1)
    keep = (pred == torch.from_numpy(y)).nonzero().flatten()
    x, pred = x[keep], pred[keep]
    print(f"{len(keep)} correctly classified of the first {a.samples} test images (AttrGuard: {report['attribution_images']}); "
          f"accuracy {len(keep) / a.samples:.3f} (AttrGuard: {report['accuracy']:.3f})")

    saliency = Saliency(model)
    captum_max = sensitivity_max(saliency.attribute, x, perturb_radius=a.radius, n_perturb_samples=a.draws,
                                 target=pred, abs=False).detach().numpy()
    e = saliency.attribute(x, target=pred, abs=False).detach()

    def explain(model, inputs, targets, **kwargs):
        t = torch.as_tensor(inputs, dtype=torch.float32).requires_grad_(True)
        out = model(t)
        out.gather(1, torch.as_tensor(targets).view(-1, 1)).sum().backward()
        return t.grad.detach().numpy()

    def quantus_run(cls, lower, draws):
        metric = cls(nr_samples=draws, lower_bound=lower, disable_warnings=True, display_progressbar=False)
        return np.array(metric(model=model, x_batch=x.numpy(), y_batch=pred.numpy(), a_batch=e.numpy(),
                               explain_func=explain, device="cpu"))

    q_max = quantus_run(quantus.MaxSensitivity, a.radius, a.draws)
    q_avg = quantus_run(quantus.AvgSensitivity, a.radius, a.draws)
    q_max_default = quantus_run(quantus.MaxSensitivity, 0.2, 200)

    def row(name, ours_value, values, why):
        se = values.std(ddof=1) / np.sqrt(len(values))
        print(f"| {name} | {ours_value:.4f} | {values.mean():.4f} ± {se:.4f} | {ours_value - values.mean():+.4f} "
              f"({(ours_value - values.mean()) / se:+.1f} SE) | {why} |")

    print()
    print(f"| saliency, r = {a.radius}, {a.draws} draws | AttrGuard | other (mean ± SE over images) | difference | explained by |")
    print("|---|---|---|---|---|")
    row("max_sensitivity vs Captum sensitivity_max", ours["max_sensitivity"]["mean"], captum_max, "the random draws alone (same definition)")
    row("max_sensitivity vs Quantus MaxSensitivity(lower_bound r)", ours["max_sensitivity"]["mean"], q_max, "the random draws alone")
    row("avg_sensitivity vs Quantus AvgSensitivity(lower_bound r)", ours["avg_sensitivity"]["mean"], q_avg, "the random draws alone")
    row("max_sensitivity vs Quantus MaxSensitivity defaults", ours["max_sensitivity"]["mean"], q_max_default,
        "Quantus's defaults: U[−0.2, 0.2] (10× the radius), 200 draws")
    print(f"\nwork files in {work}")

if __name__ == "__main__":
    main()
