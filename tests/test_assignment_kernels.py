"""The unrolled numba kernels behind validation and the certificate, against numpy.

Both kernels run four independent accumulators plus a scalar tail loop; a bad entry or a
minimum that sits in the tail (length not a multiple of four) is the case a wrong loop bound
would miss.
"""
from __future__ import annotations

import numpy as np
import pytest

import otlmc.transport.assignment as asg
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


def test_row_minima_from_the_top_k_heap_are_the_row_minima():
    rng = np.random.default_rng(0)
    C, v = rng.standard_normal((37, 37)), rng.standard_normal(37)  # (37, 37), (37,)
    idx, rmin = asg._topk_rows(C, v, 5)
    R = C - v[None, :]  # (37, 37)
    np.testing.assert_array_equal(rmin, R.min(1))
    kth = np.sort(R, 1)[:, 4]  # (37,)
    assert (R[np.arange(37)[:, None], idx] <= kth[:, None]).all()


def test_violated_edges_only_for_the_failing_rows():
    rng = np.random.default_rng(1)
    C = rng.standard_normal((20, 20))  # (20, 20)
    z = np.zeros(20)
    thr = np.full(20, np.inf)  # every edge is "violated"
    top = asg._violations(C, z, z, thr, np.array([3, 11]), 4)  # (20, 4)
    assert (top[[3, 11]] >= 0).all() and (np.delete(top, [3, 11], 0) == -1).all()
    for i in (3, 11):  # the 4 most violated = the 4 smallest reduced costs
        assert set(top[i]) == set(np.argsort(C[i])[:4])
