"""Patch second moments: exact (streamed) and Kronecker estimates against brute force."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.conv import Conv
from otlmc.conv.covariance import PatchMoment, compare_estimates, nearest_kronecker, patch_moment


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _patches_brute(x, k, stride, pad):
    """Patch rows by explicit loops over output positions, ordered (kernel row, column, channel)."""
    N, H, W, C = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = []
    for n in range(N):
        for i in range(0, H + 2 * pad - k + 1, stride):
            for j in range(0, W + 2 * pad - k + 1, stride):
                rows.append(xp[n, i:i + k, j:j + k, :].reshape(-1))
    return np.array(rows)  # (M, k*k*C)


@pytest.mark.parametrize("layer", [Conv(4, 3, 1), Conv(4, 3, 2), Conv(4, 1, 2, 0)])
def test_exact_and_kron_against_brute_force(layer, rng):
    x = rng.standard_normal((5, 6, 7, 3)) + 0.5
    U = _patches_brute(x, layer.kernel, layer.stride, layer.pad)
    K, C = layer.kernel ** 2, 3
    S = U.T @ U / U.shape[0]
    for bs in (1, 2, 100):
        np.testing.assert_allclose(patch_moment(x, layer, batch_size=bs).full, S, rtol=1e-12, atol=1e-14)
    kr = patch_moment(x, layer, estimate="kron", batch_size=2)
    U3 = U.reshape(-1, K, C)
    Q = np.einsum("mkc,mkd->cd", U3, U3) / (U.shape[0] * K)
    P = np.einsum("mkc,mlc->kl", U3, U3)
    P /= np.trace(P) / K
    np.testing.assert_allclose(kr.Q, Q, rtol=1e-12)
    np.testing.assert_allclose(kr.P, P, rtol=1e-12)
    assert abs(np.trace(kr.dense()) - np.trace(S)) < 1e-10 * np.trace(S)  # trace preserved
    ch = patch_moment(x, layer, estimate="channel")
    np.testing.assert_allclose(ch.dense(), np.kron(np.eye(K), Q), rtol=1e-12)


def test_bilinear_form_of_kronecker_products(rng):
    K, C = 4, 3
    A, B = rng.standard_normal((5, K * C)), rng.standard_normal((6, K * C))
    P = rng.standard_normal((K, K))
    P = P @ P.T
    Q = rng.standard_normal((C, C))
    Q = Q @ Q.T
    pm = PatchMoment("kron", K, C, P=P, Q=Q)
    np.testing.assert_allclose(pm.bilinear(A, B), A @ np.kron(P, Q) @ B.T, rtol=1e-12)


def test_nearest_kronecker_is_exact_on_kronecker_input_and_optimal(rng):
    K, C = 4, 3
    P = rng.standard_normal((K, K))
    P = P @ P.T
    Q = rng.standard_normal((C, C))
    Q = Q @ Q.T
    nk = nearest_kronecker(np.kron(P, Q), K, C)
    np.testing.assert_allclose(nk.dense(), np.kron(P, Q), rtol=1e-10, atol=1e-12)
    x = rng.standard_normal((4, 5, 5, C))
    S = patch_moment(x, Conv(2, 2, 1, 0)).full
    kr = patch_moment(x, Conv(2, 2, 1, 0), estimate="kron").dense()
    assert np.linalg.norm(nearest_kronecker(S, 4, C).dense() - S) <= np.linalg.norm(kr - S) + 1e-12


def test_compare_estimates_reports_consistent_numbers(rng):
    x = np.maximum(rng.standard_normal((8, 6, 6, 4)), 0)
    layer = Conv(5, 3)
    Wa = rng.standard_normal((5, 4, 3, 3))
    Wb = Wa[rng.permutation(5)] + 0.01 * rng.standard_normal(Wa.shape)
    out = compare_estimates(x, layer, Wa, Wb)
    assert out["exact"]["rel_fro"] == 0 and out["exact"]["perm_agreement"] == 1
    assert out["exact"]["cost_excess"] == 0
    for est in ("kron", "channel", "nearest_kron"):
        assert 0 < out[est]["rel_fro"] < 1
        assert out[est]["cost_excess"] >= -1e-12  # the exact-Sigma optimum is optimal
    assert out["kron"]["bytes"] < out["exact"]["bytes"]
    assert out["identity_cost_excess"] > 0


def test_bad_estimate_is_refused(rng):
    with pytest.raises(ValueError, match="estimate"):
        patch_moment(rng.standard_normal((1, 3, 3, 1)), Conv(1), estimate="diag")
