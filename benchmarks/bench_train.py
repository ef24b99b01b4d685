"""Training speed of the Ferbach et al. MNIST MLP (784-512-512-512-10, batch 500) on CPU.

``run(quick)`` returns a dict of timings: seconds per 60k-example epoch of :func:`otlmc.train.train`
with SGD in float32 and float64, with one BLAS thread and with all of them, the achieved GFLOP/s,
and the GFLOP/s of one bare ``(500, 784) @ (784, 512)`` matmul as the machine's BLAS ceiling. Data
are uniform random MNIST-shaped arrays: the cost does not depend on pixel values. With PyTorch
importable the same epoch is timed with ``torch.nn`` on CPU for comparison.

Run: ``python -m benchmarks.bench_train [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from otlmc.train import TrainConfig, init_mlp, init_state, run_steps

WIDTHS = (784, 512, 512, 512, 10)
BATCH = 500
N_EPOCH = 60_000


def flops_per_example(widths=WIDTHS) -> float:
    """Forward + backward multiply-adds x 2: forward ``Z = H W^T``, backward ``dW = dZ^T H`` and
    ``dH = dZ W`` (not needed for the input layer)."""
    macs = [a * b for a, b in zip(widths[:-1], widths[1:])]
    return 2.0 * (sum(macs) + sum(macs) + sum(macs[1:]))


def _time_steps(n_steps: int, dtype: str, threads: int, repeats: int) -> float:
    """Best-of-``repeats`` seconds for ``n_steps`` SGD steps."""
    rng = np.random.default_rng(0)
    n = n_steps * BATCH
    X = rng.random((n, WIDTHS[0]), dtype=np.float32).astype(dtype)  # (n, 784)
    y = rng.integers(0, WIDTHS[-1], n)
    net = init_mlp(WIDTHS, rng=rng)
    cfg = TrainConfig(optimizer="sgd", lr=0.01, epochs=1, batch_size=BATCH, dtype=dtype)
    best = np.inf
    with threadpool_limits(limits=threads, user_api="blas"):
        run_steps(init_state(net, cfg), X, y, cfg, n_steps=2, total_steps=n_steps, rng=rng)  # warm-up
        for _ in range(repeats):
            state = init_state(net, cfg)
            t0 = time.perf_counter()
            run_steps(state, X, y, cfg, n_steps=n_steps, total_steps=n_steps, rng=rng)
            best = min(best, time.perf_counter() - t0)
    return best


def _matmul_gflops(threads: int, dtype: str) -> float:
    rng = np.random.default_rng(0)
    A = rng.random((BATCH, 784)).astype(dtype)  # (500, 784)
    W = rng.random((512, 784)).astype(dtype)  # (512, 784)
    with threadpool_limits(limits=threads, user_api="blas"):
        A @ W.T
        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(10):
                A @ W.T
            best = min(best, (time.perf_counter() - t0) / 10)
    return 2 * BATCH * 784 * 512 / best / 1e9


def _torch_epoch(n_steps: int, threads: int, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    layers = []
    for a, b in zip(WIDTHS[:-1], WIDTHS[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X = torch.rand(n_steps * BATCH, WIDTHS[0])
    y = torch.randint(0, WIDTHS[-1], (n_steps * BATCH,))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in range(n_steps):
            xb, yb = X[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        best = min(best, time.perf_counter() - t0)
    return best * (N_EPOCH / BATCH) / n_steps


def run(quick: bool = False) -> dict:
    """Timings as a flat dict (seconds per 60k epoch, GFLOP/s); ``quick`` times 12 steps, else 120."""
    n_steps = 12 if quick else N_EPOCH // BATCH
    repeats = 1 if quick else 2
    scale = (N_EPOCH / BATCH) / n_steps
    all_threads = os.cpu_count() or 1
    flop_epoch = flops_per_example() * N_EPOCH
    out = {"widths": "-".join(map(str, WIDTHS)), "batch_size": BATCH, "n_epoch": N_EPOCH,
           "timed_steps": n_steps, "cpu_count": all_threads, "gflop_per_epoch": flop_epoch / 1e9}
    thread_set = sorted({1, all_threads})
    for threads in thread_set:
        for dtype in ("float32", "float64"):
            sec = _time_steps(n_steps, dtype, threads, repeats) * scale
            out[f"epoch_s_{dtype}_{threads}t"] = sec
            out[f"gflops_{dtype}_{threads}t"] = flop_epoch / sec / 1e9
        out[f"matmul_gflops_float32_{threads}t"] = _matmul_gflops(threads, "float32")
    best = min(out[f"epoch_s_float32_{t}t"] for t in thread_set)
    out["epoch_s_best"] = best
    out["float64_over_float32_1t"] = out["epoch_s_float64_1t"] / out["epoch_s_float32_1t"]
    out["blas_efficiency_float32_1t"] = out["gflops_float32_1t"] / out["matmul_gflops_float32_1t"]
    torch_s = _torch_epoch(n_steps, all_threads, repeats)
    if torch_s is not None:
        out["torch_epoch_s"] = torch_s
        out["otlmc_over_torch"] = best / torch_s
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="time 12 steps instead of a full epoch")
    args = p.parse_args(argv)
    print(json.dumps(run(args.quick), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
