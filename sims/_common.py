"""Shared command-line plumbing for every sim: flags, provenance, table and figure output."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

from otlmc.sweep import atomic_write_text, make_cells, run_cells, write_csv


def base_parser(description: str, default_out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny grid that runs in a few seconds (smoke tests use it)")
    p.add_argument("--out", default=None,
                   help=f"output directory for table, config JSON and figures "
                        f"(default: {default_out}, or runs/quick with --quick)")
    p.add_argument("--seed", type=int, default=0, help="root seed; a cell's seed derives from it "
                   "and the cell's parameters, so results do not depend on --n-jobs")
    p.add_argument("--n-jobs", type=int, default=1, help="parallel workers (joblib/loky); -1 = all cores")
    p.add_argument("--fresh", action="store_true",
                   help="recompute every cell instead of reusing finished cells found in OUT/.cells")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for pkg in ("otlmc", "numpy", "scipy", "pot", "numba", "joblib", "matplotlib"):
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
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True,
                                    text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        rev, dirty = None, None
    return {"revision": rev, "dirty": dirty}


def run_sim(name: str, cfg, grid: dict, cell_fn, args, *, plot=None, streams=None) -> tuple[list, Path]:
    """Run the grid, write ``OUT/name.csv``, ``OUT/name.json`` and ``OUT/name.{png,pdf}``."""
    out = Path(args.out or ("runs/quick" if args.quick else "figures"))
    out.mkdir(parents=True, exist_ok=True)
    cells = make_cells(grid, cfg.replicates)
    # Everything in the config that is not a grid axis or the replicate count shapes the numbers,
    # so it is part of every cell's identity (and seed).
    context = {k: v for k, v in dataclasses.asdict(cfg).items()
               if k not in grid and k not in ("replicates",) and k not in getattr(cfg, "grid_fields", ())}
    t0 = time.perf_counter()
    kw = {} if streams is None else {"streams": streams}
    rows = run_cells(lambda p, s: cell_fn(cfg, p, s), cells, sim=name, root_seed=args.seed, context=context,
                     n_jobs=args.n_jobs, store=out / ".cells" / name, fresh=args.fresh,
                     progress=not args.no_progress, **kw)
    wall = time.perf_counter() - t0
    write_csv(rows, out / f"{name}.csv")
    meta = {
        "sim": name,
        "config": dataclasses.asdict(cfg),
        "grid": grid,
        "root_seed": args.seed,
        "n_jobs": args.n_jobs,
        "n_cells": len(cells),
        "wall_seconds": wall,
        "git": git_revision(),
        "versions": versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    atomic_write_text(out / f"{name}.json", json.dumps(meta, indent=2, default=str))
    if plot is not None:
        from otlmc.plots import save

        fig = plot(rows, cfg)
        save(fig, out / name)
    return rows, out
