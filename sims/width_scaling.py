"""Width scaling of weight matching for random MLPs (Ferbach et al. 2024, Sections 4-5).

Two networks with i.i.d. rows are sampled per width and replicate; B is aligned to A by layer-wise
weight matching (Eq. 2). Per cell the table records, with and without alignment, the per-layer
matching cost (``w2_layer1`` = W_2 between the row measures of layer 1), the output deviation of
the mean network ``max_t RMS_x |f_{M_t} - ((1-t) f_A + t f_B~)|`` and the barrier of the squared
deviation. With one hidden layer the rows live in R^d and the aligned curves follow ``n^{-1/d}``
(docs/theory.md §1, §4); the unaligned ones stay flat.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.barrier import evaluate_path, mse_barrier_bound, t_grid
from otlmc.theory import is_clean_rate
from otlmc.claims import Claim
from otlmc.declare import Sim, param
from otlmc.fused_path import path_summaries
from otlmc.matching import identity_matching, weight_matching
from otlmc.networks import ACTIVATIONS, forward, permute
from otlmc.plots import loglog_panel, pairs_caption, plt
from otlmc.runner import run
from otlmc.sampling import WEIGHT_LAWS, sample_inputs, sample_mlp

FERBACH = "Ferbach et al. 2024"


@dataclass(frozen=True)
class Config:
    d: int = param(5, "input dimension m_0 (rows of layer 1 live in R^d)", min=1)
    depth: int = param(1, "number of hidden layers L", min=1)
    n_out: int = param(10, "output width", min=1)
    widths: tuple = param((16, 32, 64, 128, 256, 512, 1024, 2048), "hidden widths to sweep", min=1,
                          quick=(16, 32, 64, 128), axis="width")
    replicates: int = param(10, "pairs of networks per width", min=1, quick=3)
    dist: str = param("gaussian", "law of the weight entries", choices=WEIGHT_LAWS)
    k: int = param(2, "dist=lowrank: number of large eigenvalues", min=1)
    eta: float = param(0.0, "dist=lowrank: relative size of the small eigenvalues", min=0.0)
    activation: str = param("relu", "hidden activation", choices=ACTIVATIONS)
    n_eval: int = param(1000, "Gaussian evaluation inputs", min=1, quick=200)
    t_points: int = param(25, "points of the t-grid", min=2, quick=9)
    fit_min_width: int = param(64, "smallest width in the rate fits", min=1, quick=16, identity=False)
    teacher: bool = param(False, "also measure the aligned barrier of the squared error to an independent random "
                          "teacher's outputs (L_A != L_B: the barrier's baseline matters)", identity="if-changed")


def _law(cfg: Config) -> dict:
    law = dict(law=cfg.dist, activation=cfg.activation)
    return {**law, "k": cfg.k, "eta": cfg.eta} if cfg.dist == "lowrank" else law


def sample_pair(cfg: Config, n: int, streams: dict):
    """Networks A and B of width ``n`` and the evaluation inputs ``(n_eval, d)`` of one cell."""
    arch = (cfg.d, *([n] * cfg.depth), cfg.n_out)
    X = sample_inputs(cfg.n_eval, cfg.d, rng=streams["eval"])  # (n_eval, d)
    return (sample_mlp(arch, rng=streams["net_a"], **_law(cfg)), sample_mlp(arch, rng=streams["net_b"], **_law(cfg)),
            X)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One width, one replicate: match, then measure the path with and without alignment."""
    net_a, net_b, X = sample_pair(cfg, params["width"], streams)
    arch, law = net_a.widths, _law(cfg)
    ts = t_grid(cfg.t_points)
    matched, unmatched = weight_matching(net_a, net_b), identity_matching(net_a, net_b)
    row = {}
    for l, (c, c0) in enumerate(zip(matched.costs, unmatched.costs), start=1):
        row[f"w2_layer{l}"] = float(np.sqrt(c))
        row[f"w2_identity_layer{l}"] = float(np.sqrt(c0))
    aligned_b = permute(net_b, matched.perms)
    if cfg.depth == 1:  # both paths in one fused pass (equal to evaluate_path to 1e-12)
        row.update(path_summaries(net_a, net_b, X, matched.perms[0], ts=ts))
    else:
        row.update(evaluate_path(net_a, aligned_b, X, ts=ts).summary("aligned_"))
        row.update(evaluate_path(net_a, net_b, X, ts=ts).summary("unaligned_"))
    if cfg.teacher:
        y = forward(sample_mlp(arch, rng=streams["eval"], **law), X)  # teacher drawn after X: (n_eval, n_out)
        path = evaluate_path(net_a, aligned_b, X, y, ts=ts, loss="mse")
        row["teacher_barrier"] = path.barriers["barrier"]
        row["teacher_barrier_bound"] = float(mse_barrier_bound(forward(net_a, X), forward(aligned_b, X), y,
                                                               ts, path.deviation_rms).max())
    return row


def check(cfg: Config) -> None:
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: needs at least two distinct widths to fit a rate.")


def claims(cfg: Config) -> list[Claim]:
    """Rates of layer-1 W_2, the aligned deviation and barrier; flat unaligned curves."""
    n_min = min(cfg.fit_min_width, sorted(cfg.widths)[-2])
    iid = cfg.dist in ("gaussian", "uniform")
    why = (None if iid and is_clean_rate(cfg.d) else
           f"no clean n^(-1/d) law for dist={cfg.dist}, d={cfg.d} (docs/theory.md §1: d in 5..12, densities)")
    one = why or (None if cfg.depth == 1 else "the deviation rate is stated for one hidden layer")
    r = -1.0 / cfg.d
    c = dict(n_min=n_min)
    return [
        Claim("w2_rate", "rate", "W_2 between the layer-1 row measures of two i.i.d. networks falls like n^(-1/d)",
              f"{FERBACH}, §5 (two-sample rate, Fournier & Guillin 2015)", "w2_layer1", theory=r,
              where=lambda s: why, **c),
        Claim("w2_unaligned_flat", "lower_bound", "without matching, the mean squared row distance does not fall",
              f"{FERBACH}, §4", "w2_identity_layer1", theory=0.0, **c),
        Claim("deviation_rate", "upper_bound", "after weight matching the mean network's output deviation is "
              "O(n^(-1/d)) (through the two-layer path bound and W_2 of the rows)",
              f"{FERBACH}, Thm 5.2 / Lemma 5.1 (L = 1)", "aligned_deviation_rms_max_t", theory=r,
              where=lambda s: one, **c),
        Claim("deviation_unaligned_flat", "lower_bound", "without matching the output deviation does not fall",
              f"{FERBACH}, §4", "unaligned_deviation_rms_max_t", theory=0.0,
              where=lambda s: None if cfg.depth == 1 else "stated for one hidden layer", **c),
        Claim("barrier_rate", "upper_bound", "aligned barrier of the squared deviation is O(n^(-2/d)); "
              "here L_A = L_B = 0, so barrier = (max_t deviation)^2 by construction: not independent of "
              "deviation_rate", f"{FERBACH}, Thm 5.2", "aligned_barrier", theory=2 * r,
              where=lambda s: one, construction=True, **c),
        Claim("teacher_barrier_bound", "inequality", "with a teacher's targets (L_A != L_B) the barrier "
              "max_t [L(t) - (1-t)L_A - t L_B] stays below max_t [2 sqrt(L_lin(t)) dev(t) + dev(t)^2 - t(1-t)|f_A - f_B|^2]"
              " (Cauchy-Schwarz on the exact expansion: true for any correct barrier; it checks the baseline)",
              f"{FERBACH}, Thm 5.2 (loss Lipschitz on bounded outputs); docs/theory.md §6.8", "teacher_barrier",
              bound="teacher_barrier_bound", construction=True,
              where=lambda s: None if cfg.teacher else "--teacher false"),
    ]


def plot(rows, cfg: Config, verdicts):
    r = -1.0 / cfg.d
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    panels = [
        ("w2_layer1", "w2_identity_layer1", r, "$W_2$ between layer-1 row measures", "matching cost"),
        ("aligned_deviation_rms_max_t", "unaligned_deviation_rms_max_t", r,
         r"$\max_t\ \mathrm{RMS}_x |f_{M_t} - (1-t)f_A - t f_{\tilde B}|$", "output deviation of the mean network"),
        ("aligned_barrier", "unaligned_barrier", 2 * r, "barrier of the squared deviation", "loss barrier"),
    ]
    for ax, (a, u, slope, ylabel, title) in zip(axes, panels):
        loglog_panel(ax, rows, "width", [(a, "aligned (weight matching)", "C0"), (u, "not aligned", "C3")],
                     verdicts=verdicts, theory_slope=slope, ylabel=ylabel,
                     theory_label=f"theory $n^{{{slope:+.2f}}}$")
        ax.set_title(title)
    fig.suptitle(f"Random {cfg.dist} MLP {cfg.d}-n" + "-n" * (cfg.depth - 1) + f"-{cfg.n_out}, {cfg.activation}; "
                 f"{pairs_caption(cfg.replicates, cfg.n_eval, cfg.t_points)}; fits (legend: exponent, CI, "
                 f"verdict) use n $\\geq$ "
                 f"{min(cfg.fit_min_width, sorted(cfg.widths)[-2])}", fontsize=10)
    return fig


SIM = Sim("width_scaling", __doc__, Config, cell, claims=claims, plot=plot, check=check)

if __name__ == "__main__":
    raise SystemExit(run(SIM))
