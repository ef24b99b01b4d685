"""The width-scaling experiment: Wasserstein rate, aligned vs unaligned, reproducibility, smoke."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from otlmc.fit import fit_power_law
from otlmc.runner import run
from otlmc.sweep import column, make_cells, read_csv, run_cells
from otlmc.transport import empirical_wasserstein
from sims import width_scaling
from sims.width_scaling import Config, cell


def w2_slope(d: int, seed: int) -> float:
    rng = np.random.default_rng([seed, d])
    ns, ws = [], []
    for n in (32, 64, 128, 256, 512):
        for _ in range(3):
            ws.append(empirical_wasserstein(rng.standard_normal((n, d)), rng.standard_normal((n, d))))
            ns.append(n)
    return fit_power_law(np.array(ns), np.array(ws)).slope


# Calibration (60 seeds, n = 32..512, 3 pairs per n, Gaussian samples):
#   d = 5: slope -0.197 +- 0.012 (range -0.231 .. -0.170); theory -1/5 = -0.200
#   d = 8: slope -0.134 +- 0.006 (range -0.147 .. -0.121); theory -1/8 = -0.125 (finite-n bias, docs/theory.md §1)
# The bands are about mean +- 4 sd and contain -1/d.
@pytest.mark.parametrize("d, band", [(5, (-0.25, -0.15)), (8, (-0.16, -0.11))])
def test_w2_two_sample_rate_is_n_to_minus_one_over_d(seed, d, band):
    slope = w2_slope(d, seed)
    assert band[0] < slope < band[1], f"d={d}: fitted slope {slope:.3f} outside {band}"
    assert band[0] < -1.0 / d < band[1]


def _rows(cfg, seed, n_jobs=1):
    cells = make_cells({"width": list(cfg.widths)}, cfg.replicates)
    return run_cells(lambda p, s: cell(cfg, p, s), cells, sim="width_scaling", root_seed=seed, n_jobs=n_jobs)


# Calibration (30 seeds, d = 3, widths 16..256, 4 pairs each, 300 inputs, 9 t-points):
#   aligned deviation slope -0.269 +- 0.031 (range -0.322 .. -0.219)
#   unaligned deviation slope +0.003 +- 0.027 (range -0.044 .. +0.053)
def test_aligned_deviation_decreases_and_unaligned_stays_flat(seed):
    cfg = replace(Config(), d=3, widths=(16, 32, 64, 128, 256), replicates=4, n_eval=300, t_points=9)
    rows = _rows(cfg, seed)
    n = column(rows, "width")
    aligned = fit_power_law(n, column(rows, "aligned_deviation_rms_max_t")).slope
    unaligned = fit_power_law(n, column(rows, "unaligned_deviation_rms_max_t")).slope
    assert aligned < -0.15, aligned
    assert abs(unaligned) < 0.12, unaligned
    assert np.all(column(rows, "w2_layer1") <= column(rows, "w2_identity_layer1"))


def test_same_table_for_any_n_jobs_and_order():
    cfg = replace(Config(), d=4, widths=(8, 16, 32), replicates=2, n_eval=50, t_points=5)
    serial = _rows(cfg, 11, n_jobs=1)
    parallel = _rows(cfg, 11, n_jobs=2)
    cells = make_cells({"width": list(cfg.widths)}, cfg.replicates)[::-1]
    reversed_ = run_cells(lambda p, s: cell(cfg, p, s), cells, sim="width_scaling", root_seed=11)[::-1]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]  # noqa: E731
    assert strip(serial) == strip(parallel) == strip(reversed_)
    # a width added to the grid later leaves the existing cells' numbers unchanged
    more = _rows(replace(cfg, widths=(8, 16, 32, 64)), 11)
    assert strip(more)[: len(serial)] == strip(serial)


def test_quick_run_writes_table_config_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(width_scaling.SIM, ["--quick", "--out", str(out), "--no-progress"]) == 0
    rows = read_csv(out / "width_scaling.csv")
    meta = json.loads((out / "width_scaling.json").read_text())
    assert (out / "width_scaling.png").stat().st_size > 10_000
    assert (out / "width_scaling.pdf").exists()
    assert len(rows) == len(Config.__dataclass_fields__["widths"].default[:4]) * 3 == meta["n_cells"]
    assert meta["config"]["d"] == 5 and meta["root_seed"] == 0 and "numpy" in meta["versions"]
    for r in rows:
        assert 0 < r["w2_layer1"] < r["w2_identity_layer1"]
        assert np.isfinite(r["aligned_barrier"]) and r["aligned_barrier"] >= 0
    assert "w2_rate [all] -0." in capsys.readouterr().out  # the verdict of the declared claim
    # a rerun reuses every finished cell and gives the same table
    first = (out / "width_scaling.csv").read_text()
    run(width_scaling.SIM, ["--quick", "--out", str(out), "--no-progress"])
    assert (out / "width_scaling.csv").read_text() == first


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--d", "0"], "--d == 0"),
        (["--widths", "8"], "at least two distinct widths"),
        (["--widths", "0", "8"], "--widths == 0, must be >= 1"),
        (["--t-points", "1"], "--t-points == 1"),
    ],
)
def test_bad_command_line_values(tmp_path, capsys, argv, match):
    assert run(width_scaling.SIM, ["--quick", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        run(width_scaling.SIM, ["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--quick", "--out", "--seed", "--n-jobs", "--d", "--depth", "--widths", "--dist", "--eta"):
        assert flag in text
