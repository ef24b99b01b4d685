"""Invariant checks on permutations: a permuted network must compute the same function.

Permuting hidden units (``W_l <- W_l[p_l][:, p_{l-1}]``, ``b_l <- b_l[p_l]``, docs/theory.md §0)
changes only the order of the terms of every sum, so the permuted network ``B~`` satisfies, on
every input and up to rounding,

.. math:: Z_l^{B~}[:, i] = Z_l^B[:, p_l[i]] \\quad (l = 1..L), \\qquad f_{B~} = f_B .

A matching that returns something else — a non-bijective index array, or weights whose rows were
permuted without the next layer's columns — produces a "barrier" that is a bug, not a property of
the landscape. :func:`check_permutation` measures both identities on a batch and
:func:`verified_permute` refuses to hand back a network that fails them, naming the layer.

Tolerance (rigorous to first order in the unit roundoff ``u = eps / 2``): reordering an ``n``-term
sum moves it by at most ``gamma_n sum_j |w_j h_j|`` with ``gamma_n ~ n u``; with the magnitude
network ``M_0 = |X|``, ``M_l = M_{l-1} |W_l|^T + |b_l|`` (``|sigma(z)| <= |z|`` and ``sigma``
1-Lipschitz for relu, tanh and identity), the two computations of ``Z_l`` differ elementwise by at
most ``2 u (sum_{k <= l} (m_{k-1} + 1)) M_l``. The default ``rtol`` is therefore
``eps * sum_k (m_{k-1} + 1)`` (about ``eps * depth * width``) and an entry passes when
``|deviation| <= rtol * M_l`` at that entry.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_real
from .backend import to_numpy
from .matching import match
from .networks import MLP, check_same_architecture, forward, permute


class PermutationCheckError(ValueError):
    """A permutation is invalid, or the permuted network does not compute the original function."""


@dataclass(frozen=True)
class PermutationCheck:
    """Result of :func:`check_permutation`.

    ``max_abs``: largest ``|f_{B~}(x) - f_B(x)|`` over the batch and outputs; ``max_rel``: that
    divided by ``max |f_B(x)|``; ``ok``: every hidden pre-activation and output within tolerance;
    ``layer_max_abs[l]`` / ``layer_max_ratio[l]``: largest deviation and largest
    ``deviation / (rtol M_l)`` at hidden layer ``l + 1`` (last entry: the output); ``first_bad_layer``:
    0-based index into those lists of the first layer over tolerance (``None`` when ``ok``); ``rtol``.
    """

    max_abs: float
    max_rel: float
    ok: bool
    layer_max_abs: tuple
    layer_max_ratio: tuple
    first_bad_layer: int | None
    rtol: float

    def record(self, prefix: str = "perm_check_") -> dict:
        """Fields for a results table: ``perm_check_max_abs``, ``perm_check_max_rel``,
        ``perm_check_ok`` and ``perm_check_max_ratio`` (deviation over tolerance, max over layers)."""
        return {f"{prefix}max_abs": self.max_abs, f"{prefix}max_rel": self.max_rel,
                f"{prefix}ok": self.ok, f"{prefix}max_ratio": max(self.layer_max_ratio)}


def _layer_name(l: int, n_hidden: int) -> str:
    return "the output layer" if l == n_hidden else f"hidden layer {l + 1} (perms[{l}])"


def validate_perms(perms, widths: Sequence[int]) -> list[np.ndarray]:
    """Check one permutation per hidden layer; errors name the layer, the width and the fault.

    ``perms`` may be a sequence of integer arrays or anything with a ``.perms`` attribute (a
    :class:`otlmc.matching.MatchResult`). ``widths`` are the network's ``(m_0, ..., m_{L+1})``.
    """
    perms = getattr(perms, "perms", perms)
    hidden = list(widths[1:-1])
    if isinstance(perms, (str, bytes)) or not isinstance(perms, Sequence):
        raise PermutationCheckError(f"perms must be a sequence of {len(hidden)} integer arrays, "
                                    f"got {type(perms).__name__}.")
    if len(perms) != len(hidden):
        raise PermutationCheckError(f"perms has {len(perms)} arrays; the network has {len(hidden)} hidden "
                                    f"layers (widths {tuple(widths)}).")
    out = []
    for l, (p, m) in enumerate(zip(perms, hidden)):
        p = np.asarray(to_numpy(p))
        where = f"perms[{l}] (hidden layer {l + 1}, width {m})"
        if p.shape != (m,):
            raise PermutationCheckError(f"{where} has shape {p.shape}, expected ({m},).")
        if not np.issubdtype(p.dtype, np.integer):
            raise PermutationCheckError(f"{where} has dtype {p.dtype}; a permutation holds integers.")
        counts = np.bincount(p[(p >= 0) & (p < m)], minlength=m)
        if p.min() < 0 or p.max() >= m or (counts != 1).any():
            bad = p[(p < 0) | (p >= m)]
            dup = np.flatnonzero(counts > 1)
            missing = np.flatnonzero(counts == 0)
            detail = "; ".join(s for s in (
                f"values out of 0..{m - 1}: {bad[:5].tolist()}" if bad.size else "",
                f"repeated: {dup[:5].tolist()}" if dup.size else "",
                f"missing: {missing[:5].tolist()}" if missing.size else "") if s)
            raise PermutationCheckError(f"{where} is not a permutation of 0..{m - 1} ({detail}).")
        out.append(p)
    return out


def _magnitudes(net: MLP, X: np.ndarray) -> list[np.ndarray]:
    """``M_l = M_{l-1} |W_l|^T + |b_l|`` for every linear layer, ``M_0 = |X|``: ``(N, m_l)`` each."""
    M = np.abs(X)  # (N, m_0)
    out = []
    for W, b in zip(net.weights, net.biases):
        M = M @ np.abs(to_numpy(W)).T + np.abs(to_numpy(b))  # (N, m_{l+1})
        out.append(M)
    return out


def check_permutation(net_b: MLP, perms, X, *, permuted: MLP | None = None,
                      rtol: float | None = None) -> PermutationCheck:
    """Does ``permuted`` (default: ``permute(net_b, perms)``) compute ``net_b``'s function on ``X``?

    Parameters
    ----------
    net_b : the original network.
    perms : one integer array per hidden layer (or a ``MatchResult``); validated first.
    X : ``(N, m_0)`` inputs on which both networks are compared.
    permuted : a network claimed to be ``net_b`` with its hidden units relabelled by ``perms`` (e.g.
        built by a matching routine of its own). Its hidden pre-activations must equal ``net_b``'s
        reindexed by ``perms`` and its outputs ``net_b``'s.
    rtol : elementwise tolerance relative to the magnitude network (module docstring); default
        ``eps * sum_l (m_{l-1} + 1)`` of the weights' dtype.

    Returns
    -------
    PermutationCheck
        Raises :class:`PermutationCheckError` only for invalid ``perms`` or mismatched shapes; a
        changed function is reported in ``ok`` / ``first_bad_layer`` (see :func:`verified_permute`).
    """
    if not isinstance(net_b, MLP):
        raise TypeError(f"net_b must be an otlmc.networks.MLP, got {type(net_b).__name__}.")
    p = validate_perms(perms, net_b.widths)
    B = MLP([to_numpy(W) for W in net_b.weights], [to_numpy(b) for b in net_b.biases], net_b.activation)
    if permuted is None:
        Bp = permute(B, p)
    else:
        check_same_architecture(net_b, permuted)
        Bp = MLP([to_numpy(W) for W in permuted.weights], [to_numpy(b) for b in permuted.biases],
                 permuted.activation)
    X = check_array("X", to_numpy(X), ndim=2)
    if X.shape[1] != B.widths[0] or X.shape[0] < 1:
        raise ValueError(f"X has shape {X.shape}; expected (N >= 1, {B.widths[0]}).")
    if rtol is None:
        eps = float(np.finfo(np.result_type(*B.weights)).eps)
        rtol = eps * sum(m + 1 for m in B.widths[:-1])
    rtol = check_real("rtol", rtol, min_value=0.0, strict_min=True)
    out_b, feats_b = forward(B, X, return_features=True)
    out_p, feats_p = forward(Bp, X, return_features=True)
    mags = _magnitudes(B, X)
    devs = [np.abs(Zp - Zb[:, pl]) for (Zp, _), (Zb, _), pl in zip(feats_p, feats_b, p)]  # (N, m_l) each
    devs.append(np.abs(out_p - out_b))  # (N, m_out)
    mags = [M[:, pl] for M, pl in zip(mags[:-1], p)] + [mags[-1]]
    layer_max = tuple(float(d.max()) for d in devs)
    ratios = []
    for d, M in zip(devs, mags):
        bound = rtol * M  # (N, m_l)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(d == 0, 0.0, d / bound)  # inf where a zero-magnitude entry moved
        ratios.append(float(r.max()))
    bad = [l for l, r in enumerate(ratios) if not r <= 1.0]
    scale = float(np.abs(out_b).max())
    max_abs = layer_max[-1]
    return PermutationCheck(max_abs=max_abs, max_rel=max_abs / scale if scale > 0 else max_abs,
                            ok=not bad, layer_max_abs=layer_max, layer_max_ratio=tuple(ratios),
                            first_bad_layer=bad[0] if bad else None, rtol=rtol)


def verified_permute(net_b: MLP, perms, X, *, permuted: MLP | None = None,
                     rtol: float | None = None) -> tuple[MLP, PermutationCheck]:
    """Permute ``net_b`` (or take ``permuted``) and verify it; raise when the function changed.

    Returns ``(net_b_permuted, check)``. Raises :class:`PermutationCheckError` (a ``ValueError``)
    naming the hidden layer and its ``perms`` entry when ``perms`` is not a valid permutation, or
    when the first deviating layer exceeds the rounding tolerance of :func:`check_permutation`.
    """
    check = check_permutation(net_b, perms, X, permuted=permuted, rtol=rtol)
    if not check.ok:
        l = check.first_bad_layer
        n_hidden = net_b.n_hidden
        if l == n_hidden:
            cause = "the hidden features agree but the outputs differ: the output layer's columns do not " \
                    f"follow perms[{n_hidden - 1}]"
        elif l == 0:
            cause = "its pre-activations are not B's reindexed by perms[0]: rows of W_1/b_1 do not follow perms[0]"
        else:
            cause = (f"its pre-activations are not B's reindexed by perms[{l}] while layer {l} agreed: rows of "
                     f"W_{l + 1}/b_{l + 1} do not follow perms[{l}] or its columns do not follow perms[{l - 1}]")
        raise PermutationCheckError(
            f"permuted network differs from the original at {_layer_name(l, n_hidden)}: {cause}. Max "
            f"deviation {check.layer_max_abs[l]:.3g} is {check.layer_max_ratio[l]:.3g}x the rounding "
            f"tolerance (rtol={check.rtol:.3g}); output max abs deviation {check.max_abs:.3g}.")
    if permuted is None:
        permuted = permute(net_b, validate_perms(perms, net_b.widths))
    return permuted, check


def verified_align(net_a: MLP, net_b: MLP, method: str = "weight", *, X_check, **kwargs):
    """:func:`otlmc.matching.match`, then :func:`verified_permute` of B on ``X_check``.

    Returns ``(net_b_aligned, match_result, check)``; extra keywords go to the matching method.
    """
    res = match(net_a, net_b, method, **kwargs)
    net, check = verified_permute(net_b, res.perms, X_check)
    return net, res, check
