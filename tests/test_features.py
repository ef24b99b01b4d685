"""Feature diagnostics: exact identities, Jensen, bounds, oracle values, errors."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.barrier import evaluate_path
from otlmc.features import (approximate_dimension, approximate_dimensions, commutativity, llfc, llfc_budget,
                            lemma1, normalized_dist, random_init_dimension, stable_rank, stitching_errors,
                            weak_additivity)
from otlmc.matching import align
from otlmc.networks import MLP, forward, permute
from otlmc.train import init_mlp


def _net(widths, rng):
    net = init_mlp(widths, rng=rng)
    return MLP(net.weights, [0.2 * rng.normal(size=b.shape) for b in net.biases])


def test_approximate_dimension_oracles(rng):
    assert approximate_dimension(np.eye(7)) == pytest.approx(7.0)
    v = rng.normal(size=5)
    assert approximate_dimension(np.outer(v, v)) == pytest.approx(1.0)
    lam = rng.uniform(0.1, 2, 6)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    S = Q @ np.diag(lam) @ Q.T
    assert approximate_dimension(S) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-10)
    with pytest.raises(ValueError, match="symmetric"):
        approximate_dimension(rng.normal(size=(3, 4)))
    with pytest.raises(ValueError, match="zero"):
        approximate_dimension(np.zeros((3, 3)))


def test_random_init_dimension_matches_gaussian_mean(rng):
    """The mean participation ratio of ``W^T W``, ``W`` (64, 16) iid Gaussian, over 200 draws, vs the
    reference ``n d / (n + d + 1)``: over seeds 0-19 the relative deviation was +0.22% +- 0.16%
    (range -0.13% .. +0.53%); band +-1.5%."""
    vals = [approximate_dimension(W.T @ W) for W in rng.normal(size=(200, 64, 16))]
    assert np.mean(vals) == pytest.approx(random_init_dimension(64, 16), rel=0.015)


def test_dimensions_invariant_under_permutation(rng):
    A = _net((6, 10, 8, 3), rng)
    X = rng.normal(size=(100, 6))
    B = permute(A, [rng.permutation(10), rng.permutation(8)])
    da, db = approximate_dimensions(A, X), approximate_dimensions(B, X)
    for k in da:
        np.testing.assert_allclose(da[k], db[k], rtol=1e-10)
        assert all(1 - 1e-12 <= v <= 10 for v in da[k])


def test_stable_rank(rng):
    assert stable_rank(np.eye(4)) == pytest.approx(4.0)
    assert stable_rank(np.outer(rng.normal(size=3), rng.normal(size=5))) == pytest.approx(1.0)
    W = rng.normal(size=(5, 8))
    s = np.linalg.svd(W, compute_uv=False)
    assert stable_rank(W) == pytest.approx((s**2).sum() / s[0] ** 2)


def test_llfc_budget_identity(rng):
    A, B = _net((5, 12, 10, 9, 3), rng), _net((5, 12, 10, 9, 3), rng)
    X = rng.normal(size=(60, 5))
    for alpha in (0.2, 0.5, 0.9):
        rows = llfc_budget(A, B, X, alpha=alpha)
        assert len(rows) == 4
        for r in rows:
            assert r["residual_pre"] < 1e-10 and r["residual_post"] < 1e-10
        assert rows[0]["commutativity"] == 0.0 and rows[0]["propagated"] == 0.0
        assert rows[-1]["weak_additivity"] == 0.0
    # Theorem 1's exact identity: layer 1 interpolates its input exactly, so layer-1 pre-activation
    # error is 0 and, for identity activations, every layer's error is commutativity + propagation
    lin_a, lin_b = (MLP(n.weights, n.biases, "identity") for n in (A, B))
    rows = llfc_budget(lin_a, lin_b, X, alpha=0.3)
    assert rows[0]["error"] < 1e-12 and rows[1]["error"] == pytest.approx(rows[1]["commutativity"], rel=1e-10)


def test_llfc_exact_for_identical_networks(rng):
    A = _net((4, 9, 7, 3), rng)
    X = rng.normal(size=(40, 4))
    res = llfc(A, A, X, alphas=[0.3, 0.5])
    for layer in res["layers"]:
        assert layer["baseline"] == pytest.approx(0.0, abs=1e-12)
        for pa in layer["per_alpha"]:
            assert pa["mean"] == pytest.approx(0.0, abs=1e-12) and pa["coef"] == pytest.approx(1.0)
    assert max(weak_additivity(A, A, X)) == pytest.approx(0.0, abs=1e-12)


def test_llfc_matches_direct_cosine(rng):
    A, B = _net((4, 9, 3), rng), _net((4, 9, 3), rng)
    X = rng.normal(size=(30, 4))
    res = llfc(A, B, X, alphas=[0.4])
    _, fa = forward(A, X, return_features=True)
    _, fb = forward(B, X, return_features=True)
    from otlmc.networks import interpolate
    _, fm = forward(interpolate(A, B, 0.6), X, return_features=True)
    F, Fi = fm[0][1], 0.4 * fa[0][1] + 0.6 * fb[0][1]
    k = 3
    cos = F[k] @ Fi[k] / np.linalg.norm(F[k]) / np.linalg.norm(Fi[k])
    assert res["layers"][0]["per_alpha"][0]["one_minus_cos"][k] == pytest.approx(1 - cos, abs=1e-12)
    assert res["layers"][0]["per_alpha"][0]["coef"] == pytest.approx(np.sum(F * Fi) / np.sum(Fi * Fi))


def test_jensen_relu_elementwise(rng):
    """docs/theory.md §6.7: sigma(a Z_A + (1-a) Z_B) <= a sigma(Z_A) + (1-a) sigma(Z_B), equality where signs agree."""
    Za, Zb = rng.normal(size=(50, 20)), rng.normal(size=(50, 20))
    for a in np.linspace(0, 1, 11):
        res = np.maximum(a * Za + (1 - a) * Zb, 0) - (a * np.maximum(Za, 0) + (1 - a) * np.maximum(Zb, 0))
        assert np.all(res <= 1e-15)
        assert np.all(res[np.sign(Za) == np.sign(Zb)] >= -1e-15)
    A, B = _net((4, 9, 8, 3), rng), _net((4, 9, 8, 3), rng)
    X = rng.normal(size=(30, 4))
    wa = weak_additivity(A, B, X)
    assert len(wa) == 2 and all(v > 0 for v in wa)


def test_commutativity_zero_when_weights_equal(rng):
    A = _net((4, 9, 8, 3), rng)
    B = MLP([A.weights[0] + 0.3 * rng.normal(size=A.weights[0].shape), *A.weights[1:]], A.biases)
    X = rng.normal(size=(30, 4))
    rows = commutativity(A, B, X)
    # layer 2 weights equal -> (W_A - W_B)(H_A - H_B) = 0
    assert rows[0]["dist_com"] < 1e-24 and rows[0]["dist_w"] == 0.0 and rows[0]["dist_h"] > 0


def test_ce_barrier_bounded_by_output_deviation(rng, seed):
    """docs/theory.md §6.5: CE barrier <= sqrt(2) max_t RMS_x |f_t - interp|, for any pair."""
    A, B = _net((6, 16, 16, 4), rng), _net((6, 16, 16, 4), rng)
    X, y = rng.normal(size=(200, 6)), rng.integers(0, 4, 200)
    for Bt in (B, align(A, B, "am", X=X)[0]):
        res = evaluate_path(A, Bt, X, y, loss="ce")
        gap = res.loss - ((1 - res.ts) * res.loss[0] + res.ts * res.loss[-1])
        assert np.all(gap <= np.sqrt(2) * res.deviation_rms + 1e-12)
        assert res.barriers["barrier"] <= np.sqrt(2) * res.deviation_rms.max() + 1e-12


def test_lemma1_and_stitching(rng):
    A, B = _net((5, 12, 12, 3), rng), _net((5, 12, 12, 3), rng)
    X, y = rng.normal(size=(300, 5)), rng.integers(0, 3, 300)
    res = lemma1(A, B, X, y)
    for r in res["path"]:
        assert r["error_interp"] <= res["bound"] + 1e-12
    assert res["path"][-1]["error_path"] == pytest.approx(res["error_a"])
    assert res["path"][0]["error_path"] == pytest.approx(res["error_b"])
    # stitching a network with itself reproduces it; with a permuted copy of itself after alignment too
    err_a = float(np.mean(forward(A, X).argmax(1) != y))
    assert stitching_errors(A, A, X, y) == pytest.approx([err_a, err_a])
    P = permute(A, [rng.permutation(12), rng.permutation(12)])
    assert stitching_errors(A, align(A, P, "weight")[0], X, y) == pytest.approx([err_a, err_a])


def test_bad_inputs(rng):
    A, B = _net((5, 8, 3), rng), _net((5, 9, 3), rng)
    X = rng.normal(size=(10, 5))
    with pytest.raises(ValueError, match="widths"):
        llfc(A, B, X)
    with pytest.raises(ValueError, match="features"):
        weak_additivity(A, A, X[:, :4])
    with pytest.raises(ValueError, match="alphas"):
        llfc(A, A, X, alphas=[1.5])
    with pytest.raises(ValueError, match="integer labels"):
        lemma1(A, A, X, np.zeros(10))
    with pytest.raises(ValueError, match="labels must lie"):
        stitching_errors(A, A, X, np.full(10, 7))
    with pytest.raises(ValueError, match="zero"):
        normalized_dist(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        llfc(A, A, np.full((2, 5), np.nan))
