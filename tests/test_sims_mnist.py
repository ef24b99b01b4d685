"""The MNIST sims on the hermetic synthetic data (their --quick; no download), their claims, and
the own-net comparison (otlmc.compare and its CLI)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from otlmc.claims import evaluate_all
from otlmc.compare import compare, load_inputs
from otlmc.io import save_mlp
from otlmc.realnet import PAPER_METHODS
from otlmc.runner import run
from otlmc.tables import read_csv
from otlmc.train import TrainConfig, init_mlp, train


def _outputs(tmp_path, name):
    for ext in ("csv", "json", "png"):
        assert (tmp_path / f"{name}.{ext}").is_file()
    return read_csv(tmp_path / f"{name}.csv")


def test_mnist_matching_quick(tmp_path):
    from sims.mnist_matching import SIM

    assert run(SIM, ["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    rows = _outputs(tmp_path, "mnist_matching")
    assert len(rows) == 4
    for r in rows:
        for m in ("identity", *PAPER_METHODS):
            v = r[f"{m}_midpoint_loss"]
            assert np.isfinite(v) and 0 < v < 10
            # the midpoint is on the grid, so the Frankle barrier is >= midpoint - endpoint mean
            assert r[f"{m}_barrier"] >= v - r["endpoint_loss"] - 1e-9
            assert 0 <= r[f"{m}_error_barrier"] <= 1
        for k in ("wm_naive", "wm_ours", "am"):
            assert 1 <= r[f"dim_{k}"] <= 784 and 1 <= r[f"dim_init_{k}"] <= 784
    meta = json.loads((tmp_path / "mnist_matching.json").read_text())
    assert meta["config"]["width"] == 32 and meta["config"]["data"] == "synthetic"


def _pair_rows(errors, ours, naive):
    return [{"lr": 0.1, "replicate": i, "error_a": e, "error_b": e, "wm_ours_midpoint_loss": o,
             "wm_naive_midpoint_loss": n, "am_midpoint_loss": o} for i, (e, o, n) in enumerate(zip(errors, ours, naive))]


def test_mnist_orderings_skip_untrained_pairs_and_use_a_sign_test():
    from sims.mnist_matching import SIM, Config

    claim = next(c for c in SIM.claims(Config()) if c.id == "wm_ours_beats_naive_pooled")
    # six trained pairs all in the predicted direction: p = 2/64 < 0.05
    rows = _pair_rows([0.1] * 6, [0.2] * 6, [0.3] * 6)
    (v,) = evaluate_all([claim], rows, sim="mnist_matching")
    assert v.verdict == "consistent" and v.n_points == 6
    # the same six against it: inconsistent
    (v,) = evaluate_all([claim], _pair_rows([0.1] * 6, [0.3] * 6, [0.2] * 6), sim="mnist_matching")
    assert v.verdict == "inconsistent"
    # untrained pairs (test error >= 0.5) are dropped even when they would flip the verdict
    rows = _pair_rows([0.1] * 6 + [0.9] * 6, [0.2] * 6 + [2.3] * 6, [0.3] * 6 + [2.2] * 6)
    (v,) = evaluate_all([claim], rows, sim="mnist_matching")
    assert v.verdict == "consistent" and v.n_points == 6 and "6 rows excluded" in v.detail
    (v,) = evaluate_all([claim], _pair_rows([0.9] * 4, [0.2] * 4, [0.3] * 4), sim="mnist_matching")
    assert v.verdict == "no verdict" and v.n_points == 0


def test_llfc_quick(tmp_path):
    from sims.llfc import PAIRS, SIM

    assert run(SIM, ["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    rows = _outputs(tmp_path, "llfc")
    assert len(rows) == 2
    for r in rows:
        for p in PAIRS:
            for l in (1, 2, 3):
                assert 0 <= r[f"{p}_llfc_layer{l}"] <= 2 and 0 <= r[f"{p}_baseline_layer{l}"] <= 2
                assert r[f"{p}_budget_residual_layer{l}"] < 1e-10
            assert r[f"{p}_mid_error_interp"] <= r[f"{p}_lemma1_bound"] + 1e-12
        # aligning cannot change C's function: the endpoint errors of the three C pairs agree
        assert r["error_independent_endpoint"] == r["error_wm_endpoint"] == r["error_am_endpoint"]


def test_sim_args_rejected(tmp_path, capsys):
    from sims.llfc import SIM as LLFC
    from sims.mnist_matching import SIM as MNIST

    assert run(MNIST, ["--quick", "--t-points", "4", "--out", str(tmp_path)]) == 2
    assert "--t-points == 4" in capsys.readouterr().err
    assert run(LLFC, ["--quick", "--n-match", "5000", "--out", str(tmp_path)]) == 2
    assert "--n-match == 5000" in capsys.readouterr().err


@pytest.fixture()
def own_pair(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    tc = TrainConfig(lr=0.05, epochs=5, batch_size=50, dtype="float64")
    paths = []
    for s in (1, 2):
        net = train(init_mlp((12, 16, 16, 3), rng=np.random.default_rng(s)), X, y, tc, rng=np.random.default_rng(s))
        paths.append(str(save_mlp(net, tmp_path / f"n{s}.npz")))
    return paths, str(tmp_path / "data.npz")


def test_compare_library(own_pair):
    from otlmc.io import load_mlp

    paths, data = own_pair
    net_a, net_b = (load_mlp(p) for p in paths)
    Xm, ym, X, y = load_inputs(data, 100, 200)
    assert Xm.shape == (100, 12) and X.shape == (200, 12) and ym.shape == (100,) and y.shape == (200,)
    res = compare(net_a, net_b, "am", Xm, ym, X, y, t_points=5)
    assert all(c <= c0 + 1e-12 for c, c0 in zip(res["match_costs"], res["identity_costs"]))
    u, a = res["unaligned"], res["aligned"]
    assert u["path_loss"][0] == pytest.approx(a["path_loss"][0]) and u["path_loss"][-1] == pytest.approx(a["path_loss"][-1])
    # comparing a network with itself: zero barrier, LLFC exact, every matching cost zero
    same = compare(net_a, net_a, "wm_naive", Xm, ym, X, y, t_points=5)
    assert same["aligned"]["barriers"]["barrier"] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(same["aligned"]["llfc_mid"], 0.0, atol=1e-12)
    assert np.allclose(same["match_costs"], 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="n_match \\+ n_eval == 400 rows"):
        load_inputs(data, 200, 200)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_inputs("nope.npz", 1, 1)


def test_compare_networks_cli(own_pair, tmp_path, capsys):
    from sims import compare_networks

    paths, data = own_pair
    argv = [*paths, "--data", data, "--n-match", "100", "--n-eval", "200", "--method", "am", "--out", str(tmp_path)]
    assert compare_networks.main(argv) == 0
    res = json.loads((tmp_path / "compare_networks.json").read_text())
    assert (tmp_path / "compare_networks.png").is_file() and res["method"] == "am"
    capsys.readouterr()
    for bad, flag in (([*paths, "--data", data, "--n-match", "200", "--n-eval", "200"], "--n-match"),
                      ([str(tmp_path / "missing.npz"), paths[1]], "NET_A"),
                      ([*paths, "--data", str(tmp_path / "missing.npz")], "--data"),
                      ([*paths, "--t-points", "4"], "--t-points")):
        assert compare_networks.main(bad + ["--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and flag in err and "Traceback" not in err
