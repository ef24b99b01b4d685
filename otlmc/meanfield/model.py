"""Mean-field two-layer networks: the model, its particles and its forward pass (docs/theory.md §3).

Model (Mei, Misiakiewicz & Montanari 2019; Ferbach et al. Section 3):

.. math:: f_N(x; \\theta) = \\frac1N \\sum_{i=1}^N a_i \\sigma(\\langle w_i, x\\rangle + c_i),
          \\qquad \\theta_i = (a_i, w_i[, c_i]) \\in \\mathbb R^D,\\ D = 1 + d\\ (+1 \\text{ with bias}).

Particles are the rows of one array ``theta`` of shape ``(N, D)`` with columns
``[a, w_1..w_d, c]`` (``c`` only when ``bias=True``), so an alignment by exact assignment on
``theta_i`` (Theorem 3.1) is one call of :func:`otlmc.transport.match_rows`
(:func:`otlmc.meanfield.align_particles`).

Activations come from the registry :mod:`otlmc.activations`: ``tanh``, ``sigmoid``, ``arctan``
are bounded, Lipschitz and ``C^2`` (the theorem's assumption, ``in_meanfield_theorem``); ``relu``
and ``identity`` are allowed but flagged (:attr:`MeanFieldNet.in_theorem`) as outside it.
Names carry an ``mf_`` prefix where an MLP function of another signature exists
(:func:`mf_forward` vs :func:`otlmc.networks.forward`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_choice, check_int, check_real
from ..activations import ACTIVATIONS, activate, get_activation
from ..backend import to_numpy, xp_of
from ..rng import check_rng


@dataclass(frozen=True)
class MeanFieldNet:
    """Architecture of a mean-field two-layer net: input dimension, activation, bias flag.

    The parameters live outside, in ``theta`` (N, D), so that steps stay pure functions.
    """

    d: int
    activation: str = "tanh"
    bias: bool = False

    def __post_init__(self):
        check_int("d", self.d, min_value=1)
        check_choice("activation", self.activation, ACTIVATIONS)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise TypeError(f"bias must be a bool, got {self.bias!r}.")

    @property
    def D(self) -> int:
        """Particle dimension ``D = 1 + d (+1 with bias)``."""
        return 1 + self.d + int(self.bias)

    @property
    def in_theorem(self) -> bool:
        """Whether Theorem 3.1 covers the activation (bounded, Lipschitz, ``C^2``)."""
        return get_activation(self.activation).in_meanfield_theorem


def _check_theta(net: MeanFieldNet, theta, name: str = "theta"):
    xp = xp_of(theta)
    theta = check_array(name, theta, ndim=2, xp=xp)
    if theta.shape[1] != net.D:
        raise ValueError(f"{name} has {theta.shape[1]} columns, expected D = {net.D} "
                         f"(a, w_1..w_{net.d}{', c' if net.bias else ''}).")
    if theta.shape[0] < 1:
        raise ValueError(f"{name} has no particles; N must be >= 1.")
    return theta, xp


def _check_X(net: MeanFieldNet, X, xp, name: str = "X"):
    X = check_array(name, X, ndim=2, xp=xp)
    if X.shape[1] != net.d:
        raise ValueError(f"{name} has {X.shape[1]} columns, expected d = {net.d}.")
    return X


def init_particles(net: MeanFieldNet, n: int, *, rng: np.random.Generator, a_scale: float = 1.0,
                   w_scale: float = 1.0) -> np.ndarray:
    """I.i.d. particles with bounded support (the theorem's init assumption), shape ``(n, D)``.

    ``a_i ~ U[-a_scale, a_scale]``, ``w_i`` uniform in the ball of radius ``w_scale`` of ``R^d``,
    ``c_i ~ U[-w_scale, w_scale]`` with bias.
    """
    n = check_int("n", n, min_value=1)
    a_scale = check_real("a_scale", a_scale, min_value=0.0)
    w_scale = check_real("w_scale", w_scale, min_value=0.0)
    rng = check_rng(rng)
    theta = np.empty((n, net.D))  # (n, D)
    theta[:, 0] = rng.uniform(-a_scale, a_scale, size=n)
    theta[:, 1 : 1 + net.d] = w_scale * uniform_ball(n, net.d, rng=rng)
    if net.bias:
        theta[:, -1] = rng.uniform(-w_scale, w_scale, size=n)
    return theta


def uniform_ball(n: int, d: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform in the unit ball of ``R^d`` (n, d)."""
    n = check_int("n", n, min_value=0)
    d = check_int("d", d, min_value=1)
    rng = check_rng(rng)
    G = rng.standard_normal((n, d))  # (n, d)
    G /= np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
    return G * rng.uniform(size=(n, 1)) ** (1.0 / d)


def _split(net: MeanFieldNet, theta):
    a = theta[:, 0]  # (N,)
    W = theta[:, 1 : 1 + net.d]  # (N, d)
    c = theta[:, 1 + net.d] if net.bias else None  # (N,)
    return a, W, c


def mf_forward(net: MeanFieldNet, theta, X):
    """``f_N(x_j; theta)`` for the rows of ``X`` (n, d) -> (n,) (numpy or cupy)."""
    theta, xp = _check_theta(net, theta)
    X = _check_X(net, X, xp)
    a, W, c = _split(net, theta)
    Z = X @ W.T  # (n, N)
    if c is not None:
        Z += c[None, :]
    return activate(net.activation, Z) @ a / theta.shape[0]  # (n,)


def mf_forward_path(net: MeanFieldNet, theta_a, theta_b, X, ts):
    """Outputs of ``theta(t) = (1 - t) theta_a + t theta_b`` for each ``t`` in ``ts`` -> (T, n)."""
    theta_a, xp = _check_theta(net, theta_a, "theta_a")
    theta_b, _ = _check_theta(net, theta_b, "theta_b")
    if theta_a.shape != theta_b.shape:
        raise ValueError(f"theta_a and theta_b differ in shape: {theta_a.shape} vs {theta_b.shape}.")
    return xp.stack([mf_forward(net, (1.0 - t) * theta_a + t * theta_b, X) for t in ts])  # (T, n)


def risk(net: MeanFieldNet, theta, X, y) -> float:
    """Empirical squared risk ``mean_j (y_j - f_N(x_j))^2`` on a held-out set."""
    f = mf_forward(net, theta, X)
    return float(to_numpy(((y - f) ** 2).mean()))


__all__ = ["MeanFieldNet", "init_particles", "mf_forward", "mf_forward_path", "risk", "uniform_ball"]
