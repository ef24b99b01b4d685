"""Planning a sweep: a measured cost model per cell and the estimated time of what is left to run.

:func:`plan_sweep` counts finished, failed and pending cells in the store and estimates the run
time from :class:`CostModel` ``seconds = a + b size^p`` fitted to stored ``cell_seconds`` (or to
cells timed now and thrown away). Nothing stored is computed.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from .._validation import as_real_array, check_real
from ..rng import DEFAULT_STREAMS
from .execute import CellFn, run_one
from .grid import cell_id
from .store import read_finished, record_identity, scan_store


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
        s = as_real_array("size", size)
        return self.a + self.b * s**self.exponent


def fit_cost_model(sizes, seconds, *, exponent: float | None = 3.0,
                   size_key: str | None = None) -> CostModel:
    """Fit ``seconds ~ a + b size**exponent`` with ``a, b >= 0`` (non-negative least squares).

    Residuals are relative (divided by the measured seconds), so cheap and costly cells count
    alike. ``exponent=None`` also fits the exponent on a grid ``1.0, 1.1, ..., 3.0`` (needs 3
    distinct sizes, else 3 is used).
    """
    s = as_real_array("sizes", sizes)  # (m,)
    y = as_real_array("seconds", seconds)  # (m,)
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
        done, failed, _ = scan_store(store, ids, [record_identity(sim, p, root_seed, context) for p in cells])
        if retry_failed:
            failed = {}
    todo = [p for p, cid in zip(cells, ids) if cid not in done and cid not in failed]
    n_workers = min(max(1, os.cpu_count() or 1) if n_jobs == -1 else n_jobs, max(1, len(todo)))
    sizes, secs = [], []
    source = "stored records"
    if store is not None and Path(store).is_dir():
        for f in Path(store).glob("*.json"):
            rec = read_finished(f)
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


__all__ = ["CostModel", "SweepPlan", "fit_cost_model", "plan_sweep"]
