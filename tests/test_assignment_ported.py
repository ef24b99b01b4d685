"""Cases of scipy's ``linear_sum_assignment`` tests and POT's exact-OT (``emd``) tests, restated.

The small matrices and their expected matched entries are the textbook cases scipy checks
(square, rectangular, with forbidden ``inf`` entries, minimised and maximised, and transposed);
the OT cases are POT's checks of its network simplex restated for uniform empirical measures,
where an exact assignment is an exact OT plan (Birkhoff): marginals, optimal value against
``ot.emd2``, invariance under a constant added to the cost, identical measures, float32 inputs.
"""
from __future__ import annotations

import numpy as np
import ot
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from otlmc.transport.assignment import linear_assignment
from otlmc.transport import emd_exact, empirical_wasserstein

INF = np.inf
# (cost matrix, matched entries in row order, as a minimisation)
SMALL_CASES = [
    ([[400, 150, 400], [400, 450, 600], [300, 225, 300]], [150, 400, 300]),
    ([[400, 150, 400, 1], [400, 450, 600, 2], [300, 225, 300, 3]], [150, 2, 300]),
    ([[10, 10, 8], [9, 8, 1], [9, 7, 4]], [10, 1, 7]),
    ([[10, 10, 8, 11], [9, 8, 1, 1], [9, 7, 4, 10]], [10, 1, 4]),
    ([[10, INF, INF], [INF, INF, 1], [INF, 7, INF]], [10, 1, 7]),
]


def matched_entries(C, perm):
    """Matched entries of ``C`` in the order of the shorter side (rows when wide or square)."""
    nr, nc = C.shape
    return C[np.arange(nr), perm] if nr <= nc else C[perm, np.arange(nc)]


@pytest.mark.parametrize("case", range(len(SMALL_CASES)))
@pytest.mark.parametrize("sign", [1, -1])
def test_scipy_small_cases_and_their_transposes(case, sign):
    C, expected = SMALL_CASES[case]
    C = sign * np.array(C, dtype=float)
    expected = sign * np.array(expected, dtype=float)
    maximize = sign == -1
    np.testing.assert_array_equal(matched_entries(C, linear_assignment(C, maximize=maximize)), expected)
    # transposed: the same matched entries, now listed by the columns of the tall matrix
    got = matched_entries(C.T, linear_assignment(C.T, maximize=maximize))
    np.testing.assert_array_equal(np.sort(got), np.sort(expected))


def test_scipy_constant_matrix_gives_a_permutation():
    perm = linear_assignment(np.ones((8, 8)))
    assert sorted(perm.tolist()) == list(range(8))


@pytest.mark.parametrize("shape", [(0, 0), (2, 0), (0, 3)])
def test_scipy_empty_problems(shape):
    assert linear_assignment(np.empty(shape)).size == 0


def test_scipy_list_bool_and_matrix_like_inputs():
    C = [[1, 2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(linear_assignment(C), linear_assignment(np.asarray(C, dtype=float)))
    I = np.identity(3)
    np.testing.assert_array_equal(linear_assignment(I.astype(bool)), linear_assignment(I))


@pytest.mark.parametrize(
    "C, exc, match",
    [
        ([1, 2, 3], ValueError, "2-dimensional"),
        (np.identity(3).astype(str), TypeError, "real array"),
        (np.diag([np.nan, 1, 1]), ValueError, "NaN"),
        (np.diag([1, -np.inf, 1]), ValueError, "-inf"),
    ],
)
def test_scipy_invalid_inputs(C, exc, match):
    with pytest.raises(exc, match=match):
        linear_assignment(C)


def test_scipy_infeasible_column():
    C = np.identity(3)
    C[:, 0] = np.inf
    with pytest.raises(ValueError, match="infeasible"):
        linear_assignment(C)


def test_scipy_many_sparse_inputs_agree():
    """scipy's check of its two solvers on sparse 100 x 100 inputs (missing edges as inf)."""
    rng = np.random.default_rng(12342309)
    feasible = infeasible = 0
    for _ in range(40):
        C = np.where(rng.random((100, 100)) < 0.06, rng.integers(1, 100, (100, 100)), np.inf)
        try:
            r, c = linear_sum_assignment(C)
        except ValueError:
            with pytest.raises(ValueError, match="infeasible"):
                linear_assignment(C)
            infeasible += 1
            continue
        feasible += 1
        assert C[np.arange(100), linear_assignment(C)].sum() == C[r, c].sum()
    assert feasible and infeasible  # both branches were exercised


# --------------------------------------------------------------------------- POT's emd checks
@pytest.mark.parametrize("n", [40, 300])
def test_pot_emd_plan_marginals_and_value(n, seed):
    rng = np.random.default_rng([seed, n])
    X, Y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    C = cdist(X, Y, "sqeuclidean")
    u = np.full(n, 1.0 / n)
    perm = linear_assignment(C)
    G = np.zeros((n, n))
    G[np.arange(n), perm] = 1.0 / n  # the plan of the assignment
    np.testing.assert_allclose(G.sum(1), u, rtol=1e-12)
    np.testing.assert_allclose(G.sum(0), u, rtol=1e-12)
    ref = ot.emd2(u, u, C, numItermax=10**7)
    assert float((G * C).sum()) == pytest.approx(ref, rel=1e-10)
    assert empirical_wasserstein(X, Y) ** 2 == pytest.approx(ref, rel=1e-10)


def test_pot_emd_constant_added_to_the_cost(seed):
    """POT: a constant added to M shifts the optimal value by that constant, not the plan."""
    rng = np.random.default_rng(seed)
    n = 300
    C = cdist(rng.random((n, 3)), rng.random((n, 3)))
    base = C[np.arange(n), linear_assignment(C)].sum()
    for c in (1.0, 1e6, 1e10):
        perm = linear_assignment(C + c)
        assert C[np.arange(n), perm].sum() == pytest.approx(base, rel=1e-9, abs=n * np.spacing(c))


def test_pot_emd_identical_measures_cost_zero(seed):
    X = np.random.default_rng(seed).standard_normal((300, 5))
    assert empirical_wasserstein(X, X) == 0.0
    assert empirical_wasserstein(X, X[::-1]) == 0.0  # same measure, points in another order


def test_pot_emd_float32_inputs():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((300, 2)).astype(np.float32), rng.standard_normal((300, 2)).astype(np.float32)
    C = cdist(X.astype(float), Y.astype(float), "sqeuclidean")
    r, c = linear_sum_assignment(C)
    assert empirical_wasserstein(X, Y) ** 2 == pytest.approx(C[r, c].sum() / 300, rel=1e-12)


def test_pot_emd_integer_cost_is_exact():
    rng = np.random.default_rng(2)
    n = 300
    C = rng.integers(0, 1000, (n, n)).astype(float)
    u = np.full(n, 1.0 / n)
    ours = C[np.arange(n), linear_assignment(C)].sum()
    assert ours == scipy_int_total(C)
    assert ours / n == pytest.approx(emd_exact(u, u, C), rel=1e-12)


def scipy_int_total(C) -> float:
    r, c = linear_sum_assignment(C)
    return float(C[r, c].sum())
