"""Tests of otlmc.theory and otlmc.measure: regime tables, fit conventions, inequalities, calibrated rates."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from hypothesis import given, settings
from hypothesis import strategies as st

from otlmc import theory
from otlmc.theory import widths
from otlmc.barrier import evaluate_path, t_grid
from otlmc.claims import corrected_fit
from otlmc.controls import leading_correction
from otlmc.measure import two_layer_path_bound
from otlmc.theory import (
    RateLaw,
    cross_entropy_path_bound,
    deviation_rate,
    entezari_width_exponent,
    entezari_width_log10,
    finite_n_correction,
    is_clean_rate,
    relu_jensen,
    sigma_sandwich,
    tightness_exponent,
    two_layer_width_exponent,
    two_layer_width_log10,
    wasserstein_rate,
    wasserstein_upper_rate,
)
from otlmc.fit import fit_rate
from otlmc.matching import align
from otlmc.networks import permute
from otlmc.sampling import sample_inputs, sample_mlp, sample_weights
from otlmc.transport import empirical_wasserstein


# ------------------------------------------------------------------ regimes (hand values)
@pytest.mark.parametrize("d, exponent, log_power, loglog_power", [
    (1, -0.5, 0.0, 0.5),   # Gaussian: W_2^2 ~ log log n / n
    (2, -0.5, 1.0, 0.0),   # Gaussian: W_2^2 ~ (log n)^2 / n
    (3, -1 / 3, 0.0, 0.0),
    (4, -0.25, 0.0, 0.0),
    (5, -0.2, 0.0, 0.0),
    (12, -1 / 12, 0.0, 0.0),
    (20, -0.05, 0.0, 0.0),
])
def test_wasserstein_rate_gaussian_regimes(d, exponent, log_power, loglog_power):
    law = wasserstein_rate(d)
    assert (law.exponent, law.log_power, law.loglog_power) == pytest.approx((exponent, log_power, loglog_power))
    assert law.kind == "rate"


def test_wasserstein_rate_other_laws_and_orders():
    assert wasserstein_rate(1, law="uniform") == RateLaw(-0.5, regime="d = 1", note="quantile coupling")
    assert wasserstein_rate(1, p=1).loglog_power == 0.0
    u2 = wasserstein_rate(2, law="uniform")
    assert (u2.exponent, u2.log_power) == (-0.5, 0.5)  # W_2^2 ~ log n / n on a square
    assert wasserstein_rate(5, law="uniform").exponent == pytest.approx(-0.2)
    # finitely supported: W_p^p ~ sqrt(K/n), so W_2 ~ n^{-1/4} in every dimension
    for d in (1, 5, 12):
        assert wasserstein_rate(d, law="rademacher").exponent == -0.25
    assert wasserstein_rate(7, p=3).exponent == pytest.approx(-1 / 7)


def test_rates_take_the_sampling_law_names_and_refuse_the_multiscale_one():
    from otlmc.sampling import WEIGHT_LAWS

    assert theory.RATE_LAWS == tuple(w for w in WEIGHT_LAWS if w != "lowrank")
    with pytest.raises(ValueError, match="law='lowrank' has no single Wasserstein order"):
        wasserstein_rate(5, law="lowrank")
    with pytest.raises(ValueError, match="law='cauchy' is not known"):
        wasserstein_rate(5, law="cauchy")


@pytest.mark.parametrize("d, exponent, log_power", [(1, -0.25, 0.0), (3, -0.25, 0.0), (4, -0.25, 0.5),
                                                    (5, -0.2, 0.0), (8, -0.125, 0.0)])
def test_fournier_guillin_regimes_for_w2(d, exponent, log_power):
    law = wasserstein_upper_rate(d)
    assert (law.exponent, law.log_power) == pytest.approx((exponent, log_power))
    assert law.kind == "upper bound"
    # the sharp rate of a density is never slower than the worst-case bound
    assert wasserstein_rate(d).exponent <= law.exponent + 1e-12


def test_clean_range_and_finite_n_correction():
    assert [d for d in range(1, 25) if is_clean_rate(d)] == list(range(5, 13))
    assert [d for d in range(1, 25) if is_clean_rate(d, p=1)] == list(range(3, 13))
    np.testing.assert_allclose(finite_n_correction([1, 8, 1000], 3), [1.0, 0.5, 0.1], rtol=1e-12)
    assert deviation_rate(5).exponent == wasserstein_rate(5).exponent
    assert deviation_rate(5).kind == "upper bound"


def test_labels():
    assert wasserstein_rate(5).label() == "n^{-1/5}"
    assert wasserstein_rate(2).label() == r"n^{-1/2}\log n"
    assert wasserstein_rate(2, law="uniform").label() == r"n^{-1/2}(\log n)^{1/2}"
    assert wasserstein_rate(1).label() == r"n^{-1/2}(\log\log n)^{1/2}"


@pytest.mark.parametrize("d", [1, 2, 5])
def test_rate_law_matches_fit_rate_convention(d):
    """A metric that follows a law exactly is fitted to the law's exponent exactly once the
    law's log factors are handed to fit_rate the way the sims do (log log divided out first)."""
    law = wasserstein_rate(d)
    n = np.repeat([16.0, 64.0, 256.0, 1024.0], 3)
    y = 3.0 * law.shape(n) * np.tile([0.9, 1.0, 1.1], 4)
    f = fit_rate(n, y / law.loglog_factor(n), log_power=law.log_power, n_boot=50, rng=np.random.default_rng(0))
    assert f.slope == pytest.approx(law.exponent, abs=1e-10)
    assert f.verdict(law.exponent) == "inside"


# ------------------------------------------------------------------ width laws
def test_width_laws_hand_values():
    assert two_layer_width_exponent(5) == 5 and entezari_width_exponent(5) == 14
    assert two_layer_width_log10(0.01, 3, T=1.0) == pytest.approx(6.0, rel=1e-12)
    assert entezari_width_log10(0.01, 3, T=1.0) == pytest.approx(20.0, rel=1e-12)
    assert two_layer_width_log10(0.1, 4, T=0.5) == pytest.approx(widths.minimal_widths_log10(0.1, 4, 0.5, depth=1)[1])
    assert tightness_exponent(5) == -0.4
    # Entezari's law always asks for more width than the two-layer law at the same T and eps
    for m0 in (1, 5, 20):
        assert entezari_width_log10(0.1, m0, T=1.0) > two_layer_width_log10(0.1, m0, T=1.0)


def test_theory_package_exports_each_name_from_one_module():
    from otlmc.theory import inequalities, lowrank, rates

    homes = {}
    for mod in (inequalities, lowrank, rates, widths):
        for name in mod.__all__:
            assert name not in homes, f"{name} is exported by {homes.get(name)} and {mod.__name__}"
            homes[name] = mod.__name__
            assert getattr(theory, name) is getattr(mod, name)
    assert sorted(homes) == sorted(theory.__all__)


# ------------------------------------------------------------------ deterministic inequalities
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(1, 6), m=st.integers(1, 24), n_out=st.integers(1, 4),
       activation=st.sampled_from(["relu", "tanh", "identity"]), bias_scale=st.sampled_from([0.0, 0.5]),
       aligned=st.booleans())
def test_two_layer_path_bound_every_draw(seed, d, m, n_out, activation, bias_scale, aligned):
    rng = np.random.default_rng(seed)
    law = dict(activation=activation, bias_scale=bias_scale)
    net_a, net_b = sample_mlp((d, m, n_out), rng=rng, **law), sample_mlp((d, m, n_out), rng=rng, **law)
    if aligned:
        net_b, _ = align(net_a, net_b)
    X = sample_inputs(20, d, rng=rng)
    ts = t_grid(7)
    lhs, rhs = two_layer_path_bound(net_a, net_b, X, ts)  # (T, N, n_out)
    assert lhs.shape == rhs.shape == (7, 20, n_out)
    assert (lhs <= rhs + 1e-12 * (1 + rhs)).all()
    # the left side is exactly the per-output deviation evaluate_path measures
    dev = np.sqrt((lhs**2).sum(-1).mean(1))  # (T,) RMS over x of |.|_2
    np.testing.assert_allclose(dev, evaluate_path(net_a, net_b, X, ts=ts).deviation_rms, rtol=1e-9, atol=1e-13)
    # the endpoints have zero bound and zero deviation (up to the rounding of (1 - t) a + t b at t = 1)
    assert rhs[0].max() == rhs[-1].max() == 0.0
    assert max(lhs[0].max(), lhs[-1].max()) <= 1e-12 * (1 + np.abs(lhs).max() + rhs.max())


def test_two_layer_path_bound_is_zero_for_a_permuted_copy():
    rng = np.random.default_rng(0)
    net = sample_mlp((4, 12, 2), rng=rng, bias_scale=0.3)
    perm = rng.permutation(12)
    copy_back = permute(permute(net, [perm]), [np.argsort(perm)])
    lhs, rhs = two_layer_path_bound(net, copy_back, sample_inputs(10, 4, rng=rng), 0.5)
    assert lhs.shape == (10, 2) and lhs.max() < 1e-14 and rhs.max() == 0.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 30), k=st.integers(1, 8),
       t=st.floats(0.0, 1.0), scale=st.sampled_from([0.1, 1.0, 30.0]))
def test_cross_entropy_bound_every_draw(seed, n, k, t, scale):
    rng = np.random.default_rng(seed)
    Za, Zb, Zt = (scale * rng.standard_normal((n, k)) for _ in range(3))
    y = rng.integers(0, k, n)
    lhs, rhs = cross_entropy_path_bound(Zt, Za, Zb, y, t)
    assert lhs.shape == rhs.shape == (n,)
    assert (lhs <= rhs + 1e-9 * (1 + np.abs(lhs))).all()
    # at the interpolated logits the right side is 0 and convexity makes the left side <= 0
    lhs0, rhs0 = cross_entropy_path_bound((1 - t) * Za + t * Zb, Za, Zb, y, t)
    assert (rhs0 <= 1e-12 * scale).all() and (lhs0 <= 1e-9 * (1 + scale)).all()


def test_cross_entropy_against_scipy():
    from scipy.special import log_softmax

    rng = np.random.default_rng(3)
    Za, Zb, Zt = (rng.standard_normal((5, 4)) for _ in range(3))
    y = np.array([0, 3, 1, 2, 0])
    ce = lambda Z: -log_softmax(Z, axis=1)[np.arange(5), y]  # noqa: E731
    lhs, rhs = cross_entropy_path_bound(Zt, Za, Zb, y, 0.3)
    np.testing.assert_allclose(lhs, ce(Zt) - 0.7 * ce(Za) - 0.3 * ce(Zb), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rhs, np.sqrt(2) * np.linalg.norm(Zt - 0.7 * Za - 0.3 * Zb, axis=1), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 20), d=st.integers(1, 7), rank=st.integers(0, 7))
def test_sigma_sandwich_every_draw(seed, m, d, rank):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((m, d))
    G = rng.standard_normal((d, min(rank, d)))
    Sigma = G @ G.T  # PSD, singular when rank < d
    low, mid, high = sigma_sandwich(D, Sigma)
    tol = 1e-10 * max(1.0, high)
    assert low - tol <= mid <= high + tol
    assert mid == pytest.approx(np.trace(D @ Sigma @ D.T), rel=1e-10, abs=1e-12)


def test_sigma_sandwich_is_tight_on_eigenvectors():
    Sigma = np.diag([0.5, 2.0, 3.0])
    low, mid, high = sigma_sandwich(np.array([[1.0, 0.0, 0.0]]), Sigma)
    assert low == mid == 0.5 and high == 3.0
    low, mid, high = sigma_sandwich(np.array([[0.0, 0.0, 2.0]]), Sigma)
    assert mid == high == 12.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 50), alpha=st.floats(0.0, 1.0))
def test_relu_jensen_every_draw(seed, n, alpha):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    lhs, rhs = relu_jensen(a, b, alpha)
    assert (lhs <= rhs + 1e-15).all()
    same_sign = np.sign(a) == np.sign(b)
    np.testing.assert_allclose(lhs[same_sign], rhs[same_sign], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ W_2 rates against theory (5 <= d <= 12)
# Each test fits E W_2^2 with the exponent FIXED (docs/theory.md §1: E W_2 ~ n^{-1/d} for the
# Gaussian at d >= 5) plus the leading finite-n correction (the B/n term, otlmc.controls.
# leading_correction), then refits the same data with a wrong exponent f * (-1/d) and the same
# correction. Theory must (a) fit, chi2 below the p = 0.001 quantile of chi2(dof), and (b) beat every
# wrong law on the same data: delta = chi2(wrong) - chi2(theory) > 0. A band of the code's own
# slopes is not used: it would pass any law the code happened to produce.
#
# Calibration (n = 64..1024, 8 pairs per n, 12 independent draws per d, a stream independent of the
# tests' seeds; delta mean +- sd [min, max]); the theory chi2 is on dof = 3:
#   d   theory chi2          f = 0.5             f = 0.75           f = 1.25           f = 1.5
#   5   4.3 +- 2.9 [max 10.9] 49.9 +- 16.5 [31, 79] 13.3 +- 7.4 [4.3, 29] 14.1 +- 10.0 [-3.8, 30] 59.1 +- 27.4 [20, 107]
#   8   4.9 +- 5.2 [max 18.4] 87.9 +- 65.2 [31, 276] 27.3 +- 25.4 [5.5, 100] 9.0 +- 9.7 [-9.8, 23] 56.9 +- 17.3 [26, 82]
#   12  5.1 +- 2.2 [max 8.8]  94.7 +- 26.0 [64, 151] 30.4 +- 10.6 [10, 52] 6.9 +- 13.9 [-4.9, 44] 54.5 +- 39.0 [12, 157]
# So with 8 pairs the exponents -0.5/d, -0.75/d and -1.5/d are rejected on every draw; -1.25/d is
# NOT resolved at any d (negative delta on 1-3 of 12 draws) and is not asserted here. With 16 pairs
# per n (6 draws per d) -1.25/d is rejected at d = 5 (delta min 14.3) and d = 8 (min 2.0), not at
# d = 12 (min -2.8): the data there are steeper than theory + B/n. Pooled over 96 pairs per n,
# theory + B/n gives chi2 3.5/3 (d = 5), 6.4/3 (d = 8) but 26.5/3 at d = 12 (12.1/2 for n >= 128,
# 5.6/1 for n >= 256): at d = 12 a finite-n term beyond B/n is resolved -- a measured limitation of
# the correction, not something these tests hide by widening a band.
# Why a chi2 above the chi2(3) quantile can occur for a correct law (d = 8, 1 of 12 draws at 18.4):
# corrected_fit weights by the SAMPLE standard error of each mean (k - 1 = 7 dof per width), so its
# chi2 has a heavier tail than chi2(dof); an exact-model simulation gives mean 3.4 and 99.9 %
# quantile 17 (k = 8), 41 (k = 4) against 16.3 nominal. Hence 8 pairs, not 4, and a fixed seed.
# A fit is also required to be a CORRECTION: the fitted B/n term is at most half the leading term at
# n = 64 (relative size |K| 64^{-(d-2)/d}; the 12 calibration draws give 0.002-0.05 at d = 5, 0.03-0.10
# at d = 8, 0.05-0.14 at d = 12). Without it B/n can carry a wrong law: dimension-3 rows in R^8 fit
# -1/8 + B/n with chi2 13.2/3 (p = 0.004, not rejected by chi2 alone) but with B/n = 3.4x the leading term.
W2_PAIRS = 8
W2_MAX_CORRECTION = 0.5
W2_WRONG = (0.5, 0.75, 1.5)  # multiples of the theory exponent that every draw rejects (table above)


def _w2_sample(d: int, seed: int, pairs: int = W2_PAIRS, dim: int | None = None):
    """``(n, w)``: W_2 between two standard Gaussian n-samples, ``pairs`` per n = 64..1024.

    ``dim`` < ``d`` draws the law in R^dim and zero-pads it to R^d (a law of the wrong dimension).
    """
    rng = np.random.default_rng([seed, d, 31])
    dim = d if dim is None else dim
    n, w = [], []
    for m in (64, 128, 256, 512, 1024):
        for _ in range(pairs):
            A, B = np.zeros((m, d)), np.zeros((m, d))  # (m, d) each
            A[:, :dim], B[:, :dim] = sample_weights(m, dim, rng=rng), sample_weights(m, dim, rng=rng)
            w.append(empirical_wasserstein(A, B))
            n.append(m)
    return np.array(n, float), np.array(w)


def _w2_chi2(d: int, n, w, factors=W2_WRONG) -> tuple[dict, dict]:
    """Theory fit of ``w`` (exponent -1/d + leading correction) and ``{f: chi2(f * exponent) - chi2(theory)}``."""
    corr = leading_correction("gaussian", d)
    exponent = wasserstein_rate(d).exponent
    fit = corrected_fit(n, w, exponent, corr)
    return fit, {f: corrected_fit(n, w, f * exponent, corr)["chi2"] - fit["chi2"] for f in factors}


def _w2_relative_correction(fit: dict, d: int, n: float = 64.0) -> float:
    """Size of the fitted B/n term relative to the leading C n^{-2/d} at ``n`` (``K = B / C``)."""
    return abs(fit["K"]) * n ** (-(d - 2) / d)


@pytest.mark.parametrize("d", [5, 8, 12])
def test_w2_theory_exponent_fits_and_beats_wrong_exponents(d):
    assert is_clean_rate(d)
    assert wasserstein_rate(d).exponent == pytest.approx(-1 / d)
    assert leading_correction("gaussian", d).form == "inverse_n"
    fit, delta = _w2_chi2(d, *_w2_sample(d, seed=0))
    assert fit["dof"] == 3
    assert fit["chi2"] < stats.chi2.ppf(0.999, fit["dof"]), f"d={d}: theory + B/n rejected, {fit}"
    assert _w2_relative_correction(fit, d) < W2_MAX_CORRECTION, f"d={d}: B/n is not a correction, {fit}"
    for f, dchi2 in delta.items():
        assert dchi2 > 0, f"d={d}: exponent {f} * (-1/{d}) fits as well as theory (delta {dchi2:.2f})"


def test_w2_theory_fit_rejects_a_law_of_the_wrong_dimension():
    """Gaussian rows of dimension 3 zero-padded to R^8 decay like n^{-1/3}: the d = 8 theory fit
    (exponent -1/8 + B/n) must be rejected -- its B/n term is larger than the leading term (chi2 alone
    gives p = 0.004 here, see above) -- and that law's own exponent -1/3 must fit better than -1/8."""
    n, w = _w2_sample(8, seed=0, dim=3)
    fit, delta = _w2_chi2(8, n, w, factors=(8 / 3,))
    assert _w2_relative_correction(fit, 8) > W2_MAX_CORRECTION
    assert delta[8 / 3] < 0


@pytest.mark.slow
@pytest.mark.parametrize("d", [5, 8, 12])
def test_w2_paired_calibration(d):
    """Re-derives the table above over seeds 0-11: every draw fits theory better than each wrong
    exponent in W2_WRONG, and the theory chi2 exceeds its p = 0.001 quantile on at most 1 of 12
    draws (the sample-SE tail; 1 of 12 was seen at d = 8)."""
    rows = [_w2_chi2(d, *_w2_sample(d, seed)) for seed in range(12)]
    chi2 = np.array([fit["chi2"] for fit, _ in rows])
    delta = np.array([[dl[f] for f in W2_WRONG] for _, dl in rows])  # (seeds, wrong laws)
    assert (delta > 0).all(), f"d={d}: min delta per law {delta.min(axis=0)}"
    assert (chi2 > stats.chi2.ppf(0.999, 3)).sum() <= 1, f"d={d}: theory chi2 {np.round(chi2, 1)}"
    assert all(_w2_relative_correction(fit, d) < W2_MAX_CORRECTION for fit, _ in rows)
    assert np.median(chi2) < stats.chi2.ppf(0.99, 3), f"d={d}: theory chi2 {np.round(chi2, 1)}"


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, exc, match", [
    (lambda: wasserstein_rate(0), ValueError, "d == 0, must be >= 1"),
    (lambda: wasserstein_rate(2.5), TypeError, "d must be an integer"),
    (lambda: wasserstein_rate(5, p=0.5), ValueError, "p == 0.5, must be >= 1"),
    (lambda: wasserstein_rate(5, law="cauchy"), ValueError, "law='cauchy' is not known; allowed"),
    (lambda: wasserstein_rate(1, p=3), ValueError, "p == 3.0 with d == 1"),
    (lambda: wasserstein_rate(2, p=1), ValueError, "p == 1.0 with d == 2"),
    (lambda: wasserstein_upper_rate(0), ValueError, "d == 0"),
    (lambda: finite_n_correction([10], 2), ValueError, "d == 2, must be >= 3"),
    (lambda: finite_n_correction([0.5], 5), ValueError, "sample sizes must be >= 1"),
    (lambda: wasserstein_rate(1).loglog_factor([2.0]), ValueError, "n must be > e"),
    (lambda: two_layer_width_exponent(0), ValueError, "m0 == 0"),
    (lambda: entezari_width_log10(0.1, 3, T=0.05), ValueError, "eps == 0.1 must be < T == 0.05"),
    (lambda: entezari_width_log10(0.0, 3, T=1.0), ValueError, "eps == 0.0, must be > 0"),
    (lambda: two_layer_width_log10(0.1, 3, T=-1.0), ValueError, "T"),
    (lambda: tightness_exponent(0), ValueError, "d == 0"),
    (lambda: sigma_sandwich(np.ones((2, 3)), np.eye(2)), ValueError, r"Sigma has shape \(2, 2\), expected \(3, 3\)"),
    (lambda: sigma_sandwich(np.ones((2, 2)), [[1.0, 1.0], [0.0, 1.0]]), ValueError, "symmetric"),
    (lambda: sigma_sandwich(np.ones((2, 2)), -np.eye(2)), ValueError, "semi-definite"),
    (lambda: sigma_sandwich(np.ones(3), np.eye(3)), ValueError, "delta must be 2-dimensional"),
    (lambda: relu_jensen([1.0], [1.0, 2.0], 0.5), ValueError, "same shape"),
    (lambda: relu_jensen([1.0], [2.0], 1.5), ValueError, "alpha == 1.5, must be <= 1"),
    (lambda: cross_entropy_path_bound(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 4)), [0, 1], 0.5),
     ValueError, "share one shape"),
    (lambda: cross_entropy_path_bound(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), [0, 3], 0.5),
     ValueError, r"labels must lie in \[0, 3\)"),
    (lambda: cross_entropy_path_bound(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), [0.0, 1.0], 0.5),
     ValueError, "labels must be 2 integers"),
    (lambda: cross_entropy_path_bound(np.ones((2, 3)), np.ones((2, 3)), np.ones((2, 3)), [0, 1], -0.1),
     ValueError, "t == -0.1, must be >= 0"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_path_bound_bad_networks():
    rng = np.random.default_rng(0)
    deep = sample_mlp((3, 4, 4, 1), rng=rng)
    with pytest.raises(ValueError, match="needs one hidden layer, got 2"):
        two_layer_path_bound(deep, deep, np.ones((2, 3)), 0.5)
    net = sample_mlp((3, 4, 1), rng=rng)
    with pytest.raises(ValueError, match="X has 2 columns, the networks take 3 inputs"):
        two_layer_path_bound(net, net, np.ones((2, 2)), 0.5)
    with pytest.raises(ValueError, match="t == 2.0, must be <= 1"):
        two_layer_path_bound(net, net, np.ones((2, 3)), 2.0)
    with pytest.raises(ValueError, match="differ in widths"):
        two_layer_path_bound(net, sample_mlp((3, 5, 1), rng=rng), np.ones((2, 3)), 0.5)
