"""The unrolled numba kernels behind validation and the certificate, against numpy.

Both kernels run four independent accumulators plus a scalar tail loop; a bad entry or a
minimum that sits in the tail (length not a multiple of four) is the case a wrong loop bound
would miss.
"""
from __future__ import annotations

import numpy as np
import pytest

import otlmc.transport.assignment as asg
import otlmc.transport.dense_jv as dense_jv
from otlmc.transport.assignment import linear_assignment


@pytest.mark.parametrize("n", [1, 3, 5, 6, 7])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e200])
def test_every_position_of_a_bad_entry_is_seen(n, bad):
    """NaN / +-inf / overflow-sized entries anywhere (tail positions included) are classified."""
    for pos in range(n * n):
        C = np.random.default_rng(pos).random((n, n))  # (n, n)
        C.flat[pos] = bad
        if np.isnan(bad) or bad == -np.inf:
            with pytest.raises(ValueError, match="NaN|-inf"):
                linear_assignment(C)
            continue
        kind = asg._as_cost(C, False)[1]
        assert kind == ("forbidden" if bad == np.inf else "huge"), (pos, kind)
        _, fused, mins = asg._as_cost(C, False, colmin=True)  # the one-pass check with column minima
        assert fused == kind and mins is None, (pos, fused)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (5, 3), (7, 9), (300, 300)])
def test_column_minima_from_the_validation_pass_are_numpy_s(shape):
    C = np.random.default_rng(shape[1]).standard_normal(shape) * 1e3 + 1e6  # (n, m)
    A, kind, mins = asg._as_cost(C, False, colmin=True)
    assert kind == "finite"
    np.testing.assert_array_equal(mins, C.min(0))
    _, _, mins_max = asg._as_cost(C, True, colmin=True)  # maximise: minima of -C
    np.testing.assert_array_equal(mins_max, (-C).min(0))


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 9, 257])
def test_sum_of_squares_matches_numpy(m):
    x = np.random.default_rng(m).standard_normal(m)  # (m,)
    assert asg._sum_squares(x) == pytest.approx(float(x @ x), rel=1e-13)


@pytest.mark.parametrize("m", [1, 3, 4, 6, 259])
def test_row_minima_of_reduced_costs_match_numpy_exactly(m):
    """Every column position holds the row minimum once (tail included); the result is the
    same float numpy computes with the same two subtractions."""
    rng = np.random.default_rng(m)
    C = rng.standard_normal((m, m)) * 1e3 + 1e6  # (m, m) with an offset: the low bits matter
    for i in range(m):
        C[i, (i * 7) % m] -= 1e4  # (m, m) row i's minimum at a rotating column
    v0, v = C.min(0), rng.standard_normal(m)  # (m,), (m,)
    ref = ((C - v0[None, :]) - v[None, :]).min(1)  # (m,)
    np.testing.assert_array_equal(asg._row_min_reduced(C, v0, v), ref)


@pytest.mark.parametrize("m", [37, 300])
@pytest.mark.parametrize("k", [5, 20])
def test_row_candidates_hold_the_row_minimum_and_a_threshold_set(m, k):
    """Each row's candidates are the columns at or below one threshold (every column cheaper than
    a candidate is a candidate too), between CAND_MIN and 3k of them or exactly the k smallest,
    and the returned row minima are numpy's."""
    rng = np.random.default_rng(m + k)
    C, v = rng.standard_normal((m, m)), rng.standard_normal(m)  # (m, m), (m,)
    C[3] = v  # a row of ties: every reduced cost 0 (more than 3k pass, the exact k are kept)
    idx, rmin = asg._candidates_rows(C, v, k)  # (m, 3k), (m,)
    R = C - v[None, :]  # (m, m)
    np.testing.assert_array_equal(rmin, R.min(1))
    for i in range(m):
        cols = idx[i][idx[i] >= 0]
        assert np.unique(cols).size == cols.size and min(asg.CAND_MIN, k) <= cols.size <= 3 * k, (i, cols.size)
        if cols.size == k and np.array_equal(np.sort(R[i, cols]), np.sort(R[i])[:k]):  # the exact k
            continue
        assert (R[i] <= R[i, cols].max()).sum() == cols.size, i  # a threshold set


@pytest.mark.parametrize("n", [37, 300])
def test_column_candidates_are_threshold_sets_too(n):
    rng = np.random.default_rng(n)
    C, u = rng.standard_normal((n, n)), rng.standard_normal(n)  # (n, n), (n,)
    C[:, 5] = u  # a column of ties
    k = 20
    idx = asg._candidates_cols(C, u, k)  # (n, 3k)
    R = C - u[:, None]  # (n, n)
    for j in range(n):
        rows = idx[j][idx[j] >= 0]
        assert np.unique(rows).size == rows.size and min(asg.CAND_MIN, k) <= rows.size <= 3 * k, (j, rows.size)
        assert R[rows, j].min() == R[:, j].min()
        if rows.size == k and np.array_equal(np.sort(R[rows, j]), np.sort(R[:, j])[:k]):
            continue
        assert (R[:, j] <= R[rows, j].max()).sum() == rows.size, j


def test_violated_edges_only_for_the_failing_rows():
    rng = np.random.default_rng(1)
    C = rng.standard_normal((20, 20))  # (20, 20)
    z = np.zeros(20)
    thr = np.full(20, np.inf)  # every edge is "violated"
    top = asg._violations(C, z, z, thr, np.array([3, 11]), 4)  # (20, 4)
    assert (top[[3, 11]] >= 0).all() and (np.delete(top, [3, 11], 0) == -1).all()
    for i in (3, 11):  # the 4 most violated = the 4 smallest reduced costs
        assert set(top[i]) == set(np.argsort(C[i])[:4])


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8, 9, 258])
def test_dense_row_scan_best_first_position_and_second_best(m):
    """One-pass (min, first argmin, second min) of row - v against numpy, ties included: a value
    equal to the best is the second best."""
    rng = np.random.default_rng(m)
    for ties in (False, True):
        row = rng.integers(0, 3, m).astype(float) if ties else rng.standard_normal(m)  # (m,)
        v = np.zeros(m)
        best, at, second = dense_jv._min2(row, v)
        h = row - v  # (m,)
        assert best == h.min() and at == int(np.argmin(h))
        assert second == (np.sort(h)[1] if m > 1 else np.inf)


def test_dense_relaxation_keeps_scanned_columns_and_returns_the_first_minimum():
    rng = np.random.default_rng(5)
    m = 11
    row, v = rng.integers(0, 4, m).astype(float), np.zeros(m)  # (m,) ties on purpose
    d, pred = np.full(m, np.inf), np.full(m, -1)
    w = np.zeros(m)
    w[[2, 7]] = np.inf  # scanned columns: never relaxed
    d[[2, 7]] = -5.0
    best, at = dense_jv._relax_arg(row, v, 0.5, w, d, pred, 3)
    new = row - 0.5  # (m,)
    live = np.isfinite(w)  # (m,) unscanned
    np.testing.assert_array_equal(d[live], new[live])
    assert (pred[live] == 3).all() and (d[[2, 7]] == -5.0).all() and (pred[[2, 7]] == -1).all()
    assert best == new[live].min() and at == int(np.flatnonzero(live)[np.argmin(new[live])])
