"""The fused two-layer path evaluation equals evaluate_path(...).summary for both paths."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.barrier import evaluate_path, t_grid
from otlmc.fused_path import path_summaries
from otlmc.matching import weight_matching
from otlmc.networks import MLP, permute
from otlmc.sampling import sample_inputs, sample_mlp


def reference(net_a, net_b, X, perm, ts):
    row = evaluate_path(net_a, permute(net_b, [perm]), X, ts=ts).summary("aligned_")
    row.update(evaluate_path(net_a, net_b, X, ts=ts).summary("unaligned_"))
    return row


def assert_same(row, ref, rtol=1e-12):
    assert sorted(row) == sorted(ref)
    for key, val in ref.items():
        assert abs(row[key] - val) <= rtol * max(abs(val), 1e-300), (key, row[key], val)


def random_net(widths, rng, activation):
    weights = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    biases = [0.3 * rng.standard_normal(b) for b in widths[1:]]
    return MLP(weights, biases, activation=activation)


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("widths", [(5, 1, 1), (3, 7, 2), (5, 64, 10)])
def test_equals_evaluate_path(activation, widths, rng):
    net_a, net_b = random_net(widths, rng, activation), random_net(widths, rng, activation)
    X = rng.standard_normal((37, widths[0]))  # (37, m_0): not a multiple of the row block
    perm = rng.permutation(widths[1])
    for ts in (t_grid(25), np.array([0.0, 0.1, 0.5, 0.55, 1.0]), np.array([0.0, 1.0])):
        assert_same(path_summaries(net_a, net_b, X, perm, ts=ts), reference(net_a, net_b, X, perm, ts))


def test_width_scaling_networks_with_weight_matching(rng):
    net_a = sample_mlp((5, 256, 10), rng=rng)
    net_b = sample_mlp((5, 256, 10), rng=rng)
    X = sample_inputs(300, 5, rng=rng)  # (300, 5)
    perm = weight_matching(net_a, net_b).perms[0]
    ts = t_grid(9)
    row = path_summaries(net_a, net_b, X, perm, ts=ts)
    assert_same(row, reference(net_a, net_b, X, perm, ts))
    # alignment lowers the deviation on these networks: the two summaries are not swapped
    assert row["aligned_deviation_rms_max_t"] < row["unaligned_deviation_rms_max_t"]


def test_identity_perm_gives_equal_paths_and_custom_prefixes(rng):
    net_a, net_b = random_net((4, 12, 3), rng, "relu"), random_net((4, 12, 3), rng, "relu")
    X = rng.standard_normal((20, 4))
    row = path_summaries(net_a, net_b, X, np.arange(12), prefixes=("x_", "y_"))
    assert set(row) == {f"{p}{k}" for p in ("x_", "y_") for k in
                        ("barrier", "barrier_rebasin", "midpoint_loss", "deviation_rms_max_t",
                         "deviation_sup")}
    for key in ("barrier", "barrier_rebasin", "midpoint_loss", "deviation_rms_max_t", "deviation_sup"):
        assert row[f"x_{key}"] == row[f"y_{key}"]


def test_bad_inputs(rng):
    net_a, net_b = random_net((4, 6, 2), rng, "relu"), random_net((4, 6, 2), rng, "relu")
    X = rng.standard_normal((10, 4))
    deep = random_net((4, 6, 6, 2), rng, "relu")
    with pytest.raises(ValueError, match="one hidden layer"):
        path_summaries(deep, deep, X, np.arange(6))
    with pytest.raises(ValueError, match="perm"):
        path_summaries(net_a, net_b, X, np.array([0, 0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="perm"):
        path_summaries(net_a, net_b, X, np.arange(5))
    with pytest.raises(ValueError, match="features"):
        path_summaries(net_a, net_b, rng.standard_normal((10, 3)), np.arange(6))
    with pytest.raises(ValueError, match="start at 0"):
        path_summaries(net_a, net_b, X, np.arange(6), ts=np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match="widths"):
        path_summaries(net_a, random_net((4, 7, 2), rng, "relu"), X, np.arange(6))
    with pytest.raises(TypeError, match="prefixes"):
        path_summaries(net_a, net_b, X, np.arange(6), prefixes="a_")
    with pytest.raises(ValueError, match="non-finite"):
        path_summaries(net_a, net_b, np.full((3, 4), np.nan), np.arange(6))
