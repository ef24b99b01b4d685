"""The sweep store verifies what it reads: a record that is not its cell's is recomputed and reported.

Reproducers (each ended with exit code 0 and a wrong table before the store verified records):
a cell file copied over another (a duplicated ``cell_id`` row and a missing cell), an edited
metric or parameter, a forged ``failed`` record (a row dropped), a partial file. Also: the run's
JSON is written before tabulating, any failed cell gives exit status 1, and the CLI refuses
``--seed -1`` / an out-of-range seed / duplicated widths with one line (exit 2).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from otlmc import sweep
from otlmc.runner import run
from otlmc.sweep import make_cells, read_csv, record_digest, run_sweep
from sims import width_scaling

GRID = {"w": [1, 2, 4]}


def _cell(params, streams):
    """A cheap cell whose numbers depend on the parameters and the streams."""
    return {"m": float(streams["data"].normal() + params["w"]), "k": int(streams["eval"].integers(0, 10**9))}


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows]


def _ids(cells):
    return [sweep.cell_id("t", p, 0) for p in cells]


@pytest.fixture
def stored(tmp_path):
    """A finished store of 6 cells and its reference rows."""
    cells = make_cells(GRID, 2)
    res = run_sweep(_cell, cells, sim="t", root_seed=0, store=tmp_path)
    assert res.n_run == 6 and not res.rejected
    return tmp_path, cells, _strip(res.rows)


def _rerun(store, cells):
    return run_sweep(_cell, cells, sim="t", root_seed=0, store=store)


def test_records_carry_identity_and_digest(stored):
    store, cells, _ = stored
    cid = _ids(cells)[0]
    rec = json.loads((store / f"{cid}.json").read_text())
    assert rec["cell_id"] == cid
    assert rec["identity"] == {"sim": "t", "context": {}, "params": cells[0], "root_seed": 0}
    assert rec["sha256"] == record_digest(rec) and len(rec["sha256"]) == 64
    res = _rerun(store, cells)
    assert (res.n_reused, res.n_run, res.rejected) == (6, 0, [])


def test_cell_file_copied_over_another_is_rejected_and_recomputed(stored):
    store, cells, ref = stored
    a, b = _ids(cells)[:2]
    shutil.copyfile(store / f"{a}.json", store / f"{b}.json")
    res = _rerun(store, cells)
    # before: rows had cell a twice and no cell b, exit 0
    assert [r["cell_id"] for r in res.rows] == _ids(cells)
    assert _strip(res.rows) == ref
    assert [(r["cell_id"], "not the cell of its file name" in r["reason"]) for r in res.rejected] == [(b, True)]
    assert (res.n_reused, res.n_run) == (5, 1)
    assert "1 rejected stored record(s) recomputed" in res.summary()
    assert _rerun(store, cells).rejected == []  # the recomputed record is whole again


@pytest.mark.parametrize("edit, reason", [
    (lambda rec: rec["row"].__setitem__("m", rec["row"]["m"] + 1.0), "digest"),  # edited metric
    (lambda rec: rec["row"].__setitem__("w", 3), "digest"),  # edited parameter in the row
    (lambda rec: rec["identity"]["params"].__setitem__("w", 3), "digest"),  # edited identity
    (lambda rec: rec.pop("sha256"), "no digest"),
])
def test_edited_record_is_rejected(stored, edit, reason):
    store, cells, ref = stored
    cid = _ids(cells)[2]
    f = store / f"{cid}.json"
    rec = json.loads(f.read_text())
    edit(rec)
    f.write_text(json.dumps(rec))
    res = _rerun(store, cells)
    assert _strip(res.rows) == ref  # the edit never reaches the table
    assert len(res.rejected) == 1 and res.rejected[0]["cell_id"] == cid and reason in res.rejected[0]["reason"]


def test_resealed_record_of_another_cell_is_rejected(stored):
    """Even with a recomputed digest, a row whose parameters are not its cell's is refused."""
    store, cells, ref = stored
    cid = _ids(cells)[2]
    f = store / f"{cid}.json"
    rec = json.loads(f.read_text())
    rec["row"]["w"] = 3
    rec["sha256"] = record_digest(rec)
    f.write_text(json.dumps(rec))
    res = _rerun(store, cells)
    assert _strip(res.rows) == ref and "parameter w=3" in res.rejected[0]["reason"]
    rec = json.loads(f.read_text())  # identity swapped wholesale for another cell's: id mismatch
    rec["identity"]["params"]["w"] = 4
    rec["sha256"] = record_digest(rec)
    f.write_text(json.dumps(rec))
    res = _rerun(store, cells)
    assert _strip(res.rows) == ref and "does not hash to its cell id" in res.rejected[0]["reason"]


def test_forged_failed_record_is_rejected(stored):
    store, cells, ref = stored
    cid = _ids(cells)[3]
    (store / f"{cid}.json").write_text(json.dumps(
        {"complete": False, "failed": True, "cell_id": cid, "error": "RuntimeError: forged",
         "params": cells[3], "otlmc_version": sweep.otlmc_version()}))
    res = _rerun(store, cells)
    # before: the cell counted as failed and its row was dropped
    assert res.n_failed == 0 and res.failures == [] and _strip(res.rows) == ref
    assert res.rejected[0]["cell_id"] == cid


@pytest.mark.parametrize("text, reason", [("{\"complete\": tr", "not valid JSON"), ("[1, 2]", "not a JSON object"),
                                          ("{}", "neither a finished")])
def test_partial_or_foreign_file_is_rejected(stored, text, reason):
    store, cells, ref = stored
    cid = _ids(cells)[4]
    (store / f"{cid}.json").write_text(text)
    res = _rerun(store, cells)
    assert _strip(res.rows) == ref and reason in res.rejected[0]["reason"]


def test_other_version_is_recomputed_without_rejection(stored):
    store, cells, ref = stored
    cid = _ids(cells)[5]
    f = store / f"{cid}.json"
    rec = json.loads(f.read_text())
    rec["otlmc_version"] = "0.0.0-other"
    rec["sha256"] = record_digest(rec)
    f.write_text(json.dumps(rec))
    res = _rerun(store, cells)
    assert (res.n_run, res.rejected) == (1, []) and _strip(res.rows) == ref


def test_genuine_failure_record_verifies_and_is_kept(tmp_path):
    def boom(params, streams):
        raise RuntimeError("planted")
    cells = make_cells({"w": [1]}, 1)
    assert run_sweep(boom, cells, sim="t", root_seed=0, store=tmp_path).n_failed == 1
    res = run_sweep(_cell, cells, sim="t", root_seed=0, store=tmp_path)
    assert (res.n_failed, res.n_run, res.rejected) == (1, 0, [])  # kept until --retry-failed


# ----------------------------------------------------------------------------- through the runner
ARGS = ["--widths", "16", "32", "--replicates", "2", "--n-eval", "20", "--t-points", "3", "--no-plot",
        "--no-progress"]
SIM = "width_scaling"


def test_runner_reports_rejected_records_and_tabulates_the_right_rows(tmp_path, capsys):
    assert run(width_scaling.SIM, [*ARGS, "--out", str(tmp_path)]) == 0
    ref = read_csv(tmp_path / f"{SIM}.csv")
    store = tmp_path / ".cells" / SIM
    files = sorted(store.glob("*.json"))
    shutil.copyfile(files[0], files[1])
    capsys.readouterr()
    assert run(width_scaling.SIM, [*ARGS, "--out", str(tmp_path)]) == 0
    rows = read_csv(tmp_path / f"{SIM}.csv")
    assert len({r["cell_id"] for r in rows}) == len(rows) == len(ref)
    assert [{k: v for k, v in r.items() if k != "cell_seconds"} for r in rows] == \
        [{k: v for k, v in r.items() if k != "cell_seconds"} for r in ref]
    meta = json.loads((tmp_path / f"{SIM}.json").read_text())
    assert [r["cell_id"] for r in meta["rejected_records"]] == [files[1].stem]
    assert f"rejected stored record {files[1]}" in capsys.readouterr().err


def test_every_cell_failing_exits_1_and_says_the_cells_failed(tmp_path, capsys):
    # 10^12 evaluation inputs cannot be allocated: every cell raises MemoryError at once
    rc = run(width_scaling.SIM, [*ARGS, "--n-eval", str(10**12), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "4 cell(s) failed" in err and "MemoryError" in err
    assert "distinct widths" not in err
    meta = json.loads((tmp_path / f"{SIM}.json").read_text())
    assert meta["cells_failed"] == 4 and not (tmp_path / f"{SIM}.csv").exists()


def _one_cell_fails(cfg, params, streams):
    if params["width"] == 32 and params["replicate"] == 1:
        raise RuntimeError("planted failure")
    return width_scaling.cell(cfg, params, streams)


def test_one_failed_cell_makes_exit_status_1(tmp_path, capsys):
    sim = dataclasses.replace(width_scaling.SIM, cell=_one_cell_fails)
    assert run(sim, [*ARGS, "--out", str(tmp_path)]) == 1
    assert "1 cell(s) failed" in capsys.readouterr().err
    assert not (tmp_path / f"{SIM}_fits.csv").exists()  # no verdicts from an incomplete grid
    assert run(sim, [*ARGS, "--out", str(tmp_path)]) == 1  # still failed on resume, still 1


def _tables_crash(rows, cfg):
    raise RuntimeError("planted tabulation failure")


def test_json_is_written_when_tabulation_crashes(tmp_path):
    sim = dataclasses.replace(width_scaling.SIM, tables=_tables_crash)
    with pytest.raises(RuntimeError, match="planted"):
        run(sim, [*ARGS, "--out", str(tmp_path)])
    meta = json.loads((tmp_path / f"{SIM}.json").read_text())
    assert meta["n_rows"] == 4 and meta["cells_failed"] == 0


def _corrupt_row(cfg, params, streams):
    row = width_scaling.cell(cfg, params, streams)
    row["w2_layer1"] = "corrupted"  # a value no fit can read
    return row


@pytest.mark.parametrize("extra, claim, why", [
    ([], "w2_rate", "column 'w2_layer1' is missing or not numeric"),
    (["--replicates", "1"], "w2_rate", "a bootstrap interval needs replicates"),  # was a traceback
    (["--t-points", "2"], "barrier_rate", "y must be positive"),  # barrier 0 on a 2-point grid: was a traceback
])
def test_unjudgeable_table_gives_no_verdict_not_a_traceback(tmp_path, extra, claim, why):
    sim = dataclasses.replace(width_scaling.SIM, cell=_corrupt_row) if not extra else width_scaling.SIM
    assert run(sim, [*ARGS, *extra, "--out", str(tmp_path)]) == 0
    fits = {r["claim"]: r for r in read_csv(tmp_path / f"{SIM}_fits.csv")}
    assert fits[claim]["verdict"] == "no verdict" and why in fits[claim]["detail"]


@pytest.mark.parametrize("flags, msg", [
    (["--seed", "-1"], "--seed == -1, must be an integer in 0 .."),
    (["--seed", str(2**64)], f"--seed == {2**64}, must be an integer in 0 .."),
    (["--widths", "16", "16"], "--widths lists [16] more than once"),
    (["--widths", "16"], "needs at least two distinct widths"),
    (["--seed", "x"], "--seed: invalid int value"),
])
def test_bad_cli_values_exit_2_with_one_line(tmp_path, capsys, flags, msg):
    assert run(width_scaling.SIM, [*ARGS, "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and msg in err, err
    assert not (tmp_path / f"{SIM}.json").exists()
