"""REPAIR for convolutional networks, through the hooks of :mod:`otlmc.conv.model` (Jordan et al., ICLR 2023).

The counterpart of :mod:`otlmc.repair` for :class:`~otlmc.conv.model.ConvNet`: the interpolated network
``theta(t) = (1 - t) theta_A + t theta_B~`` (BatchNorm statistics reset on ``X`` first, where the
network has BatchNorm) gets every ReLU's per-channel pre-activation renormalised, in forward order,
so that on ``X`` its mean and standard deviation (pooled over examples and positions) are

.. math:: \\mu^* = (1 - t) \\mu^A + t \\mu^B, \\qquad \\sigma^* = (1 - t) \\sigma^A + t \\sigma^B .

The affine map ``z -> s (z - mu) + mu*``, ``s = sqrt(sigma*^2 + eps) / sqrt(sigma^2 + eps)``, is folded
into the layer producing ``z`` (:func:`otlmc.conv.model.fold_channel_affine`: a norm layer's
``gamma, beta`` or a Conv/Dense layer's rows and bias). A ReLU after a residual sum has no single
producer to fold into; it is left as it is and listed in ``skipped`` (so REPAIR of a ResNet here
renormalises the stem and the ReLUs inside the residual branches, not the residual stream).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_real
from ..barrier import barrier_values
from .features import path_network
from .model import (
    LINEAR,
    NORMS,
    ConvNet,
    ReLU,
    _producer,
    channel_statistics,
    check_same_architecture,
    evaluate,
    fold_channel_affine,
)


def foldable_relus(net: ConvNet) -> tuple[list[str], list[str]]:
    """``(foldable, skipped)``: ReLU layer names (forward order) whose pre-activation comes from a norm
    layer or a Conv/Dense with bias, and those that do not (residual sums)."""
    ok, skipped = [], []
    for info in net.arch.leaves:
        if isinstance(info.layer, ReLU):
            _, layer = _producer(net.arch, info.name)
            good = isinstance(layer, NORMS) or (isinstance(layer, LINEAR) and layer.bias)
            (ok if good else skipped).append(info.name)
    return ok, skipped


def repair(net_a: ConvNet, net_b: ConvNet, t: float, X, *, eps: float = 1e-5) -> tuple[ConvNet, dict]:
    """REPAIRed ``theta(t)`` (module docstring): ``(network, {"repaired": names, "skipped": names})``.

    ``net_b`` must already be aligned to ``net_a``; ``X (N, H, W, C)`` gives all statistics and the
    BatchNorm reset (the endpoints' statistics are those of the reset endpoints, the networks the path
    starts and ends at). At ``t = 0`` and ``t = 1`` REPAIR is the identity up to rounding.
    """
    check_same_architecture(net_a, net_b)
    t = check_real("t", t, min_value=0.0, max_value=1.0)
    eps = check_real("eps", eps, min_value=0.0)
    net = path_network(net_a, net_b, t, bn="reset", X_stats=X)
    stats_a, stats_b = (channel_statistics(path_network(net_a, net_b, s, bn="reset", X_stats=X), X) for s in (0.0, 1.0))
    names, skipped = foldable_relus(net)
    for name in names:
        mu, var = channel_statistics(net, X)[name]  # (C,), (C,) of the partly repaired network
        mu_t = (1 - t) * stats_a[name][0] + t * stats_b[name][0]
        sd_t = (1 - t) * np.sqrt(stats_a[name][1]) + t * np.sqrt(stats_b[name][1])
        scale = np.sqrt(sd_t**2 + eps) / np.sqrt(var + eps)  # (C,)
        dtype = net.params[name_of_producer(net, name)].dtype
        net = fold_channel_affine(net, name, scale.astype(dtype), (mu_t - scale * mu).astype(dtype))
    return net, {"repaired": names, "skipped": skipped}


def name_of_producer(net: ConvNet, relu_name: str) -> str:
    """The parameter holding the dtype of the layer producing ReLU ``relu_name``'s input."""
    name, layer = _producer(net.arch, relu_name)
    return f"{name}.gamma" if isinstance(layer, NORMS) else f"{name}.W"


def repaired_path(net_a: ConvNet, net_b: ConvNet, X_stats, X, y, *, ts, eps: float = 1e-5) -> dict:
    """Loss and error along the REPAIRed path (statistics on ``X_stats``, evaluated on ``X, y``):
    ``{"ts", "loss", "error", "skipped", **barrier_values(ts, loss)}``."""
    ts = np.asarray(ts, dtype=float)
    losses, errors, skipped = [], [], []
    for t in ts:
        net, info = repair(net_a, net_b, float(t), X_stats, eps=eps)
        ev = evaluate(net, X, y)
        losses.append(ev["loss"])
        errors.append(ev["error"])
        skipped = info["skipped"]
    losses = np.asarray(losses)
    return {"ts": ts, "loss": losses, "error": np.asarray(errors), "skipped": skipped,
            **barrier_values(ts, losses)}
