"""The activation registry: values, derivatives and constants against closed forms and finite differences."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.activations import ACTIVATIONS, activate, activation_grad, get_activation
from otlmc.meanfield import MeanFieldNet
from otlmc.meanfield.kernels import ACT_CODES
from otlmc.networks import MLP

Z = np.linspace(-6.0, 6.0, 200001)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_central_differences(name):
    z = np.linspace(-4.0, 4.0, 801)
    z = z[np.abs(z) > 1e-3]  # relu has a kink at 0
    h = 1e-6
    fd = (activate(name, z + h) - activate(name, z - h)) / (2 * h)
    np.testing.assert_allclose(activation_grad(name, z), fd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_lipschitz_constant_is_the_sup_of_the_derivative(name):
    assert get_activation(name).lipschitz == pytest.approx(np.abs(activation_grad(name, Z)).max(), rel=1e-8)


def test_curvature_constants_are_the_sup_of_sigma_second_derivative():
    t = np.tanh(Z)
    s = 1 / (1 + np.exp(-Z))
    numeric = {"tanh": np.abs(-2 * t * (1 - t * t)).max(), "sigmoid": np.abs(s * (1 - s) * (1 - 2 * s)).max(),
               "arctan": np.abs(-2 * Z / (1 + Z * Z) ** 2).max(), "identity": 0.0}
    for name, v in numeric.items():
        assert ACTIVATIONS[name].curvature == pytest.approx(v, rel=1e-8, abs=1e-300)
    assert ACTIVATIONS["relu"].curvature is None  # not C^2


def test_theorem_flags_and_boundedness():
    assert {n for n, a in ACTIVATIONS.items() if a.in_meanfield_theorem} == {"tanh", "sigmoid", "arctan"}
    for name, a in ACTIVATIONS.items():
        assert a.bounded == bool(np.abs(activate(name, np.array([60.0, -60.0]))).max() < 2)
        # Theorem 3.1 needs bounded, Lipschitz and C^2
        assert a.in_meanfield_theorem == (a.bounded and a.curvature is not None)


def test_every_consumer_reads_the_registry():
    for name in ACTIVATIONS:
        MLP([np.ones((2, 3)), np.ones((1, 2))], activation=name)
        assert MeanFieldNet(2, name).in_theorem == ACTIVATIONS[name].in_meanfield_theorem
    assert set(ACT_CODES) == set(ACTIVATIONS)
    with pytest.raises(ValueError, match="activation='softplus' is not known; allowed: 'relu', 'tanh'"):
        get_activation("softplus")


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = activate("sigmoid", z)
    np.testing.assert_allclose(s, [0.0, np.exp(-40.0) / (1 + np.exp(-40.0)), 0.5, 1 / (1 + np.exp(-40.0)), 1.0],
                               rtol=1e-15, atol=0)
