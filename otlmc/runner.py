"""The one runner of every sim: flags -> Config -> sweep -> tables, provenance, verdicts, figure.

``run(SIM, argv)`` is a sim's whole ``main``. It writes, under ``OUT`` (default ``runs/<sim>``):

* ``<sim>.csv`` (and ``.parquet`` with pyarrow): one row per cell and replicate;
* ``<sim>.json``: the resolved config, grid, seeds, versions, git state (read before anything is
  written), host and wall time — written even when tabulating or judging fails later;
* ``<sim>_fits.csv``: the verdicts of the sim's claims (:mod:`otlmc.claims`), the single source
  of every number the figure legends, ``sims.report`` and the README quote;
* ``<sim>_<suffix>.csv``: derived tables the sim declares (a ``str`` table is written as ``<sim>_<suffix>``);
* ``<sim>.png`` / ``.pdf``: the figure, drawn from the table and verdicts.

Finished cells are stored under ``OUT/.cells/<sim>/`` as they complete (a crash or Ctrl-C loses
nothing finished; the same command resumes). Exit status: 0 when every cell finished, 1 when
some failed (they are listed and kept for ``--retry-failed``), 2 for a usage error, 130 after
Ctrl-C.
"""
from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy import stats

from .claims import evaluate_all, verdict_rows
from .cli import UsageError, build_parser, check_run_args, config_from_args, exit_on_usage_error
from .declare import Sim, context_of, fields, grid_of
from .plots import save
from .provenance import environment, git_revision, otlmc_version, versions
from .sweep import make_cells, make_cells_range, plan_sweep, run_sweep, size_axis
from .tables import atomic_write_text, read_csv, write_csv, write_parquet


def run(sim: Sim, argv: Sequence[str] | None = None) -> int:
    """Run ``sim`` with the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    return exit_on_usage_error(lambda: _run(sim, sys.argv[1:] if argv is None else list(argv)))


def _prepare_out(sim: Sim, path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".{sim.name}.write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"python -m sims.{sim.name}: --out {path}: cannot write there "
                         f"({exc.strerror or exc}).") from None
    return path


def config_from_meta(sim: Sim, meta: dict):
    """Rebuild the Config stored in a run's JSON (lists back to tuples)."""
    names = {f.name for f in fields(sim.config)}
    stored = meta["config"]
    unknown = sorted(set(stored) - names)
    if unknown:
        raise UsageError(f"stored config has fields {unknown} that {sim.name} does not know; "
                         "was the run made by another version?")
    return sim.config(**{k: tuple(v) if isinstance(v, list) else v for k, v in stored.items()})


def load_run(sim: Sim, run_dir) -> tuple[list[dict], dict, list[dict]]:
    """Rows, provenance and verdict rows of ``sim`` stored in ``run_dir``."""
    run_dir = Path(run_dir)
    for suffix in (".csv", ".json"):
        if not (run_dir / f"{sim.name}{suffix}").is_file():
            raise UsageError(f"{run_dir}: no {sim.name}{suffix} there (not a run of {sim.name}).")
    meta = json.loads((run_dir / f"{sim.name}.json").read_text())
    if meta.get("sim") != sim.name:
        raise UsageError(f"{run_dir / sim.name}.json is a run of {meta.get('sim')!r}, not {sim.name!r}.")
    fits = run_dir / f"{sim.name}_fits.csv"
    return read_csv(run_dir / f"{sim.name}.csv"), meta, read_csv(fits) if fits.is_file() else []


def _draw(sim: Sim, rows, cfg, verdicts, stem: Path) -> None:
    if sim.plot is not None:
        save(sim.plot(rows, cfg, verdicts), stem)


def _write_tables(sim: Sim, rows, cfg, out: Path) -> None:
    """The sim's derived tables (``sim.tables``) beside the run: CSVs, or text written as given."""
    for suffix, extra in (sim.tables(rows, cfg) if sim.tables else {}).items():
        if isinstance(extra, str):  # a text table (e.g. suffix "comparison.md"), written as given
            atomic_write_text(out / f"{sim.name}_{suffix}", extra)
        else:
            write_csv(extra, out / f"{sim.name}_{suffix}.csv")


def _plot_only(sim: Sim, run_dir) -> int:
    """Judge the stored table again with the sim's current claims, rederive its tables, then redraw
    (nothing is recomputed)."""
    rows, meta, _ = load_run(sim, run_dir)
    cfg = config_from_meta(sim, meta)
    _write_tables(sim, rows, cfg, Path(run_dir))
    verdicts = evaluate_all(sim.claims(cfg) if sim.claims else [], rows, sim=sim.name,
                            root_seed=meta["root_seed"])
    fits = verdict_rows(verdicts)
    if fits:
        write_csv(fits, Path(run_dir) / f"{sim.name}_fits.csv")
    if sim.plot is not None:
        _draw(sim, rows, cfg, fits, Path(run_dir) / sim.name)
    print(f"judged {len(fits)} verdicts and redrew {Path(run_dir) / sim.name} from its table and config "
          f"({len(rows)} rows)")
    return 0


def _ci_halfwidth(x: np.ndarray) -> float:
    """Student-t 95% half-width of the mean of ``x`` (inf for fewer than 2 values)."""
    if x.size < 2:
        return float("inf")
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))


def _adaptive_round(rows, metric, target, reps, cap, axes) -> dict:
    """New replicate counts for grid points whose CI is above target (doubling, capped)."""
    by_point: dict[tuple, list] = {}
    for r in rows:
        if metric not in r:
            raise UsageError(f"--adaptive-metric {metric!r} is not a column of the table; "
                             f"columns: {', '.join(r)}.")
        by_point.setdefault(tuple((k, r[k]) for k in axes), []).append(float(r[metric]))
    grow = {}
    for key, n in reps.items():
        x = np.asarray(by_point.get(key, []))
        if n < cap and x.size >= n and _ci_halfwidth(x) > target * abs(x.mean()):
            grow[key] = min(cap, 2 * n)
    return grow


class CellFunction:
    """Picklable ``(params, streams) -> row`` closure over a sim's ``cell(cfg, params, streams)``."""

    def __init__(self, cell_fn, cfg):
        self.cell_fn, self.cfg = cell_fn, cfg

    def __call__(self, params, streams):
        return self.cell_fn(self.cfg, params, streams)


def bind_cell(cell, cfg) -> CellFunction:
    """The picklable ``(params, streams) -> row`` function of ``cell`` under ``cfg`` (what the sweep runs)."""
    return CellFunction(cell, cfg)


def _sweep(sim, cfg, grid, args, store, context):
    """Run the grid (and adaptive rounds); returns the last SweepResult, cells and replicate counts."""
    reps_n = getattr(cfg, "replicates", 1)
    cells = make_cells(grid, reps_n)
    kw = dict(sim=sim.name, root_seed=args.seed, context=context, n_jobs=args.n_jobs, store=store,
              fresh=args.fresh, retry_failed=args.retry_failed, progress=not args.no_progress,
              backend=args.backend, scheduler_address=args.scheduler_address,
              threads_per_worker=args.threads_per_worker, on_error="record", streams=tuple(sim.streams))
    fn = CellFunction(sim.cell, cfg)
    res = run_sweep(fn, cells, **kw)
    reps = {tuple((k, c[k]) for k in grid): reps_n for c in cells if c["replicate"] == 0}
    rounds = 0
    if args.adaptive_metric and not res.interrupted:
        kw["fresh"] = False  # later rounds reuse the first round's cells
        while grow := _adaptive_round(res.rows, args.adaptive_metric, args.target_rel_ci, reps,
                                      args.max_replicates, grid):
            rounds += 1
            for key, n_new in grow.items():
                cells += make_cells_range({k: [v] for k, v in key}, reps[key], n_new)
                reps[key] = n_new
            order = {k: list(v) for k, v in grid.items()}
            cells.sort(key=lambda c: (tuple(order[k].index(c[k]) for k in grid), c["replicate"]))
            res = run_sweep(fn, cells, **kw)
            if res.interrupted:
                break
    return res, cells, reps, rounds


def _run(sim: Sim, argv: list[str]) -> int:
    args = build_parser(sim).parse_args(argv)
    if args.plot_only:
        return _plot_only(sim, args.plot_only)
    cfg = config_from_args(sim, args)
    check_run_args(sim, args, cfg)
    git = git_revision()  # before anything is written: a run's own outputs never make it dirty
    out = _prepare_out(sim, Path(args.out or f"{sim.default_out}/{sim.name}"))
    grid, context = grid_of(cfg), context_of(cfg)
    store = out / ".cells" / sim.name
    if args.dry_run:
        plan = plan_sweep(CellFunction(sim.cell, cfg), make_cells(grid, getattr(cfg, "replicates", 1)),
                          sim=sim.name, root_seed=args.seed, context=context, store=store, fresh=args.fresh,
                          retry_failed=args.retry_failed, size_key=size_axis(grid), n_jobs=args.n_jobs,
                          streams=tuple(sim.streams))
        print(f"{sim.name} (dry run, nothing computed or written)\n{plan.describe()}")
        return 0
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    res, cells, reps, rounds = _sweep(sim, cfg, grid, args, store, context)
    print(res.summary(), file=sys.stderr)
    for r in res.rejected:
        print(f"  rejected stored record {r['file']}: {r['reason']}; recomputed", file=sys.stderr)
    if res.interrupted:
        print(f"interrupted: finished cells are kept in {store}; rerun the same command to resume.",
              file=sys.stderr)
        return 130
    meta = {
        "sim": sim.name, "config_class": f"sims.{sim.name}:{type(cfg).__qualname__}", "config": asdict(cfg), "grid": grid, "context": context, "root_seed": args.seed,
        "argv": argv, "backend": args.backend, "n_jobs": args.n_jobs,
        "threads_per_worker": args.threads_per_worker, "n_cells": len(cells), "n_rows": len(res.rows),
        "cells_run": res.n_run, "cells_reused": res.n_reused, "cells_failed": res.n_failed,
        "rejected_records": res.rejected,
        "adaptive": ({"metric": args.adaptive_metric, "target_rel_ci": args.target_rel_ci,
                      "max_replicates": args.max_replicates, "rounds": rounds,
                      "replicates_per_point": [[dict(k), n] for k, n in reps.items()]}
                     if args.adaptive_metric else None),
        "started_utc": started.isoformat(timespec="seconds"), "wall_seconds": time.perf_counter() - t0,
        "store": str(store), "otlmc_version": otlmc_version(), "git": git, "versions": versions(),
        **environment(),
    }
    atomic_write_text(out / f"{sim.name}.json", json.dumps(meta, indent=2, default=str))
    atomic_write_text(out / f"{sim.name}.failures.json", json.dumps(res.failures, indent=1, default=str))
    if res.failures:
        for f in res.failures[:10]:
            print(f"  failed cell {f['cell_id']} {f['params']}: {f['error']}", file=sys.stderr)
        print(f"  {len(res.failures)} cell(s) failed; see {out / sim.name}.failures.json and rerun with "
              "--retry-failed. No verdicts are drawn from an incomplete grid.", file=sys.stderr)
        if res.rows:
            write_csv(res.rows, out / f"{sim.name}.csv")
        return 1
    rows = res.rows
    write_csv(rows, out / f"{sim.name}.csv")
    write_parquet(rows, out / f"{sim.name}.parquet")
    _write_tables(sim, rows, cfg, out)
    verdicts = evaluate_all(sim.claims(cfg) if sim.claims else [], rows, sim=sim.name, root_seed=args.seed)
    fits = verdict_rows(verdicts)
    if fits:
        write_csv(fits, out / f"{sim.name}_fits.csv")
    if not args.no_plot:
        _draw(sim, rows, cfg, fits, out / sim.name)
    print(f"wrote {out / sim.name}.csv/.json" + ("/_fits.csv" if fits else "")
          + ("" if args.no_plot or sim.plot is None else "/.png/.pdf") + f" ({len(rows)} rows)")
    for v in verdicts:
        print(f"  {v.claim} [{v.setting}] {v.short()}" + (f" — {v.detail}" if v.detail and v.value is not None else ""))
    return 0
