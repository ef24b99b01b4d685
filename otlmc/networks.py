"""MLP parameters, forward passes with per-layer features, permutations and interpolation.

Conventions (docs/theory.md §0): ``W_l`` has shape ``(m_l, m_{l-1})``, batches are rows,
``Z_l = H_{l-1} W_l^T + b_l``, ``H_l = sigma(Z_l)``, and the output layer is linear. A
permutation ``p_l`` of hidden layer ``l`` means "A's neuron i is matched with B's neuron
p_l[i]"; applying it to B maps ``W_l <- W_l[p_l][:, p_{l-1}]`` and ``b_l <- b_l[p_l]``.
Hidden activations are any name of the registry :data:`otlmc.activations.ACTIVATIONS`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_choice, check_real
from .activations import ACTIVATIONS, activate
from .backend import to_numpy, xp_of


@dataclass(frozen=True, eq=False)
class MLP:
    """Parameters of an MLP: ``weights[l]`` is ``(m_{l+1}, m_l)``, ``biases[l]`` is ``(m_{l+1},)``."""

    weights: tuple
    biases: tuple
    activation: str = "relu"

    def __init__(self, weights: Sequence, biases: Sequence | None = None, activation: str = "relu"):
        check_choice("activation", activation, ACTIVATIONS)
        if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) == 0:
            raise TypeError("weights must be a non-empty sequence of (out, in) matrices.")
        xp = xp_of(*weights)
        # copies: the network owns its arrays, so the caller changing theirs later changes nothing here
        weights = tuple(check_array(f"weights[{l}]", W, ndim=2, xp=xp).copy() for l, W in enumerate(weights))
        if biases is None:
            biases = tuple(xp.zeros(W.shape[0]) for W in weights)
        if isinstance(biases, (str, bytes)) or not isinstance(biases, Sequence):
            raise TypeError(f"biases must be a sequence of (out,) vectors or None, got {type(biases).__name__}.")
        if len(biases) != len(weights):
            raise ValueError(f"biases has {len(biases)} vectors but weights has {len(weights)} layers.")
        biases = tuple(check_array(f"biases[{l}]", b, ndim=1, xp=xp).copy() for l, b in enumerate(biases))
        for l, W in enumerate(weights):
            if 0 in W.shape:
                raise ValueError(f"weights[{l}] has shape {tuple(W.shape)}: every layer width must be >= 1.")
        for l in range(len(weights)):
            if l > 0 and weights[l].shape[1] != weights[l - 1].shape[0]:
                raise ValueError(
                    f"weights[{l}] has shape {tuple(weights[l].shape)}: its input width "
                    f"{weights[l].shape[1]} must equal the output width {weights[l - 1].shape[0]} "
                    f"of weights[{l - 1}]."
                )
            if biases[l].shape[0] != weights[l].shape[0]:
                raise ValueError(
                    f"biases[{l}] has length {biases[l].shape[0]}, expected {weights[l].shape[0]}."
                )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "activation", activation)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(m_0, m_1, ..., m_{L+1})``."""
        return (self.weights[0].shape[1], *(W.shape[0] for W in self.weights))

    @property
    def n_hidden(self) -> int:
        """Number of hidden layers ``L``."""
        return len(self.weights) - 1

    def __repr__(self) -> str:
        return f"MLP(widths={self.widths}, activation={self.activation!r})"


def check_same_architecture(net_a: MLP, net_b: MLP) -> None:
    if not isinstance(net_a, MLP) or not isinstance(net_b, MLP):
        raise TypeError(f"expected two MLPs, got {type(net_a).__name__} and {type(net_b).__name__}.")
    if net_a.widths != net_b.widths:
        raise ValueError(f"networks differ in widths: A has {net_a.widths}, B has {net_b.widths}.")
    if net_a.activation != net_b.activation:
        raise ValueError(
            f"networks differ in activation: A uses {net_a.activation!r}, B {net_b.activation!r}."
        )


def _check_inputs(net: MLP, X):
    xp = xp_of(X, *net.weights)
    X = check_array("X", X, ndim=2, xp=xp)
    if X.shape[1] != net.widths[0]:
        raise ValueError(f"X has {X.shape[1]} features but the network's input width is {net.widths[0]}.")
    return X


def host_inputs(net: MLP, X) -> np.ndarray:
    """``X`` (N, m_0) copied to the host, checked against ``net``'s input width and for ``N >= 1``."""
    X = check_array("X", to_numpy(X), ndim=2)
    if X.shape[1] != net.widths[0]:
        raise ValueError(f"X has {X.shape[1]} features but the networks' input width is {net.widths[0]}.")
    if X.shape[0] < 1:
        raise ValueError("X has 0 rows; give at least one input.")
    return X


def forward(net: MLP, X, *, return_features: bool = False):
    """Outputs ``(N, m_{L+1})``; with ``return_features`` also per-hidden-layer ``(Z_l, H_l)``."""
    X = _check_inputs(net, X)
    H = X  # (N, m_0)
    feats = []
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        Z = H @ W.T + b  # (N, m_{l+1})
        if l == net.n_hidden:
            return (Z, feats) if return_features else Z
        H = activate(net.activation, Z)  # (N, m_{l+1})
        feats.append((Z, H))
    raise AssertionError("unreachable")


def _check_perm(name: str, p, n: int) -> np.ndarray:
    p = np.asarray(p)
    if p.shape != (n,) or not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"{name} must be an integer array of shape ({n},), got {p.dtype} {p.shape}.")
    if not np.array_equal(np.sort(p), np.arange(n)):
        raise ValueError(f"{name} is not a permutation of 0..{n - 1}.")
    return p


def permute(net: MLP, perms: Sequence) -> MLP:
    """Relabel hidden units: ``W_l <- W_l[p_l][:, p_{l-1}]``, ``b_l <- b_l[p_l]``.

    The function is unchanged (sigma acts pointwise). ``perms`` has one array per hidden layer.
    """
    if len(perms) != net.n_hidden:
        raise ValueError(f"perms has {len(perms)} arrays; the network has {net.n_hidden} hidden layers.")
    perms = [_check_perm(f"perms[{l}]", p, net.widths[l + 1]) for l, p in enumerate(perms)]
    full = [None, *perms, None]  # identity at input and output
    weights, biases = [], []
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        p_out, p_in = full[l + 1], full[l]
        if p_out is not None:
            W, b = W[p_out], b[p_out]
        if p_in is not None:
            W = W[:, p_in]
        weights.append(W)
        biases.append(b)
    return MLP(weights, biases, activation=net.activation)


def interpolate(net_a: MLP, net_b: MLP, t: float) -> MLP:
    """``theta(t) = (1 - t) theta_A + t theta_B``: ``t = 0`` is A, ``t = 1`` is B."""
    check_same_architecture(net_a, net_b)
    t = check_real("t", t, min_value=0.0, max_value=1.0)
    weights = [(1 - t) * Wa + t * Wb for Wa, Wb in zip(net_a.weights, net_b.weights)]
    biases = [(1 - t) * ba + t * bb for ba, bb in zip(net_a.biases, net_b.biases)]
    return MLP(weights, biases, activation=net_a.activation)


def forward_path(net_a: MLP, net_b: MLP, X, ts, *, return_features: bool = False,
                 t_chunk: int | None = None):
    """Forward every network of the path at once: outputs ``(T, N, m_{L+1})``.

    One batched matmul per layer evaluates the interpolated networks of a block of ``t_chunk``
    values of ``t`` (default: all ``T`` in one block); with ``return_features`` also the
    post-activations ``H_l`` of shape ``(T, N, m_l)`` per hidden layer. The first layer's input
    does not depend on ``t``, so its pre-activation is linear in ``t``:
    ``Z_1(t) = (1-t) Z_1^A + t Z_1^B`` costs two matmuls for the whole path.
    """
    check_same_architecture(net_a, net_b)
    X = _check_inputs(net_a, X)
    xp = xp_of(X, *net_a.weights)
    ts = xp.asarray(ts, dtype=X.dtype).reshape(-1, 1, 1)  # (T, 1, 1)
    step = ts.shape[0] if t_chunk is None else max(1, int(t_chunk))
    Z1a = X @ net_a.weights[0].T + net_a.biases[0]  # (N, m_1)
    Z1b = X @ net_b.weights[0].T + net_b.biases[0]  # (N, m_1)
    outs, feats = [], []
    for i in range(0, ts.shape[0], step):
        out, hidden = _path_block(net_a, net_b, Z1a, Z1b, ts[i : i + step], xp)
        outs.append(out)
        feats.append(hidden)
    out = outs[0] if len(outs) == 1 else xp.concatenate(outs, axis=0)
    if not return_features:
        return out
    hidden = [h[0] if len(feats) == 1 else xp.concatenate(h, axis=0) for h in zip(*feats)]
    return out, hidden


def _path_block(net_a: MLP, net_b: MLP, Z1a, Z1b, ts, xp):
    """Outputs ``(T, N, m_out)`` and hidden post-activations for the ``t`` values ``ts`` (T, 1, 1)."""
    Z = (1 - ts) * Z1a[None] + ts * Z1b[None]  # (T, N, m_1)
    hidden = []
    for l in range(1, len(net_a.weights)):
        H = activate(net_a.activation, Z)  # (T, N, m_l)
        hidden.append(H)
        Wa, Wb = net_a.weights[l], net_b.weights[l]
        ba, bb = net_a.biases[l], net_b.biases[l]
        W = (1 - ts) * Wa[None] + ts * Wb[None]  # (T, m_{l+1}, m_l)
        b = (1 - ts[:, :, 0]) * ba[None] + ts[:, :, 0] * bb[None]  # (T, m_{l+1})
        Z = H @ xp.swapaxes(W, 1, 2) + b[:, None, :]  # (T, N, m_{l+1})
    return Z, hidden
