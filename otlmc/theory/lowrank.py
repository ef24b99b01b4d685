"""Approximately low-dimensional weight laws (Assumption 8, Section 5.4) and Weed & Bach's multi-scale picture.

Assumption 8 (Ferbach et al.) draws weight rows from ``N(0, Sigma)`` with
``Sigma = diag(1/k (k times), s/k (d - k times))``. otlmc's sampler uses ``s = eta`` (variance
convention, :func:`otlmc.sampling.lowrank_spectrum`); the paper may mean ``s = eta^2`` (standard
deviation convention). The two differ in the crossover exponent (``eta^{-k/2}`` vs ``eta^{-k}``),
so every function here takes ``convention`` and says which one it uses.

Contents: the participation ratio (the approximate dimension of docs/theory.md §4), the
thickness of the small directions, the crossover width and the two-regime ``W_2`` model. Numpy only.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_choice, check_int, check_real


LOWRANK_CONVENTIONS = ("variance", "std")


def participation_ratio(spectrum) -> float:
    """Participation ratio ``(sum_i lambda_i)^2 / sum_i lambda_i^2`` of a spectrum (explicit).

    ``spectrum`` holds the eigenvalues of a positive semi-definite matrix ``S`` (``(d,)``,
    non-negative, not all zero); the value is ``tr(S)^2 / tr(S^2)`` and lies in ``[1, d]``: ``r`` for
    ``r`` equal non-zero eigenvalues. docs/theory.md §4 uses it as the approximate dimension.
    """
    lam = check_array("spectrum", spectrum, ndim=1)
    if lam.size == 0:
        raise ValueError("spectrum is empty; give at least one eigenvalue.")
    if (lam < 0).any():
        raise ValueError(f"spectrum contains {lam.min()}; eigenvalues must be >= 0 (a PSD spectrum).")
    s2 = float(np.sum(lam**2))
    if s2 == 0.0:
        raise ValueError("spectrum is all zeros; the participation ratio of the zero matrix is undefined.")
    return float(np.sum(lam) ** 2 / s2)


def _lowrank_args(d, k, eta, convention):
    d = check_int("d", d, min_value=1)
    k = check_int("k", k, min_value=1)
    if k > d:
        raise ValueError(f"k == {k}, must be <= d == {d} (the large eigenvalues live in R^d).")
    eta = check_real("eta", eta, min_value=0.0)
    check_choice("convention", convention, LOWRANK_CONVENTIONS)
    small = eta if convention == "variance" else eta**2  # the d - k small eigenvalues are small / k
    return d, k, eta, small


def lowrank_participation_ratio(d: int, k: int, eta: float, *, convention: str = "variance") -> float:
    """Closed-form participation ratio of Assumption 8's spectrum (explicit).

    With small eigenvalues ``s/k`` (``s = eta`` for ``convention="variance"``, ``eta^2`` for ``"std"``):

    .. math:: \\mathrm{PR} = k\\,\\frac{(1 + s (d-k)/k)^2}{1 + s^2 (d-k)/k} \\to k \\quad (s \\to 0).

    Equals :func:`participation_ratio` of :func:`otlmc.sampling.lowrank_spectrum` (variance convention).
    """
    d, k, eta, s = _lowrank_args(d, k, eta, convention)
    r = (d - k) / k
    return float(k * (1.0 + s * r) ** 2 / (1.0 + s**2 * r))


def lowrank_thickness(d: int, k: int, eta: float, *, convention: str = "variance") -> float:
    """``W_2`` floor that the ``d - k`` small directions add while a matching ignores them (explicit).

    Write a row as ``(u, v)``, ``u`` in the large ``k``-dimensional subspace and ``v`` in the small
    one. Any permutation ``pi`` chosen from the ``u``'s alone is independent of the ``v``'s, so
    ``E (1/n) sum_i |v_i - v'_{pi(i)}|^2 = 2 tr(Sigma_small) = 2 s (d - k) / k``. Hence, on every
    draw, with ``pi_u`` the optimal matching of the ``u``'s,

    .. math:: W_2^2(u) \\le W_2^2(\\text{rows}) \\le W_2^2(u) + \\tfrac1n \\sum_i |v_i - v'_{\\pi_u(i)}|^2,

    and the last term has expectation ``delta^2`` with ``delta = sqrt(2 s (d - k) / k)``, the value
    returned. It is the scale below which the measure stops looking ``k``-dimensional
    (Weed & Bach's multi-scale picture).
    """
    d, k, eta, s = _lowrank_args(d, k, eta, convention)
    return float(np.sqrt(2.0 * s * (d - k) / k))


def lowrank_crossover_width(d: int, k: int, eta: float, *, prefactor: float,
                            convention: str = "variance") -> float:
    """Width ``n*`` at which the ``n^{-1/k}`` regime of Assumption 8 rows ends (Weed & Bach).

    In the ``k``-dimensional regime the two-sample ``E W_2`` of the large components decays like
    ``A_k n^{-1/k}`` (``A_k`` = ``prefactor``: **unknown**, depends on ``k`` and the law; measure it
    on the ``eta = 0`` law, whose rows are exactly the large components). The regime ends when that
    term falls to the thickness ``delta`` of :func:`lowrank_thickness`:

    .. math:: n^* = (A_k / \\delta)^k = \\Big(\\frac{A_k^2\\, k}{2 s (d-k)}\\Big)^{k/2},

    so ``n* ∝ eta^{-k/2}`` in the variance convention (``s = eta``) and ``∝ eta^{-k}`` in the std
    convention (``s = eta^2``, docs/theory.md's "``n ~ eta^{-k}``"). Explicit: the exponents of ``eta``,
    ``k / (d - k)`` and ``A_k``, and the factor 2 of the floor. Up to constants: ``A_k``, and the
    meaning of "ends" (at ``n*`` the two terms are equal, so the local slope of ``W_2`` is about
    half-way between the two regimes). ``inf`` for ``eta = 0`` or ``k = d`` (no crossover).
    """
    d, k, eta, s = _lowrank_args(d, k, eta, convention)
    prefactor = check_real("prefactor", prefactor, min_value=0.0, strict_min=True)
    delta = np.sqrt(2.0 * s * (d - k) / k)
    if delta == 0.0:
        return float("inf")
    with np.errstate(over="ignore"):
        return float(np.exp(k * (np.log(prefactor) - np.log(delta))))


def lowrank_crossover_eta_exponent(k: int, *, convention: str = "variance") -> float:
    """``d log n* / d log eta``: ``-k/2`` (variance convention) or ``-k`` (std convention); explicit."""
    k = check_int("k", k, min_value=1)
    check_choice("convention", convention, LOWRANK_CONVENTIONS)
    return -k / 2.0 if convention == "variance" else -float(k)


def multiscale_w2(n, d: int, k: int, eta: float, *, prefactor: float,
                  convention: str = "variance") -> np.ndarray:
    """Weed & Bach's two-regime prediction of ``E W_2`` for Assumption 8 rows (a model, not a bound).

    .. math::

       W(n) = \\begin{cases} A_k n^{-1/k} & n \\le n^* \\\\ \\delta\\,(n/n^*)^{-1/d} & n > n^* \\end{cases}

    continuous at ``n*`` (:func:`lowrank_crossover_width`). The exponents ``-1/k`` and ``-1/d`` are
    explicit (for ``W_2`` the ``n^{-1/k}`` law is clean only for ``k >= 5``; ``k <= 2`` carries log
    factors, see :func:`otlmc.theory.wasserstein_rate`); ``A_k`` is an unknown constant supplied by the caller,
    and the height after the crossover is set by continuity, which is a modelling choice.
    """
    n = check_array("n", n)
    if (n < 1).any():
        raise ValueError(f"n contains {n.min()}; sample sizes must be >= 1.")
    d, k, eta, _ = _lowrank_args(d, k, eta, convention)
    n_star = lowrank_crossover_width(d, k, eta, prefactor=prefactor, convention=convention)
    low = prefactor * n ** (-1.0 / k)
    if not np.isfinite(n_star):
        return low
    delta = lowrank_thickness(d, k, eta, convention=convention)
    return np.where(n <= n_star, low, delta * (n / n_star) ** (-1.0 / d))


def multiscale_exponent(n, d: int, k: int, eta: float, *, prefactor: float,
                        convention: str = "variance") -> np.ndarray:
    """Local exponent of :func:`multiscale_w2`: ``-1/k`` below ``n*``, ``-1/d`` above (explicit given ``A_k``)."""
    n = check_array("n", n)
    d, k, eta, _ = _lowrank_args(d, k, eta, convention)
    n_star = lowrank_crossover_width(d, k, eta, prefactor=prefactor, convention=convention)
    return np.where(n <= n_star, -1.0 / k, -1.0 / d)


__all__ = [
    "LOWRANK_CONVENTIONS", "lowrank_crossover_eta_exponent", "lowrank_crossover_width", "lowrank_participation_ratio",
    "lowrank_thickness", "multiscale_exponent", "multiscale_w2", "participation_ratio",
]
