"""Smoke tests of sims.depth_scaling, sims.required_width and sims.tightness (--quick)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from otlmc.sweep import read_csv
from sims import depth_scaling, required_width, tightness


def _outputs(tmp_path, name):
    for ext in ("csv", "json", "png", "pdf"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 0, ext
    meta = json.loads((tmp_path / f"{name}.json").read_text())
    assert meta["sim"] == name
    return read_csv(tmp_path / f"{name}.csv"), meta


def test_depth_scaling_quick(tmp_path, capsys):
    assert depth_scaling.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    rows, meta = _outputs(tmp_path, "depth_scaling")
    cfg = depth_scaling.Config(**{**depth_scaling.Config().__dict__, **depth_scaling.QUICK})
    assert len(rows) == len(cfg.depths) * cfg.replicates == meta["n_cells"]
    ok, total = depth_scaling.bound_holds(rows)
    assert ok == total == sum(r["depth"] for r in rows)
    for r in rows:
        for l in range(1, r["depth"] + 1):
            # aligned matching never costs more than leaving B as it is (identity is a candidate)
            assert 0 < r[f"w2_layer{l}"] <= r[f"w2_identity_layer{l}"] + 1e-12
            assert np.isfinite(r[f"E_layer{l}"]) and r[f"E_layer{l}"] > 0
        assert 0 < r["aligned_deviation_rms_max_t"] < 10
    assert "bounds hold in" in capsys.readouterr().out


def test_tightness_quick(tmp_path):
    assert tightness.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    rows, _ = _outputs(tmp_path, "tightness")
    ok, total = tightness.sandwich_holds(rows)
    assert ok == total == len(rows) > 0
    for r in rows:
        assert 0 < r["lambda_min"] <= r["lambda_max"]
        assert 1 - 1e-9 <= r["sigma_participation_ratio"] <= r["d"] + 1e-9
        if r["sigma"] == "identity":
            assert r["sigma_cost"] == pytest.approx(r["w2sq"], rel=1e-9)
    # Sigma depends on (d, replicate) only: lambda_min is identical across widths of one replicate
    relu = [r for r in rows if r["sigma"] == "relu"]
    assert relu
    for key in {(r["d"], r["replicate"]) for r in relu}:
        assert len({r["lambda_min"] for r in relu if (r["d"], r["replicate"]) == key}) == 1


def test_required_width_quick(tmp_path):
    assert required_width.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    rows, _ = _outputs(tmp_path, "required_width")
    cfg = required_width.Config(**{**required_width.Config().__dict__, **required_width.QUICK})
    for d in cfg.dims:
        inv = required_width.inversion(rows, cfg, d)
        n = inv["n_needed"]
        assert (n >= min(cfg.widths)).all() and (n <= max(cfg.widths)).all()
        order = np.argsort(inv["eps"])
        assert (np.diff(n[order]) <= 1e-9 * n.max()).all()
        pl = required_width.lemma41_plugin(rows, cfg, d)
        assert np.isfinite(pl["plugin"]).all() and (pl["plugin"] >= 1).all()
        assert (pl["measured"] >= min(cfg.widths)).all() and (pl["measured"] <= max(cfg.widths)).all()
    for r in rows:  # Lemma 4.1 for one layer (E_0 = 0): E_1 <= 2 mismatch <= 2 C_1 m_0 Ebar_0
        assert 0 < r["E_layer1"] <= r["bound_sharp_layer1"] <= r["bound_one_step_layer1"] * (1 + 1e-12)


@pytest.mark.slow
def test_same_seed_same_table_any_n_jobs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    tightness.main(["--quick", "--out", str(a), "--no-progress", "--dims", "3"])
    tightness.main(["--quick", "--out", str(b), "--no-progress", "--dims", "3", "--n-jobs", "2"])
    ra, rb = read_csv(a / "tightness.csv"), read_csv(b / "tightness.csv")
    assert [r["sigma_cost"] for r in ra] == [r["sigma_cost"] for r in rb]


@pytest.mark.parametrize("mod", [depth_scaling, required_width, tightness])
def test_help_and_bad_flags(mod, capsys):
    with pytest.raises(SystemExit) as e:
        mod.main(["--help"])
    assert e.value.code == 0
    assert "--quick" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        mod.main(["--quick", "--replicates", "0", "--no-progress"])
