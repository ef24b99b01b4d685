"""otlmc.wide_pairs and pair_metrics' wide path: the same cell as the dense path, without n x n arrays."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from otlmc import pairs, wide_pairs
from otlmc.barrier import evaluate_path, t_grid
from otlmc.measure import two_layer_path_bound
from otlmc.networks import forward_path
from otlmc.pairs import pair_metrics
from otlmc.runner import run
from otlmc.sampling import sample_inputs, sample_mlp
from otlmc.transport import match_rows
from otlmc.wide_pairs import (DENSE_MAX_WIDTH, FAST_MIN_WIDTH, deviation_rms, match_rows_wide,
                              matrix_free_matching, two_layer_path_blocked)
from sims import dimension_scaling


def _streams(seed: int) -> dict:
    return dict(zip(("net_a", "net_b", "eval"), map(np.random.default_rng, np.random.SeedSequence(seed).spawn(3))))


def _cell(d, n, method, seed=0, **kw):
    args = dict(dist="gaussian", activation="relu", n_out=10, n_eval=300, t_points=9) | kw
    return pair_metrics(d, n, streams=_streams(seed), method=method, **args)


def _same_cell(dense: dict, wide: dict) -> None:
    """Same permutation: W_2 to the last bit; path quantities to the order of the sums."""
    assert dense.keys() == wide.keys()
    assert wide["w2_layer1"] == dense["w2_layer1"]
    assert wide["w2_identity_layer1"] == dense["w2_identity_layer1"]
    assert wide["path_bound_violations"] == dense["path_bound_violations"] == 0
    for k in ("aligned_deviation_rms_max_t", "path_bound_rms_max_t", "path_bound_max_ratio"):
        assert wide[k] == pytest.approx(dense[k], rel=1e-12, abs=0), k


@pytest.mark.parametrize("act", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_blocked_path_is_forward_path_and_the_bound(act, block):
    """Outputs against the batched forward pass, gap against both sides of the dense path bound."""
    rng = np.random.default_rng(5)
    a = sample_mlp((3, 64, 4), rng=rng, activation=act, bias_scale=0.3)
    b = sample_mlp((3, 64, 4), rng=rng, activation=act, bias_scale=0.3)
    X, ts = sample_inputs(50, 3, rng=rng), t_grid(7)  # (50, 3), (7,)
    out, gap = two_layer_path_blocked(a, b, X, ts, block=block)
    np.testing.assert_allclose(out, forward_path(a, b, X, ts), rtol=1e-12, atol=1e-13)
    lhs, rhs = two_layer_path_bound(a, b, X, ts)  # (T, N, m_out) each
    tt = ts.reshape(-1, 1, 1)
    np.testing.assert_allclose(tt * (1 - tt) * gap[None], rhs, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.abs(out - (1 - tt) * out[0] - tt * out[-1]), lhs, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(deviation_rms(out, ts), evaluate_path(a, b, X, ts=ts).deviation_rms,
                               rtol=1e-12, atol=1e-14)


def test_blocked_path_never_holds_an_n_eval_by_n_array():
    """At n = 40000, N = 300 one (N, n) float array is 96 MB; in blocks of 1024 units the path needs
    a few (N, 1024) arrays (2.5 MB each), whatever n."""
    rng = np.random.default_rng(0)
    a, b = (sample_mlp((2, 40000, 3), rng=rng) for _ in range(2))
    X = sample_inputs(300, 2, rng=rng)
    tracemalloc.start()
    try:
        two_layer_path_blocked(a, b, X, t_grid(3), block=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 300 * 1024 * 8 < 300 * 40000 * 8 / 3, peak


def test_blocked_path_refuses_bad_input():
    rng = np.random.default_rng(0)
    a, b = (sample_mlp((2, 8, 3), rng=rng) for _ in range(2))
    X = sample_inputs(4, 2, rng=rng)
    with pytest.raises(ValueError, match="start at 0"):
        two_layer_path_blocked(a, b, X, [0.0, 0.5])
    with pytest.raises(ValueError, match="block == 0"):
        two_layer_path_blocked(a, b, X, [0.0, 1.0], block=0)
    with pytest.raises(ValueError, match="one hidden layer"):
        deep = sample_mlp((2, 8, 8, 3), rng=rng)
        two_layer_path_blocked(deep, deep, X, [0.0, 1.0])
    with pytest.raises(ValueError, match="3 columns"):
        two_layer_path_blocked(a, b, np.ones((4, 3)), [0.0, 1.0])


@pytest.mark.parametrize("d", [2, 3, 9])
def test_wide_matching_is_the_dense_permutation(d):
    """A constant column (the zero biases) is dropped; the permutation is scipy-exact's."""
    rng = np.random.default_rng(d)
    A = np.c_[rng.standard_normal((700, d)), np.zeros(700)]  # (700, d + 1)
    B = np.c_[rng.standard_normal((700, d)), np.zeros(700)]
    want = match_rows(A, B)
    assert np.array_equal(match_rows_wide(A, B, method="matrix_free"), want)
    assert np.array_equal(match_rows_wide(A, B, method="dense"), want)


def test_wide_matching_one_varying_coordinate_is_sorted():
    rng = np.random.default_rng(1)
    A, B = np.c_[rng.standard_normal(50), np.ones(50)], np.c_[rng.standard_normal(50), np.ones(50)]
    perm = match_rows_wide(A, B, method="matrix_free")
    assert np.array_equal(np.argsort(B[perm, 0]), np.argsort(A[:, 0]))  # the monotone coupling


def test_wide_matching_refuses_bad_input():
    with pytest.raises(ValueError, match="method='sparse' is not known"):
        match_rows_wide(np.ones((3, 2)), np.ones((3, 2)), method="sparse")
    with pytest.raises(ValueError, match="same shape"):
        match_rows_wide(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="method='sparse' is not known"):
        _cell(2, 8, "sparse")


def test_auto_rule_follows_the_measured_crossover():
    assert not matrix_free_matching(FAST_MIN_WIDTH - 1, 5)
    assert matrix_free_matching(FAST_MIN_WIDTH, 12)
    assert not matrix_free_matching(DENSE_MAX_WIDTH, 13)  # dense is faster at high d while it fits
    assert matrix_free_matching(DENSE_MAX_WIDTH + 1, 40)  # and impossible above 2 GiB
    with pytest.raises(ValueError, match="n == -1"):
        matrix_free_matching(-1, 2)


def test_one_cell_both_ways_at_the_matching_threshold():
    """Width 4500 (> FAST_MIN_WIDTH, two neuron blocks): dense and matrix-free give the same cell,
    and 'auto' (matrix-free matching, dense evaluation below DENSE_MAX_WIDTH) is the dense cell to the bit."""
    dense = _cell(5, 4500, "dense", n_eval=100)
    _same_cell(dense, _cell(5, 4500, "matrix_free", n_eval=100))
    assert _cell(5, 4500, "auto", n_eval=100) == dense


def test_auto_above_the_threshold_builds_no_dense_array(monkeypatch):
    """With the thresholds lowered to 64, 'auto' at n = 200 never calls the dense matching or the dense path."""
    monkeypatch.setattr(wide_pairs, "DENSE_MAX_WIDTH", 64)
    monkeypatch.setattr(pairs, "DENSE_MAX_WIDTH", 64)
    dense = _cell(3, 200, "dense", seed=4)

    def refuse(*a, **k):
        raise AssertionError("dense path used above the threshold")
    for mod, name in ((wide_pairs, "match_rows"), (pairs, "evaluate_path"), (pairs, "two_layer_path_bound")):
        monkeypatch.setattr(mod, name, refuse)
    _same_cell(dense, _cell(3, 200, "auto", seed=4))


@pytest.mark.slow
def test_one_cell_both_ways_at_the_memory_threshold():
    """Width DENSE_MAX_WIDTH (2 GiB dense cost matrix, four neuron blocks): the same cell both ways."""
    _same_cell(_cell(5, DENSE_MAX_WIDTH, "dense", n_eval=100), _cell(5, DENSE_MAX_WIDTH, "matrix_free", n_eval=100))


def test_widths_up_to_the_matrix_free_limit(tmp_path, capsys):
    cfg = dimension_scaling.Config(widths=(64, dimension_scaling.MAX_WIDTH))
    assert max(cfg.widths) == 131072
    assert run(dimension_scaling.SIM, ["--dims", "5", "--widths", "64", "262144", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--widths == 262144, must be <= 131072" in err
    assert run(dimension_scaling.SIM, ["--dims", "5", "--widths", "64", "131072", "--replicates", "2",
                                       "--out", str(tmp_path), "--dry-run", "--no-progress"]) == 0
