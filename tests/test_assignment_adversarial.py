"""Adversarial cost families for ``linear_assignment``, each against scipy's total on the same matrix.

"Exact" here is the module's promise: the total of the returned assignment on the float64 matrix
that was passed in equals scipy's total on that matrix; for costs on a grid (integers, integers
plus an offset) the two totals are equal to the last bit, and for real costs they differ by at
most the certificate's ``excess_bound``. The families come from issue 12: constant, row and column
offsets up to 1e12, big-M forbidden edges, ties, Machol-Wien and rank-one costs, signed zeros,
duplicated rows/columns, sizes at the dense/sparse hand-over, rectangular, ``inf`` and
``maximize``. ``forced`` runs disable the tie route so the certified sparse path has to answer.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

import otlmc.transport.assignment as asg
from otlmc.transport.assignment import DENSE_MIN_N, SPARSE_MIN_N, linear_assignment


def scipy_total(C_solve, C_eval=None, maximize=False) -> float:
    """scipy's assignment of ``C_solve``, totalled on ``C_eval`` (default: the same matrix)."""
    r, c = linear_sum_assignment(C_solve, maximize=maximize)
    return float((C_solve if C_eval is None else C_eval)[r, c].sum())


def our_total(C_solve, C_eval=None, maximize=False, **kw):
    perm, info = linear_assignment(C_solve, maximize=maximize, return_info=True, **kw)
    C_eval = C_solve if C_eval is None else C_eval
    nr, nc = C_eval.shape
    if nr <= nc:
        assert perm.shape == (nr,) and np.unique(perm).size == nr
        return float(C_eval[np.arange(nr), perm].sum()), info
    assert perm.shape == (nc,) and np.unique(perm).size == nc
    return float(C_eval[perm, np.arange(nc)].sum()), info


@pytest.fixture(params=["routed", "forced", "dense"])
def route(request, monkeypatch):
    """'forced': the sparse solver at every size, no tie routing and no early give-up, so the
    sparse solver and its certificate answer. 'dense': the dense solver at every size."""
    if request.param == "forced":
        monkeypatch.setattr(asg, "SPARSE_MIN_N", DENSE_MIN_N)
        monkeypatch.setattr(asg, "TIE_RATIO", np.inf)
        monkeypatch.setattr(asg, "STALL", np.inf)
        monkeypatch.setattr(asg, "MAX_ROUNDS", 40)
    if request.param == "dense":
        monkeypatch.setattr(asg, "SPARSE_MIN_N", 10**9)
    return request.param


def small_ints(n, hi, rng):
    return rng.integers(0, hi + 1, size=(n, n)).astype(float)  # (n, n)


# --------------------------------------------------------------------------- offsets
@pytest.mark.parametrize("offset", [0.0, 1e9, 1e12, -1e12])
def test_constant_offset_keeps_the_exact_optimum(offset, route, seed):
    """Integer costs 0..2 (optimum 0) plus a constant: the old relative gap accepted excess 96."""
    C = small_ints(256, 2, np.random.default_rng([seed, 1]))
    assert scipy_total(C) == 0.0
    ours, info = our_total(C + offset, C)
    assert ours == scipy_total(C + offset, C) == 0.0, info
    if route != "routed":
        assert info["method"] == ("sparse" if route == "forced" else "dense") and info["gap"] == 0.0


@pytest.mark.parametrize("axis", [0, 1])
def test_row_and_column_offsets_summing_to_zero(axis, route, seed):
    rng = np.random.default_rng([seed, 2])
    C = small_ints(256, 2, rng)
    off = np.repeat([1e9, -1e9], 128)
    rng.shuffle(off)
    Cs = C + (off[:, None] if axis == 0 else off[None, :])
    ours, info = our_total(Cs)
    assert ours == scipy_total(Cs) == 0.0, info  # offsets sum to 0: the total is C's optimum, 0


@pytest.mark.parametrize("path", ["dense", "sparse"])
def test_mixed_row_and_column_offsets_on_real_costs(seed, path, monkeypatch):
    """Real costs with huge additive parts: the totals agree within the certified rounding."""
    monkeypatch.setattr(asg, "SPARSE_MIN_N", 10**9 if path == "dense" else DENSE_MIN_N)
    rng = np.random.default_rng([seed, 3])
    C = rng.random((300, 300))
    Cs = C + 1e6 * rng.standard_normal(300)[:, None] + 1e9 * rng.standard_normal(300)[None, :]
    ours, info = our_total(Cs)
    assert info["method"] == path
    assert abs(ours - scipy_total(Cs)) <= info["excess_bound"] + 1e-15 * abs(ours) * 300


@pytest.mark.parametrize("density", [0.01, 0.06])
def test_big_m_forbidden_edges_match_scipy(density, route, seed):
    """scipy's sparse-input test in dense form, missing edges as a big-M of 1e12 (n = 512)."""
    rng = np.random.default_rng([seed, 4])
    n = 512
    mask = rng.random((n, n)) < density
    C = np.full((n, n), 1e12)
    C[mask] = rng.integers(1, 100, mask.sum())
    ours, info = our_total(C)
    assert ours == scipy_total(C), info


# --------------------------------------------------------------------------- hard structure
@pytest.mark.parametrize("hi", [1, 2, 9, 99])
def test_integer_ties(hi, route, seed):
    C = small_ints(600, hi, np.random.default_rng([seed, 5]))
    ours, info = our_total(C)
    assert ours == scipy_total(C), info
    if route == "routed" and hi <= 9:
        assert info["reason"] == "ties"


def test_rademacher_features_are_routed_as_ties(seed):
    rng = np.random.default_rng([seed, 6])
    A, B = rng.choice([-1.0, 1.0], (600, 4)), rng.choice([-1.0, 1.0], (600, 4))
    C = -(A @ B.T)  # (600, 600) five distinct values
    ours, info = our_total(C)
    assert info["reason"] == "ties" and ours == scipy_total(C)


@pytest.mark.parametrize("n", [300, 1000])
def test_machol_wien_is_solved_by_sorting(n):
    i = np.arange(n, dtype=float)
    C = np.outer(i, i)  # C[i, j] = i j: the anti-diagonal is optimal
    ours, info = our_total(C)
    assert info["method"] == "rank1", info
    assert ours == float(np.sum(i * i[::-1])) == scipy_total(C)


@pytest.mark.parametrize("kind", ["product", "positive", "plus_offsets", "one_d_sq"])
def test_rank_one_costs(kind, seed):
    rng = np.random.default_rng([seed, 7])
    n = 400
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    if kind == "product":
        C = -np.outer(a, b)
    elif kind == "positive":
        C = np.outer(rng.random(n), rng.random(n))
    elif kind == "plus_offsets":  # rank one after removing row and column terms
        C = np.outer(a, b) + 1e3 * rng.standard_normal(n)[:, None] + rng.standard_normal(n)[None, :]
    else:  # 1-D squared distances: x^2 + y^2 - 2 x y
        C = (a[:, None] - b[None, :]) ** 2
    ours, info = our_total(C)
    assert info["method"] in ("rank1", "sparse"), info
    assert abs(ours - scipy_total(C)) <= info["excess_bound"] + 4e-16 * n * np.abs(C).max()


def test_nearly_rank_one_is_repaired_from_the_sorted_start():
    rng = np.random.default_rng(8)
    n = 400
    C = -np.outer(rng.standard_normal(n), rng.standard_normal(n)) + 1e-10 * rng.random((n, n))
    ours, info = our_total(C)
    assert abs(ours - scipy_total(C)) <= info["excess_bound"] + 4e-16 * n * np.abs(C).max()


def test_tiny_cost_range(seed):
    C = 1.0 + 1e-12 * np.random.default_rng([seed, 9]).random((400, 400))
    ours, info = our_total(C)
    assert info["method"] == "sparse" and info["excess_bound"] < 1e-20
    assert ours == scipy_total(C)


@pytest.mark.parametrize("scale", [1e150, 1e300, 8e307, -8e307, 5e-324])
def test_entries_near_the_ends_of_the_float_range(scale):
    """No overflow inside the solver (huge entries go to scipy), no lost subnormals."""
    K = np.random.default_rng(15).integers(1000, 2000, (300, 300))  # (300, 300) integers
    C = scale * (K / 1000) if abs(scale) > 1 else scale * K.astype(float)  # exact multiples when subnormal
    perm, info = linear_assignment(C, return_info=True)
    r, c = linear_sum_assignment(C)
    ours, ref = (C[np.arange(300), perm] / scale).sum(), (C[r, c] / scale).sum()  # totals may overflow
    assert ours == pytest.approx(ref, rel=1e-13)
    if abs(scale) > 1e200:  # sums of squares overflow: scipy answers
        assert info["reason"] == "entries near the float range"


def test_signed_zeros_and_constant_matrix():
    rng = np.random.default_rng(10)
    C = np.where(rng.random((300, 300)) < 0.5, 0.0, -0.0)
    ours, _ = our_total(C)
    assert ours == 0.0
    ours, _ = our_total(np.full((300, 300), 7.25))
    assert ours == 300 * 7.25


@pytest.mark.parametrize("axis", [0, 1])
def test_duplicated_rows_or_columns(axis, seed):
    rng = np.random.default_rng([seed, 11])
    base = rng.standard_normal((150, 300))
    C = np.concatenate([base, base]) if axis == 0 else np.concatenate([base.T, base.T], 1)  # (300, 300)
    ours, info = our_total(C)
    assert abs(ours - scipy_total(C)) <= info["excess_bound"] + 1e-12


@pytest.mark.parametrize("n", [DENSE_MIN_N - 1, DENSE_MIN_N, SPARSE_MIN_N - 1, SPARSE_MIN_N, SPARSE_MIN_N + 1])
def test_sizes_at_the_scipy_dense_sparse_hand_overs(n, seed):
    rng = np.random.default_rng([seed, n])
    C = ((rng.standard_normal((n, 1, 3)) - rng.standard_normal((1, n, 3))) ** 2).sum(-1)  # (n, n)
    ours, info = our_total(C)
    assert info["method"] == ("scipy" if n < DENSE_MIN_N else "dense" if n < SPARSE_MIN_N else "sparse")
    assert abs(ours - scipy_total(C)) <= (0 if np.isnan(info["excess_bound"]) else info["excess_bound"]) + 1e-12


# --------------------------------------------------------------------------- scipy's other problems
@pytest.mark.parametrize("shape", [(3, 7), (7, 3), (40, 300), (300, 40), (299, 300)])
@pytest.mark.parametrize("maximize", [False, True])
def test_rectangular_matches_scipy(shape, maximize, seed):
    C = np.random.default_rng([seed, *shape]).standard_normal(shape)
    ours, _ = our_total(C, maximize=maximize)
    assert ours == pytest.approx(scipy_total(C, maximize=maximize), rel=1e-12, abs=1e-12)


def test_rectangular_return_convention():
    C = np.array([[5.0, 1.0, 9.0, 0.5], [2.0, 8.0, 0.0, 7.0]])  # (2, 4): a column per row
    assert linear_assignment(C).tolist() == [3, 2]
    assert linear_assignment(C.T).tolist() == [3, 2]  # (4, 2): the row given to each column


@pytest.mark.parametrize("maximize", [False, True])
def test_forbidden_edges_as_inf(maximize, seed):
    rng = np.random.default_rng([seed, 12])
    n = 300
    C = rng.random((n, n))
    forbid = rng.random((n, n)) < 0.7
    forbid[np.arange(n), rng.permutation(n)] = False  # keep one complete assignment
    C[forbid] = -np.inf if maximize else np.inf
    ours, info = our_total(C, maximize=maximize)
    assert info["reason"] == "forbidden edges" and np.isfinite(ours)
    assert ours == scipy_total(C, maximize=maximize)


@pytest.mark.parametrize("shape", [(3, 3), (300, 300), (2, 5), (5, 2)])
def test_infeasible_forbidden_pattern_is_named(shape):
    C = np.full(shape, np.inf)
    if shape[0] <= shape[1]:  # every row can only use column 0
        C[:, 0] = 1.0
    else:  # every column can only use row 0
        C[0, :] = 1.0
    with pytest.raises(ValueError, match="infeasible"):
        linear_assignment(C)


def test_maximize_does_not_modify_the_input():
    C = np.random.default_rng(13).standard_normal((300, 300))
    keep = C.copy()
    linear_assignment(C, maximize=True)
    assert np.array_equal(C, keep)


def test_integer_and_bool_inputs_are_costs():
    I = np.eye(4, dtype=bool)
    assert our_total(I)[0] == 0.0 and our_total(I, maximize=True)[0] == 4.0
    C = np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]], dtype=np.int64)
    assert our_total(C)[0] == 5.0


# --------------------------------------------------------------------------- property test
#: per solver band: the patches that send every square matrix there, and the methods that may answer
BANDS = {
    # hand-over and tie route disabled: the sparse path and its certificate (rank one may answer first)
    "sparse": ({"DENSE_MIN_N": 2, "SPARSE_MIN_N": 2, "TIE_RATIO": np.inf}, ("sparse", "rank1", "scipy")),
    # certified (integers: every reduced cost is exact); the rank-one profile may answer first
    "dense": ({"DENSE_MIN_N": 2, "SPARSE_MIN_N": 10**9}, ("dense", "rank1")),
}


@pytest.mark.parametrize("band", sorted(BANDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 40),
    hi=st.sampled_from([1, 3, 50, 10**6]),
    offset=st.sampled_from([0.0, 1e6, 1e9, 1e12, -1e12]),
    row_scale=st.sampled_from([0.0, 1e3, 1e9]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_total_equals_scipy_on_each_band(band, n, hi, offset, row_scale, seed):
    """Random integer matrices with offsets, solved by the sparse or the dense path: the total is
    scipy's exactly. Row offsets are integers, so every entry is exact."""
    rng = np.random.default_rng(seed)
    C = rng.integers(0, hi + 1, size=(n, n)).astype(float)
    C = C + offset + np.round(row_scale * rng.standard_normal(n))[:, None]
    patches, methods = BANDS[band]
    with pytest.MonkeyPatch.context() as mp:
        for name, value in patches.items():
            mp.setattr(asg, name, value)
        ours, info = our_total(C)
    assert info["method"] in methods
    assert ours == scipy_total(C)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["int9", "machol", "rank1", "rad4", "offset1e12"])
def test_hard_families_at_n_2048(family):
    rng = np.random.default_rng(14)
    n = 2048
    if family == "int9":
        C = small_ints(n, 9, rng)
    elif family == "machol":
        C = np.outer(np.arange(n, dtype=float), np.arange(n, dtype=float))
    elif family == "rank1":
        C = -np.outer(rng.standard_normal(n), rng.standard_normal(n))
    elif family == "rad4":
        A, B = rng.choice([-1.0, 1.0], (n, 4)), rng.choice([-1.0, 1.0], (n, 4))
        C = ((A[:, None] - B[None]) ** 2).sum(-1)
    else:
        C = small_ints(n, 2, rng) + 1e12
    ours, info = our_total(C)
    tol = 0.0 if np.isnan(info["excess_bound"]) else info["excess_bound"]
    if family == "machol":  # scipy needs ~10 s here; the anti-diagonal is the optimum
        i = np.arange(n, dtype=float)
        assert ours == float(np.sum(i * i[::-1]))
        return
    assert abs(ours - scipy_total(C)) <= tol
