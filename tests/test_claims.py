"""The claims engine: each kind judged against hand-made tables whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from otlmc.claims import Claim, Correction, corrected_fit, evaluate, evaluate_all, sign_test
from otlmc.fit import fit_rate
from otlmc.rng import analysis_rng

WIDTHS = (64, 128, 256, 512, 1024, 2048)


def _rows(law, *, reps=8, noise=0.02, seed=0, **extra):
    """Rows of a metric ``y = law(n) * exp(noise Z)`` with ``reps`` replicates per width."""
    rng = np.random.default_rng(seed)
    return [{"width": n, "replicate": r, "y": float(law(n) * np.exp(noise * rng.standard_normal())), **extra}
            for n in WIDTHS for r in range(reps)]


def _one(claim, rows, **kw):
    (v,) = evaluate(claim, rows, sim="t", **kw)
    return v


def test_rate_consistent_and_inconsistent_sides():
    rows = _rows(lambda n: n**-0.2)
    c = lambda th: Claim("r", "rate", "s", "src", "y", theory=th)  # noqa: E731
    assert _one(c(-0.2), rows).verdict == "consistent"
    steep = _one(c(-0.1), rows)
    assert steep.verdict == "inconsistent" and "steeper" in steep.detail
    assert "shallower" in _one(c(-0.3), rows).detail


def test_rate_uses_fit_rate_with_the_named_analysis_stream():
    rows = _rows(lambda n: n**-0.2)
    v = _one(Claim("r", "rate", "s", "src", "y", theory=-0.2), rows, root_seed=7)
    n, y = np.array([r["width"] for r in rows], float), np.array([r["y"] for r in rows])
    f = fit_rate(n, y, n_boot=2000, rng=analysis_rng(7, "t/r/all"))
    assert (v.value, v.ci_low, v.ci_high) == (f.slope, f.ci_low, f.ci_high)
    assert _one(Claim("r", "rate", "s", "src", "y", theory=-0.2), rows, root_seed=7) == v  # reproducible


def test_correction_rescues_a_rate_only_when_it_fits():
    # E y = n^-0.2 (1 + 3 n^-0.2): the free slope is steeper than -0.2; the boundary-type term fits.
    # Calibration (16 replicates, noise 0.02, seeds 0-99): the right correction is rejected
    # (p < 0.05) in 3/100 datasets (the chi-square test's nominal 5%), the wrong one (q = 1) in 100/100.
    law = lambda n: n**-0.2 * (1 + 3 * n**-0.2)  # noqa: E731
    rows = _rows(law, reps=16)
    corr = Correction("relative_power", q=0.2)
    v = _one(Claim("r", "rate", "s", "src", "y", theory=-0.2, corrections=(corr,)), rows)
    assert v.verdict == "consistent after correction", v.detail
    res = corrected_fit([r["width"] for r in rows], [r["y"] for r in rows], -0.2, corr)
    assert res["K"] == pytest.approx(3.0, rel=0.1) and res["p"] > 0.05
    # a wrong correction (q = 1) cannot absorb an n^-0.2 term: stays inconsistent
    wrong = _one(Claim("r", "rate", "s", "src", "y", theory=-0.2,
                       corrections=(Correction("relative_power", q=1.0),)), rows)
    assert wrong.verdict == "inconsistent"


def test_upper_bound_allows_faster_decay_but_not_slower():
    rows = _rows(lambda n: n**-0.5)
    assert _one(Claim("u", "upper_bound", "s", "src", "y", theory=-0.2), rows).verdict == "consistent"
    assert _one(Claim("u", "upper_bound", "s", "src", "y", theory=-0.8), rows).verdict == "inconsistent"


def test_lower_bound_reads_the_tail_constant():
    # steeper than the bound at finite n but tending to C n^-0.2: consistent after the correction
    rows = _rows(lambda n: n**-0.2 * (1 + 20 / n), reps=16)
    plain = _one(Claim("l", "lower_bound", "s", "src", "y", theory=-0.2), rows)
    assert plain.verdict == "inconsistent" and "tail constant falls" in plain.detail
    corr = _one(Claim("l", "lower_bound", "s", "src", "y", theory=-0.2,
                      corrections=(Correction("relative_power", q=1.0),)), rows)
    assert corr.verdict == "consistent after correction"
    # a quantity that decays faster than the bound for ever (n^-0.5) is a contradiction
    assert _one(Claim("l", "lower_bound", "s", "src", "y", theory=-0.2,
                      corrections=(Correction("relative_power", q=1.0),)), _rows(lambda n: n**-0.5)).verdict \
        == "inconsistent"
    assert _one(Claim("l", "lower_bound", "s", "src", "y", theory=-0.2), _rows(lambda n: n**-0.2)).verdict \
        == "consistent"


def test_inequality_counts_rows_and_says_how_it_holds():
    rows = [{"width": 1, "a": 1.0, "b": 2.0}, {"width": 2, "a": 3.0, "b": 2.0}]
    v = _one(Claim("i", "inequality", "s", "src", "a", bound="b"), rows)
    assert v.verdict == "inconsistent" and "held in 1/2 rows (independent check)" in v.detail
    ok = _one(Claim("i", "inequality", "s", "src", "a", bound="b", construction=True), rows[:1])
    assert ok.verdict == "consistent" and "holds by construction" in ok.detail
    tie = [{"width": 1, "a": 1.0 + 1e-15, "b": 1.0}]
    assert _one(Claim("i", "inequality", "s", "src", "a", bound="b"), tie).verdict == "inconsistent"
    assert _one(Claim("i", "inequality", "s", "src", "a", bound="b", rtol=1e-12), tie).verdict == "consistent"


@pytest.mark.parametrize("k, m", [(8, 8), (7, 8), (1, 9), (5, 10), (0, 6)])
def test_sign_test_is_scipys_binomial_test(k, m):
    diff = np.r_[-np.ones(k), np.ones(m - k), np.zeros(3)]  # ties do not count
    got = sign_test(diff)
    assert got[:2] == (k, m) and got[2] == pytest.approx(stats.binomtest(k, m, 0.5).pvalue)


def test_ordering_per_setting_with_untrained_rows_excluded():
    rows = [{"lr": lr, "a": 1.0 + (lr == 2) * 5, "b": 2.0, "trained": lr != 3} for lr in (1, 2, 3) for _ in range(8)]
    c = Claim("o", "ordering", "a < b", "src", "a", other="b", by=("lr",), keep=lambda r: r["trained"],
              keep_why="endpoints not trained")
    v1, v2, v3 = evaluate(c, rows, sim="t")
    assert (v1.verdict, v2.verdict, v3.verdict) == ("consistent", "inconsistent", "no verdict")
    assert "8/8" in v1.detail and "all 8 rows excluded: endpoints not trained" in v3.detail
    few = evaluate(c, rows[:2], sim="t")[0]
    assert few.verdict == "no verdict" and "too few pairs" in few.detail


def test_crossover_ratio_tolerance_and_not_applicable_settings():
    c = Claim("x", "crossover", "s", "src", "n_star", factor=2.0,
              measure=lambda rows: [({"k": 3}, 300.0, 100.0), ({"k": 4}, 150.0, 100.0)])
    v3, v4 = evaluate(c, [], sim="t")
    assert (v3.verdict, v4.verdict) == ("inconsistent", "consistent")
    na = Claim("r", "rate", "s", "src", "y", theory=-0.2, by=("d",), where=lambda s: "d < 5" if s["d"] < 5 else None)
    rows = _rows(lambda n: n**-0.2, d=3) + _rows(lambda n: n**-0.2, d=5)
    a, b = evaluate(na, rows, sim="t")
    assert (a.verdict, a.detail, b.verdict) == ("not applicable", "d < 5", "consistent")


def test_claim_declarations_are_checked():
    with pytest.raises(ValueError, match="kind"):
        Claim("x", "guess", "s", "src", "y")
    with pytest.raises(ValueError, match="needs bound="):
        Claim("x", "inequality", "s", "src", "y")
    with pytest.raises(ValueError, match="unique"):
        evaluate_all([Claim("x", "rate", "s", "src", "y", theory=0.0)] * 2, _rows(lambda n: 1.0), sim="t")
