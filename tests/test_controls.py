"""Oracle tests for otlmc.controls: the flat-torus cost, exact W_2, the d = 1 exact mean, local slopes,
fixed-exponent and corrected fits, and the corrections per regime."""
from __future__ import annotations

import itertools
import math

import numpy as np
import ot
import pytest

import otlmc.controls as controls
from otlmc.claims import Claim, Correction, corrected_fit, evaluate
from otlmc.controls import (
    _periodic_numpy,
    fixed_exponent_fit,
    leading_correction,
    local_slopes,
    loglog_offset_fit,
    mean_ratio,
    periodic_sq_distances,
    rate_evidence,
    rate_law,
    sample_points,
    squared_correction,
    two_sample_w2sq,
    uniform_1d_w2sq_mean,
)
from otlmc.rng import cell_streams
from sims.rate_controls import SIM, Config


def brute_periodic(X, Y, period=1.0, reach=3):
    """min over the images y + period z, z in {-reach..reach}^d, of |x - y - period z|^2 (no shortcut)."""
    d = X.shape[1]
    shifts = np.array(list(itertools.product(range(-reach, reach + 1), repeat=d)), float) * period  # (S, d)
    diff = X[:, None, None, :] - Y[None, :, None, :] - shifts[None, None]  # (n, m, S, d)
    return (diff**2).sum(-1).min(-1)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_periodic_distances_equal_brute_force_over_images(rng, d):
    X, Y = rng.random((7, d)), rng.random((5, d))
    np.testing.assert_allclose(periodic_sq_distances(X, Y), brute_periodic(X, Y), rtol=1e-12, atol=1e-15)


def test_periodic_distances_any_period_and_coordinates_outside_the_cell(rng):
    X, Y = rng.uniform(-4, 4, (6, 2)), rng.uniform(-4, 4, (4, 2))
    D = periodic_sq_distances(X, Y, period=2.5)
    np.testing.assert_allclose(D, brute_periodic(X, Y, period=2.5, reach=4), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(D, _periodic_numpy(X, Y, 2.5), rtol=1e-12, atol=1e-14)
    assert D.max() <= 2 * (2.5 / 2) ** 2 + 1e-12


def test_periodic_distances_are_translation_invariant_and_not_euclidean(rng):
    X, Y = rng.random((9, 3)), rng.random((9, 3))
    shift = rng.random(3)
    np.testing.assert_allclose(periodic_sq_distances((X + shift) % 1, (Y + shift) % 1),
                               periodic_sq_distances(X, Y), atol=1e-12)
    # two points near opposite faces are close on the torus, far in the cube
    assert periodic_sq_distances([[0.01]], [[0.99]])[0, 0] == pytest.approx(0.02**2)


@pytest.mark.parametrize("periodic", [False, True])
def test_two_sample_w2sq_is_the_exact_optimum(rng, periodic):
    n = 6
    X, Y = rng.random((n, 2)), rng.random((n, 2))
    C = periodic_sq_distances(X, Y) if periodic else ((X[:, None] - Y[None]) ** 2).sum(-1)
    brute = min(C[np.arange(n), list(p)].mean() for p in itertools.permutations(range(n)))
    assert two_sample_w2sq(X, Y, periodic=periodic) == pytest.approx(brute, rel=1e-12)
    u = np.full(n, 1.0 / n)
    assert two_sample_w2sq(X, Y, periodic=periodic) == pytest.approx(ot.emd2(u, u, C), rel=1e-10)


def test_torus_w2_never_exceeds_the_cube_on_the_same_points(rng):
    for n, d in [(40, 2), (300, 5)]:  # 300: the sparse certified solver
        X, Y = rng.random((n, d)), rng.random((n, d))
        assert two_sample_w2sq(X, Y, periodic=True) <= two_sample_w2sq(X, Y) + 1e-12


def test_uniform_1d_exact_mean_small_n_and_monte_carlo(rng):
    assert uniform_1d_w2sq_mean(1) == pytest.approx(1 / 6)  # E (U - V)^2 = 2 Var U
    for n in (2, 7):  # sum of order-statistic variances, computed independently
        var = sum(i * (n + 1 - i) / ((n + 1) ** 2 * (n + 2)) for i in range(1, n + 1))
        assert uniform_1d_w2sq_mean(n) == pytest.approx(2 * var / n, rel=1e-14)
    n, reps = 5, 200_000
    w = ((np.sort(rng.random((reps, n)), 1) - np.sort(rng.random((reps, n)), 1)) ** 2).mean(1)  # (reps,)
    assert abs(w.mean() - uniform_1d_w2sq_mean(n)) < 4 * w.std() / math.sqrt(reps)


def test_mean_ratio_is_one_on_exact_data_and_has_a_t_interval():
    n = np.repeat([10.0, 100.0], 3)
    y = np.array([1, 2, 3, 10, 20, 30], float) * 1e-3
    rows = mean_ratio(n, y, lambda m: 2e-4 * m)
    assert [r["ratio"] for r in rows] == pytest.approx([1.0, 1.0])
    half = 4.302652729911275 * 1e-3 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(3), s = 1e-3
    assert rows[0]["ratio_ci_high"] - 1 == pytest.approx(half / 2e-3)


def test_local_slopes_of_a_power_law_and_their_delta_method_error():
    n = np.repeat([10.0, 20.0, 40.0], 2)
    y = 3.0 * n**-0.4 * np.tile([0.9, 1.1], 3)  # (6,) replicate spread +-10 %
    mid, s, se = local_slopes(n, y)
    np.testing.assert_allclose(mid, [np.sqrt(200), np.sqrt(800)])
    np.testing.assert_allclose(s, [-0.4, -0.4], rtol=1e-12)
    v = 0.1**2 * 2 / 1 / 2  # s^2 / (k mean^2) with s = 0.1 sqrt(2) mean, k = 2
    np.testing.assert_allclose(se, np.sqrt(2 * v) / np.log(2), rtol=1e-12)


def test_fixed_exponent_fit_is_zero_at_the_true_law_and_large_at_a_wrong_one(rng):
    n = np.repeat([64.0, 128, 256, 512, 1024], 8)
    y = 2.0 * n**-0.2 * np.log(n) ** 0.5 * (1 + 0.01 * rng.standard_normal(n.size))
    good = fixed_exponent_fit(n, y, -0.2, log_power=0.5)
    assert good["dof"] == 4 and good["C"] == pytest.approx(2.0, rel=0.02) and good["p"] > 1e-3
    assert fixed_exponent_fit(n, y, -0.25, log_power=0.5)["p"] < 1e-6


def test_cube_boundary_correction_is_recovered_and_its_square_form(rng):
    d, C, K = 5, 0.5, 1.3
    n = np.repeat([64.0, 128, 256, 512, 1024, 2048], 12)
    y = C * n ** (-1 / d) * (1 + K * n ** (-1 / d)) * (1 + 0.005 * rng.standard_normal(n.size))
    ev = rate_evidence(n, y, exponent=-1 / d, correction=leading_correction("cube", d))
    assert ev["free_slope"] < -1 / d - 0.02  # the boundary term steepens the free fit
    assert ev["p_theory"] < 1e-6 and ev["p_corrected"] > 1e-3
    assert ev["K"] == pytest.approx(K, rel=0.1)


def test_inverse_n_and_its_squared_form_describe_the_same_law(rng):
    d, C, B = 8, 1.0, 3.0
    n = np.repeat([64.0, 128, 256, 512, 1024, 2048], 10)
    w2sq = (C * n ** (-2 / d) + B / n) * np.exp(0.01 * rng.standard_normal(n.size))
    corr = leading_correction("gaussian", d)
    assert corr.form == "inverse_n"
    a = corrected_fit(n, np.sqrt(w2sq), -1 / d, corr)
    b = corrected_fit(n, w2sq, -2 / d, squared_correction(corr, d))
    assert squared_correction(corr, d).q == pytest.approx(0.75)
    assert a["K"] == pytest.approx(B / C, rel=0.1) and b["K"] == pytest.approx(B / C, rel=0.1)
    assert a["p"] > 1e-3 and b["p"] > 1e-3


def test_corrections_per_regime():
    assert leading_correction("torus", 1) is None
    assert all(leading_correction(law, 2).form == "log_power" for law in ("torus", "cube", "gaussian"))
    assert all(leading_correction(law, 3).q == pytest.approx(1 / 3) for law in ("torus", "cube", "gaussian"))
    assert leading_correction("cube", 8).q == pytest.approx(1 / 8)
    assert leading_correction("torus", 5).form == leading_correction("gaussian", 12).form == "inverse_n"
    assert rate_law("torus", 2).log_power == 0.5 and rate_law("gaussian", 2).log_power == 1.0
    assert rate_law("cube", 5).exponent == pytest.approx(-0.2)


@pytest.mark.parametrize("form", ["log_power", "inverse_n"])
def test_a_verdict_after_a_correction_without_q_is_written(rng, form):
    """claims.describe formatted q for every form: a fitting log_power / inverse_n correction crashed."""
    n = np.repeat([64.0, 128, 256, 512, 1024, 2048], 16)
    mean = n**-0.5 * np.log(n) ** 0.7 if form == "log_power" else np.sqrt(n**-0.25 + 20 / n)
    y = mean * (1 + 0.002 * rng.standard_normal(n.size))
    rows = [{"width": a, "w": b} for a, b in zip(n, y)]
    theory = -0.5 if form == "log_power" else -0.125
    v = evaluate(Claim("c", "rate", "s", "src", "w", theory=theory, log_power=1.0 if form == "log_power" else 0.0,
                       corrections=[Correction(form)]), rows, sim="t")[0]
    assert v.verdict == "consistent after correction"
    assert ("fitted log power" if form == "log_power" else "B/n term") in v.detail


def test_sample_points_laws_and_bad_input():
    g = sample_points("gaussian", 5000, 2, rng=np.random.default_rng(0))
    u = sample_points("torus", 5000, 2, rng=np.random.default_rng(0))
    assert g.shape == u.shape == (5000, 2) and g.min() < 0 and 0 <= u.min() and u.max() < 1
    with pytest.raises(ValueError, match="law"):
        sample_points("sphere", 3, 2, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        sample_points("cube", 3, 2, rng=0)
    with pytest.raises(ValueError, match="period"):
        periodic_sq_distances([[0.1]], [[0.2]], period=0.0)
    with pytest.raises(ValueError, match="dimension"):
        periodic_sq_distances([[0.1, 0.2]], [[0.2]])
    with pytest.raises(ValueError, match="number of points"):
        two_sample_w2sq(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(TypeError, match="periodic"):
        two_sample_w2sq(np.zeros((3, 2)), np.zeros((3, 2)), periodic="yes")
    with pytest.raises(ValueError, match="two replicates"):
        fixed_exponent_fit([1.0, 2.0], [1.0, 2.0], -1.0)


def test_sim_cell_pairs_torus_and_cube_on_the_same_points():
    streams = cell_streams({"t": 1}, 0, SIM.streams)
    row = SIM.cell(Config(), {"d": 3, "width": 50}, streams)
    assert row["w2_torus"] <= row["w2_cube"]
    assert row["w2sq_gaussian"] == pytest.approx(row["w2_gaussian"] ** 2)
    again = cell_streams({"t": 1}, 0, SIM.streams)
    a, b = again["sample_a"], again["sample_b"]
    X, Y = a.random((50, 3)), b.random((50, 3))
    assert row["w2sq_torus"] == pytest.approx(two_sample_w2sq(X, Y, periodic=True), rel=1e-12)


def test_loglog_offset_fit_recovers_the_law_and_its_errors(rng):
    n = np.repeat([100.0, 1e3, 1e4, 1e5, 1e6], 4)
    y = (1.2 * np.log(np.log(n)) + 4.0) / n * np.tile([0.9, 1.1, 0.95, 1.05], 5)
    f = loglog_offset_fit(n, y)
    assert f["A"] == pytest.approx(1.2, rel=1e-10) and f["B"] == pytest.approx(4.0, rel=1e-10)
    assert f["chi2"] == pytest.approx(0.0, abs=1e-16) and f["dof"] == 3
    # errors against the closed form of a weighted two-parameter fit
    ll, w = np.log(np.log(np.unique(n))), 1 / ((1.2 * np.log(np.log(np.unique(n))) + 4.0) * 0.09128709291752772 / 2) ** 2
    det = w.sum() * (w * ll**2).sum() - (w * ll).sum() ** 2
    assert f["se_A"] == pytest.approx(math.sqrt(w.sum() / det), rel=1e-5)
    with pytest.raises(ValueError, match="three widths"):
        loglog_offset_fit([100.0, 100.0, 1000.0, 1000.0], [1.0, 2.0, 1.0, 2.0])


def test_wide_euclidean_samples_run_matrix_free_and_periodic_ones_are_refused(monkeypatch):
    """Above the dense limit the Euclidean W_2^2 comes from the matrix-free solver (the same
    value as the dense assignment) and the periodic one is refused with its limit named."""
    rng = np.random.default_rng(4)
    X, Y = rng.random((300, 2)), rng.random((300, 2))  # (300, 2) each
    dense = two_sample_w2sq(X, Y)
    monkeypatch.setattr(controls, "DENSE_MAX_WIDTH", 100)
    wide = two_sample_w2sq(X, Y)
    assert wide == pytest.approx(dense, rel=1e-12)
    with pytest.raises(ValueError, match="n = 300 points: with periodic=True, n <= 100"):
        two_sample_w2sq(X, Y, periodic=True)
