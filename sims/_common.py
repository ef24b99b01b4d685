"""Shared command-line plumbing for every sim: flags, execution, provenance, table and figure output.

Every sim built on :func:`base_parser` and :func:`run_sim` gets the same flags: ``--resume``
(default) / ``--fresh`` / ``--retry-failed``, ``--backend loky|dask`` with ``--scheduler-address``,
``--threads-per-worker``, ``--dry-run``, ``--plot-only RUN_DIR`` and adaptive replication
(``--adaptive-metric`` with ``--target-rel-ci`` and ``--max-replicates``).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from otlmc.sweep import (
    BACKENDS,
    atomic_write_text,
    cell_id,
    make_cells,
    make_cells_range,
    otlmc_version,
    plan_sweep,
    read_csv,
    run_sweep,
    size_axis,
    write_csv,
    write_parquet,
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except on on/off switches (where "default: False" says nothing)."""

    def _get_help_string(self, action):
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return action.help
        return super()._get_help_string(action)


def base_parser(description: str, default_out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny grid that runs in a few seconds (smoke tests use it)")
    p.add_argument("--out", default=None,
                   help=f"output directory for table, config JSON and figures "
                        f"(default: {default_out}, or runs/quick with --quick)")
    p.add_argument("--seed", type=int, default=0, help="root seed; a cell's seed derives from it "
                   "and the cell's parameters, so results do not depend on --n-jobs or --backend")
    p.add_argument("--n-jobs", type=int, default=1,
                   help="parallel workers (loky processes, or local dask workers); -1 = all cores")
    g = p.add_argument_group("resuming and failures")
    m = g.add_mutually_exclusive_group()
    m.add_argument("--resume", dest="fresh", action="store_false",
                   help="reuse finished cells found in OUT/.cells (the default)")
    m.add_argument("--fresh", dest="fresh", action="store_true",
                   help="recompute every cell instead of reusing finished cells found in OUT/.cells")
    p.set_defaults(fresh=False)
    g.add_argument("--retry-failed", action="store_true",
                   help="recompute cells recorded as failed by an earlier run (otherwise they are skipped "
                        "and listed in the summary)")
    g = p.add_argument_group("execution")
    g.add_argument("--backend", choices=BACKENDS, default="loky",
                   help="joblib backend: loky = local processes; dask = a dask.distributed cluster "
                        "(--scheduler-address, or a local cluster of --n-jobs workers)")
    g.add_argument("--scheduler-address", default=None,
                   help="address of a running dask scheduler, e.g. tcp://10.0.0.1:8786 (--backend dask)")
    g.add_argument("--threads-per-worker", type=int, default=1,
                   help="BLAS/OpenMP/numba threads per cell; keep workers x threads <= cores")
    g.add_argument("--dry-run", action="store_true",
                   help="print the number of cells, those already finished and a time estimate "
                        "from a measured cost model, then exit without running")
    g.add_argument("--plot-only", metavar="RUN_DIR", default=None,
                   help="redraw the figure from RUN_DIR's stored table and config JSON alone")
    g.add_argument("--no-plot", action="store_true",
                   help="write the table and JSON but no figure (draw it later with --plot-only OUT)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("adaptive replication")
    g.add_argument("--adaptive-metric", default=None, metavar="COLUMN",
                   help="add replicates at each grid point until the 95%% CI half-width of this "
                        "column's mean is at most --target-rel-ci times |mean|")
    g.add_argument("--target-rel-ci", type=float, default=0.05,
                   help="target relative CI half-width for --adaptive-metric")
    g.add_argument("--max-replicates", type=int, default=64,
                   help="cap on replicates per grid point for --adaptive-metric")
    return p


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in ("otlmc", "numpy", "scipy", "pot", "numba", "joblib", "matplotlib", "threadpoolctl",
                "dask", "distributed", "pyarrow"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def git_revision() -> dict:
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        rev, dirty = None, None
    return {"revision": rev, "dirty": dirty if rev else None}


def _tuplify(v):
    """JSON lists back to the tuples a frozen Config holds."""
    if isinstance(v, list):
        return tuple(_tuplify(x) for x in v)
    return v


def config_from_json(cls, data: dict):
    """Rebuild a Config dataclass from the ``config`` mapping stored in a run's JSON."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"stored config has fields {unknown} that {cls.__name__} does not know; "
                         "was the run made by another version of this sim?")
    return cls(**{k: _tuplify(v) for k, v in data.items()})


def load_run(run_dir, name: str) -> tuple[list[dict], dict]:
    """Rows and provenance JSON of sim ``name`` stored in ``run_dir``."""
    run_dir = Path(run_dir)
    table, meta_path = run_dir / f"{name}.csv", run_dir / f"{name}.json"
    for f in (table, meta_path):
        if not f.is_file():
            raise FileNotFoundError(f"--plot-only {run_dir}: no {f.name} there (expected a run of {name}).")
    meta = json.loads(meta_path.read_text())
    if meta.get("sim") != name:
        raise ValueError(f"{meta_path} is a run of {meta.get('sim')!r}, not {name!r}.")
    return read_csv(table), meta


def _plot_only(name, cfg, args, plot):
    rows, meta = load_run(args.plot_only, name)
    run_dir = Path(args.plot_only)
    stored = config_from_json(type(cfg), meta["config"])
    if plot is None:
        print(f"{name} has no figure; table {run_dir / name}.csv has {len(rows)} rows")
        raise SystemExit(0)
    from otlmc.plots import save

    save(plot(rows, stored), run_dir / name)
    print(f"redrew {run_dir / name}.png/.pdf from {name}.csv + {name}.json ({len(rows)} rows)")
    # Stop here: the sim's own printout would use the command line's config, not the stored one.
    raise SystemExit(0)


def _ci_halfwidth(x: np.ndarray) -> float:
    """Student-t 95% half-width of the mean of ``x`` (inf for fewer than 2 values)."""
    from scipy.stats import t as student_t

    if x.size < 2:
        return float("inf")
    return float(student_t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def _point_key(params: dict, axes) -> tuple:
    """A grid point: the values of the grid axes (rows also hold metrics, ids and the replicate)."""
    return tuple((k, params[k]) for k in axes)


def _adaptive_round(rows, metric: str, target: float, reps: dict, cap: int, axes) -> dict:
    """New replicate counts for grid points whose CI is above target (doubling, capped)."""
    by_point: dict[tuple, list] = {}
    for r in rows:
        if metric not in r:
            raise ValueError(f"--adaptive-metric {metric!r} is not a column of the table; "
                             f"columns: {', '.join(r)}.")
        by_point.setdefault(_point_key(r, axes), []).append(float(r[metric]))
    grow = {}
    for key, n in reps.items():
        x = np.asarray(by_point.get(key, []))
        if n >= cap or x.size < n:  # capped, or some replicates failed: do not chase them
            continue
        if _ci_halfwidth(x) > target * abs(x.mean()):
            grow[key] = min(cap, 2 * n)
    return grow


def _check_exec_args(args, cfg) -> None:
    """Refuse impossible execution flags with a message instead of a traceback."""
    if args.n_jobs == 0 or args.n_jobs < -1:
        raise SystemExit(f"--n-jobs == {args.n_jobs}, must be >= 1 or -1 (all cores).")
    if getattr(args, "threads_per_worker", 1) < 1:
        raise SystemExit(f"--threads-per-worker == {args.threads_per_worker}, must be >= 1.")
    if getattr(args, "scheduler_address", None) and getattr(args, "backend", "loky") != "dask":
        raise SystemExit("--scheduler-address needs --backend dask.")
    if getattr(args, "adaptive_metric", None):
        if not args.target_rel_ci > 0:
            raise SystemExit(f"--target-rel-ci == {args.target_rel_ci}, must be > 0.")
        if args.max_replicates < cfg.replicates:
            raise SystemExit(f"--max-replicates == {args.max_replicates}, must be >= --replicates "
                             f"({cfg.replicates}).")


def sim_context(cfg, grid) -> dict:
    """The fixed settings that enter every cell's identity and seed.

    Everything in the config that is not a grid axis, the replicate count or a field listed in
    ``cfg.grid_fields`` shapes the numbers, so it is part of every cell's identity.
    """
    return {k: v for k, v in dataclasses.asdict(cfg).items()
            if k not in grid and k not in ("replicates",) and k not in getattr(cfg, "grid_fields", ())}


def run_sim(name: str, cfg, grid: dict, cell_fn, args, *, plot=None, streams=None) -> tuple[list, Path]:
    """Run the grid, write ``OUT/name.csv`` (+ ``.parquet``), ``OUT/name.json`` and ``OUT/name.{png,pdf}``.

    Honours every flag of :func:`base_parser`. Exits with status 130 on Ctrl-C (finished cells stay
    in ``OUT/.cells``), and with 0 after ``--dry-run`` or ``--plot-only``.
    """
    if getattr(args, "plot_only", None):
        return _plot_only(name, cfg, args, plot)
    _check_exec_args(args, cfg)
    out = Path(args.out or ("runs/quick" if args.quick else "figures"))
    out.mkdir(parents=True, exist_ok=True)
    cells = make_cells(grid, cfg.replicates)
    context = sim_context(cfg, grid)
    store = out / ".cells" / name
    backend = getattr(args, "backend", "loky")
    kw = dict(sim=name, root_seed=args.seed, context=context, n_jobs=args.n_jobs, store=store,
              fresh=args.fresh, retry_failed=getattr(args, "retry_failed", False),
              progress=not args.no_progress, backend=backend,
              scheduler_address=getattr(args, "scheduler_address", None),
              threads_per_worker=getattr(args, "threads_per_worker", 1), on_error="record")
    if streams is not None:
        kw["streams"] = streams
    fn = _CellFn(cell_fn, cfg)
    if getattr(args, "dry_run", False):
        plan = plan_sweep(fn, cells, sim=name, root_seed=args.seed, context=context, store=store,
                          fresh=args.fresh, retry_failed=kw["retry_failed"], size_key=size_axis(grid),
                          n_jobs=args.n_jobs, **({"streams": streams} if streams is not None else {}))
        print(f"{name} (dry run, nothing computed or written)\n{plan.describe()}")
        raise SystemExit(0)
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    res = run_sweep(fn, cells, **kw)
    reps = {_point_key(c, grid): cfg.replicates for c in cells if c["replicate"] == 0}
    metric = getattr(args, "adaptive_metric", None)
    rounds = 0
    if metric and not res.interrupted:
        kw["fresh"] = False  # later rounds must reuse the first round's cells
        while True:
            grow = _adaptive_round(res.rows, metric, args.target_rel_ci, reps, args.max_replicates, grid)
            if not grow:
                break
            rounds += 1
            for key, n_new in grow.items():
                point = dict(key)
                cells += make_cells_range({k: [point[k]] for k in grid}, reps[key], n_new)
                reps[key] = n_new
            cells.sort(key=lambda c: (tuple(grid_index(grid, c)), c["replicate"]))
            res = run_sweep(fn, cells, **kw)
            if res.interrupted:
                break
    wall = time.perf_counter() - t0
    print(res.summary(), file=sys.stderr)
    for f in res.failures[:10]:
        print(f"  failed cell {f['cell_id']} {f['params']}: {f['error']}", file=sys.stderr)
    if res.failures:
        print(f"  ({len(res.failures)} failed; see {out / name}.failures.json; rerun with --retry-failed)",
              file=sys.stderr)
    if res.interrupted:
        print(f"interrupted: finished cells are kept in {store}; rerun the same command to resume.",
              file=sys.stderr)
        raise SystemExit(130)
    rows = res.rows
    write_csv(rows, out / f"{name}.csv")
    parquet = write_parquet(rows, out / f"{name}.parquet")
    atomic_write_text(out / f"{name}.failures.json", json.dumps(res.failures, indent=1, default=str))
    meta = {
        "sim": name,
        "config_class": f"{_module_name(type(cfg))}:{type(cfg).__qualname__}",
        "config": dataclasses.asdict(cfg),
        "grid": grid,
        "context": context,
        "root_seed": args.seed,
        "argv": sys.argv[1:],
        "backend": backend,
        "scheduler_address": getattr(args, "scheduler_address", None),
        "n_jobs": args.n_jobs,
        "threads_per_worker": getattr(args, "threads_per_worker", 1),
        "n_cells": len(cells),
        "n_rows": len(rows),
        "cells_run": res.n_run,
        "cells_reused": res.n_reused,
        "cells_failed": res.n_failed,
        "adaptive": ({"metric": metric, "target_rel_ci": args.target_rel_ci,
                      "max_replicates": args.max_replicates, "rounds": rounds,
                      "replicates_per_point": [[dict(k), n] for k, n in reps.items()]}
                     if metric else None),
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_seconds": wall,
        "tables": [f"{name}.csv"] + ([f"{name}.parquet"] if parquet else []),
        "store": str(store),
        "otlmc_version": otlmc_version(),
        "git": git_revision(),
        "versions": versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    atomic_write_text(out / f"{name}.json", json.dumps(meta, indent=2, default=str))
    if plot is not None and not getattr(args, "no_plot", False):
        from otlmc.plots import save

        fig = plot(rows, cfg)
        save(fig, out / name)
    return rows, out


def _module_name(cls) -> str:
    """Importable module name of ``cls`` (``python -m sims.x`` runs it as ``__main__``)."""
    mod = cls.__module__
    if mod == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is not None and spec.name:
            return spec.name
    return mod


def grid_index(grid: dict, cell: dict) -> list[int]:
    """Position of a cell's grid point in the grid's own order (keeps tables in grid order)."""
    return [list(grid[k]).index(cell[k]) for k in grid]


class _CellFn:
    """Picklable ``(params, streams) -> row`` closure over a sim's ``cell(cfg, params, streams)``."""

    def __init__(self, cell_fn, cfg):
        self.cell_fn, self.cfg = cell_fn, cfg

    def __call__(self, params, streams):
        return self.cell_fn(self.cfg, params, streams)


__all__ = ["base_parser", "cell_id", "config_from_json", "git_revision", "load_run", "run_sim", "versions"]
