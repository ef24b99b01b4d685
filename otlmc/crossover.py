"""Crossover analyses of approximately low-dimensional rows (Assumption 8, Weed & Bach's multi-scale rates).

Tables in, numbers out: from a tidy table with columns ``k``, ``eta``, ``width`` and the metrics
(one row per cell and replicate, as ``sims.lowrank`` writes it), measure

- ``A_k`` (:func:`prefactor`): the constant of ``W_2 ~ A_k n^{-1/k}`` on the ``eta = 0`` curve;
- the crossover width (:func:`crossovers`) where the small directions' share of ``W_2^2`` equals
  the ``k``-dimensional part, ``W_2(eta)^2 = 2 W_2(0)^2``, against the prediction
  ``n* = (A_k / delta)^k`` of :func:`otlmc.theory.lowrank_crossover_width`;
- the width needed for a target deviation ``eps`` (:func:`needed_widths`) against Theorem 5.4's
  ``(c_k / eps)^k``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._validation import check_array, check_int, check_real
from .theory import lowrank_crossover_width, lowrank_participation_ratio, lowrank_thickness, required_width
from .tables import column


def curve(rows: Sequence[Mapping], k: int, eta: float, metric: str, x: str = "width"):
    """``(widths, means)``, both ``(m,)``: the mean of ``metric`` per width at ``(k, eta)``."""
    sub = [r for r in rows if r["k"] == k and r["eta"] == eta]
    if not sub:
        raise ValueError(f"no rows with k == {k} and eta == {eta}.")
    n, y = column(sub, x), column(sub, metric)
    lv = np.unique(n)  # (m,)
    return lv, np.array([y[n == v].mean() for v in lv])


def first_crossing(x, y, level: float) -> tuple[float, str]:
    """``x`` (log-log interpolated) where the curve ``y(x)`` first reaches ``level`` from below.

    ``x`` ``(m,)`` increasing and positive, ``y`` ``(m,)`` positive. Returns ``(value, flag)``:
    flag ``"below"`` when ``y[0] >= level`` (the crossing is at or before the first ``x``; value
    ``x[0]``), ``"above"`` when ``level`` is never reached (value ``x[-1]``), else ``"inside"``.
    """
    x, y = check_array("x", x, ndim=1), check_array("y", y, ndim=1)
    level = check_real("level", level, min_value=0.0, strict_min=True)
    if x.shape != y.shape or x.size < 1:
        raise ValueError(f"x and y must have the same length >= 1, got {x.size} and {y.size}.")
    if (x <= 0).any() or (y <= 0).any() or (np.diff(x) <= 0).any():
        raise ValueError("x must be positive and increasing and y positive (log-log interpolation).")
    if y[0] >= level:
        return float(x[0]), "below"
    hit = np.nonzero(y >= level)[0]
    if hit.size == 0:
        return float(x[-1]), "above"
    i = int(hit[0])
    lx, ly = np.log(x), np.log(y)
    frac = (np.log(level) - ly[i - 1]) / (ly[i] - ly[i - 1])
    return float(np.exp(lx[i - 1] + frac * (lx[i] - lx[i - 1]))), "inside"


def prefactor(n, w, k: int, *, n_min: float) -> float:
    """``A_k``: geometric mean of ``w(n) n^{1/k}`` over ``n >= n_min`` (``n``, ``w`` ``(m,)``)."""
    n, w = check_array("n", n, ndim=1), check_array("w", w, ndim=1)
    k = check_int("k", k, min_value=1)
    keep = n >= n_min
    if not keep.any():
        raise ValueError(f"no width >= n_min == {n_min}; widths are {n.tolist()}.")
    return float(np.exp(np.mean(np.log(w[keep]) + np.log(n[keep]) / k)))


def crossovers(rows: Sequence[Mapping], *, d: int, ks: Sequence[int], etas: Sequence[float], n_min: float,
               convention: str = "variance") -> list[dict]:
    """Predicted vs measured crossover width of ``W_2`` for every ``k`` and ``eta > 0``.

    ``A_k`` comes from the ``eta = 0`` curve (widths ``>= n_min``); the measured crossover is the
    first width where ``W_2(eta) / W_2(0)`` reaches ``sqrt 2`` (:func:`first_crossing`; its flag
    says whether it fell inside the widths). ``ratio_measured_predicted`` is NaN unless inside.
    """
    if 0.0 not in etas:
        raise ValueError(f"etas {list(etas)} must include 0: the eta = 0 curve calibrates A_k.")
    out = []
    for k in ks:
        lv, w0 = curve(rows, k, 0.0, "w2_layer1")
        a_k = prefactor(lv, w0, k, n_min=n_min)
        for eta in (e for e in etas if e != 0.0):
            lv_e, we = curve(rows, k, eta, "w2_layer1")
            if not np.array_equal(lv, lv_e):
                raise ValueError(f"k={k}: eta={eta} has widths {lv_e.tolist()}, eta=0 has {lv.tolist()}.")
            n_meas, flag = first_crossing(lv, we / w0, np.sqrt(2.0))
            n_pred = lowrank_crossover_width(d, k, eta, prefactor=a_k, convention=convention)
            out.append({"k": k, "eta": eta, "A_k": a_k,
                        "thickness": lowrank_thickness(d, k, eta, convention=convention),
                        "participation_ratio": lowrank_participation_ratio(d, k, eta, convention=convention),
                        "n_star_predicted": n_pred, "n_star_measured": n_meas, "measured_flag": flag,
                        "ratio_measured_predicted": n_meas / n_pred if flag == "inside" else float("nan")})
    return out


def needed_widths(rows: Sequence[Mapping], *, ks: Sequence[int], etas: Sequence[float], n_targets: int,
                  n_min: float, metric: str = "aligned_deviation_rms_max_t") -> list[dict]:
    """Width at which the mean ``metric`` reaches ``eps``, per ``k``, ``eta`` and target.

    Targets: ``n_targets`` values log-spaced strictly inside the range that every ``eta = 0`` curve
    covers (none when the ranges do not overlap). ``n_needed`` inverts the measured curve
    (:func:`otlmc.theory.required_width`; NaN when ``eps`` is outside that curve's range);
    ``plugin_eps_minus_k`` is Theorem 5.4's ``(c_k / eps)^k`` with ``c_k`` the geometric mean of
    ``D(n) n^{1/k}`` on the ``eta = 0`` curve (widths ``>= n_min``).
    """
    n_targets = check_int("n_targets", n_targets, min_value=1)
    if 0.0 not in etas:
        return []
    curves = {(k, eta): curve(rows, k, eta, metric) for k in ks for eta in etas}
    lo = max(curves[(k, 0.0)][1].min() for k in ks)
    hi = min(curves[(k, 0.0)][1][0] for k in ks)
    if not lo < hi:
        return []
    targets = np.geomspace(lo, hi, n_targets + 2)[1:-1]  # (n_targets,)
    out = []
    for k in ks:
        c_k = prefactor(*curves[(k, 0.0)], k, n_min=n_min)
        for eta in etas:
            lv, dm = curves[(k, eta)]
            for eps in targets:
                inside = dm.min() <= eps <= dm[0]
                out.append({"k": k, "eta": eta, "eps": float(eps), "c_k": c_k,
                            "n_needed": float(required_width(lv, dm, eps)[0]) if inside else float("nan"),
                            "plugin_eps_minus_k": float((c_k / eps) ** k)})
    return out


__all__ = ["crossovers", "curve", "first_crossing", "needed_widths", "prefactor"]
