"""The activations otlmc knows: one registry, one entry per name, read by every module.

Each :class:`Activation` holds the pointwise value ``sigma``, its derivative ``sigma'``, the
Lipschitz constant ``sup |sigma'|``, the curvature ``sup |sigma''|`` (``None`` when ``sigma`` is
not twice differentiable) and whether the mean-field theorem of Ferbach et al. (Theorem 3.1:
bounded, Lipschitz, ``C^2`` activations) covers it. MLPs (:mod:`otlmc.networks`), their training
(:mod:`otlmc.train`), mean-field networks (:mod:`otlmc.meanfield`, whose numba kernel keeps a
specialised branch per name but takes the names from here) and the theory's Lipschitz and
curvature constants all read this table.

The value and derivative functions are array-module generic: numpy or cupy in, the same out.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ._validation import check_choice
from .backend import xp_of


@dataclass(frozen=True)
class Activation:
    """One activation and the constants the bounds use.

    Attributes
    ----------
    name : registry key.
    value : ``Z -> sigma(Z)`` elementwise (numpy or cupy).
    derivative : ``Z -> sigma'(Z)`` elementwise (``relu'(0) = 0``).
    lipschitz : ``sup_z |sigma'(z)|``.
    curvature : ``sup_z |sigma''(z)|``; ``None`` when ``sigma`` is not ``C^2`` (ReLU).
    bounded : whether ``sigma`` is bounded.
    in_meanfield_theorem : whether Ferbach et al.'s Theorem 3.1 (bounded, Lipschitz, ``C^2``)
        covers it.
    """

    name: str
    value: Callable
    derivative: Callable
    lipschitz: float
    curvature: float | None
    bounded: bool
    in_meanfield_theorem: bool


def _relu(Z):
    return xp_of(Z).maximum(Z, 0.0)


def _relu_grad(Z):
    return (Z > 0).astype(Z.dtype)


def _tanh(Z):
    return xp_of(Z).tanh(Z)


def _tanh_grad(Z):
    T = xp_of(Z).tanh(Z)
    return 1.0 - T * T


def _sigmoid(Z):
    # 1 / (1 + e^{-z}) for z >= 0 and e^{z} / (1 + e^{z}) below: no overflow for large |z|
    xp = xp_of(Z)
    E = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def _sigmoid_grad(Z):
    S = _sigmoid(Z)
    return S * (1.0 - S)


def _arctan(Z):
    return xp_of(Z).arctan(Z)


def _arctan_grad(Z):
    return 1.0 / (1.0 + Z * Z)


def _identity(Z):
    return Z


def _identity_grad(Z):
    return xp_of(Z).ones_like(Z)


_SQRT3 = math.sqrt(3.0)

#: every activation, by name. Curvatures: tanh ``4/(3 sqrt 3)`` at ``tanh z = 1/sqrt 3``;
#: sigmoid ``1/(6 sqrt 3)``; arctan ``9/(8 sqrt 3)`` at ``z = 1/sqrt 3``.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", _relu, _relu_grad, 1.0, None, bounded=False, in_meanfield_theorem=False),
        Activation("tanh", _tanh, _tanh_grad, 1.0, 4.0 / (3.0 * _SQRT3), bounded=True, in_meanfield_theorem=True),
        Activation("sigmoid", _sigmoid, _sigmoid_grad, 0.25, 1.0 / (6.0 * _SQRT3), bounded=True,
                   in_meanfield_theorem=True),
        Activation("arctan", _arctan, _arctan_grad, 1.0, 9.0 / (8.0 * _SQRT3), bounded=True,
                   in_meanfield_theorem=True),
        Activation("identity", _identity, _identity_grad, 1.0, 0.0, bounded=False, in_meanfield_theorem=False),
    )
}


def get_activation(name: str) -> Activation:
    """The registry entry of ``name`` (``ValueError`` naming the allowed ones otherwise)."""
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]


def activate(name: str, Z):
    """``sigma(Z)`` elementwise (numpy or cupy)."""
    return get_activation(name).value(Z)


def activation_grad(name: str, Z):
    """``sigma'(Z)`` elementwise (numpy or cupy)."""
    return get_activation(name).derivative(Z)


__all__ = ["ACTIVATIONS", "Activation", "activate", "activation_grad", "get_activation"]
