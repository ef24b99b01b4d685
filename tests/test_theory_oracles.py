"""Fast tests that assert theory (hand values, brute force, exact identities), never the code's past output.

Each test is small (well under a second) because :mod:`tests.test_mutations` runs it against
deliberately wrong copies of the library; the mutant each one kills is named in its docstring.
"""
from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from otlmc.transport.assignment import linear_assignment
from otlmc.barrier import barrier_values, evaluate_path
from otlmc.measure import dropout_error
from otlmc.theory import dropout_bound, lowrank_crossover_width, multiscale_w2, tightness_exponent, two_layer_width_exponent, two_layer_width_log10, wasserstein_rate
from otlmc.claims import Claim, evaluate_all, sign_test
from otlmc.features import (approximate_dimension, approximate_dimensions, commutativity, llfc,
                            random_init_dimension, random_init_dimension_sigma, random_init_references,
                            weak_additivity, weak_additivity_batch)
from otlmc.fit import fit_rate
from otlmc.matching import match, rebasin_weight_matching, weight_matching
from otlmc.meanfield import MeanFieldNet, step
from otlmc.networks import MLP, interpolate, permute
from otlmc.transport import empirical_wasserstein, sq_distances


def _last_layer_pair(seed: int = 0):
    """Two ReLU nets 3-5-2 sharing the hidden layer, differing in the output layer only.

    Then ``f(theta_t) = (1-t) f_A + t f_B`` exactly for every ``t`` (the output is linear in the
    last layer's parameters and the hidden features do not depend on ``t``).
    """
    r = np.random.default_rng(seed)
    W1, b1 = r.normal(size=(5, 3)), r.normal(size=5)
    A = MLP([W1, r.normal(size=(2, 5))], [b1, r.normal(size=2)])
    B = MLP([W1, r.normal(size=(2, 5))], [b1, r.normal(size=2)])
    X = r.normal(size=(40, 3))
    return A, B, X


# --------------------------------------------------------------------------- barrier (§0)
def test_barrier_baseline_is_the_chord_between_unequal_endpoints():
    """Hand values on a curve with ``L_A = 0 != L_B = 4``: ``L(t) - 4 t = (0, 0, -0.5, -0.8, 0)``.

    Kills: the baseline replaced by the endpoints' mean (``max_t L(t) - 2 = 2``), and the endpoints
    swapped in the baseline (``L(1) - L_A = 4``)."""
    ts = np.linspace(0, 1, 5)
    losses = np.array([0.0, 1.0, 1.5, 2.2, 4.0])
    b = barrier_values(ts, losses)
    assert b["barrier"] == pytest.approx(0.0, abs=1e-15)
    assert b["barrier_rebasin"] == pytest.approx(4.0 - 2.0)
    assert b["midpoint_loss"] == pytest.approx(1.5)
    # an interior bump of 0.3 above the chord at t = 3/4
    b = barrier_values(ts, np.array([0.0, 1.0, 1.5, 3.3, 4.0]))
    assert b["barrier"] == pytest.approx(0.3)


def test_mse_barrier_is_zero_when_only_the_last_layer_differs():
    """Teacher targets, ``L_A != L_B``: the outputs interpolate exactly, so ``L(t)`` is the convex
    quadratic ``E|(1-t) f_A + t f_B - y|^2`` and ``L(t) - ((1-t) L_A + t L_B) = -t(1-t) E|f_A - f_B|^2 <= 0``:
    the barrier is 0 (at the endpoints), the deviation 0 everywhere. Kills a mean-of-endpoints or
    swapped baseline (they give ``|L_A - L_B| / 2`` or ``|L_A - L_B|``) and a reversed t in the
    interpolated outputs (non-zero deviation at t = 1/4)."""
    A, B, X = _last_layer_pair()
    y = np.random.default_rng(5).normal(size=(X.shape[0], 2)) + 3.0
    ts = np.linspace(0, 1, 9)
    res = evaluate_path(A, B, X, y, ts=ts, loss="mse")
    la, lb = res.loss[0], res.loss[-1]
    assert abs(la - lb) > 0.5  # the baseline matters here
    assert res.barriers["barrier"] == pytest.approx(0.0, abs=1e-10)
    fa = np.maximum(X @ A.weights[0].T + A.biases[0], 0) @ A.weights[1].T + A.biases[1]  # (N, 2)
    fb = np.maximum(X @ B.weights[0].T + B.biases[0], 0) @ B.weights[1].T + B.biases[1]  # (N, 2)
    gap = float(np.mean(np.sum((fa - fb) ** 2, axis=1)))
    np.testing.assert_allclose(res.loss - ((1 - ts) * la + ts * lb), -ts * (1 - ts) * gap, atol=1e-10)
    np.testing.assert_allclose(res.deviation_rms, 0.0, atol=1e-12)


def test_deviation_is_zero_on_a_linear_path_and_t0_is_a():
    """``t = 0`` is A: the path's first output equals ``f_A``; on a path that interpolates
    exactly the deviation from ``(1-t) f_A + t f_B`` is 0 for every t. Kills a reversed ``t`` in
    the interpolated outputs or in :func:`otlmc.networks.interpolate`."""
    A, B, X = _last_layer_pair(1)
    M = interpolate(A, B, 0.25)
    for Wm, Wa, Wb in zip(M.weights, A.weights, B.weights):
        np.testing.assert_allclose(Wm, 0.75 * Wa + 0.25 * Wb, rtol=1e-14)
    res = evaluate_path(A, B, X, ts=np.linspace(0, 1, 5))
    np.testing.assert_allclose(res.deviation_rms, 0.0, atol=1e-12)


# --------------------------------------------------------------------------- Zhou et al. (§5)
def test_commutativity_distance_hand_value():
    """``Dist_com = |(H_A - H_B)(W_A - W_B)^T|^2 / (|H_A W_A^T + H_B W_B^T| |H_B W_A^T + H_A W_B^T|)``
    on a 1-1-1 identity network with hand numbers: ``H_A = 2, H_B = 1`` (``W_1 = 2, 1``), ``W_2 = 3, 1``
    give sides ``6 + 1 = 7`` and ``3 + 2 = 5``, so ``Dist_com = (7 - 5)^2 / 35``. Kills a
    commutativity distance that is identically 0."""
    A = MLP([np.array([[2.0]]), np.array([[3.0]])], activation="identity")
    B = MLP([np.array([[1.0]]), np.array([[1.0]])], activation="identity")
    (c,) = commutativity(A, B, np.array([[1.0]]))
    assert c["dist_com"] == pytest.approx(4.0 / 35.0, rel=1e-14)
    assert c["dist_w"] == pytest.approx(4.0 / 3.0, rel=1e-14)
    assert c["dist_h"] == pytest.approx(1.0 / 2.0, rel=1e-14)


def test_commutativity_distance_is_the_factorised_residual():
    """On random ReLU nets, ``lhs - rhs = (H_A - H_B)(W_A - W_B)^T`` (Zhou et al. Eq. 8)."""
    r = np.random.default_rng(3)
    A = MLP([r.normal(size=(6, 4)), r.normal(size=(5, 6)), r.normal(size=(2, 5))])
    B = MLP([r.normal(size=(6, 4)), r.normal(size=(5, 6)), r.normal(size=(2, 5))])
    X = r.normal(size=(30, 4))
    Ha = [np.maximum(X @ A.weights[0].T, 0)]
    Hb = [np.maximum(X @ B.weights[0].T, 0)]
    Ha.append(np.maximum(Ha[0] @ A.weights[1].T, 0))
    Hb.append(np.maximum(Hb[0] @ B.weights[1].T, 0))
    for c, ha, hb, wa, wb in zip(commutativity(A, B, X), Ha, Hb, A.weights[1:], B.weights[1:]):
        res = np.sum(((ha - hb) @ (wa - wb).T) ** 2)
        den = np.linalg.norm(ha @ wa.T + hb @ wb.T) * np.linalg.norm(hb @ wa.T + ha @ wb.T)
        assert c["dist_com"] == pytest.approx(res / den, rel=1e-10)
        assert c["dist_com"] > 1e-3


def _relu_1hidden(Wa, Wb):
    A = MLP([np.asarray(Wa, float), np.ones((1, np.shape(Wa)[0]))])
    B = MLP([np.asarray(Wb, float), np.ones((1, np.shape(Wb)[0]))])
    return A, B


def test_dist_sigma_is_per_example_max_then_mean_hand_value():
    """Zhou et al. Def. 3: per example, max over alpha, then the mean over examples.

    Input 1-d, hidden width 2, ``Z_A = (x, x)``, ``Z_B = (x, -x)``. Example ``x = 1``: lhs
    ``(1, relu(2a - 1))``, rhs ``(1, a)``; example ``x = -1``: lhs ``(0, relu(1 - 2a))``, rhs
    ``(0, 1 - a)``. With the single alpha 1/2: ``dist = (1/4) / (1 * sqrt(5/4))`` for ``x = 1`` and
    ``inf`` for ``x = -1`` (lhs vanishes); with ``x = 1`` only, the grid (1/4, 3/4) gives
    ``max(d(1/4), d(3/4))`` where ``d(a) = (a - relu(2a-1))^2 / (sqrt(1 + relu(2a-1)^2) sqrt(1 + a^2))``.
    """
    A, B = _relu_1hidden([[1.0], [1.0]], [[1.0], [-1.0]])
    x1 = np.array([[1.0]])
    assert weak_additivity(A, B, x1, alphas=[0.5]) == [pytest.approx(0.25 / math.sqrt(1.25), rel=1e-14)]
    d = lambda a: (a - max(2 * a - 1, 0)) ** 2 / (math.hypot(1, max(2 * a - 1, 0)) * math.hypot(1, a))
    assert weak_additivity(A, B, x1, alphas=[0.25, 0.75]) == [pytest.approx(max(d(0.25), d(0.75)), rel=1e-14)]
    assert weak_additivity(A, B, np.array([[1.0], [-1.0]]), alphas=[0.5]) == [math.inf]


def test_dist_sigma_matches_a_loop_over_examples_and_differs_from_the_batch_distance():
    """Oracle: a plain loop over examples and alphas of :func:`normalized_dist`-style distances."""
    r = np.random.default_rng(7)
    A = MLP([r.normal(size=(8, 3)), r.normal(size=(6, 8)), r.normal(size=(2, 6))], [r.normal(size=8) + 2,
                                                                                     r.normal(size=6) + 2, np.zeros(2)])
    B = MLP([r.normal(size=(8, 3)), r.normal(size=(6, 8)), r.normal(size=(2, 6))], [r.normal(size=8) + 2,
                                                                                     r.normal(size=6) + 2, np.zeros(2)])
    X = r.normal(size=(12, 3))
    alphas = [0.2, 0.5, 0.9]
    got = weak_additivity(A, B, X, alphas=alphas)
    Ha, Hb = X, X
    for l in range(2):
        Za, Zb = Ha @ A.weights[l].T + A.biases[l], Hb @ B.weights[l].T + B.biases[l]
        per_x = []
        for i in range(X.shape[0]):
            vals = []
            for a in alphas:
                u = np.maximum(a * Za[i] + (1 - a) * Zb[i], 0)
                v = a * np.maximum(Za[i], 0) + (1 - a) * np.maximum(Zb[i], 0)
                vals.append(np.sum((u - v) ** 2) / (np.linalg.norm(u) * np.linalg.norm(v)))
            per_x.append(max(vals))
        assert got[l] == pytest.approx(np.mean(per_x), rel=1e-12)
        Ha, Hb = np.maximum(Za, 0), np.maximum(Zb, 0)
    assert all(g > 0 for g in got)
    assert not np.allclose(got, weak_additivity_batch(A, B, X, alphas=alphas), rtol=1e-3)


def test_llfc_is_exact_when_only_the_last_layer_differs():
    """Hidden features coincide and the logits interpolate exactly, so ``1 - cos = 0`` at every layer
    and ``coef = 1`` (Zhou et al. Def. 2 with ``c = 1``). Kills an interpolated feature built from A twice."""
    A, B, X = _last_layer_pair(2)
    res = llfc(A, B, X, alphas=[0.3, 0.5])
    for layer in res["layers"]:
        for pa in layer["per_alpha"]:
            assert pa["mean"] == pytest.approx(0.0, abs=1e-12)
            assert pa["coef"] == pytest.approx(1.0, rel=1e-12)
    assert res["layers"][-1]["baseline"] > 1e-2  # the endpoints' logits differ


# --------------------------------------------------------------------------- dimensions (§4)
def _dim_net():
    """First layer ``W = I_3``, ``b = 0``; second layer arbitrary."""
    return MLP([np.eye(3), np.array([[1.0, 2.0, 3.0]])])


def test_dimension_of_w_sigma_wt_hand_values():
    """``X`` rows ``(1, 1, 0)``, ``(1, -1, 0)``: uncentered ``Sigma = diag(1, 1, 0)`` -> ``Dim(W Sigma W^T) = 2``;
    centered ``Sigma = diag(0, 1, 0)`` -> 1; ``Dim(W^T W) = Dim(I_3) = 3``. ``H = relu(X)`` has rows
    ``(1, 1, 0)``, ``(1, 0, 0)``: ``E[h h^T] = [[1, 1/2], [1/2, 1/2]]`` -> ``(3/2)^2 / (7/4) = 9/7``;
    its covariance ``diag(0, 1/4, 0)`` -> 1. Kills ``Dim(W Sigma W^T)`` replaced by ``Dim(W^T W)``
    and an uncentered Sigma where the centered one is meant."""
    X = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]])
    d = approximate_dimensions(_dim_net(), X)
    assert d["wm_naive"][0] == pytest.approx(3.0)
    assert d["wm_ours"][0] == pytest.approx(2.0)
    assert d["wm_ours_centered"][0] == pytest.approx(1.0)
    assert d["am"][0] == pytest.approx(9.0 / 7.0)
    assert d["am_centered"][0] == pytest.approx(1.0)


def test_gaussian_reference_of_w_sigma_wt():
    """``Dim(W I W^T) = Dim(W^T W)`` (same non-zero spectrum), so the Sigma-reference at ``Sigma = I``
    is ``n d / (n + d + 1)``; for ``Sigma = diag(1, 0, ..)`` the matrix is rank one (reference
    ``n / (n + 2)``: ``(tr)^2 = 1``, ``E tr A^2 = n (1 + 2) + n (n - 1)``); a Monte-Carlo mean of
    ``tr A^2`` agrees with ``n [(tr S)^2 + 2 tr S^2] + n (n - 1) tr S^2``."""
    assert random_init_dimension_sigma(64, np.eye(16)) == pytest.approx(random_init_dimension(64, 16), rel=1e-14)
    assert random_init_dimension_sigma(10, np.diag([1.0, 0, 0])) == pytest.approx(10 / 12, rel=1e-14)
    r = np.random.default_rng(0)
    S = np.diag([3.0, 1.0, 0.5, 0.1])
    n = 6
    W = r.normal(size=(20000, n, 4))
    A = W @ S @ np.swapaxes(W, 1, 2)  # (K, n, n)
    tr2 = np.mean(np.sum(A * A, axis=(1, 2)))
    want = n * (np.trace(S) ** 2 + 2 * np.sum(S * S)) + n * (n - 1) * np.sum(S * S)
    assert tr2 == pytest.approx(want, rel=0.03)  # 20000 draws: relative sd ~ 1%
    ref = random_init_references(_dim_net(), np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))
    assert ref["wm_naive"] == [pytest.approx(3 * 3 / 7)]
    assert ref["wm_ours"] == [pytest.approx(3 * 4 / (4 + 4 * 2))]  # Sigma = diag(1, 1, 0): tr 2, tr^2 2
    assert ref["wm_ours_centered"] == [pytest.approx(3 / (1 + 4))]  # rank one


# --------------------------------------------------------------------------- permutations and matching
def test_permute_convention_hand_value():
    """``p[i]`` = B's neuron matched with A's neuron i: ``W_1 <- W_1[p]``, ``W_2 <- W_2[:, p]``.
    With ``W_1 = (0, 1, 2)^T`` and ``p = (1, 2, 0)`` the permuted rows are ``(1, 2, 0)``, not the
    inverse ``(2, 0, 1)``. Kills swapped permutation directions."""
    net = MLP([np.array([[0.0], [1.0], [2.0]]), np.array([[10.0, 11.0, 12.0]])], [np.array([5.0, 6.0, 7.0]),
                                                                                 np.zeros(1)])
    q = permute(net, [np.array([1, 2, 0])])
    np.testing.assert_array_equal(q.weights[0][:, 0], [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(q.biases[0], [6.0, 7.0, 5.0])
    np.testing.assert_array_equal(q.weights[1][0], [11.0, 12.0, 10.0])


@pytest.mark.parametrize("method", ["weight", "wm_naive", "rebasin"])
def test_matching_undoes_a_planted_three_cycle(method):
    """B = A relabelled by a 3-cycle per layer: ``permute(B, perms)`` must give back A exactly
    (the inverse of a 3-cycle is a different permutation, so a swapped convention fails)."""
    r = np.random.default_rng(11)
    A = MLP([r.normal(size=(3, 4)), r.normal(size=(3, 3)), r.normal(size=(2, 3))], [r.normal(size=3),
                                                                                     r.normal(size=3), r.normal(size=2)])
    B = permute(A, [np.array([1, 2, 0]), np.array([2, 0, 1])])
    kw = {"rng": np.random.default_rng(0)} if method == "rebasin" else {}
    back = permute(B, match(A, B, method, **kw).perms)
    for Wa, Wb in zip(A.weights, back.weights):
        np.testing.assert_allclose(Wb, Wa, rtol=1e-14)


def _all_perms(m):
    return [np.array(p) for p in itertools.permutations(range(m))]


def test_rebasin_reaches_the_brute_force_optimum_of_the_full_objective():
    """One hidden layer: coordinate descent solves the single assignment exactly, so its permutation
    maximises ``<W_1^A, W_1^B[p]> + <b^A, b^B[p]> + <W_2^A, W_2^B[:, p]>`` over all 5! permutations
    (objective computed here by explicit indexing). The outgoing weights are large, so the
    incoming-only optimum is a different permutation: kills a Re-Basin step without the
    outgoing-weight term."""
    r = np.random.default_rng(4)
    A = MLP([r.normal(size=(5, 3)), 10 * r.normal(size=(4, 5))], [r.normal(size=5), np.zeros(4)])
    B = MLP([r.normal(size=(5, 3)), 10 * r.normal(size=(4, 5))], [r.normal(size=5), np.zeros(4)])

    def inner_in(p):
        return np.sum(A.weights[0] * B.weights[0][p]) + np.sum(A.biases[0] * B.biases[0][p])

    def full(p):
        return inner_in(p) + np.sum(A.weights[1] * B.weights[1][:, p])

    perms = _all_perms(5)
    best = max(perms, key=full)
    assert not np.array_equal(best, max(perms, key=inner_in))  # the outgoing term matters here
    res = rebasin_weight_matching(A, B, rng=np.random.default_rng(0))
    assert full(res.perms[0]) == pytest.approx(full(best), rel=1e-12)


def test_covariance_wm_minimises_the_expected_output_error_brute_force():
    """WM ours (Ferbach et al. Lemma D.1): ``p`` minimises ``E_x |(W^A - W^B[p]) x|^2`` over all
    permutations, with the uncentered expectation over ``X`` (inputs with a large mean and very
    unequal scales). Naive WM does not (checked), so a Sigma replaced by the identity or by the
    centered covariance fails."""
    r = np.random.default_rng(6)
    m, d = 5, 3
    X = r.normal(size=(200, d)) * np.array([3.0, 0.3, 0.05]) + np.array([0.0, 0.0, 4.0])
    A = MLP([r.normal(size=(m, d)), r.normal(size=(1, m))])
    B = MLP([r.normal(size=(m, d)), r.normal(size=(1, m))])

    def err(p):
        return np.mean(np.sum((X @ (A.weights[0] - B.weights[0][p]).T) ** 2, axis=1))

    perms = _all_perms(m)
    best = min(err(p) for p in perms)
    res = match(A, B, "wm_ours", X=X)
    assert err(res.perms[0]) == pytest.approx(best, rel=1e-12)
    assert res.costs[0] == pytest.approx(best / m, rel=1e-10)
    assert err(match(A, B, "wm_naive").perms[0]) > best * (1 + 1e-6)
    Xc = X - X.mean(0)
    cov_best = min(perms, key=lambda p: np.mean(np.sum((Xc @ (A.weights[0] - B.weights[0][p]).T) ** 2, axis=1)))
    assert err(cov_best) > best * (1 + 1e-6)  # the centered Sigma picks another permutation


def test_centered_activation_matching_maximises_the_covariance_brute_force():
    """AM (Ferbach et al. §6): ``p`` maximises ``sum_i Cov(h^A_i, h^B_{p(i)})``; activations with
    large, unequal means make the uncentered optimum different (checked)."""
    r = np.random.default_rng(8)
    A = MLP([r.normal(size=(5, 3)), r.normal(size=(1, 5))], [r.normal(size=5) * 3 + 3, np.zeros(1)])
    B = MLP([r.normal(size=(5, 3)), r.normal(size=(1, 5))], [r.normal(size=5) * 3 + 3, np.zeros(1)])
    X = r.normal(size=(100, 3))
    Ha, Hb = np.maximum(X @ A.weights[0].T + A.biases[0], 0), np.maximum(X @ B.weights[0].T + B.biases[0], 0)
    Ca = (Ha - Ha.mean(0)).T @ (Hb - Hb.mean(0))
    U = Ha.T @ Hb
    perms = _all_perms(5)
    score = lambda M, p: sum(M[i, p[i]] for i in range(5))
    best = max(perms, key=lambda p: score(Ca, p))
    assert score(Ca, max(perms, key=lambda p: score(U, p))) < score(Ca, best) - 1e-9
    got = match(A, B, "am", X=X).perms[0]
    assert score(Ca, got) == pytest.approx(score(Ca, best), rel=1e-12)


# --------------------------------------------------------------------------- transport (§1, §6.1)
def test_w2_of_a_translated_cloud_is_the_shift():
    """For a translation the identity coupling is optimal: ``W_2^2 = |v|^2`` (Birkhoff: the mean over
    the n matched pairs, not their sum). Kills a sum-normalised ``W_p^p``."""
    r = np.random.default_rng(0)
    X = r.normal(size=(6, 2))
    v = np.array([0.3, -0.4])
    assert empirical_wasserstein(X, X + v) == pytest.approx(0.5, rel=1e-12)
    assert empirical_wasserstein(X, X[::-1] + v, p=1) == pytest.approx(0.5, rel=1e-12)


def test_weight_matching_cost_is_w2_squared_of_translated_rows():
    """Incoming vectors of B = A's + v, relabelled: ``costs[0] = W_2^2 = |v|^2`` (a mean over neurons)."""
    r = np.random.default_rng(1)
    W, b = r.normal(size=(6, 2)), r.normal(size=6)
    A = MLP([W, r.normal(size=(1, 6))], [b, np.zeros(1)])
    p = np.array([3, 0, 5, 1, 2, 4])
    B = permute(MLP([W + np.array([0.1, 0.2]), A.weights[1]], [b + 0.2, np.zeros(1)]), [p])
    assert weight_matching(A, B).costs[0] == pytest.approx(0.01 + 0.04 + 0.04, rel=1e-12)


def test_sq_distances_against_an_explicit_loop():
    """Both paths: direct differences (d <= 4) and the centred GEMM expansion (larger d)."""
    r = np.random.default_rng(2)
    for d in (3, 9, 40):
        X, Y = r.normal(size=(4, d)), r.normal(size=(5, d))
        want = np.array([[np.sum((x - y) ** 2) for y in Y] for x in X])
        np.testing.assert_allclose(sq_distances(X, Y), want, rtol=1e-12, atol=1e-12)


def test_linear_assignment_maximize_brute_force():
    r = np.random.default_rng(3)
    C = r.normal(size=(5, 5))
    val = lambda p: C[np.arange(5), p].sum()
    perms = _all_perms(5)
    assert val(linear_assignment(C, maximize=True)) == pytest.approx(max(map(val, perms)), rel=1e-12)
    assert val(linear_assignment(C)) == pytest.approx(min(map(val, perms)), rel=1e-12)


# --------------------------------------------------------------------------- rates and laws (§1–§3)
def test_rate_exponents_hand_values():
    """Fournier–Guillin / Dereich: ``E W_2 ~ n^{-1/d}`` for ``d >= 3``; Theorem 5.3:
    ``E min_p |.|^2 >= C m^{-2/d}`` (the square of a ``W_2``); the two-layer width ``(T/eps)^{m0}``."""
    for d in (3, 4, 5, 8, 12):
        assert wasserstein_rate(d).exponent == pytest.approx(-1.0 / d, rel=1e-15)
        assert tightness_exponent(d) == pytest.approx(-2.0 / d, rel=1e-15)
    for m0 in (1, 2, 5):
        assert two_layer_width_exponent(m0) == m0
        assert two_layer_width_log10(0.01, m0, T=1.0) == pytest.approx(m0 * 2.0, rel=1e-12)


def test_noise_scale_gives_the_gibbs_variance():
    """With weight decay alone the stationary variance per coordinate is ``tau / (2 D lambda)`` to
    ``O(s)`` (docs/theory.md §3). From ``theta = 0``, ``a = 0``, ``y = 0`` one step is ``sigma g``
    exactly; the AR(1) stationary variance ``sigma^2 / (1 - (1 - 2 lambda s)^2)`` must match.
    Kills a noise scale ``sqrt(s tau / D)``."""
    net = MeanFieldNet(d=3)
    s, lam, tau = 1e-4, 0.7, 0.3
    g = np.random.default_rng(0).normal(size=(4, net.D))
    out = step(net, np.zeros((4, net.D)), np.ones((2, 3)), np.zeros(2), g, s=s, lam=lam, tau=tau, kernel="numpy")
    sigma = out / g
    np.testing.assert_allclose(sigma, sigma[0, 0], rtol=1e-12)
    stationary = sigma[0, 0] ** 2 / (1 - (1 - 2 * lam * s) ** 2)
    assert stationary == pytest.approx(tau / (2 * net.D * lam), rel=10 * lam * s)


def test_fit_rate_recovers_an_exact_law_with_a_point_interval():
    """``y = 3 n^{-0.4}`` on every replicate: slope -0.4 exactly, and a bootstrap that resamples
    replicates within each width has nothing to vary (interval = the point). Kills a sign slip in
    the slope and a bootstrap that mixes replicates across widths."""
    n = np.repeat([16.0, 64.0, 256.0, 1024.0], 4)
    f = fit_rate(n, 3 * n**-0.4, n_boot=200, rng=np.random.default_rng(0))
    assert f.slope == pytest.approx(-0.4, abs=1e-12)
    assert math.exp(f.intercept) == pytest.approx(3.0, rel=1e-12)
    assert f.ci_low == pytest.approx(-0.4, abs=1e-12) and f.ci_high == pytest.approx(-0.4, abs=1e-12)


def test_fit_rate_weights_are_inverse_delta_method_variances():
    """Oracle: weighted least squares with weights ``k mean^2 / s^2`` by numpy's polyfit (which takes
    ``w = 1 / sd``). The widths' spreads differ by 30x, so equal or inverted weights differ."""
    n = np.repeat([10.0, 100.0, 1000.0, 10000.0], 3)
    rel = np.array([0.01, 0.3, 0.02, 0.25])
    y = n**-0.5 * (1 + np.tile([-1.0, 0.0, 1.0], 4) * np.repeat(rel, 3)) * np.repeat([1.0, 1.3, 0.9, 1.2], 3)
    f = fit_rate(n, y, n_boot=0)
    lv = np.unique(n)
    g = [y[n == v] for v in lv]
    means = np.array([x.mean() for x in g])
    sd = np.array([x.std(ddof=1) / math.sqrt(x.size) for x in g]) / means
    slope = np.polyfit(np.log(lv), np.log(means), 1, w=1 / sd)[0]
    assert f.weighted
    assert f.slope == pytest.approx(slope, rel=1e-10)
    assert abs(slope - np.polyfit(np.log(lv), np.log(means), 1)[0]) > 0.01


def test_dropout_bound_hand_value_and_tightness():
    """B.14: ``|f - f_S| <= (|S^c|/m) Lip |x| W_1(mu_S, mu_S^c)``. Hand value: ``m = 4``, one dropped,
    ``|x| = 2``, ``W_1 = 0.5`` -> 0.25. Identity activation, rows along ``x``: equality (one kept
    neuron ``w = 1``, one dropped ``w = 3`` at ``x = 2``: ``f = 4``, ``f_S = 2``, gap 2 = (1/2) 2 2)."""
    assert dropout_bound(2.0, 0.5, n_dropped=1, m=4) == pytest.approx(0.25, rel=1e-15)
    W = np.array([[1.0], [3.0]])
    err = dropout_error(W, np.array([0]), np.array([[2.0]]), activation="identity")
    assert err[0] == pytest.approx(2.0)
    assert dropout_bound(2.0, 2.0, n_dropped=1, m=2) == pytest.approx(err[0], rel=1e-15)


def test_lowrank_crossover_hand_value_and_continuity():
    """``n* = (A_k / delta)^k``, ``delta = sqrt(2 s (d - k) / k)``: ``d = 4, k = 2, eta = s = 1/2`` ->
    ``delta = 1``, and ``A_k = 3`` -> ``n* = 9``. At ``n*`` the two regimes meet: ``A_k n*^{-1/k} = delta``."""
    assert lowrank_crossover_width(4, 2, 0.5, prefactor=3.0) == pytest.approx(9.0, rel=1e-12)
    w = multiscale_w2(np.array([9.0, 9.0 * (1 + 1e-9)]), 4, 2, 0.5, prefactor=3.0)
    assert w[0] == pytest.approx(1.0, rel=1e-12) and w[1] == pytest.approx(1.0, rel=1e-6)


# --------------------------------------------------------------------------- claims engine
def test_sign_test_counts_negative_differences_with_the_exact_binomial_p():
    """All 8 differences negative: ``k = 8`` of 8, two-sided exact ``p = 2 / 2^8``; one positive: ``k = 7``,
    ``p = 2 * 9 / 256``."""
    assert sign_test([-1.0] * 8) == (8, 8, pytest.approx(2 / 256, rel=1e-12))
    assert sign_test([-1.0] * 7 + [0.0, 2.0]) == (7, 8, pytest.approx(18 / 256, rel=1e-12))
    rows = [{"lr": 0.1, "a": 1.0, "b": 2.0 + i} for i in range(8)]
    (v,) = evaluate_all([Claim("a_lt_b", "ordering", "a < b", "hand", "a", axis="lr", other="b")], rows, sim="t")
    assert v.verdict == "consistent"


def test_lower_bound_reports_the_tail_constant_of_the_law():
    """``y = 2 n^{-1/2}`` (replicates x (1 +- 0.1)): the tail constant ``n^{1/2} E y`` at the largest
    width is 2 (the verdict's detail reports it; parsed here)."""
    n = np.repeat([100.0, 400.0, 1600.0, 6400.0], 4)
    y = 2 * n**-0.5 * (1 + np.tile([-0.1, 0.1, -0.05, 0.05], 4))
    rows = [{"width": a, "err": b} for a, b in zip(n, y)]
    claim = Claim("lb", "lower_bound", "E err >= C n^-1/2", "hand", "err", theory=-0.5, n_boot=200)
    (v,) = evaluate_all([claim], rows, sim="t")
    assert v.verdict == "consistent"
    c = float(re.search(r"E at n=\S+: ([0-9.eE+-]+),", v.detail).group(1))
    assert c == pytest.approx(2.0, rel=1e-3)


def test_realnet_rows_carry_the_new_columns_beside_the_old():
    """``dimension_row`` keeps the uncentered columns and adds the centered ones and the Gaussian-weight
    references (hand values of :func:`test_dimension_of_w_sigma_wt_hand_values`); ``feature_row``
    adds ``dist_sigma_batch`` beside Zhou et al.'s per-example ``dist_sigma``."""
    from otlmc.realnet import dimension_row, feature_row

    row = dimension_row(_dim_net(), np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]]))
    assert row["dim_wm_ours"] == pytest.approx(2.0) and row["dim_wm_ours_layer1"] == pytest.approx(2.0)
    assert row["dim_wm_naive"] == pytest.approx(3.0) and row["dim_am"] == pytest.approx(9.0 / 7.0)
    assert row["dim_wm_ours_centered"] == pytest.approx(1.0) and row["dim_am_centered"] == pytest.approx(1.0)
    assert row["dim_ref_wm_naive"] == pytest.approx(9 / 7) and row["dim_ref_wm_ours_centered"] == pytest.approx(0.6)
    A, B, X = _last_layer_pair(3)
    A = MLP([A.weights[0], A.weights[1]], [A.biases[0] - 1.0, A.biases[1]])
    B = MLP([np.random.default_rng(9).normal(size=(5, 3)), B.weights[1]], [B.biases[0] + 0.5, B.biases[1]])
    f = feature_row(A, B, X, np.arange(X.shape[0]) % 2, t_points=3, prefix="p")
    assert f["p_dist_sigma_layer1"] == pytest.approx(weak_additivity(A, B, X)[0], rel=1e-14)
    assert f["p_dist_sigma_batch_layer1"] == pytest.approx(weak_additivity_batch(A, B, X)[0], rel=1e-14)
