"""PyTorch's CPU convolution kernels (oneDNN through ATen) on the shapes `attrguard bench conv`
times: forward, input gradient and weight gradient, best of REPEATS, one thread.
    .build/release/attrguard bench conv --shapes | python3 launch/conv_bench_torch.py [REPEATS]
Prints one JSON line per shape. Needs torch (never a dependency of the build or the tests)."""
import json, sys, time
import torch

torch.set_num_threads(1)
repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5

def best(fn):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times) * 1e3

for s in json.load(sys.stdin):
    g = torch.Generator().manual_seed(4)
    b, c, o, h, k, st, p = (s[key] for key in ("batch", "channels", "out_channels", "size", "kernel", "stride", "padding"))
    x = torch.rand(b, c, h, h, generator=g) * 2 - 1
    w = (torch.rand(o, c, k, k, generator=g) * 2 - 1) * 0.1
    y = torch.nn.functional.conv2d(x, w, stride=st, padding=p)
    dy = torch.rand(y.shape, generator=g) * 2 - 1
    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [p, p], [1, 1], False, [0, 0], 1, mask)
    row = dict(s, path="torch",
               forward_ms=best(lambda: torch.nn.functional.conv2d(x, w, stride=st, padding=p)),
               input_grad_ms=best(backward([True, False, False])),
               weight_grad_ms=best(backward([False, True, False])))
    flops = 2 * b * o * y.shape[2] * y.shape[3] * c * k * k
    row["gflops"] = [round(flops / (row[key] * 1e-3) / 1e9, 1) for key in ("forward_ms", "input_grad_ms", "weight_grad_ms")]
    for key in ("forward_ms", "input_grad_ms", "weight_grad_ms"):
        row[key] = round(row[key], 2)
    print(json.dumps(row, sort_keys=True), flush=True)
