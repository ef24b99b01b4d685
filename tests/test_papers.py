"""Paper-rows registry: contents, comparison verdicts, the Markdown table and the training recipes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from otlmc import papers as P
from otlmc.train import learning_rate


def _row(**kw):
    base = dict(key="toy", paper=P.ZHOU, where="Table 9", setup=P.Setup("a", "d", "o", "s", "1", "2", "3"),
                metric=P.Metric("q", "midpoint", "test", 25, "nats"),
                targets=(P.Target("x", 1.0), P.Target("y", 2.0), P.Target("r", low=0.0, high=0.1)),
                tolerance=P.Tolerance(rel=0.10), obtained="figure", reading="read off", checked_against="-",
                command="python -m sims.papers --row toy --setup paper")
    base.update(kw)
    return P.PaperRow(**base)


def test_registry_holds_the_issue_rows_with_their_numbers():
    keys = [r.key for r in P.ROWS]
    assert len(set(keys)) == len(keys)
    assert {"ferbach-fig2", "ferbach-fig1b-dims", "zhou-table1-stitching", "zhou-llfc", "jordan-repair-mnist-mlp",
            "ainsworth-mnist-mlp", "entezari-width"} <= set(keys)
    for r in P.ROWS:
        assert f"--row {r.key}" in r.command and r.command.endswith("--setup paper")
        assert r.quick_command.endswith("--setup reduced") and r.quick_params
        assert r.paper.link.startswith("https://arxiv.org/abs/")
    np.testing.assert_allclose(P.FERBACH_LRS, np.logspace(-4, -1, 6), rtol=1e-12)
    fig2 = P.get_row("ferbach-fig2").values
    assert len(fig2) == 24
    assert fig2["midpoint_loss/endpoints/lr=0.0001"] == 1.02 and fig2["midpoint_loss/wm_naive/lr=0.1"] == 0.085
    assert [fig2[P.ferbach_name("am", lr)] for lr in P.FERBACH_LRS] == [1.22, 0.48, 0.32, 0.18, 0.13, 0.101]
    assert P.get_row("zhou-table1-stitching").values == {"stitch_error/FC1": 2.69, "stitch_error/FC2": 2.11,
                                                        "stitch_error/FC3": 1.92}
    rep = P.get_row("jordan-repair-mnist-mlp").values
    assert (rep["acc/A"], rep["acc/B"], rep["loss/A"], rep["loss/B"]) == (96.51, 96.59, 0.232, 0.210)
    assert (rep["acc/midpoint"], rep["loss/midpoint"], rep["acc/midpoint_repair"], rep["loss/midpoint_repair"]) \
        == (71.68, 0.968, 82.96, 0.888)
    assert P.get_row("ferbach-fig1b-dims").values["dim/wm_naive"] == (200, 300)
    assert P.get_row("ainsworth-mnist-mlp").metric.grid == 25
    with pytest.raises(ValueError, match="key='nope'"):
        P.get_row("nope")


def test_value_verdicts_inside_outside_and_partial():
    row = _row()
    assert P.compare(row, None).verdict == "not run"
    assert P.compare(row, {}).verdict == "not run"
    assert P.compare(row, {"x": float("nan")}).verdict == "not run"
    v = P.compare(row, {"x": 1.09, "y": 1.85, "r": 0.05})
    assert v.verdict == "agrees within tolerance" and v.agrees is True
    assert P.compare(row, {"x": 1.1, "y": 2.2, "r": 0.0}).verdict == "agrees within tolerance"  # closed interval
    v = P.compare(row, {"x": 1.3, "y": 2.1, "r": 0.05})
    assert v.verdict == "differs by +30 % at x (beyond tolerance ±10 %)" and v.agrees is False
    # the worst target is named: y is off by 2.5 half-widths, x by 2
    assert "at y" in P.compare(row, {"x": 1.2, "y": 1.5}).verdict
    v = P.compare(row, {"r": 0.3})
    assert v.verdict == "differs by +0.2 nats above [0, 0.1] at r (beyond tolerance [0, 0.1]) (1 of 3 values measured)"
    assert P.compare(row, {"x": 1.0}).verdict == "agrees within tolerance (1 of 3 values measured)"
    abs_row = _row(targets=(P.Target("e", 2.69),), tolerance=P.Tolerance(abs=0.5), metric=P.Metric(
        "err", "stitched", "test", None, "%"))
    assert P.compare(abs_row, {"e": 3.5}).verdict == "differs by +0.81 pp at e (beyond tolerance ±0.5 pp)"
    with pytest.raises(ValueError, match="does not know"):
        P.compare(row, {"typo": 1.0})
    with pytest.raises(TypeError, match="PaperRow"):
        P.compare("ferbach-fig2", {})


def test_trend_verdicts():
    tr = P.Trend("falls", "decreasing", keys=("w1", "w2", "w3", "w4", "w5"), min_fraction=0.75, min_measured=3)
    row = _row(targets=(), trends=(tr,))
    assert P.compare(row, {"w1": 1.0, "w2": 0.7, "w3": 0.8, "w4": 0.3, "w5": 0.1}).verdict == "trend reproduced"
    assert P.compare(row, {"w1": 1.0, "w2": 1.2, "w3": 0.8, "w4": 0.9}).verdict == "trend not reproduced"  # 2 of 3
    assert P.compare(row, {"w1": 1.0, "w2": 0.9}).verdict == "not run"  # too few widths to judge
    assert P.compare(row, {"w1": 1.0, "w3": 0.5, "w5": 0.2}).verdict == "trend reproduced"  # gaps skipped
    pairs = P.Trend("a below b", "pairs", pairs=tuple((f"a{i}", f"b{i}") for i in range(6)), min_fraction=5 / 6)
    row = _row(targets=(), trends=(pairs,))
    five = {**{f"a{i}": 1.0 for i in range(6)}, **{f"b{i}": 2.0 for i in range(6)}, "b5": 0.5}
    assert P.compare(row, five).verdict == "trend reproduced"
    four = {**five, "b4": 0.5}
    assert P.compare(row, four).verdict == "trend not reproduced"
    both = _row(trends=(P.Trend("x<y", "pairs", pairs=(("x", "y"),)),))
    assert P.compare(both, {"x": 1.0, "y": 2.0}).verdict == \
        "agrees within tolerance (2 of 3 values measured); trend reproduced"


def test_registered_trends_on_the_papers_own_numbers():
    """The paper's own values must satisfy the trends the registry attributes to it."""
    row = P.get_row("ferbach-fig2")
    v = P.compare(row, row.values)
    assert v.verdict == "agrees within tolerance; trend reproduced; trend reproduced"
    rep = P.get_row("jordan-repair-mnist-mlp")
    assert P.compare(rep, rep.values).verdict.endswith("trend reproduced")


def test_comparison_table(tmp_path):
    stitch = P.get_row("zhou-table1-stitching")
    width = P.get_row("entezari-width")
    text = P.comparison_table([(stitch, {"stitch_error/FC1": 2.5, "stitch_error/FC2": 3.0}),
                               (width, {"barrier/width=8": 1.0, "barrier/width=16": 0.8, "barrier/width=32": 0.5}),
                               (P.get_row("ainsworth-mnist-mlp"), None)], path=tmp_path / "t.md")
    lines = text.strip().splitlines()
    assert lines[0].startswith("| row | source | quantity | paper | otlmc |")
    assert all(line.count("|") == 9 for line in lines)
    assert (tmp_path / "t.md").read_text() == text
    assert ("| zhou-table1-stitching | Zhou et al. 2023, Table 1 (App. B.4) (table) | stitch_error/FC1 | 2.69 "
            "| 2.5 |") in text
    assert "differs +0.89 pp" in text and "| not run |" in text and "trend reproduced" in text
    assert sum("ainsworth-mnist-mlp" in line for line in lines) == 1  # key on the first line only


def test_row_and_part_validation():
    with pytest.raises(ValueError, match="Tolerance.rel"):
        P.Tolerance(rel=-0.1)
    with pytest.raises(ValueError, match="rel > 0 or abs > 0"):
        P.Tolerance()
    with pytest.raises(ValueError, match="give a value"):
        P.Target("t", low=1.0)
    with pytest.raises(ValueError, match="low 2.0 > high 1.0"):
        P.Target("t", low=2.0, high=1.0)
    with pytest.raises(ValueError, match="kind="):
        P.Trend("t", "sideways", keys=("a", "b"))
    with pytest.raises(ValueError, match="obtained="):
        _row(obtained="guess")
    with pytest.raises(ValueError, match="repeated target"):
        _row(targets=(P.Target("x", 1.0), P.Target("x", 2.0)))


def test_training_recipes():
    cfg = P.train_config("ferbach-fig2", lr=P.FERBACH_LRS[2])
    assert (cfg.optimizer, cfg.momentum, cfg.batch_size, cfg.epochs, cfg.warmup_steps, cfg.schedule) == \
        ("sgd", 0.9, 500, 50, 10, "cosine")
    with pytest.raises(ValueError, match="needs lr"):
        P.train_config("ferbach-fig2")
    assert P.train_config("ferbach-fig2", lr=0.1, epochs=2).epochs == 2
    adam = P.train_config("ainsworth-mnist-mlp")
    assert (adam.optimizer, adam.lr, adam.batch_size, adam.epochs, adam.schedule) == \
        ("adam", 1e-3, 500, 100, "constant")
    with pytest.raises(ValueError, match="needs epochs"):
        P.train_config("entezari-width")
    assert P.train_config("entezari-width", epochs=3).batch_size == 64
    # REPAIR notebook: np.interp(step, [0, 5 E, 50 E], [0, 1, 0]) with E = 60 steps per epoch
    tri = P.train_config("jordan-repair-mnist-mlp")
    total = tri.total_steps(60_000)
    assert total == 3000
    steps = np.arange(total)
    ours = np.array([learning_rate(tri, int(s), total) for s in steps])
    ref = 0.05 * np.interp(steps, [0, 300, 3000], [0, 1, 0])
    np.testing.assert_allclose(ours[300:], ref[300:], rtol=1e-12, atol=1e-15)
    # warm-up: otlmc's lr (s + 1) / w runs one step ahead of PyTorch's LambdaLR (s / w)
    np.testing.assert_allclose(ours[:300], 0.05 * (steps[:300] + 1) / 300, rtol=1e-12)
    assert math.isclose(ours[299], 0.05)


def test_registry_commands_are_commands_of_sims_papers():
    """Each row's command (and its quick variant) parses with the sim's own flags into that row and setup."""
    import shlex
    from otlmc.cli import build_parser, config_from_args
    from sims import papers
    parser = build_parser(papers.SIM)
    for r in P.ROWS:
        for cmd, setup in ((r.command, "paper"), (r.quick_command, "reduced")):
            words = shlex.split(cmd)
            assert words[:3] == ["python", "-m", "sims.papers"], cmd
            cfg = config_from_args(papers.SIM, parser.parse_args(words[3:]))
            assert (cfg.row, cfg.setup) == (r.key, setup), cmd


def test_readme_paper_table_lists_every_row_and_only_full_size_runs():
    from otlmc.paper_report import paper_block
    meta = {"config": {"row": "zhou-table1-stitching", "setup": "paper", "data": "mnist"}, "wall_seconds": 600,
            "cpu_count": 2, "git": {"revision": "abcdef0123", "dirty": False}}
    rows = [{"point": 0.0, "stitch_error/FC1": 2.5, "stitch_error/FC2": 3.9}]
    block = paper_block([("figures/paper_rows/zhou", meta, rows)])
    for r in P.ROWS:
        assert f"`{r.key}`" in block
    assert "| stitch_error/FC1 | 2.69 | 2.5 |" in block and "| stitch_error/FC2 | 2.11 | 3.9 |" in block
    assert "differs" in block.split("| stitch_error/FC2 |")[1].split("\n")[0]  # 3.9 is outside 2.11 +- 0.5
    assert "`zhou-table1-stitching`: `python -m sims.papers --row zhou-table1-stitching --setup paper` — 1 sweep " \
           "point(s), 10 min on 2 cores, revision abcdef0" in block
    assert "`ferbach-fig2`: not run at full size" in block
    # a reduced run measures something else: it never fills the paper table
    reduced = {**meta, "config": {**meta["config"], "setup": "reduced"}}
    assert "| stitch_error/FC1 | 2.69 | — |" in paper_block([("runs/x", reduced, rows)])
    with pytest.raises(ValueError, match="covered by two full-size runs"):
        paper_block([("a", meta, rows), ("b", meta, rows)])
