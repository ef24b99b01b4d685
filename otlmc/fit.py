"""Power-law fits of a metric against width: ``E[metric] ~ C n^slope``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_array


@dataclass(frozen=True)
class PowerLawFit:
    """``log y = intercept + slope log n`` fitted by least squares on the group means."""

    slope: float
    intercept: float
    n_min: float
    n_points: int

    def predict(self, n) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(n, dtype=float) ** self.slope


def fit_power_law(n, y, *, n_min: float | None = None) -> PowerLawFit:
    """Fit ``log mean(y | n)`` on ``log n`` for ``n >= n_min``.

    ``n`` and ``y`` are paired samples (replicates share an ``n``); the mean is taken per ``n``
    before the log, so the fit targets ``E[y]`` as the theory does.
    """
    n = check_array("n", n, ndim=1)
    y = check_array("y", y, ndim=1)
    if n.shape != y.shape:
        raise ValueError(f"n and y must have the same length, got {n.size} and {y.size}.")
    keep = n >= (n_min if n_min is not None else -np.inf)
    levels = np.unique(n[keep])
    if levels.size < 2:
        raise ValueError(f"need at least two distinct widths >= n_min={n_min} to fit a slope.")
    means = np.array([y[keep & (n == v)].mean() for v in levels])
    if (means <= 0).any():
        raise ValueError("a power law needs positive means; got a non-positive group mean.")
    slope, intercept = np.polyfit(np.log(levels), np.log(means), 1)
    return PowerLawFit(float(slope), float(intercept), float(levels.min()), int(levels.size))
