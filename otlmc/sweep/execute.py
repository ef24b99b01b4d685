"""Grid of cells -> joblib workers (loky or dask) -> one tidy row per (cell, replicate), resumable.

A cell is a dict of parameters including ``replicate``. Its identity is ``{"sim": name, **params}``;
its id is a stable hash of that identity and the root seed, and its random streams come from
:func:`otlmc.rng.cell_streams` of the same identity. So a cell computes the same numbers whatever
the number of workers, the backend, the order of execution, or the other cells in the grid.

Result store
------------
With a store directory every cell's outcome is written atomically (temporary file in the same
directory, ``fsync``, ``os.replace``) by the worker that computed it, as ``<cell_id>.json``:

* ``{"complete": true, "row": {...}, "otlmc_version": ...}`` for a finished cell;
* ``{"complete": false, "failed": true, "error": ..., "traceback": ..., "params": ...}`` for a cell
  whose function raised (with ``on_error="record"``).

A reader sees either no file or a whole one, so a crash or ``SIGKILL`` at any moment loses only
the cells in flight; several processes writing the same store write identical rows for the same
id, and the last rename wins. A file that does not parse as a complete record (a partial file
from another tool, a disk error) is ignored and its cell recomputed. A record made by another
otlmc version is not reused: the store key is (cell id, otlmc version).
"""
from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
import traceback as _tb
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed, parallel_config

from ._validation import check_choice, check_int, check_real
from .provenance import otlmc_version
from .rng import DEFAULT_STREAMS, cell_streams, stable_hash
from .tables import atomic_write_bytes, atomic_write_text, column, read_csv, write_csv, write_parquet

CellFn = Callable[[Mapping, Mapping[str, np.random.Generator]], Mapping]

BACKENDS = ("loky", "dask")
ON_ERROR = ("raise", "record")


def make_cells(grid: Mapping[str, Sequence], replicates: int) -> list[dict]:
    """Cartesian product of ``grid`` values times ``replicates``, in a fixed order."""
    replicates = check_int("replicates", replicates, min_value=1)
    return make_cells_range(grid, 0, replicates)


def make_cells_range(grid: Mapping[str, Sequence], first: int, stop: int) -> list[dict]:
    """Cells of every grid point for replicates ``first .. stop-1`` (grid-major order)."""
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Iterable):
            raise TypeError(f"grid[{k!r}] must be a sequence of values, got {grid[k]!r}.")
    cells = []
    for values in itertools.product(*(list(grid[k]) for k in keys)):
        for r in range(first, stop):
            cells.append({**dict(zip(keys, values)), "replicate": r})
    return cells


def cell_identity(sim: str, params: Mapping, context: Mapping | None = None) -> dict:
    """What a cell *is*: the sim, the fixed settings it runs under, and its own parameters."""
    return {"sim": sim, "context": dict(context or {}), "params": dict(params)}


def cell_id(sim: str, params: Mapping, root_seed: int, context: Mapping | None = None) -> str:
    return stable_hash({"cell": cell_identity(sim, params, context), "root_seed": int(root_seed)})


def _to_jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _read_record(path: Path) -> dict | None:
    """A stored record (finished or failed), or None when missing, partial or of another version."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("otlmc_version", otlmc_version()) != otlmc_version():
        return None
    if rec.get("complete") is True and isinstance(rec.get("row"), dict):
        return rec
    if rec.get("failed") is True:
        return rec
    return None


def _read_cell(path: Path) -> dict | None:
    """A stored finished row record, or None when the file is missing or not a complete record."""
    rec = _read_record(path)
    return rec if rec is not None and rec.get("complete") is True else None


def _cap_numba_threads(n: int) -> None:
    """Cap numba's parallel threads in this worker when numba is already loaded (no import here)."""
    import sys

    numba = sys.modules.get("numba")
    if numba is None:
        return
    try:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    except (AttributeError, ValueError, RuntimeError):  # pragma: no cover - old or odd numba builds
        pass


def run_one(fn: CellFn, sim: str, params: Mapping, root_seed: int, streams: Sequence[str],
            store: str | None, context: Mapping | None = None, blas_threads: int = 1,
            on_error: str = "raise") -> dict:
    """Compute one cell (in a worker) and, with a store, write its record atomically.

    Returns the row; with ``on_error="record"`` a cell that raises returns (and stores) a failure
    record ``{"failed": True, "cell_id", "params", "error", "traceback"}`` instead of raising.
    """
    from threadpoolctl import threadpool_limits

    cid = cell_id(sim, params, root_seed, context)
    gens = cell_streams(cell_identity(sim, params, context), root_seed, streams)
    t0 = time.perf_counter()
    # One BLAS thread per cell by default: parallelism is across cells, and a fixed thread count
    # keeps every floating-point reduction identical for any n_jobs and backend.
    _cap_numba_threads(blas_threads)
    try:
        with threadpool_limits(limits=blas_threads):
            metrics = dict(fn(params, gens))
        # seed_key: the hash whose words, followed by root_seed, are the cell's SeedSequence entropy
        row = {"cell_id": cid, "seed_key": stable_hash(cell_identity(sim, params, context), 32),
               "root_seed": int(root_seed), **params}
        for k, v in metrics.items():
            if k in row:
                raise ValueError(f"cell function returned metric {k!r}, which clashes with a parameter name.")
            row[k] = _to_jsonable(v)
    except Exception as exc:
        if on_error == "raise":
            raise
        rec = {"complete": False, "failed": True, "cell_id": cid, "root_seed": int(root_seed),
               "params": {k: _to_jsonable(v) for k, v in params.items()},
               "error": f"{type(exc).__name__}: {exc}", "traceback": _tb.format_exc(),
               "cell_seconds": time.perf_counter() - t0, "otlmc_version": otlmc_version()}
        if store is not None:
            atomic_write_text(Path(store) / f"{cid}.json", json.dumps(rec, default=str))
        return rec
    row["cell_seconds"] = time.perf_counter() - t0
    if store is not None:
        rec = {"complete": True, "row": row, "otlmc_version": otlmc_version()}
        atomic_write_text(Path(store) / f"{cid}.json", json.dumps(rec))
    return row


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`.

    ``rows``: finished rows in the order of the cells (failed and unfinished cells left out);
    ``failures``: failure records; ``n_run`` cells computed now, ``n_reused`` read from the store,
    ``n_failed`` failed (now or, without ``retry_failed``, in an earlier run); ``interrupted``:
    the run was stopped by Ctrl-C (everything finished before is in the store).
    """

    rows: list[dict]
    failures: list[dict] = field(default_factory=list)
    n_cells: int = 0
    n_run: int = 0
    n_reused: int = 0
    n_failed: int = 0
    interrupted: bool = False
    wall_seconds: float = 0.0

    def summary(self) -> str:
        state = "INTERRUPTED" if self.interrupted else "done"
        left = self.n_cells - len(self.rows) - self.n_failed
        return (f"{state}: {self.n_cells} cells: {self.n_run} run now, {self.n_reused} reused from the store, "
                f"{self.n_failed} failed, {left} not run; wall time {self.wall_seconds:.1f} s")


def _check_common(sim, n_jobs, backend, on_error, threads_per_worker):
    if not isinstance(sim, str) or not sim:
        raise ValueError(f"sim={sim!r} must be a non-empty name.")
    n_jobs = check_int("n_jobs", n_jobs)
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs == {n_jobs}, must be >= 1 or -1 (all cores).")
    check_choice("backend", backend, BACKENDS)
    check_choice("on_error", on_error, ON_ERROR)
    threads_per_worker = check_int("threads_per_worker", threads_per_worker, min_value=1)
    return n_jobs, threads_per_worker


def scan_store(store, ids: Sequence[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Finished rows and failure records found in ``store`` for the given cell ids."""
    done, failed = {}, {}
    store = Path(store)
    for cid in ids:
        rec = _read_record(store / f"{cid}.json")
        if rec is None:
            continue
        if rec.get("complete") is True:
            done[cid] = rec["row"]
        else:
            failed[cid] = rec
    return done, failed


class _DaskContext:
    """``parallel_config(backend="dask")`` on a given scheduler, or on a local cluster we own."""

    def __init__(self, n_jobs: int, address: str | None, threads_per_worker: int, processes: bool):
        self.n_jobs, self.address = n_jobs, address
        self.threads_per_worker, self.processes = threads_per_worker, processes
        self.client = self.cluster = self.cfg = None

    def __enter__(self):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError("backend='dask' needs dask.distributed: pip install 'otlmc[dask]'") from exc
        if self.address:
            self.client = Client(self.address)
        else:
            n = (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs
            # One thread per worker: each cell caps its own BLAS threads, and the nanny sets
            # OMP/MKL/OPENBLAS_NUM_THREADS=1 in worker processes.
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=self.processes,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self.cfg = parallel_config(backend="dask", n_jobs=-1)
        self.cfg.__enter__()
        return self

    def __exit__(self, *exc):
        self.cfg.__exit__(*exc)
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


def run_sweep(
    fn: CellFn,
    cells: Sequence[Mapping],
    *,
    sim: str,
    root_seed: int,
    context: Mapping | None = None,
    n_jobs: int = 1,
    store: str | os.PathLike | None = None,
    fresh: bool = False,
    streams: Sequence[str] = DEFAULT_STREAMS,
    progress: bool = False,
    backend: str = "loky",
    scheduler_address: str | None = None,
    dask_processes: bool = True,
    threads_per_worker: int = 1,
    on_error: str = "record",
    retry_failed: bool = False,
) -> SweepResult:
    """Run ``fn(params, streams)`` on every cell not already finished in ``store``.

    Parameters
    ----------
    context : fixed settings of the run (everything that changes the result but is not a grid
        parameter); it enters every cell's identity and seed.
    store : directory of per-cell records; finished cells found there are reused unless ``fresh``.
    backend : ``"loky"`` (local processes) or ``"dask"`` (``scheduler_address`` of a running
        ``dask.distributed`` scheduler, or a local cluster of ``n_jobs`` workers when None), through
        joblib's ``parallel_config``. Rows are identical across backends and worker counts.
    threads_per_worker : BLAS/OpenMP/numba threads each cell may use (default 1, so ``n_jobs``
        workers on ``n_jobs`` cores do not oversubscribe).
    on_error : ``"record"`` stores a failing cell's error and parameters and goes on;
        ``"raise"`` stops the sweep with the exception.
    retry_failed : recompute cells whose stored record is a failure (otherwise they stay failed).

    Ctrl-C stops the sweep and returns what finished, with ``interrupted=True``.
    """
    n_jobs, threads_per_worker = _check_common(sim, n_jobs, backend, on_error, threads_per_worker)
    t0 = time.perf_counter()
    ids = [cell_id(sim, p, root_seed, context) for p in cells]
    if len(set(ids)) != len(ids):
        raise ValueError("two cells have identical parameters; add a distinguishing parameter.")
    done: dict[str, dict] = {}
    failed: dict[str, dict] = {}
    store_s = None
    if store is not None:
        store_path = Path(store)
        store_path.mkdir(parents=True, exist_ok=True)
        store_s = str(store_path)
        if not fresh:
            done, failed = scan_store(store_path, ids)
            if retry_failed:
                failed = {}
    n_reused = len(done)
    todo = [p for p, cid in zip(cells, ids) if cid not in done and cid not in failed]
    res = SweepResult(rows=[], n_cells=len(cells), n_reused=n_reused)
    if todo:
        jobs = (delayed(run_one)(fn, sim, p, root_seed, tuple(streams), store_s, context,
                                 threads_per_worker, on_error) for p in todo)
        if backend == "dask":
            ctx = _DaskContext(n_jobs, scheduler_address, threads_per_worker, dask_processes)
            par = Parallel(return_as="generator_unordered")
        else:
            ctx = parallel_config(backend="loky", inner_max_num_threads=threads_per_worker)
            par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        bar = None
        try:
            with ctx:
                results = par(jobs)
                if progress:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=len(cells), initial=n_reused, desc=sim, unit="cell",
                               smoothing=0.1, dynamic_ncols=True)
                for out in results:
                    if out.get("complete") is False and out.get("failed") is True:
                        failed[out["cell_id"]] = out
                    else:
                        done[out["cell_id"]] = out
                    res.n_run += 1
                    if bar is not None:
                        bar.update(1)
                        if failed:
                            bar.set_postfix(failed=len(failed), refresh=False)
        except KeyboardInterrupt:
            res.interrupted = True
        finally:
            if bar is not None:
                bar.close()
    res.rows = [done[cid] for cid in ids if cid in done]
    res.failures = [failed[cid] for cid in ids if cid in failed]
    res.n_failed = len(res.failures)
    res.wall_seconds = time.perf_counter() - t0
    return res


def run_cells(
    fn: CellFn,
    cells: Sequence[Mapping],
    *,
    sim: str,
    root_seed: int,
    context: Mapping | None = None,
    n_jobs: int = 1,
    store: str | os.PathLike | None = None,
    fresh: bool = False,
    streams: Sequence[str] = DEFAULT_STREAMS,
    progress: bool = False,
    **kwargs,
) -> list[dict]:
    """Run ``fn(params, streams)`` on every cell; rows come back in the order of ``cells``.

    Same as :func:`run_sweep` (whose keyword arguments it accepts: ``backend``,
    ``threads_per_worker``, ...), but returns only the rows, raises the first cell error
    (``on_error="raise"`` by default) and re-raises ``KeyboardInterrupt`` after keeping what
    finished.
    """
    kwargs.setdefault("on_error", "raise")
    res = run_sweep(fn, cells, sim=sim, root_seed=root_seed, context=context, n_jobs=n_jobs,
                    store=store, fresh=fresh, streams=streams, progress=progress, **kwargs)
    if res.interrupted:
        raise KeyboardInterrupt
    return res.rows


# --------------------------------------------------------------------------- cost model


@dataclass(frozen=True)
class CostModel:
    """Seconds per cell as ``a + b * size**exponent`` (``a, b >= 0``).

    The exponent is fitted when at least three sizes were measured and is 3 otherwise: the exact
    assignment in weight matching costs ``O(n^3)`` in the worst case for a width ``n`` and dominates
    large cells; ``a`` absorbs the per-cell overhead.
    """

    a: float
    b: float
    exponent: float
    size_key: str | None
    n_samples: int

    def predict(self, size) -> np.ndarray:
        s = np.asarray(size, dtype=float)
        return self.a + self.b * s**self.exponent


def fit_cost_model(sizes, seconds, *, exponent: float | None = 3.0,
                   size_key: str | None = None) -> CostModel:
    """Fit ``seconds ~ a + b size**exponent`` with ``a, b >= 0`` (non-negative least squares).

    Residuals are relative (divided by the measured seconds), so cheap and costly cells count
    alike. ``exponent=None`` also fits the exponent on a grid ``1.0, 1.1, ..., 3.0`` (needs 3
    distinct sizes, else 3 is used).
    """
    from scipy.optimize import nnls

    s = np.asarray(sizes, dtype=float)  # (m,)
    y = np.asarray(seconds, dtype=float)  # (m,)
    if s.shape != y.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(f"sizes and seconds must be 1-d of equal non-zero length, got {s.shape} and {y.shape}.")
    if not (np.isfinite(s).all() and np.isfinite(y).all()) or (y <= 0).any() or (s <= 0).any():
        raise ValueError("sizes and seconds must be finite and > 0.")
    if exponent is not None:
        exponent = check_real("exponent", exponent, min_value=0.0)
    if size_key is None or np.unique(s).size < 2:
        return CostModel(float(y.mean()), 0.0, 3.0 if exponent is None else exponent, size_key, int(y.size))
    if exponent is None:
        candidates = np.arange(1.0, 3.01, 0.1) if np.unique(s).size >= 3 else np.array([3.0])
    else:
        candidates = np.array([exponent])
    best = None
    for p in candidates:
        scale = s.max() ** p  # keep the design well conditioned
        A = np.stack([np.ones_like(s), s**p / scale], axis=1) / y[:, None]  # (m, 2), relative rows
        coef, resid = nnls(A, np.ones_like(y))
        if best is None or resid < best[0] - 1e-12:
            best = (resid, float(p), float(coef[0]), float(coef[1] / scale))
    _, p, a, b = best
    return CostModel(a, b, p, size_key, int(y.size))


def size_axis(grid: Mapping[str, Sequence]) -> str | None:
    """The numeric grid axis with the largest max/min ratio (the one cost grows with), or None."""
    best, ratio = None, 1.0
    for k, vals in grid.items():
        vals = list(vals)
        if not vals or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                               for v in vals):
            continue
        lo, hi = float(min(vals)), float(max(vals))
        if lo > 0 and hi / lo > ratio:
            best, ratio = k, hi / lo
    return best


@dataclass
class SweepPlan:
    """What a run would do: cells, finished, failed, to run, and the estimated time."""

    n_cells: int
    n_done: int
    n_failed: int
    n_todo: int
    model: CostModel | None
    estimate_seconds: float | None
    n_workers: int
    measured_from: str

    def describe(self) -> str:
        lines = [f"cells: {self.n_cells} total, {self.n_done} finished in the store, "
                 f"{self.n_failed} failed earlier, {self.n_todo} to run"]
        if self.model is not None and self.estimate_seconds is not None:
            m = self.model
            law = (f"{m.a:.3g} s + {m.b:.3g} s * {m.size_key}^{m.exponent:g}" if m.size_key
                   else f"{m.a:.3g} s per cell")
            lines.append(f"cost model ({m.n_samples} cells measured, {self.measured_from}): {law}")
            lines.append(f"estimated time: {self.estimate_seconds:.1f} s on {self.n_workers} worker(s)")
        else:
            lines.append("estimated time: nothing to run" if self.n_todo == 0 else "estimated time: unknown")
        return "\n".join(lines)


def plan_sweep(fn: CellFn | None, cells: Sequence[Mapping], *, sim: str, root_seed: int,
               context: Mapping | None = None, store=None, fresh: bool = False,
               retry_failed: bool = False, size_key: str | None = None, exponent: float | None = None,
               n_jobs: int = 1, streams: Sequence[str] = DEFAULT_STREAMS,
               calibrate_seconds: float = 3.0) -> SweepPlan:
    """Count cells and estimate the run time from a measured cost model, computing nothing stored.

    The model is fitted to ``cell_seconds`` of every finished record in the store (any seed or
    context of this sim). With none there, cells still to run are timed here and thrown away
    (after one untimed warm-up cell): one per size, smallest first, until ``calibrate_seconds`` of
    timing are spent, never the largest size (which a dry run is meant to avoid). The nearer the
    timed sizes come to the large ones, the better the extrapolation; an estimate from stored
    records of an earlier or partial run is better still.
    """
    ids = [cell_id(sim, p, root_seed, context) for p in cells]
    done, failed = ({}, {})
    if store is not None and Path(store).is_dir() and not fresh:
        done, failed = scan_store(store, ids)
        if retry_failed:
            failed = {}
    todo = [p for p, cid in zip(cells, ids) if cid not in done and cid not in failed]
    n_workers = min(max(1, os.cpu_count() or 1) if n_jobs == -1 else n_jobs, max(1, len(todo)))
    sizes, secs = [], []
    source = "stored records"
    if store is not None and Path(store).is_dir():
        for f in Path(store).glob("*.json"):
            rec = _read_cell(f)
            if rec is None:
                continue
            row = rec["row"]
            if "cell_seconds" in row and (size_key is None or size_key in row):
                sizes.append(float(row[size_key]) if size_key else 0.0)
                secs.append(float(row["cell_seconds"]))
    if not secs and todo and fn is not None and calibrate_seconds > 0:
        source = "timed now, not stored"
        by_size = {}
        for p in sorted(todo, key=lambda p: float(p[size_key]) if size_key else 0.0):
            by_size.setdefault(p[size_key] if size_key else 0, p)
        picks = list(by_size.values())
        if len(picks) > 1:
            picks = picks[:-1]  # never the largest size, which a dry run is meant to avoid
        # one untimed warm-up cell: first calls pay for imports, caches and JIT compilation
        run_one(fn, sim, picks[0], root_seed, tuple(streams), None, context)
        t_start = time.perf_counter()
        for p in picks:
            row = run_one(fn, sim, p, root_seed, tuple(streams), None, context)
            sizes.append(float(p[size_key]) if size_key else 0.0)
            secs.append(float(row["cell_seconds"]))
            if time.perf_counter() - t_start > calibrate_seconds:
                break
    model = est = None
    if secs:
        model = fit_cost_model(sizes, secs, exponent=exponent, size_key=size_key)
        pred = model.predict([float(p[size_key]) if size_key else 0.0 for p in todo])
        est = float(pred.sum() / n_workers) if todo else 0.0
    return SweepPlan(len(cells), len(done), len(failed), len(todo), model, est, n_workers, source)


