"""Matrix-free certified exact transport (``otlmc.transport.matrixfree``) next to the dense peers.

For each ``(n, d)`` (Gaussian clouds, squared Euclidean cost) one child process times
``match_clouds`` and records its certificate and its peak resident memory (``ru_maxrss`` of the
child, read before any dense peer runs; the empty interpreter's RSS is given too). Where the
dense ``n x n`` cost matrix fits (``n <= --peer-max-n``) the same child then times the dense
peers on it: otlmc's ``linear_assignment``, scipy's ``linear_sum_assignment`` (up to
``--scipy-max-n``) and POT's ``emd2`` (up to ``--pot-max-n``), and checks the matrix-free
permutation against theirs: same permutation and the same total, bit for bit, on the common
cost matrix. Above that size the
peers are skipped with the reason (memory: ``n^2 * 8`` bytes per cost matrix). The machine
limits printed with each row: one read of the inputs ``X``, ``Y`` and the all-pairs pass
(``n^2 (3 d + 2)`` flops) at the measured GEMM peak.

    python -m benchmarks.bench_matrixfree                  # n up to 131072, d = 2, 5, 10
    python -m benchmarks.bench_matrixfree --max-n 32768    # sizes that fit in a few minutes
    python -m benchmarks.bench_matrixfree --quick          # n = 4096, d = 5; no POT (~1 minute)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

SIZES = (4096, 16384, 32768, 65536, 131072)
DIMS = (2, 5, 10)
QUICK = dict(sizes=(4096,), dims=(5,))


def _rss_mb() -> float:
    """Peak resident memory of this process (MB) since it started its program.

    Linux keeps ``ru_maxrss`` across ``execve``, so a child started by a large parent (the suite
    after its other sections) would report the parent's peak; ``VmHWM`` belongs to the address
    space, which ``execve`` replaces. ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def measure_one(n: int, d: int, peer_max_n: int, scipy_max_n: int, pot_max_n: int) -> dict:
    """One (n, d) row; runs in its own process so that its peak memory is its own."""
    from otlmc.transport.matrixfree import match_clouds

    rng = np.random.default_rng([n, d])
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, d))  # (n, d) each
    match_clouds(X[:300], Y[:300])  # load the compiled kernels (cached on disk)
    row = {"n": n, "d": d, "rss_before_mb": _rss_mb()}
    t0 = time.perf_counter()
    X.sum() + Y.sum()  # one read of the inputs
    row["read_inputs_ms"] = 1e3 * (time.perf_counter() - t0)
    t0 = time.perf_counter()
    perm, info = match_clouds(X, Y, return_info=True)
    row["matrixfree_s"] = time.perf_counter() - t0
    row["matrixfree_peak_rss_mb"] = _rss_mb()
    row.update({f"cert_{k}": v for k, v in info.items() if k not in ("n", "d")})
    row["w2"] = float(info["total"] / n) ** 0.5
    dense_gb = n * n * 8 / 1e9
    if n > peer_max_n:
        why = (f"dense n x n cost matrix needs {dense_gb:.1f} GB (n^2 * 8 bytes) per copy; "
               f"above --peer-max-n {peer_max_n}")
        row.update(peers_skipped=why, exact_check="certified only (no dense check possible)")
        return row
    from scipy.optimize import linear_sum_assignment

    from otlmc.transport.assignment import linear_assignment
    from otlmc.transport import cost_matrix, emd_exact

    ar = np.arange(n)
    t0 = time.perf_counter()
    C = cost_matrix(X, Y)  # (n, n)
    row["dense_cost_s"] = time.perf_counter() - t0
    row["dense_peak_rss_mb"] = _rss_mb()
    linear_assignment(cost_matrix(X[:600], Y[:600]))  # load (or compile) the dense kernels first
    t0 = time.perf_counter()
    pd = linear_assignment(C)
    row["otlmc_dense_s"] = time.perf_counter() - t0 + row["dense_cost_s"]
    ours = C[ar, perm].sum()
    row.update(same_perm_as_otlmc_dense=bool(np.array_equal(perm, pd)),
               same_total_bits_as_otlmc_dense=bool(ours == C[ar, pd].sum()),
               exact_check="against otlmc's dense solver on the same cost matrix")
    if n <= scipy_max_n:
        t0 = time.perf_counter()
        r, c = linear_sum_assignment(C)
        row["scipy_s"] = time.perf_counter() - t0 + row["dense_cost_s"]
        ps = np.empty(n, dtype=np.intp)
        ps[r] = c
        row.update(same_perm_as_scipy=bool(np.array_equal(perm, ps)),
                   same_total_bits_as_scipy=bool(ours == C[ar, ps].sum()),
                   exact_check="against scipy and otlmc's dense solver on the same cost matrix")
    else:
        row["scipy_skipped"] = f"n > --scipy-max-n {scipy_max_n} (its dense solver ran over 2.5 CPU minutes at n = 16384 on 2 cores without finishing)"
    if n <= pot_max_n:
        w = np.full(n, 1.0 / n)
        t0 = time.perf_counter()
        pot = n * emd_exact(w, w, C)
        row["pot_s"] = time.perf_counter() - t0 + row["dense_cost_s"]
        row["pot_rel_diff"] = float(abs(pot - ours) / ours)
    else:
        row["pot_skipped"] = (f"n > --pot-max-n {pot_max_n} (network simplex on n^2 = "
                              f"{n * n:.1e} arcs: the slowest peer)")
    return row


def gemm_peak_gflops() -> float:
    A = np.random.default_rng(0).standard_normal((2048, 2048))
    A @ A
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        A @ A
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048**3 / best / 1e9


def _child(n, d, peer_max_n, scipy_max_n, pot_max_n, timeout):
    cmd = [sys.executable, "-m", "benchmarks.bench_matrixfree", "--one", str(n), str(d),
           "--peer-max-n", str(peer_max_n), "--scipy-max-n", str(scipy_max_n),
           "--pot-max-n", str(pot_max_n)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"n": n, "d": d, "error": f"timed out after {timeout} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"n": n, "d": d, "error": (out.stderr or out.stdout)[-400:]}
    return json.loads(lines[-1])


def describe(row: dict, peak: float) -> str:
    if "error" in row:
        return f"  n={row['n']:6d} d={row['d']:2d}: FAILED {row['error']}"
    n, d = row["n"], row["d"]
    limit_s = n * n * (3 * d + 2) / (peak * 1e9)
    s = (f"  n={n:6d} d={d:2d}: matrix-free {row['matrixfree_s']:7.1f} s, peak RSS "
         f"{row['matrixfree_peak_rss_mb']:6.0f} MB (interpreter {row['rss_before_mb']:.0f} MB) | "
         f"certified: {row['cert_rounds']} rounds, {row['cert_passes']} all-pairs passes, "
         f"{row['cert_edges']} edges, worst r {row['cert_worst_reduced_cost']:.1e} >= -tol "
         f"{row['cert_tol']:.1e} | W2 {row['w2']:.6f} | limits: read inputs "
         f"{row['read_inputs_ms']:.2f} ms, one all-pairs pass at GEMM peak {limit_s:.1f} s")
    if "peers_skipped" in row:
        return s + f"\n      peers skipped: {row['peers_skipped']}"
    s += (f"\n      dense peers (incl. the {row['dense_cost_s']:.1f} s cost matrix, peak RSS "
          f"{row['dense_peak_rss_mb']:.0f} MB): otlmc dense {row['otlmc_dense_s']:.1f} s")
    s += f", scipy {row['scipy_s']:.1f} s" if "scipy_s" in row else f"; scipy skipped: {row['scipy_skipped']}"
    s += f", POT {row['pot_s']:.1f} s" if "pot_s" in row else f"; POT skipped: {row['pot_skipped']}"
    s += (f"\n      exact: same permutation and total to the bit as otlmc dense "
          f"{row['same_perm_as_otlmc_dense'] and row['same_total_bits_as_otlmc_dense']}")
    if "same_perm_as_scipy" in row:
        s += f", as scipy {row['same_perm_as_scipy'] and row['same_total_bits_as_scipy']}"
    return s


def run(quick: bool = False, *, sizes=None, dims=None, max_n: int | None = None,
        peer_max_n: int = 16384, scipy_max_n: int = 8192, pot_max_n: int = 4096,
        timeout: int = 1800, log=print) -> dict:
    """Benchmark rows for every (n, d); the suite's hook (``python -m benchmarks``)."""
    sizes = tuple(sizes or (QUICK["sizes"] if quick else SIZES))
    dims = tuple(dims or (QUICK["dims"] if quick else DIMS))
    if max_n is not None:
        sizes = tuple(n for n in sizes if n <= max_n)
    if quick:  # POT alone takes about a minute at n = 4096 on 2 cores
        pot_max_n = min(pot_max_n, 2048)
    peak = gemm_peak_gflops()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    log(f"  GEMM peak {peak:.1f} GFLOP/s, {mem_gb:.0f} GB memory, load {os.getloadavg()}")
    rows = []
    for d in dims:
        for n in sizes:
            row = _child(n, d, peer_max_n, scipy_max_n, pot_max_n, timeout)
            rows.append(row)
            log(describe(row, peak))
    ok = [r for r in rows if "error" not in r]
    checked = [r for r in ok if "same_perm_as_otlmc_dense" in r]
    exact = all(r["same_perm_as_otlmc_dense"] and r["same_total_bits_as_otlmc_dense"]
                and r.get("same_perm_as_scipy", True) and r.get("same_total_bits_as_scipy", True)
                for r in checked)
    return {"gemm_peak_gflops": peak, "memory_gb": mem_gb, "rows": rows,
            "all_certified": all(r.get("cert_certified") for r in ok) and len(ok) == len(rows),
            "all_exact_where_checked": exact, "n_checked": len(checked)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_matrixfree",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="n = 4096, d = 5 only")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help=f"n values (default {SIZES})")
    p.add_argument("--dims", type=int, nargs="+", default=None, help=f"d values (default {DIMS})")
    p.add_argument("--max-n", type=int, default=None, help="drop sizes above this n")
    p.add_argument("--peer-max-n", type=int, default=16384, help="largest n for the dense peers")
    p.add_argument("--scipy-max-n", type=int, default=8192, help="largest n for scipy's solver")
    p.add_argument("--pot-max-n", type=int, default=4096, help="largest n for POT's emd")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per (n, d) child")
    p.add_argument("--json", default=None, help="write the rows to this file")
    p.add_argument("--one", type=int, nargs=2, metavar=("N", "D"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("max_n", "peer_max_n", "scipy_max_n", "pot_max_n", "timeout"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name.replace('_', '-')} == {v}, must be >= 1.")
    for name in ("sizes", "dims"):
        v = getattr(args, name)
        if v is not None and min(v) < 1:
            p.error(f"--{name} contains {min(v)}; values must be >= 1.")
    if args.one:
        print(json.dumps(measure_one(*args.one, args.peer_max_n, args.scipy_max_n, args.pot_max_n),
                         default=float))
        return 0
    res = run(args.quick, sizes=args.sizes, dims=args.dims, max_n=args.max_n,
              peer_max_n=args.peer_max_n, scipy_max_n=args.scipy_max_n, pot_max_n=args.pot_max_n,
              timeout=args.timeout)
    print(f"all certified: {res['all_certified']}; exact where a dense check ran: "
          f"{res['all_exact_where_checked']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
