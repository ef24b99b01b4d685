"""The matrix-free certified assignment is the dense solver's assignment, certified on all pairs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

import otlmc.transport.matrixfree as mf
from otlmc.transport.assignment import linear_assignment
from otlmc.transport.matrixfree import match_clouds, wasserstein_clouds
from otlmc.transport import cost_matrix, empirical_wasserstein


def scipy_perm(C):
    r, c = linear_sum_assignment(C)
    perm = np.empty(C.shape[0], dtype=np.intp)
    perm[r] = c
    return perm


def check_certificate(info, n):
    assert info["certified"] is True and info["n"] == n
    assert info["rounds"] >= 1 and info["passes"] >= 1
    assert info["edges"] >= n
    assert info["tol"] > 0 and info["worst_reduced_cost"] >= -info["tol"]
    assert 0.0 <= info["gap"] <= n * info["tol"]
    assert info["gap_bound"] >= info["gap"]
    assert info["peak_bytes"] > 0


@pytest.mark.parametrize("n, d", [(300, 2), (1000, 5), (800, 10), (500, 1),
                                  pytest.param(2500, 5, marks=pytest.mark.slow)])
def test_same_assignment_as_dense_solver_and_scipy(n, d, seed):
    rng = np.random.default_rng([seed, n, d])
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, d))  # (n, d) each
    perm, info = match_clouds(X, Y, return_info=True)
    check_certificate(info, n)
    C = cost_matrix(X, Y)  # (n, n)
    ar = np.arange(n)
    dense = linear_assignment(C)
    ref = scipy_perm(C)
    assert np.array_equal(np.sort(perm), ar)
    # the same total to the last bit on the common cost matrix (continuous data: unique optimum)
    assert C[ar, perm].sum() == C[ar, dense].sum() == C[ar, ref].sum()
    assert np.array_equal(perm, ref)
    direct = ((X - Y[perm]) ** 2).sum(1)  # (n,) the matched costs from differences
    assert abs(info["total"] - direct.sum()) <= 1e-12 * direct.sum()


@pytest.mark.parametrize("candidates", ["tree", "blocked"])
def test_candidate_methods_agree(candidates, seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((700, 3)), rng.random((700, 3)) + 0.2  # shifted uniform clouds
    perm, info = match_clouds(X, Y, candidates=candidates, return_info=True)
    assert info["candidates"] == candidates
    assert np.array_equal(perm, scipy_perm(cost_matrix(X, Y)))


def test_p1_matches_scipy_on_euclidean_costs(seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((400, 3)), rng.standard_normal((400, 3))
    perm, info = match_clouds(X, Y, p=1, return_info=True)
    check_certificate(info, 400)
    C = cdist(X, Y)  # (400, 400) Euclidean
    ar = np.arange(400)
    ref = scipy_perm(C)
    assert abs(C[ar, perm].sum() - C[ar, ref].sum()) <= 1e-12 * C[ar, ref].sum()
    assert abs(wasserstein_clouds(X, Y, p=1) - empirical_wasserstein(X, Y, p=1)) <= 1e-12


def test_general_p(seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((300, 2)), rng.standard_normal((300, 2))
    perm = match_clouds(X, Y, p=3.0)
    C = cost_matrix(X, Y, 3.0)
    ar = np.arange(300)
    assert abs(C[ar, perm].sum() - C[ar, scipy_perm(C)].sum()) <= 1e-12 * C[ar, perm].sum()


def test_wasserstein_equals_dense_path(seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((600, 4)), 1.3 * rng.standard_normal((600, 4)) + 0.5
    w = wasserstein_clouds(X, Y)
    assert abs(w - empirical_wasserstein(X, Y)) <= 1e-13 * w


def test_shift_invariant_certificate(seed):
    # coordinates on a 2^-20 grid: adding 2^20 is exact, so both problems are the same problem
    rng = np.random.default_rng(seed)
    X = np.round(rng.standard_normal((500, 3)) * 2**20) / 2**20
    Y = np.round(rng.standard_normal((500, 3)) * 2**20) / 2**20
    perm, info = match_clouds(X, Y, return_info=True)
    perm_s, info_s = match_clouds(X + 2.0**20, Y + 2.0**20, return_info=True)
    assert np.array_equal(perm, perm_s)
    # the tolerance comes from the rounding of the centred distances, not from |x|^2 ~ 2^40
    assert info_s["tol"] < 2 * info["tol"] < 1e-10
    assert abs(info_s["total"] - info["total"]) <= 1e-9 * info["total"]


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_a_capped_auction_still_gives_the_exact_assignment(cap, seed, monkeypatch):
    """The auction only warms the duals: stopped after ``cap`` bids per point (0: not at all),
    the exact solve still finds scipy's permutation, certified."""
    monkeypatch.setattr(mf, "AUCTION_MAX_BIDS", cap)
    rng = np.random.default_rng([seed, cap])
    X, Y = rng.standard_normal((600, 2)), rng.standard_normal((600, 2))  # (600, 2) each
    perm, info = match_clouds(X, Y, return_info=True)
    check_certificate(info, 600)
    assert info["auction_bids"] <= cap * 600
    assert np.array_equal(perm, scipy_perm(cost_matrix(X, Y)))


def test_default_k_is_larger_in_the_plane():
    rng = np.random.default_rng(3)
    for d, k in ((1, mf.K_LOW_D), (2, mf.K_LOW_D), (3, mf.K_DEFAULT)):
        X, Y = rng.standard_normal((400, d)), rng.standard_normal((400, d))  # (400, d) each
        _, auto = match_clouds(X, Y, return_info=True)
        _, fixed = match_clouds(X, Y, k=k, return_info=True)
        assert auto["edges"] == fixed["edges"] and auto["total"] == fixed["total"], d


def test_many_rounds_from_a_poor_graph_still_exact(seed, monkeypatch):
    monkeypatch.setattr(mf, "CHECK_K", 1)  # no local check: every violation needs a blocked pass
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((600, 2)), rng.standard_normal((600, 2)) * 1.5
    perm, info = match_clouds(X, Y, k=1, return_info=True)
    assert info["passes"] >= 2  # the first pass found violations, which were added
    assert np.array_equal(perm, scipy_perm(cost_matrix(X, Y)))
    with pytest.raises(RuntimeError, match="not certified after max_rounds=1"):
        match_clouds(X, Y, k=1, max_rounds=1)


def test_blocked_pass_against_brute_force(rng):
    n, d = 300, 4
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    w = rng.standard_normal(n)  # (n,) column weights
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)  # (n, n) brute force
    S = C - w[None, :]
    u = S.min(1) + 0.5  # thresholds: several hits per row
    tiles = mf._Tiles(Y, 64)  # 300 is not a multiple of 64: padding is exercised
    rowmin, hv, hi = mf._scan(X, tiles.Y, tiles.weights(w), u + 1e-9, u, 5,
                              mf.ROW_BLOCK, 1.0, np.zeros(5, dtype=np.int64), d, 2)
    np.testing.assert_allclose(rowmin, S.min(1), rtol=0, atol=1e-12)
    for i in range(n):
        expect = np.argsort(S[i])[: min(5, int((S[i] < u[i]).sum()))]
        got = hi[i][hi[i] >= 0]
        assert set(got) == set(expect)
        np.testing.assert_allclose(np.sort(hv[i][hi[i] >= 0]), S[i, expect], atol=1e-12)


@pytest.mark.parametrize("d", [2, 9])
def test_blocked_knn_equals_kd_tree(d, rng):
    A, B = rng.standard_normal((400, d)), rng.standard_normal((350, d))
    got = mf._knn(A, B, 7, "blocked", 64, 2, 1.0)  # (400, 7) nearest first
    _, ref = cKDTree(B).query(A, k=7)
    assert np.array_equal(got, ref)


def test_small_and_degenerate_inputs():
    assert match_clouds(np.zeros((0, 2)), np.zeros((0, 2))).shape == (0,)
    perm, info = match_clouds([[1.0, 2.0]], [[4.0, 6.0]], return_info=True)
    assert perm.tolist() == [0] and info["total"] == 25.0
    assert match_clouds([[0.0], [1.0]], [[1.1], [0.1]]).tolist() == [1, 0]
    X = np.random.default_rng(0).standard_normal((300, 3))
    assert np.array_equal(match_clouds(X, X), np.arange(300))  # distinct points: identity only
    same = np.zeros((50, 2))
    perm, info = match_clouds(same, same, return_info=True)  # every permutation is optimal
    assert np.array_equal(np.sort(perm), np.arange(50)) and info["total"] == 0.0


def test_bad_inputs():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same shape"):
        match_clouds(X, np.zeros((6, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        match_clouds(np.full((5, 2), np.nan), X)
    with pytest.raises(ValueError, match="p == 0.5"):
        match_clouds(X, X, p=0.5)
    with pytest.raises(ValueError, match="k == 0"):
        match_clouds(X, X, k=0)
    with pytest.raises(ValueError, match="block == 4"):
        match_clouds(X, X, block=4)
    with pytest.raises(ValueError, match="candidates='gpu'"):
        match_clouds(X, X, candidates="gpu")
    with pytest.raises(TypeError, match="return_info"):
        match_clouds(X, X, return_info=1)
    with pytest.raises(ValueError, match="d = 0"):
        match_clouds(np.zeros((3, 0)), np.zeros((3, 0)))


def test_several_dimensions_in_one_process():
    # one compiled specialisation per (d, p kind) side by side (a closure-per-d cache once broke here)
    rng = np.random.default_rng(3)
    for d, p in ((2, 2.0), (5, 2.0), (10, 2.0), (3, 1.0), (10, 1.0)):
        X, Y = rng.standard_normal((260, d)), rng.standard_normal((260, d))
        C = cost_matrix(X, Y, p)
        assert np.array_equal(match_clouds(X, Y, p=p), scipy_perm(C)), (d, p)


@pytest.mark.slow
def test_n4096_against_dense_and_scipy():
    rng = np.random.default_rng(7)
    for d in (2, 5, 10):
        X, Y = rng.standard_normal((4096, d)), rng.standard_normal((4096, d))
        perm, info = match_clouds(X, Y, return_info=True)
        check_certificate(info, 4096)
        C = cost_matrix(X, Y)
        ar = np.arange(4096)
        assert C[ar, perm].sum() == C[ar, linear_assignment(C)].sum()
        assert np.array_equal(perm, scipy_perm(C))


def test_rounding_violations_inside_the_graph_trigger_a_fresh_solve(seed, monkeypatch):
    # a corrupted first solve leaves violated pairs that are all graph edges (check set == graph)
    monkeypatch.setattr(mf, "CHECK_K", 1)
    real = mf._sparse_ssp
    calls = []

    def corrupted(*args):
        row2col, v, ok = real(*args)
        calls.append(1)
        if len(calls) == 1:
            v = v + 0.05 * np.random.default_rng(seed).standard_normal(v.size)
        return row2col, v, ok

    monkeypatch.setattr(mf, "_sparse_ssp", corrupted)
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((400, 2)), rng.standard_normal((400, 2))
    perm, info = match_clouds(X, Y, return_info=True)
    assert len(calls) >= 2 and info["rounds"] >= 2
    assert np.array_equal(perm, scipy_perm(cost_matrix(X, Y)))
