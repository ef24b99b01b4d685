"""Paper rows reproduced: otlmc's value of every published number in otlmc.papers.ROWS (issue 15).

``--row`` picks a registry row; its experiment's networks are trained at every sweep point (Ferbach
et al. Fig. 2: the six peak learning rates; Entezari et al.: hidden widths; other rows: one point)
with ``--pairs`` pairs per point, aligned by each matching the row names (every alignment verified
to compute B's function to rounding, its check recorded), and measured in the paper's own
definition. Rows sharing networks are judged together (Fig. 2 with Fig. 1(b)'s dimensions; Zhou et
al.'s stitching table with LLFC). Outputs besides the table: ``papers_comparison.md`` / ``.csv``
(paper value, otlmc value, accepted interval, verdict per target) and a figure of both per target.

The defaults ARE the paper's setup (``--setup paper``: e.g. 784-512-512-512-10, 60k images, 50
epochs, 4 pairs x 6 rates for Fig. 2 — hours on 2 cores); ``--setup reduced`` takes the registry's
quick parameters (minutes); ``--quick`` is ``--setup tiny --data synthetic`` (seconds, no data).
Zero for ``--pairs``, ``--epochs``, ``--n-train`` and ``--points`` means "the row's own value".

    python -m sims.papers --row ferbach-fig2 --out runs_full/papers     # the full Fig. 2 run
    python -m sims.papers --row jordan-repair-mnist-mlp --setup reduced
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from otlmc.claims import Claim
from otlmc.declare import Sim, param
from otlmc.paper_runs import DATA, SCALES, comparison, experiment_rows, load_data, measured, pair_generators, \
    point_row, row_setup, run_pair, slots, target_name
from otlmc.papers import ROWS, compare, get_row
from otlmc.plots import plt
from otlmc.runner import run

ROW_KEYS = tuple(r.key for r in ROWS)


@dataclass(frozen=True)
class Config:
    row: str = param("ferbach-fig2", "registry row to run (otlmc.papers.ROWS)", choices=ROW_KEYS)
    setup: str = param("paper", "paper = the published setup; reduced = the registry's quick setup; tiny = seconds",
                       choices=SCALES, quick="tiny")
    data: str = param("mnist", "real MNIST (local cache, `python -m otlmc.datasets`) or a 784-d Gaussian mixture "
                      "(no download)", choices=DATA, quick="synthetic")
    points: tuple = param((0.0,), "sweep points: peak learning rates (Ferbach rows) or hidden widths (Entezari); "
                          "0 = the row's own sweep at this --setup", min=0.0, axis="point")
    pairs: int = param(0, "independently trained pairs per point (0 = the row's own)", min=0)
    epochs: int = param(0, "training epochs (0 = the row's own at this --setup)", min=0)
    n_train: int = param(0, "training images (0 = the row's own at this --setup)", min=0)
    n_test: int = param(10_000, "test images for every test-set quantity", min=1, max=10_000, quick=500)
    n_match: int = param(10_000, "training images feeding data-dependent matchings, dimensions and REPAIR's "
                         "statistics", min=2, quick=300)
    t_points: int = param(25, "t-grid of the barrier rows (Ainsworth: 25 in the paper)", min=3, quick=5)

    def __post_init__(self):  # resolve the "row's own sweep" sentinel, so that the grid is explicit;
        # a resolved sweep is an _Own tuple, re-resolved when --row or --setup changes (dataclasses.replace)
        if (self.points == (0.0,) or isinstance(self.points, _Own)) and self.row in ROW_KEYS and self.setup in SCALES:
            object.__setattr__(self, "points", _Own(row_setup(self.row, self.setup).points))


class _Own(tuple):
    """A sweep taken from the row's setup rather than from the command line."""


def setup_of(cfg: Config):
    """The row's setup at ``cfg.setup`` with the command line's overrides."""
    s = row_setup(cfg.row, cfg.setup)
    over = {k: getattr(cfg, k) for k in ("pairs", "epochs", "n_train") if getattr(cfg, k)}
    return replace(s, points=cfg.points, **over)


def check(cfg: Config):
    s = setup_of(cfg)
    if cfg.data == "mnist" and s.n_train > 60_000:
        raise ValueError(f"--n-train == {s.n_train}, MNIST has 60000 training images.")
    if cfg.row.startswith("entezari") and any(p != int(p) or p < 1 for p in cfg.points):
        raise ValueError(f"--points {cfg.points}: the Entezari row sweeps integer hidden widths >= 1.")
    if not cfg.row.startswith(("ferbach", "entezari")) and tuple(cfg.points) != (0.0,):
        raise ValueError(f"--points {cfg.points}: row {cfg.row} has no sweep (leave --points at 0).")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """Train and measure every pair of one sweep point; mean, spread and excess per quantity."""
    s, point = setup_of(cfg), float(params["point"])
    data = load_data(cfg.data, s.n_train, cfg.n_test, s.inputs)
    n_match = min(cfg.n_match, s.n_train)
    pairs = [run_pair(s, point, data, g, n_match=n_match, t_points=cfg.t_points)
             for g in pair_generators(streams["pairs"], s.pairs)]
    return point_row(cfg.row, point, pairs)


def claims(cfg: Config) -> list[Claim]:
    """Permutation checks; agreement with every paper value (paper setup on MNIST); Fig. 2 orderings."""
    paper = None if (cfg.setup, cfg.data) == ("paper", "mnist") else \
        f"the paper's values are for its setup (--setup paper --data mnist), not --setup {cfg.setup} --data {cfg.data}"
    out = [Claim("perm_check", "inequality", "every matching's permuted B computes B's function: hidden "
                 "pre-activations reindexed and outputs equal within the rounding bound (max ratio <= 1)",
                 "docs/theory.md §0 (permutation invariance); issue 15 item 4", "perm_check_max_ratio",
                 axis="point", bound="perm_check_bound")]
    for key in experiment_rows(cfg.row):
        r = get_row(key)
        for s in slots(key):
            per_point = target_name(key, s, 1.0) != s
            out.append(Claim(
                f"{key}:{s}", "inequality", f"otlmc's {s} (mean over pairs{'' if per_point else ', every point'}) "
                f"lies in the accepted interval around the paper's value ({r.obtained}; {r.reading})",
                f"{r.paper.short}, {r.where}", f"{s}:excess", axis="point", bound="accepted_excess_max",
                by=("point",) if per_point else (), where=lambda st, w=paper: w,
                keep=lambda t, c=f"{s}:excess": t.get(c) is not None, keep_why="no paper value at this point"))
    if cfg.row.startswith("ferbach"):
        mnist = None if cfg.data == "mnist" else "the paper's ordering is stated for MNIST"
        for a, b in (("wm_ours", "wm_naive"), ("am", "wm_ours")):
            out.append(Claim(f"ordering:{a}<{b}", "ordering", f"midpoint test loss after {a} below {b} (sign test "
                             "over the rates)", "Ferbach et al. 2024, §6 and Fig. 2", f"midpoint_loss/{a}",
                             axis="point", other=f"midpoint_loss/{b}", where=lambda st, w=mnist: w))
    return out


def tables(rows, cfg: Config) -> dict:
    csv_rows, md = comparison(experiment_rows(cfg.row), rows)
    head = (f"Paper rows, otlmc run `python -m sims.papers --row {cfg.row} --setup {cfg.setup} --data {cfg.data}` "
            f"({len(rows)} sweep points; values are means over pairs).\n\n")
    return {"comparison": csv_rows, "comparison.md": head + md}


def plot(rows, cfg: Config, verdicts):
    keys = experiment_rows(cfg.row)
    fig, axes = plt.subplots(1, len(keys), figsize=(7.5 * len(keys), 5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        r, m = get_row(key), measured(key, rows)
        v = compare(r, m)
        if not v.targets:  # a trend-only row: its measured values in registry order
            keys = [k for k in r.names if k in m]
            ax.plot(range(len(keys)), [m[k] for k in keys], "o-", color="C0", label="otlmc (mean over pairs)")
            ax.set_xticks(range(len(keys)), keys, rotation=75, fontsize=7)
            ax.set_title(f"{r.paper.short}, {r.where}\n{v.verdict}", fontsize=9)
            ax.legend(fontsize=7)
            continue
        names = [t.name for t in v.targets]
        x = np.arange(len(names))
        lo = np.array([t.low for t in v.targets])
        hi = np.array([t.high for t in v.targets])
        ax.vlines(x, lo, hi, color="0.5", lw=6, alpha=0.5, label="paper: accepted interval")
        pv = [t.paper for t in v.targets]
        ax.plot([i for i, p in zip(x, pv) if p is not None], [p for p in pv if p is not None], "k_", ms=14,
                label="paper value")
        got = [(i, t.measured, t.within) for i, t in zip(x, v.targets) if t.measured is not None]
        for i, val, ok in got:
            ax.plot(i, val, "o", color="C2" if ok else "C3", ms=6)
        ax.plot([], [], "o", color="C2", label="otlmc, inside")
        ax.plot([], [], "o", color="C3", label="otlmc, outside")
        if np.all(lo > 0) and hi.max() / lo.min() > 20:
            ax.set_yscale("log")
        ax.set_xticks(x, [n.replace("midpoint_loss/", "") for n in names], rotation=75, fontsize=7)
        ax.set_title(f"{r.paper.short}, {r.where}\n{v.verdict}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"paper vs otlmc ({cfg.row}, --setup {cfg.setup}, --data {cfg.data}; otlmc = mean over pairs)",
                 fontsize=10)
    return fig


SIM = Sim("papers", __doc__, Config, cell, claims=claims, plot=plot, check=check, tables=tables, streams=("pairs",))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
