"""Controls and corrections for the random-law ``W_2`` rates (docs/theory.md §1).

Two independent ``n``-samples of one law have ``E W_2 ~ n^{-1/d}`` for ``d >= 3`` (``d = 2`` and
``d = 1`` carry log factors). At reachable ``n`` a fitted exponent carries finite-``n`` terms whose
size depends on the law; this module provides what separates them:

* the **flat torus** ``[0, 1)^d`` with the periodic cost (:func:`periodic_sq_distances`): uniform
  points without a boundary, the control for the cube ``[0, 1]^d`` with the ordinary cost (whose
  boundary adds a relative ``n^{-1/d}`` term);
* the **leading correction of each regime** (:func:`leading_correction`) for
  :func:`otlmc.claims.corrected_fit`, and its form for ``E W_2^2`` (:func:`squared_correction`);
* **exact one-dimensional values**: ``E W_2^2 = 1 / (3 (n + 1))`` for two uniform samples
  (:func:`uniform_1d_w2sq_mean`);
* **local slopes** with delta-method errors (:func:`local_slopes`, the data of the collapse
  ``d x local slope`` against ``log n / d``), the chi-square of the theory exponent without any
  correction (:func:`fixed_exponent_fit`) and one summary per law and ``d`` (:func:`rate_evidence`).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ._validation import check_array, check_choice, check_int, check_real
from .transport.assignment import linear_assignment
from .theory import RateLaw, wasserstein_rate
from .claims import Correction, corrected_fit
from .fit import fit_rate
from .rng import check_rng
from .transport import match_clouds, sq_distances
from .wide_pairs import DENSE_MAX_WIDTH

try:  # numba is a core dependency; the guard keeps a numpy path if it is broken
    import numba as _nb
except ImportError:  # pragma: no cover - exercised only in a numba-less environment
    _nb = None

#: the laws of the controls: uniform on the flat torus (periodic cost), uniform on the cube, N(0, I_d)
LAWS = ("torus", "cube", "gaussian")

__all__ = ["LAWS", "fixed_exponent_fit", "loglog_offset_fit", "mean_ratio", "leading_correction", "local_slopes", "periodic_sq_distances",
           "rate_evidence", "rate_law", "sample_points", "squared_correction", "two_sample_w2sq",
           "uniform_1d_w2sq_mean"]


def _periodic_numpy(X, Y, period):
    D = np.zeros((X.shape[0], Y.shape[0]))  # (n, m)
    for k in range(X.shape[1]):
        t = np.abs(X[:, k, None] - Y[None, :, k]) % period  # (n, m) in [0, period)
        np.minimum(t, period - t, out=t)
        D += t * t
    return D


if _nb is not None:
    @_nb.njit(cache=True)
    def _periodic_kernel(X, Y, period):  # pragma: no cover - compiled
        n, m, d = X.shape[0], Y.shape[0], X.shape[1]
        D = np.empty((n, m))
        for i in range(n):
            for j in range(m):
                s = 0.0
                for k in range(d):
                    t = abs(X[i, k] - Y[j, k]) % period
                    t = min(t, period - t)
                    s += t * t
                D[i, j] = s
        return D


def periodic_sq_distances(X, Y, *, period: float = 1.0) -> np.ndarray:
    r"""Squared distances on the flat torus ``(R / period Z)^d``: the nearest image per coordinate.

    .. math:: D_{ij} = \sum_k \min_{z \in \mathbb Z} (x_{ik} - y_{jk} + z\,\mathrm{period})^2
              = \sum_k \min(t_{ijk}, \mathrm{period} - t_{ijk})^2,\quad
              t_{ijk} = |x_{ik} - y_{jk}| \bmod \mathrm{period}

    Parameters
    ----------
    X : array_like, shape (n, d)
    Y : array_like, shape (m, d)
        Points; any real coordinates (taken modulo ``period``).
    period : float, keyword-only
        Side of the torus, ``> 0``.

    Returns
    -------
    D : ndarray, shape (n, m)
    """
    X = check_array("X", X, ndim=2)
    Y = check_array("Y", Y, ndim=2)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same dimension, got {X.shape[1]} and {Y.shape[1]}.")
    period = check_real("period", period, min_value=0.0, strict_min=True)
    if _nb is None:  # pragma: no cover
        return _periodic_numpy(X, Y, period)
    return _periodic_kernel(np.ascontiguousarray(X), np.ascontiguousarray(Y), period)


def sample_points(law: str, n: int, d: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` i.i.d. points (n, d) of ``law``: uniform on ``[0, 1)^d`` (torus, cube) or ``N(0, I_d)``."""
    check_choice("law", law, LAWS)
    n, d = check_int("n", n, min_value=1), check_int("d", d, min_value=1)
    rng = check_rng(rng)
    return rng.standard_normal((n, d)) if law == "gaussian" else rng.random((n, d))


def two_sample_w2sq(X, Y, *, periodic: bool = False) -> float:
    """Exact ``W_2^2`` between the empirical measures of ``X`` (n, d) and ``Y`` (n, d).

    By Birkhoff's theorem one assignment (:func:`otlmc.transport.linear_assignment`) on the
    squared-distance matrix, Euclidean or (``periodic=True``) on the unit flat torus. Above
    ``n = DENSE_MAX_WIDTH`` (where the matrix passes 2 GiB) the Euclidean case runs matrix-free
    (:func:`otlmc.transport.match_clouds`); the periodic one is refused there.
    """
    if not isinstance(periodic, (bool, np.bool_)):
        raise TypeError(f"periodic must be a bool, got {periodic!r}.")
    n = np.shape(X)[0]
    if n > DENSE_MAX_WIDTH and np.shape(Y)[0] == n:
        if periodic:  # an n x n matrix would pass 2 GiB, and the matrix-free solver is Euclidean
            raise ValueError(f"X has n = {n} points: with periodic=True, n <= {DENSE_MAX_WIDTH} is allowed "
                             "(the flat-torus cost has a dense path only).")
        _, info = match_clouds(X, Y, return_info=True)  # certified exact, O(n k) memory
        return float(info["total"]) / n
    C = periodic_sq_distances(X, Y) if periodic else sq_distances(X, Y)  # (n, m)
    if C.shape[0] != C.shape[1]:
        raise ValueError(f"X and Y must have the same number of points, got {C.shape[0]} and {C.shape[1]}.")
    perm = linear_assignment(C)
    return float(C[np.arange(C.shape[0]), perm].mean())


def uniform_1d_w2sq_mean(n) -> np.ndarray:
    """Exact ``E W_2^2`` of two independent ``n``-samples of ``U[0, 1]``: ``1 / (3 (n + 1))``.

    Quantile coupling pairs the order statistics; ``U_(i) ~ Beta(i, n + 1 - i)`` has variance
    ``i (n + 1 - i) / ((n + 1)^2 (n + 2))`` and ``sum_i i (n + 1 - i) = n (n + 1) (n + 2) / 6``.
    """
    n = check_array("n", n)
    if (n < 1).any():
        raise ValueError(f"n contains {n.min()}; sample sizes must be >= 1.")
    return 1.0 / (3.0 * (n + 1.0))


def rate_law(law: str, d: int) -> RateLaw:
    """The regime law of ``E W_2`` for ``law`` (the torus has the uniform law's rate)."""
    check_choice("law", law, LAWS)
    return wasserstein_rate(d, law="gaussian" if law == "gaussian" else "uniform")


def leading_correction(law: str, d: int) -> Correction | None:
    """The leading finite-``n`` correction to ``E W_2`` of ``law`` in ``R^d`` (for ``corrected_fit``).

    ``d = 2``: the log factor's power, fitted (the ``(log n)^a`` law is asymptotic). ``d = 3``:
    a relative ``n^{-1/3}`` term (the ``B/n`` term of ``E W_2^2``, and the cube's boundary term, are
    both of that order). ``d >= 4``: the cube's boundary gives a relative ``n^{-1/d}``; otherwise
    the ``B/n`` term of ``E W_2^2`` (relative ``n^{-(d-2)/d}``, docs/theory.md §1). ``d = 1``: None.
    """
    check_choice("law", law, LAWS)
    d = check_int("d", d, min_value=1)
    if d == 1:
        return None
    if d == 2:
        return Correction("log_power", why="the (log n)^a factor of d = 2 is asymptotic; its effective "
                          "power at reachable n is fitted")
    if d == 3:
        return Correction("relative_power", q=1 / 3, why="d = 3: the B/n term of E W_2^2 (and the cube's "
                          "boundary term) is a relative n^(-1/3) correction")
    if law == "cube":
        return Correction("relative_power", q=1 / d, why="boundary of the cube: a relative n^(-1/d) term "
                          "that the flat torus (no boundary) does not have")
    return Correction("inverse_n", why=f"B/n term of E W_2^2 (relative n^(-{d - 2}/{d}), docs/theory.md §1)")


def squared_correction(corr: Correction, d: int) -> Correction:
    """The same correction written for ``E W_2^2`` (``B/n`` becomes a relative ``n^{-(d-2)/d}``)."""
    if corr.form == "inverse_n":
        d = check_int("d", d, min_value=3)
        return Correction("relative_power", q=(d - 2) / d, why=corr.why)
    return corr


def _groups(n, y, n_min=None):
    n, y = check_array("n", n, ndim=1), check_array("y", y, ndim=1)
    if n.shape != y.shape:
        raise ValueError(f"n and y must have the same length, got {n.size} and {y.size}.")
    keep = n >= (n_min if n_min is not None else -np.inf)
    levels = np.unique(n[keep])  # (m,)
    groups = [y[keep & (n == v)] for v in levels]
    if (n[keep] <= 0).any() or (y[keep] <= 0).any():
        raise ValueError("n and y must be positive for a log-log slope.")
    return levels, groups


def _log_means(groups):
    means = np.array([g.mean() for g in groups])  # (m,)
    var = np.array([g.var(ddof=1) / g.size if g.size > 1 else np.nan for g in groups]) / means**2  # (m,)
    return np.log(means), var


def local_slopes(n, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slopes of ``log E y`` between consecutive ``n`` and their delta-method standard errors.

    Returns ``(n_mid, slope, se)``, each (m - 1,) for ``m`` distinct ``n``: ``n_mid`` the geometric
    midpoints, ``se = sqrt(v_k + v_{k+1}) / log(n_{k+1} / n_k)`` with ``v = s^2 / (k mean^2)`` the
    variance of a log mean (NaN where a width has one replicate).
    """
    levels, groups = _groups(n, y)
    if levels.size < 2:
        raise ValueError(f"need at least two distinct n for a local slope, got {levels.tolist()}.")
    lm, var = _log_means(groups)
    dx = np.diff(np.log(levels))  # (m - 1,)
    return np.sqrt(levels[:-1] * levels[1:]), np.diff(lm) / dx, np.sqrt(var[:-1] + var[1:]) / dx


def fixed_exponent_fit(n, y, exponent: float, *, log_power: float = 0.0, n_min=None) -> dict:
    """``E y = C n^exponent (log n)^log_power`` with only ``C`` fitted: chi-square on the log means.

    Weighted by the delta-method variance of each log mean. Returns ``{"C", "chi2", "dof", "p"}``
    with ``dof = widths - 1``. No correction: what a pure power law at theory leaves unexplained.
    """
    exponent, log_power = check_real("exponent", exponent), check_real("log_power", log_power)
    levels, groups = _groups(n, y, n_min)
    if levels.size < 2 or min(g.size for g in groups) < 2:
        raise ValueError("need at least two widths >= n_min with two replicates each for a chi-square.")
    if log_power and (levels <= 1).any():
        raise ValueError(f"n must be > 1 with log_power != 0; got {levels.min()}.")
    lm, var = _log_means(groups)
    x = np.log(levels)
    r = lm - exponent * x - (log_power * np.log(x) if log_power else 0.0)  # (m,) log C per width
    w = 1.0 / np.maximum(var, 1e-300)
    logc = float(np.sum(w * r) / np.sum(w))
    chi2 = float(np.sum(w * (r - logc) ** 2))
    dof = levels.size - 1
    return {"C": math.exp(logc), "chi2": chi2, "dof": dof, "p": float(stats.chi2.sf(chi2, dof))}


def rate_evidence(n, y, *, exponent: float, log_power: float = 0.0, correction: Correction | None = None,
                  n_min=None) -> dict:
    """Free fit, theory exponent alone, and theory exponent plus ``correction`` on the same data.

    Returns ``free_slope`` (weighted fit of ``E y / (log n)^log_power``, no interval: the verdict
    file carries it), ``local_slope_top`` (of ``E y`` itself, between the two largest ``n``),
    ``chi2_theory``/``dof_theory``/``p_theory`` (:func:`fixed_exponent_fit`) and, with a correction,
    ``correction``, ``K``, ``chi2_corrected``, ``dof_corrected``, ``p_corrected``
    (:func:`otlmc.claims.corrected_fit`).
    """
    f = fit_rate(n, y, n_min=n_min, n_boot=0, log_power=log_power)
    fixed = fixed_exponent_fit(n, y, exponent, log_power=log_power, n_min=n_min)
    _, slopes, _ = local_slopes(n, y)
    out = {"free_slope": f.slope, "local_slope_top": float(slopes[-1]), "chi2_theory": fixed["chi2"],
           "dof_theory": fixed["dof"], "p_theory": fixed["p"]}
    if correction is not None:
        res = corrected_fit(n, y, exponent, correction, n_min=n_min)
        out.update(correction=correction.form + (f" q={correction.q:.4g}" if correction.q else ""), K=res["K"],
                   chi2_corrected=res["chi2"], dof_corrected=res["dof"], p_corrected=res["p"])
    return out


def mean_ratio(n, y, expected) -> list[dict]:
    """Per ``n``: ``mean(y) / expected(n)`` with a Student-t 95% interval (the ``d = 1`` exact check).

    ``expected`` maps an array of ``n`` to the exact ``E y``. Returns one dict per distinct ``n``:
    ``n``, ``mean``, ``expected``, ``ratio``, ``ratio_ci_low``, ``ratio_ci_high``, ``replicates``.
    """
    levels, groups = _groups(n, y)
    exact = np.asarray(expected(levels), dtype=float)  # (m,)
    out = []
    for v, g, e in zip(levels, groups, exact):
        half = stats.t.ppf(0.975, g.size - 1) * g.std(ddof=1) / math.sqrt(g.size) if g.size > 1 else math.inf
        out.append({"n": float(v), "mean": float(g.mean()), "expected": float(e), "ratio": float(g.mean() / e),
                    "ratio_ci_low": float((g.mean() - half) / e), "ratio_ci_high": float((g.mean() + half) / e),
                    "replicates": int(g.size)})
    return out


def loglog_offset_fit(n, y) -> dict:
    """``n E y = A log log n + B`` by weighted least squares on the per-``n`` means (``d = 1`` Gaussian).

    ``E W_2^2 ~ log log n / n`` is an order statement; ``B`` is the subleading ``B / n`` term
    (relative ``1 / log log n``: never negligible at reachable ``n``). Weights are the inverse
    variances of ``n mean(y)``. Returns ``A``, ``B``, their standard errors, the normal 95% interval
    of ``A`` (``A > 0`` resolves the log log growth) and ``chi2``, ``dof = widths - 2``, ``p``.
    """
    levels, groups = _groups(n, y)
    if levels.size < 3 or min(g.size for g in groups) < 2 or (levels <= math.e).any():
        raise ValueError("need at least three widths > e with two replicates each.")
    z = levels * np.array([g.mean() for g in groups])  # (m,) n mean(y)
    se = levels * np.array([g.std(ddof=1) / math.sqrt(g.size) for g in groups])  # (m,)
    A = np.stack([np.log(np.log(levels)), np.ones_like(levels)], axis=1) / se[:, None]  # (m, 2) whitened
    coef, *_ = np.linalg.lstsq(A, z / se, rcond=None)
    cov = np.linalg.inv(A.T @ A)  # (2, 2)
    chi2 = float(np.sum((A @ coef - z / se) ** 2))
    dof = levels.size - 2
    sa, sb = (float(math.sqrt(cov[i, i])) for i in (0, 1))
    return {"A": float(coef[0]), "B": float(coef[1]), "se_A": sa, "se_B": sb, "A_ci_low": float(coef[0] - 1.96 * sa),
            "A_ci_high": float(coef[0] + 1.96 * sa), "chi2": chi2, "dof": dof, "p": float(stats.chi2.sf(chi2, dof))}
