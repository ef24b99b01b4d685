"""Losses along the linear path and the barriers of docs/theory.md §0.

Path convention: ``theta(t) = (1 - t) theta_A + t theta_B~``; ``t = 0`` is A. All ``T`` networks
of the path are evaluated in one batched pass (:func:`otlmc.networks.forward_path`).

Barriers (reported under their own names):

- ``barrier = max_t [L(t) - ((1 - t) L_A + t L_B)]`` (Frankle / Entezari; the one theorems bound);
- ``barrier_rebasin = max_t L(t) - (L_A + L_B) / 2``;
- ``midpoint_loss = L(1/2)`` (linear interpolation of the grid if 1/2 is not on it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_choice, check_int, check_t_grid
from .backend import to_numpy, xp_of
from .networks import MLP, _check_inputs, check_same_architecture, forward_path

LOSSES = ("deviation", "mse", "ce")


def t_grid(n_points: int = 25) -> np.ndarray:
    """Uniform grid of ``n_points`` values of ``t`` in ``[0, 1]`` (default 25, ends included)."""
    n_points = check_int("n_points", n_points, min_value=2)
    return np.linspace(0.0, 1.0, n_points)


def barrier_values(ts, losses) -> dict:
    """The three barrier definitions for a loss curve ``losses[k] = L(ts[k])``."""
    ts = check_t_grid(ts)
    losses = check_array("losses", losses, ndim=1)
    if losses.shape != ts.shape:
        raise ValueError(f"losses has shape {losses.shape}, ts has {ts.shape}.")
    if ts[0] != 0.0 or ts[-1] != 1.0:
        raise ValueError("ts must start at 0 and end at 1 so the endpoint losses are on the grid.")
    la, lb = losses[0], losses[-1]
    return {
        "barrier": float(np.max(losses - ((1 - ts) * la + ts * lb))),
        "barrier_rebasin": float(np.max(losses) - (la + lb) / 2),
        "midpoint_loss": float(np.interp(0.5, ts, losses)),
    }


def _log_softmax(Z, xp):
    Z = Z - Z.max(axis=-1, keepdims=True)
    return Z - xp.log(xp.exp(Z).sum(axis=-1, keepdims=True))


# ~2 MB of float64 per activation block: blocks that stay in cache beat one big batched pass
# (evaluate_path at d-2048-10, N = 1000, T = 25: 256 ms in blocks of one t vs 374 ms in blocks of 4)
_CHUNK_ELEMENTS = 1 << 18


def _t_chunks(net: MLP, n_inputs: int, n_t: int) -> int:
    """How many t values to evaluate per batched pass so that the largest block stays bounded."""
    widest = max(net.widths)
    per_t = n_inputs * widest + max(W.size for W in net.weights)
    return int(max(1, min(n_t, _CHUNK_ELEMENTS // max(per_t, 1))))


def _path_outputs(net_a: MLP, net_b: MLP, X, ts):
    """``forward_path`` in t-blocks of bounded memory; outputs ``(T, N, m_out)``."""
    X = _check_inputs(net_a, X)  # (N, m_0)
    return forward_path(net_a, net_b, X, ts, t_chunk=_t_chunks(net_a, len(X), len(ts)))


@dataclass(frozen=True)
class PathResult:
    """Everything measured along one path. Arrays are indexed by the t-grid ``ts``.

    ``loss[k]``: mean loss of ``theta(ts[k])``; ``error[k]``: 0-1 error (classification only,
    else None); ``deviation_rms[k]`` / ``deviation_max[k]``: RMS over inputs (and max over inputs)
    of ``|f_{M_t}(x) - ((1 - t) f_A(x) + t f_B~(x))|_2``; ``barriers`` / ``error_barriers``: the
    three definitions for loss and error; ``n_eval``: number of evaluation inputs.
    """

    ts: np.ndarray
    loss: np.ndarray
    error: np.ndarray | None
    deviation_rms: np.ndarray
    deviation_max: np.ndarray
    barriers: dict
    error_barriers: dict | None
    loss_name: str
    n_eval: int

    def summary(self, prefix: str = "") -> dict:
        """Flat dict of scalars for a results table."""
        out = {f"{prefix}{k}": v for k, v in self.barriers.items()}
        out[f"{prefix}deviation_rms_max_t"] = float(self.deviation_rms.max())
        out[f"{prefix}deviation_sup"] = float(self.deviation_max.max())
        if self.error_barriers is not None:
            out.update({f"{prefix}error_{k}": v for k, v in self.error_barriers.items()})
        return out


def evaluate_path(
    net_a: MLP, net_b: MLP, X, y=None, *, ts=None, loss: str = "deviation"
) -> PathResult:
    """Loss, 0-1 error and output deviation of the mean networks ``M_t`` along the path.

    Parameters
    ----------
    net_a, net_b : endpoints (B already aligned to A, if wanted).
    X : ``(N, m_0)`` evaluation inputs.
    y : targets: ``(N,)`` int labels for ``loss='ce'``; ``(N,)`` or ``(N, m_out)`` reals for
        ``'mse'`` (e.g. a teacher's outputs); ignored for ``'deviation'``.
    ts : t-grid in [0, 1] starting at 0 and ending at 1 (default: 25 points).
    loss : ``'deviation'`` — squared deviation from the interpolated outputs (random networks);
        ``'mse'`` — squared error to ``y``; ``'ce'`` — cross-entropy with labels ``y``.
    """
    check_same_architecture(net_a, net_b)
    check_choice("loss", loss, LOSSES)
    ts = t_grid() if ts is None else check_t_grid(ts)
    out = _path_outputs(net_a, net_b, X, ts)  # (T, N, m_out)
    if out.shape[1] == 0:
        raise ValueError("X has no rows; the path is measured on at least one input.")
    xp = xp_of(out)
    tt = xp.asarray(ts).reshape(-1, 1, 1)  # (T, 1, 1)
    interp = (1 - tt) * out[0][None] + tt * out[-1][None]  # (T, N, m_out)
    dev = xp.sqrt(((out - interp) ** 2).sum(-1))  # (T, N)
    dev_rms = to_numpy(xp.sqrt((dev**2).mean(1)))
    dev_max = to_numpy(dev.max(1))
    error = None
    if loss == "deviation":
        losses = dev_rms**2
    elif loss == "mse":
        if y is None:
            raise ValueError("loss='mse' needs targets y.")
        Y = check_array("y", to_numpy(y))
        if Y.ndim not in (1, 2) or Y.shape[0] != out.shape[1]:
            raise ValueError(f"y has shape {Y.shape}; expected ({out.shape[1]},) or ({out.shape[1]}, m_out).")
        Y = xp.asarray(Y.reshape(out.shape[1], -1))
        if Y.shape[1] != out.shape[2]:
            raise ValueError(f"y has {Y.shape[1]} columns, the network outputs {out.shape[2]}.")
        losses = to_numpy(((out - Y[None]) ** 2).sum(-1).mean(1))
    else:
        if y is None:
            raise ValueError("loss='ce' needs integer labels y.")
        labels = np.asarray(to_numpy(y))
        if labels.shape != (out.shape[1],) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"y must be {out.shape[1]} integer labels for loss='ce'.")
        if labels.min() < 0 or labels.max() >= out.shape[2]:
            raise ValueError(f"labels must lie in [0, {out.shape[2] - 1}].")
        lab = xp.asarray(labels)
        logp = _log_softmax(out, xp)  # (T, N, C)
        idx = xp.arange(out.shape[1])
        losses = to_numpy(-logp[:, idx, lab].mean(1))
        error = to_numpy((out.argmax(-1) != lab[None]).mean(1))
    return PathResult(
        ts=ts,
        loss=np.asarray(losses, dtype=np.float64),
        error=error,
        deviation_rms=dev_rms,
        deviation_max=dev_max,
        barriers=barrier_values(ts, losses),
        error_barriers=None if error is None else barrier_values(ts, error),
        loss_name=loss,
        n_eval=int(out.shape[1]),
    )


def mse_barrier_bound(out_a, out_b, y, ts, deviation_rms) -> np.ndarray:
    """Upper bound on ``L(t) - ((1-t) L_A + t L_B)`` for the squared error to targets ``y``, per ``t``.

    With ``g_t = (1-t) f_A + t f_B`` and ``delta_t = f_{M_t} - g_t`` the excess expands exactly as
    ``-t(1-t) E|f_A - f_B|^2 + 2 E<g_t - y, delta_t> + E|delta_t|^2``; Cauchy-Schwarz on the middle
    term gives the bound ``-t(1-t) E|f_A - f_B|^2 + 2 sqrt(E|g_t - y|^2) RMS(delta_t) + RMS(delta_t)^2``.
    It holds for any correct barrier, so it checks the barrier's baseline (docs/theory.md §6.8).

    ``out_a``, ``out_b``, ``y``: ``(N, m_out)`` endpoint outputs and targets; ``deviation_rms``:
    ``(T,)`` ``RMS_x |delta_t|`` on the grid ``ts``.
    """
    fa, fb = check_array("out_a", to_numpy(out_a), ndim=2), check_array("out_b", to_numpy(out_b), ndim=2)
    Y = check_array("y", to_numpy(y))
    if fb.shape != fa.shape or Y.size != fa.size:
        raise ValueError(f"out_a {fa.shape}, out_b {fb.shape} and y {Y.shape} must hold the same (N, m_out) values.")
    Y = Y.reshape(fa.shape)
    ts = check_t_grid(ts)
    dev = check_array("deviation_rms", deviation_rms, ndim=1)
    if dev.shape != ts.shape:
        raise ValueError(f"deviation_rms has {dev.size} values, the t-grid {ts.size}.")
    gap = ((fa - fb) ** 2).sum(1).mean()
    lin = np.array([(((1 - t) * fa + t * fb - Y) ** 2).sum(1).mean() for t in ts])  # (T,)
    return -ts * (1 - ts) * gap + 2 * np.sqrt(lin) * dev + dev**2


def barrier(net_a: MLP, net_b: MLP, X, y=None, *, ts=None, loss: str = "deviation") -> float:
    """``max_t [L(t) - ((1 - t) L_A + t L_B)]`` on the t-grid (see :func:`evaluate_path`)."""
    return evaluate_path(net_a, net_b, X, y, ts=ts, loss=loss).barriers["barrier"]


def layer_gaps(net_a: MLP, net_b: MLP, X, *, ts=None) -> dict:
    """Per-hidden-layer activation gaps (Property 1 of Ferbach et al.).

    Returns arrays over hidden layers ``l = 1..L``:
    ``endpoint_gap[l] = mean_{x, i} (H_l^A - H_l^B~)^2`` (mean squared per neuron), and
    ``path_gap[l] = max_t mean_{x, i} (H_l(M_t) - ((1 - t) H_l^A + t H_l^B~))^2``.
    """
    check_same_architecture(net_a, net_b)
    ts = t_grid() if ts is None else check_t_grid(ts)
    _, hidden = forward_path(net_a, net_b, X, ts, return_features=True)
    if hidden and hidden[0].shape[1] == 0:
        raise ValueError("X has no rows; the gaps are measured on at least one input.")
    endpoint, path = [], []
    for H in hidden:  # (T, N, m_l)
        xp = xp_of(H)
        tt = xp.asarray(ts).reshape(-1, 1, 1)
        interp = (1 - tt) * H[0][None] + tt * H[-1][None]
        endpoint.append(float(((H[0] - H[-1]) ** 2).mean()))
        path.append(float(((H - interp) ** 2).mean(axis=(1, 2)).max()))
    return {"endpoint_gap": np.array(endpoint), "path_gap": np.array(path)}
