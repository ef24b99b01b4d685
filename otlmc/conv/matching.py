"""Aligning network B to network A over the coupled permutation groups of a derived spec.

Methods (each returns a :class:`ConvMatchResult` with one permutation per group of the
:class:`~otlmc.conv.specs.PermutationSpec`, in the convention of :func:`otlmc.conv.specs.permute`):

``wm_naive``
    Ferbach et al. §6 naive weight matching, generalised: the groups in order of first appearance,
    each one assignment on the incoming weights of every Conv/Dense layer producing it (a residual
    stream is produced by the stem and every block's last layer and projection), with the input
    channels of B already permuted where their group is known,
    ``p_g = argmax_p sum_{l -> g} <W_l^A, W_l^B[p][:, p_in]>``.
``wm_ours``
    the same with every term weighted by the second moment of A's layer input,
    ``<W^A Sigma, W^B[p][:, p_in]>`` (Lemma D.1): the im2col patch second moment for a convolution
    (``estimate="exact"``, ``"kron"`` or ``"channel"``, :mod:`otlmc.conv.covariance`), the feature
    second moment for a Dense layer.
``am``, ``am_uncentered``
    activation matching: per group, the assignment maximising the (centered or uncentered)
    cross-correlation of A's and B's post-ReLU feature maps carrying that group, pooled over
    examples, positions and every ReLU of the group (a residual stream has one after every block).
``rebasin``
    Git Re-Basin weight matching (Ainsworth et al. 2023, Alg. 1): coordinate descent over the
    groups maximising ``sum_params <theta_A, permute(theta_B)>``; the sub-problem of one group, the
    others fixed, is linear in its permutation (one assignment), except where a parameter carries
    the group on two axes, where the other axis is held at its current permutation. A sweep visits
    the groups in an order drawn from ``rng``; a step is kept only if it increases the objective.

Every assignment goes through :func:`otlmc.transport.linear_assignment` (a CPU solver; arrays are
brought to the host at that boundary).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_choice, check_int
from ..backend import to_numpy
from ..rng import check_rng
from ..transport import linear_assignment
from . import layers as L
from .covariance import ESTIMATES, patch_moment
from .model import Conv, ConvNet, check_same_architecture, forward
from .specs import PermutationSpec, check_perms, identity_perms, permute, permute_array


@dataclass(frozen=True)
class ConvMatchResult:
    """Permutations ``{group: (C,)}``, per-group costs in the method's metric, and diagnostics."""

    perms: dict
    costs: dict
    identity_costs: dict
    method: str
    info: dict = field(default_factory=dict)


def assign(G) -> np.ndarray:
    """``argmax_p sum_i G[i, p[i]]`` (exact)."""
    return linear_assignment(G, maximize=True)


def _np_params(net: ConvNet) -> dict:
    return {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in net.params.items()}


def _group_matrix(a, axis: int, repeat: int):
    """``a`` with the channels of ``axis`` (blocks of ``repeat`` for a flattened axis) as rows."""
    a = np.moveaxis(a, axis, 0)
    if repeat > 1:
        n = a.shape[0] // repeat
        a = a.reshape((repeat, n) + a.shape[1:])
        a = np.moveaxis(a, 1, 0)
    return a.reshape(a.shape[0], -1)  # (C, rest)


# --------------------------------------------------------------------------- Git Re-Basin
def _objective(pa: dict, pb: dict, spec: PermutationSpec, perms: dict) -> float:
    return float(sum(np.sum(pa[k] * permute_array(pb[k], spec.axes.get(k, ()), perms)) for k in pa))


def _group_gain(pa, pb, spec, perms, g):
    """``G (C, C)`` with ``sum_i G[i, p[i]]`` the objective terms of group ``g``, others fixed."""
    n = spec.groups[g]
    G = np.zeros((n, n))
    for k, axes in spec.axes.items():
        if k not in pa:
            continue
        for a, ax in enumerate(axes):
            if ax is None or ax.group != g:
                continue
            Bk = permute_array(pb[k], axes, perms, skip_axis=a)
            G += _group_matrix(pa[k], a, ax.repeat) @ _group_matrix(Bk, a, ax.repeat).T
    return G


def rebasin_weight_matching(net_a: ConvNet, net_b: ConvNet, spec: PermutationSpec, *,
                            rng: np.random.Generator, max_sweeps: int = 100, init=None) -> ConvMatchResult:
    """Git Re-Basin coordinate descent (module docstring). ``info["objective"]`` per sweep (index 0:
    at the start) never decreases; ``info["sweeps"]`` counts the sweeps run."""
    check_same_architecture(net_a, net_b)
    rng = check_rng(rng)
    max_sweeps = check_int("max_sweeps", max_sweeps, min_value=1)
    pa, pb = _np_params(net_a), _np_params(net_b)
    perms = identity_perms(spec) if init is None else {g: np.asarray(p).copy() for g, p in check_perms(spec, init).items()}
    groups = list(spec.groups)
    history = [_objective(pa, pb, spec, perms)]
    for _ in range(max_sweeps):
        for gi in rng.permutation(len(groups)):
            g = groups[gi]
            G = _group_gain(pa, pb, spec, perms, g)
            p = assign(G)
            if np.any(p != perms[g]):
                trial = {**perms, g: p}
                if _objective(pa, pb, spec, trial) > _objective(pa, pb, spec, perms):
                    perms = trial
        history.append(_objective(pa, pb, spec, perms))
        if history[-1] <= history[-2] + 1e-12 * max(1.0, abs(history[-2])):
            break
    res = _weight_costs(pa, pb, spec, perms, "rebasin")
    res.info.update(objective=history, sweeps=len(history) - 1)
    return res


def _weight_costs(pa, pb, spec, perms, method, info=None) -> ConvMatchResult:
    """Per group: ``(1/C) sum |A - permute(B)|^2`` over the parameter slices whose first axis is the group."""
    ident = identity_perms(spec)
    costs, id_costs = {}, {}
    for g, n in spec.groups.items():
        c = ci = 0.0
        for k, axes in spec.axes.items():
            if k in pa and axes and axes[0] is not None and axes[0].group == g:
                c += float(np.sum((pa[k] - permute_array(pb[k], axes, perms)) ** 2))
                ci += float(np.sum((pa[k] - permute_array(pb[k], axes, {**perms, g: ident[g]})) ** 2))
        costs[g], id_costs[g] = c / n, ci / n
    return ConvMatchResult(perms, costs, id_costs, method, dict(info or {}))


# --------------------------------------------------------------------------- forward weight matching
def _input_moment(net_a: ConvNet, rec, name: str, estimate: str, batch_size: int):
    """``Sigma`` of layer ``name``'s input (a PatchMoment for convolutions, a matrix for Dense)."""
    x = rec.inputs[name]
    layer = net_a.arch.leaf(name).layer
    if isinstance(layer, Conv):
        return patch_moment(x, layer, estimate=estimate, batch_size=batch_size)
    H = np.asarray(to_numpy(x), dtype=np.float64)  # (N, F)
    return H.T @ H / H.shape[0]  # (F, F)


def _bilinear(S, A, B):
    if S is None:
        return A @ B.T
    if isinstance(S, np.ndarray):
        return A @ S @ B.T
    return S.bilinear(A, B)


def _forward_wm(net_a, net_b, spec, moments, method) -> ConvMatchResult:
    pa, pb = _np_params(net_a), _np_params(net_b)
    perms: dict = {}
    costs, id_costs = {}, {}
    n_dropped = 0
    for g, n in spec.groups.items():
        terms = []
        for name in spec.members[g]:
            gin = spec.linear_in[name]
            known = gin is None or gin.group in perms
            if not known:
                n_dropped += 1
                continue
            axes = spec.axes[f"{name}.W"]
            Wb = permute_array(pb[f"{name}.W"], axes, {**perms}, skip_axis=0) if gin is not None else pb[f"{name}.W"]
            Wa = pa[f"{name}.W"]
            if Wa.ndim == 4:
                Wa, Wb = L.weight_matrix(Wa), L.weight_matrix(Wb)  # (C_out, K*C_in)
            terms.append((Wa, Wb, None if moments is None else moments[name]))
        if not terms:  # pragma: no cover - a group's first producer always reads an earlier group
            raise AssertionError(f"group {g} has no producer with a known input")
        G = sum(_bilinear(S, Wa, Wb) for Wa, Wb, S in terms)  # (n, n)
        p = assign(G)
        perms[g] = p

        def cost(q):
            tot = 0.0
            for Wa, Wb, S in terms:
                D = Wa - Wb[q]  # (n, fan_in)
                tot += float(np.sum(D * D)) if S is None else float(np.trace(_bilinear(S, D, D)))
            return tot / n

        costs[g], id_costs[g] = cost(p), cost(np.arange(n))
    return ConvMatchResult(perms, costs, id_costs, method, {"terms_without_known_input": n_dropped})


def naive_weight_matching(net_a: ConvNet, net_b: ConvNet, spec: PermutationSpec) -> ConvMatchResult:
    """Forward layer-wise WM on incoming weights (Euclidean; biases and norms ignored); ``costs[g]``
    is ``(1/C) sum_l |W_l^A - W_l^B[p][:, p_in]|_F^2`` over the producers of ``g``."""
    check_same_architecture(net_a, net_b)
    return _forward_wm(net_a, net_b, spec, None, "wm_naive")


def covariance_weight_matching(net_a: ConvNet, net_b: ConvNet, spec: PermutationSpec, *, X,
                               estimate: str = "exact", batch_size: int = 256) -> ConvMatchResult:
    """WM "ours" with input second moments of A over ``X`` (module docstring); ``costs[g]`` is
    ``(1/C) sum_l E|(W_l^A - P W_l^B') u|^2`` in the chosen estimate's ``Sigma``."""
    check_same_architecture(net_a, net_b)
    check_choice("estimate", estimate, ESTIMATES)
    _, rec = forward(net_a, X, record=True)
    moments = {name: _input_moment(net_a, rec, name, estimate, batch_size) for name in spec.linear_in}
    res = _forward_wm(net_a, net_b, spec, moments, "wm_ours")
    res.info["estimate"] = estimate
    return res


# --------------------------------------------------------------------------- activation matching
def group_features(net: ConvNet, spec: PermutationSpec, X, *, rec=None) -> dict:
    """``{group: list of (N*positions, C) post-ReLU feature matrices}`` (producer outputs when a
    group has no ReLU)."""
    if rec is None:
        _, rec = forward(net, X, record=True)
    out: dict = {g: [] for g in spec.groups}
    for name, g in spec.taps.items():
        if g is not None:
            F = rec.post[name]
            out[g].append(np.asarray(to_numpy(F), dtype=np.float64).reshape(-1, F.shape[-1]))
    for g in spec.groups:
        if not out[g]:
            for name in spec.members[g]:
                F = rec.outputs[name]
                out[g].append(np.asarray(to_numpy(F), dtype=np.float64).reshape(-1, F.shape[-1]))
    return out


def _activation_matching(net_a, net_b, spec, X, centered: bool, method: str) -> ConvMatchResult:
    check_same_architecture(net_a, net_b)
    fa, fb = group_features(net_a, spec, X), group_features(net_b, spec, X)
    perms, costs, id_costs = {}, {}, {}
    for g in spec.groups:
        Fa, Fb = np.concatenate(fa[g]), np.concatenate(fb[g])  # (rows, C)
        if centered:
            Fa, Fb = Fa - Fa.mean(0), Fb - Fb.mean(0)
        p = assign(Fa.T @ Fb / Fa.shape[0])
        perms[g] = p
        costs[g] = float(np.mean(np.sum((Fa - Fb[:, p]) ** 2, axis=0)) / Fa.shape[0])
        id_costs[g] = float(np.mean(np.sum((Fa - Fb) ** 2, axis=0)) / Fa.shape[0])
    return ConvMatchResult(perms, costs, id_costs, method)


def activation_matching(net_a, net_b, spec, *, X) -> ConvMatchResult:
    """AM with centered feature maps; ``costs[g]`` the mean per-channel ``E (h^A_i - h^B_p(i))^2``."""
    return _activation_matching(net_a, net_b, spec, X, True, "am")


def activation_matching_uncentered(net_a, net_b, spec, *, X) -> ConvMatchResult:
    """AM with the uncentered correlation ``E[h_A h_B^T]`` (Git Re-Basin)."""
    return _activation_matching(net_a, net_b, spec, X, False, "am_uncentered")


def identity_matching(net_a, net_b, spec) -> ConvMatchResult:
    check_same_architecture(net_a, net_b)
    perms = identity_perms(spec)
    return _weight_costs(_np_params(net_a), _np_params(net_b), spec, perms, "identity")


METHODS: dict[str, Callable[..., ConvMatchResult]] = {
    "identity": identity_matching,
    "wm_naive": naive_weight_matching,
    "wm_ours": covariance_weight_matching,
    "am": activation_matching,
    "am_uncentered": activation_matching_uncentered,
    "rebasin": rebasin_weight_matching,
}
DATA_METHODS = ("wm_ours", "am", "am_uncentered")
RNG_METHODS = ("rebasin",)


def match(net_a: ConvNet, net_b: ConvNet, spec: PermutationSpec, method: str = "rebasin",
          **kwargs) -> ConvMatchResult:
    """Run the named method (``X=`` for data methods, ``rng=`` for ``rebasin``)."""
    check_choice("method", method, METHODS)
    if not isinstance(spec, PermutationSpec):
        raise TypeError(f"spec must be a PermutationSpec (otlmc.conv.derive_spec), got {type(spec).__name__}.")
    return METHODS[method](net_a, net_b, spec, **kwargs)


def align(net_a: ConvNet, net_b: ConvNet, spec: PermutationSpec, method: str = "rebasin", **kwargs):
    """B permuted to match A: ``(net_b_aligned, result)``."""
    res = match(net_a, net_b, spec, method, **kwargs)
    return permute(net_b, spec, res.perms), res


def live_channels(net: ConvNet, spec: PermutationSpec, X) -> dict:
    """``{group: (C,) bool}``: channels whose pooled features are not constant over ``X``.

    Channels constant on ``X`` (dead ReLUs) are indistinguishable to activation matching; any
    assignment among them gives the same features on ``X``.
    """
    feats = group_features(net, spec, X)
    return {g: np.concatenate(f).std(axis=0) > 0 for g, f in feats.items()}


def planted_recovery(spec: PermutationSpec, planted: Mapping, result: ConvMatchResult, *,
                     live: Mapping | None = None) -> dict:
    """For ``B = permute(A, spec, planted)`` (+ noise): per group, whether ``result`` found the
    inverse of the planted permutation (on the ``live`` channels only, when given), and ``all``."""
    ok = {}
    for g, n in spec.groups.items():
        hit = np.asarray(planted[g])[np.asarray(result.perms[g])] == np.arange(n)  # (C,)
        ok[g] = bool(np.all(hit if live is None else hit[np.asarray(live[g])]))
    return {"groups": ok, "all": all(ok.values())}
