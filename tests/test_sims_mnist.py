"""Smoke tests of the MNIST sims on the hermetic synthetic data (no download) and own-net comparison."""
from __future__ import annotations

import json

import numpy as np
import pytest

from otlmc.io import save_mlp
from otlmc.sweep import read_csv
from otlmc.train import TrainConfig, init_mlp, train


def _outputs(tmp_path, name):
    for ext in ("csv", "json", "png"):
        assert (tmp_path / f"{name}.{ext}").is_file()
    return read_csv(tmp_path / f"{name}.csv")


def test_mnist_matching_quick(tmp_path):
    from sims import mnist_matching

    assert mnist_matching.main(["--quick", "--data", "synthetic", "--out", str(tmp_path), "--no-progress"]) == 0
    rows = _outputs(tmp_path, "mnist_matching")
    assert len(rows) == 4
    for r in rows:
        for m in ("identity", *mnist_matching.METHODS):
            v = r[f"{m}_midpoint_loss"]
            assert np.isfinite(v) and 0 < v < 10
            # the midpoint is on the grid, so the Frankle barrier is >= midpoint - endpoint mean
            assert r[f"{m}_barrier"] >= v - r["endpoint_loss"] - 1e-9
            assert 0 <= r[f"{m}_error_barrier"] <= 1
        for k in ("wm_naive", "wm_ours", "am"):
            assert 1 <= r[f"dim_{k}"] <= 784
    meta = json.loads((tmp_path / "mnist_matching.json").read_text())
    assert meta["config"]["width"] == 32


def test_llfc_quick(tmp_path):
    from sims import llfc

    assert llfc.main(["--quick", "--data", "synthetic", "--out", str(tmp_path), "--no-progress"]) == 0
    rows = _outputs(tmp_path, "llfc")
    assert len(rows) == 2
    for r in rows:
        for p in llfc.PAIRS:
            for l in (1, 2, 3):
                assert 0 <= r[f"{p}_llfc_layer{l}"] <= 2 and 0 <= r[f"{p}_baseline_layer{l}"] <= 2
                assert r[f"{p}_budget_residual_layer{l}"] < 1e-10
            assert r[f"{p}_mid_error_interp"] <= r[f"{p}_lemma1_bound"] + 1e-12
        # aligning cannot change C's function: the endpoint errors of the three C pairs agree
        assert r["error_independent_endpoint"] == r["error_wm_endpoint"] == r["error_am_endpoint"]


def test_compare_networks_own_files(tmp_path):
    from sims import compare_networks

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    tc = TrainConfig(lr=0.05, epochs=5, batch_size=50, dtype="float64")
    paths = []
    for s in (1, 2):
        net = train(init_mlp((12, 16, 16, 3), rng=np.random.default_rng(s)), X, y, tc, rng=np.random.default_rng(s))
        paths.append(str(save_mlp(net, tmp_path / f"n{s}.npz")))
    argv = [*paths, "--data", str(tmp_path / "data.npz"), "--n-match", "100", "--n-eval", "200",
            "--method", "am", "--out", str(tmp_path)]
    assert compare_networks.main(argv) == 0
    res = json.loads((tmp_path / "compare_networks.json").read_text())
    assert (tmp_path / "compare_networks.png").is_file()
    assert all(c <= c0 + 1e-12 for c, c0 in zip(res["match_costs"], res["identity_costs"]))
    u, a = res["unaligned"], res["aligned"]
    # endpoints are the same functions before and after alignment
    assert u["path_loss"][0] == pytest.approx(a["path_loss"][0]) and u["path_loss"][-1] == pytest.approx(a["path_loss"][-1])
    with pytest.raises(SystemExit, match="rows"):
        compare_networks.main([*paths, "--data", str(tmp_path / "data.npz"), "--n-match", "200", "--n-eval", "200"])


def test_sim_args_rejected(tmp_path):
    from sims import llfc, mnist_matching

    with pytest.raises(SystemExit, match="t-points"):
        mnist_matching.main(["--quick", "--t-points", "4", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="n-match"):
        llfc.main(["--quick", "--n-match", "5000", "--out", str(tmp_path)])
