"""End-to-end checks of the sweep machinery through a real sim (``sims.width_scaling``, tiny grids).

SIGKILL at several points then resume == uninterrupted run; concurrent writers on one store;
CLI flags (--dry-run, --plot-only, --fresh, adaptive replication) and the provenance JSON.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from otlmc.cli import build_parser, config_from_args
from otlmc.declare import context_of
from otlmc.runner import bind_cell, run
from otlmc.sweep import make_cells, read_csv, run_sweep
from sims import width_scaling

ROOT = Path(__file__).resolve().parents[1]
# Cells of ~0.15 s each (two hidden layers of 512-768: two matchings and the general path; a
# one-hidden-layer cell takes the fused path and finishes the grid before a signal lands): slow
# enough to kill between cells, fast enough for the suite.
ARGS = ["--widths", "512", "640", "768", "--depth", "2", "--replicates", "3", "--n-eval", "100", "--t-points", "3",
        "--no-progress", "--no-plot"]  # figures are checked by the smoke and --plot-only tests
N_CELLS = 9
SIM = "width_scaling"


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]


def _main(out, *extra):
    assert run(width_scaling.SIM, [*ARGS, "--out", str(out), *extra]) == 0
    return read_csv(Path(out) / f"{SIM}.csv")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's table."""
    out = tmp_path_factory.mktemp("ref")
    return _strip(_main(out))


def _finished(store: Path) -> int:
    return len([f for f in store.glob("*.json") if not f.name.startswith(".")]) if store.is_dir() else 0


def _kill_after(out: Path, k: int, timeout: float = 120.0) -> int:
    """Start the sim in a subprocess, SIGKILL it once ``k`` cells are stored; cells stored then."""
    store = out / ".cells" / SIM
    proc = subprocess.Popen([sys.executable, "-m", "sims.width_scaling", *ARGS, "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while _finished(store) < k and proc.poll() is None:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"no {k} cells after {timeout} s")
            time.sleep(0.002)
        assert proc.poll() is None, "the run finished before the kill point; make cells slower"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return _finished(store)


def _kill_resume_compare(tmp_path, k, reference):
    out = tmp_path / f"kill{k}"
    stored = _kill_after(out, k)
    assert k <= stored < N_CELLS
    assert not (out / f"{SIM}.csv").exists()  # killed before any table was written
    rows = _main(out)
    meta = json.loads((out / f"{SIM}.json").read_text())
    assert meta["cells_reused"] == stored and meta["cells_run"] == N_CELLS - stored
    assert len({r["cell_id"] for r in rows}) == len(rows) == N_CELLS  # none lost, none duplicated
    assert _strip(rows) == reference  # none half-written: every number equal to the clean run
    return stored


@pytest.mark.parametrize("k", [1, 5])
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, k, reference):
    _kill_resume_compare(tmp_path, k, reference)


@pytest.mark.slow
def test_sigkill_many_points_and_repeated_kills(tmp_path, reference):
    """Every kill point 1..8, then one store killed three times in a row before resuming."""
    for k in range(1, N_CELLS):
        _kill_resume_compare(tmp_path, k, reference)
    out = tmp_path / "repeated"
    for k in (2, 4, 7):
        _kill_after(out, k)
    assert _strip(_main(out)) == reference


_WRITER = """
import sys
from otlmc.sweep import make_cells, run_sweep
from otlmc.declare import context_of
from otlmc.runner import bind_cell
from sims.width_scaling import Config, cell
cfg = Config(widths=(512, 640, 768), depth=2, replicates=3, n_eval=100, t_points=3)
cells = make_cells({"width": list(cfg.widths)}, 3)
context = context_of(cfg)
order = cells if sys.argv[2] == "fwd" else cells[::-1]
res = run_sweep(bind_cell(cell, cfg), order, sim="width_scaling", root_seed=0, context=context,
                store=sys.argv[1], on_error="raise")
print(res.n_run)
"""


def test_concurrent_writers_on_one_store(tmp_path, reference):
    """Two processes fill one store at once (one in grid order, one reversed); then the CLI
    only reads it. The writers use the same cell identity as the CLI (same context)."""
    store = tmp_path / ".cells" / SIM
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(store), order], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for order in ("fwd", "rev")]
    runs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        runs.append(int(out))
    assert sum(runs) >= N_CELLS  # every cell computed at least once, some by several writers
    recs = [json.loads(f.read_text()) for f in store.glob("*.json")]
    assert len(recs) == N_CELLS and all(r["complete"] is True for r in recs)
    assert not list(store.glob(".*.tmp"))
    rows = _main(tmp_path)
    meta = json.loads((tmp_path / f"{SIM}.json").read_text())
    assert (meta["cells_run"], meta["cells_reused"]) == (0, N_CELLS)
    assert _strip(rows) == reference


def test_quick_smoke_and_provenance(tmp_path):
    assert run(width_scaling.SIM, ["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for ext in ("csv", "json", "png", "pdf", "failures.json"):
        assert (tmp_path / f"{SIM}.{ext}").is_file(), ext
    rows = read_csv(tmp_path / f"{SIM}.csv")
    meta = json.loads((tmp_path / f"{SIM}.json").read_text())
    assert len(rows) == meta["n_rows"] == meta["n_cells"] == 12
    w = np.array([r["w2_layer1"] for r in rows])
    assert np.isfinite(w).all() and (w > 0).all()
    assert all(r["w2_layer1"] < r["w2_identity_layer1"] for r in rows)  # matching never costs more
    for key in ("backend", "git", "wall_seconds", "versions", "host", "root_seed", "config_class",
                "started_utc", "otlmc_version"):
        assert key in meta, key
    assert meta["backend"] == "loky" and meta["wall_seconds"] > 0
    assert set(meta["git"]) == {"revision", "dirty"}
    assert meta["config_class"] == "sims.width_scaling:Config"
    assert all(len(r["cell_id"]) == 16 and r["root_seed"] == 0 for r in rows)
    if meta["versions"].get("pyarrow"):
        import pyarrow.parquet as pq

        assert pq.read_table(tmp_path / f"{SIM}.parquet").to_pylist() == rows


def test_dry_run_counts_and_writes_nothing(tmp_path, capsys):
    assert run(width_scaling.SIM, [*ARGS, "--out", str(tmp_path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"cells: {N_CELLS} total, 0 finished in the store, 0 failed earlier, {N_CELLS} to run" in text
    assert "estimated time" in text
    assert not (tmp_path / f"{SIM}.csv").exists() and _finished(tmp_path / ".cells" / SIM) == 0
    _main(tmp_path, "--widths", "512", "640")  # finish the 6 cells of widths 512 and 640 only
    assert (tmp_path / f"{SIM}.csv").exists() and not (tmp_path / f"{SIM}.png").exists()  # --no-plot
    assert run(width_scaling.SIM, [*ARGS, "--out", str(tmp_path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert f"6 finished in the store, 0 failed earlier, 3 to run" in text
    assert "(6 cells measured, stored records)" in text


def test_plot_only_reproduces_figure(tmp_path, capsys):
    import matplotlib.image as mpimg

    assert run(width_scaling.SIM, ["--quick", "--out", str(tmp_path), "--no-progress", "--d", "4"]) == 0
    png = tmp_path / f"{SIM}.png"
    before = mpimg.imread(png)
    png.unlink()
    (tmp_path / f"{SIM}.pdf").unlink()
    # the command line's config differs (no --quick, d=5): the stored JSON must win
    assert run(width_scaling.SIM, ["--plot-only", str(tmp_path)]) == 0
    after = mpimg.imread(png)
    assert before.shape == after.shape
    assert np.array_equal(before, after)  # pixel-identical: table + JSON are enough
    assert run(width_scaling.SIM, ["--plot-only", str(tmp_path / "missing")]) == 2
    assert "no width_scaling.csv there" in capsys.readouterr().err


def test_resume_fresh_flags():
    parse = build_parser(width_scaling.SIM).parse_args
    assert parse([]).fresh is False and parse(["--fresh"]).fresh is True
    a = parse(["--backend", "dask", "--scheduler-address", "tcp://h:8786", "--retry-failed"])
    assert (a.backend, a.scheduler_address, a.retry_failed, a.threads_per_worker) == ("dask", "tcp://h:8786", True, 1)


@pytest.mark.parametrize("flags, msg", [
    (["--n-jobs", "0"], "--n-jobs == 0, must be >= 1 or -1"),
    (["--threads-per-worker", "0"], "--threads-per-worker == 0, must be >= 1"),
    (["--scheduler-address", "tcp://h:1"], "--scheduler-address needs --backend dask"),
    (["--adaptive-metric", "w2_layer1", "--target-rel-ci", "0"], "--target-rel-ci == 0.0, must be > 0"),
    (["--adaptive-metric", "w2_layer1", "--max-replicates", "2"], "--max-replicates == 2, must be >= --replicates"),
])
def test_bad_execution_flags_exit_with_message(tmp_path, capsys, flags, msg):
    assert run(width_scaling.SIM, ["--quick", "--out", str(tmp_path), "--no-progress", "--no-plot", *flags]) == 2
    assert msg in capsys.readouterr().err


def test_adaptive_replication(tmp_path):
    """Replicates grow at points whose CI is too wide; existing replicates keep their numbers."""
    base = ["--quick", "--no-progress", "--widths", "16", "64"]
    assert run(width_scaling.SIM, [*base, "--out", str(tmp_path / "a"), "--adaptive-metric", "w2_layer1",
                               "--target-rel-ci", "0.03", "--max-replicates", "12"]) == 0
    rows = read_csv(tmp_path / "a" / f"{SIM}.csv")
    meta = json.loads((tmp_path / "a" / f"{SIM}.json").read_text())
    counts = {w: sum(r["width"] == w for r in rows) for w in (16, 64)}
    assert counts == {d["width"]: n for d, n in meta["adaptive"]["replicates_per_point"]}
    from scipy.stats import t as student_t

    for w, n in counts.items():
        x = np.array([r["w2_layer1"] for r in rows if r["width"] == w])
        assert sorted(r["replicate"] for r in rows if r["width"] == w) == list(range(n))
        half = student_t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)
        assert n == 12 or half <= 0.03 * x.mean()  # target met, or the cap reached
        assert n in (3, 6, 12)
    assert max(counts.values()) > 3  # with 3 replicates the relative CI at width 16 is ~0.1
    # the first 3 replicates are the cells a plain run computes: same numbers
    cfg = config_from_args(width_scaling.SIM, build_parser(width_scaling.SIM).parse_args(base))
    grid = {"width": list(cfg.widths)}
    plain = run_sweep(bind_cell(width_scaling.cell, cfg), make_cells(grid, cfg.replicates), sim=SIM,
                      root_seed=0, context=context_of(cfg)).rows
    assert len(plain) == 6
    key = lambda r: (r["width"], r["replicate"])  # noqa: E731
    adaptive = {key(r): r for r in _strip(rows)}
    assert all(adaptive[key(r)] == r for r in _strip(plain))


@pytest.mark.parametrize("n_jobs", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_ctrl_c_exits_130_and_keeps_finished_cells(tmp_path, n_jobs, reference):
    store = tmp_path / ".cells" / SIM
    # a child inherits an ignored SIGINT (Python then installs no KeyboardInterrupt handler); earlier
    # tests in the same pytest process can leave it ignored, so the child starts with the default
    proc = subprocess.Popen([sys.executable, "-m", "sims.width_scaling", *ARGS, "--out", str(tmp_path),
                             "--n-jobs", n_jobs], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    t0 = time.monotonic()
    while _finished(store) < 2 and proc.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.002)
    if proc.poll() is not None:  # say why: a crash of the child reads differently from a fast run
        out, err = proc.communicate()
        pytest.fail(f"the run ended (exit {proc.returncode}) before Ctrl-C with {_finished(store)} of "
                    f"{N_CELLS} cells stored; stderr tail:\n{err[-3000:]}")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "INTERRUPTED" in err and "rerun the same command to resume" in err
    kept = _finished(store)
    assert 2 <= kept < N_CELLS and not (tmp_path / f"{SIM}.csv").exists()
    rows = _main(tmp_path)
    assert json.loads((tmp_path / f"{SIM}.json").read_text())["cells_reused"] >= kept  # a loky worker may finish one more
    assert _strip(rows) == reference
