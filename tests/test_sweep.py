"""Unit tests of otlmc.sweep: identity, store, failures, interrupts, backends, cost model, tables."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from otlmc import sweep
from otlmc.sweep.execute import _worker_env
from otlmc.sweep import (
    dispatch_order,
    fit_cost_model,
    make_cells,
    plan_sweep,
    read_csv,
    run_cells,
    run_sweep,
    size_axis,
    write_csv,
)


def _draws(params, streams):
    """A cheap cell whose numbers depend on every stream and the parameters."""
    a = streams["data"].normal(size=3)  # (3,)
    b = streams["net_a"].uniform()
    return {"m": float(a.sum() * params["w"] + b), "v": int(streams["eval"].integers(0, 10**9))}


def _strip(rows):
    """Rows without the wall-clock column, which is a measurement and may differ between runs."""
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]


class _FailOn:
    """Raises for one (w, replicate); picklable so loky workers can run it."""

    def __init__(self, w, rep, exc=RuntimeError):
        self.w, self.rep, self.exc = w, rep, exc

    def __call__(self, params, streams):
        if params["w"] == self.w and params["replicate"] == self.rep:
            raise self.exc(f"planted failure at w={self.w}")
        return _draws(params, streams)


GRID = {"w": [1, 2, 4]}


def test_make_cells_order_and_validation():
    cells = make_cells({"a": [1, 2], "b": ["x"]}, 2)
    assert cells == [{"a": 1, "b": "x", "replicate": 0}, {"a": 1, "b": "x", "replicate": 1},
                     {"a": 2, "b": "x", "replicate": 0}, {"a": 2, "b": "x", "replicate": 1}]
    with pytest.raises(ValueError, match="replicates == 0"):
        make_cells(GRID, 0)
    with pytest.raises(TypeError, match=r"grid\['a'\]"):
        make_cells({"a": "abc"}, 1)


@pytest.mark.parametrize("kw, match", [
    ({"backend": "spark"}, "backend='spark'.*'loky', 'dask'"),
    ({"n_jobs": 0}, "n_jobs == 0"),
    ({"threads_per_worker": 0}, "threads_per_worker == 0"),
    ({"on_error": "ignore"}, "on_error='ignore'"),
    ({"cost_key": "width"}, r"cost_key='width' is not a parameter of every cell; allowed: None or one of \['replicate', 'w'\]"),
])
def test_run_sweep_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        run_sweep(_draws, make_cells(GRID, 1), sim="t", root_seed=0, **kw)


def test_rows_independent_of_order_and_subset(tmp_path):
    cells = make_cells(GRID, 3)
    full = run_sweep(_draws, cells, sim="t", root_seed=5).rows
    rev = run_sweep(_draws, cells[::-1], sim="t", root_seed=5).rows[::-1]
    sub = run_sweep(_draws, cells[2:5], sim="t", root_seed=5).rows
    assert _strip(full) == _strip(rev)
    assert _strip(full[2:5]) == _strip(sub)
    other = run_sweep(_draws, cells, sim="t", root_seed=6).rows
    assert all(a["m"] != b["m"] for a, b in zip(full, other))


def test_row_seed_key_reproduces_the_cell_streams():
    from otlmc.rng import _words, named_streams

    (row,) = run_sweep(_draws, [{"w": 2, "replicate": 0}], sim="t", root_seed=7).rows
    ss = np.random.SeedSequence(entropy=[*_words(row["seed_key"]), row["root_seed"]])
    again = _draws({"w": 2, "replicate": 0}, named_streams(ss, ("data", "net_a", "eval")))
    assert (again["m"], again["v"]) == (row["m"], row["v"])


def test_loky_two_workers_identical_to_serial(tmp_path):
    cells = make_cells(GRID, 4)
    serial = run_sweep(_draws, cells, sim="t", root_seed=1)
    par = run_sweep(_draws, cells, sim="t", root_seed=1, n_jobs=2, store=tmp_path / "s")
    assert par.n_run == len(cells) and not par.failures
    assert _strip(serial.rows) == _strip(par.rows)


def test_dispatch_order_costliest_first():
    cells = make_cells({"w": [16, 2048, 256], "tag": ["a"]}, 2)
    # auto: "w" is the only numeric axis besides replicate; ties keep the grid order
    assert [(cells[i]["w"], cells[i]["replicate"]) for i in dispatch_order(cells)] == [
        (2048, 0), (2048, 1), (256, 0), (256, 1), (16, 0), (16, 1)]
    assert dispatch_order(cells, "replicate") == [1, 3, 5, 0, 2, 4]
    assert dispatch_order(make_cells({"tag": ["a", "b"]}, 2)) == [0, 1, 2, 3]  # nothing to go by
    assert dispatch_order([]) == []


def _where(params, streams):
    """Which process ran the cell, and what it inherited (for the local pool's tests)."""
    return {**_draws(params, streams), "pid": os.getpid(), "torch_loaded": "torch" in sys.modules,
            "pot_torch_env": os.environ.get("POT_BACKEND_DISABLE_PYTORCH", "unset")}


def test_two_jobs_run_here_and_in_a_lean_worker(tmp_path):
    cells = make_cells({"w": [1, 2, 4, 8]}, 3)
    serial = run_sweep(_draws, cells, sim="t", root_seed=5).rows
    rows = run_sweep(_where, cells, sim="t", root_seed=5, n_jobs=2, store=tmp_path).rows
    here = [r for r in rows if r["pid"] == os.getpid()]
    there = [r for r in rows if r["pid"] != os.getpid()]
    # this process computes from the start (the cheap end); a worker gets the first (costliest) cell
    assert here and there and {(r["w"], r["replicate"]) for r in there} >= {(8, 0)}
    assert [{k: r[k] for k in ("cell_id", "m", "v")} for r in rows] == [
        {k: r[k] for k in ("cell_id", "m", "v")} for r in serial]
    # workers import POT without PyTorch unless this process's environment says otherwise
    if "POT_BACKEND_DISABLE_PYTORCH" not in os.environ:
        assert all(r["pot_torch_env"] == "1" and not r["torch_loaded"] for r in there)


def test_worker_env_keeps_an_explicit_pot_setting(monkeypatch):
    monkeypatch.delenv("POT_BACKEND_DISABLE_PYTORCH", raising=False)
    env = _worker_env(3)
    assert env["POT_BACKEND_DISABLE_PYTORCH"] == "1" and env["OMP_NUM_THREADS"] == env["NUMBA_NUM_THREADS"] == "3"
    monkeypatch.setenv("POT_BACKEND_DISABLE_PYTORCH", "")  # empty: the user wants POT's torch backend
    assert "POT_BACKEND_DISABLE_PYTORCH" not in _worker_env(1)


def test_two_jobs_raise_keeps_finished_cells_and_recovers(tmp_path):
    cells = make_cells(GRID, 4)
    # this process computes the cheapest cells from the end: (1, 3), (1, 2), (1, 1), then (1, 0) raises
    with pytest.raises(RuntimeError, match="planted failure at w=1"):
        run_cells(_FailOn(1, 0), cells, sim="t", root_seed=0, n_jobs=2, store=tmp_path)
    again = run_sweep(_draws, cells, sim="t", root_seed=0, n_jobs=2, store=tmp_path)
    assert again.n_reused >= 3 and again.n_reused + again.n_run == len(cells) and not again.failures
    assert _strip(again.rows) == _strip(run_sweep(_draws, cells, sim="t", root_seed=0).rows)


def test_store_resume_and_fresh(tmp_path):
    cells = make_cells(GRID, 2)
    first = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path)
    assert (first.n_run, first.n_reused) == (6, 0)
    again = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path)
    assert (again.n_run, again.n_reused) == (0, 6)
    assert again.rows == first.rows  # reused rows are the stored ones, timings included
    fresh = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path, fresh=True)
    assert (fresh.n_run, fresh.n_reused) == (6, 0)
    assert _strip(fresh.rows) == _strip(first.rows)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left by a clean run


def test_corrupt_partial_and_foreign_records_are_redone(tmp_path):
    cells = make_cells(GRID, 2)
    ref = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path).rows
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 6
    # a half-written file (what a non-atomic writer leaves when killed), an empty one, a record
    # without the completion flag, and one from another otlmc version
    text = files[0].read_text()
    files[0].write_text(text[: len(text) // 2])
    files[1].write_text("")
    rec = json.loads(files[2].read_text())
    files[2].write_text(json.dumps({"row": rec["row"]}))
    rec = json.loads(files[3].read_text())
    rec["otlmc_version"] = "0.0.0-other"
    rec["row"]["m"] = 1e9  # would be visible if it were reused
    files[3].write_text(json.dumps(rec))
    (tmp_path / f".{files[4].name}.abc.tmp").write_text('{"complete": tr')  # a crashed writer's temp file
    res = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path)
    assert (res.n_run, res.n_reused) == (4, 2)
    assert _strip(res.rows) == _strip(ref)
    for f in files:
        assert json.loads(f.read_text())["complete"] is True


def test_failures_recorded_skipped_and_retried(tmp_path):
    cells = make_cells(GRID, 2)
    res = run_sweep(_FailOn(2, 1), cells, sim="t", root_seed=0, store=tmp_path, n_jobs=1)
    assert (res.n_run, res.n_failed, len(res.rows)) == (6, 1, 5)
    (f,) = res.failures
    assert f["params"] == {"w": 2, "replicate": 1}
    assert f["error"] == "RuntimeError: planted failure at w=2"
    assert "planted failure" in f["traceback"]
    stored = json.loads((tmp_path / f"{f['cell_id']}.json").read_text())
    assert stored["failed"] is True and stored["complete"] is False
    # a plain resume does not rerun the failed cell ...
    again = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path)
    assert (again.n_run, again.n_reused, again.n_failed) == (0, 5, 1)
    # ... --retry-failed reruns only it
    retry = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path, retry_failed=True)
    assert (retry.n_run, retry.n_reused, retry.n_failed) == (1, 5, 0)
    assert _strip(retry.rows) == _strip(run_sweep(_draws, cells, sim="t", root_seed=0).rows)
    # run_cells keeps raising by default (the behaviour sims written against it expect)
    with pytest.raises(RuntimeError, match="planted failure"):
        run_cells(_FailOn(1, 0), cells, sim="t", root_seed=0)


def test_failures_in_loky_workers(tmp_path):
    res = run_sweep(_FailOn(4, 0), make_cells(GRID, 2), sim="t", root_seed=0, n_jobs=2, store=tmp_path)
    assert [f["params"] for f in res.failures] == [{"w": 4, "replicate": 0}]
    assert len(res.rows) == 5


def test_interrupt_keeps_finished_cells(tmp_path):
    cells = make_cells(GRID, 2)  # serial order: (1,0) (1,1) (2,0) (2,1) ...
    res = run_sweep(_FailOn(2, 0, KeyboardInterrupt), cells, sim="t", root_seed=0, store=tmp_path)
    assert res.interrupted and len(res.rows) == 2 and res.n_failed == 0
    assert "INTERRUPTED" in res.summary()
    with pytest.raises(KeyboardInterrupt):
        run_cells(_FailOn(2, 0, KeyboardInterrupt), cells, sim="t", root_seed=0, store=tmp_path)
    done = run_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path)
    assert (done.n_reused, done.n_run) == (2, 4)
    assert _strip(done.rows) == _strip(run_sweep(_draws, cells, sim="t", root_seed=0).rows)


def _blas_threads(params, streams):
    from threadpoolctl import threadpool_info

    return {"max_threads": max([i["num_threads"] for i in threadpool_info()] or [1])}


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_per_worker_caps_blas(threads):
    rows = run_sweep(_blas_threads, make_cells({"w": [1]}, 2), sim="t", root_seed=0,
                     threads_per_worker=threads).rows
    assert all(r["max_threads"] <= threads for r in rows)
    if threads == 1:
        assert all(r["max_threads"] == 1 for r in rows)


def test_dask_local_cluster_matches_loky():
    pytest.importorskip("distributed")
    from sims.width_scaling import Config, cell

    from otlmc.runner import bind_cell

    cfg = Config(widths=(8, 16, 32), replicates=2, n_eval=50, t_points=5)
    cells = make_cells({"width": list(cfg.widths)}, cfg.replicates)
    fn = bind_cell(cell, cfg)
    loky = run_sweep(fn, cells, sim="width_scaling", root_seed=3, n_jobs=2)
    dask = run_sweep(fn, cells, sim="width_scaling", root_seed=3, n_jobs=2, backend="dask",
                     dask_processes=False)
    assert dask.n_run == len(cells) and not dask.failures
    assert len(loky.rows) == len(dask.rows) == 6
    assert _strip(loky.rows) == _strip(dask.rows)  # bit-identical floats, same order
    # an existing cluster reached by its scheduler address (the --scheduler-address path)
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = run_sweep(fn, cells[::-1], sim="width_scaling", root_seed=3, backend="dask",
                           scheduler_address=cluster.scheduler_address)
    assert _strip(remote.rows[::-1]) == _strip(loky.rows)


def test_cost_model_recovers_exact_law():
    n = np.array([16, 32, 64, 128, 256, 512], dtype=float)
    t = 0.004 + 2.5e-9 * n**3
    m = fit_cost_model(n, t, exponent=3.0, size_key="width")
    assert m.a == pytest.approx(0.004, rel=1e-8) and m.b == pytest.approx(2.5e-9, rel=1e-8)
    free = fit_cost_model(n, 0.01 + 1e-6 * n**2, exponent=None, size_key="width")
    assert free.exponent == pytest.approx(2.0, abs=1e-9)
    assert free.predict(1024.0) == pytest.approx(0.01 + 1e-6 * 1024**2, rel=1e-6)
    flat = fit_cost_model([5, 5], [1.0, 3.0], size_key="width")
    assert (flat.a, flat.b) == (2.0, 0.0)
    with pytest.raises(ValueError, match="finite and > 0"):
        fit_cost_model([1, 2], [0.1, -1.0], size_key="w")


def test_plan_counts_and_estimate(tmp_path):
    grid = {"w": [1, 2, 4]}
    cells = make_cells(grid, 2)
    run_sweep(_draws, cells[:4], sim="t", root_seed=0, store=tmp_path)
    # overwrite the measured timings with a known law so the estimate can be checked exactly
    for f in tmp_path.glob("*.json"):
        rec = json.loads(f.read_text())
        rec["row"]["cell_seconds"] = 0.5 + 0.25 * rec["row"]["w"] ** 3
        rec["sha256"] = sweep.record_digest(rec)  # re-sealed: an edit without it is rejected
        f.write_text(json.dumps(rec))
    plan = plan_sweep(_draws, cells, sim="t", root_seed=0, store=tmp_path, size_key="w", exponent=3.0)
    assert (plan.n_cells, plan.n_done, plan.n_failed, plan.n_todo) == (6, 4, 0, 2)
    assert plan.estimate_seconds == pytest.approx(2 * (0.5 + 0.25 * 64), rel=1e-8)
    assert "2 to run" in plan.describe()
    # nothing in the store: two cheap cells are timed, nothing is written
    empty = tmp_path / "empty"
    plan = plan_sweep(_draws, cells, sim="t", root_seed=0, store=empty, size_key="w")
    assert plan.n_todo == 6 and plan.model.n_samples == 2 and plan.estimate_seconds > 0
    assert not empty.exists()
    assert size_axis({"width": [16, 2048], "d": [5, 10], "dist": ["a", "b"]}) == "width"
    assert size_axis({"dist": ["a"]}) is None


def test_csv_and_parquet_round_trip(tmp_path):
    rows = run_sweep(_draws, make_cells(GRID, 2), sim="t", root_seed=0).rows
    write_csv(rows, tmp_path / "t.csv")
    assert read_csv(tmp_path / "t.csv") == rows  # floats written with repr: exact round trip
    pq = pytest.importorskip("pyarrow.parquet")
    assert sweep.write_parquet(rows, tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").to_pylist() == rows


def test_store_files_are_readable_by_others(tmp_path):
    run_sweep(_draws, make_cells({"w": [1]}, 1), sim="t", root_seed=0, store=tmp_path)
    (f,) = tmp_path.glob("*.json")
    umask = os.umask(0)
    os.umask(umask)
    assert f.stat().st_mode & 0o777 == 0o666 & ~umask  # what open() gives, not mkstemp's 0600
