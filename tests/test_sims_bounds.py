"""sims.dimension_scaling and sims.subgaussian: cells, claims, constants, validation, plot-only."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from otlmc.claims import VERDICTS, evaluate_all, verdict_rows
from otlmc.declare import quick_config
from otlmc.pairs import constant_ratios
from otlmc.plots import plt
from otlmc.runner import run
from otlmc.sweep import make_cells, read_csv, run_cells, write_csv
from sims import dimension_scaling, subgaussian


def _table(mod, cfg, grid, seed, order=slice(None)):
    cells = make_cells(grid, cfg.replicates)[order]
    rows = run_cells(lambda p, s: mod.cell(cfg, p, s), cells, sim=mod.SIM.name, root_seed=seed)
    rows = sorted(rows, key=lambda r: tuple(str(r[k]) for k in (*grid, "replicate")))
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]


def test_dimension_scaling_cells_and_claims():
    cfg = quick_config(dimension_scaling.Config)
    rows = _table(dimension_scaling, cfg, {"d": list(cfg.dims), "width": list(cfg.widths)}, 0)
    assert len(rows) == len(cfg.dims) * len(cfg.widths) * cfg.replicates
    for r in rows:
        assert 0 < r["w2_layer1"] <= r["w2_identity_layer1"] + 1e-12  # identity is a candidate matching
        assert r["path_bound_violations"] == 0 and r["path_bound_max_ratio"] <= 1 + 1e-9
        assert 0 <= r["aligned_deviation_rms_max_t"] <= r["path_bound_rms_max_t"] * (1 + 1e-9)
    verdicts = evaluate_all(dimension_scaling.claims(cfg), rows, sim="dimension_scaling")
    assert {v.claim for v in verdicts} == {"w2_rate", "deviation_bound", "w2_unaligned_flat", "path_bound"}
    for v in verdicts:
        assert v.verdict in VERDICTS
        if v.kind == "rate":  # "consistent" exactly when theory lies in the CI
            assert v.ci_low <= v.value <= v.ci_high
            assert (v.verdict == "consistent") == (v.ci_low <= v.theory <= v.ci_high)
    path = next(v for v in verdicts if v.claim == "path_bound")
    assert path.verdict == "consistent" and "by construction" in path.detail


def test_same_seed_same_table_any_order():
    cfg = quick_config(dimension_scaling.Config)
    grid = {"d": [2, 5], "width": [8, 16]}
    base = _table(dimension_scaling, cfg, grid, 3)
    assert _table(dimension_scaling, cfg, grid, 3, order=slice(None, None, -1)) == base
    assert _table(dimension_scaling, cfg, grid, 4) != base  # the root seed matters
    scfg = quick_config(subgaussian.Config)
    sgrid = {"dist": ["gaussian", "rademacher"], "d": [5], "width": [8, 16]}
    assert _table(subgaussian, scfg, sgrid, 3, order=slice(None, None, -1)) == _table(subgaussian, scfg, sgrid, 3)


def test_regime_laws_of_the_claims():
    """Theory values, log powers and corrections per d come from the regime of wasserstein_rate."""
    cfg = dimension_scaling.Config()
    claim = {c.id: c for c in dimension_scaling.claims(cfg)}
    w2, dev = claim["w2_rate"], claim["deviation_bound"]
    assert [w2.theory({"d": d}) for d in (1, 2, 3, 5, 12)] == pytest.approx([-0.5, -0.5, -1 / 3, -0.2, -1 / 12])
    assert dev.theory({"d": 12}) == pytest.approx(-1 / 12) and dev.kind == "upper_bound"
    assert w2.log_power({"d": 2}) == 1.0 and w2.log_power({"d": 5}) == 0.0
    # d = 1: (log log n)^(1/2) as (log n)^a, a = 1/(2 log log n_c) at the centre of 64..4096
    assert w2.log_power({"d": 1}) == pytest.approx(0.5 / np.log(np.log(np.sqrt(64 * 4096))))
    assert [c.form for c in w2.corrections({"d": 2})] == ["log_power"]
    assert [(c.form, c.q) for c in w2.corrections({"d": 3})] == [("relative_power", pytest.approx(1 / 3))]
    assert [c.form for c in w2.corrections({"d": 12})] == ["inverse_n"] and not w2.corrections({"d": 5})
    assert claim["w2_unaligned_flat"].theory == 0.0
    assert claim["path_bound"].construction
    sub = {c.id: c for c in subgaussian.claims(subgaussian.Config())}["w2_rate"]
    assert sub.theory({"dist": "rademacher", "d": 5}) == -0.25  # 2^d atoms: n^-1/4 once n >> 2^d
    assert sub.where({"dist": "rademacher", "d": 5}) is None
    assert "2^d = 4096" in sub.where({"dist": "rademacher", "d": 12})
    assert sub.theory({"dist": "uniform", "d": 5}) == pytest.approx(-0.2)
    assert [(c.form, c.q) for c in sub.corrections({"dist": "uniform", "d": 5})] == [("relative_power", 0.2)]


def test_subgaussian_constants_at_quick_sizes():
    cfg = quick_config(subgaussian.Config)
    grid = {"dist": list(cfg.dists), "d": list(cfg.dims), "width": list(cfg.widths)}
    rows = _table(subgaussian, cfg, grid, 0)
    assert {r["dist"] for r in rows} == set(cfg.dists)
    assert sum(r["path_bound_violations"] for r in rows) == 0
    table = subgaussian.tables(rows, cfg)["constants"]
    assert len(table) == 2 * len(cfg.dists) * len(cfg.dims)
    for f in table:
        if f["dist"] == "gaussian":
            assert f["constant_ratio"] == pytest.approx(1.0)
        assert f["constant_ratio_min"] <= f["constant_ratio"] <= f["constant_ratio_max"]
        # same variance per entry: the W_2 constants of the three laws are close even at quick sizes
        if f["metric"] == "w2_layer1":
            assert f["within_factor"], f


def test_constant_ratio_is_one_for_identical_laws_and_exact_for_scaled_copies():
    """Two copies of the Gaussian rows under another name: ratio 1; a copy scaled by 1.7: ratio 1.7."""
    cfg = quick_config(subgaussian.Config)
    rows = _table(subgaussian, cfg, {"dist": ["gaussian"], "d": [5], "width": list(cfg.widths)}, 0)
    twin = [{**r, "dist": "uniform"} for r in rows]
    scaled = [{**r, "dist": "rademacher", "w2_layer1": 1.7 * r["w2_layer1"]} for r in rows]
    out = constant_ratios(rows + twin + scaled, "w2_layer1", ref="gaussian", n_min=32, factor=2.0)
    got = {f["dist"]: f for f in out}
    assert got["uniform"]["constant_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert got["rademacher"]["constant_ratio"] == pytest.approx(1.7, rel=1e-12)
    assert got["rademacher"]["constant_ratio_min"] == pytest.approx(1.7, rel=1e-12)
    assert got["rademacher"]["n_min"] == 32.0 and got["rademacher"]["within_factor"]
    assert not constant_ratios(rows + scaled, "w2_layer1", ref="gaussian", n_min=32, factor=1.5)[1]["within_factor"]


@pytest.mark.parametrize("mod, over, match", [
    (dimension_scaling, dict(widths=(8,)), "at least two widths"),
    (subgaussian, dict(dists=("uniform", "rademacher")), "'gaussian' must be among them"),
])
def test_cross_field_checks(mod, over, match):
    with pytest.raises(ValueError, match=match):
        mod.SIM.check(replace(mod.Config(), **over))


@pytest.mark.parametrize("mod, argv, match", [
    (dimension_scaling, ["--dims", "0"], "--dims == 0"),
    (dimension_scaling, ["--widths", "2", "8"], "--widths == 2"),
    (dimension_scaling, ["--replicates", "1"], "--replicates == 1"),
    (subgaussian, ["--dims", "2"], "--dims == 2"),
    (subgaussian, ["--factor", "1"], "--factor"),
])
def test_bad_values_name_the_flag(tmp_path, capsys, mod, argv, match):
    assert run(mod.SIM, ["--quick", "--out", str(tmp_path), "--no-progress", *argv]) == 2
    assert match in capsys.readouterr().err


def test_plots_draw_from_verdicts_read_back_from_csv(tmp_path):
    """What --plot-only does: the figures read verdict rows parsed from <sim>_fits.csv (None -> "")."""
    for mod, grid in ((dimension_scaling, {"d": [1, 5], "width": [8, 16, 32]}),
                      (subgaussian, {"dist": ["gaussian", "rademacher"], "d": [5], "width": [8, 16, 32]})):
        names = {"dist": "dists", "d": "dims", "width": "widths"}
        cfg = replace(quick_config(mod.Config), **{names[k]: tuple(v) for k, v in grid.items()})
        rows = _table(mod, cfg, grid, 0)
        write_csv(verdict_rows(evaluate_all(mod.claims(cfg), rows, sim=mod.SIM.name)), tmp_path / "fits.csv")
        fig = mod.plot(rows, cfg, read_csv(tmp_path / "fits.csv"))
        assert len(fig.axes) >= 3
        plt.close(fig)


@pytest.mark.slow
def test_plot_only_redraws_from_stored_files(tmp_path):
    out = tmp_path / "run"
    assert run(dimension_scaling.SIM, ["--quick", "--out", str(out), "--no-progress", "--dims", "3", "5",
                                       "--widths", "8", "16", "32"]) == 0
    (out / "dimension_scaling.png").unlink()
    assert run(dimension_scaling.SIM, ["--plot-only", str(out)]) == 0
    assert (out / "dimension_scaling.png").stat().st_size > 10_000
    assert np.isfinite([r["w2_layer1"] for r in read_csv(out / "dimension_scaling.csv")]).all()
