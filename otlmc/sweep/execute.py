"""Running a sweep: cells -> joblib workers (loky or dask) -> one tidy row per (cell, replicate), resumable.

:func:`run_sweep` runs ``fn(params, streams)`` on every cell not already finished in the store
(:mod:`otlmc.sweep.store`), with each cell's generators from :func:`otlmc.rng.cell_streams` of
its identity (:mod:`otlmc.sweep.grid`); :func:`run_cells` is the raise-on-error form returning the
rows only. Every cell runs with a fixed number of BLAS/numba threads (default 1), so every
floating-point reduction is identical for any ``n_jobs`` and backend.

Locally (``backend="loky"``) ``n_jobs = k >= 2`` runs ``k - 1`` loky worker processes and this
process: the workers take cells from the costly end of the grid (the largest value of the cost
parameter, :func:`dispatch_order`), this process the cheap ones, so it computes while the workers
start (a worker imports otlmc, numpy, scipy, POT and numba and loads the compiled kernels: about
as long as the whole default ``width_scaling`` sweep takes on one core) and no costly cell is left
for the end.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback as _tb
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed, parallel_config
from joblib.externals.loky import get_reusable_executor
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._validation import check_choice, check_int
from ..provenance import otlmc_version
from ..rng import DEFAULT_STREAMS, cell_streams, stable_hash
from .grid import cell_id, cell_identity, size_axis
from .store import record_identity, scan_store, to_jsonable, write_record


#: a cell function: ``fn(params, streams) -> metrics``
CellFn = Callable[[Mapping, Mapping[str, np.random.Generator]], Mapping]

BACKENDS = ("loky", "dask")
ON_ERROR = ("raise", "record")

#: thread-count variables set to ``threads_per_worker`` in loky workers (the ones joblib sets)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")
#: POT imports these array libraries on ``import ot`` unless told not to; otlmc hands POT numpy
#: arrays only, and PyTorch alone is most of a worker's start-up (1.0-1.4 s of 1.7-2.8 s measured).
#: A variable already in this process's environment (even empty, which re-enables) is passed as is.
_POT_SKIP_VARS = ("POT_BACKEND_DISABLE_PYTORCH", "POT_BACKEND_DISABLE_JAX", "POT_BACKEND_DISABLE_TENSORFLOW")
#: seconds an idle loky worker is kept for the next sweep in this process
_IDLE_WORKER_SECONDS = 300


def _cap_numba_threads(n: int) -> None:
    """Cap numba's parallel threads in this worker when numba is already loaded (no import here)."""
    numba = sys.modules.get("numba")
    if numba is None:
        return
    try:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    except (AttributeError, ValueError, RuntimeError):  # pragma: no cover - old or odd numba builds
        pass


def dispatch_order(cells: Sequence[Mapping], cost_key: str | None = None) -> list[int]:
    """Indices of ``cells`` from the costliest to the cheapest, by the value of ``cost_key``.

    Parameters
    ----------
    cells : the cells of a sweep (dicts of parameters).
    cost_key : the parameter a cell's cost grows with (e.g. ``"width"``). None picks the numeric
        parameter, other than ``replicate``, with the largest max/min ratio
        (:func:`otlmc.sweep.size_axis`); with none such the order of ``cells`` is kept.

    Returns
    -------
    list of int
        A permutation of ``range(len(cells))``; ties keep their order in ``cells``. The order only
        decides which worker computes a cell when, never what it computes.
    """
    if cost_key is None:
        grid = {k: [c[k] for c in cells] for k in (cells[0] if cells else {}) if k != "replicate"
                and all(k in c for c in cells)}
        cost_key = size_axis(grid)
        if cost_key is None:
            return list(range(len(cells)))
    elif not isinstance(cost_key, str) or not cells or any(cost_key not in c for c in cells):
        have = sorted(cells[0]) if cells else []
        raise ValueError(f"cost_key={cost_key!r} is not a parameter of every cell; allowed: None or one of "
                         f"{have}.")
    return sorted(range(len(cells)), key=lambda i: -float(cells[i][cost_key]))


def _worker_env(threads_per_worker: int) -> dict[str, str]:
    """Environment of a loky worker: capped thread pools, POT without its optional array backends."""
    env = {var: str(threads_per_worker) for var in _THREAD_VARS}
    env.update({var: "1" for var in _POT_SKIP_VARS if var not in os.environ})
    return env


def _local_pool(job: Callable[[Mapping], dict], cells: Sequence[Mapping], n_procs: int,
                threads_per_worker: int) -> Iterator[dict]:
    """Yield ``job(p)`` for every ``p`` in ``cells`` (costliest first), on ``n_procs`` processes.

    ``n_procs - 1`` loky workers take cells from the front of ``cells``; between its own cells this
    process keeps each worker fed (one queued cell per worker until the first result, when the
    workers are known to be up, then two) and computes the cheapest cell left. Results come in the
    order they finish. If the consumer stops early (an error, Ctrl-C), queued cells are cancelled and
    the workers killed; what finished is already in the store.
    """
    pending = deque(cells)  # costliest first
    executor = get_reusable_executor(max_workers=n_procs - 1, timeout=_IDLE_WORKER_SECONDS,
                                     env=_worker_env(threads_per_worker))
    in_flight: set = set()
    warm, clean = False, False
    try:
        while pending or in_flight:
            done = {f for f in in_flight if f.done()}
            in_flight -= done
            for f in done:
                warm = True
                yield f.result()
            depth = (n_procs - 1) * (2 if warm else 1)
            while pending and len(in_flight) < depth:
                in_flight.add(executor.submit(job, pending.popleft()))
            if pending:
                yield job(pending.pop())  # this process: the cheapest cell left
            elif in_flight:
                wait(in_flight, return_when=FIRST_COMPLETED)
        clean = True
    finally:
        if not clean:
            for f in in_flight:
                f.cancel()
            executor.shutdown(wait=False, kill_workers=True)


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
    cost_key: str | None = None,
) -> SweepResult:
    """Run ``fn(params, streams)`` on every cell not already finished in ``store``.

    Parameters
    ----------
    context : fixed settings of the run (everything that changes the result but is not a grid
        parameter); it enters every cell's identity and seed.
    store : directory of per-cell records; finished cells found there are reused unless ``fresh``.
    n_jobs : cells computed at once (-1: one per core). With ``backend="loky"`` and ``n_jobs = k
        >= 2``, ``k - 1`` loky worker processes and this process compute cells; the workers import
        POT without its PyTorch, JAX and TensorFlow backends (set ``POT_BACKEND_DISABLE_PYTORCH=``,
        empty, in the environment to keep PyTorch's).
    backend : ``"loky"`` (local processes) or ``"dask"`` (``scheduler_address`` of a running
        ``dask.distributed`` scheduler, or a local cluster of ``n_jobs`` workers when None), through
        joblib's ``parallel_config``. Rows are identical across backends and worker counts.
    threads_per_worker : BLAS/OpenMP/numba threads each cell may use (default 1, so ``n_jobs``
        workers on ``n_jobs`` cores do not oversubscribe).
    on_error : ``"record"`` stores a failing cell's error and parameters and goes on;
        ``"raise"`` stops the sweep with the exception.
    retry_failed : recompute cells whose stored record is a failure (otherwise they stay failed).
    cost_key : the cell parameter the cost of a cell grows with; with more than one process the
        costliest cells start first, so none is left alone at the end (:func:`dispatch_order`;
        None: the numeric parameter with the largest max/min ratio). It changes no result.

    Ctrl-C stops the sweep and returns what finished, with ``interrupted=True``.
    """
    n_jobs, threads_per_worker = _check_common(sim, n_jobs, backend, on_error, threads_per_worker)
    dispatch_order(cells, cost_key)  # validates cost_key before anything runs
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
        job = partial(run_one, fn, sim, root_seed=root_seed, streams=tuple(streams), store=store_s,
                      context=context, blas_threads=threads_per_worker, on_error=on_error)
        n_procs = min((os.cpu_count() or 1) if n_jobs == -1 else n_jobs, len(todo))
        if backend == "dask":
            ctx = _DaskContext(n_jobs, scheduler_address, threads_per_worker, dask_processes)
            par = Parallel(return_as="generator_unordered")
            jobs = (delayed(job)(p) for p in todo)
        else:
            ctx, par = contextlib.nullcontext(), None
        bar = results = None
        try:
            with ctx:
                if par is not None:
                    results = par(jobs)
                elif n_procs >= 2:
                    results = _local_pool(job, [todo[i] for i in dispatch_order(todo, cost_key)], n_procs,
                                          threads_per_worker)
                else:
                    results = (job(p) for p in todo)
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
            if par is None and results is not None:
                results.close()  # a local pool stopped early cancels its queued cells
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


__all__ = ["BACKENDS", "ON_ERROR", "CellFn", "SweepResult", "dispatch_order", "run_cells", "run_one", "run_sweep"]
