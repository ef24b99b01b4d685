"""Every declared sim, through the one runner: help, quick run, same table for any --n-jobs, bad flags,
and one number per claim wherever it is quoted (verdict file, figure legend, report, README)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.summary import readme_block as performance_block
from otlmc.claims import evaluate_all
from otlmc.declare import fields, quick_config, validate
from otlmc.plots import fit_label
from otlmc.report import build, claims_table, measured, read_verdicts
from otlmc.runner import config_from_meta, run
from otlmc.tables import read_csv
from sims import SIMS, load

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"


def _table(out: Path, name: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "cell_seconds"} for r in read_csv(out / f"{name}.csv")]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Each sim's --quick run with one and with two workers (computed once for the module)."""
    cache = {}

    def get(name: str, n_jobs: int) -> Path:
        if (name, n_jobs) not in cache:
            out = tmp_path_factory.mktemp(f"{name}_{n_jobs}")
            assert run(load(name), ["--quick", "--no-progress", "--n-jobs", str(n_jobs), "--out", str(out)]) == 0
            cache[name, n_jobs] = out
        return cache[name, n_jobs]

    return get


@pytest.mark.parametrize("name", SIMS)
def test_help_names_every_field_once_with_its_default(name, capsys):
    sim = load(name)
    with pytest.raises(SystemExit) as exc:
        run(sim, ["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: python -m sims.{name}" in text
    for f in fields(sim.config):
        flag = "--" + f.name.replace("_", "-")
        assert text.count(flag + " ") + text.count(flag + "\n") >= 1, flag


@pytest.mark.parametrize("name", SIMS)
def test_quick_run_is_the_same_table_for_one_and_two_workers(name, quick_runs):
    one, two = quick_runs(name, 1), quick_runs(name, 2)
    assert _table(one, name) == _table(two, name)
    assert read_verdicts(one, name) == read_verdicts(two, name)
    meta = json.loads((one / f"{name}.json").read_text())
    assert meta["sim"] == name and meta["cells_failed"] == 0


@pytest.mark.parametrize("name", SIMS)
def test_quick_run_verdicts_are_quoted_unchanged(name, quick_runs, tmp_path):
    """The figure legend and the report quote the numbers of <sim>_fits.csv, never a refit."""
    out = quick_runs(name, 1)
    verdicts = read_verdicts(out, name)
    sim = load(name)
    cfg = config_from_meta(sim, json.loads((out / f"{name}.json").read_text()))
    if sim.plot is not None:
        fig = sim.plot(read_csv(out / f"{name}.csv"), cfg, verdicts)
        legend = "\n".join(t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())
        for line in legend.splitlines():
            if "(fit $n^{" in line:
                assert any(fit_label(verdicts, v["metric"], v["setting"]).strip() in line for v in verdicts), line
    md, _ = build([out], tmp_path)
    text = md.read_text()
    for v in verdicts:
        assert measured(v).replace("|", "/") in text


def _bad_flags(sim):
    """One bad value per declared range or choice, and one unknown flag."""
    cases = [["--no-such-flag", "1"]]
    for f in fields(sim.config):
        flag, m = "--" + f.name.replace("_", "-"), f.metadata
        if m["min"] is not None and not isinstance(m["min"], bool):
            cases.append([flag, str(m["min"] - 1)])
        if m["choices"]:
            cases.append([flag, "no-such-choice"])
    return cases


@pytest.mark.parametrize("name", SIMS)
def test_bad_flags_end_in_one_line_naming_the_flag(name, tmp_path, capsys):
    """In process: a traceback would surface as an exception here, so exit 2 + one line is the whole contract."""
    sim = load(name)
    for argv in _bad_flags(sim) + [["--seed", "-1"], ["--n-jobs", "0"]]:
        assert run(sim, [*argv, "--quick", "--out", str(tmp_path)]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and argv[0] in err, (argv, err)
    assert not (tmp_path / f"{name}.csv").exists()


# every committed run: figures/<sim>.*, the further paper rows in figures/paper_rows/<experiment>/ and the
# large-width runs in figures/large/<sim>.*
COMMITTED = [(name, FIGURES) for name in SIMS] + [
    ("papers", d) for d in sorted((FIGURES / "paper_rows").glob("*")) if (d / "papers.json").is_file()] + [
    (name, FIGURES / "large") for name in SIMS if (FIGURES / "large" / f"{name}.json").is_file()]


@pytest.mark.parametrize("name, runs", COMMITTED, ids=[f"{n}:{r.relative_to(ROOT)}" for n, r in COMMITTED])
def test_committed_verdicts_are_what_the_claims_give_on_the_committed_table(name, runs):
    """<run>/<sim>_fits.csv is exactly the claims engine's output on <run>/<sim>.csv."""
    if not (runs / f"{name}.json").is_file():
        pytest.skip(f"no committed run of {name}")
    sim = load(name)
    meta = json.loads((runs / f"{name}.json").read_text())
    cfg = config_from_meta(sim, meta)
    fresh = [v.row() for v in evaluate_all(sim.claims(cfg), read_csv(runs / f"{name}.csv"), sim=name,
                                           root_seed=meta["root_seed"])]
    stored = read_verdicts(runs, name)
    assert len(fresh) == len(stored)
    for a, b in zip(fresh, stored):
        for k, v in a.items():
            w = b[k]
            if isinstance(v, float):
                assert w == pytest.approx(v, rel=1e-12, abs=1e-15), (k, a["claim"], a["setting"])
            else:  # the CSV reads an empty string back as None
                assert (None if v in ("", None) else str(v)) == (None if w in ("", None) else str(w)), k


def test_readme_theorem_table_is_generated_from_the_committed_verdicts():
    proc = subprocess.run([sys.executable, "-m", "sims.readme", "--check"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    readme = (ROOT / "README.md").read_text()
    for name in SIMS:
        for row in claims_table(read_verdicts(FIGURES, name), with_sim=False)[2:]:
            assert row in readme
    assert performance_block(ROOT / "benchmarks" / "results") in readme  # --check covers the performance block


def test_every_flag_name_means_one_thing_across_sims():
    seen: dict[str, tuple[str, str]] = {}
    for name in SIMS:
        for f in fields(load(name).config):
            kind = (type(f.default).__name__, f.metadata["help"].split(" (")[0])
            if f.name in seen and seen[f.name][0] != kind[0]:
                pytest.fail(f"--{f.name} is a {kind[0]} in {name} but a {seen[f.name][0]} elsewhere")
            seen.setdefault(f.name, kind)


def test_out_under_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "sims.width_scaling", "--quick", "--out", str(blocker / "sub")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "--out" in proc.stderr and "Traceback" not in proc.stderr


def test_config_fields_are_all_flags_and_quick_values_validate():
    for name in SIMS:
        cfg = quick_config(load(name).config)
        validate(cfg)
        assert dataclasses.is_dataclass(cfg)
