"""REPAIR for MLPs: renormalise the interpolated network's pre-activations (Jordan et al., ICLR 2023).

Jordan, Sedghi, Saukh, Entezari, Neyshabur, "REPAIR: REnormalizing Permuted Activations for
Interpolation Repair", ICLR 2023 (arXiv 2211.08403). Averaging two aligned networks shrinks the
spread of their hidden pre-activations ("variance collapse"); REPAIR rescales every neuron of the
interpolated network ``theta(t) = (1 - t) theta_A + t theta_B~`` so that, on a batch ``X``, the mean
and standard deviation of its pre-activation equal the interpolation of the endpoints' statistics:

.. math:: \\mu^*_{l,i} = (1 - t) \\mu^A_{l,i} + t \\mu^B_{l,i}, \\qquad
          \\sigma^*_{l,i} = (1 - t) \\sigma^A_{l,i} + t \\sigma^B_{l,i}

(the standard deviation, not the variance, is interpolated linearly, as in the paper). The
correction of layer ``l`` is the affine map ``z -> s (z - mu) + mu*`` with ``s = sigma* / sigma``,
where ``mu, sigma`` are the statistics of the interpolated network *after* layers ``1..l-1`` were
repaired (repairing layer ``l`` changes the inputs of layer ``l + 1``, so layers are repaired in
order). It is folded into the layer: ``W_l <- diag(s) W_l``, ``b_l <- s b_l + (mu* - s mu)``, so the
result is a plain :class:`otlmc.networks.MLP`.

Statistics are population moments (``ddof = 0``) over the rows of ``X``. The authors' notebooks
compute them with PyTorch ``BatchNorm1d`` running statistics (unbiased per-batch variances, averaged
over the training set) and divide by ``sqrt(var + 1e-5)``; ``eps`` reproduces that guard:
``s = sqrt(sigma*^2 + eps) / sqrt(sigma^2 + eps)``. With ``eps = 0`` a neuron whose pre-activation is
constant on ``X`` (spread below the rounding level ``16 (m_{l-1} + 1 + log2 N) eps max_x (|H| |W|^T + |b|)``)
cannot be rescaled; it only gets its mean set and is counted in ``n_unscaled``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_real, check_t_grid
from .backend import to_numpy, xp_of
from .barrier import barrier_values, t_grid
from .networks import MLP, activate, check_same_architecture, forward, interpolate


def _check_batch(net: MLP, X, name: str = "X"):
    xp = xp_of(X, *net.weights)
    X = check_array(name, X, ndim=2, xp=xp)
    if X.shape[1] != net.widths[0]:
        raise ValueError(f"{name} has {X.shape[1]} features but the networks' input width is {net.widths[0]}.")
    if X.shape[0] < 2:
        raise ValueError(f"{name} has {X.shape[0]} row(s); REPAIR needs at least 2 inputs to measure a "
                         f"standard deviation.")
    return X


def preactivation_stats(net: MLP, X) -> list[tuple]:
    """Mean and standard deviation (``ddof = 0``) of every layer's pre-activation over ``X``.

    Returns one ``(mean, std)`` pair per linear layer (hidden layers ``1..L``, then the output),
    each of shape ``(m_l,)``.
    """
    X = _check_batch(net, X)
    out, feats = forward(net, X, return_features=True)
    return [(Z.mean(axis=0), Z.std(axis=0)) for Z in [*(Z for Z, _ in feats), out]]


@dataclass(frozen=True)
class RepairResult:
    """A repaired interpolation and what was done to it.

    ``net``: the repaired network (plain MLP); ``t``: the interpolation weight of B; ``layers``:
    0-based indices of the repaired linear layers; per repaired layer (same order):
    ``target_mean`` / ``target_std`` ``(m_l,)`` — the interpolated endpoint statistics;
    ``before_mean`` / ``before_std`` — the statistics of the interpolated layer (upstream layers
    already repaired) before its own correction; ``scale`` — the factors ``s``; ``n_unscaled`` —
    neurons with zero spread on the batch that could only be shifted.
    """

    net: MLP
    t: float
    layers: tuple
    target_mean: tuple
    target_std: tuple
    before_mean: tuple
    before_std: tuple
    scale: tuple
    n_unscaled: tuple

    def summary(self, prefix: str = "repair_") -> dict:
        """Scalars for a table: ``std_ratio_min`` = min over repaired layers of the mean over neurons
        of ``before_std / target_std`` (neurons with a positive target; < 1 means variance collapse)."""
        ratios = []
        for before, target in zip(self.before_std, self.target_std):
            before, target = to_numpy(before), to_numpy(target)
            pos = target > 0
            if pos.any():
                ratios.append(float(np.mean(before[pos] / target[pos])))
        return {f"{prefix}t": self.t, f"{prefix}std_ratio_min": min(ratios) if ratios else float("nan"),
                f"{prefix}n_unscaled": int(sum(self.n_unscaled))}


def repair(net_a: MLP, net_b: MLP, t: float, X, *, include_output: bool = False,
           eps: float = 0.0) -> RepairResult:
    """REPAIR the interpolation ``(1 - t) theta_A + t theta_B`` on the batch ``X``.

    Parameters
    ----------
    net_a, net_b : endpoints of equal architecture; B already aligned to A.
    t : interpolation weight of B in ``[0, 1]`` (``t = 0`` gives A, ``t = 1`` gives B, bit for bit).
    X : ``(N, m_0)`` inputs on which the statistics are measured (``N >= 2``), e.g. training data.
    include_output : also renormalise the logits (the output layer's pre-activations). Off by default
        (hidden neurons only); the authors' MNIST-MLP notebook wraps the output layer too.
    eps : variance guard, ``s = sqrt(sigma*^2 + eps) / sqrt(sigma^2 + eps)`` (``1e-5`` in PyTorch).

    Returns
    -------
    RepairResult
        ``.net`` is the repaired MLP; see :class:`RepairResult` for the per-layer record.
    """
    check_same_architecture(net_a, net_b)
    if not isinstance(include_output, bool):
        raise TypeError(f"include_output must be a bool, got {include_output!r}.")
    eps = check_real("eps", eps, min_value=0.0)
    X = _check_batch(net_a, X)
    net_t = interpolate(net_a, net_b, t)  # validates t
    t = float(t)
    stats_a, stats_b = preactivation_stats(net_a, X), preactivation_stats(net_b, X)
    n_layers = len(net_t.weights)
    repaired = set(range(n_layers if include_output else n_layers - 1))
    xp = xp_of(X, *net_t.weights)
    weights, biases = [], []
    rec = {k: [] for k in ("target_mean", "target_std", "before_mean", "before_std", "scale", "n_unscaled")}
    H = X  # (N, m_0), input of the current layer in the repaired network
    for l, (W, b) in enumerate(zip(net_t.weights, net_t.biases)):
        if l in repaired:
            Z = H @ W.T + b  # (N, m_{l+1}), same expression as networks.forward
            mu, sd = Z.mean(axis=0), Z.std(axis=0)  # (m_{l+1},) each
            (mu_a, sd_a), (mu_b, sd_b) = stats_a[l], stats_b[l]
            mu_t = (1 - t) * mu_a + t * mu_b  # (m_{l+1},)
            sd_t = (1 - t) * sd_a + t * sd_b  # (m_{l+1},)
            # zero spread up to rounding: below what reordering the n-term sums could produce
            level = 16 * (W.shape[1] + 1 + np.log2(Z.shape[0])) * xp.finfo(Z.dtype).eps
            noise = level * (xp.abs(H) @ xp.abs(W).T + xp.abs(b)).max(axis=0)  # (m_{l+1},)
            den = xp.sqrt(sd * sd + eps)
            flat = den <= noise  # (m_{l+1},)
            s = xp.where(flat, 1.0, xp.sqrt(sd_t * sd_t + eps) / xp.where(flat, 1.0, den))  # (m_{l+1},)
            W = s[:, None] * W  # (m_{l+1}, m_l)
            b = s * b + (mu_t - s * mu)  # (m_{l+1},); exactly b when s = 1 and mu_t = mu
            for k, v in (("target_mean", mu_t), ("target_std", sd_t), ("before_mean", mu),
                         ("before_std", sd), ("scale", s), ("n_unscaled", int(flat.sum()))):
                rec[k].append(v)
        weights.append(W)
        biases.append(b)
        if l < n_layers - 1:
            H = activate(net_t.activation, H @ W.T + b)  # (N, m_{l+1})
    net = MLP(weights, biases, activation=net_t.activation)
    return RepairResult(net=net, t=t, layers=tuple(sorted(repaired)),
                        **{k: tuple(v) for k, v in rec.items()})


def repaired_network(net_a: MLP, net_b: MLP, t: float, X, *, include_output: bool = False,
                     eps: float = 0.0) -> MLP:
    """Only the repaired MLP of :func:`repair`."""
    return repair(net_a, net_b, t, X, include_output=include_output, eps=eps).net


@dataclass(frozen=True)
class RepairedPath:
    """Cross-entropy and 0-1 error of the repaired networks along the t-grid.

    ``loss[k]`` / ``error[k]``: mean loss / error on the evaluation set of the network repaired at
    ``ts[k]`` (statistics from ``X_stats``); ``barriers`` / ``error_barriers``: the three definitions
    of :func:`otlmc.barrier.barrier_values`; ``n_eval``, ``n_stats``: row counts.
    """

    ts: np.ndarray
    loss: np.ndarray
    error: np.ndarray
    barriers: dict
    error_barriers: dict
    n_eval: int
    n_stats: int

    def summary(self, prefix: str = "repair_") -> dict:
        """Flat dict of scalars for a results table."""
        out = {f"{prefix}{k}": v for k, v in self.barriers.items()}
        out.update({f"{prefix}error_{k}": v for k, v in self.error_barriers.items()})
        return out


def _ce_and_error(net: MLP, X, y: np.ndarray) -> tuple[float, float]:
    Z = to_numpy(forward(net, X))  # (N, C)
    zmax = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - zmax).sum(axis=1)) + zmax[:, 0]  # (N,)
    return float(np.mean(lse - Z[np.arange(len(y)), y])), float(np.mean(Z.argmax(axis=1) != y))


def evaluate_repaired_path(net_a: MLP, net_b: MLP, X_stats, X, y, *, ts=None, include_output: bool = False,
                           eps: float = 0.0) -> RepairedPath:
    """Loss and error of the REPAIRed interpolations on ``(X, y)``; statistics from ``X_stats``.

    The endpoints (``t = 0, 1``) are A and B themselves, so the barriers are comparable with those
    of :func:`otlmc.barrier.evaluate_path` on the same evaluation set.
    """
    check_same_architecture(net_a, net_b)
    ts = t_grid() if ts is None else check_t_grid(ts)
    X = check_array("X", to_numpy(X), ndim=2)
    labels = np.asarray(to_numpy(y))
    if labels.shape != (X.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y must be {X.shape[0]} integer labels, got dtype {labels.dtype} shape {labels.shape}.")
    if labels.min() < 0 or labels.max() >= net_a.widths[-1]:
        raise ValueError(f"labels must lie in [0, {net_a.widths[-1] - 1}], got [{labels.min()}, {labels.max()}].")
    losses, errors = [], []
    for t in ts:
        net = repaired_network(net_a, net_b, float(t), X_stats, include_output=include_output, eps=eps)
        loss, err = _ce_and_error(net, X, labels)
        losses.append(loss)
        errors.append(err)
    losses, errors = np.array(losses), np.array(errors)
    return RepairedPath(ts=ts, loss=losses, error=errors, barriers=barrier_values(ts, losses),
                        error_barriers=barrier_values(ts, errors), n_eval=int(X.shape[0]),
                        n_stats=int(np.shape(X_stats)[0]))
