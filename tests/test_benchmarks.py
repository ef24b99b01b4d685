"""Smoke test of the quickest path through the benchmark suite (numbers sane, JSON written)."""
from __future__ import annotations

import json
import os

os.environ.setdefault("MPLBACKEND", "Agg")

from benchmarks import bench_conv  # noqa: E402
from benchmarks.suite import main  # noqa: E402


def test_quick_suite_writes_sane_results(tmp_path, capsys):
    argv = ["--quick", "--sections", "assignment", "hard", "cost", "barrier", "meanfield", "train",
            "--sizes", "300", "--regimes", "gauss16", "wm6", "--repeats", "1", "--cost-n", "256",
            "--hard", "ties9", "machol_wien", "--hard-n", "300", "--out", str(tmp_path)]
    assert main(argv) == 0
    files = list(tmp_path.glob("bench-*-quick.json"))
    assert len(files) == 1
    res = json.loads(files[0].read_text())
    assert res["machine"]["cpu_count"] >= 1 and res["machine"]["versions"]["numpy"]
    rows = res["assignment"]
    assert [(r["n"], r["regime"]) for r in rows] == [(300, "gauss16"), (300, "wm6")]
    for r in rows:
        assert r["otlmc_method"] == "dense"  # n = 300: the dense band
        # every solver in the table found the optimum (equal cost to scipy's within 1e-9)
        assert all(r[k] for k in r if k.endswith("_exact")), r
        assert r["otlmc_ms"] > 0 and r["scipy_ms"] > 0
        assert abs(r["speedup_vs_scipy"] - r["scipy_ms"] / r["otlmc_ms"]) < 1e-9
    hard = res["hard"]
    assert [r["family"] for r in hard] == ["ties9", "machol_wien"] and hard[1]["otlmc_method"] == "rank1"
    assert all(r["otlmc_exact"] and r["scipy_ms"] > 0 for r in hard)
    cost = res["cost"]
    assert cost["gemm_peak_gflops"] > 0
    for r in cost["rows"]:
        assert r["max_rel_diff_vs_cdist"] < 1e-12
        assert 0 < r["fraction_of_gemm_speed"]
    b = res["barrier"]
    assert b["agree_rel"] < 1e-10 and b["batched_ms"] > 0
    for hook in ("meanfield", "train"):  # absent modules are skipped, present ones report
        assert isinstance(res[hook], dict)
    out = capsys.readouterr().out
    assert "Summary" in out and "otlmc vs scipy" in out


def test_conv_epoch_section_times_the_sims_vgg_and_says_when_torch_is_absent():
    bc = bench_conv
    r = bc.epoch_time(1, 1, n_images=200)
    assert r["otlmc_epoch_s"] > 0 and r["batch_size"] == 100 and r["n_images"] == 200
    lines = []
    bc.report({"conv": [], "epoch": [r, {**r, "torch_epoch_s": None, "otlmc_over_torch": None}]}, log=lines.append)
    assert "torch not installed, comparison skipped" in lines[1]
    try:
        import torch
    except ImportError:
        assert r["torch_epoch_s"] is None and "skipped" in lines[0]
        return
    assert "otlmc/torch" in lines[0] and "skipped" not in lines[0]
    assert abs(r["otlmc_over_torch"] - r["otlmc_epoch_s"] / r["torch_epoch_s"]) < 1e-12
    arch = bc.make_arch("vgg", 1.0, (14, 14, 1))  # the torch twin has the same parameters, shape by shape
    twin = [tuple(p.shape) for p in bc._torch_vgg(arch, torch).parameters()]
    assert twin == [tuple(s) for s in arch.param_shapes().values()]
