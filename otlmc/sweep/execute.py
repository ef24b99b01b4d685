"""Running a sweep: cells -> joblib workers (loky or dask) -> one tidy row per (cell, replicate), resumable.

:func:`run_sweep` runs ``fn(params, streams)`` on every cell not already finished in the store
(:mod:`otlmc.sweep.store`), with each cell's generators from :func:`otlmc.rng.cell_streams` of
its identity (:mod:`otlmc.sweep.grid`); :func:`run_cells` is the raise-on-error form returning the
rows only. Every cell runs with a fixed number of BLAS/numba threads (default 1), so every
floating-point reduction is identical for any ``n_jobs`` and backend.
"""
from __future__ import annotations

import os
import sys
import time
import traceback as _tb
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._validation import check_choice, check_int
from ..provenance import otlmc_version
from ..rng import DEFAULT_STREAMS, cell_streams, stable_hash
from .grid import cell_id, cell_identity
from .store import record_identity, scan_store, to_jsonable, write_record


#: a cell function: ``fn(params, streams) -> metrics``
CellFn = Callable[[Mapping, Mapping[str, np.random.Generator]], Mapping]

BACKENDS = ("loky", "dask")
ON_ERROR = ("raise", "record")


def _cap_numba_threads(n: int) -> None:
    """Cap numba's parallel threads in this worker when numba is already loaded (no import here)."""
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
            row[k] = to_jsonable(v)
    except Exception as exc:
        if on_error == "raise":
            raise
        rec = {"complete": False, "failed": True, "cell_id": cid, "root_seed": int(root_seed),
               "identity": record_identity(sim, params, root_seed, context),
               "params": {k: to_jsonable(v) for k, v in params.items()},
               "error": f"{type(exc).__name__}: {exc}", "traceback": _tb.format_exc(),
               "cell_seconds": time.perf_counter() - t0, "otlmc_version": otlmc_version()}
        if store is not None:
            write_record(store, cid, rec, default=str)
        return rec
    row["cell_seconds"] = time.perf_counter() - t0
    if store is not None:
        rec = {"complete": True, "cell_id": cid, "identity": record_identity(sim, params, root_seed, context),
               "row": row, "otlmc_version": otlmc_version()}
        write_record(store, cid, rec)
    return row


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`.

    ``rows``: finished rows in the order of the cells (failed and unfinished cells left out);
    ``failures``: failure records; ``n_run`` cells computed now, ``n_reused`` read from the store,
    ``n_failed`` failed (now or, without ``retry_failed``, in an earlier run); ``rejected``: one
    ``{"cell_id", "file", "reason"}`` per stored record that did not verify and whose cell was
    recomputed (:func:`otlmc.sweep.store.verify_record`); ``interrupted``: the run was stopped by
    Ctrl-C (everything finished before is in the store).
    """

    rows: list[dict]
    failures: list[dict] = field(default_factory=list)
    n_cells: int = 0
    n_run: int = 0
    n_reused: int = 0
    n_failed: int = 0
    interrupted: bool = False
    wall_seconds: float = 0.0
    rejected: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        state = "INTERRUPTED" if self.interrupted else "done"
        left = self.n_cells - len(self.rows) - self.n_failed
        rej = (f"{len(self.rejected)} rejected stored record(s) recomputed ("
               + "; ".join(f"{r['cell_id']}: {r['reason']}" for r in self.rejected[:3])
               + ("; ..." if len(self.rejected) > 3 else "") + "), ") if self.rejected else ""
        return (f"{state}: {self.n_cells} cells: {self.n_run} run now, {self.n_reused} reused from the store, "
                f"{rej}{self.n_failed} failed, {left} not run; wall time {self.wall_seconds:.1f} s")


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
    rejected: list[dict] = []
    store_s = None
    if store is not None:
        store_path = Path(store)
        store_path.mkdir(parents=True, exist_ok=True)
        store_s = str(store_path)
        if not fresh:
            done, failed, rejected = scan_store(
                store_path, ids, [record_identity(sim, p, root_seed, context) for p in cells])
            if retry_failed:
                failed = {}
    n_reused = len(done)
    todo = [p for p, cid in zip(cells, ids) if cid not in done and cid not in failed]
    res = SweepResult(rows=[], n_cells=len(cells), n_reused=n_reused, rejected=rejected)
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


def run_cells(fn: CellFn, cells: Sequence[Mapping], *, sim: str, root_seed: int, **kwargs) -> list[dict]:
    """Run ``fn(params, streams)`` on every cell; rows come back in the order of ``cells``.

    Same as :func:`run_sweep`, with the same keyword arguments and defaults (``context``,
    ``n_jobs``, ``store``, ``fresh``, ``streams``, ``progress``, ``backend``,
    ``threads_per_worker``, ...), but returns only the rows, raises the first cell error
    (``on_error="raise"`` by default) and re-raises ``KeyboardInterrupt`` after keeping what
    finished.
    """
    kwargs.setdefault("on_error", "raise")
    res = run_sweep(fn, cells, sim=sim, root_seed=root_seed, **kwargs)
    if res.interrupted:
        raise KeyboardInterrupt
    return res.rows


__all__ = ["BACKENDS", "ON_ERROR", "CellFn", "SweepResult", "run_cells", "run_one", "run_sweep"]
