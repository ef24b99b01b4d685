"""Approximately low-dimensional rows (Assumption 8): spectrum, Weed-Bach crossover, rates, the sim."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otlmc import theory
from otlmc.claims import VERDICTS, evaluate_all
from otlmc.crossover import crossovers
from otlmc.declare import quick_config
from otlmc.fit import fit_rate
from otlmc.runner import run
from otlmc.sampling import lowrank_spectrum, sample_weights
from otlmc.sweep import make_cells, run_cells
from otlmc.transport import match_rows
from sims import lowrank as lr


# ------------------------------------------------------------------ participation ratio
@pytest.mark.parametrize("spectrum, want", [
    ([1.0], 1.0), ([2.0, 2.0, 2.0], 3.0), ([5.0, 0.0, 0.0, 0.0], 1.0), ([1.0, 1.0, 0.0], 2.0),
    ([3.0, 1.0], 16.0 / 10.0), ([1.0, 2.0, 3.0, 4.0], 100.0 / 30.0),
])
def test_participation_ratio_known_spectra(spectrum, want):
    assert theory.participation_ratio(spectrum) == pytest.approx(want, rel=1e-14)


@settings(max_examples=80, deadline=None)
@given(d=st.integers(1, 60), k=st.integers(1, 60), eta=st.floats(0.0, 50.0))
def test_lowrank_participation_ratio_closed_form(d, k, eta):
    k = min(k, d)
    pr = theory.lowrank_participation_ratio(d, k, eta)
    assert pr == pytest.approx(theory.participation_ratio(lowrank_spectrum(d, k, eta)), rel=1e-12)
    assert 1.0 - 1e-12 <= pr <= d + 1e-9
    # std convention: small eigenvalues eta^2 / k
    assert theory.lowrank_participation_ratio(d, k, eta, convention="std") == pytest.approx(
        theory.participation_ratio(lowrank_spectrum(d, k, eta**2)), rel=1e-12)


def test_participation_ratio_limits():
    assert theory.lowrank_participation_ratio(20, 3, 0.0) == 3.0  # exactly rank k
    assert theory.lowrank_participation_ratio(20, 3, 1.0) == pytest.approx(20.0)  # isotropic
    assert theory.lowrank_participation_ratio(20, 3, 1e-8) == pytest.approx(3.0, rel=1e-6)


def test_validation_messages():
    with pytest.raises(ValueError, match="spectrum contains -1"):
        theory.participation_ratio([1.0, -1.0])
    with pytest.raises(ValueError, match="all zeros"):
        theory.participation_ratio([0.0, 0.0])
    with pytest.raises(ValueError, match="k == 6, must be <= d == 5"):
        theory.lowrank_thickness(5, 6, 0.1)
    with pytest.raises(ValueError, match="eta == -0.1"):
        theory.lowrank_thickness(5, 2, -0.1)
    with pytest.raises(ValueError, match="convention='sd'"):
        theory.lowrank_crossover_width(5, 2, 0.1, prefactor=1.0, convention="sd")
    with pytest.raises(ValueError, match="prefactor == 0.0"):
        theory.lowrank_crossover_width(5, 2, 0.1, prefactor=0.0)
    with pytest.raises(TypeError, match="k must be an integer"):
        theory.lowrank_thickness(5, 2.5, 0.1)


# ------------------------------------------------------------------ crossover formulas
@settings(max_examples=60, deadline=None)
@given(d=st.integers(2, 30), k=st.integers(1, 29), eta=st.floats(1e-4, 1.0), a=st.floats(0.1, 10.0))
def test_crossover_formula_and_scaling(d, k, eta, a):
    k = min(k, d - 1)
    n_star = theory.lowrank_crossover_width(d, k, eta, prefactor=a)
    delta = theory.lowrank_thickness(d, k, eta)
    assert delta == pytest.approx(np.sqrt(2 * eta * (d - k) / k), rel=1e-12)
    assert a * n_star ** (-1.0 / k) == pytest.approx(delta, rel=1e-9)  # the k-term meets the floor
    # n* ∝ eta^{-k/2} (variance convention); the std convention is the variance one at eta^2
    ratio = theory.lowrank_crossover_width(d, k, eta / 4, prefactor=a) / n_star
    assert np.log(ratio) / np.log(1 / 4) == pytest.approx(theory.lowrank_crossover_eta_exponent(k), rel=1e-9)
    assert theory.lowrank_crossover_width(d, k, np.sqrt(eta), prefactor=a, convention="std") == pytest.approx(n_star, rel=1e-9)
    assert theory.lowrank_crossover_eta_exponent(k, convention="std") == -k


def test_multiscale_model_is_continuous_with_both_slopes():
    d, k, eta, a = 10, 3, 0.01, 2.3
    n_star = theory.lowrank_crossover_width(d, k, eta, prefactor=a)
    n = np.array([n_star / 8, n_star / 2, n_star * (1 - 1e-12), n_star * (1 + 1e-12), n_star * 2, n_star * 8])
    w = theory.multiscale_w2(n, d, k, eta, prefactor=a)
    assert w[2] == pytest.approx(w[3], rel=1e-9)
    assert np.log(w[1] / w[0]) / np.log(4) == pytest.approx(-1 / k)
    assert np.log(w[5] / w[4]) / np.log(4) == pytest.approx(-1 / d)
    np.testing.assert_array_equal(theory.multiscale_exponent(n, d, k, eta, prefactor=a), [-1 / k] * 3 + [-1 / d] * 3)
    assert theory.lowrank_crossover_width(d, k, 0.0, prefactor=a) == np.inf
    np.testing.assert_allclose(theory.multiscale_w2(n, d, k, 0.0, prefactor=a), a * n ** (-1 / k), rtol=1e-12)


# ------------------------------------------------------------------ sandwich and thickness
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), d=st.integers(2, 8), k=st.integers(1, 7), eta=st.floats(0.0, 2.0),
       seed=st.integers(0, 2**32 - 1))
def test_sandwich_every_draw(n, d, k, eta, seed):
    # W_2(large) <= W_2(rows) <= sqrt(W_2^2(large) + small cost under the large matching):
    # projection is 1-Lipschitz, and the large matching is one candidate permutation.
    k = min(k, d - 1)
    rng = np.random.default_rng(seed)
    A = sample_weights(n, d, rng=rng, law="lowrank", k=k, eta=eta)
    B = sample_weights(n, d, rng=rng, law="lowrank", k=k, eta=eta)
    p = match_rows(A, B)
    full = np.sum((A - B[p]) ** 2, 1).mean()
    q = match_rows(A[:, :k], B[:, :k])
    large = np.sum((A[:, :k] - B[q, :k]) ** 2, 1).mean()
    upper = large + np.sum((A[:, k:] - B[q, k:]) ** 2, 1).mean()
    assert large <= full * (1 + 1e-9) + 1e-12
    assert full <= upper * (1 + 1e-9) + 1e-12


def test_thickness_is_the_mean_small_cost(rng):
    # Under a permutation independent of the small components, (1/n) sum |v_i - v'_pi(i)|^2 has
    # mean delta^2 exactly; with n = 4000 rows and d - k = 7 its relative sd is
    # sqrt(2 / (7 * 4000)) = 0.85%, so 5% is ~6 sd. Seeds 0-99: sd 0.88%, largest gap 2.1%.
    d, k, eta, n = 10, 3, 0.05, 4000
    A = sample_weights(n, d, rng=rng, law="lowrank", k=k, eta=eta)
    B = sample_weights(n, d, rng=rng, law="lowrank", k=k, eta=eta)
    pi = rng.permutation(n)
    small = np.sum((A[:, k:] - B[pi, k:]) ** 2, 1).mean()
    assert small == pytest.approx(theory.lowrank_thickness(d, k, eta) ** 2, rel=0.05)


# ------------------------------------------------------------------ rates and crossover (statistical)
def _rows(cfg, seed):
    grid = {"k": list(cfg.ks), "eta": list(cfg.etas), "width": list(cfg.widths)}
    return run_cells(lambda p, s: lr.cell(cfg, p, s), make_cells(grid, cfg.replicates), sim=lr.SIM.name,
                     root_seed=seed)


SMALL = dict(widths=(16, 32, 64, 128, 256, 512), replicates=4, n_eval=20, t_points=2, fit_min_width=32, n_boot=10)


def test_pure_rank_k_rate():
    # eta = 0, k = 5 (the clean W_2 regime k >= 5), widths 64..1024, 4 pairs each, root seed 0.
    # Calibrated over root seeds 0-99 with this exact code: fitted slope mean -0.1958,
    # sd 0.0063, range [-0.2162, -0.1805]. Band +-0.035 around -1/5 is 1.8x the largest observed
    # deviation (0.0195) and ~5 sd; k = 4 (-1/4) or the ambient d = 10 (-1/10) lie far outside.
    cfg = replace(lr.Config(), ks=(5,), etas=(0.0,), widths=(64, 128, 256, 512, 1024), replicates=4,
                  n_eval=20, t_points=2, fit_min_width=64, n_boot=10)
    rows = _rows(cfg, 0)
    for r in rows:  # eta = 0: the small components are exactly zero
        assert r["w2_layer1"] == pytest.approx(r["w2_large"], rel=1e-9)
    f = fit_rate(np.array([r["width"] for r in rows], float), np.array([r["w2_layer1"] for r in rows]), n_boot=0)
    assert abs(f.slope - (-1 / 5)) <= 0.035, f.slope


@pytest.mark.parametrize("k, eta, lo, hi", [
    # Calibrated over root seeds 0-99 (this exact code, widths 16..512, 4 pairs): measured / predicted
    # crossover width k=4, eta=0.1 (predicted n* ~ 106): min 0.65, median 1.63, max 2.25;
    # k=5, eta=0.3 (predicted n* ~ 34): min 0.86, median 1.99, max 3.25, and in 1 seed of 100 the
    # crossing fell outside the widths (flag != "inside"). The ratio sits above 1 for a reason: a
    # matching that starts to use the small directions makes their share of W_2^2 smaller than
    # delta^2, which moves the measured crossing later, and an error c in delta moves n* by c^k,
    # so the spread grows with k. Asserted bands: [1/3, 3] for k = 4 and [1/3, 4.5] for k = 5
    # (1.3-1.4x the largest observed ratio).
    (4, 0.1, 1 / 3, 3.0),
    (5, 0.3, 1 / 3, 4.5),
])
def test_crossover_lands_near_prediction(k, eta, lo, hi):
    cfg = replace(lr.Config(), ks=(k,), etas=(0.0, eta), **SMALL)
    cross = crossovers(_rows(cfg, 0), d=cfg.d, ks=cfg.ks, etas=cfg.etas, n_min=lr.n_min(cfg))
    assert len(cross) == 1
    c = cross[0]
    assert c["measured_flag"] == "inside", c
    assert lo <= c["ratio_measured_predicted"] <= hi, c


# ------------------------------------------------------------------ the sim
def test_quick_table_claims_and_derived_tables():
    cfg = quick_config(lr.Config)
    rows = _rows(cfg, 0)
    assert len(rows) == len(cfg.ks) * len(cfg.etas) * len(cfg.widths) * cfg.replicates
    assert all(r["sandwich_ok"] == 1 for r in rows)
    verdicts = evaluate_all(lr.claims(cfg), rows, sim="lowrank")
    assert {v.verdict for v in verdicts} <= set(VERDICTS)
    for v in verdicts:
        if v.kind == "rate" and v.value is not None:
            assert (v.verdict == "consistent") == (v.ci_low <= v.theory <= v.ci_high)
        if v.kind in ("rate", "upper_bound"):  # judged at eta = 0 only, against -1/k
            assert (v.value is None) == (not v.setting.endswith("eta=0.0"))
    extra = lr.tables(rows, cfg)
    inside = [c for c in extra["crossover"] if c["measured_flag"] == "inside"]
    cross = [v for v in verdicts if v.claim == "crossover_width"]
    assert [(v.value, v.theory) for v in cross] == [(c["n_star_measured"], c["n_star_predicted"]) for c in inside]
    lower = [v for v in verdicts if v.claim == "sandwich_lower"]
    assert [v.verdict for v in lower] == ["not applicable", "consistent"]  # eta = 0: equal by construction


def test_same_seed_same_table_any_order():
    cfg = quick_config(lr.Config)
    grid = {"k": [3], "eta": [0.0, 0.1], "width": [8, 16]}

    def table(seed, order=slice(None)):
        rows = run_cells(lambda p, s: lr.cell(cfg, p, s), make_cells(grid, cfg.replicates)[order], sim=lr.SIM.name,
                         root_seed=seed)
        rows = sorted(rows, key=lambda r: tuple(str(r[k]) for k in (*grid, "replicate")))
        return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]

    base = table(5)
    assert table(5, slice(None, None, -1)) == base
    assert table(6) != base


@pytest.mark.parametrize("argv, match", [
    (["--replicates", "1"], "--replicates == 1"),
    (["--etas", "0.1"], "must include 0"),
    (["--ks", "10"], "--ks must lie in [1, d - 1]"),
    (["--widths", "16", "32"], "at least three widths"),
])
def test_bad_values_name_the_flag(tmp_path, capsys, argv, match):
    assert run(lr.SIM, ["--quick", "--out", str(tmp_path), "--no-progress", *argv]) == 2
    assert match in capsys.readouterr().err
