"""Rates of the theorems: the exponent of ``n`` and its log factors, never a constant.

A :class:`RateLaw` is a claim about the slope of ``log E[metric]`` against ``log n``: the
exponent of ``n`` and the powers of ``log n`` and ``log log n`` are explicit; the multiplicative
constant is **never** known and no function here returns one. Fit a rate with
:func:`otlmc.fit.fit_rate` (``log_power=law.log_power``; divide a ``log log n`` factor out first
with :meth:`RateLaw.loglog_factor`).

Contents: the empirical Wasserstein rates (Fournier & Guillin's upper rates, the two-sample
orders per dimension and law, docs/theory.md §1), the rate of the aligned output deviation of a
two-layer network (Ferbach et al. Section 4), and Theorem 5.3's lower-bound rate of one layer's
matching error with the closed-form input second moment it is measured under. Numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .._validation import as_real_array, check_array, check_choice, check_int, check_real
from ..sampling import WEIGHT_LAWS

#: the weight laws with a known Wasserstein order (``lowrank`` is multi-scale: see :mod:`.lowrank`)
RATE_LAWS = tuple(law for law in WEIGHT_LAWS if law != "lowrank")


@dataclass(frozen=True)
class RateLaw:
    """``E[metric] ~ C n^exponent (log n)^log_power (log log n)^loglog_power``, ``C`` unknown.

    ``kind`` is ``"rate"`` (the order is attained: an upper and a lower bound of that order) or
    ``"upper bound"`` (only ``<=`` is claimed; the metric may decay faster). ``regime`` names the
    case of the theorem that applies; ``note`` says what is known about finite-``n`` behaviour.
    """

    exponent: float
    log_power: float = 0.0
    loglog_power: float = 0.0
    kind: str = "rate"
    regime: str = ""
    note: str = ""

    def shape(self, n) -> np.ndarray:
        """The ``n``-dependence without its constant (``n > e`` when a ``log log`` power is set)."""
        n = as_real_array("n", n)
        out = n**self.exponent
        if self.log_power:
            out = out * np.log(n) ** self.log_power
        return out * self.loglog_factor(n)

    def loglog_factor(self, n) -> np.ndarray:
        """``(log log n)^loglog_power``: divide a metric by it before a fit that models only ``log n``."""
        n = as_real_array("n", n)
        if not self.loglog_power:
            return np.ones_like(n)
        if (n <= np.e).any():
            raise ValueError(f"n must be > e for a log log n factor; got min(n) = {n.min()}.")
        return np.log(np.log(n)) ** self.loglog_power

    def label(self) -> str:
        """A short mathtext label such as ``n^{-1/5}`` or ``n^{-1/2} (log n)^{1/2}``."""
        s = f"n^{{{_frac(self.exponent)}}}"
        if self.log_power:
            s += rf"(\log n)^{{{_frac(self.log_power)}}}" if self.log_power != 1 else r"\log n"
        if self.loglog_power:
            s += rf"(\log\log n)^{{{_frac(self.loglog_power)}}}"
        return s


def _frac(x: float) -> str:
    f = Fraction(x).limit_denominator(64)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def wasserstein_upper_rate(d: int, *, p: float = 2.0) -> RateLaw:
    """Fournier & Guillin (2015) regimes of ``E W_p(mu_n, mu)`` (and two-sample), any law with enough moments.

    .. math::

       \\mathbb E W_p^p \\lesssim \\begin{cases} n^{-1/2} & d < 2p \\\\
       n^{-1/2}\\log n & d = 2p \\\\ n^{-p/d} & d > 2p \\end{cases}

    so by Jensen ``E W_p <~ n^{-1/(2p)}``, ``n^{-1/(2p)} (log n)^{1/p}``, ``n^{-1/d}``. For
    ``W_2`` these are the ``d < 4``, ``d = 4`` and ``d > 4`` regimes. This is an **upper bound**
    over all laws (``kind="upper bound"``), with an unknown constant that depends on the moments;
    a law with a density decays faster when ``d <= 2p`` (see :func:`wasserstein_rate`), and a
    finitely supported law decays like ``n^{-1/(2p)}`` in every dimension.
    """
    d = check_int("d", d, min_value=1)
    p = check_real("p", p, min_value=1.0)
    if d < 2 * p:
        return RateLaw(-1.0 / (2 * p), kind="upper bound", regime=f"d < 2p (d={d}, p={p:g})",
                       note="worst case over laws; attained by finitely supported laws")
    if d == 2 * p:
        return RateLaw(-1.0 / (2 * p), log_power=1.0 / p, kind="upper bound",
                       regime=f"d = 2p (d={d}, p={p:g})", note="critical dimension: log factor")
    return RateLaw(-1.0 / d, kind="upper bound", regime=f"d > 2p (d={d}, p={p:g})",
                   note="sharp for laws with a density")


def wasserstein_rate(d: int, *, p: float = 2.0, law: str = "gaussian") -> RateLaw:
    """Order of the two-sample ``E W_p(mu_n, nu_n)`` (two independent ``n``-samples of ``mu``), docs/theory.md §1.

    Cases (the constant is unknown in all of them):

    - ``d = 1`` (quantile coupling): ``n^{-1/2}``; for a Gaussian and ``p = 2``,
      ``E W_2^2 ~ log log n / n``, i.e. ``n^{-1/2} (log log n)^{1/2}``. Only ``p in {1, 2}``.
    - ``d = 2``, ``p = 2``: ``W_2^2 ~ log n / n`` (uniform on a square) and ``(log n)^2 / n``
      (Gaussian), i.e. ``n^{-1/2} (log n)^{1/2}`` and ``n^{-1/2} log n``.
    - ``d >= 3`` with a density (``gaussian``, ``uniform``): ``n^{-1/d}``. The relative finite-``n``
      correction is ``O(n^{-(d-2)/d})`` (:func:`finite_n_correction`), so at ``d = 3, 4`` (below
      the Fournier-Guillin threshold ``d > 2p``) and at large ``d`` fitted slopes are biased;
      docs/theory.md §1 puts clean rate tests at ``5 <= d <= 12`` (:func:`is_clean_rate`).
    - ``law="rademacher"``: the entries are ``+-1/sqrt(d)``, a law on the ``2^d`` corners of a
      cube. A finitely supported law has ``E W_p^p ~ sqrt(K / n)`` for ``K`` atoms (unequal atom
      counts of order ``sqrt(n/K)``), so ``W_p ~ n^{-1/(2p)}`` once ``n >> 2^d`` -- *faster* than
      ``n^{-1/d}`` when ``d > 2p`` (returned here). For ``n << 2^d`` the cube looks
      ``d``-dimensional and the slope is close to ``-1/d`` (a multi-scale crossover).

    Parameters
    ----------
    d : dimension of the points (the fan-in ``m_{l-1}`` for weight rows), ``>= 1``.
    p : order of the Wasserstein distance, ``>= 1``.
    law : ``"gaussian"``, ``"uniform"`` (on a cube) or ``"rademacher"``.
    """
    d = check_int("d", d, min_value=1)
    p = check_real("p", p, min_value=1.0)
    check_choice("law", law, WEIGHT_LAWS)
    if law not in RATE_LAWS:
        raise ValueError(f"law={law!r} has no single Wasserstein order: its rows are multi-scale "
                         f"(see otlmc.theory.lowrank.multiscale_w2); allowed: {', '.join(map(repr, RATE_LAWS))}.")
    if law == "rademacher":
        return RateLaw(-1.0 / (2 * p), regime=f"finitely supported (2^{d} atoms)",
                       note=f"n >> 2^d = {2**d}; slope near -1/d for n << 2^d")
    if d == 1:
        if p not in (1.0, 2.0):
            raise ValueError(f"p == {p} with d == 1: the special 1-D laws are known here for p in (1, 2) only.")
        if law == "gaussian" and p == 2.0:
            return RateLaw(-0.5, loglog_power=0.5, regime="d = 1, Gaussian",
                           note="W_2^2 ~ log log n / n")
        return RateLaw(-0.5, regime="d = 1", note="quantile coupling")
    if d == 2:
        if p != 2.0:
            raise ValueError(f"p == {p} with d == 2: the special 2-D laws are known here for p == 2 only.")
        if law == "gaussian":
            return RateLaw(-0.5, log_power=1.0, regime="d = 2, Gaussian", note="W_2^2 ~ (log n)^2 / n")
        return RateLaw(-0.5, log_power=0.5, regime="d = 2, uniform", note="W_2^2 ~ log n / n")
    if d <= 2 * p:
        return RateLaw(-1.0 / d, regime=f"3 <= d <= 2p (d={d})",
                       note=f"finite-n correction O(n^-{d - 2}/{d}): fitted slopes biased")
    return RateLaw(-1.0 / d, regime=f"d > 2p (d={d})",
                   note="clean" if is_clean_rate(d, p=p) else "large d: fitted slope steeper than -1/d at reachable n")


def is_clean_rate(d: int, *, p: float = 2.0) -> bool:
    """Whether docs/theory.md §1 expects a fitted ``W_p`` slope at reachable ``n`` to match ``-1/d``.

    For ``W_2``: ``5 <= d <= 12`` (above the threshold ``d > 2p``, below the dimensions whose
    finite-``n`` correction makes the slope visibly steeper). For other ``p``: ``2p < d <= 12``.
    A judgement about reachable ``n`` (a few thousand), not a theorem.
    """
    d = check_int("d", d, min_value=1)
    p = check_real("p", p, min_value=1.0)
    return 2 * p < d <= 12


def finite_n_correction(n, d: int) -> np.ndarray:
    """Order ``n^{-(d-2)/d}`` of the relative finite-``n`` correction to ``E W_2 ~ n^{-1/d}`` (``d >= 3``).

    Equivalently ``E W_2^2 = C n^{-2/d} + O(n^{-1})``: the correction is the size of the
    ``n^{-1}`` term relative to the leading one. Order only, unknown constant.
    """
    d = check_int("d", d, min_value=3)
    n = check_array("n", n)
    if (n < 1).any():
        raise ValueError(f"n contains {n.min()}; sample sizes must be >= 1.")
    return n ** (-(d - 2.0) / d)


def deviation_rate(d: int, *, law: str = "gaussian") -> RateLaw:
    """Rate of the aligned output deviation ``max_t RMS_x |f_{M_t} - (1-t) f_A - t f_B~|`` of a
    two-layer network with input dimension ``d`` (Ferbach et al., Section 4).

    The two-layer path bound (:func:`otlmc.measure.two_layer_path_bound`) makes the deviation at most a
    weighted sum of ``|z^A_i - z^B_i| <= |w^A_i - w^B_i| |x|``, i.e. of the matched row distances,
    whose root mean square is ``W_2`` of the row measures. So the deviation follows
    :func:`wasserstein_rate` of ``d``-dimensional rows, up to an unknown constant
    (an upper-bound argument: ``kind="upper bound"``).
    """
    w = wasserstein_rate(d, law=law)
    return RateLaw(w.exponent, w.log_power, w.loglog_power, kind="upper bound", regime=w.regime,
                   note="through the two-layer path bound and W_2 of the rows")


def tightness_exponent(d: int) -> float:
    """Theorem 5.3: ``-2/d``, the steepest slope of ``min_p (1/m) E_x|W^A x - W^B_p x|^2`` vs ``m``.

    A lower-bound rate (the metric cannot decay faster than ``C m^{-2/d}``; ``C`` unknown).
    """
    return -2.0 / check_int("d", d, min_value=1)


def tightness_rate(m, d: int) -> np.ndarray:
    """``m^{-2/d}``: the rate below which Theorem 5.3 says ``min_p (1/m) E_x|W^A x - W^B_p x|^2``
    cannot fall, for ``m`` rows in ``R^d`` (``d = m_{l-1}``), full-rank input second moment and
    rows with a bounded density. The constant ``C`` of the theorem is unknown; only the rate is
    returned (multiply by a constant anchored on data to draw it).
    """
    d = check_int("d", d, min_value=1)
    m = check_array("m", m)
    if (m < 1).any():
        raise ValueError(f"m contains {m.min()}; widths must be >= 1.")
    return m ** (-2.0 / d)


def relu_second_moment(W, *, bias=None) -> np.ndarray:
    """Exact ``E[relu(W x) relu(W x)^T]`` for ``x ~ N(0, I)`` (arc-cosine kernel of order 1).

    .. math:: K_{ij} = \\frac{|w_i| |w_j|}{2\\pi} (\\sin\\theta_{ij} + (\\pi - \\theta_{ij}) \\cos\\theta_{ij})

    (Cho & Saul 2009), ``theta_ij`` the angle between rows ``w_i`` and ``w_j``. Zero biases only
    (``bias`` must be ``None``). Used as the full-rank input second moment ``Sigma_{l-1}`` of
    Theorem 5.3 for a layer fed by a random ReLU layer. ``W`` is ``(m, d)``; returns ``(m, m)``.
    """
    if bias is not None:
        raise ValueError("bias is not supported: the closed form holds for zero biases only (bias=None).")
    W = check_array("W", W, ndim=2)
    norms = np.linalg.norm(W, axis=1)  # (m,)
    if (norms == 0).any():
        raise ValueError("W has a zero row; the angle to it is undefined.")
    cos = np.clip((W @ W.T) / np.outer(norms, norms), -1.0, 1.0)  # (m, m)
    theta = np.arccos(cos)
    K = np.outer(norms, norms) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * cos)  # (m, m)
    return (K + K.T) / 2


__all__ = [
    "RATE_LAWS", "RateLaw", "deviation_rate", "finite_n_correction", "is_clean_rate", "relu_second_moment",
    "tightness_exponent", "tightness_rate", "wasserstein_rate", "wasserstein_upper_rate",
]
