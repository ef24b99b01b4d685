"""Measured sides of the theory: quantities that need a network (or its activations) evaluated.

The theory modules (:mod:`otlmc.theory`) take arrays and constants only. What needs a forward
pass, an activation or an exact assignment lives here, one function per measured quantity, each
returning what the matching inequality or rate of :mod:`otlmc.theory` is checked against:

- :func:`two_layer_path_bound`: both sides of the two-layer path bound (docs/theory.md §6.4) for two MLPs;
- :func:`measure_layer_constants`: Property 1's ``E_l`` and Lemma 4.1's constants on an aligned
  pair, with the recursion (:func:`otlmc.theory.lemma41_step`) evaluated on them;
- :func:`lemma41_heldout`: the recursion with constants measured on one input sample against
  ``E_l`` measured on an independent held-out sample (a check that can fail);
- :func:`sigma_matching_cost`: the exact covariance-weighted matching error of Theorem 5.3;
- :func:`dropout_error`, :func:`dropout_error_mean_square`, :func:`dropout_stability`: the dropout
  error of Appendix B.14's mean-output network and its bound (:func:`otlmc.theory.dropout_bound`).

Lemma 4.1 with measured constants (docs/theory.md §2, items tagged [recon]): with the reference
``x^_l = H_l^A`` (A's own activations, effective width ``m~_l = m_l``) the recursion
``E_{l+1} <= 2 C_2 E_l + 2 C_1 m~_l Ebar_l`` is a deterministic inequality on every draw:

.. math::

   Z_{l+1}(M_t) - Z^A_{l+1} = W^t (h^t_l - h^A_l) + t\\,[\\Delta W, \\Delta b]\\,(h^A_l, 1),

so with a 1-Lipschitz activation, ``|a + b|^2 <= 2|a|^2 + 2|b|^2``, the spectral norm for the
first term and Cauchy-Schwarz row by row for the second, ``E_{l+1} <= 2 C_2 E_l + 2 C_1 m_l Ebar_l`` with

- ``E_l = max_t (1/m_l) E_x |H_l(M_t) - H_l^A|^2`` (``t = 1`` is the aligned B);
- ``C_1 = |[W^A - W^B~, b^A - b^B~]|_F^2 / m_{l+1}``: the weight-matching cost of layer
  ``l + 1``, i.e. ``W_2^2`` between the row measures (Birkhoff);
- ``C_2 = max(|W^A|_2^2, |W^B|_2^2) m_l / m_{l+1}`` (spectral gain; by convexity of the norm it
  bounds the gain of every ``W^t`` on the path);
- ``Ebar_l = (E_x |h^A_l|^2 + 1) / m_l`` (the ``+1`` is the bias coordinate).

The expectation-level gain of docs/theory.md, ``E|W z|^2/m_{l+1} = C_2 E|z|^2/m_l`` for ``z``
independent of ``W``, is ``|W|_F^2 / m_{l+1}`` (``= 1`` in expectation for ``N(0, 1/m_l)``
entries); it is returned as ``C2_isotropic`` but gives no guaranteed bound.

Assumption 4 measured on the inputs (docs/theory.md §2.3, held-out version): the path gain

.. math::

   g_l(t) = \\frac{E_x |W^t_{l+1} (h^t_l - h^A_l)|^2 / m_{l+1}}{E_x |h^t_l - h^A_l|^2 / m_l},
   \\qquad C_2^{gain} = \\max_{t > 0} g_l(t)

(``0`` where ``h^t_l = h^A_l`` for every ``t``, e.g. at the input). On the sample it is measured on,
``E_{l+1} <= 2 C_2^{gain} E_l + 2 C_1 m_l Ebar_l`` again holds by construction; on another sample
it does not have to.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._validation import check_array, check_choice, check_int, check_real, check_t_grid
from .activations import ACTIVATIONS, activate
from .backend import to_numpy
from .barrier import t_grid
from .networks import MLP, check_same_architecture, forward_path
from .theory.inequalities import dropout_bound, lemma41_recursion, lemma41_step
from .transport import empirical_wasserstein, match_rows


def _ts(t) -> tuple[np.ndarray, bool]:
    if isinstance(t, numbers.Real) and not isinstance(t, bool):
        t = check_real("t", t, min_value=0.0, max_value=1.0)
        return np.array([t]), True
    return check_t_grid(t), False


def check_two_layer_pair(net_a: MLP, net_b: MLP, X, what: str) -> np.ndarray:
    """``X`` as a checked ``(N, m_0)`` array for two same-architecture one-hidden-layer networks.

    ``what`` names the caller in the error (``"the two-layer path bound"``).
    """
    check_same_architecture(net_a, net_b)
    if net_a.n_hidden != 1:
        raise ValueError(f"{what} needs one hidden layer, got {net_a.n_hidden}.")
    X = check_array("X", to_numpy(X), ndim=2)
    if X.shape[1] != net_a.widths[0]:
        raise ValueError(f"X has {X.shape[1]} columns, the networks take {net_a.widths[0]} inputs.")
    return X


def two_layer_path_bound(net_a: MLP, net_b: MLP, X, t) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of the two-layer path bound (docs/theory.md §6.4), per input, output and ``t``.

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
    X = check_two_layer_pair(net_a, net_b, X, "the two-layer path bound")
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
      expectation-level recursion (docs/theory.md's ``C_2``); an estimate, not a guaranteed bound;
    - ``C2_gain`` ``(L,)``: Assumption 4's gain measured on ``X`` along the path (module docstring);
    - ``bound_gain`` ``(L,)``: the recursion with ``C2_gain`` fed its own bound (holds on ``X`` by
      construction; :func:`lemma41_heldout` evaluates it on other inputs).
    """
    check_same_architecture(net_a, net_b)
    ts = t_grid() if ts is None else check_t_grid(ts)
    if ts[0] != 0.0 or ts[-1] != 1.0:
        raise ValueError("ts must start at 0 (network A) and end at 1 (aligned B).")
    X = check_array("X", to_numpy(X), ndim=2)
    _, hidden = forward_path(net_a, net_b, X, ts, return_features=True)
    L = net_a.n_hidden
    m = np.array(net_a.widths[: L + 1])
    E, E_end, C1, C2, C2_iso, Ebar, mismatch, gain = (np.empty(L) for _ in range(8))
    h_prev = X  # (N, m_0): A's input to layer 1
    H_prev = np.broadcast_to(X, (len(ts), *X.shape))  # (T, N, m_0): every M_t sees x itself
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
        gain[l] = _path_gain(H_prev - H_prev[0][None], Wa, Wb, ts)
        h_prev, H_prev = H[0], H  # (N, m_{l+1}), (T, N, m_{l+1})
    E_prev = np.concatenate([[0.0], E[:-1]])
    return {
        "E": E, "E_endpoint": E_end, "C1": C1, "C2": C2, "C2_isotropic": C2_iso, "Ebar": Ebar,
        "mismatch": mismatch, "m": m,
        "bound_one_step": lemma41_step(E_prev, C1, C2, m[:L], Ebar),
        "bound_recursive": lemma41_recursion(C1, C2, m[:L], Ebar),
        "bound_sharp": lemma41_step(E_prev, mismatch, C2, 1.0, 1.0),
        "estimate_isotropic": lemma41_recursion(mismatch, C2_iso, np.ones(L), np.ones(L)),
        "C2_gain": gain, "bound_gain": lemma41_recursion(C1, gain, m[:L], Ebar),
    }


def _path_gain(Z, Wa, Wb, ts) -> float:
    """``max_{t > 0} (|Z_t W^t^T|^2 / m_out) / (|Z_t|^2 / m_in)`` over the t-grid (``0`` if ``Z = 0``).

    ``Z`` ``(T, N, m_in)``: ``h^t - h^A`` of the layer input; ``Wa``, ``Wb`` ``(m_out, m_in)``.
    """
    m_out, m_in = Wa.shape
    best = 0.0
    for k, s in enumerate(ts):
        den = (Z[k] ** 2).sum() / m_in
        if den > 0:
            Wt = (1 - s) * Wa + s * Wb  # (m_out, m_in)
            best = max(best, float(((Z[k] @ Wt.T) ** 2).sum() / m_out / den))
    return best


def lemma41_heldout(net_a: MLP, net_b: MLP, X_fit, X_test, *, ts=None) -> dict:
    """Lemma 4.1 with constants measured on ``X_fit`` against ``E_l`` measured on ``X_test``.

    The constants of the recursion -- ``C_1`` (weights only), Assumption 4's path gain
    ``C2_gain`` and ``Ebar`` -- come from :func:`measure_layer_constants` on ``X_fit``; the
    recursion fed its own bound (:func:`otlmc.theory.lemma41_recursion`) is compared with
    Property 1's ``E_l`` measured on ``X_test``. With ``X_test`` an independent sample of the same
    law this is the lemma as the paper states it (constants are properties of the input law,
    estimated here at ``len(X_fit)`` inputs); it holds by construction only when the two samples
    coincide. ``net_b`` must already be aligned to ``net_a``. ``X_fit`` ``(N, m_0)``, ``X_test``
    ``(N', m_0)``.

    Returns
    -------
    dict of ``(L,)`` arrays: ``E`` (on ``X_test``), ``bound`` (constants from ``X_fit``),
    ``bound_sharp`` (the same recursion with the exact mismatch term of ``X_fit`` in place of
    ``C_1 m_l Ebar_l``: no Cauchy-Schwarz step, a diagnostic of how much sampling error the
    held-out check could tolerate, not the lemma),
    ``E_fit`` and ``bound_fit`` (both on ``X_fit``: the in-sample inequality, true by
    construction), ``C1``, ``C2_gain_fit``, ``C2_gain_test``, ``Ebar_fit``, ``Ebar_test`` (the
    input-dependent constants on both samples: where the held-out check fails, their ratio is the
    measured cause).
    """
    fit = measure_layer_constants(net_a, net_b, X_fit, ts=ts)
    test = measure_layer_constants(net_a, net_b, X_test, ts=ts)
    L = len(fit["E"])
    sharp = lemma41_recursion(fit["mismatch"], fit["C2_gain"], np.ones(L), np.ones(L))
    return {"E": test["E"], "bound": fit["bound_gain"], "bound_sharp": sharp, "E_fit": fit["E"], "bound_fit": fit["bound_gain"],
            "C1": fit["C1"], "C2_gain_fit": fit["C2_gain"], "C2_gain_test": test["C2_gain"],
            "Ebar_fit": fit["Ebar"], "Ebar_test": test["Ebar"]}


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


def _check_two_layer(W, X, activation: str):
    """Checked ``W`` (m, d), ``X`` (N, d) and activation name of the two-layer network of B.14."""
    W = check_array("W", W, ndim=2)
    X = check_array("X", X, ndim=2)
    check_choice("activation", activation, ACTIVATIONS)
    d = W.shape[1]
    if X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} columns, expected d == {d} (the rows of W).")
    return W, X


def dropout_error(W, keep, X, *, activation: str = "relu") -> np.ndarray:
    """``|f(x) - f_S(x)|`` per input for the mean-output two-layer network of Appendix B.14.

    ``W`` ``(m, d)`` rows ``w_i``; ``keep`` the kept indices ``S`` (unique, ``1 <= |S| <= m - 1``);
    ``X`` ``(N, d)``. ``f(x) = (1/m) sum_i sigma(<w_i, x>)``, ``f_S(x) = (1/|S|) sum_{i in S} sigma(<w_i, x>)``
    (the kept output weights rescaled by ``m/|S|``). Returns ``(N,)``.
    """
    W, X = _check_two_layer(W, X, activation)
    m = W.shape[0]
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
    W, X = _check_two_layer(W, X, activation)
    m = W.shape[0]
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
    W = check_array("W", W, ndim=2)
    m = W.shape[0]
    keep = _check_keep(keep, m)
    err = dropout_error(W, keep, X, activation=activation)  # (N,)
    mask = np.zeros(m, dtype=bool)
    mask[keep] = True
    w1 = empirical_wasserstein(W[mask], W[~mask], p=1.0)
    bound = dropout_bound(np.linalg.norm(check_array("X", X, ndim=2), axis=1), w1, n_dropped=int(m - keep.size),
                          m=m, lip=ACTIVATIONS[activation].lipschitz)  # (N,)
    return err, bound, w1


__all__ = [
    "check_two_layer_pair", "dropout_error", "dropout_error_mean_square", "dropout_stability", "lemma41_heldout", "measure_layer_constants",
    "sigma_matching_cost", "two_layer_path_bound",
]
