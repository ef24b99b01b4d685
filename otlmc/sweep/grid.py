"""The grid of a sweep and the identity of its cells.

A cell is a dict of parameters including ``replicate``. Its identity is
``{"sim": name, "context": fixed settings, "params": params}``; its id is a stable hash of that
identity and the root seed, and its random streams come from :func:`otlmc.rng.cell_streams` of
the same identity. So a cell computes the same numbers whatever the number of workers, the
backend, the order of execution, or the other cells in the grid.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .._validation import check_int
from ..rng import stable_hash


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
    """Stable id of a cell: hash of its identity and the root seed (the name of its store record)."""
    return stable_hash({"cell": cell_identity(sim, params, context), "root_seed": int(root_seed)})


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


__all__ = ["cell_id", "cell_identity", "make_cells", "make_cells_range", "size_axis"]
