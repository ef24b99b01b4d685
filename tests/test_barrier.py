"""Barriers and path measurements (docs/theory.md §0, §6.4, §6.7)."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.barrier import barrier, barrier_values, evaluate_path, layer_gaps, t_grid
from otlmc.matching import align
from otlmc.networks import forward, interpolate
from otlmc.sampling import sample_inputs, sample_mlp


def test_barrier_definitions_on_a_known_curve():
    ts = np.linspace(0, 1, 5)
    losses = np.array([1.0, 2.0, 4.0, 2.5, 3.0])
    b = barrier_values(ts, losses)
    linear = 1.0 + 2.0 * ts
    assert b["barrier"] == pytest.approx(np.max(losses - linear))  # 4 - 2 = 2
    assert b["barrier"] == pytest.approx(2.0)
    assert b["barrier_rebasin"] == pytest.approx(4.0 - 2.0)
    assert b["midpoint_loss"] == pytest.approx(4.0)
    # midpoint interpolated when 1/2 is not on the grid
    assert barrier_values(np.array([0.0, 0.4, 0.6, 1.0]), np.array([0, 1.0, 3.0, 0]))["midpoint_loss"] == 2.0


def test_path_losses_match_explicit_interpolation(rng):
    net_a = sample_mlp((3, 12, 4), rng=rng, bias_scale=0.3)
    net_b = sample_mlp((3, 12, 4), rng=rng, bias_scale=0.3)
    X = sample_inputs(64, 3, rng=rng)
    y = rng.integers(0, 4, size=64)
    ts = t_grid(7)
    res = evaluate_path(net_a, net_b, X, y, ts=ts, loss="ce")
    fa, fb = forward(net_a, X), forward(net_b, X)
    for k, t in enumerate(ts):
        f = forward(interpolate(net_a, net_b, t), X)
        logp = f - np.log(np.exp(f - f.max(1, keepdims=True)).sum(1, keepdims=True)) - f.max(1, keepdims=True)
        np.testing.assert_allclose(res.loss[k], -logp[np.arange(64), y].mean(), rtol=1e-10)
        np.testing.assert_allclose(res.error[k], (f.argmax(1) != y).mean())
        dev = np.linalg.norm(f - ((1 - t) * fa + t * fb), axis=1)
        np.testing.assert_allclose(res.deviation_rms[k], np.sqrt(np.mean(dev**2)), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(res.deviation_max[k], dev.max(), rtol=1e-10, atol=1e-15)
    mse = evaluate_path(net_a, net_b, X, fa, ts=ts, loss="mse")
    assert mse.loss[0] == pytest.approx(0.0, abs=1e-20)


def test_deviation_barrier_is_zero_at_endpoints_and_positive_inside(rng):
    net_a = sample_mlp((3, 16, 1), rng=rng)
    net_b = sample_mlp((3, 16, 1), rng=rng)
    X = sample_inputs(100, 3, rng=rng)
    res = evaluate_path(net_a, net_b, X)
    assert res.loss[0] == 0.0 and res.loss[-1] == pytest.approx(0.0, abs=1e-28)
    assert barrier(net_a, net_b, X) == pytest.approx(res.loss.max()) and res.loss.max() > 0


def test_two_layer_path_bound_holds_pointwise(rng):
    """docs/theory.md §6.4: |f_{M_t} - (1-t) f_A - t f_B| <= t(1-t) sum_i (|a_i|+|b_i|) |z^A_i - z^B_i|
    for 1-Lipschitz sigma; here with the t <-> 1-t convention of §0 (symmetric)."""
    for act in ("relu", "tanh"):
        net_a = sample_mlp((4, 30, 1), rng=rng, activation=act)
        net_b = sample_mlp((4, 30, 1), rng=rng, activation=act)
        net_b, _ = align(net_a, net_b)
        X = sample_inputs(200, 4, rng=rng)
        za, zb = X @ net_a.weights[0].T, X @ net_b.weights[0].T  # (N, n)
        a, b = np.abs(net_a.weights[1][0]), np.abs(net_b.weights[1][0])
        fa, fb = forward(net_a, X)[:, 0], forward(net_b, X)[:, 0]
        for t in np.linspace(0, 1, 11):
            f = forward(interpolate(net_a, net_b, t), X)[:, 0]
            bound = t * (1 - t) * (np.abs(za - zb) @ (a + b))
            assert np.all(np.abs(f - (1 - t) * fa - t * fb) <= bound + 1e-12)


def test_relu_jensen_makes_first_layer_gap_nonnegative(rng):
    """docs/theory.md §6.7: sigma(convex combination) <= convex combination of sigma, for ReLU."""
    net_a = sample_mlp((3, 20, 2), rng=rng, bias_scale=0.5)
    net_b = sample_mlp((3, 20, 2), rng=rng, bias_scale=0.5)
    X = sample_inputs(50, 3, rng=rng)
    ha, hb = forward(net_a, X, return_features=True)[1][0][1], forward(net_b, X, return_features=True)[1][0][1]
    for t in np.linspace(0, 1, 6):
        h = forward(interpolate(net_a, net_b, t), X, return_features=True)[1][0][1]
        assert np.all(h <= (1 - t) * ha + t * hb + 1e-12)
    gaps = layer_gaps(net_a, net_b, X)
    assert gaps["endpoint_gap"].shape == (1,) and gaps["endpoint_gap"][0] > 0


def test_bad_path_input(rng):
    net = sample_mlp((3, 4, 2), rng=rng)
    X = sample_inputs(5, 3, rng=rng)
    with pytest.raises(ValueError, match="ts must lie in"):
        evaluate_path(net, net, X, ts=[0.0, 2.0])
    with pytest.raises(ValueError, match="start at 0 and end at 1"):
        evaluate_path(net, net, X, ts=[0.2, 0.5])
    with pytest.raises(ValueError, match="loss='hinge'"):
        evaluate_path(net, net, X, loss="hinge")
    with pytest.raises(ValueError, match="needs integer labels"):
        evaluate_path(net, net, X, loss="ce")
    with pytest.raises(ValueError, match="labels must lie in"):
        evaluate_path(net, net, X, np.full(5, 7), loss="ce")
    with pytest.raises(ValueError, match=r"y has shape \(4,\)"):
        evaluate_path(net, net, X, np.zeros(4), loss="mse")
    with pytest.raises(ValueError, match="n_points == 1"):
        t_grid(1)
