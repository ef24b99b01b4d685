"""Power-law fits of a metric against width: ``E[metric] ~ C n^slope``, with bootstrap intervals.

:func:`fit_rate` is the one fitter (weighted least squares of the log group means, percentile
bootstrap of the slope with an explicit generator); :func:`fit_power_law` is its point fit
without weights (``n_boot=0, weighted=False``) kept under its own name.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_array, check_int, check_real
from .rng import check_rng


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
    """Point fit of ``log mean(y | n)`` on ``log n`` for ``n >= n_min``: :func:`fit_rate` without
    weights and without an interval (``n_boot=0, weighted=False``), as a :class:`PowerLawFit`.

    ``n`` and ``y`` are paired samples (replicates share an ``n``); the mean is taken per ``n``
    before the log, so the fit targets ``E[y]`` as the theory does.
    """
    f = fit_rate(n, y, n_min=n_min, n_boot=0, weighted=False)
    return PowerLawFit(f.slope, f.intercept, f.n_min, f.n_points)


@dataclass(frozen=True)
class RateFit:
    """``E[y] ~ C n^slope (log n)^log_power`` with a bootstrap interval on ``slope``.

    ``log_power`` is fixed by the caller (the critical-dimension laws carry a known log factor);
    only ``slope`` and ``intercept`` are fitted. ``ci_low``/``ci_high`` are the percentile-bootstrap
    bounds at level ``ci`` (``None`` when ``n_boot == 0``). ``local_n``/``local_slopes`` are the
    slopes between consecutive widths (all widths, not only ``n >= n_min``), at the geometric
    midpoints, after the same log-factor correction: a crossover between two rates shows there.
    """

    slope: float
    intercept: float
    ci_low: float | None
    ci_high: float | None
    ci: float
    n_min: float
    n_points: int
    n_boot: int
    weighted: bool
    log_power: float
    local_n: np.ndarray = field(repr=False, compare=False)
    local_slopes: np.ndarray = field(repr=False, compare=False)

    def predict(self, n) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        out = np.exp(self.intercept) * n**self.slope
        return out * np.log(n) ** self.log_power if self.log_power else out

    def contains(self, exponent: float) -> bool:
        """Whether ``exponent`` lies in the bootstrap interval (raises when no interval was drawn)."""
        if self.ci_low is None:
            raise ValueError("this fit has no confidence interval (n_boot == 0); refit with n_boot > 0.")
        return bool(self.ci_low <= float(exponent) <= self.ci_high)

    def verdict(self, exponent: float) -> str:
        """``"inside"`` or ``"outside"``: is the theory exponent in the interval?"""
        return "inside" if self.contains(exponent) else "outside"

    def describe(self, exponent: float | None = None) -> str:
        s = f"slope {self.slope:+.3f}"
        if self.ci_low is not None:
            s += f" [{self.ci_low:+.3f}, {self.ci_high:+.3f}]"
        if exponent is not None and self.ci_low is not None:
            s += f" vs theory {exponent:+.3f}: {self.verdict(exponent)}"
        return s


def _wls_slopes(x, Y, W):
    """Weighted least-squares slope and intercept of each row of ``Y`` (B, m) on ``x`` (m,)."""
    sw = W.sum(1, keepdims=True)  # (B, 1)
    xm = (W * x).sum(1, keepdims=True) / sw  # (B, 1)
    ym = (W * Y).sum(1, keepdims=True) / sw  # (B, 1)
    dx = x - xm  # (B, m)
    slope = (W * dx * (Y - ym)).sum(1) / (W * dx * dx).sum(1)  # (B,)
    return slope, ym[:, 0] - slope * xm[:, 0]


def _group_stats(y_groups, weighted):
    """Per-width means (B, m) and WLS weights (B, m) from replicate arrays (B, k_j) per width."""
    means = np.stack([g.mean(1) for g in y_groups], axis=1)  # (B, m)
    if not weighted:
        return means, np.ones_like(means)
    # delta method: Var(log mean) ~ s^2 / (k mean^2)
    # (the ratio to the mean is taken before squaring, so values near the float range do not overflow)
    var = np.stack([(g / m[:, None]).var(1, ddof=1) / g.shape[1]
                    for g, m in zip(y_groups, means.T)], axis=1)  # (B, m)
    # a resample whose replicates coincide has zero variance: floor it at the smallest positive one
    pos = np.where(var > 0, var, np.inf).min(1, keepdims=True)  # (B, 1)
    var = np.maximum(var, np.where(np.isfinite(pos), pos, 1.0))
    return means, 1.0 / var


def _check_finite_fit(what: str, *arrays) -> None:
    """Refuse a fit whose intermediate results overflowed (values near the float range): no NaN slope."""
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError(f"y: {what} are not finite (group means, their variances or the regression "
                         "overflowed the float range); rescale y (e.g. divide by its largest value).")


def fit_rate(n, y, *, n_min: float | None = None, n_boot: int = 2000, ci: float = 0.95,
             rng: np.random.Generator | None = None, weighted: bool = True,
             log_power: float = 0.0) -> RateFit:
    """Fit ``E[y] ~ C n^slope (log n)^log_power`` on replicates, with a bootstrap CI of the slope.

    ``n``, ``y`` are paired samples (replicates share an ``n``). The fit regresses the log of the
    per-width mean on ``log n`` over widths ``>= n_min``; ``weighted=True`` weighs each width by
    the inverse of its delta-method variance ``s^2 / (k mean^2)`` (used only when every width has
    at least two replicates; ``RateFit.weighted`` says what was done). The interval is the
    percentile bootstrap with replicates resampled within each width, ``n_boot`` resamples.
    ``rng`` (a Generator, required when ``n_boot > 0``) draws the resamples: derive it from the
    run's root seed and the purpose of the fit (:func:`otlmc.rng.analysis_rng`).

    The log needs positive means: every ``y`` must be ``> 0`` when an interval or weights are
    asked for (a resample may draw only the non-positive ones); a point fit (``n_boot=0``,
    ``weighted=False``) needs every per-width mean ``> 0``.
    """
    n = check_array("n", n, ndim=1)
    y = check_array("y", y, ndim=1)
    if n.shape != y.shape:
        raise ValueError(f"n and y must have the same length, got {n.size} and {y.size}.")
    n_boot = check_int("n_boot", n_boot, min_value=0)
    if 0 < n_boot < 10:
        raise ValueError(f"n_boot == {n_boot}, must be 0 (no interval) or >= 10.")
    ci = check_real("ci", ci, min_value=0.0, max_value=1.0, strict_min=True)
    if ci >= 1.0:
        raise ValueError(f"ci == {ci}, must be in (0, 1).")
    log_power = check_real("log_power", log_power)
    if not isinstance(weighted, (bool, np.bool_)):
        raise TypeError(f"weighted must be True or False, got {weighted!r} ({type(weighted).__name__}).")
    if n_boot:
        if rng is None:
            raise TypeError(f"n_boot == {n_boot} needs rng=numpy.random.Generator (e.g. "
                            f"otlmc.rng.analysis_rng(root_seed, purpose)); pass n_boot=0 for a point fit.")
        check_rng(rng)
    elif rng is not None:
        check_rng(rng)
    if (n <= 0).any() or (log_power and (n <= 1).any()):
        raise ValueError(f"n must be > {1 if log_power else 0}"
                         f"{' when log_power != 0' if log_power else ''}; got min(n) = {n.min()}.")
    point = not n_boot and not weighted
    if not point and (y <= 0).any():
        raise ValueError(f"y must be positive for a power law; got {(y <= 0).sum()} value(s) <= 0 "
                         f"(min {y.min()}).")

    levels = np.unique(n)  # (m_all,)
    groups = [y[n == v] for v in levels]
    with np.errstate(all="ignore"):
        all_means = np.array([g.mean() for g in groups])  # (m_all,)
    _check_finite_fit("the per-width means", all_means)
    if point and all_means.min() <= 0:
        raise ValueError("a power law needs positive means; got a non-positive group mean.")
    correction = log_power * np.log(np.log(levels)) if log_power else np.zeros(levels.size)
    x_all = np.log(levels)
    local = np.diff(np.log(all_means) - correction) / np.diff(x_all)

    keep = levels >= (n_min if n_min is not None else -np.inf)
    if keep.sum() < 2:
        raise ValueError(f"need at least two distinct widths >= n_min={n_min} to fit a slope; "
                         f"widths are {levels.tolist()}.")
    x = x_all[keep]
    corr = correction[keep]
    kept = [g for g, k in zip(groups, keep) if k]
    use_w = bool(weighted) and min(g.size for g in kept) >= 2
    with np.errstate(all="ignore"):  # overflow is checked below, by name, instead of warned about
        means, W = _group_stats([g[None, :] for g in kept], use_w)
        slope, icpt = _wls_slopes(x, np.log(means) - corr, W)
    _check_finite_fit("the fitted slope and intercept", slope, icpt, means, W)

    lo = hi = None
    if n_boot:
        if max(g.size for g in kept) < 2:
            raise ValueError("a bootstrap interval needs replicates: every width has one sample. "
                             "Pass n_boot=0 for a point fit.")
        boot = [g[rng.integers(0, g.size, size=(n_boot, g.size))] for g in kept]  # (B, k_j) each
        with np.errstate(all="ignore"):
            bm, bw = _group_stats(boot, use_w)
            bs, _ = _wls_slopes(x, np.log(bm) - corr, bw)
        _check_finite_fit("the bootstrap slopes", bs, bm, bw)
        a = (1.0 - ci) / 2.0
        lo, hi = (float(v) for v in np.quantile(bs, [a, 1.0 - a]))
    return RateFit(float(slope[0]), float(icpt[0]), lo, hi, ci, float(levels[keep].min()),
                   int(keep.sum()), n_boot, use_w, log_power,
                   np.sqrt(levels[:-1] * levels[1:]), local)
