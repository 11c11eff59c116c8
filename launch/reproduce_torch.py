#!/usr/bin/env python3
"""PyTorch run of launch/reproduce.sh's small setting, for side-by-side numbers.

Same network (configs/cifar10-small.yaml), data (the first 10,000 CIFAR-10 training images, pad-4
crop + flip, pixels in [0, 1]), schedule (SGD-Nesterov 0.05, momentum 0.9, wd 5e-4, one epoch of
linear warm-up inside a cosine over 8 epochs, batch 64), objectives (standard; l2cos with
g = ∇x Σ CE, x' = clip(x + U[-ε, ε]), ε = 8/255; gradnorm; hessian as RobustAGA's; trades as
TRADES' trades_loss) and evaluation (first N test images; saliency
and integrated gradients (50 steps) of the predicted logit; the normalised top-k attack, k = 100,
50 sign steps of 1/255 in the 8/255 ball, a step kept only while the label holds, the iterate with
the lowest top-k intersection; random-sign noise; metrics over the correctly classified images).
Random streams differ from AttrGuard's, so agreement is statistical, not bitwise.

Needs torch, numpy, scipy (pip install torch numpy scipy); not used by the build or the tests.
  python3 launch/reproduce_torch.py --method l2cos --lambda-l2 1 --lambda-cos 1 --out runs/torch/l2cos-1.json
"""
import argparse, json, math, os, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from scipy.stats import kendalltau


def load_cifar(path, files, count=None):
    raw = b''.join(open(os.path.join(path, f), 'rb').read() for f in files)
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    if count: rec = rec[:count]
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), rec[:, 0].astype(np.int64)


class CompositeBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d from elementary ops in training mode (the batch's statistics, biased variance;
    running statistics with the unbiased one, momentum 0.1): PyTorch's fused batch_norm has no
    third derivative, and the hessian objective's parameter gradient is one."""
    def forward(self, x):
        if not self.training:
            return super().forward(x)
        mean = x.mean(dim=(0, 2, 3))
        var = ((x - mean.view(1, -1, 1, 1)) ** 2).mean(dim=(0, 2, 3))
        with torch.no_grad():
            n = x.numel() / x.shape[1]
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * n / (n - 1))
        return (x - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def net(third_order=False):
    sp = lambda: nn.Softplus(beta=10.0, threshold=20.0)
    bn = CompositeBatchNorm2d if third_order else nn.BatchNorm2d
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False), bn(16), sp(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, 1, 1, bias=False), bn(32), sp(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, 1, 1, bias=False), bn(64), sp(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 10))


def augment(images, rng):
    """Zero-pad 4, random 32×32 crop, horizontal flip with p = 1/2; uint8 [B,3,32,32] -> float [0, 1]."""
    b = images.shape[0]
    padded = np.zeros((b, 3, 40, 40), np.uint8); padded[:, :, 4:36, 4:36] = images
    out = np.empty_like(images)
    dy, dx, flip = rng.integers(0, 9, b), rng.integers(0, 9, b), rng.integers(0, 2, b)
    for i in range(b):
        crop = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = crop[:, :, ::-1] if flip[i] else crop
    return torch.from_numpy(out.astype(np.float32) / 255)


def input_grad(model, x, y, create_graph):
    x = x.detach().requires_grad_(True)
    logits = model(x)
    g, = torch.autograd.grad(F.cross_entropy(logits, y, reduction='sum'), x, create_graph=create_graph)
    return g, logits


def objective(model, x, y, args):
    if args.method == 'standard':
        ce = F.cross_entropy(model(x), y)
        return ce, {'ce': ce.item()}
    if args.method == 'l2cos':
        xp = (x + args.epsilon * (2 * torch.rand_like(x) - 1)).clamp(0, 1)
        g, logits = input_grad(model, x, y, True)
        gp, _ = input_grad(model, xp, y, True)
        a, b = g.flatten(1), gp.flatten(1)
        l2 = (a - b).pow(2).sum(1).mean()
        cos = (1 - (a * b).sum(1) / torch.clamp(a.norm(dim=1) * b.norm(dim=1), min=1e-8)).mean()
        ce = F.cross_entropy(logits, y)
        return ce + args.lambda_l2 * l2 + args.lambda_cos * cos, {'ce': ce.item(), 'l2_term': l2.item(), 'cos_term': cos.item()}
    if args.method == 'gradnorm':
        g, logits = input_grad(model, x, y, True)
        ce = F.cross_entropy(logits, y)
        reg = g.flatten(1).pow(2).sum(1).mean()
        return ce + args.lambd * reg, {'ce': ce.item(), 'regularizer': args.lambd * reg.item()}
    if args.method == 'hessian':
        # RobustAGA pl_hessian_classifier.py default_step: one forward, g of the true-class logits,
        # Hv = grad of sum_n <v_n, g_n>, reg = mean_n ||Hv_n||^2, v = randn_like(x).
        x = x.detach().requires_grad_(True)
        logits = model(x)
        g, = torch.autograd.grad(logits[range(len(y)), y].sum(), x, create_graph=True)
        v = torch.randn_like(x)
        hv, = torch.autograd.grad(torch.einsum('nchw,nchw->n', v, g).sum(), x, create_graph=True)
        reg = torch.einsum('nchw,nchw->n', hv, hv).mean()
        ce = F.cross_entropy(logits, y)
        return ce + args.lambd * reg, {'ce': ce.item(), 'regularizer': args.lambd * reg.item()}
    if args.method == 'trades':
        # TRADES trades.py trades_loss (l_inf), with this setting's attack steps.
        kl = nn.KLDivLoss(reduction='sum')
        model.eval()
        x_adv = x.detach() + 0.001 * torch.randn_like(x)
        for _ in range(args.attack_steps):
            x_adv.requires_grad_()
            with torch.enable_grad():
                loss_kl = kl(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1))
            grad, = torch.autograd.grad(loss_kl, [x_adv])
            x_adv = x_adv.detach() + args.attack_step * torch.sign(grad.detach())
            x_adv = torch.min(torch.max(x_adv, x - args.epsilon), x + args.epsilon).clamp(0, 1)
        model.train()
        x_adv = x_adv.clamp(0, 1).detach()
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        robust = kl(F.log_softmax(model(x_adv), dim=1), F.softmax(model(x), dim=1)) / len(y)
        return ce + args.beta * robust, {'ce': ce.item(), 'kl_term': robust.item()}
    raise SystemExit(f'--method {args.method}: this script runs standard, gradnorm, l2cos, hessian and trades')


# ---- evaluation, as AttrGuard's Evaluation / AttributionAttack ----

def saliency(model, x, labels, create_graph=False):
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    score = model(x).gather(1, labels[:, None]).sum()
    g, = torch.autograd.grad(score, x, create_graph=create_graph)
    return g


def integrated_gradients(model, x, labels, steps=50):
    total = torch.zeros_like(x)
    for k in range(1, steps + 1):
        total += saliency(model, x * (k / steps), labels)
    return x * total / steps


def pixel_map(a):
    return a.abs().sum(1).flatten(1)   # [B, H*W]


def topk_sets(maps, k):
    return [set(np.argsort(-m, kind='stable')[:k].tolist()) for m in maps.detach().double().numpy()]


def topk_intersection(a, b, k):
    return np.array([len(sa & sb) / k for sa, sb in zip(topk_sets(a, k), topk_sets(b, k))])


def project(x, center, eps):
    return torch.min(torch.max(x, center - eps), center + eps).clamp(0, 1)


def topk_attack(model, x, labels, eps, step, iters, k):
    original = pixel_map(saliency(model, x, labels))
    mask = torch.zeros_like(original)
    for i, s in enumerate(topk_sets(original, k)): mask[i, list(s)] = 1
    current, best = x.clone(), x.clone()
    best_score = np.full(x.shape[0], np.inf)
    for _ in range(iters):
        inp = current.clone().requires_grad_(True)
        m = pixel_map(saliency(model, inp, labels, create_graph=True))
        d = -((m * mask).sum(1) / (m.sum(1) + 1e-30)).sum()
        g, = torch.autograd.grad(d, inp)
        stepped = project(current + step * g.sign(), x, eps).detach()
        with torch.no_grad(): same = (model(stepped).argmax(1) == labels).numpy()
        score = topk_intersection(original, pixel_map(saliency(model, stepped, labels)), k)
        current[torch.from_numpy(same)] = stepped[torch.from_numpy(same)]
        better = same & (score < best_score)
        best[torch.from_numpy(better)] = stepped[torch.from_numpy(better)]
        best_score[better] = score[better]
    return best


def random_sign(x, eps, gen):
    signs = torch.randint(0, 2, x.shape, generator=gen).float() * 2 - 1
    return project(x + eps * signs, x, eps)


def evaluate(model, test_x, test_y, args):
    model.eval()
    gen = torch.Generator().manual_seed(1)
    sums = {}
    for start in range(0, args.samples, 50):
        x = torch.from_numpy(test_x[start:start + 50].astype(np.float32) / 255)
        y = torch.from_numpy(test_y[start:start + 50])
        with torch.no_grad(): pred = model(x).argmax(1)
        keep = (pred == y)
        if keep.sum() == 0: continue
        x, pred = x[keep], pred[keep]
        for attack in ('topk', 'random_sign'):
            xa = topk_attack(model, x, pred, args.epsilon, 1 / 255, args.attack_iterations, args.k) if attack == 'topk' \
                else random_sign(x, args.epsilon, gen)
            for method in ('saliency', 'integrated_gradients'):
                f = (lambda t: saliency(model, t, pred)) if method == 'saliency' else (lambda t: integrated_gradients(model, t, pred))
                m0, m1 = pixel_map(f(x)), pixel_map(f(xa))
                ti = topk_intersection(m0, m1, args.k)
                kt = [kendalltau(a, b)[0] for a, b in zip(m0.detach().double().numpy(), m1.detach().double().numpy())]
                for name, vals in (('topk_intersection', ti), ('kendall', kt)):
                    sums.setdefault((attack, method, name), []).extend(vals)
    return {a: {m: {n: float(np.mean(v)) for (a2, m2, n), v in sums.items() if a2 == a and m2 == m}
                for m in ('saliency', 'integrated_gradients')} for a in ('topk', 'random_sign')}, len(sums[('topk', 'saliency', 'kendall')])


def accuracy(model, xs, ys):
    model.eval(); correct = 0
    with torch.no_grad():
        for s in range(0, len(xs), 500):
            x = torch.from_numpy(xs[s:s + 500].astype(np.float32) / 255)
            correct += (model(x).argmax(1).numpy() == ys[s:s + 500]).sum()
    return correct / len(xs)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'datasets', 'cifar-10-batches-bin'))
    p.add_argument('--method', default='standard')
    p.add_argument('--lambda-l2', type=float, default=1.0)
    p.add_argument('--lambda-cos', type=float, default=1.0)
    p.add_argument('--lambd', type=float, default=1.0, help='gradnorm and hessian λ')
    p.add_argument('--beta', type=float, default=6.0, help='trades β')
    p.add_argument('--attack-steps', type=int, default=10, help='trades attack steps')
    p.add_argument('--attack-step', type=float, default=0.007, help='trades attack step size')
    p.add_argument('--epsilon', type=float, default=8 / 255)
    p.add_argument('--train-subset', type=int, default=10000)
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--lr', type=float, default=0.05)
    p.add_argument('--samples', type=int, default=1000)
    p.add_argument('--k', type=int, default=100)
    p.add_argument('--attack-iterations', type=int, default=50)
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_x, train_y = load_cifar(args.data, [f'data_batch_{i}.bin' for i in range(1, 6)], args.train_subset)
    test_x, test_y = load_cifar(args.data, ['test_batch.bin'])
    model = net(third_order=args.method == 'hessian')
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps_per_epoch = len(train_x) // args.batch
    total = steps_per_epoch * args.epochs
    warmup = steps_per_epoch
    # AttrGuard's schedule: cosine over the whole run, times (t+1)/warmup during the warm-up.
    lr_at = lambda t: 0.5 * (1 + math.cos(math.pi * min(t / total, 1))) * ((t + 1) / warmup if t < warmup else 1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    log = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_x))
        model.train()
        for s in range(steps_per_epoch):
            idx = order[s * args.batch:(s + 1) * args.batch]
            x, y = augment(train_x[idx], rng), torch.from_numpy(train_y[idx])
            loss, parts = objective(model, x, y, args)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step(); sched.step()
            if (epoch * steps_per_epoch + s + 1) % 100 == 0:
                log.append(dict(step=epoch * steps_per_epoch + s + 1, total=loss.item(), **parts))
                print(json.dumps(log[-1]), flush=True)
    train_seconds = time.perf_counter() - start
    acc = accuracy(model, test_x, test_y)
    print(f'test accuracy {acc:.4f} after {train_seconds:.0f} s', flush=True)
    t = time.perf_counter()
    robustness, attributed = evaluate(model, test_x, test_y, args)
    row = dict(name=f'torch-{args.method}', method=args.method, accuracy=float(acc), train_seconds=train_seconds,
               images_per_s=total * args.batch / train_seconds, eval_seconds=time.perf_counter() - t,
               attributed_images=attributed, threads=args.threads, **robustness)
    if args.method == 'l2cos': row.update(lambda_l2=args.lambda_l2, lambda_cos=args.lambda_cos)
    if args.method in ('gradnorm', 'hessian'): row.update(**{'lambda': args.lambd})
    if args.method == 'trades': row.update(beta=args.beta)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    json.dump(row, open(args.out, 'w'), indent=1, sort_keys=True)
    print(json.dumps(row, sort_keys=True))


if __name__ == '__main__':
    main()
