"""The README's performance block is rendered from the newest benchmark result, targets judged as data."""
import copy
import json
import os
from pathlib import Path

import pytest

from benchmarks import suite
from benchmarks.summary import (PERF_END, PERF_START, SECTIONS, TARGETS, newest_result, readme_block, render,
                                sig)
from sims import readme as readme_cli

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def assignment_row(n, regime, otlmc_ms, lapx_ms):
    return {"n": n, "regime": regime, "otlmc_method": "sparse", "otlmc_rounds": 2, "otlmc_edges": 10 * n,
            "read_ms": 0.01, "otlmc_ms": otlmc_ms, "otlmc_exact": True, "scipy_ms": 2 * otlmc_ms,
            "scipy_exact": True, "pot_ms": 3 * otlmc_ms, "pot_exact": True, "lapx.lapjvh_ms": lapx_ms,
            "lapx.lapjvh_exact": True, "best_peer": "lapx.lapjvh"}


def mf_row(n, d, seconds, rss_mb, **extra):
    return {"n": n, "d": d, "rss_before_mb": 400.0, "read_inputs_ms": 0.5, "matrixfree_s": seconds,
            "matrixfree_peak_rss_mb": rss_mb, "cert_certified": True, "cert_rounds": 2, "cert_passes": 1,
            "cert_edges": 40 * n, "cert_worst_reduced_cost": -1e-15, "cert_tol": 1e-12, "w2": 0.3, **extra}


FULL = {
    "machine": {"time_utc": "2026-12-01T00:00:00+00:00", "cpu_count": 2, "usable_cores": 2,
                "load_average_1_5_15": [0.5, 0.25, 0.126], "cpu_model": "Test CPU",
                "git": {"revision": "0123456789abcdef", "dirty": False}},
    "quick": False, "repeats": 3, "total_seconds": 1234.5,
    "assignment": [assignment_row(256, "gauss2", 2.0, 1.8), assignment_row(256, "wm6", 4.0, 3.6),
                   assignment_row(1024, "gauss2", 30.0, 45.0), assignment_row(1024, "wm6", 80.0, 88.0)],
    "hard": [{"n": 4096, "family": "ties9", "otlmc_method": "scipy", "otlmc_reason": "ties", "otlmc_rounds": 0,
              "otlmc_ms": 110.0, "scipy_ms": 100.0, "otlmc_exact": True}],
    "cost": {"gemm_peak_gflops": 150.0, "gemm_peak_size": 2048, "n": 4096,
             "rows": [{"d": 2, "otlmc_ms": 40.0, "gemm_ms": 30.0, "cdist_ms": 130.0, "fraction_of_gemm_speed": 0.75,
                       "cdist_over_otlmc": 3.25}]},
    "barrier": {"arch": [16, 1024, 1024, 1], "n_eval": 1000, "t_points": 25, "batched_ms": 1000.0,
                "per_t_loop_ms": 1500.0, "speedup": 1.5, "agree_rel": 0.0},
    "sweep": {"n_cells": 80, "otlmc_n_jobs1_s": 4.0, "otlmc_n_jobs2_s": 3.0, "peer_s": 12.0,
              "max_rel_diff_w2_layer1": 0.0, "max_rel_diff_deviation": 2e-16, "same_table_any_n_jobs": True},
    "meanfield": {"rows": [{"N": 1000, "d": 10, "B": 1, "speedup_numba_vs_numpy": 1.25, "speedup_kernel_only": 2.5},
                           {"N": 1000, "d": 10, "B": 32, "speedup_numba_vs_numpy": 0.75,
                            "speedup_kernel_only": 0.5}]},
    "train": {"widths": "784-512-10", "batch_size": 500, "epoch_s_best": 1.875, "blas_efficiency_float32_1t": 0.875},
    "matrixfree": {"gemm_peak_gflops": 150.0, "memory_gb": 25.0, "rows": [
        mf_row(16384, 5, 7.5, 260.0, dense_cost_s=1.0, dense_peak_rss_mb=2300.0, otlmc_dense_s=50.0,
               same_perm_as_otlmc_dense=True, same_total_bits_as_otlmc_dense=True,
               scipy_skipped="n > --scipy-max-n 8192", pot_skipped="n > --pot-max-n 4096"),
        mf_row(131072, 5, 72.0, 480.0, peers_skipped="dense n x n cost matrix needs 137.4 GB",
               exact_check="certified only"),
        {"n": 65536, "d": 10, "error": "timed out after 1800 s"}]},
    "conv": {"conv": [{"threads": 1, "forward_gflops": 12.0, "backward_gflops": 21.0, "peak_gemm_gflops": 100.0,
                       "same_shape_gemm_gflops": 80.0}],
             "epoch": [{"threads": 1, "n_images": 5000, "batch_size": 100, "otlmc_epoch_s": 0.25,
                        "torch_epoch_s": None, "otlmc_over_torch": None}]},
}


def write(folder: Path, name: str, res: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(res))
    return path


def verdict(block: str, target_name: str) -> str:
    """The verdict cell of one target's row in a rendered block."""
    line = next(ln for ln in block.splitlines() if ln.startswith(f"| {target_name} ("))
    return line.rstrip(" |").rsplit("| ", 1)[1]


def test_every_section_is_rendered_from_the_file(tmp_path):
    write(tmp_path, "bench-20261201T000000Z.json", FULL)
    block = readme_block(tmp_path)
    assert block.startswith(PERF_START) and block.endswith(PERF_END)
    assert "bench-20261201T000000Z.json" in block and "`0123456789`" in block and "2 cores" in block
    assert "load average 0.50 / 0.25 / 0.13" in block
    for title in ("Exact assignment", "Hard assignment families", "Cost matrices", "Barrier path",
                  "`width_scaling` sweep", "Mean-field noisy SGD", "MNIST training", "Matrix-free exact transport",
                  "Convolutions"):
        assert f"**{title}" in block, title
    assert "Not in this run" not in block
    # ratios come from the times in the file: 45 / 30 = 1.5 at n = 1024, 3.6 / 4 = 0.9 at n = 256
    assert "| 1024 | gauss2 | 30.0 | lapx.lapjvh | 45.0 | 1.50 | yes |" in block
    assert "| 4096 | ties9 | 110 | 100 | 1.10 | scipy | yes |" in block
    assert ("| 16384 | 5 | 7.50 | 260 | yes | 2 / 1 | otlmc dense: yes | "
            "otlmc dense 50.0 s, scipy skipped, POT skipped |") in block
    assert "| 65536 | 10 | failed |" in block and "timed out after 1800 s" in block
    assert "all dense peers skipped at n = 131072, d = 5: dense n x n cost matrix needs 137.4 GB" in block
    assert "torch not installed" in block
    expected = {"assignment n = 1024": "met", "assignment n = 256": "met", "hard families": "met",
                "cost matrix d = 2": "met", "sweep, 2 jobs": "met", "sweep, 1 job": "met",
                "sweep, same table": "met", "matrix-free time": "met", "matrix-free memory": "met",
                "matrix-free vs dense": "met"}
    assert {t.name: verdict(block, t.name) for t in TARGETS} == expected


def test_sections_absent_from_the_newest_file_are_listed_not_filled_from_older_ones(tmp_path):
    write(tmp_path, "bench-20261101T000000Z.json", FULL)  # older: every section
    newer = {k: v for k, v in FULL.items() if k not in ("hard", "matrixfree", "conv", "barrier", "train")}
    newer["meanfield"] = {"skipped": "benchmarks.bench_meanfield not present"}
    write(tmp_path, "bench-20261201T000000Z.json", newer)
    block = readme_block(tmp_path)
    assert "bench-20261201T000000Z.json" in block and "bench-20261101T000000Z.json" not in block
    assert ("Not in this run: hard, barrier, meanfield (skipped: benchmarks.bench_meanfield not present), "
            "train, matrixfree, conv.") in block
    assert "**Matrix-free" not in block and "**Hard" not in block and "**Exact assignment" in block
    assert verdict(block, "matrix-free time") == "not in this run"
    assert verdict(block, "hard families") == "not in this run"
    assert verdict(block, "sweep, 1 job") == "met"


def test_newest_file_is_chosen_by_the_time_stamp_in_its_name(tmp_path):
    old = write(tmp_path, "bench-20261130T055811Z.json", FULL)
    new = write(tmp_path, "bench-20261201T000001Z-quick.json", FULL)
    write(tmp_path, "bench_meanfield-h100-20271122.json", {})  # not a suite result
    write(tmp_path, "bench-notes.json", {})
    os.utime(new, (1, 1))  # modification times must not matter
    os.utime(old, (2e9, 2e9))
    assert newest_result(tmp_path) == new
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no bench-<UTC time>.json"):
        newest_result(empty)


@pytest.mark.parametrize("name, edit, met_value, unmet_value", [
    ("assignment n = 1024", lambda res, v: res["assignment"][2].update({"lapx.lapjvh_ms": 30.0 * v}), 1.0, 0.99),
    ("assignment n = 256", lambda res, v: res["assignment"][1].update({"lapx.lapjvh_ms": 4.0 * v}), 0.8, 0.79),
    ("cost matrix d = 2", lambda res, v: res["cost"]["rows"][0].update({"fraction_of_gemm_speed": v}), 0.70, 0.6999),
    ("sweep, 2 jobs", lambda res, v: res["sweep"].update({"otlmc_n_jobs2_s": 12.0 / v}), 3.0, 2.99),
    ("matrix-free time", lambda res, v: res["matrixfree"]["rows"][1].update({"matrixfree_s": v}), 300.0, 300.5),
    ("matrix-free memory", lambda res, v: res["matrixfree"]["rows"][1].update({"matrixfree_peak_rss_mb": v}),
     4096.0, 4097.0),
])
def test_a_target_flips_when_its_number_crosses_the_bound(tmp_path, name, edit, met_value, unmet_value):
    target = next(t for t in TARGETS if t.name == name)
    for value, expected in ((met_value, "met"), (unmet_value, "not met")):
        res = copy.deepcopy(FULL)
        edit(res, value)
        assert target.judge(res)[1] is (expected == "met")
        assert verdict(render(tmp_path / "bench-20261201T000000Z.json", res), name) == expected


def test_a_target_the_run_did_not_measure_says_so():
    res = copy.deepcopy(FULL)
    res["assignment"] = [r for r in res["assignment"] if r["n"] != 1024]
    block = render(Path("bench-20261201T000000Z.json"), res)
    assert verdict(block, "assignment n = 1024") == "not measured"


@pytest.mark.parametrize("x, digits, text", [(2.0, 3, "2.00"), (1100.8, 3, "1100"), (0.2302, 3, "0.230"),
                                            (54.51, 3, "54.5"), (1e-12, 3, "1e-12"), (131072, 3, "131072"),
                                            (None, 3, "–"), (0.0107, 2, "0.011")])
def test_numbers_have_two_or_three_significant_figures(x, digits, text):
    assert sig(x, digits) == text


def test_readme_quotes_the_newest_committed_result_and_check_sees_a_newer_one(tmp_path, capsys):
    assert readme_block(RESULTS) in (ROOT / "README.md").read_text()
    assert readme_cli.main(["--check"]) == 0
    write(tmp_path, "bench-29991231T235959Z.json", FULL)
    assert readme_cli.main(["--check", "--results", str(tmp_path)]) == 1
    assert "performance block differs" in capsys.readouterr().err


def test_every_suite_section_has_a_renderer():
    assert set(SECTIONS) == set(suite.SECTIONS)
