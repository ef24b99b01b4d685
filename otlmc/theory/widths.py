"""Width laws: how wide a network must be for a target gap ``eps`` (explicit forms, unknown constants).

- Two layers: Ferbach et al.'s hidden width ``(T / eps)^{m0}`` (Lemma 5.1 with ``L = 1``) against
  Entezari et al.'s ``(T / eps)^{2 m0 + 4}`` (their Theorem 3.1);
- depth: Lemma 5.1 / Theorem 5.2's tower ``m~_l = (T_l / eps)^{m~_{l-1}}`` and Theorem 5.4's
  ``(T_l / eps)^k`` for approximately ``k``-dimensional weights, with ``T_l`` supplied or built from
  measured constants of the Lemma 4.1 recursion (:func:`minimal_widths_from_constants`);
- inverting a measured, decreasing curve: the width at which it reaches ``eps``
  (:func:`required_width`).

The constants ``T_l`` are **not** known (docs/theory.md §2): every function takes them as
arguments and none has a default for them. Widths are returned as ``log10`` where the tower
overflows (``inf`` is "more than 10^308", never NaN). Numpy only.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_array, check_int, check_per_layer, check_real


LOG10_MAX = np.log10(np.finfo(np.float64).max)  # ~308.25


def _layer_constants(T, eps: float, depth: int | None) -> np.ndarray:
    """``T_l`` for ``l = 1..L`` from a scalar (with ``depth``) or a sequence, each ``> eps``."""
    if isinstance(T, numbers.Real) and not isinstance(T, bool):
        if depth is None:
            raise ValueError("T is a scalar, so depth (the number of hidden layers L >= 1) is needed.")
        depth = check_int("depth", depth, min_value=1)
    else:
        depth = len(check_array("T", T, ndim=1)) if depth is None else check_int("depth", depth, min_value=1)
    T = check_per_layer("T", T, depth)
    if (T <= eps).any():
        l = int(np.argmax(T <= eps))
        raise ValueError(f"eps == {eps} must be < T_l for every layer; T[{l}] == {T[l]}.")
    return T


def minimal_widths_log10(eps: float, m0: int, T, depth: int | None = None) -> np.ndarray:
    """``log10`` of the minimal effective widths ``m~_0, ..., m~_L`` of Lemma 5.1.

    .. math:: \\tilde m_0 = m_0, \\qquad \\tilde m_l = (T_l / \\varepsilon)^{\\tilde m_{l-1}}

    (Ferbach et al., Lemma 5.1 / Theorem 5.2; the paper's ``O~`` hides log factors). Only the
    form is explicit: ``T_l`` is an unknown constant and must be supplied. The values are
    returned as ``log10`` because the recursion is a tower of exponentials (``m0 = 5``,
    ``T/eps = 10`` gives ``m~_1 = 10^5`` and ``m~_2 = 10^(10^5)``). An entry beyond the float
    range is ``inf`` -- explicitly "more than 10^308", never NaN.

    Parameters
    ----------
    eps : target loss gap, ``0 < eps < min_l T_l`` (otherwise the bound asks for width <= 1).
    m0 : input dimension (``m~_0``), ``>= 1``.
    T : ``T_l`` for ``l = 1..L``: a positive scalar (same for every layer, needs ``depth``) or
        a sequence of length ``L``.
    depth : number of hidden layers ``L`` when ``T`` is a scalar.
    """
    eps = check_real("eps", eps, min_value=0.0, strict_min=True)
    m0 = check_int("m0", m0, min_value=1)
    T = _layer_constants(T, eps, depth)
    depth = T.size
    out = np.empty(depth + 1)
    out[0] = np.log10(m0)
    for l in range(1, depth + 1):
        if out[l - 1] > LOG10_MAX:
            out[l] = np.inf
            continue
        with np.errstate(over="ignore"):
            out[l] = 10.0 ** out[l - 1] * np.log10(T[l - 1] / eps)
    return out


def minimal_widths_from_constants(
    eps: float, m0: int, *, prefactors, gains, second_moments
) -> tuple[np.ndarray, np.ndarray]:
    """Lemma 5.1's widths with ``T_l`` built from measured constants of the Lemma 4.1 recursion.

    Unrolling ``E_{l+1} = 2 C_{2,l} E_l + 2 C_{1,l} m~_{l-1} Ebar_{l-1}`` from ``E_0 = 0`` gives
    ``E_L = sum_l (prod_{j >= l} 2 C_{2,j}) 2 C_{1,l} m~_{l-1} Ebar_{l-1}``. Giving each of the
    ``L`` terms the budget ``eps^2 / L`` (a choice made here, not in the paper) and modelling the
    matching cost by the empirical ``W_2^2`` rate ``C_{1,l} = c_l m~_l^{-2/m~_{l-1}}``
    (``c_l`` measured, e.g. by :func:`otlmc.fit.fit_power_law`) yields the Lemma 5.1 form

    .. math::

       \\tilde m_l = (T_l/\\varepsilon)^{\\tilde m_{l-1}}, \\qquad
       T_l^2 = 2 L\\, c_l\\, \\tilde m_{l-1} \\bar E_{l-1} \\prod_{j=l}^{L-1} 2 C_{2,j},

    with every constant explicit. The rate model is the asymptotic one (valid for
    ``m~_{l-1} >= 5``); this is a plug-in estimate, not a guarantee.

    Parameters
    ----------
    eps : target for ``sqrt(E_L)`` (root mean square activation gap at the last hidden layer).
    m0 : input dimension ``m~_0``.
    prefactors : ``c_l`` for ``l = 1..L`` (scalar or sequence), ``> 0``.
    gains : ``C_{2,j}`` of the steps ``j = 0..L-1`` (layer ``j`` to ``j + 1``), ``> 0``; ``C_{2,0}``
        never enters because ``E_0 = 0`` (all networks share the input).
    second_moments : ``Ebar_{l-1}`` for ``l = 1..L`` (per-neuron second moment of layer ``l``'s input), ``> 0``.

    Returns
    -------
    log10_widths : ``(L + 1,)`` ``log10 m~_l`` (``inf`` beyond the float range).
    T : ``(L,)`` the ``T_l`` used (``nan``-free; ``inf`` once a width is beyond the float range).
    """
    eps = check_real("eps", eps, min_value=0.0, strict_min=True)
    m0 = check_int("m0", m0, min_value=1)
    if isinstance(prefactors, numbers.Real) and not isinstance(prefactors, bool):
        raise ValueError("prefactors must be a sequence with one c_l per hidden layer (its length is L).")
    depth = len(check_array("prefactors", prefactors, ndim=1))
    if depth < 1:
        raise ValueError("prefactors is empty; give one c_l per hidden layer (L >= 1).")
    c = check_per_layer("prefactors", prefactors, depth)
    g = check_per_layer("gains", gains, depth)
    eb = check_per_layer("second_moments", second_moments, depth)
    log_w = np.empty(depth + 1)
    log_w[0] = np.log10(m0)
    T = np.empty(depth)
    for l in range(1, depth + 1):
        tail = float(np.prod(2.0 * g[l:depth]))  # prod_{j=l}^{L-1} 2 C_{2,j}; empty for l = L
        if not np.isfinite(log_w[l - 1]) or log_w[l - 1] > LOG10_MAX:
            T[l - 1], log_w[l] = np.inf, np.inf
            continue
        m_prev = 10.0 ** log_w[l - 1]
        T[l - 1] = np.sqrt(2.0 * depth * c[l - 1] * m_prev * eb[l - 1] * tail)
        with np.errstate(over="ignore"):
            log_w[l] = max(0.0, m_prev * np.log10(T[l - 1] / eps))  # a layer has >= 1 neuron
    return log_w, T


def low_dim_minimal_widths_log10(eps: float, k: int, T, depth: int | None = None) -> np.ndarray:
    """``log10 m~_l`` of Theorem 5.4 (approximately ``k``-dimensional weights, Assumption 8).

    .. math:: \\tilde m_l = (T_l / \\varepsilon)^{k}, \\quad l = 1..L,

    the same exponent ``k`` at every layer instead of the tower of Lemma 5.1. ``T_l`` is an
    unknown constant (it contains the gain ``C_2 = m~/k``, see :func:`low_dim_gain`) and must be
    supplied. Returns ``(L,)`` values for ``l = 1..L``.
    """
    eps = check_real("eps", eps, min_value=0.0, strict_min=True)
    k = check_int("k", k, min_value=1)
    return k * np.log10(_layer_constants(T, eps, depth) / eps)


def low_dim_gain(m_tilde: float, k: int) -> float:
    """Gain constant of Theorem 5.4 / Lemma B.20: ``C_2 = m~ / k`` (explicit)."""
    m_tilde = check_real("m_tilde", m_tilde, min_value=0.0, strict_min=True)
    k = check_int("k", k, min_value=1)
    return m_tilde / k


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


def required_width(widths, values, eps) -> np.ndarray:
    """Width at which a measured, decreasing curve first reaches ``eps`` (log-log interpolation).

    ``widths`` ``(k,)`` increasing, ``values`` ``(k,)`` positive (e.g. the mean barrier or output
    deviation per width). For each target ``eps`` the first index ``i`` with
    ``values[i] <= eps`` is found and ``log width`` is interpolated linearly in ``log value``
    between ``i - 1`` and ``i``. Targets outside ``[min(values), values[0]]`` are refused (they
    would need an extrapolation; use a fitted power law for that and say so).
    """
    widths = check_array("widths", widths, ndim=1)
    values = check_array("values", values, ndim=1)
    eps = np.atleast_1d(check_array("eps", eps))
    if widths.shape != values.shape or widths.size < 2:
        raise ValueError(f"widths and values must have the same length >= 2, got {widths.size} and {values.size}.")
    if (np.diff(widths) <= 0).any() or widths[0] <= 0:
        raise ValueError("widths must be positive and strictly increasing.")
    if (values <= 0).any():
        raise ValueError(f"values must be > 0 for a log-log inversion, got minimum {values.min()}.")
    lo, hi = values.min(), values[0]
    bad = (eps < lo) | (eps > hi)
    if bad.any():
        raise ValueError(f"eps == {eps[bad][0]} is outside the measured range [{lo:.6g}, {hi:.6g}] "
                         f"(min over widths, value at the smallest width); no extrapolation is done.")
    lw, lv = np.log(widths), np.log(values)
    out = np.empty(eps.shape)
    for j, e in enumerate(eps):
        i = int(np.argmax(values <= e))
        if i == 0:
            out[j] = widths[0]
            continue
        frac = (np.log(e) - lv[i - 1]) / (lv[i] - lv[i - 1])
        out[j] = np.exp(lw[i - 1] + frac * (lw[i] - lw[i - 1]))
    return out


__all__ = [
    "LOG10_MAX", "entezari_width_exponent", "entezari_width_log10", "low_dim_gain", "low_dim_minimal_widths_log10",
    "minimal_widths_from_constants", "minimal_widths_log10", "required_width", "two_layer_width_exponent",
    "two_layer_width_log10",
]
