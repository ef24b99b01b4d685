"""Deterministic inequalities: both sides explicit, no constant, true on every draw (docs/theory.md §6).

Each function returns both sides so that a caller (or a test) can check ``lhs <= rhs`` and see the
slack: the cross-entropy path bound (§6.5), the ``Sigma`` sandwich of Theorem 5.3 (§6.6), Jensen for
ReLU (§6.7), the dropout-stability bound of Appendix B.14 and the one-step form of Lemma 4.1's
recursion. The functions take arrays and constants, never a network: the sides that need a
network evaluated (the two-layer path bound, Lemma 4.1's measured constants, the dropout error)
are measured in :mod:`otlmc.measure`. Numpy only.

Conventions: the path is ``theta(t) = (1 - t) theta_A + t theta_B`` (docs/theory.md §0).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_per_layer, check_real


def _cross_entropy(Z, y) -> np.ndarray:
    """Per-row ``logsumexp(z) - z_y`` (stable)."""
    zmax = Z.max(1, keepdims=True)  # (N, 1)
    lse = zmax[:, 0] + np.log(np.exp(Z - zmax).sum(1))  # (N,)
    return lse - Z[np.arange(len(Z)), y]


def cross_entropy_path_bound(logits_t, logits_a, logits_b, labels, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of the cross-entropy bound (docs/theory.md §6.5), per example.

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
    """The three terms of docs/theory.md §6.6 for a weight difference ``delta`` ``(m, d)`` and ``Sigma`` ``(d, d)``.

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
    """Both sides of Jensen for ReLU (docs/theory.md §6.7), elementwise:
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


def lemma41_step(E_prev, C1, C2, m_tilde, Ebar) -> np.ndarray:
    """One step of Lemma 4.1: ``E_{l+1} <= 2 C_2 E_l + 2 C_1 m~_l Ebar_l`` (elementwise)."""
    E_prev = check_array("E_prev", E_prev)
    parts = [E_prev]
    for name, v in (("C1", C1), ("C2", C2), ("m_tilde", m_tilde), ("Ebar", Ebar)):
        v = check_array(name, v)
        if (v < 0).any():
            raise ValueError(f"{name} contains {v.min()}; it must be >= 0.")
        parts.append(v)
    if (E_prev < 0).any():
        raise ValueError(f"E_prev contains {E_prev.min()}; it must be >= 0.")
    E, c1, c2, mt, eb = np.broadcast_arrays(*parts)
    return 2.0 * c2 * E + 2.0 * c1 * mt * eb


def lemma41_recursion(C1, C2, m_tilde, Ebar, *, E0: float = 0.0) -> np.ndarray:
    """Lemma 4.1 iterated from ``E_0`` (``0`` at the input, shared by all networks).

    ``C1[l], C2[l], m_tilde[l], Ebar[l]`` are the constants of the step from layer ``l`` to
    ``l + 1`` (``l = 0..L-1``; ``m_tilde[0] = m_0`` and ``Ebar[0]`` belong to the input).
    Returns ``(L,)``: ``E_1, ..., E_L``, each fed with the previous *bound*.
    """
    E0 = check_real("E0", E0, min_value=0.0)
    C1 = check_array("C1", C1, ndim=1)
    n = C1.shape[0]
    if n < 1:
        raise ValueError("C1 is empty; give one constant per layer step (L >= 1).")
    C1 = check_per_layer("C1", C1, n, strict_min=False)
    C2 = check_per_layer("C2", C2, n, strict_min=False)
    mt = check_per_layer("m_tilde", m_tilde, n)
    eb = check_per_layer("Ebar", Ebar, n, strict_min=False)
    out = np.empty(n)
    E = E0
    for l in range(n):
        E = 2.0 * C2[l] * E + 2.0 * C1[l] * mt[l] * eb[l]
        out[l] = E
    return out


__all__ = [
    "cross_entropy_path_bound", "dropout_bound", "lemma41_recursion", "lemma41_step", "relu_jensen", "sigma_sandwich",
]
