"""MLP container, forward pass, permutation invariance, interpolation (docs/theory.md §0, §6.2)."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.networks import MLP, forward, forward_path, interpolate, permute
from otlmc.sampling import sample_inputs, sample_mlp


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("widths", [(3, 8, 2), (5, 7, 6, 4, 3)])
def test_permuting_hidden_units_leaves_function_unchanged(rng, activation, widths):
    net = sample_mlp(widths, rng=rng, activation=activation, bias_scale=0.5)
    X = sample_inputs(50, widths[0], rng=rng)
    perms = [rng.permutation(m) for m in widths[1:-1]]
    out, out_p = forward(net, X), forward(permute(net, perms), X)
    np.testing.assert_allclose(out_p, out, rtol=0, atol=1e-12)


def test_forward_matches_explicit_loop(rng):
    net = sample_mlp((4, 6, 5, 3), rng=rng, bias_scale=1.0)
    X = rng.standard_normal((10, 4))
    out, feats = forward(net, X, return_features=True)
    H = X
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        Z = np.array([[W[i] @ h + b[i] for i in range(W.shape[0])] for h in H])
        if l < 2:
            np.testing.assert_allclose(feats[l][0], Z, atol=1e-12)
            H = np.maximum(Z, 0)
            np.testing.assert_allclose(feats[l][1], H, atol=1e-12)
    np.testing.assert_allclose(out, Z, atol=1e-12)


def test_interpolation_endpoints_and_midpoint(rng):
    a = sample_mlp((3, 5, 2), rng=rng, bias_scale=1.0)
    b = sample_mlp((3, 5, 2), rng=rng, bias_scale=1.0)
    for Wa, W0 in zip(a.weights, interpolate(a, b, 0.0).weights):
        np.testing.assert_array_equal(Wa, W0)
    for Wb, W1 in zip(b.weights, interpolate(a, b, 1.0).weights):
        np.testing.assert_array_equal(Wb, W1)
    mid = interpolate(a, b, 0.5)
    np.testing.assert_allclose(mid.biases[0], (a.biases[0] + b.biases[0]) / 2)


@pytest.mark.parametrize("t_chunk", [None, 1, 3, 10])
def test_forward_path_equals_pointwise_interpolation(rng, t_chunk):
    a = sample_mlp((4, 9, 7, 3), rng=rng, bias_scale=0.3, activation="tanh")
    b = sample_mlp((4, 9, 7, 3), rng=rng, bias_scale=0.3, activation="tanh")
    X = rng.standard_normal((20, 4))
    ts = np.array([0.0, 0.2, 0.5, 1.0])
    out, hidden = forward_path(a, b, X, ts, return_features=True, t_chunk=t_chunk)
    assert out.shape == (4, 20, 3) and [h.shape for h in hidden] == [(4, 20, 9), (4, 20, 7)]
    for k, t in enumerate(ts):
        ref, feats = forward(interpolate(a, b, t), X, return_features=True)
        np.testing.assert_allclose(out[k], ref, atol=1e-12)
        for l in range(2):
            np.testing.assert_allclose(hidden[l][k], feats[l][1], atol=1e-12)


def test_widths_and_repr(rng):
    net = sample_mlp((3, 4, 5, 2), rng=rng)
    assert net.widths == (3, 4, 5, 2)
    assert net.n_hidden == 2
    assert "widths=(3, 4, 5, 2)" in repr(net)


@pytest.mark.parametrize(
    "make, err, match",
    [
        (lambda: MLP([np.ones((3, 2)), np.ones((2, 4))]), ValueError, r"weights\[1\] has shape \(2, 4\)"),
        (lambda: MLP([np.array([[np.nan]])]), ValueError, r"weights\[0\] contains 1 non-finite"),
        (lambda: MLP([np.ones((3, 2))], [np.ones(2)]), ValueError, r"biases\[0\] has length 2, expected 3"),
        (lambda: MLP([np.ones((3, 2))], activation="gelu"), ValueError, "activation='gelu'"),
        (lambda: MLP([]), TypeError, "non-empty"),
        (lambda: MLP([np.ones(3)]), ValueError, r"weights\[0\] must be 2-dimensional"),
    ],
)
def test_bad_networks_are_rejected_with_a_name(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_bad_calls_are_rejected_with_a_name(rng):
    net = sample_mlp((3, 4, 2), rng=rng)
    other = sample_mlp((3, 5, 2), rng=rng)
    with pytest.raises(ValueError, match="X has 2 features"):
        forward(net, np.ones((4, 2)))
    with pytest.raises(ValueError, match="differ in widths"):
        interpolate(net, other, 0.5)
    with pytest.raises(ValueError, match="t == 1.5"):
        interpolate(net, net, 1.5)
    with pytest.raises(ValueError, match="not a permutation"):
        permute(net, [np.array([0, 0, 1, 2])])
    with pytest.raises(ValueError, match="perms has 2 arrays"):
        permute(net, [np.arange(4), np.arange(4)])
