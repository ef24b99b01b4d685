"""Quick runs of sims.depth_scaling, sims.required_width and sims.tightness: tables, inequalities, claims."""
from __future__ import annotations

import json

import numpy as np
import pytest

from otlmc.claims import evaluate
from otlmc.declare import quick_config
from otlmc.summaries import chain_holds, inverted_curve, layer_chain_holds, lemma41_plugin_widths
from otlmc.runner import run
from otlmc.tables import read_csv
from sims import depth_scaling, required_width, tightness


def _outputs(sim, tmp_path):
    assert run(sim.SIM, ["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    name = sim.SIM.name
    for ext in ("csv", "json", "png", "pdf"):
        assert (tmp_path / f"{name}.{ext}").stat().st_size > 0, ext
    meta = json.loads((tmp_path / f"{name}.json").read_text())
    assert meta["sim"] == name
    return read_csv(tmp_path / f"{name}.csv"), read_csv(tmp_path / f"{name}_fits.csv"), meta


def test_depth_scaling_quick(tmp_path):
    rows, fits, meta = _outputs(depth_scaling, tmp_path)
    cfg = quick_config(depth_scaling.Config)
    assert len(rows) == len(cfg.depths) * cfg.replicates == meta["n_cells"]
    # E_l <= sharp bound <= one-step bound, and E_l <= the recursion fed its own bound, on every (row, layer)
    ok, total = layer_chain_holds(rows, [("E", "bound_sharp", "bound_one_step"), ("E", "bound_recursive")])
    assert ok == total == sum(r["depth"] for r in rows)
    for r in rows:
        for l in range(1, r["depth"] + 1):
            # aligned matching never costs more than leaving B as it is (identity is a candidate)
            assert 0 < r[f"w2_layer{l}"] <= r[f"w2_identity_layer{l}"] + 1e-12
            assert np.isfinite(r[f"E_layer{l}"]) and r[f"E_layer{l}"] > 0
        assert 0 < r["aligned_deviation_rms_max_t"] < 10
    # two Lemma 4.1 verdicts per (layer, depth): same inputs (by construction) and held-out inputs
    # (an independent check); layers a network does not have are "not applicable"
    L = max(cfg.depths)
    assert len(fits) == 2 * L * len(cfg.depths)
    for f in fits:
        heldout = f["claim"].startswith("lemma41_heldout_layer")
        layer = int(f["claim"].removeprefix("lemma41_heldout_layer" if heldout else "lemma41_layer"))
        depth = int(f["setting"].removeprefix("depth="))
        assert f["verdict"] == ("consistent" if layer <= depth else "not applicable"), f
        tag = "independent check" if heldout else "holds by construction"
        assert layer > depth or tag in f["detail"], f
    for r in rows:  # the held-out sample is another sample: its E differs from the fit sample's
        assert r["E_heldout_layer1"] != r["E_layer1"]


def test_tightness_quick(tmp_path):
    rows, fits, _ = _outputs(tightness, tmp_path)
    # lambda_min W_2^2 <= Sigma cost <= Sigma cost of the W_2 pairing <= lambda_max W_2^2 (round-off 1e-9)
    ok, total = chain_holds(rows, ("sandwich_low", "sigma_cost", "sigma_cost_naive_perm", "sandwich_high"), rtol=1e-9)
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
    cfg = quick_config(tightness.Config)
    low = [f for f in fits if f["claim"] == "tightness"]
    assert len(low) == len(cfg.dims) * len(cfg.sigmas)
    for f in low:
        d = int(f["setting"].split(",")[0].removeprefix("d="))
        assert f["kind"] == "lower_bound" and f["theory"] == pytest.approx(-2 / d)
    sandwich = {(f["claim"], f["setting"]): f["verdict"] for f in fits if f["claim"].startswith("sandwich")}
    assert sandwich == {("sandwich_low", "sigma=identity"): "not applicable",
                        ("sandwich_low", "sigma=relu"): "consistent",
                        ("sandwich_high", "sigma=identity"): "not applicable",
                        ("sandwich_high", "sigma=relu"): "consistent"}


def test_required_width_quick(tmp_path):
    rows, fits, _ = _outputs(required_width, tmp_path)
    cfg = quick_config(required_width.Config)
    for d in cfg.dims:
        sub = [r for r in rows if r["d"] == d]
        eps, n = inverted_curve(sub, required_width.METRIC, n_eps=cfg.n_eps)
        assert (n >= min(cfg.widths)).all() and (n <= max(cfg.widths)).all()
        order = np.argsort(eps)
        assert (np.diff(n[order]) <= 1e-9 * n.max()).all()
        pl = lemma41_plugin_widths(sub, d, n_eps=cfg.n_eps, n_min=cfg.fit_min_width)
        assert np.isfinite(pl["plugin"]).all() and (pl["plugin"] >= 1).all()
        assert (pl["measured"] >= min(cfg.widths)).all() and (pl["measured"] <= max(cfg.widths)).all()
    for r in rows:  # Lemma 4.1 for one layer (E_0 = 0): E_1 <= 2 mismatch <= 2 C_1 m_0 Ebar_0
        assert 0 < r["E_layer1"] <= r["bound_sharp_layer1"] <= r["bound_one_step_layer1"] * (1 + 1e-12)
    needed = read_csv(tmp_path / "required_width_needed.csv")
    assert len(needed) == len(cfg.dims) * cfg.n_eps
    # --quick has m_0 = 2, 3 only: outside Theorem 5.2 (m_0 >= 5), so the width law gets no verdict
    law = [f for f in fits if f["claim"] == "width_law"]
    assert [f["verdict"] for f in law] == ["not applicable"] * len(cfg.dims)
    assert all("m_0 >= 5" in f["detail"] for f in law)


def test_width_law_verdict_where_the_theorem_applies():
    """m_0 = 5 gets a verdict against -1/m_0; a deviation that falls like n^(-1/5) exactly is consistent."""
    rng = np.random.default_rng(0)
    rows = [{"d": d, "width": n, "replicate": k,
             required_width.METRIC: n ** (-1 / d) * np.exp(0.02 * rng.standard_normal())}
            for d in (3, 5) for n in (64, 128, 256, 512, 1024) for k in range(6)]
    claim = next(c for c in required_width.SIM.claims(required_width.Config()) if c.id == "width_law")
    v3, v5 = evaluate(claim, rows, sim="required_width")
    assert v3.verdict == "not applicable" and v5.theory == pytest.approx(-0.2)
    assert v5.verdict == "consistent" and v5.value == pytest.approx(-0.2, abs=0.02)
    slow = [{**r, required_width.METRIC: r["width"] ** -0.05} for r in rows if r["d"] == 5]
    assert evaluate(claim, slow, sim="required_width")[0].verdict == "inconsistent"
