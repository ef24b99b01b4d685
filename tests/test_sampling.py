"""Weight and input laws: moments, rank, reproducibility, and named errors."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.sampling import lowrank_spectrum, random_bases, sample_inputs, sample_mlp, sample_weights


@pytest.mark.parametrize("dist", ["gaussian", "uniform", "rademacher"])
def test_entry_variance_is_scale_squared_over_fan_in(dist):
    """Empirical variance of 4e5 entries: relative standard error ~ sqrt(2/4e5) = 0.2% (Gaussian),
    smaller for uniform/Rademacher; the 2% band is ~10 standard errors."""
    W = sample_weights(2000, 200, rng=np.random.default_rng(7), law=dist, scale=1.5)
    np.testing.assert_allclose(W.var(), 1.5**2 / 200, rtol=0.02)
    assert abs(W.mean()) < 5 * 1.5 / np.sqrt(200) / np.sqrt(W.size)


def test_rademacher_and_uniform_supports():
    rng = np.random.default_rng(0)
    R = sample_weights(50, 16, rng=rng, law="rademacher")
    np.testing.assert_allclose(np.abs(R), 0.25)
    U = sample_weights(50, 12, rng=rng, law="uniform")
    assert np.abs(U).max() <= np.sqrt(3 / 12)


def test_lowrank_eta_zero_is_exactly_rank_k():
    rng = np.random.default_rng(1)
    basis = random_bases((10, 4), rng=rng)[0]
    W = sample_weights(200, 10, rng=rng, law="lowrank", k=3, eta=0.0, basis=basis)
    s = np.linalg.svd(W, compute_uv=False)
    assert np.sum(s > 1e-10 * s[0]) == 3


def test_lowrank_covariance_matches_assumption_8():
    """Row covariance from 2e5 rows vs Q diag(spectrum) Q^T; entries' standard error is
    ~sqrt(2/2e5)/k ~ 1e-3, the absolute tolerance 1e-2 is ~10 standard errors."""
    rng = np.random.default_rng(2)
    basis = random_bases((6, 1), rng=rng)[0]
    W = sample_weights(200_000, 6, rng=rng, law="lowrank", k=2, eta=0.1, basis=basis)
    expect = basis @ np.diag(lowrank_spectrum(6, 2, 0.1)) @ basis.T
    np.testing.assert_allclose(W.T @ W / len(W), expect, atol=1e-2)
    np.testing.assert_allclose(lowrank_spectrum(6, 2, 0.1), [0.5, 0.5, 0.05, 0.05, 0.05, 0.05])


def test_random_bases_are_orthonormal(rng):
    for Q in random_bases((5, 3, 2), rng=rng):
        np.testing.assert_allclose(Q @ Q.T, np.eye(len(Q)), atol=1e-12)


def test_same_generator_state_gives_same_network(seed):
    a = sample_mlp((3, 8, 2), rng=np.random.default_rng(seed), bias_scale=1.0)
    b = sample_mlp((3, 8, 2), rng=np.random.default_rng(seed), bias_scale=1.0)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(x, y)


def test_inputs_have_identity_second_moment():
    """2e5 inputs in d = 4: entries of X^T X / n have standard error ~ 1/sqrt(2e5) ~ 2e-3."""
    for dist in ("gaussian", "sphere"):
        X = sample_inputs(200_000, 4, rng=np.random.default_rng(3), law=dist)
        np.testing.assert_allclose(X.T @ X / len(X), np.eye(4), atol=0.02)
    S = sample_inputs(10, 4, rng=np.random.default_rng(3), law="sphere")
    np.testing.assert_allclose(np.linalg.norm(S, axis=1), 2.0)


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda r: sample_mlp((3, 0, 1), rng=r), ValueError, r"widths\[1\] == 0, must be >= 1"),
        (lambda r: sample_mlp((3, -2, 1), rng=r), ValueError, r"widths\[1\] == -2"),
        (lambda r: sample_mlp((3,), rng=r), ValueError, "at least an input and an output"),
        (lambda r: sample_mlp((3, 4, 1), rng=r, law="cauchy"), ValueError, "law='cauchy'"),
        (lambda r: sample_mlp((3, 4, 1), rng=r, law="lowrank"), ValueError, "needs k"),
        (lambda r: sample_mlp((3, 4, 1), rng=r, scale=0.0), ValueError, "scale == 0.0"),
        (lambda r: sample_mlp((3, 4, 1), rng=r, scale=float("nan")), ValueError, "scale == nan"),
        (lambda r: sample_mlp((3, 4.5, 1), rng=r), TypeError, r"widths\[1\] must be an integer"),
        (lambda r: sample_mlp((3, 4, 1), rng=0), TypeError, "rng must be a numpy.random.Generator"),
        (lambda r: sample_inputs(5, 3, rng=r, law="cube"), ValueError, "law='cube'"),
        (lambda r: sample_mlp((3, 4, 1), rng=r, law="lowrank", k=1, eta=-1.0), ValueError, "eta == -1.0"),
    ],
)
def test_bad_input_names_the_parameter(rng, call, err, match):
    with pytest.raises(err, match=match):
        call(rng)
