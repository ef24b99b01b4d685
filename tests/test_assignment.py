"""Exactness of ``linear_assignment`` against scipy and brute force on every cost regime.

Equal optimal cost is checked against scipy's total on the same float64 matrix, within the
certificate's own ``excess_bound`` (a few units of round-off per row); the permutation itself
may differ from scipy's when the optimum is not unique. Adversarial families live in
``test_assignment_adversarial.py``, ported scipy / POT cases in ``test_assignment_ported.py``.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import otlmc.transport.assignment as asg
from otlmc.transport import sq_distances
from otlmc.transport.assignment import certify, linear_assignment


@pytest.fixture(params=[0, 1, 2])
def seed(request) -> int:
    return request.param


@pytest.fixture
def sparse_path(monkeypatch):
    """Every square problem from ``DENSE_MIN_N`` on goes to the sparse solver (it starts at
    ``SPARSE_MIN_N`` otherwise), so its machinery is tested at sizes that run fast."""
    monkeypatch.setattr(asg, "SPARSE_MIN_N", asg.DENSE_MIN_N)


def regime_cost(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """The cost matrices of the issue's table (plus the low-dimensional weight-matching form)."""
    if name.startswith("gauss"):
        d = int(name[5:])
        return sq_distances(rng.standard_normal((n, d)), rng.standard_normal((n, d)))  # (n, n)
    if name == "uniform2":
        return sq_distances(rng.random((n, 2)), rng.random((n, 2)))  # (n, n)
    if name.startswith("wm"):
        d = int(name[2:])
        return -(rng.standard_normal((n, d)) @ rng.standard_normal((n, d)).T)  # (n, n) -W_A W_B^T
    raise KeyError(name)


REGIMES = ("gauss2", "gauss16", "gauss128", "uniform2", "wm128", "wm6")


def scipy_cost(C, maximize=False) -> float:
    r, c = linear_sum_assignment(C, maximize=maximize)
    return float(C[r, c].sum())


def assert_optimal(C, perm, maximize=False, info=None):
    """``perm`` is a permutation whose total equals scipy's: within the certificate's bound when
    one is given, else to the rounding of the two length-n sums (4 n u of the summed magnitudes)."""
    n = C.shape[0]
    assert perm.shape == (n,)
    assert np.array_equal(np.sort(perm), np.arange(n)), "not a permutation"
    ours = float(C[np.arange(n), perm].sum())
    ref = scipy_cost(C, maximize)
    summing = 4 * n * np.finfo(float).eps * float(np.abs(C[np.arange(n), perm]).sum())
    bound = summing + (0.0 if info is None or np.isnan(info["excess_bound"]) else info["excess_bound"])
    assert abs(ours - ref) <= bound, (ours, ref, bound)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("n", [256, 700])
def test_sparse_path_matches_scipy_on_every_regime(regime, n, seed, sparse_path):
    C = regime_cost(regime, n, np.random.default_rng([seed, n]))
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "sparse", info  # the certified sparse solver answered, not the fallback
    assert info["gap"] <= info["tol"] and info["worst"] <= info["tol"]
    assert_optimal(C, perm, info=info)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("n", [asg.DENSE_MIN_N, 100, 256, asg.SPARSE_MIN_N - 1])
def test_dense_path_matches_scipy_on_every_regime(regime, n, seed):
    C = regime_cost(regime, n, np.random.default_rng([seed, n, 3]))
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "dense", info  # certified, not the fallback
    assert info["gap"] <= info["tol"] and info["worst"] <= info["tol"]
    assert_optimal(C, perm, info=info)


def test_wrong_dense_answer_is_rejected_and_scipy_answers(monkeypatch):
    """An uncertified dense result is never returned: swap two matches, expect scipy's optimum."""
    real = asg.solve_dense

    def corrupted(R, arr_factor):
        r2c, v = real(R, arr_factor)
        r2c = r2c.copy()
        r2c[[0, 1]] = r2c[[1, 0]]  # still a permutation, no longer optimal
        return r2c, v

    monkeypatch.setattr(asg, "solve_dense", corrupted)
    C = regime_cost("gauss16", 200, np.random.default_rng(0))
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "scipy" and info["reason"] == "dense not certified", info
    assert_optimal(C, perm)


@pytest.mark.parametrize("regime", ("gauss2", "uniform2", "wm6"))
def test_row_side_warm_start_is_exact_too(regime, seed, monkeypatch):
    monkeypatch.setattr(asg, "WARM_COLS", False)
    C = regime_cost(regime, 600, np.random.default_rng([seed, 7]))
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "sparse" and info["rounds"] >= 2  # warm starts ran
    assert_optimal(C, perm, info=info)


@pytest.mark.parametrize("regime", ("gauss2", "wm128"))
def test_maximize_matches_scipy(regime, seed):
    C = regime_cost(regime, 300, np.random.default_rng(seed))
    perm = linear_assignment(C, maximize=True)
    assert_optimal(C, perm, maximize=True)


def test_small_problems_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    for n in range(1, 7):
        C = rng.standard_normal((n, n))
        best = min(sum(C[i, p[i]] for i in range(n)) for p in itertools.permutations(range(n)))
        perm = linear_assignment(C)
        assert abs(C[np.arange(n), perm].sum() - best) <= 1e-12 * max(1.0, abs(best))


@pytest.mark.parametrize("kind", ["ties", "constant", "offset", "tiny", "huge"])
def test_degenerate_and_badly_scaled_costs(kind, seed):
    rng = np.random.default_rng(seed)
    n = 320
    if kind == "ties":  # many equal optima
        C = rng.integers(0, 3, size=(n, n)).astype(float)
    elif kind == "constant":
        C = np.full((n, n), 2.5)
    elif kind == "offset":  # float32 JV variants lose optimality here
        C = sq_distances(rng.random((n, 2)), rng.random((n, 2))) + 1e4
    elif kind == "tiny":
        C = 1e-200 * rng.random((n, n))
    else:
        C = 1e200 * rng.random((n, n))
    perm = linear_assignment(C)
    assert_optimal(C, perm)


def test_hub_columns_need_the_column_lists():
    # a rank-1 inner-product cost: every row prefers the same columns; only a matching that
    # also looks at each column's best rows finds the optimum quickly
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(500), rng.standard_normal(500)
    C = -np.outer(a, b)  # (500, 500)
    perm = linear_assignment(C)
    assert_optimal(C, perm)
    # sorted-order matching is optimal for a rank-1 product cost (rearrangement inequality)
    sorted_cost = -np.sum(np.sort(a) * np.sort(b))
    assert abs(C[np.arange(500), perm].sum() - sorted_cost) <= 1e-9 * abs(sorted_cost)


def test_wrong_sparse_answer_is_rejected_and_scipy_answers(monkeypatch, sparse_path):
    """An uncertified result is never returned: corrupt the sparse solver, expect scipy's optimum."""
    real = asg._sparse_ssp

    def corrupted(*args):
        r2c, v_out, ok = real(*args)
        if (r2c < 0).any():
            return r2c, v_out, ok
        r2c = r2c.copy()
        r2c[[0, 1]] = r2c[[1, 0]]  # still a permutation, no longer optimal
        return r2c, v_out, ok

    monkeypatch.setattr(asg, "_sparse_ssp", corrupted)
    C = regime_cost("gauss16", 300, np.random.default_rng(0))
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "scipy" and info["reason"] in ("stalled", "round limit"), info
    assert_optimal(C, perm)


def test_round_limit_falls_back_to_scipy(monkeypatch, sparse_path):
    monkeypatch.setattr(asg, "MAX_ROUNDS", 1)
    monkeypatch.setattr(asg, "K_START", 1)
    C = regime_cost("gauss2", 400, np.random.default_rng(0))
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "scipy" and info["reason"] == "round limit" and info["rounds"] == 1, info
    assert_optimal(C, perm)


def test_certificate_weak_duality_and_rejection(seed, sparse_path):
    rng = np.random.default_rng(seed)
    C = regime_cost("gauss16", 300, rng)
    opt = scipy_cost(C)
    ident = np.arange(300)
    for _ in range(5):  # any potentials give a valid bound: primal - gap <= OPT (weak duality)
        v = rng.standard_normal(300) * 10
        cert = certify(C, ident, v)
        assert C[ident, ident].sum() - cert["gap"] <= opt + 1e-9 * abs(opt)
        assert not cert["certified"]  # random potentials certify nothing
    perm, info = linear_assignment(C, return_info=True)
    assert info["method"] == "sparse"
    bad = perm.copy()
    bad[[0, 1]] = bad[[1, 0]]
    cert = certify(C, bad, rng.standard_normal(300))
    # gap >= primal - OPT > 0 for a strictly worse permutation, far above the tolerance
    assert C[ident, bad].sum() - opt > cert["tol"] and cert["gap"] > cert["tol"]
    assert not cert["certified"]


def test_certificate_accepts_the_optimum_with_exact_potentials():
    # C = r_i + c_j: every permutation is optimal and v = c certifies it with g_i = 0
    rng = np.random.default_rng(0)
    r, c = rng.integers(-5, 5, 40).astype(float), rng.integers(-5, 5, 40).astype(float)
    C = r[:, None] + c[None, :] + 1e12
    cert = certify(C, rng.permutation(40), c)
    assert cert["certified"] and cert["gap"] == 0.0 and cert["worst"] == 0.0


def test_result_does_not_depend_on_input_layout(seed):
    C = regime_cost("wm128", 300, np.random.default_rng(seed))
    p1 = linear_assignment(C)
    p2 = linear_assignment(np.asfortranarray(C))
    p3 = linear_assignment(C.astype(np.float32).astype(np.float64))
    assert np.array_equal(p1, p2)
    assert_optimal(C.astype(np.float32).astype(np.float64), p3)


def test_edge_sizes():
    assert linear_assignment(np.zeros((0, 0))).shape == (0,)
    assert linear_assignment(np.zeros((0, 3))).shape == (0,)
    assert linear_assignment(np.zeros((2, 0))).shape == (0,)
    assert linear_assignment(np.array([[3.0]])).tolist() == [0]


def test_info_is_returned_not_kept():
    C = regime_cost("gauss2", 300, np.random.default_rng(0))
    perm, info = linear_assignment(C, return_info=True)
    assert np.array_equal(perm, linear_assignment(C))
    assert set(info) >= {"method", "reason", "shape", "rounds", "edges", "gap", "worst", "tol", "excess_bound"}
    assert info["shape"] == (300, 300) and info["rounds"] >= 1 and info["edges"] >= 300
    small = linear_assignment(np.eye(3), return_info=True)[1]
    assert small["method"] == "scipy" and small["reason"] == "small" and np.isnan(small["gap"])
    assert not hasattr(asg, "last_info") and not hasattr(asg, "_LAST")


@pytest.mark.parametrize(
    "C, kwargs, exc, match",
    [
        (np.zeros(4), {}, ValueError, "2-dimensional"),
        (np.zeros((2, 2, 2)), {}, ValueError, "2-dimensional"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), {}, ValueError, "1 NaN entry"),
        (np.array([[0.0, -np.inf], [1.0, 2.0]]), {}, ValueError, "1 -inf entry"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), {"maximize": True}, ValueError, r"1 \+inf entry"),
        (np.array([[np.nan, np.inf], [np.nan, 2.0]]), {"maximize": True}, ValueError, r"2 NaN and 1 \+inf"),
        (np.array([[0.0, np.inf], [np.inf, np.inf]]), {}, ValueError, "infeasible"),
        (np.array([[0.0, -np.inf], [-np.inf, -np.inf]]), {"maximize": True}, ValueError, "infeasible"),
        ([["a", "b"], ["c", "d"]], {}, TypeError, "real array"),
        (np.eye(3) * (1 + 1j), {}, TypeError, "complex128"),
        (np.eye(3).astype(object), {}, TypeError, "object"),
        (np.eye(3), {"maximize": "yes"}, TypeError, "maximize must be a bool"),
        (np.eye(3), {"return_info": 1}, TypeError, "return_info must be a bool"),
    ],
)
def test_bad_input_is_named(C, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        linear_assignment(C, **kwargs)


def test_certify_validates_its_inputs():
    C = np.eye(3)
    with pytest.raises(ValueError, match="permutation"):
        certify(C, [0, 0, 1], np.zeros(3))
    with pytest.raises(ValueError, match="permutation"):
        certify(C, [0.0, 1.0, 2.0], np.zeros(3))
    with pytest.raises(ValueError, match="expected"):
        certify(C, [0, 1, 2], np.zeros(4))
    with pytest.raises(ValueError, match="square"):
        certify(np.zeros((2, 3)), [0, 1], np.zeros(2))
    with pytest.raises(ValueError, match="non-finite"):
        certify(C, [0, 1, 2], [0.0, np.nan, 0.0])
    with pytest.raises(TypeError, match="real array"):
        certify(C, [0, 1, 2], np.zeros(3) * 1j)


@pytest.mark.slow
@pytest.mark.parametrize("regime", REGIMES)
def test_large_problems_match_scipy(regime):
    for seed in range(3):
        C = regime_cost(regime, 2048, np.random.default_rng([seed, 2048]))
        perm, info = linear_assignment(C, return_info=True)
        assert info["method"] == "sparse"
        assert_optimal(C, perm, info=info)


# --------------------------------------------------------------------------- cost matrices
@pytest.mark.parametrize("d", [1, 2, 16, 128])
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0])
def test_cost_matrix_matches_cdist(d, p, seed):
    from scipy.spatial.distance import cdist

    from otlmc.transport import cost_matrix

    rng = np.random.default_rng([seed, d])
    X, Y = 3.0 * rng.standard_normal((60, d)), rng.standard_normal((45, d)) + 1.0
    C = cost_matrix(X, Y, p)
    ref = cdist(X, Y) ** p  # (60, 45)
    assert C.shape == (60, 45) and (C >= 0).all()
    # GEMM form: cancellation error ~ eps * (|x|^2 + |y|^2) in D, relative error of D^{p/2} below
    # 1e-11 of the largest entry over seeds 0-2 (observed max 3e-15 relative); band 1e-11
    assert np.abs(C - ref).max() <= 1e-11 * ref.max()


def test_sq_distances_of_identical_points_are_nonnegative():
    rng = np.random.default_rng(0)
    X = 1e3 * rng.standard_normal((200, 5))
    D = sq_distances(X, X)
    assert (D >= 0).all()
    assert np.diag(D).max() <= 1e-9 * np.abs(D).max()


def test_sq_distances_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="same dimension"):
        sq_distances(np.zeros((3, 2)), np.zeros((3, 4)))
