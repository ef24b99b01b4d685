"""Measurements read off a sim's table: per-layer statistics, inequality counts, widths needed.

Everything here works on tidy rows (one dict per cell and replicate, as :mod:`otlmc.sweep`
writes them) and computes nothing random:

- :func:`per_layer_mean_ci`: mean and 95% interval over replicates of ``<key>_layer{l}``;
- :func:`chain_holds` / :func:`layer_chain_holds`: how many rows (or (row, layer) pairs) satisfy
  a chain of inequalities ``a <= b <= c ...`` between columns;
- :func:`per_level`: a column reduced per value of an axis (mean, min, ...);
- :func:`inverted_curve`: the width at which the mean curve of a metric first reaches each of
  ``n_eps`` targets inside its measured range (log-log interpolation,
  :func:`otlmc.theory.required_width`);
- :func:`rate_prefactor`: the constant ``c`` of ``E y = c n^exponent`` at a fixed exponent;
- :func:`lemma41_plugin_widths`: Lemma 5.1's one-layer width with constants measured on the
  table (:func:`otlmc.theory.minimal_widths_from_constants`), against the measured one.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ._validation import as_real_array, check_int, check_real
from .theory import minimal_widths_from_constants, required_width
from .tables import column


def _rows(rows: Sequence[Mapping]) -> Sequence[Mapping]:
    if len(rows) == 0:
        raise ValueError("rows is empty; need at least one row of the table.")
    return rows


def per_layer_mean_ci(rows: Sequence[Mapping], key: str, depth: int):
    """Mean and normal 95% half-width over rows of ``{key}_layer{l}`` for ``l = 1..depth``.

    Returns ``(layers (depth,), mean (depth,), ci (depth,))``; the half-width is
    ``1.96 sd / sqrt(n)`` (0 for a single row), as :func:`otlmc.plots.mean_ci` draws it.
    """
    rows = _rows(rows)
    depth = check_int("depth", depth, min_value=1)
    mean, ci = np.empty(depth), np.empty(depth)
    for l in range(1, depth + 1):
        v = column(rows, f"{key}_layer{l}")  # (n_rows,)
        mean[l - 1] = v.mean()
        ci[l - 1] = 1.96 * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    return np.arange(1, depth + 1), mean, ci


def _chain_ok(values: Sequence[float], rtol: float) -> bool:
    return all(a <= b + rtol * abs(b) for a, b in zip(values[:-1], values[1:]))


def chain_holds(rows: Sequence[Mapping], chain: Sequence[str], *, rtol: float = 0.0) -> tuple[int, int]:
    """``(rows where chain[0] <= chain[1] <= ..., rows)``; each step allows ``rtol |right side|``.

    A NaN anywhere in a row's chain counts as a failure.
    """
    rows = _rows(rows)
    rtol = check_real("rtol", rtol, min_value=0.0)
    if len(chain) < 2:
        raise ValueError(f"chain needs at least two columns, got {list(chain)}.")
    ok = sum(_chain_ok([float(r[k]) for k in chain], rtol) for r in rows)
    return int(ok), len(rows)


def layer_chain_holds(rows: Sequence[Mapping], chains: Sequence[Sequence[str]], *, depth_key: str = "depth",
                      rtol: float = 0.0) -> tuple[int, int]:
    """``(pairs that hold, pairs)`` over every (row, layer ``l <= row[depth_key]``) pair.

    A pair holds when every chain of per-layer keys holds on it: the chain ``("E", "bound")``
    reads ``E_layer{l} <= bound_layer{l}``.
    """
    rows = _rows(rows)
    rtol = check_real("rtol", rtol, min_value=0.0)
    ok = total = 0
    for r in rows:
        for l in range(1, int(r[depth_key]) + 1):
            total += 1
            ok += all(_chain_ok([float(r[f"{k}_layer{l}"]) for k in chain], rtol) for chain in chains)
    return ok, total


def per_level(rows: Sequence[Mapping], axis: str, values, reduce: Callable = np.mean):
    """``(levels (k,), reduce(values | level) (k,))``; ``values`` is a column name or one value per row."""
    rows = _rows(rows)
    x = column(rows, axis)  # (n_rows,)
    y = column(rows, values) if isinstance(values, str) else as_real_array("values", values)
    if y.shape != x.shape:
        raise ValueError(f"values has {y.size} entries for {x.size} rows.")
    levels = np.unique(x)
    return levels, np.array([reduce(y[x == v]) for v in levels])


def inverted_curve(rows: Sequence[Mapping], metric: str, *, n_eps: int, axis: str = "width"):
    """Targets ``eps`` and the widths at which the mean curve of ``metric`` first reaches them.

    The ``n_eps`` targets are log-spaced from the curve's minimum to its value at the smallest
    width, so no extrapolation is needed (:func:`otlmc.theory.required_width`).

    Returns ``(eps (n_eps,), widths (n_eps,))``.
    """
    n_eps = check_int("n_eps", n_eps, min_value=2)
    levels, mean = per_level(rows, axis, metric)
    eps = np.geomspace(mean.min(), mean[0], n_eps)  # (n_eps,)
    return eps, required_width(levels, mean, eps)


def rate_prefactor(rows: Sequence[Mapping], metric: str, exponent: float, *, n_min: float | None = None,
                   axis: str = "width") -> float:
    """Geometric mean of ``metric n^-exponent`` over rows with ``n >= n_min``: ``c`` in ``c n^exponent``."""
    n, y = column(_rows(rows), axis), column(rows, metric)
    keep = n >= (n_min if n_min is not None else -np.inf)
    if not keep.any() or (y[keep] <= 0).any():
        raise ValueError(f"{metric}: need positive values at widths >= {n_min}.")
    return float(np.exp(np.mean(np.log(y[keep]) - exponent * np.log(n[keep]))))


def lemma41_plugin_widths(rows: Sequence[Mapping], d: int, *, n_eps: int, n_min: float | None = None) -> dict:
    """Width needed for the layer-1 gap ``sqrt(E_1) <= eps``: measured against Lemma 4.1's plug-in.

    ``rows`` are the cells of one input dimension ``d`` with columns ``E_layer1``, ``C1_layer1``,
    ``C2_layer1`` and ``Ebar_layer1`` (:func:`otlmc.measure.measure_layer_constants`).
    Measured: the mean ``E_1`` curve inverted at ``eps^2`` (:func:`inverted_curve`). Plug-in:
    Lemma 5.1's one-layer width with ``C_1 = c_1 n^{-2/d}`` (``c_1`` from :func:`rate_prefactor`
    over widths ``>= n_min``), the mean ``C_2`` and the mean ``Ebar_0``
    (:func:`otlmc.theory.minimal_widths_from_constants`). The rate model is asymptotic
    (``d >= 5``); for smaller ``d`` this is an estimate only.

    Returns ``{"eps", "measured", "plugin"}`` (each ``(n_eps,)``) and the scalars ``"c1"``, ``"Ebar0"``.
    """
    d = check_int("d", d, min_value=1)
    eps2, measured = inverted_curve(rows, "E_layer1", n_eps=n_eps)
    eps = np.sqrt(eps2)  # (n_eps,) targets for the RMS gap
    c1 = rate_prefactor(rows, "C1_layer1", -2.0 / d, n_min=n_min)
    ebar, gain = float(column(rows, "Ebar_layer1").mean()), float(column(rows, "C2_layer1").mean())
    plugin = np.array([10.0 ** minimal_widths_from_constants(e, d, prefactors=[c1], gains=[gain],
                                                             second_moments=[ebar])[0][1] for e in eps])
    return {"eps": eps, "measured": measured, "plugin": plugin, "c1": c1, "Ebar0": ebar}


__all__ = ["chain_holds", "inverted_curve", "layer_chain_holds", "lemma41_plugin_widths", "per_layer_mean_ci",
           "per_level", "rate_prefactor"]
