"""Feature-map diagnostics of two convolutional networks and the path between them.

The counterparts of :mod:`otlmc.features` for :class:`~otlmc.conv.model.ConvNet` (docs/theory.md
§4-5): LLFC per ReLU layer and for the logits (Zhou et al. Def. 2, each example's feature map
flattened), commutativity per Conv/Dense layer (Def. 4, with ``W H`` the layer's linear map applied to
its input feature map), stitching at the top-level ReLUs, approximate dimensions of the weights (Ferbach
et al. §6, with the patch second moment for convolutions), and losses along the linear path with the
BatchNorm statistics interpolated, or reset on data (:func:`otlmc.conv.model.reset_batchnorm`). Along
the LLFC path the weight of A is ``alpha``: ``theta_alpha = alpha theta_A + (1 - alpha) theta_B``.
B is used as given: align it first (:func:`otlmc.conv.matching.align`).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_choice
from ..backend import to_numpy
from ..barrier import barrier_values
from ..features import _cos_rows, approximate_dimension, normalized_dist
from . import layers as L
from .covariance import ESTIMATES, patch_moment
from .model import (
    Conv,
    ConvNet,
    ReLU,
    check_inputs,
    check_same_architecture,
    evaluate,
    forward,
    interpolate,
    reset_batchnorm,
    run_layers,
)

BN_MODES = ("reset", "interpolate")


def _alphas(alphas) -> np.ndarray:
    a = check_array("alphas", alphas, ndim=1)
    if a.size == 0 or a.min() < 0 or a.max() > 1:
        raise ValueError(f"alphas must be a non-empty grid in [0, 1], got {a!r}.")
    return a


def path_network(net_a: ConvNet, net_b: ConvNet, t: float, *, bn: str = "reset", X_stats=None) -> ConvNet:
    """``(1 - t) theta_A + t theta_B``; with BatchNorm and ``bn="reset"`` its running statistics are
    recomputed on ``X_stats`` (required then), with ``bn="interpolate"`` they are interpolated."""
    check_choice("bn", bn, BN_MODES)
    net = interpolate(net_a, net_b, t)
    if bn == "reset" and net.arch.has_batchnorm:
        if X_stats is None:
            raise ValueError("bn='reset' needs X_stats (inputs on which to recompute BatchNorm statistics).")
        net = reset_batchnorm(net, X_stats)
    return net


def _feats(net, X):
    out, rec = forward(net, X, record=True)
    N = out.shape[0]
    return [np.asarray(to_numpy(F)).reshape(N, -1) for F in rec.post.values()] + [np.asarray(to_numpy(out))], \
        list(rec.post) + ["logits"]


def llfc(net_a: ConvNet, net_b: ConvNet, X, *, alphas=(0.25, 0.5, 0.75), bn: str = "reset",
         X_stats=None) -> dict:
    """LLFC (Zhou et al. Def. 2) per ReLU layer (post-activation maps) and for the logits.

    For every ``alpha``: per example ``1 - cos(f(theta_alpha), alpha f_A + (1 - alpha) f_B)`` on the
    flattened feature map, its mean and std, and ``coef = <f_alpha, f_int> / |f_int|^2`` over the
    batch; ``baseline`` is the mean ``1 - cos(f_A, f_B)``. BatchNorm of the path networks per ``bn``
    (statistics reset on ``X_stats``, default ``X``). Returns
    ``{"alphas", "layers": [{"name", "baseline", "per_alpha": [{alpha, mean, std, coef}]}]}``.
    """
    check_same_architecture(net_a, net_b)
    X = check_inputs(net_a, X)
    alphas = _alphas(alphas)
    X_stats = X if X_stats is None else X_stats
    Fa, names = _feats(net_a, X)
    Fb, _ = _feats(net_b, X)
    layers = [{"name": n, "baseline": float(np.mean(1 - _cos_rows(a, b))), "per_alpha": []}
              for n, a, b in zip(names, Fa, Fb)]
    for al in alphas:
        Fm, _ = _feats(path_network(net_a, net_b, 1 - float(al), bn=bn, X_stats=X_stats), X)
        for k, (F, a, b) in enumerate(zip(Fm, Fa, Fb)):
            Fi = al * a + (1 - al) * b  # (N, features)
            omc = 1 - _cos_rows(F, Fi)
            nrm = float(np.sum(Fi * Fi))
            coef = float(np.sum(F * Fi)) / nrm if nrm > 0 else (float("inf") if np.any(F) else 1.0)
            layers[k]["per_alpha"].append({"alpha": float(al), "mean": float(omc.mean()),
                                           "std": float(omc.std()), "coef": coef})
    return {"alphas": alphas, "layers": layers}


def _linear_map(layer, W, x):
    if isinstance(layer, Conv):
        return L.conv_forward(x, W, None, layer.stride, layer.pad)[0]
    return x @ W.T


def commutativity(net_a: ConvNet, net_b: ConvNet, X) -> list[dict]:
    """Per Conv/Dense layer that does not read the network input (Zhou et al. Def. 4):
    ``dist_com = dist(W_A H_A + W_B H_B, W_A H_B + W_B H_A)`` with ``H`` the layer's input maps,
    ``dist_w = dist(W_A, W_B)`` and ``dist_h = dist(H_A, H_B)`` (``dist`` of :func:`normalized_dist`)."""
    check_same_architecture(net_a, net_b)
    X = check_inputs(net_a, X)
    _, ra = forward(net_a, X, record=True)
    _, rb = forward(net_b, X, record=True)
    out = []
    first = next(iter(ra.inputs))
    for name, Ha in ra.inputs.items():
        if name == first or Ha is X:
            continue
        Hb = rb.inputs[name]
        layer = net_a.arch.leaf(name).layer
        Wa, Wb = net_a.params[f"{name}.W"], net_b.params[f"{name}.W"]
        same = _linear_map(layer, Wa, Ha) + _linear_map(layer, Wb, Hb)
        cross = _linear_map(layer, Wa, Hb) + _linear_map(layer, Wb, Ha)
        out.append({"layer": name, "dist_com": normalized_dist(same, cross),
                    "dist_w": normalized_dist(Wa, Wb), "dist_h": normalized_dist(Ha, Hb)})
    return out


def stitching_errors(net_a: ConvNet, net_b: ConvNet, X, y) -> dict:
    """0-1 error of ``B[k+1:] o A[:k+1]`` for every top-level ReLU ``k`` (no stitching layer).

    Returns ``{layer name: error}``; meaningful for an aligned pair (the channels must correspond).
    """
    check_same_architecture(net_a, net_b)
    X = check_inputs(net_a, X)
    y = np.asarray(to_numpy(y))
    out = {}
    for k, layer in enumerate(net_a.arch.layers[:-1]):
        if isinstance(layer, ReLU):
            h = run_layers(net_a, X, 0, k + 1)
            Z = np.asarray(to_numpy(run_layers(net_b, h, k + 1)))
            out[str(k)] = float(np.mean(Z.argmax(1) != y))
    return out


def approximate_dimensions(net: ConvNet, X, *, estimate: str = "exact") -> dict:
    """Participation ratios ``tr(S)^2 / tr(S^2)`` (Ferbach et al. §6).

    Per Conv/Dense layer (``"layers"``): ``wm_naive`` of ``W W^T`` (the nonzero spectrum of
    ``W^T W``; ``W`` the ``(C_out, k^2 C_in)`` matrix of a convolution), ``wm_ours`` of
    ``W Sigma W^T`` with ``Sigma`` the input (patch) second moment over ``X`` (``estimate`` for
    convolutions). Per ReLU layer (``"taps"``): ``am`` of the uncentered channel second moment of its
    post-activations pooled over positions.
    """
    check_choice("estimate", estimate, ESTIMATES)
    X = check_inputs(net, X)
    _, rec = forward(net, X, record=True)
    layers = {}
    for name, x in rec.inputs.items():
        layer = net.arch.leaf(name).layer
        W = np.asarray(to_numpy(net.params[f"{name}.W"]), dtype=np.float64)
        if isinstance(layer, Conv):
            Wm = L.weight_matrix(W)  # (C_out, K*C_in)
            S = patch_moment(x, layer, estimate=estimate)
            WSW = S.bilinear(Wm, Wm)
        else:
            Wm = W
            H = np.asarray(to_numpy(x), dtype=np.float64)  # (N, F)
            WSW = (Wm @ H.T) @ (H @ Wm.T) / H.shape[0]
        layers[name] = {"wm_naive": approximate_dimension(Wm @ Wm.T),
                        "wm_ours": approximate_dimension((WSW + WSW.T) / 2)}
    taps = {}
    for name, F in rec.post.items():
        F2 = np.asarray(to_numpy(F), dtype=np.float64).reshape(-1, F.shape[-1])  # (rows, C)
        S = F2.T @ F2 / F2.shape[0]
        taps[name] = {"am": approximate_dimension(S) if np.any(S) else float("nan")}
    return {"layers": layers, "taps": taps}


def path_losses(net_a: ConvNet, net_b: ConvNet, X, y, *, ts=None, bn: str = "reset", X_stats=None) -> dict:
    """Loss and error along ``(1 - t) theta_A + t theta_B`` and the barriers of the loss curve.

    ``ts`` defaults to 11 points in ``[0, 1]``; BatchNorm statistics per ``bn`` (reset on
    ``X_stats``, default ``X``). Returns ``{"ts", "loss", "error", **barrier_values(ts, loss)}``.
    """
    check_same_architecture(net_a, net_b)
    X = check_inputs(net_a, X)
    ts = np.linspace(0.0, 1.0, 11) if ts is None else check_array("ts", ts, ndim=1)
    X_stats = X if X_stats is None else X_stats
    losses, errors = [], []
    for t in ts:
        ev = evaluate(path_network(net_a, net_b, float(t), bn=bn, X_stats=X_stats), X, y)
        losses.append(ev["loss"])
        errors.append(ev["error"])
    losses = np.asarray(losses)
    return {"ts": ts, "loss": losses, "error": np.asarray(errors), **barrier_values(ts, losses)}
