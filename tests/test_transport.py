"""Oracle tests for the transport primitives (docs/theory.md §1 and §6.1)."""
from __future__ import annotations

import itertools

import numpy as np
import ot
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from scipy.stats import wasserstein_distance

from otlmc import transport
from otlmc.transport.assignment import linear_assignment


def brute_force_wp(X, Y, p):
    C = cdist(X, Y) ** p
    n = len(X)
    return min(C[np.arange(n), list(perm)].sum() for perm in itertools.permutations(range(n))) / n


@pytest.mark.parametrize("n", [1, 2, 4, 7])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_birkhoff_assignment_equals_lp_and_brute_force(rng, n, p):
    X = rng.standard_normal((n, 3))
    Y = rng.standard_normal((n, 3))
    w_assign = transport.empirical_wasserstein(X, Y, p=p) ** p
    u = np.full(n, 1.0 / n)
    w_lp = ot.emd2(u, u, cdist(X, Y) ** p, numItermax=10**6)
    w_brute = brute_force_wp(X, Y, p)
    np.testing.assert_allclose(w_assign, w_brute, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w_assign, w_lp, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [50, 300])
def test_assignment_matches_scipy_optimum(rng, n):
    C = rng.standard_normal((n, n))
    perm = linear_assignment(C)
    r, c = linear_sum_assignment(C)
    assert sorted(perm.tolist()) == list(range(n))
    np.testing.assert_allclose(C[np.arange(n), perm].sum(), C[r, c].sum(), rtol=1e-12)
    perm_max = linear_assignment(C, maximize=True)
    r, c = linear_sum_assignment(C, maximize=True)
    np.testing.assert_allclose(C[np.arange(n), perm_max].sum(), C[r, c].sum(), rtol=1e-12)


def test_match_rows_minimises_squared_distances(rng):
    A = rng.standard_normal((60, 4))
    B = rng.standard_normal((60, 4))
    perm = transport.match_rows(A, B)
    r, c = linear_sum_assignment(cdist(A, B, "sqeuclidean"))
    np.testing.assert_allclose(((A - B[perm]) ** 2).sum(), cdist(A, B, "sqeuclidean")[r, c].sum(), rtol=1e-12)


def test_match_rows_recovers_planted_permutation(rng):
    A = rng.standard_normal((200, 6))
    planted = rng.permutation(200)
    B = np.empty_like(A)
    B[planted] = A  # A[i] == B[planted[i]]
    np.testing.assert_array_equal(transport.match_rows(A, B), planted)


@pytest.mark.parametrize("p", [1.0, 1.5, 2.0])
def test_cost_matrix_against_cdist(rng, p):
    X = rng.standard_normal((40, 7)) * 3 + 1
    Y = rng.standard_normal((30, 7))
    np.testing.assert_allclose(transport.cost_matrix(X, Y, p), cdist(X, Y) ** p, rtol=1e-9, atol=1e-9)
    assert (transport.sq_distances(X, X) >= 0).all()


def test_unequal_sizes_and_weights_match_pot(rng):
    X = rng.standard_normal((23, 3))
    Y = rng.standard_normal((31, 3))
    a = rng.random(23)
    b = rng.random(31)
    ref = ot.emd2(a / a.sum(), b / b.sum(), cdist(X, Y) ** 2, numItermax=10**7)
    np.testing.assert_allclose(transport.empirical_wasserstein(X, Y, 2, a=a, b=b) ** 2, ref, rtol=1e-10)


def test_emd_is_exact_with_scaled_iteration_cap(rng):
    n = 600
    X = rng.standard_normal((n, 2))
    Y = rng.standard_normal((n, 2))
    C = cdist(X, Y, "sqeuclidean")
    u = np.full(n, 1.0 / n)
    exact = C[linear_sum_assignment(C)].sum() / n
    np.testing.assert_allclose(transport.emd_exact(u, u, C), exact, rtol=1e-9)


def test_emd_raises_when_the_simplex_stops_early(rng):
    """A cap far too small for the problem: POT stops early, and we refuse the number."""
    n = 200
    C = cdist(rng.standard_normal((n, 2)), rng.standard_normal((n, 2)), "sqeuclidean")
    u = np.full(n, 1.0 / n)
    with pytest.raises(RuntimeError, match="did not reach an optimal solution"):
        transport.emd_exact(u, u, C, max_iter=20)


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_wasserstein_1d_against_scipy_and_lp(rng, p):
    x = rng.standard_normal(40)
    y = rng.standard_normal(40) + 0.5
    if p == 1.0:
        np.testing.assert_allclose(transport.wasserstein_1d(x, y, 1), wasserstein_distance(x, y), rtol=1e-12)
    np.testing.assert_allclose(transport.wasserstein_1d(x, y, p), transport.empirical_wasserstein(x[:, None], y[:, None], p),
                               rtol=1e-10)
    z = rng.standard_normal(25)
    np.testing.assert_allclose(transport.wasserstein_1d(x, z, 1), wasserstein_distance(x, z), rtol=1e-10)


def test_gaussian_w2_closed_form_cases(rng):
    d = 4
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    A = rng.standard_normal((d, d))
    S = A @ A.T + np.eye(d)
    # same covariance: only the means differ
    np.testing.assert_allclose(transport.gaussian_w2(m1, S, m2, S), np.linalg.norm(m1 - m2), rtol=1e-9)
    # commuting (diagonal) covariances: sum (sqrt(s1) - sqrt(s2))^2
    s1, s2 = rng.random(d) + 0.1, rng.random(d) + 0.1
    expect = np.sqrt(np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2))
    np.testing.assert_allclose(transport.gaussian_w2(np.zeros(d), np.diag(s1), np.zeros(d), np.diag(s2)), expect, rtol=1e-9)
    # symmetric in its arguments
    B = rng.standard_normal((d, d))
    S2 = B @ B.T + 0.5 * np.eye(d)
    np.testing.assert_allclose(transport.gaussian_w2(m1, S, m2, S2), transport.gaussian_w2(m2, S2, m1, S), rtol=1e-8)


def test_gaussian_w2_against_large_samples():
    """Empirical W_2 between big samples of two 1-D Gaussians approaches the closed form.

    W_2(N(0,1), N(1,4)) = sqrt(1 + (2-1)^2) = sqrt(2). With n = 20000 quantile-coupled samples the
    sampling error of W_2 is ~1e-2 (seen: |err| < 0.01 over seeds 0-19); the band is 0.05.
    """
    rng = np.random.default_rng(12345)
    x = rng.standard_normal(20000)
    y = 1 + 2 * rng.standard_normal(20000)
    assert abs(transport.wasserstein_1d(x, y, 2) - np.sqrt(2)) < 0.05
    np.testing.assert_allclose(transport.gaussian_w2(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1)), np.sqrt(2))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: transport.empirical_wasserstein(np.ones((3, 2)), np.ones((3, 3))), "same dimension"),
        (lambda: transport.empirical_wasserstein(np.ones((3, 2)), np.ones((3, 2)), p=0.5), "p == 0.5"),
        (lambda: transport.empirical_wasserstein(np.array([[np.nan, 0.0]]), np.ones((1, 2))), "X contains 1 non-finite"),
        (lambda: transport.empirical_wasserstein(np.ones((3, 2)), np.full((3, 2), np.inf)), "Y contains 6 non-finite"),
        (lambda: transport.empirical_wasserstein(np.ones(3), np.ones(3)), "X must be 2-dimensional"),
        (lambda: transport.match_rows(np.ones((3, 2)), np.ones((4, 2))), "same number of rows"),
        (lambda: linear_assignment(np.ones((3, 4)) * 1j), "real array"),
        (lambda: transport.gaussian_w2(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2)), "positive semi-definite"),
        (lambda: transport.empirical_wasserstein(np.ones((3, 2)), np.ones((4, 2)), a=np.ones(2)), "a has 2 entries"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("n", [1, 2, 6, 300])
def test_match_rows_one_varying_column_sorts_to_the_optimum(rng, n):
    """Rows that vary in one column only (a d = 1 layer with its constant bias column) take the sorting
    path; its cost equals scipy's dense optimum and, for tiny n, the brute-force minimum."""
    A = np.c_[rng.normal(size=n), np.full(n, 0.3)]  # (n, 2): second column constant in A
    B = np.c_[rng.normal(size=n), np.full(n, -1.0)]  # (n, 2): and in B (a different constant)
    p = transport.match_rows(A, B)
    assert sorted(p.tolist()) == list(range(n))
    C = cdist(A, B, "sqeuclidean")
    r, c = linear_sum_assignment(C)
    assert C[np.arange(n), p].sum() == pytest.approx(C[r, c].sum(), rel=1e-12, abs=1e-12)
    if n <= 6:
        best = min(C[np.arange(n), list(q)].sum() for q in itertools.permutations(range(n)))
        assert C[np.arange(n), p].sum() == pytest.approx(best, rel=1e-12, abs=1e-12)


def test_match_rows_all_columns_constant_is_the_identity():
    A, B = np.ones((4, 3)), np.zeros((4, 3))
    np.testing.assert_array_equal(transport.match_rows(A, B), np.arange(4))


def test_match_rows_column_varying_in_one_cloud_only_is_not_dropped(rng):
    # column 1 is constant in A but not in B: it changes the optimum, so it must stay
    A = np.c_[rng.normal(size=50), np.zeros(50)]
    B = np.c_[rng.normal(size=50), rng.normal(size=50)]
    C = cdist(A, B, "sqeuclidean")
    r, c = linear_sum_assignment(C)
    assert C[np.arange(50), transport.match_rows(A, B)].sum() == pytest.approx(C[r, c].sum(), rel=1e-12)


# --------------------------------------------------------------------------- translated clouds
SHIFTS = [0.0, 1e3, 1e6, 1e8]


@pytest.mark.parametrize("d", [2, 3, 8, 40])
@pytest.mark.parametrize("shift", SHIFTS)
def test_sq_distances_are_exact_differences_wherever_the_clouds_sit(seed, d, shift):
    """Against the difference form on the same (shifted, hence rounded) coordinates: every entry to a
    relative 2 (d + 2) u / CLOSE, i.e. no cancellation of |x|^2 + |y|^2 against 2 x.y."""
    rng = np.random.default_rng([seed, d])
    X = rng.standard_normal((70, d)) + shift
    Y = np.r_[X[:10], rng.standard_normal((50, d)) + shift]  # 10 points shared with X
    ref = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)  # (70, 60) exact differences
    D = transport.sq_distances(X, Y)
    rel = 2 * (d + 2) * np.finfo(float).eps / 2 / 0.125
    assert (np.abs(D - ref) <= rel * ref).all()
    assert (np.diag(D[:10, :10]) == 0).all()


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("d", [2, 16])
def test_wasserstein_is_translation_invariant_and_zero_on_itself(p, d):
    rng = np.random.default_rng([d, 7])
    X, Y = rng.standard_normal((280, d)), rng.standard_normal((280, d))  # sparse path (n >= 256)
    w = transport.empirical_wasserstein(X, Y, p)
    for s in SHIFTS:
        Xs, Ys = X + s, Y + s
        assert transport.empirical_wasserstein(Xs, Xs, p) == 0.0
        # oracle: scipy on the exact-difference costs of the same shifted floats
        C = cdist(Xs, Ys) ** p
        r, c = linear_sum_assignment(C)
        ref = (C[r, c].sum() / 280) ** (1 / p)
        assert transport.empirical_wasserstein(Xs, Ys, p) == pytest.approx(ref, rel=1e-12)
        # and the shift only costs the rounding of the shifted coordinates (ulp(s) ~ 2.2e-16 s)
        assert transport.empirical_wasserstein(Xs, Ys, p) == pytest.approx(w, rel=1e-12, abs=64 * np.spacing(s) * np.sqrt(d))


def test_match_rows_far_apart_clouds_is_optimal():
    """Issue 12: Y shifted by 1e5 along one axis used to give a coupling of cost 984 against 25.8."""
    rng = np.random.default_rng(12)
    X, Y = rng.standard_normal((300, 2)), rng.standard_normal((300, 2))
    D = cdist(X, Y, "sqeuclidean")
    r, c = linear_sum_assignment(D)
    for s in (1e4, 1e5):
        p = transport.match_rows(X, Y + [s, 0.0])
        assert D[np.arange(300), p].sum() == pytest.approx(D[r, c].sum(), rel=1e-9)
    # at 1e7 the entries are ~1e14 with ulp 0.016: the O(1) part that decides the coupling is no
    # longer held by any float64 distance matrix, so the promise is scipy's optimum on that matrix
    Ys = Y + [1e7, 0.0]
    Ds = cdist(X, Ys, "sqeuclidean")
    r, c = linear_sum_assignment(Ds)
    p = transport.match_rows(X, Ys)
    assert Ds[np.arange(300), p].sum() == pytest.approx(Ds[r, c].sum(), rel=1e-15)


def test_sq_distances_array_operation_path_matches_the_kernels(monkeypatch, seed):
    """The path cupy takes (and numpy without numba): the same numbers as the numba kernels."""
    import otlmc.transport.wasserstein as tr

    rng = np.random.default_rng(seed)
    for d in (2, 9):
        X = rng.standard_normal((40, d)) + 1e6
        Y = np.r_[X[:5], rng.standard_normal((30, d)) + 1e6]
        fast = transport.sq_distances(X, Y)
        monkeypatch.setattr(tr, "_nb", None)
        slow = transport.sq_distances(X, Y)
        monkeypatch.undo()
        ref = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
        assert (np.diag(slow[:5, :5]) == 0).all()
        np.testing.assert_allclose(slow, ref, rtol=2 * (d + 2) * np.finfo(float).eps / 0.125)
        np.testing.assert_allclose(fast, ref, rtol=2 * (d + 2) * np.finfo(float).eps / 0.125)
