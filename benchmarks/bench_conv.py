"""Speed of :mod:`otlmc.conv` on CPU, and the cost/accuracy of the patch-moment estimates of WM-Sigma.

``run(quick) -> dict`` with three parts:

``conv``
    forward and backward of one 3x3 convolution (batch 128, 28x28 maps, 32 -> 32 channels,
    float32, one BLAS thread and all of them): achieved GFLOP/s (``2 M K C_out`` per GEMM: one forward,
    two backward) against a bare GEMM of the same shape and the square-GEMM peak.
``epoch``
    seconds of ONE training epoch (timed whole, best of 3) of ``sims.cnn_matching``'s default VGG
    (conv 8 - pool - conv 16 - pool - dense 32 - 10 on 14x14x1, 5000 images, batch 100, float32,
    SGD momentum 0.9) in otlmc and, back to back in the same process with the same number of
    threads (``torch.set_num_threads``), in ``torch.nn`` on the CPU when torch is installed (the
    ``torch`` extra; otherwise one printed line says the comparison is skipped).
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
import importlib.util
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from otlmc.conv import Conv, Dense, Flatten, MaxPool, ReLU, init_network, vgg
from otlmc.conv import layers as L
from otlmc.conv.covariance import compare_estimates, patch_moment
from otlmc.conv.experiments import make_arch
from otlmc.conv.matching import match
from otlmc.conv.model import forward
from otlmc.conv.specs import derive_spec, permute_array
from otlmc.conv.train import init_state, run_steps, train
from otlmc.train import TrainConfig

BATCH = 128
#: the epoch of ``sims.cnn_matching``'s defaults: n_train images, batch_size
EPOCH_IMAGES, EPOCH_BATCH = 5000, 100


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


def _torch_vgg(arch, torch):
    """``torch.nn`` twin of a :func:`otlmc.conv.vgg` architecture without norms (NCHW; torch's own init)."""
    nn = torch.nn
    mods = []
    for info in arch.leaves:
        lay = info.layer
        if isinstance(lay, Conv):
            mods.append(nn.Conv2d(info.in_shape[2], lay.out, lay.kernel, lay.stride, lay.pad))
        elif isinstance(lay, MaxPool):
            mods.append(nn.MaxPool2d(lay.size))
        elif isinstance(lay, ReLU):
            mods.append(nn.ReLU())
        elif isinstance(lay, Flatten):  # NCHW order: a different feature order, the same cost
            mods.append(nn.Flatten())
        elif isinstance(lay, Dense):
            mods.append(nn.Linear(info.in_shape[0], lay.out))
        else:  # pragma: no cover - the benchmark builds the network itself
            raise TypeError(type(lay).__name__)
    return nn.Sequential(*mods)


def _torch_epoch_s(arch, X, y, threads: int, repeats: int):
    """Best-of-``repeats`` seconds of one epoch in torch (same data, batch, shuffle, SGD momentum 0.9)."""
    import torch  # optional: the caller checked it is importable

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = _torch_vgg(arch, torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    Xt = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))  # (N, C, H, W) float32
    yt = torch.from_numpy(y)
    gen = torch.Generator().manual_seed(1)

    def epoch():
        order = torch.randperm(Xt.shape[0], generator=gen)
        for s in range(0, Xt.shape[0], EPOCH_BATCH):
            idx = order[s:s + EPOCH_BATCH]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()

    return _best(epoch, repeats)


def epoch_time(threads: int, repeats: int, *, n_images: int = EPOCH_IMAGES) -> dict:
    """One training epoch of ``sims.cnn_matching``'s default VGG in otlmc and in torch, back to back.

    The network is ``make_arch("vgg", 1.0, (14, 14, 1))`` (conv 8 - pool - conv 16 - pool - dense 32
    - 10: the sims' default family and width on MNIST pooled to 14 x 14), ``n_images`` images (the
    sims' ``n_train``), batch 100, float32, SGD momentum 0.9, a fresh shuffle per epoch, ``threads``
    BLAS / torch threads on both sides. ``torch_epoch_s`` is ``None`` when torch is not installed.
    """
    rng = np.random.default_rng(0)
    arch = make_arch("vgg", 1.0, (14, 14, 1))
    X = rng.random((n_images, 14, 14, 1), dtype=np.float32)  # (N, H, W, C)
    y = rng.integers(0, 10, n_images)
    net = init_network(arch, rng=rng, dtype=np.float32)
    cfg = TrainConfig(optimizer="sgd", lr=0.01, batch_size=EPOCH_BATCH)
    n_steps = -(-n_images // EPOCH_BATCH)
    with threadpool_limits(limits=threads, user_api="blas"):
        otl = _best(lambda: run_steps(init_state(net, cfg), X, y, cfg, n_steps=n_steps, total_steps=n_steps,
                                      rng=np.random.default_rng(1)), repeats)
    out = {"threads": threads, "arch": "vgg (sims default, width 1, 14x14x1)", "n_images": n_images,
           "batch_size": EPOCH_BATCH, "otlmc_epoch_s": otl, "torch_epoch_s": None, "otlmc_over_torch": None}
    if importlib.util.find_spec("torch") is not None:
        tor = _torch_epoch_s(arch, X, y, threads, repeats)
        out.update(torch_epoch_s=tor, otlmc_over_torch=otl / tor)
    return out


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


def report(res: dict, log=print) -> None:
    """One line per conv timing (fraction of the GEMM peak) and per epoch timing (otlmc vs torch)."""
    for r in res["conv"]:
        log(f"  conv 3x3 32->32 {r['threads']} thread(s): forward {r['forward_gflops']:.1f}, backward "
            f"{r['backward_gflops']:.1f} GFLOP/s = {r['forward_gflops'] / r['peak_gemm_gflops']:.0%} / "
            f"{r['backward_gflops'] / r['peak_gemm_gflops']:.0%} of the 1024^2 GEMM peak "
            f"({r['peak_gemm_gflops']:.1f}; same-shape GEMM {r['same_shape_gemm_gflops']:.1f})")
    for r in res["epoch"]:
        head = f"  epoch of the sims' default VGG ({r['n_images']} images, batch {r['batch_size']}, float32, SGD), " \
               f"{r['threads']} thread(s): otlmc {r['otlmc_epoch_s']:.3f} s"
        if r["torch_epoch_s"] is None:
            log(head + "; torch not installed, comparison skipped (pip install -e '.[torch]')")
        else:
            log(head + f", torch {r['torch_epoch_s']:.3f} s, otlmc/torch {r['otlmc_over_torch']:.2f}")


def run(quick: bool = False) -> dict:
    reps = 2 if quick else 5
    threads = sorted({1, os.cpu_count() or 1})
    res = {"conv": [conv_speed(t, reps, n=32 if quick else BATCH) for t in threads],
           "epoch": [epoch_time(t, 1 if quick else 3, n_images=1000 if quick else EPOCH_IMAGES) for t in threads]}
    report(res)
    res["wm_sigma"] = wm_sigma(quick)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_conv", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    args = p.parse_args(argv)
    print(json.dumps(run(args.quick), indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
