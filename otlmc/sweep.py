"""Grid of cells -> joblib workers -> one tidy row per (cell, replicate), resumable.

A cell is a dict of parameters including ``replicate``. Its identity is ``{"sim": name, **params}``;
its id is a stable hash of that identity and the root seed, and its random streams come from
:func:`otlmc.rng.cell_streams` of the same identity. So a cell computes the same numbers whatever
the number of workers, the order of execution, or the other cells in the grid.

With a store directory every finished cell is written atomically (temporary file, ``fsync``,
``os.replace``) by the worker that computed it, so a crash or kill loses nothing that finished
and a rerun skips what is already there.
"""
from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ._validation import check_int
from .rng import DEFAULT_STREAMS, cell_streams, stable_hash

CellFn = Callable[[Mapping, Mapping[str, np.random.Generator]], Mapping]


def make_cells(grid: Mapping[str, Sequence], replicates: int) -> list[dict]:
    """Cartesian product of ``grid`` values times ``replicates``, in a fixed order."""
    replicates = check_int("replicates", replicates, min_value=1)
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Iterable):
            raise TypeError(f"grid[{k!r}] must be a sequence of values, got {grid[k]!r}.")
    cells = []
    for values in itertools.product(*(list(grid[k]) for k in keys)):
        for r in range(replicates):
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


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see either nothing or the whole file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cell(path: Path) -> dict | None:
    """A stored row, or None when the file is missing or not a complete record."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("complete") is True else None


def run_one(fn: CellFn, sim: str, params: Mapping, root_seed: int, streams: Sequence[str],
            store: str | None, context: Mapping | None = None, blas_threads: int = 1) -> dict:
    """Compute one cell (in a worker) and, with a store, write it atomically."""
    from threadpoolctl import threadpool_limits

    cid = cell_id(sim, params, root_seed, context)
    gens = cell_streams(cell_identity(sim, params, context), root_seed, streams)
    t0 = time.perf_counter()
    # One BLAS thread per cell by default: parallelism is across cells, and a fixed thread count
    # keeps every floating-point reduction identical for any n_jobs.
    with threadpool_limits(limits=blas_threads):
        metrics = dict(fn(params, gens))
    row = {"cell_id": cid, "root_seed": int(root_seed), **params}
    for k, v in metrics.items():
        if k in row:
            raise ValueError(f"cell function returned metric {k!r}, which clashes with a parameter name.")
        row[k] = _to_jsonable(v)
    row["cell_seconds"] = time.perf_counter() - t0
    if store is not None:
        atomic_write_text(Path(store) / f"{cid}.json", json.dumps({"complete": True, "row": row}))
    return row


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
) -> list[dict]:
    """Run ``fn(params, streams)`` on every cell; rows come back in the order of ``cells``.

    ``context``: fixed settings of the run (everything that changes the result but is not a grid
    parameter); it enters every cell's identity and seed. ``store``: directory of per-cell records; finished cells found there are reused unless
    ``fresh``. ``n_jobs``: joblib workers (``-1`` = all cores).
    """
    if not isinstance(sim, str) or not sim:
        raise ValueError(f"sim={sim!r} must be a non-empty name.")
    n_jobs = check_int("n_jobs", n_jobs)
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs == {n_jobs}, must be >= 1 or -1 (all cores).")
    ids = [cell_id(sim, p, root_seed, context) for p in cells]
    if len(set(ids)) != len(ids):
        raise ValueError("two cells have identical parameters; add a distinguishing parameter.")
    done: dict[str, dict] = {}
    store_s = None
    if store is not None:
        store_path = Path(store)
        store_path.mkdir(parents=True, exist_ok=True)
        store_s = str(store_path)
        if not fresh:
            for cid in ids:
                rec = _read_cell(store_path / f"{cid}.json")
                if rec is not None:
                    done[cid] = rec["row"]
    todo = [p for p, cid in zip(cells, ids) if cid not in done]
    jobs = (delayed(run_one)(fn, sim, p, root_seed, tuple(streams), store_s, context) for p in todo)
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs)
    if progress and todo:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(todo), desc=sim, unit="cell", initial=0)
    for row in results:
        done[row["cell_id"]] = row
    return [done[cid] for cid in ids]


def write_csv(rows: Sequence[Mapping], path: str | os.PathLike) -> None:
    """Tidy CSV: the union of keys as columns (first-seen order), written atomically."""
    import csv
    import io

    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
    atomic_write_text(Path(path), buf.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a table written by :func:`write_csv`, numbers parsed back to int/float."""
    import csv

    def parse(v: str):
        if v == "":
            return None
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
        if v in ("True", "False"):
            return v == "True"
        return v

    with open(path, newline="") as fh:
        return [{k: parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def column(rows: Sequence[Mapping], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=float)
