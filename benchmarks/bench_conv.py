"""Speed of :mod:`otlmc.conv` on CPU, and the cost/accuracy of the patch-moment estimates of WM-Sigma.

``run(quick) -> dict`` with three parts:

``conv``
    forward and backward of one 3x3 convolution (batch 128, 28x28 maps, 32 -> 32 channels,
    float32, one BLAS thread and all of them): achieved GFLOP/s (``2 M K C_out`` per GEMM: one forward,
    two backward) against a bare GEMM of the same shape and the square-GEMM peak.
``epoch``
    seconds per 60k-example MNIST-shaped epoch of a small VGG (conv 16 - pool - conv 32 - pool -
    dense 64 - 10, batch 128, SGD, float32) extrapolated from timed steps, and the same network in
    ``torch.nn`` on the CPU when torch is importable (``None`` otherwise).
``wm_sigma``
    per conv layer of two independently trained small VGGs (synthetic class-blob images): the exact
    patch second moment against the Kronecker (``kron``), position-diagonal (``channel``) and
    Frobenius-nearest Kronecker estimates (:func:`otlmc.conv.covariance.compare_estimates`), plus the
    accumulation time and memory of exact vs kron on wider random feature maps.

Timings on a shared machine are noisy; every ratio compares numbers taken back to back in one process.
Run: ``python -m benchmarks.bench_conv [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from otlmc.conv import Conv, init_network, vgg
from otlmc.conv import layers as L
from otlmc.conv.covariance import compare_estimates, patch_moment
from otlmc.conv.matching import match
from otlmc.conv.model import forward
from otlmc.conv.specs import derive_spec, permute_array
from otlmc.conv.train import init_state, run_steps, train
from otlmc.train import TrainConfig

BATCH = 128
N_EPOCH = 60_000


def _best(fn, repeats: int) -> float:
    fn()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def conv_speed(threads: int, repeats: int, n: int = BATCH) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 28, 28, 32)).astype(np.float32)
    W = (rng.standard_normal((32, 32, 3, 3)) * 0.1).astype(np.float32)
    b = np.zeros(32, np.float32)
    M, K, O = n * 28 * 28, 9 * 32, 32
    flops = 2.0 * M * K * O
    with threadpool_limits(limits=threads, user_api="blas"):
        y, cache = L.conv_forward(x, W, b, 1, 1)
        t_f = _best(lambda: L.conv_forward(x, W, b, 1, 1), repeats)
        t_b = _best(lambda: L.conv_backward(y, cache), repeats)
        cols = cache[1].reshape(M, K)
        Wm = L.weight_matrix(W)
        t_gemm = _best(lambda: cols @ Wm.T, repeats)
        S = rng.standard_normal((1024, 1024)).astype(np.float32)
        t_sq = _best(lambda: S @ S, repeats)
    return {"threads": threads, "forward_gflops": flops / t_f / 1e9, "backward_gflops": 2 * flops / t_b / 1e9,
            "same_shape_gemm_gflops": flops / t_gemm / 1e9, "peak_gemm_gflops": 2 * 1024 ** 3 / t_sq / 1e9,
            "forward_ms": 1e3 * t_f, "backward_ms": 1e3 * t_b}


def _torch_epoch_seconds(n_steps: int, threads: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X = torch.rand(n_steps * BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (n_steps * BATCH,))

    def steps():
        for s in range(n_steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(X[s * BATCH:(s + 1) * BATCH]), y[s * BATCH:(s + 1) * BATCH])
            loss.backward()
            opt.step()

    return _best(steps, 2) / n_steps * (N_EPOCH / BATCH)


def epoch_time(n_steps: int, threads: int) -> dict:
    rng = np.random.default_rng(0)
    arch = vgg(stages=((16,), (32,)), dense=(64,))
    net = init_network(arch, rng=rng, dtype=np.float32)
    X = rng.random((n_steps * BATCH, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n_steps * BATCH)
    cfg = TrainConfig(optimizer="sgd", lr=0.01, batch_size=BATCH)
    with threadpool_limits(limits=threads, user_api="blas"):
        sec = _best(lambda: run_steps(init_state(net, cfg), X, y, cfg, n_steps=n_steps, total_steps=n_steps,
                                      rng=np.random.default_rng(1)), 2)
    otl = sec / n_steps * (N_EPOCH / BATCH)
    tor = _torch_epoch_seconds(n_steps, threads)
    return {"threads": threads, "otlmc_epoch_s": otl, "torch_epoch_s": tor,
            "torch_speedup": None if tor is None else otl / tor}


def _blob_images(rng, n, size=16, n_classes=4):
    """Smooth class-dependent images: a class-specific blob plus low-pass noise (spatially correlated)."""
    y = rng.integers(0, n_classes, n)
    noise = rng.standard_normal((n, size + 2, size + 2, 1))
    X = sum(noise[:, a:a + size, b:b + size] for a in range(3) for b in range(3)) / 3.0  # (n, size, size, 1)
    h = size // 2
    for c in range(n_classes):
        i, j = divmod(c, 2)
        X[y == c, i * h:(i + 1) * h, j * h:(j + 1) * h, 0] += 1.5
    return X.astype(np.float32), y


def wm_sigma(quick: bool) -> dict:
    rng = np.random.default_rng(0)
    X, y = _blob_images(rng, 600 if quick else 2000)
    arch = vgg(stages=((16,), (32, 32)), dense=(32,), input_shape=(16, 16, 1), n_classes=4)
    cfg = TrainConfig(optimizer="sgd", lr=0.05, epochs=2 if quick else 5, batch_size=50)
    A = train(init_network(arch, rng=np.random.default_rng(1), dtype=np.float32), X, y, cfg, rng=np.random.default_rng(2))
    B = train(init_network(arch, rng=np.random.default_rng(3), dtype=np.float32), X, y, cfg, rng=np.random.default_rng(4))
    A, B = A.astype(np.float64), B.astype(np.float64)
    spec = derive_spec(arch)
    Xe = X[:200].astype(np.float64)
    res = match(A, B, spec, "wm_ours", X=Xe)  # exact Sigma: B's input channels aligned layer by layer
    _, rec = forward(A, Xe, record=True)
    layers = {}
    for name, gin in spec.linear_in.items():
        lay = arch.leaf(name).layer
        if not isinstance(lay, Conv):
            continue
        axes = spec.axes[f"{name}.W"]
        Wb = B.params[f"{name}.W"] if gin is None else permute_array(B.params[f"{name}.W"], axes, res.perms, skip_axis=0)
        layers[name] = compare_estimates(rec.inputs[name], lay, A.params[f"{name}.W"], Wb)
    scaling = []
    for C in ((16, 64) if quick else (16, 64, 128)):
        x = np.maximum(rng.standard_normal((64, 16, 16, C)), 0)
        row = {"C": C, "K": 9}
        for est in ("exact", "kron"):
            pm = patch_moment(x, Conv(C, 3), estimate=est)
            row[f"{est}_s"] = _best(lambda est=est: patch_moment(x, Conv(C, 3), estimate=est), 1)
            row[f"{est}_bytes"] = pm.nbytes()
        scaling.append(row)
    return {"layers": layers, "scaling": scaling,
            "train_accuracy": {"A": float(np.mean(forward(A, Xe).argmax(1) == y[:200])),
                               "B": float(np.mean(forward(B, Xe).argmax(1) == y[:200]))}}


def run(quick: bool = False) -> dict:
    reps = 2 if quick else 5
    cores = os.cpu_count() or 1
    return {"conv": [conv_speed(t, reps, n=32 if quick else BATCH) for t in sorted({1, cores})],
            "epoch": [epoch_time(4 if quick else 20, t) for t in sorted({1, cores})],
            "wm_sigma": wm_sigma(quick)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_conv", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    args = p.parse_args(argv)
    print(json.dumps(run(args.quick), indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
