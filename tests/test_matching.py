"""Weight matching (Ferbach et al. Eq. 2): planted permutations, optimality, Birkhoff costs."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.barrier import evaluate_path
from otlmc.matching import align, identity_matching, match, weight_matching
from otlmc.networks import forward, permute
from otlmc.sampling import sample_inputs, sample_mlp
from otlmc.transport import empirical_wasserstein


@pytest.mark.parametrize("widths", [(4, 16, 1), (5, 12, 10, 8, 3)])
def test_recovers_planted_permutation_and_zero_barrier(rng, widths):
    net_a = sample_mlp(widths, rng=rng, bias_scale=0.2)
    planted = [rng.permutation(m) for m in widths[1:-1]]
    net_b = permute(net_a, planted)  # B's neuron planted[i] is A's neuron i... up to inversion
    aligned, perms = align(net_a, net_b)
    for l, p in enumerate(perms):
        # permute(A, q) puts A's neuron q[j] at position j; matching must undo it
        np.testing.assert_array_equal(np.asarray(planted[l])[p], np.arange(widths[l + 1]))
    for Wa, Wb in zip(net_a.weights, aligned.weights):
        np.testing.assert_array_equal(Wa, Wb)
    X = sample_inputs(30, widths[0], rng=rng)
    res = evaluate_path(net_a, aligned, X)
    # (1 - t) W + t W equals W only up to round-off, so "zero" means float64 round-off here
    assert res.barriers["barrier"] < 1e-24
    assert res.deviation_max.max() < 1e-12


def test_first_layer_cost_is_w2_squared_of_row_measures(rng):
    net_a = sample_mlp((6, 40, 1), rng=rng)
    net_b = sample_mlp((6, 40, 1), rng=rng)
    res = weight_matching(net_a, net_b)
    w2 = empirical_wasserstein(net_a.weights[0], net_b.weights[0], 2)
    np.testing.assert_allclose(res.costs[0], w2**2, rtol=1e-10)
    assert res.costs[0] <= res.identity_costs[0]


def test_each_layer_is_optimal_given_the_previous_permutation(rng):
    """No random permutation of layer l beats the matched one (columns fixed by p_{l-1})."""
    widths = (4, 9, 8, 2)
    net_a = sample_mlp(widths, rng=rng)
    net_b = sample_mlp(widths, rng=rng)
    res = weight_matching(net_a, net_b)
    Wb2 = net_b.weights[1][:, res.perms[0]]
    for _ in range(200):
        q = rng.permutation(8)
        cost = np.mean(np.sum((net_a.weights[1] - Wb2[q]) ** 2, axis=1))
        assert cost >= res.costs[1] - 1e-12


def test_aligned_network_computes_the_same_function(rng):
    net_a = sample_mlp((3, 10, 7, 2), rng=rng, bias_scale=0.5)
    net_b = sample_mlp((3, 10, 7, 2), rng=rng, bias_scale=0.5)
    aligned, _ = align(net_a, net_b)
    X = sample_inputs(40, 3, rng=rng)
    np.testing.assert_allclose(forward(aligned, X), forward(net_b, X), atol=1e-12)


def test_identity_matching_and_method_names(rng):
    net_a = sample_mlp((3, 5, 1), rng=rng)
    net_b = sample_mlp((3, 5, 1), rng=rng)
    res = identity_matching(net_a, net_b)
    np.testing.assert_array_equal(res.perms[0], np.arange(5))
    with pytest.raises(ValueError, match="method='sinkhorn'"):
        match(net_a, net_b, method="sinkhorn")
    with pytest.raises(ValueError, match="differ in widths"):
        weight_matching(net_a, sample_mlp((3, 6, 1), rng=rng))
