"""sims.report: bootstrap CI against an enumerated oracle, verdicts, and the page of a real run."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from otlmc.fit import fit_power_law
from otlmc.runner import run
from otlmc.sweep import read_csv, write_csv
from sims import report, width_scaling


def _slope(m_small, m_large, n_small=10.0, n_large=100.0):
    return (np.log(m_large) - np.log(m_small)) / (np.log(n_large) - np.log(n_small))


def test_bootstrap_ci_matches_enumerated_distribution():
    # Two widths, two replicates each. The bootstrap means at width 10 are 1 (p=1/4), 1.5 (1/2),
    # 2 (1/4); at width 100 0.5, 0.375, 0.25 likewise. The extreme slopes each have probability
    # 1/16 = 6.25% > 2.5%, so the 95% percentile interval is exactly [slope(2, .25), slope(1, .5)]
    # (with 4000 resamples each extreme is drawn ~250 +- 15 times, never near the 100 needed).
    n = [10, 10, 100, 100]
    y = [1.0, 2.0, 0.5, 0.25]
    slope, lo, hi = report.bootstrap_slope(n, y, n_boot=4000, rng=np.random.default_rng(0))
    assert slope == pytest.approx(fit_power_law(np.array(n, float), np.array(y)).slope, abs=1e-12)
    assert lo == pytest.approx(_slope(2.0, 0.25), abs=1e-12)
    assert hi == pytest.approx(_slope(1.0, 0.5), abs=1e-12)


def test_bootstrap_input_checks():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        report.bootstrap_slope([1, 2], [1, 1], rng=0)
    with pytest.raises(ValueError, match="n_boot == 5"):
        report.bootstrap_slope([1, 2], [1, 1], n_boot=5, rng=np.random.default_rng(0))


@pytest.mark.parametrize("theory, verdict", [(-0.5, "consistent"), (-0.3, "steeper than theory"),
                                             (-0.7, "shallower than theory"), (None, "no theory stated")])
def test_verdicts(theory, verdict):
    f = report.FitLine("s", "width", "y", "y", -0.5, -0.6, -0.4, 16, 4, theory)
    assert f.verdict == verdict


def test_report_of_synthetic_run_without_theory_hook(tmp_path):
    """An exact power law with identical replicates: slope and CI are exactly -1/2."""
    rows = [{"cell_id": f"{w}-{r}", "root_seed": 0, "width": w, "replicate": r, "y": 3.0 * w**-0.5,
             "label": "a", "cell_seconds": 0.1} for w in (16, 64, 256) for r in range(3)]
    write_csv(rows, tmp_path / "synthetic.csv")
    meta = {"sim": "synthetic", "config": {}, "grid": {"width": [16, 64, 256]}, "root_seed": 0,
            "git": {"revision": "abc123", "dirty": True}, "wall_seconds": 1.5}
    (tmp_path / "synthetic.json").write_text(json.dumps(meta))
    md_path, html_path = report.build([tmp_path], tmp_path / "rep", n_boot=200)
    md = md_path.read_text()
    assert re.search(r"\| y \(`y` vs `width`\) \| -0\.500 \| \[-0\.500, -0\.500\] \| — \| no theory stated \|", md)
    assert "abc123 (tree had uncommitted changes)" in md
    assert "cell_seconds" not in md.split("| provenance")[0]  # timings are not a metric
    assert "<td>-0.500</td>" in html_path.read_text()
    with pytest.raises(FileNotFoundError, match="no run"):
        report.build([tmp_path / "rep"], tmp_path / "rep2")


def test_report_of_width_scaling_runs(tmp_path):
    a = tmp_path / "a"
    assert run(width_scaling.SIM, ["--quick", "--out", str(a), "--no-progress"]) == 0
    # the same run directory twice stands for several directories on one page
    assert report.main([str(a), str(a), "--out", str(tmp_path / "r"), "--n-boot", "200"]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    page = (tmp_path / "r" / "report.html").read_text()
    assert md.count("## width_scaling") == 2 and "../a/width_scaling.png" in md
    assert 'src="../a/width_scaling.png"' in page
    rows = read_csv(a / "width_scaling.csv")
    fit = fit_power_law(np.array([r["width"] for r in rows], float), np.array([r["w2_layer1"] for r in rows]),
                        n_min=16)
    line = next(ln for ln in md.splitlines() if "`w2_layer1`" in ln)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == f"{fit.slope:+.3f}" and cells[3] == "-0.200"
    lo, hi = (float(v) for v in cells[2].strip("[]").split(","))
    assert lo <= fit.slope <= hi
    assert cells[4] == ("consistent" if lo <= -0.2 <= hi else "steeper than theory" if hi < -0.2
                        else "shallower than theory")
    meta = json.loads((a / "width_scaling.json").read_text())
    assert meta["git"]["revision"] in md


@pytest.mark.slow
def test_bootstrap_ci_coverage_on_exact_power_law():
    """Coverage of the 95% percentile-bootstrap CI of the slope, 5 widths x 8 replicates.

    y = 2 n^-0.2 exp(0.1 Z): E[y] is exactly proportional to n^-0.2, so the true slope is -0.2.
    Over seeds 0-199 the CI covered -0.2 in 185/200 = 0.925 (the percentile bootstrap with 8
    replicates undercovers slightly); the binomial sd at 0.95 is 0.015, so the band [0.88, 0.99]
    fails only for a real defect (a CI that is far too narrow or that never excludes anything).
    """
    ws = np.repeat([64, 128, 256, 512, 1024], 8).astype(float)  # (40,)
    hits = 0
    for s in range(200):
        y = 2.0 * ws**-0.2 * np.exp(0.1 * np.random.default_rng(s).standard_normal(ws.size))  # (40,)
        _, lo, hi = report.bootstrap_slope(ws, y, n_boot=400, rng=np.random.default_rng(1000 + s))
        hits += lo <= -0.2 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_fits_are_per_setting_of_the_other_grid_axes():
    """Rows of two dimensions must not be pooled: each gets its own line and its own theory slope."""
    rng = np.random.default_rng(0)
    rows = []
    for d, slope in ((3, -1 / 3), (12, -1 / 12)):
        for n in (64, 128, 256, 512):
            for rep in range(6):
                rows.append({"d": d, "width": n, "replicate": rep,
                             "w2_layer1": n**slope * np.exp(0.01 * rng.normal())})
    meta = {"sim": "dimension_scaling", "grid": {"d": [3, 12], "width": [64, 128, 256, 512]},
            "config": {}, "config_class": "sims.dimension_scaling:Config"}
    entries = [dict(x="width", y="w2_layer1", slope=lambda g: -1.0 / g["d"], n_min=None, label="W2")]
    from unittest import mock

    with mock.patch.object(report, "_theory", return_value=entries):
        fits = report.fits_for_run(meta, rows, n_boot=200, rng=np.random.default_rng(1))
    assert [f.label for f in fits] == ["W2 (d=3)", "W2 (d=12)"]
    assert [f.theory for f in fits] == [-1 / 3, -1 / 12]
    assert fits[0].slope == pytest.approx(-1 / 3, abs=0.02) and fits[1].slope == pytest.approx(-1 / 12, abs=0.02)


def test_claims_of_dimension_scaling_per_d():
    from sims import dimension_scaling

    claims = {c.metric: c for c in dimension_scaling.claims(dimension_scaling.Config()) if c.kind != "inequality"}
    assert claims["w2_layer1"].theory({"d": 5}) == pytest.approx(-0.2)
    assert claims["aligned_deviation_rms_max_t"].theory({"d": 12}) == pytest.approx(-1 / 12)
    # d = 2: the Gaussian law n^-1/2 log n, judged with its log factor
    assert claims["w2_layer1"].theory({"d": 2}) == -0.5 and claims["w2_layer1"].log_power({"d": 2}) == 1.0
    assert claims["w2_identity_layer1"].theory == 0.0


def test_theory_hooks_of_the_multi_axis_sims():
    from sims import dropout_stability

    drop = {e["y"]: e["slope"] for e in dropout_stability.theory_exponents(dropout_stability.Config())}
    assert drop["bound_rms"]({"d": 8}) == pytest.approx(-1 / 8)
    assert drop["error_rms"]({"d": 8}) == pytest.approx(-0.5)
