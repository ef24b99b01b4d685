"""sims.cnn_matching and sims.cnn_llfc: every claim reads columns the cell writes; orderings skip untrained pairs."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from otlmc.claims import evaluate_all
from otlmc.declare import quick_config
from otlmc.runner import run
from otlmc.tables import read_csv


@pytest.mark.parametrize("name", ["cnn_matching", "cnn_llfc"])
def test_every_claim_reads_columns_of_its_rows(name, tmp_path):
    sim = __import__(f"sims.{name}", fromlist=["SIM"]).SIM
    assert run(sim, ["--quick", "--no-progress", "--no-plot", "--out", str(tmp_path)]) == 0
    rows = read_csv(tmp_path / f"{name}.csv")
    cfg = quick_config(sim.config)
    for c in sim.claims(cfg):
        # cnn_llfc's claims are per architecture (id prefix); the layers of one need not exist in another
        for r in (rows if name == "cnn_matching" else [r for r in rows if c.id.startswith(r["arch"] + "_")]):
            for col in (c.metric, c.other or c.bound):
                assert r.get(col) is not None, (c.id, col, r["arch"])
    if name == "cnn_llfc":
        assert {c.id.split("_llfc_")[0] for c in sim.claims(cfg) if "_llfc_" in c.id} == set(cfg.archs)
    if name == "cnn_matching":
        assert all(r["perm_dev"] <= r["perm_tol"] for r in rows)
        extra = read_csv(tmp_path / "cnn_matching_wm_sigma.csv")
        assert {r["estimate"] for r in extra} == {"exact", "kron", "channel", "nearest_kron"}


def test_cnn_matching_orderings_skip_untrained_pairs_and_width_claim_pairs_with_the_reference():
    from sims.cnn_matching import SIM, Config

    cfg = dataclasses.replace(Config(), width_multipliers=(0.5, 1.0))
    base = {"arch": "vgg", "lr": 0.1, "perm_dev": 0.0, "perm_tol": 1e-9, "ref_error_a": 0.1, "ref_error_b": 0.1}
    rows = []
    for i in range(8):
        bad = i == 0  # one untrained pair where the ordering is reversed
        rows.append({**base, "width_multiplier": 1.0, "error_a": 0.9 if bad else 0.1, "error_b": 0.1,
                     "wm_ours_midpoint_loss": 2.0 if bad else 1.0, "wm_naive_midpoint_loss": 1.5,
                     "am_midpoint_loss": 0.5, "wm_ours_barrier": 0.2, "ref_wm_ours_barrier": 0.3 + i,
                     "am_barrier": 0.4, "ref_am_barrier": 0.3, "am_repair_barrier": 0.1,
                     **{f"dim_{k}": 1.0 for k in ("wm_ours", "am", "wm_naive")},
                     **{f"dim_init_{k}": 2.0 for k in ("wm_ours", "am", "wm_naive")}})
    v = {(x.claim, x.setting): x for x in evaluate_all(SIM.claims(cfg), rows, sim="cnn_matching")}
    assert v["wm_ours_beats_naive", "lr=0.1"].verdict == "consistent" and v["wm_ours_beats_naive", "lr=0.1"].n_points == 7
    assert v["barrier_falls_with_width_wm_ours", "width_multiplier=1.0"].verdict == "consistent"
    assert v["barrier_falls_with_width_am", "width_multiplier=1.0"].verdict == "inconsistent"
    assert np.isclose(v["repair_lowers_barrier_am", "all"].value, 1.0)
