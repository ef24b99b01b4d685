"""The theorems' rates and bounds (THEORY.md §1-2, §6) as documented pure functions.

What is explicit and what is not:

- **Rates** (:class:`RateLaw`): the exponent of ``n`` and the powers of ``log n`` and
  ``log log n`` are explicit; the multiplicative constant is **never** known and no function
  here returns one. A rate is a claim about the slope of ``log E[metric]`` against ``log n``;
  fit it with :func:`otlmc.fit.fit_rate` (``log_power=law.log_power``; divide a
  ``log log n`` factor out first with :meth:`RateLaw.loglog_factor`).
- **Width laws** (Lemma 5.1 / Theorem 5.2 two-layer case, Entezari et al. Theorem 3.1): the
  exponent of ``1/eps`` is explicit, the constant ``T`` is not and must be supplied (no default).
  The depth recursions, Theorem 5.3's rate and Lemma 4.1 live in :mod:`otlmc.recursion` and are
  re-exported here.
- **Deterministic inequalities** (THEORY.md §6): both sides are explicit and the inequality holds
  on every draw, with no constant. Each function returns both sides so that a caller (or a test)
  can check ``lhs <= rhs`` and see the slack.

Conventions: the path is ``theta(t) = (1 - t) theta_A + t theta_B`` (THEORY.md §0); the bounds
of §6 are symmetric in ``t <-> 1 - t`` up to which end is weighted by ``t``, and are stated here
in that convention.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ._validation import check_array, check_choice, check_int, check_real, check_t_grid
from .backend import to_numpy
from .networks import MLP, activate, check_same_architecture
from .recursion import (
    lemma41_recursion,
    lemma41_step,
    low_dim_gain,
    low_dim_minimal_widths_log10,
    minimal_widths_from_constants,
    minimal_widths_log10,
    tightness_rate,
)

WEIGHT_LAWS = ("gaussian", "uniform", "rademacher")


# --------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------
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
        n = np.asarray(n, dtype=float)
        out = n**self.exponent
        if self.log_power:
            out = out * np.log(n) ** self.log_power
        return out * self.loglog_factor(n)

    def loglog_factor(self, n) -> np.ndarray:
        """``(log log n)^loglog_power``: divide a metric by it before a fit that models only ``log n``."""
        n = np.asarray(n, dtype=float)
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
    """Order of the two-sample ``E W_p(mu_n, nu_n)`` (two independent ``n``-samples of ``mu``), THEORY.md §1.

    Cases (the constant is unknown in all of them):

    - ``d = 1`` (quantile coupling): ``n^{-1/2}``; for a Gaussian and ``p = 2``,
      ``E W_2^2 ~ log log n / n``, i.e. ``n^{-1/2} (log log n)^{1/2}``. Only ``p in {1, 2}``.
    - ``d = 2``, ``p = 2``: ``W_2^2 ~ log n / n`` (uniform on a square) and ``(log n)^2 / n``
      (Gaussian), i.e. ``n^{-1/2} (log n)^{1/2}`` and ``n^{-1/2} log n``.
    - ``d >= 3`` with a density (``gaussian``, ``uniform``): ``n^{-1/d}``. The relative finite-``n``
      correction is ``O(n^{-(d-2)/d})`` (:func:`finite_n_correction`), so at ``d = 3, 4`` (below
      the Fournier-Guillin threshold ``d > 2p``) and at large ``d`` fitted slopes are biased;
      THEORY.md puts clean rate tests at ``5 <= d <= 12`` (:func:`is_clean_rate`).
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
    """Whether THEORY.md §1 expects a fitted ``W_p`` slope at reachable ``n`` to match ``-1/d``.

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

    The two-layer path bound (:func:`two_layer_path_bound`) makes the deviation at most a
    weighted sum of ``|z^A_i - z^B_i| <= |w^A_i - w^B_i| |x|``, i.e. of the matched row distances,
    whose root mean square is ``W_2`` of the row measures. So the deviation follows
    :func:`wasserstein_rate` of ``d``-dimensional rows, up to an unknown constant
    (an upper-bound argument: ``kind="upper bound"``).
    """
    w = wasserstein_rate(d, law=law)
    return RateLaw(w.exponent, w.log_power, w.loglog_power, kind="upper bound", regime=w.regime,
                   note="through the two-layer path bound and W_2 of the rows")


# --------------------------------------------------------------------------------------------
# Width laws: two layers (Ferbach et al.) vs Entezari et al.; depth recursions (re-exported)
# --------------------------------------------------------------------------------------------
def two_layer_width_exponent(m0: int) -> int:
    """Exponent of ``1/eps`` in the two-layer width law of Ferbach et al.: ``m0`` (explicit)."""
    return check_int("m0", m0, min_value=1)


def entezari_width_exponent(m0: int) -> int:
    """Exponent of ``1/eps`` in Entezari et al.'s Theorem 3.1: ``2 m0 + 4`` (explicit).

    Their gap is ``O~(h^{-1/(2 m0 + 4)})`` at one input, uniform initialisation, at initialisation
    only; inverting gives the hidden width ``h ~ eps^{-(2 m0 + 4)}``.
    """
    return 2 * check_int("m0", m0, min_value=1) + 4


def two_layer_width_log10(eps: float, m0: int, *, T: float) -> float:
    """``log10`` of the two-layer hidden width ``(T / eps)^{m0}`` (Lemma 5.1 with ``L = 1``).

    ``T`` is the unknown constant of the theorem (no default); the ``O~`` log factors are dropped.
    Same as ``minimal_widths_log10(eps, m0, T, depth=1)[1]``.
    """
    return float(minimal_widths_log10(eps, m0, T, depth=1)[1])


def entezari_width_log10(eps: float, m0: int, *, T: float) -> float:
    """``log10`` of Entezari et al.'s hidden width ``(T / eps)^{2 m0 + 4}``; ``T`` unknown, no default."""
    eps = check_real("eps", eps, min_value=0.0, strict_min=True)
    T = check_real("T", T, min_value=0.0, strict_min=True)
    if T <= eps:
        raise ValueError(f"eps == {eps} must be < T == {T} (otherwise the bound asks for width <= 1).")
    return float(entezari_width_exponent(m0) * np.log10(T / eps))


def tightness_exponent(d: int) -> float:
    """Theorem 5.3: ``-2/d``, the steepest slope of ``min_p (1/m) E_x|W^A x - W^B_p x|^2`` vs ``m``.

    A lower-bound rate (the metric cannot decay faster than ``C m^{-2/d}``; ``C`` unknown).
    """
    return -2.0 / check_int("d", d, min_value=1)


# --------------------------------------------------------------------------------------------
# Deterministic inequalities (THEORY.md §6): both sides, every draw
# --------------------------------------------------------------------------------------------
def _ts(t) -> tuple[np.ndarray, bool]:
    if isinstance(t, numbers.Real) and not isinstance(t, bool):
        t = check_real("t", t, min_value=0.0, max_value=1.0)
        return np.array([t]), True
    return check_t_grid(t), False


def two_layer_path_bound(net_a: MLP, net_b: MLP, X, t) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of the two-layer path bound (THEORY.md §6.4), per input, output and ``t``.

    For one hidden layer with a 1-Lipschitz activation (``relu``, ``tanh``, ``identity``),
    ``z^A = W^A x + b^A``, ``z^B = W^B x + b^B`` (``net_b`` already aligned) and output weights
    ``a``, ``b``:

    .. math::

       |f_{M_t}(x) - (1-t) f_A(x) - t f_B(x)|_k \\le t (1-t) \\sum_i (|a_{ki}| + |b_{ki}|)\\,
       |z^A_i - z^B_i| ,

    because ``sigma(z^t_i) - sigma(z^A_i)`` is at most ``t |z^A_i - z^B_i|`` and
    ``sigma(z^t_i) - sigma(z^B_i)`` at most ``(1 - t) |z^A_i - z^B_i|`` (output biases cancel).
    Explicit, no constant. ``X`` is ``(N, m_0)``; ``t`` a scalar or a grid in ``[0, 1]``.

    Returns
    -------
    lhs, rhs : ``(N, m_out)`` for a scalar ``t``, ``(T, N, m_out)`` for a grid.
    """
    check_same_architecture(net_a, net_b)
    if net_a.n_hidden != 1:
        raise ValueError(f"the two-layer path bound needs one hidden layer, got {net_a.n_hidden}.")
    X = check_array("X", to_numpy(X), ndim=2)
    if X.shape[1] != net_a.widths[0]:
        raise ValueError(f"X has {X.shape[1]} columns, the networks take {net_a.widths[0]} inputs.")
    ts, scalar = _ts(t)
    Wa, Wb = (to_numpy(n.weights[0]) for n in (net_a, net_b))  # (m, m_0)
    ba, bb = (to_numpy(n.biases[0]) for n in (net_a, net_b))  # (m,)
    Va, Vb = (to_numpy(n.weights[1]) for n in (net_a, net_b))  # (m_out, m)
    ca, cb = (to_numpy(n.biases[1]) for n in (net_a, net_b))  # (m_out,)
    act = net_a.activation
    Za, Zb = X @ Wa.T + ba, X @ Wb.T + bb  # (N, m)
    fa = activate(act, Za) @ Va.T + ca  # (N, m_out)
    fb = activate(act, Zb) @ Vb.T + cb  # (N, m_out)
    gap_rhs = np.abs(Za - Zb) @ (np.abs(Va) + np.abs(Vb)).T  # (N, m_out)
    lhs, rhs = [], []
    for s in ts:
        Zt = (1 - s) * Za + s * Zb  # (N, m): pre-activations of M_t are the interpolated ones
        ft = activate(act, Zt) @ ((1 - s) * Va + s * Vb).T + ((1 - s) * ca + s * cb)  # (N, m_out)
        lhs.append(np.abs(ft - (1 - s) * fa - s * fb))
        rhs.append(s * (1 - s) * gap_rhs)
    lhs, rhs = np.stack(lhs), np.stack(rhs)  # (T, N, m_out)
    return (lhs[0], rhs[0]) if scalar else (lhs, rhs)


def _cross_entropy(Z, y) -> np.ndarray:
    """Per-row ``logsumexp(z) - z_y`` (stable)."""
    zmax = Z.max(1, keepdims=True)  # (N, 1)
    lse = zmax[:, 0] + np.log(np.exp(Z - zmax).sum(1))  # (N,)
    return lse - Z[np.arange(len(Z)), y]


def cross_entropy_path_bound(logits_t, logits_a, logits_b, labels, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of the cross-entropy bound (THEORY.md §6.5), per example.

    .. math::

       \\mathrm{CE}(z_t) - [(1-t)\\,\\mathrm{CE}(z_A) + t\\,\\mathrm{CE}(z_B)] \\le
       \\sqrt 2\\, |z_t - (1-t) z_A - t z_B|_2

    Cross-entropy is convex in the logits (so the bracket is ``>= CE((1-t) z_A + t z_B)``) and
    ``sqrt 2``-Lipschitz (its gradient ``softmax(z) - e_y`` has norm ``<= sqrt 2``). Explicit.
    ``logits_*`` are ``(N, K)``, ``labels`` ``(N,)`` integers in ``[0, K)``, ``t`` in ``[0, 1]``.

    Returns
    -------
    lhs, rhs : ``(N,)`` each.
    """
    Zt = check_array("logits_t", logits_t, ndim=2)
    Za = check_array("logits_a", logits_a, ndim=2)
    Zb = check_array("logits_b", logits_b, ndim=2)
    if not Zt.shape == Za.shape == Zb.shape:
        raise ValueError(f"logits must share one shape, got {Zt.shape}, {Za.shape} and {Zb.shape}.")
    t = check_real("t", t, min_value=0.0, max_value=1.0)
    y = np.asarray(labels)
    if y.shape != (Zt.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {Zt.shape[0]} integers, got shape {y.shape} and dtype {y.dtype}.")
    if y.size and (y.min() < 0 or y.max() >= Zt.shape[1]):
        raise ValueError(f"labels must lie in [0, {Zt.shape[1]}), got range [{y.min()}, {y.max()}].")
    lhs = _cross_entropy(Zt, y) - ((1 - t) * _cross_entropy(Za, y) + t * _cross_entropy(Zb, y))
    rhs = np.sqrt(2.0) * np.linalg.norm(Zt - (1 - t) * Za - t * Zb, axis=1)  # (N,)
    return lhs, rhs


def sigma_sandwich(delta, Sigma) -> tuple[float, float, float]:
    """The three terms of THEORY.md §6.6 for a weight difference ``delta`` ``(m, d)`` and ``Sigma`` ``(d, d)``.

    .. math::

       \\lambda_{\\min}(\\Sigma)\\,|\\Delta|_F^2 \\le \\mathrm{tr}(\\Delta \\Sigma \\Delta^T)
       \\le \\lambda_{\\max}(\\Sigma)\\,|\\Delta|_F^2 ,

    with ``tr(Delta Sigma Delta^T) = E_x |Delta x|^2`` for ``Sigma = E[x x^T]`` (the ingredient of
    Theorem 5.3). Explicit. ``Sigma`` must be symmetric positive semi-definite.

    Returns ``(low, middle, high)``.
    """
    D = check_array("delta", delta, ndim=2)
    S = check_array("Sigma", Sigma, ndim=2)
    d = D.shape[1]
    if S.shape != (d, d):
        raise ValueError(f"Sigma has shape {S.shape}, expected ({d}, {d}) to match delta's {D.shape[1]} columns.")
    if np.abs(S - S.T).max() > 1e-10 * max(1.0, np.abs(S).max()):
        raise ValueError("Sigma must be symmetric.")
    lam = np.linalg.eigvalsh(S)  # ascending
    if lam[0] < -1e-10 * max(1.0, lam[-1]):
        raise ValueError(f"Sigma must be positive semi-definite; its smallest eigenvalue is {lam[0]:.3g}.")
    fro = float((D**2).sum())
    middle = float(np.einsum("ij,jk,ik->", D, S, D))  # tr(D S D^T)
    return float(max(lam[0], 0.0) * fro), middle, float(lam[-1] * fro)


def relu_jensen(a, b, alpha) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of Jensen for ReLU (THEORY.md §6.7), elementwise:
    ``relu(alpha a + (1 - alpha) b) <= alpha relu(a) + (1 - alpha) relu(b)`` (convexity; explicit).

    The gap is non-zero only where ``a`` and ``b`` differ in sign (Zhou et al.'s weak additivity).
    """
    a = check_array("a", a)
    b = check_array("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}.")
    alpha = check_real("alpha", alpha, min_value=0.0, max_value=1.0)
    lhs = np.maximum(alpha * a + (1 - alpha) * b, 0.0)
    rhs = alpha * np.maximum(a, 0.0) + (1 - alpha) * np.maximum(b, 0.0)
    return lhs, rhs


__all__ = [
    "RateLaw", "WEIGHT_LAWS", "cross_entropy_path_bound", "deviation_rate", "entezari_width_exponent",
    "entezari_width_log10", "finite_n_correction", "is_clean_rate", "lemma41_recursion", "lemma41_step",
    "low_dim_gain", "low_dim_minimal_widths_log10", "minimal_widths_from_constants", "minimal_widths_log10",
    "relu_jensen", "sigma_sandwich", "tightness_exponent", "tightness_rate", "two_layer_path_bound",
    "two_layer_width_exponent", "two_layer_width_log10", "wasserstein_rate", "wasserstein_upper_rate",
]
