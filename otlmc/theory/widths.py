"""Depth recursions of Ferbach et al. (Section 4-5): minimal widths, Lemma 4.1, Theorem 5.3.

What is explicit and what is not (THEORY.md §2, items tagged [recon]):

- The *forms* are explicit: the minimal effective width grows like
  ``m~_l = (T_l / eps)^{m~_{l-1}}`` (Lemma 5.1 / Theorem 5.2), like ``(T_l / eps)^k`` for
  approximately ``k``-dimensional weights (Theorem 5.4, with gain ``C_2 = m~ / k``), and the
  matching error of one layer cannot decay faster than ``m^{-2/m_{l-1}}`` (Theorem 5.3).
  The constants ``T_l`` and the constant of Theorem 5.3 are **not** known: every function
  here takes them as arguments and none has a default value for them.
- Lemma 4.1's recursion ``E_{l+1} <= 2 C_2 E_l + 2 C_1 m~_l Ebar_l`` is evaluated with constants
  *measured* on sampled networks (:func:`measure_layer_constants`). With the reference
  ``x^_l = H_l^A`` (A's own activations, effective width ``m~_l = m_l``) and the definitions
  below, the recursion is a deterministic inequality that holds on every draw:

  .. math::

     Z_{l+1}(M_t) - Z^A_{l+1} = W^t (h^t_l - h^A_l) + t\\,[\\Delta W, \\Delta b]\\,(h^A_l, 1),

  so with a 1-Lipschitz activation, ``|a + b|^2 <= 2|a|^2 + 2|b|^2``, the spectral norm for the
  first term and Cauchy-Schwarz row by row for the second,
  ``E_{l+1} <= 2 C_2 E_l + 2 C_1 m_l Ebar_l`` with

  - ``E_l = max_t (1/m_l) E_x |H_l(M_t) - H_l^A|^2`` (``t = 1`` is the aligned B);
  - ``C_1 = |[W^A - W^B~, b^A - b^B~]|_F^2 / m_{l+1}``: the weight-matching cost of layer
    ``l + 1``, i.e. ``W_2^2`` between the row measures (Birkhoff);
  - ``C_2 = max(|W^A|_2^2, |W^B|_2^2) m_l / m_{l+1}`` (spectral gain; by convexity of the norm it
    bounds the gain of every ``W^t`` on the path);
  - ``Ebar_l = (E_x |h^A_l|^2 + 1) / m_l`` (the ``+1`` is the bias coordinate).

  The expectation-level gain of THEORY.md, ``E|W z|^2/m_{l+1} = C_2 E|z|^2/m_l`` for ``z``
  independent of ``W``, is ``|W|_F^2 / m_{l+1}`` (``= 1`` in expectation for ``N(0, 1/m_l)``
  entries); it is returned as ``C2_isotropic`` but gives no guaranteed bound.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_array, check_int, check_real, check_t_grid
from .backend import to_numpy
from .barrier import t_grid
from .networks import MLP, check_same_architecture, forward_path
from .transport import match_rows

LOG10_MAX = np.log10(np.finfo(np.float64).max)  # ~308.25


def _per_layer(name: str, value, n_layers: int, *, strict_min: bool = True) -> np.ndarray:
    """A positive scalar broadcast to ``n_layers`` values, or a sequence of exactly that length."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.full(n_layers, check_real(name, value, min_value=0.0, strict_min=strict_min))
    arr = check_array(name, value, ndim=1)
    if arr.shape[0] != n_layers:
        raise ValueError(f"{name} has {arr.shape[0]} values, expected one per layer ({n_layers}).")
    bad = arr <= 0 if strict_min else arr < 0
    if bad.any():
        what = "> 0" if strict_min else ">= 0"
        raise ValueError(f"{name}[{int(np.argmax(bad))}] == {arr[bad][0]}, every entry must be {what}.")
    return arr


# --------------------------------------------------------------------------------------------
# Lemma 5.1 / Theorem 5.2 and Theorem 5.4: minimal effective widths
# --------------------------------------------------------------------------------------------
def _layer_constants(T, eps: float, depth: int | None) -> np.ndarray:
    """``T_l`` for ``l = 1..L`` from a scalar (with ``depth``) or a sequence, each ``> eps``."""
    if isinstance(T, numbers.Real) and not isinstance(T, bool):
        if depth is None:
            raise ValueError("T is a scalar, so depth (the number of hidden layers L >= 1) is needed.")
        depth = check_int("depth", depth, min_value=1)
    else:
        depth = len(check_array("T", T, ndim=1)) if depth is None else check_int("depth", depth, min_value=1)
    T = _per_layer("T", T, depth)
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
    c = _per_layer("prefactors", prefactors, depth)
    g = _per_layer("gains", gains, depth)
    eb = _per_layer("second_moments", second_moments, depth)
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


# --------------------------------------------------------------------------------------------
# Theorem 5.3: lower-bound rate of one layer's matching error
# --------------------------------------------------------------------------------------------
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


def sigma_matching_cost(WA, WB, Sigma) -> tuple[float, np.ndarray]:
    """Exact ``min_p (1/m) E_x |W^A x - W^B[p] x|^2 = min_p (1/m) tr(Delta_p Sigma Delta_p^T)``.

    ``Sigma = E[x x^T]`` (uncentered, ``(d, d)``, symmetric positive semi-definite); ``WA``,
    ``WB`` are ``(m, d)``. Since ``tr(Delta Sigma Delta^T) = |Delta Sigma^{1/2}|_F^2``, the
    minimum over permutations is one exact assignment on the rows of ``W Sigma^{1/2}``
    (covariance-weighted matching, Ferbach et al. Lemma D.1). The returned value is recomputed
    with ``Sigma`` itself (not the square root). Returns ``(value, perm)`` with A's row ``i``
    matched to B's row ``perm[i]``.
    """
    WA = check_array("WA", WA, ndim=2)
    WB = check_array("WB", WB, ndim=2)
    Sigma = check_array("Sigma", Sigma, ndim=2)
    if WA.shape != WB.shape:
        raise ValueError(f"WA and WB must have the same shape, got {WA.shape} and {WB.shape}.")
    d = WA.shape[1]
    if Sigma.shape != (d, d):
        raise ValueError(f"Sigma has shape {Sigma.shape}, expected ({d}, {d}).")
    if np.abs(Sigma - Sigma.T).max() > 1e-10 * max(1.0, np.abs(Sigma).max()):
        raise ValueError("Sigma must be symmetric.")
    w, V = np.linalg.eigh(Sigma)
    if w.min() < -1e-10 * max(1.0, w.max()):
        raise ValueError(f"Sigma must be positive semi-definite; its smallest eigenvalue is {w.min():.3g}.")
    root = (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T  # (d, d)
    perm = match_rows(WA @ root, WB @ root)
    delta = WA - WB[perm]  # (m, d)
    value = float(np.einsum("ij,jk,ik->", delta, Sigma, delta) / WA.shape[0])
    return max(value, 0.0), perm


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


# --------------------------------------------------------------------------------------------
# Lemma 4.1: the recursion and its measured constants
# --------------------------------------------------------------------------------------------
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
    C1 = _per_layer("C1", C1, n, strict_min=False)
    C2 = _per_layer("C2", C2, n, strict_min=False)
    mt = _per_layer("m_tilde", m_tilde, n)
    eb = _per_layer("Ebar", Ebar, n, strict_min=False)
    out = np.empty(n)
    E = E0
    for l in range(n):
        E = 2.0 * C2[l] * E + 2.0 * C1[l] * mt[l] * eb[l]
        out[l] = E
    return out


def measure_layer_constants(net_a: MLP, net_b: MLP, X, *, ts=None) -> dict:
    """Measure Property 1's ``E_l`` and Lemma 4.1's constants on one aligned pair.

    ``net_b`` must already be aligned to ``net_a`` (e.g. ``otlmc.matching.align``): ``C_1`` is
    the cost of the given pairing. Definitions are in the module docstring; ``x^_l = H_l^A``.
    All returned arrays run over the layer steps ``l = 0..L-1`` (from layer ``l`` to ``l + 1``)
    except ``E``/``E_endpoint`` (hidden layers ``1..L``).

    Returns
    -------
    dict with

    - ``E`` ``(L,)``: ``max_t (1/m_l) E_x |H_l(M_t) - H_l^A|^2`` on the t-grid;
    - ``E_endpoint`` ``(L,)``: the same at ``t = 1`` (aligned B vs A);
    - ``C1`` ``(L,)``: ``|[Delta W, Delta b]|_F^2 / m_{l+1}`` (``W_2^2`` of the matched rows);
    - ``C2`` ``(L,)``: spectral gain ``max(|W^A|_2^2, |W^B|_2^2) m_l / m_{l+1}``;
    - ``C2_isotropic`` ``(L,)``: ``max(|W^A|_F^2, |W^B|_F^2) / m_{l+1}`` (expectation level);
    - ``Ebar`` ``(L,)``: ``(E_x |h^A_l|^2 + 1) / m_l`` with ``h^A_0 = x``;
    - ``mismatch`` ``(L,)``: the exact ``(1/m_{l+1}) E_x |[Delta W, Delta b](h^A_l, 1)|^2``
      (``<= C1 m_l Ebar`` by Cauchy-Schwarz);
    - ``m`` ``(L + 1,)``: ``m_0..m_L``;
    - ``bound_one_step`` ``(L,)``: the recursion fed with the measured ``E_{l}`` (``E_0 = 0``);
    - ``bound_recursive`` ``(L,)``: the recursion fed with its own previous value;
    - ``bound_sharp`` ``(L,)``: ``2 C2 E_l + 2 mismatch_l`` fed with the measured ``E_l`` (the
      same deterministic argument without the Cauchy-Schwarz step; ``<= bound_one_step``);
    - ``estimate_isotropic`` ``(L,)``: ``2 C2_isotropic E + 2 mismatch`` iterated on itself -- the
      expectation-level recursion (THEORY.md's ``C_2``); an estimate, not a guaranteed bound.
    """
    check_same_architecture(net_a, net_b)
    ts = t_grid() if ts is None else check_t_grid(ts)
    if ts[0] != 0.0 or ts[-1] != 1.0:
        raise ValueError("ts must start at 0 (network A) and end at 1 (aligned B).")
    X = check_array("X", to_numpy(X), ndim=2)
    _, hidden = forward_path(net_a, net_b, X, ts, return_features=True)
    L = net_a.n_hidden
    m = np.array(net_a.widths[: L + 1])
    E, E_end, C1, C2, C2_iso, Ebar, mismatch = (np.empty(L) for _ in range(7))
    h_prev = X  # (N, m_0): A's input to layer 1
    for l in range(L):
        H = to_numpy(hidden[l])  # (T, N, m_{l+1})
        gap = ((H - H[0][None]) ** 2).mean(axis=(1, 2))  # (T,)
        E[l] = gap.max()
        E_end[l] = gap[-1]
        Wa, Wb = to_numpy(net_a.weights[l]), to_numpy(net_b.weights[l])  # (m_{l+1}, m_l)
        ba, bb = to_numpy(net_a.biases[l]), to_numpy(net_b.biases[l])
        dW = np.concatenate([Wa - Wb, (ba - bb)[:, None]], axis=1)  # (m_{l+1}, m_l + 1)
        C1[l] = (dW**2).sum() / m[l + 1]
        C2[l] = max(np.linalg.norm(Wa, 2), np.linalg.norm(Wb, 2)) ** 2 * m[l] / m[l + 1]
        C2_iso[l] = max((Wa**2).sum(), (Wb**2).sum()) / m[l + 1]
        Ebar[l] = ((h_prev**2).sum(1).mean() + 1.0) / m[l]
        h_aug = np.concatenate([h_prev, np.ones((len(h_prev), 1))], axis=1)  # (N, m_l + 1)
        mismatch[l] = ((h_aug @ dW.T) ** 2).sum(1).mean() / m[l + 1]
        h_prev = H[0]  # (N, m_{l+1})
    E_prev = np.concatenate([[0.0], E[:-1]])
    return {
        "E": E, "E_endpoint": E_end, "C1": C1, "C2": C2, "C2_isotropic": C2_iso, "Ebar": Ebar,
        "mismatch": mismatch, "m": m,
        "bound_one_step": lemma41_step(E_prev, C1, C2, m[:L], Ebar),
        "bound_recursive": lemma41_recursion(C1, C2, m[:L], Ebar),
        "bound_sharp": lemma41_step(E_prev, mismatch, C2, 1.0, 1.0),
        "estimate_isotropic": lemma41_recursion(mismatch, C2_iso, np.ones(L), np.ones(L)),
    }


# --------------------------------------------------------------------------------------------
# Inverting a measured curve: the width needed for a target
# --------------------------------------------------------------------------------------------
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
