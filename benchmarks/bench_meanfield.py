"""Noisy-SGD steps per second of the mean-field kernels, with the machine's roofline.

For each (N, d, B) one full step is timed — draw the ``(N, D)`` Gaussian noise with numpy's
generator, then update — for the fused numba kernel (1 thread and all numba threads, BLAS held to
one thread so the two thread pools do not spin against each other) and for the numpy reference
(BLAS at its default). The step without the noise draw ("kernel only") is timed too. The roofline
is measured in the same run: peak FLOP/s by a large float64 GEMM, memory bandwidth by a parallel
numba triad (best of 1 thread and all threads). The fraction reported is achieved FLOP/s over ``min(peak, AI * bandwidth)`` for the
kernel-only numba step, with the step's flop and byte counts written in :func:`step_counts`.

    python -m benchmarks.bench_meanfield            # N in {1e3, 1e4, 1e5}, d in {10, 100}, B in {1, 32}
    python -m benchmarks.bench_meanfield --quick    # seconds
    python -m benchmarks.bench_meanfield --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def step_counts(n: int, d: int, batch: int) -> tuple[float, float]:
    """(flops, bytes) of one kernel-only step, transcendental functions counted as one flop.

    Pass 1: ``z`` (2 d flops), ``sigma`` (1), partial sum (2) per (neuron, sample); writes ``Z, S``.
    Pass 2: residual scaling and ``a sigma'`` (~5), gradient rows (2 d + 2) per (neuron, sample);
    shrink + noise (3) per coordinate. Bytes: ``theta``, ``g`` read and ``out`` written
    (24 N D) plus ``Z, S`` written then read (32 N B); ``X`` stays in cache. When ``N D`` fits in
    the caches the DRAM triad bandwidth understates the attainable rate, so fractions above 1
    can occur there; the fraction is meaningful for the DRAM-sized cases (N = 1e5).
    """
    D = d + 1
    flops = n * batch * (4.0 * d + 10.0) + 3.0 * n * D
    bytes_ = 24.0 * n * D + 32.0 * n * batch
    return flops, bytes_


def _time(fn, min_seconds: float, rounds: int = 3) -> float:
    """Best over ``rounds`` of the mean time per call, each round lasting >= ``min_seconds``."""
    fn()  # warm-up (compilation, caches)
    best = np.inf
    for _ in range(rounds):
        k, t0 = 0, time.perf_counter()
        while True:
            fn()
            k += 1
            el = time.perf_counter() - t0
            if el >= min_seconds:
                break
        best = min(best, el / k)
    return best


def measure_roofline(quick: bool) -> dict:
    """Peak float64 GEMM FLOP/s (BLAS default threads) and triad bandwidth (numba, all threads)."""
    from numba import njit, prange

    n = 512 if quick else 2048
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    C = np.empty((n, n))
    t = _time(lambda: np.matmul(A, B, out=C), 0.1 if quick else 0.5)
    peak = 2.0 * n**3 / t

    @njit(parallel=True, cache=False)
    def triad(a, b, c, s):
        for i in prange(a.size):
            a[i] = b[i] + s * c[i]

    import numba

    from otlmc.meanfield.sgd import _numba_threads

    m = 2_000_000 if quick else 20_000_000
    a, b, c = np.empty(m), np.ones(m), np.ones(m)
    # best over 1 thread and all threads: on a loaded machine the spinning team can lose
    times = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        with _numba_threads(threads):
            times.append(_time(lambda: triad(a, b, c, 3.0), 0.1 if quick else 0.5))
    tt = min(times)
    return {"peak_gflops": peak / 1e9, "gemm_n": n, "bandwidth_gbs": 24.0 * m / tt / 1e9, "triad_n": m}


def run(quick: bool = False) -> dict:
    """Benchmark table (list of dicts under ``"rows"``) plus the roofline and the environment."""
    import numba
    from threadpoolctl import threadpool_info, threadpool_limits

    from otlmc.meanfield import MeanFieldNet, Workspace, init_particles, step
    from otlmc.meanfield.sgd import _numba_threads, _step_numba, _step_reference

    sizes = [(1000, 10), (4000, 100)] if quick else [(n, d) for n in (1000, 10000, 100000) for d in (10, 100)]
    batches = (1, 32)
    min_s = 0.02 if quick else 0.3
    roof = measure_roofline(quick)
    max_threads = numba.config.NUMBA_NUM_THREADS
    rows = []
    for n, d in sizes:
        for batch in batches:
            net = MeanFieldNet(d, "tanh")
            rng = np.random.default_rng(1)
            theta = init_particles(net, n, rng=rng)  # (N, D)
            X = rng.standard_normal((batch, d)) / np.sqrt(d)  # (B, d)
            y = rng.standard_normal(batch)  # (B,)
            g = np.empty_like(theta)  # (N, D) noise buffer
            out = np.empty_like(theta)
            ws = Workspace.allocate(n, batch)
            kw = dict(s=0.01, lam=0.01, tau=0.01)
            # correctness of what is timed: the kernels agree on this noise
            rng.standard_normal(out=g)
            ref = step(net, theta, X, y, g, kernel="numpy", **kw)
            err = float(np.abs(step(net, theta, X, y, g, kernel="numba", **kw) - ref).max())

            def numba_full():
                rng.standard_normal(out=g)
                _step_numba(net, theta, X, y, g, 0.01, 0.01, 0.01, out, ws)

            def numba_kernel():
                _step_numba(net, theta, X, y, g, 0.01, 0.01, 0.01, out, ws)

            def numpy_full():
                rng.standard_normal(out=g)
                _step_reference(net, theta, X, y, g, 0.01, 0.01, 0.01, np)

            def numpy_kernel():
                _step_reference(net, theta, X, y, g, 0.01, 0.01, 0.01, np)

            row = {"N": n, "d": d, "B": batch, "max_abs_diff_numba_numpy": err}
            with threadpool_limits(limits=1, user_api="blas"):
                for threads in sorted({1, max_threads}):
                    with _numba_threads(threads):
                        row[f"numba_t{threads}_steps_per_s"] = 1.0 / _time(numba_full, min_s)
                        row[f"numba_t{threads}_kernel_steps_per_s"] = 1.0 / _time(numba_kernel, min_s)
            row["numpy_steps_per_s"] = 1.0 / _time(numpy_full, min_s)
            row["numpy_kernel_steps_per_s"] = 1.0 / _time(numpy_kernel, min_s)
            best_t = max((k for k in row if k.startswith("numba_t") and k.endswith("_kernel_steps_per_s")),
                         key=row.get)
            flops, bytes_ = step_counts(n, d, batch)
            achieved = flops * row[best_t]
            attainable = min(roof["peak_gflops"] * 1e9, flops / bytes_ * roof["bandwidth_gbs"] * 1e9)
            best_full = max(row[k] for k in row
                            if k.startswith("numba_t") and k.endswith("_steps_per_s") and "kernel" not in k)
            row.update({
                "speedup_numba_vs_numpy": best_full / row["numpy_steps_per_s"],
                "speedup_kernel_only": row[best_t] / row["numpy_kernel_steps_per_s"],
                "arithmetic_intensity": flops / bytes_,
                "numba_kernel_gflops": achieved / 1e9,
                "roofline_fraction": achieved / attainable,
            })
            rows.append(row)
    return {
        "benchmark": "meanfield noisy SGD step",
        "quick": quick,
        "roofline": roof,
        "rows": rows,
        "numba_threads": max_threads,
        "numba_threading_layer": _threading_layer(),
        "blas": [{k: i.get(k) for k in ("internal_api", "num_threads", "version")} for i in threadpool_info()],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "gpu": gpu_rows(rows, quick),
    }


def gpu_rows(cpu_rows: list, quick: bool):
    """cupy steps/s of the reference kernel for the CPU table's sizes plus N = 1e6 (no GPU: a note).

    Three timings per size: ``kernel`` (noise already on the device), ``device_noise`` (a cupy
    generator draws it: ``mf_train(..., noise_source="device")``) and ``host_noise`` (numpy draws it
    and it is copied over: the default, which follows the CPU trajectory). Each call ends with a
    device synchronize. ``x_*_vs_numba`` divide by the best numba full-step rate (noise draw
    included) of the same size from this run.
    """
    from otlmc.backend import cupy_available

    if not cupy_available():
        return "not run (cupy with a CUDA device is not available)"
    import cupy as cp

    from otlmc.meanfield import MeanFieldNet, init_particles, step
    from otlmc.meanfield.sgd import _step_reference

    sync = cp.cuda.Device().synchronize
    best_cpu = {(r["N"], r["d"], r["B"]): max(v for k, v in r.items() if k.startswith("numba_t")
                                              and k.endswith("_steps_per_s") and "kernel" not in k)
                for r in cpu_rows}
    sizes = sorted(best_cpu) + ([] if quick else [(1_000_000, d, b) for d in (10, 100) for b in (1, 32)])
    min_s = 0.02 if quick else 0.3
    out = [{"device": cp.cuda.runtime.getDeviceProperties(0)["name"].decode()}]
    for n, d, batch in sizes:
        net = MeanFieldNet(d, "tanh")
        rng = np.random.default_rng(1)
        theta_h = init_particles(net, n, rng=rng)  # (N, D)
        X_h = rng.standard_normal((batch, d)) / np.sqrt(d)  # (B, d)
        y_h = rng.standard_normal(batch)  # (B,)
        g_h = rng.standard_normal(theta_h.shape)  # (N, D)
        theta, X, y, g = (cp.asarray(a) for a in (theta_h, X_h, y_h, g_h))
        kw = dict(s=0.01, lam=0.01, tau=0.01)
        ref = step(net, theta_h, X_h, y_h, g_h, kernel="numpy", **kw)
        err = float(np.abs(cp.asnumpy(step(net, theta, X, y, g, kernel="numpy", **kw)) - ref).max())

        def kernel():
            _step_reference(net, theta, X, y, g, 0.01, 0.01, 0.01, cp)
            sync()

        dev_rng = cp.random.default_rng(1)

        def device_noise():
            gg = dev_rng.standard_normal(theta_h.shape)
            _step_reference(net, theta, X, y, gg, 0.01, 0.01, 0.01, cp)
            sync()

        def host_noise():
            gg = cp.asarray(rng.standard_normal(theta_h.shape))
            _step_reference(net, theta, X, y, gg, 0.01, 0.01, 0.01, cp)
            sync()

        row = {"N": n, "d": d, "B": batch, "max_abs_diff_cupy_numpy": err,
               "cupy_kernel_steps_per_s": 1.0 / _time(kernel, min_s),
               "cupy_device_noise_steps_per_s": 1.0 / _time(device_noise, min_s),
               "cupy_host_noise_steps_per_s": 1.0 / _time(host_noise, min_s)}
        if (n, d, batch) in best_cpu:
            row["x_host_vs_numba"] = row["cupy_host_noise_steps_per_s"] / best_cpu[(n, d, batch)]
            row["x_device_vs_numba"] = row["cupy_device_noise_steps_per_s"] / best_cpu[(n, d, batch)]
        out.append(row)
    return out


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return "unset"


def _print(res: dict) -> None:
    r = res["roofline"]
    print(f"roofline: peak {r['peak_gflops']:.1f} GFLOP/s (GEMM {r['gemm_n']}), "
          f"bandwidth {r['bandwidth_gbs']:.1f} GB/s (triad); numba threads {res['numba_threads']} "
          f"({res['numba_threading_layer']}); load average {res['load_average'][0]:.1f}")
    hdr = (f"{'N':>7} {'d':>4} {'B':>3} | {'numba 1t':>9} {'numba nt':>9} {'numpy':>9} {'x':>5} | "
           f"{'kern 1t':>9} {'kern nt':>9} {'np kern':>9} {'x':>5} | {'GFLOP/s':>7} {'roof%':>6} {'diff':>8}")
    print(hdr)
    nt = res["numba_threads"]
    for row in res["rows"]:
        print(f"{row['N']:>7} {row['d']:>4} {row['B']:>3} | {row['numba_t1_steps_per_s']:9.1f} "
              f"{row.get(f'numba_t{nt}_steps_per_s', np.nan):9.1f} {row['numpy_steps_per_s']:9.1f} "
              f"{row['speedup_numba_vs_numpy']:5.2f} | {row['numba_t1_kernel_steps_per_s']:9.1f} "
              f"{row.get(f'numba_t{nt}_kernel_steps_per_s', np.nan):9.1f} {row['numpy_kernel_steps_per_s']:9.1f} "
              f"{row['speedup_kernel_only']:5.2f} | {row['numba_kernel_gflops']:7.2f} "
              f"{100 * row['roofline_fraction']:6.1f} {row['max_abs_diff_numba_numpy']:8.1e}")
    print("steps/s with the noise draw (left) and kernel only (right); x = best numba / numpy.")
    if isinstance(res["gpu"], str):
        print(f"gpu: {res['gpu']}")
        return
    print(f"gpu: {res['gpu'][0]['device']} (cupy, reference kernel)")
    print(f"{'N':>7} {'d':>4} {'B':>3} | {'host noise':>10} {'dev noise':>10} {'kernel':>10} | "
          f"{'x host':>7} {'x dev':>7} {'diff':>8}")
    for row in res["gpu"][1:]:
        print(f"{row['N']:>7} {row['d']:>4} {row['B']:>3} | {row['cupy_host_noise_steps_per_s']:10.1f} "
              f"{row['cupy_device_noise_steps_per_s']:10.1f} {row['cupy_kernel_steps_per_s']:10.1f} | "
              f"{row.get('x_host_vs_numba', np.nan):7.2f} {row.get('x_device_vs_numba', np.nan):7.2f} "
              f"{row['max_abs_diff_cupy_numpy']:8.1e}")
    print("x host / x dev = cupy step with host / device noise over the best numba full step (same run).")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="two sizes, short timings (seconds)")
    p.add_argument("--json", default=None, help="also write the full result to this JSON file")
    args = p.parse_args(argv)
    res = run(quick=args.quick)
    _print(res)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
