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


# --- Low-dimensional measures (Weed–Bach) and dropout stability ---
#
# Assumption 8 (Ferbach et al., Section 5.4) draws weight rows from ``N(0, Sigma)`` with
# ``Sigma = diag(1/k (k times), s/k (d - k times))``. otlmc's sampler uses ``s = eta`` (variance
# convention, :func:`otlmc.sampling.lowrank_spectrum`); the paper may mean ``s = eta^2`` (standard
# deviation convention). The two differ in the crossover exponent (``eta^{-k/2}`` vs ``eta^{-k}``),
# so every function here takes ``convention`` and says which one it uses.
LOWRANK_CONVENTIONS = ("variance", "std")


def participation_ratio(spectrum) -> float:
    """Participation ratio ``(sum_i lambda_i)^2 / sum_i lambda_i^2`` of a spectrum (explicit).

    ``spectrum`` holds the eigenvalues of a positive semi-definite matrix ``S`` (``(d,)``,
    non-negative, not all zero); the value is ``tr(S)^2 / tr(S^2)`` and lies in ``[1, d]``: ``r`` for
    ``r`` equal non-zero eigenvalues. THEORY.md §4 uses it as the approximate dimension.
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
    convention (``s = eta^2``, THEORY.md's "``n ~ eta^{-k}``"). Explicit: the exponents of ``eta``,
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
    factors, see :func:`wasserstein_rate`); ``A_k`` is an unknown constant supplied by the caller,
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


def dropout_bound(x_norm, w1: float, *, n_dropped: int, m: int, lip: float = 1.0):
    """Dropout-stability bound (Ferbach et al., Appendix B.14), explicit, no unknown constant:

    .. math:: |f(x) - f_S(x)| \\le \\frac{|S^c|}{m}\\, \\mathrm{Lip}(\\sigma)\\, |x|\\, W_1(\\mu_S, \\mu_{S^c})

    for ``f(x) = (1/m) sum_i sigma(<w_i, x>)`` and the renormalised ``f_S = (1/|S|) sum_{i in S}``.
    Proof: ``f - f_S = (|S^c|/m)(f_{S^c} - f_S)`` and ``w -> sigma(<w, x>)`` is
    ``Lip |x|``-Lipschitz, so Kantorovich-Rubinstein bounds the difference of its two averages.

    Parameters
    ----------
    x_norm : ``|x|`` (scalar or array of input norms), ``>= 0``.
    w1 : ``W_1`` between the empirical measures of the kept rows ``S`` and the dropped rows ``S^c``.
    n_dropped : ``|S^c|``, ``1 <= n_dropped <= m - 1``.
    m : width.
    lip : Lipschitz constant of ``sigma`` (``1`` for ReLU and tanh), ``>= 0``.
    """
    m = check_int("m", m, min_value=2)
    n_dropped = check_int("n_dropped", n_dropped, min_value=1)
    if n_dropped > m - 1:
        raise ValueError(f"n_dropped == {n_dropped}, must be <= m - 1 == {m - 1} (keep at least one neuron).")
    w1 = check_real("w1", w1, min_value=0.0)
    lip = check_real("lip", lip, min_value=0.0)
    xn = check_array("x_norm", x_norm)
    if (xn < 0).any():
        raise ValueError(f"x_norm contains {xn.min()}; norms must be >= 0.")
    out = (n_dropped / m) * lip * xn * w1
    return float(out) if out.ndim == 0 else out


ACTIVATION_LIPSCHITZ = {"relu": 1.0, "tanh": 1.0, "identity": 1.0}


def dropout_error(W, keep, X, *, activation: str = "relu") -> np.ndarray:
    """``|f(x) - f_S(x)|`` per input for the mean-output two-layer network of Appendix B.14.

    ``W`` ``(m, d)`` rows ``w_i``; ``keep`` the kept indices ``S`` (unique, ``1 <= |S| <= m - 1``);
    ``X`` ``(N, d)``. ``f(x) = (1/m) sum_i sigma(<w_i, x>)``, ``f_S(x) = (1/|S|) sum_{i in S} sigma(<w_i, x>)``
    (the kept output weights rescaled by ``m/|S|``). Returns ``(N,)``.
    """
    W = check_array("W", W, ndim=2)
    X = check_array("X", X, ndim=2)
    check_choice("activation", activation, tuple(ACTIVATION_LIPSCHITZ))
    m, d = W.shape
    if X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} columns, expected d == {d} (the rows of W).")
    keep = _check_keep(keep, m)
    H = activate(activation, X @ W.T)  # (N, m)
    return np.abs(H.mean(1) - H[:, keep].mean(1))  # (N,)


def _check_keep(keep, m: int) -> np.ndarray:
    keep = np.asarray(keep)
    if keep.ndim != 1 or not np.issubdtype(keep.dtype, np.integer):
        raise TypeError(f"keep must be a 1-D integer index array, got dtype {keep.dtype} and shape {keep.shape}.")
    if keep.size < 1 or keep.size > m - 1:
        raise ValueError(f"keep has {keep.size} indices, must keep between 1 and m - 1 == {m - 1} neurons.")
    if keep.min() < 0 or keep.max() >= m or np.unique(keep).size != keep.size:
        raise ValueError(f"keep must hold distinct indices in [0, {m - 1}].")
    return keep


def dropout_error_mean_square(W, X, *, n_dropped: int, activation: str = "relu") -> np.ndarray:
    """Exact ``E_S |f(x) - f_S(x)|^2`` over a uniformly random kept set ``S`` of size ``m - n_dropped`` (explicit).

    ``f - f_S`` is the gap between the population mean and a without-replacement sample mean of the
    ``m`` values ``h_i = sigma(<w_i, x>)``, so

    .. math:: \\mathbb E_S |f - f_S|^2 = \\frac{s_x^2}{|S|}\\,\\frac{m - |S|}{m - 1},
              \\qquad s_x^2 = \\frac1m \\sum_i (h_i - \\bar h)^2,

    of order ``m^{-1}`` for fixed ``x``: the dropout error decays like ``m^{-1/2}``, faster than the
    ``m^{-1/d}`` of the B.14 bound. ``W`` ``(m, d)``, ``X`` ``(N, d)``; returns ``(N,)``.
    """
    W = check_array("W", W, ndim=2)
    X = check_array("X", X, ndim=2)
    check_choice("activation", activation, tuple(ACTIVATION_LIPSCHITZ))
    m, d = W.shape
    if X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} columns, expected d == {d} (the rows of W).")
    if m < 2:
        raise ValueError(f"W has {m} rows; dropout needs m >= 2.")
    n_dropped = check_int("n_dropped", n_dropped, min_value=1)
    if n_dropped > m - 1:
        raise ValueError(f"n_dropped == {n_dropped}, must be <= m - 1 == {m - 1} (keep at least one neuron).")
    H = activate(activation, X @ W.T)  # (N, m)
    s2 = H.var(axis=1)  # (N,) population variance over the m neurons
    kept = m - n_dropped
    return s2 / kept * (m - kept) / (m - 1)


def dropout_stability(W, keep, X, *, activation: str = "relu") -> tuple[np.ndarray, np.ndarray, float]:
    """Both sides of the B.14 bound on every input: ``(error (N,), bound (N,), W_1)``.

    ``W_1(mu_S, mu_{S^c})`` is exact (:func:`otlmc.transport.empirical_wasserstein` with ``p = 1``:
    an assignment when ``|S| = |S^c|``, POT's network simplex otherwise; CPU).
    ``error <= bound`` holds on every draw up to round-off.
    """
    from .transport import empirical_wasserstein

    W = check_array("W", W, ndim=2)
    m = W.shape[0]
    keep = _check_keep(keep, m)
    err = dropout_error(W, keep, X, activation=activation)  # (N,)
    mask = np.zeros(m, dtype=bool)
    mask[keep] = True
    w1 = empirical_wasserstein(W[mask], W[~mask], p=1.0)
    bound = dropout_bound(np.linalg.norm(np.asarray(X, dtype=float), axis=1), w1, n_dropped=int(m - keep.size),
                          m=m, lip=ACTIVATION_LIPSCHITZ[activation])  # (N,)
    return err, bound, w1


__all__ = [
    "RateLaw", "WEIGHT_LAWS", "cross_entropy_path_bound", "deviation_rate", "entezari_width_exponent",
    "entezari_width_log10", "finite_n_correction", "is_clean_rate", "lemma41_recursion", "lemma41_step",
    "low_dim_gain", "low_dim_minimal_widths_log10", "minimal_widths_from_constants", "minimal_widths_log10",
    "relu_jensen", "sigma_sandwich", "tightness_exponent", "tightness_rate", "two_layer_path_bound",
    "two_layer_width_exponent", "two_layer_width_log10", "wasserstein_rate", "wasserstein_upper_rate",
    # low-dimensional measures and dropout stability
    "ACTIVATION_LIPSCHITZ", "LOWRANK_CONVENTIONS", "dropout_bound", "dropout_error", "dropout_error_mean_square",
    "dropout_stability",
    "lowrank_crossover_eta_exponent", "lowrank_crossover_width", "lowrank_participation_ratio",
    "lowrank_thickness", "multiscale_exponent", "multiscale_w2", "participation_ratio",
]
