"""Mean cross-entropy of an MLP and its gradient by back-propagation (one concept: the objective).

Loss (per batch of ``B`` rows, logits ``Z = f(X)``):

.. math:: \\mathcal L = \\frac1B \\sum_i \\big(\\log \\textstyle\\sum_k e^{Z_{ik}} - Z_{i y_i}\\big),
    \\qquad \\partial \\mathcal L / \\partial Z = (\\mathrm{softmax}(Z) - \\mathrm{onehot}(y)) / B,

back-propagated through ``Z_l = H_{l-1} W_l^T + b_l``: ``dW_l = dZ_l^T H_{l-1}``, ``db_l = sum_i dZ_l``,
``dH_{l-1} = dZ_l W_l``, ``dZ_{l-1} = dH_{l-1} * sigma'(Z_{l-1})`` with ``sigma'`` from
:mod:`otlmc.activations`. Used by :mod:`otlmc.train` (the optimisers) and by the straight-through
matching of :mod:`otlmc.matching`; kept apart from the training loop so that importing the
matching methods does not import the training CLI.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array
from .activations import activate, activation_grad
from .networks import MLP


def act_and_grad_mask(name: str, Z):
    """``sigma(Z)`` and a function that multiplies an upstream gradient by ``sigma'(Z)`` in place."""
    if name == "relu":
        H = np.maximum(Z, 0)

        def back(dH):
            np.multiply(dH, Z > 0, out=dH)  # 10x faster than boolean-mask assignment
            return dH

        return H, back
    if name == "tanh":
        H = np.tanh(Z)

        def back(dH):
            dH *= 1 - H * H
            return dH

        return H, back
    if name == "identity":
        return Z, (lambda dH: dH)
    H = activate(name, Z)
    D = activation_grad(name, Z)

    def back(dH):
        dH *= D
        return dH

    return H, back


def forward_backward(Ws, bs, X, y, activation: str, *, need_grad: bool = True):
    """Mean cross-entropy of ``(X, y)`` and its gradients, in the dtype of the inputs.

    ``Ws[l]`` is ``(m_{l+1}, m_l)``, ``bs[l]`` is ``(m_{l+1},)``, ``X`` is ``(B, m_0)``.
    """
    B = X.shape[0]
    H = X  # (B, m_0)
    inputs, backs = [], []
    n_layers = len(Ws)
    for l in range(n_layers):
        inputs.append(H)
        Z = H @ Ws[l].T  # (B, m_{l+1})
        Z += bs[l]
        if l < n_layers - 1:
            H, back = act_and_grad_mask(activation, Z)  # (B, m_{l+1})
            backs.append(back)
    # Z: logits (B, C)
    zmax = Z.max(axis=1, keepdims=True)  # (B, 1)
    E = np.exp(Z - zmax)  # (B, C)
    S = E.sum(axis=1, keepdims=True)  # (B, 1)
    rows = np.arange(B)
    loss = float(np.mean(np.log(S[:, 0]) + zmax[:, 0] - Z[rows, y]))
    if not need_grad:
        return loss, None, None
    dZ = E / S  # (B, C) softmax
    dZ[rows, y] -= 1
    dZ /= B
    dWs, dbs = [None] * n_layers, [None] * n_layers
    for l in range(n_layers - 1, -1, -1):
        dWs[l] = dZ.T @ inputs[l]  # (m_{l+1}, m_l)
        dbs[l] = dZ.sum(axis=0)  # (m_{l+1},)
        if l > 0:
            dZ = backs[l - 1](dZ @ Ws[l])  # (B, m_l)
    return loss, dWs, dbs


def as_matrix(X, dtype) -> np.ndarray:
    """``X`` as a finite C-contiguous ``dtype`` matrix (one copy at most, none if it already is)."""
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiu":
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {X.shape}.")
        X = np.ascontiguousarray(X, dtype=dtype)
        if not np.isfinite(X).all():
            raise ValueError(f"X contains {int((~np.isfinite(X)).sum())} non-finite value(s) (NaN or "
                             f"inf); all must be finite.")
        return X
    return np.ascontiguousarray(check_array("X", X, ndim=2), dtype=dtype)


def check_xy(net: MLP, X, y, dtype):
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an otlmc.networks.MLP, got {type(net).__name__}.")
    X = as_matrix(X, dtype)
    if X.shape[1] != net.widths[0]:
        raise ValueError(f"X has {X.shape[1]} features but the network's input width is {net.widths[0]}.")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}.")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}.")
    n_out = net.widths[-1]
    if y.size and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(f"labels y take values in [{y.min()}, {y.max()}]; the network has {n_out} "
                         f"outputs, so they must lie in 0..{n_out - 1}.")
    return X, y.astype(np.intp)


def loss_and_grad(net: MLP, X, y, *, dtype=np.float64):
    """Mean cross-entropy of ``net`` on ``(X, y)`` and its gradient, computed in ``dtype``.

    Returns ``(loss, dW, db)`` with ``dW[l]`` shaped like ``net.weights[l]``.
    """
    X, y = check_xy(net, X, y, dtype)
    Ws = [np.asarray(W, dtype=dtype) for W in net.weights]
    bs = [np.asarray(b, dtype=dtype) for b in net.biases]
    loss, dWs, dbs = forward_backward(Ws, bs, X, y, net.activation)
    return loss, tuple(dWs), tuple(dbs)


__all__ = ["act_and_grad_mask", "as_matrix", "check_xy", "forward_backward", "loss_and_grad"]
