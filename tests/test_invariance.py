"""Permutation invariant checks: a relabelled network computes the same function (docs/theory.md §0, §6.2)."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.invariance import PermutationCheckError, check_permutation, validate_perms, verified_align, \
    verified_permute
from otlmc.matching import weight_matching
from otlmc.networks import MLP, forward, permute
from otlmc.sampling import sample_inputs, sample_mlp

WIDTHS = (6, 20, 30, 20, 4)


def _setup(rng, activation="relu"):
    net = sample_mlp(WIDTHS, rng=rng, bias_scale=0.3, activation=activation)
    X = sample_inputs(100, WIDTHS[0], rng=rng)
    perms = [rng.permutation(m) for m in WIDTHS[1:-1]]
    return net, X, perms


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_valid_permutation_passes_with_margin(rng, activation):
    net, X, perms = _setup(rng, activation)
    check = check_permutation(net, perms, X)
    assert check.ok and check.first_bad_layer is None
    # reordering sums moves the outputs by rounding only, far inside the first-order bound
    assert check.max_abs < 1e-13 and max(check.layer_max_ratio) < 0.1
    rec = check.record()
    assert rec["perm_check_ok"] is True and rec["perm_check_max_abs"] == check.max_abs
    out, chk = verified_permute(net, perms, X)
    np.testing.assert_allclose(forward(out, X), forward(net, X), rtol=1e-12, atol=1e-13)
    assert chk == check


def test_rows_permuted_without_next_columns_is_caught(rng):
    """The classic bug: permute the rows (and bias) of hidden layer 2 but not the columns of layer 3."""
    net, X, perms = _setup(rng)
    W, b = list(net.weights), list(net.biases)
    W[1], b[1] = W[1][perms[1]], b[1][perms[1]]
    broken = MLP(W, b)
    claimed = [np.arange(WIDTHS[1]), perms[1], np.arange(WIDTHS[3])]
    check = check_permutation(net, claimed, X, permuted=broken)
    assert not check.ok
    assert check.first_bad_layer == 2  # layer 2 itself agrees, layer 3 sees wrongly ordered inputs
    assert check.layer_max_ratio[1] <= 1.0 and check.layer_max_ratio[2] > 1e6
    with pytest.raises(PermutationCheckError, match=r"hidden layer 3 \(perms\[2\]\).*columns do not follow perms\[1\]"):
        verified_permute(net, claimed, X, permuted=broken)


def test_output_columns_not_permuted_is_caught(rng):
    net, X, perms = _setup(rng)
    good = permute(net, perms)
    W = list(good.weights)
    W[-1] = net.weights[-1]  # output columns left in the old order
    broken = MLP(W, good.biases)
    with pytest.raises(PermutationCheckError, match="output layer"):
        verified_permute(net, perms, X, permuted=broken)


def test_claimed_permutation_differs_from_the_applied_one(rng):
    net, X, perms = _setup(rng)
    applied = permute(net, perms)
    claimed = [p.copy() for p in perms]
    claimed[0][[0, 1]] = claimed[0][[1, 0]]  # a valid permutation, but not the one applied
    check = check_permutation(net, claimed, X, permuted=applied)
    assert not check.ok and check.first_bad_layer == 0


def test_small_weight_change_is_caught(rng):
    """Not only gross bugs: a 1e-6 relative change of one weight is far above rounding."""
    net, X, perms = _setup(rng)
    good = permute(net, perms)
    W = [w.copy() for w in good.weights]
    W[2][3, 5] *= 1 + 1e-6
    check = check_permutation(net, perms, X, permuted=MLP(W, good.biases))
    assert not check.ok and check.first_bad_layer == 2


@pytest.mark.parametrize("bad, message", [
    (lambda p: [p[0], np.concatenate([p[1][:-1], p[1][:1]]), p[2]],
     r"perms\[1\] \(hidden layer 2, width 30\).*repeated"),
    (lambda p: [p[0], p[1], p[2] + 1], r"perms\[2\].*out of 0..19"),
    (lambda p: [p[0], p[1][:-1], p[2]], r"perms\[1\].*shape \(29,\)"),
    (lambda p: [p[0].astype(float), p[1], p[2]], r"perms\[0\].*dtype float64"),
    (lambda p: p[:2], r"2 arrays; the network has 3 hidden layers"),
])
def test_invalid_permutations_name_the_layer(rng, bad, message):
    net, X, perms = _setup(rng)
    with pytest.raises(PermutationCheckError, match=message):
        verified_permute(net, bad(perms), X)
    with pytest.raises(ValueError):  # PermutationCheckError is a ValueError
        validate_perms(bad(perms), net.widths)


def test_match_results_pass_through(rng):
    net_a, X, _ = _setup(rng)
    net_b = sample_mlp(WIDTHS, rng=rng, bias_scale=0.3)
    res = weight_matching(net_a, net_b)
    out, check = verified_permute(net_b, res, X)  # a MatchResult is accepted
    assert check.ok
    aligned, res2, check2 = verified_align(net_a, net_b, "am", X_check=X, X=X)
    assert check2.ok and res2.method == "am"
    np.testing.assert_allclose(forward(aligned, X), forward(net_b, X), rtol=1e-12, atol=1e-13)


def test_input_errors(rng):
    net, X, perms = _setup(rng)
    with pytest.raises(TypeError, match="net_b"):
        check_permutation("net", perms, X)
    with pytest.raises(ValueError, match="X has shape"):
        check_permutation(net, perms, X[:, :3])
    with pytest.raises(ValueError, match="rtol == 0.0"):
        check_permutation(net, perms, X, rtol=0.0)
    with pytest.raises(ValueError, match="widths"):
        check_permutation(net, perms, X, permuted=sample_mlp((6, 20, 30, 21, 4), rng=rng))
