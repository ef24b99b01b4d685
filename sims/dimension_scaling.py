"""Dimension scaling: the width exponent of W_2 and of the aligned deviation for each input dimension d.

Per cell (input dimension ``d``, hidden width ``n``, replicate) two random two-layer networks
``d - n - n_out`` with i.i.d. rows (Ferbach et al., Assumption 6) are aligned by weight matching
(Eq. 2); ``otlmc.pairs.pair_metrics`` records ``W_2`` of the layer-1 rows (aligned and not), the
aligned output deviation and the two-layer path bound (docs/theory.md §6.4).
Widths run up to ``MAX_WIDTH = 131072``: from 4096 on (``d <= 12``) the matching uses the certified
matrix-free solver, faster there, and above 16384, where the dense cost matrix would pass 2 GiB, the
path is also evaluated in blocks of hidden units (``otlmc.wide_pairs``): no ``n x n`` array, the
same permutation, hence the same ``W_2``, as the dense path.

Claims, per ``d``: ``W_2`` follows the regime law of ``otlmc.theory.wasserstein_rate``
(docs/theory.md §1) — ``n^{-1/2} (log log n)^{1/2}`` at ``d = 1`` (modelled as the equivalent
``(log n)^a``, ``a = 1/(2 log log n_c)`` at the fit range's centre ``n_c``; see
``otlmc.pairs.effective_log_power``), ``n^{-1/2} log n`` at ``d = 2``, ``n^{-1/d}`` for ``d >= 3``;
a free fit that misses theory is retried with the regime's finite-``n`` correction
(``otlmc.pairs.rate_corrections``). The aligned deviation is bounded by the same law.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.theory import RATE_LAWS as WEIGHT_LAWS, deviation_rate
from otlmc.claims import Claim
from otlmc.declare import Sim, param
from otlmc.pairs import effective_log_power, pair_metrics, rate_corrections, w2_law
from otlmc.plots import loglog_panel, pairs_caption, plt
from otlmc.runner import run

FERBACH = "Ferbach et al. 2024"
#: the widest layer allowed: the certified matrix-free matching (O(n k) memory) has been measured up to
#: n = 131072 (otlmc.transport.matrixfree); one cell costs minutes there (seconds to hours by d), nothing wider was run
MAX_WIDTH = 131072
METRICS = {"w2_layer1": "$W_2$ of layer-1 rows (aligned)", "aligned_deviation_rms_max_t": "aligned output deviation"}


@dataclass(frozen=True)
class Config:
    dims: tuple = param((1, 2, 3, 5, 8, 12, 20), "input dimensions d (rows of layer 1 live in R^d)", min=1,
                        quick=(1, 2, 5, 12), axis="d")
    widths: tuple = param((16, 32, 64, 128, 256, 512, 1024, 2048, 4096), "hidden widths to sweep (above "
                          "16384 the matching and the path run matrix-free, otlmc.wide_pairs)", min=3, max=MAX_WIDTH,
                          quick=(16, 32, 64, 128), axis="width")
    replicates: int = param(10, "pairs of networks per (d, width)", min=2, quick=3)
    dist: str = param("gaussian", "law of the weight entries", choices=WEIGHT_LAWS)
    activation: str = param("relu", "hidden activation (the path bound needs a 1-Lipschitz one)",
                            choices=("relu", "tanh", "identity"))
    n_out: int = param(10, "output width", min=1)
    n_eval: int = param(300, "Gaussian evaluation inputs", min=1, quick=100)
    t_points: int = param(9, "points of the t-grid", min=2, quick=5)
    fit_min_width: int = param(64, "smallest width in the rate fits", min=1, quick=16, identity=False)
    n_boot: int = param(2000, "bootstrap resamples of each rate fit", min=10, quick=200, identity=False)


def check(cfg: Config) -> None:
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least two widths to fit a rate.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, n, replicate): match two two-layer networks, measure W_2, deviation and the path bound."""
    return pair_metrics(params["d"], params["width"], dist=cfg.dist, activation=cfg.activation,
                        n_out=cfg.n_out, n_eval=cfg.n_eval, t_points=cfg.t_points, streams=streams)


def n_min(cfg: Config) -> int:
    return min(cfg.fit_min_width, sorted(cfg.widths)[-2])


def claims(cfg: Config) -> list[Claim]:
    """Per d: the W_2 rate, the deviation bound, the flat unaligned W_2; the path bound on every draw."""
    lo, hi = n_min(cfg), max(cfg.widths)
    law = lambda s: w2_law(s["d"], cfg.dist, n_min=lo)  # noqa: E731
    c = dict(by=("d",), n_min=lo, n_boot=cfg.n_boot, where=lambda s: law(s)[1],
             log_power=lambda s: effective_log_power(law(s)[0], lo, hi))
    return [
        Claim("w2_rate", "rate", "W_2 between the layer-1 row measures of two i.i.d. networks follows the "
              "two-sample law of its regime (d = 1: n^-1/2 (log log n)^1/2; d = 2: n^-1/2 log n; d >= 3: n^-1/d)",
              f"{FERBACH}, §5; Fournier & Guillin 2015; docs/theory.md §1", "w2_layer1",
              theory=lambda s: law(s)[0].exponent, corrections=lambda s: rate_corrections(s["d"], cfg.dist), **c),
        Claim("deviation_bound", "upper_bound", "after weight matching the output deviation decays at least "
              "as fast as W_2 of the rows (two-layer path bound)", f"{FERBACH}, §4, Lemma 5.1 (L = 1)",
              "aligned_deviation_rms_max_t", theory=lambda s: deviation_rate(s["d"], law=cfg.dist).exponent, **c),
        Claim("w2_unaligned_flat", "lower_bound", "without matching, the mean squared row distance does not fall",
              f"{FERBACH}, §4", "w2_identity_layer1", theory=0.0, by=("d",), n_min=lo, n_boot=cfg.n_boot),
        Claim("path_bound", "inequality", "RMS deviation <= RMS of t(1-t) sum_i (|a_ki| + |b_ki|) |z^A_i - z^B_i|; "
              "both sides come from the same pre-activations and the bound follows from |sigma(u) - sigma(v)| "
              "<= |u - v| for any weights, so it holds by construction (it checks the algebra, not the rate)",
              "docs/theory.md §6.4", "aligned_deviation_rms_max_t", bound="path_bound_rms_max_t",
              construction=True),
    ]


def plot(rows, cfg: Config, verdicts):
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.0))
    fig.suptitle(f"Random {cfg.dist} two-layer MLPs d-n-{cfg.n_out} ({cfg.activation}), weight matching; "
                 f"{pairs_caption(cfg.replicates, cfg.n_eval, cfg.t_points)}. CIs hold replicate noise only, "
                 "not finite-n bias.", fontsize=10)
    colors = {d: plt.get_cmap("viridis")(i / max(1, len(cfg.dims) - 1)) for i, d in enumerate(cfg.dims)}
    for ax, (metric, ylabel) in zip(axes, METRICS.items()):
        for d in cfg.dims:
            loglog_panel(ax, [r for r in rows if r["d"] == d], "width", [(metric, f"d={d}", colors[d])],
                         verdicts=verdicts, setting=f"d={d}", ylabel=ylabel, theory_label="_nolegend_",
                         theory_slope=w2_law(d, cfg.dist, n_min=n_min(cfg))[0].exponent)
        ax.set_xlabel("hidden width n")
        ax.legend(fontsize=6, title="fit (claim's log factor) [95% CI]: verdict; dashed: theory exponent",
                  title_fontsize=6)
    ax = axes[2]
    dd = np.linspace(min(cfg.dims), max(cfg.dims), 200)
    ax.plot(dd[dd >= 3], -1.0 / dd[dd >= 3], "k-", lw=1, label="theory $-1/d$ ($d \\geq 3$), $-1/2$ below")
    ax.axvspan(5, 12, color="C2", alpha=0.08, label="clean range $5 \\leq d \\leq 12$")
    for k, (claim, marker) in enumerate((("w2_rate", "o"), ("deviation_bound", "D"))):
        vs = [v for v in verdicts if v["claim"] == claim and v["value"] not in (None, "")]
        x = np.array([int(v["setting"][2:]) for v in vs]) * (1 + 0.03 * (2 * k - 1))
        s = np.array([v["value"] for v in vs])
        err = np.array([[v["value"] - v["ci_low"] for v in vs], [v["ci_high"] - v["value"] for v in vs]])
        ax.errorbar(x, s, yerr=err.reshape(2, -1), fmt=marker, color=f"C{k}", ms=5, capsize=3,
                    label=list(METRICS.values())[k])
        ax.plot(x, [v["theory"] for v in vs], "_", color="k", ms=12)
        for v, xi in zip(vs, x):
            ax.annotate(v["verdict"].replace("consistent after correction", "after corr."), (xi, v["ci_low"]),
                        textcoords="offset points", xytext=(0, -12 - 8 * k), ha="center", fontsize=6, color=f"C{k}")
    ax.set_xscale("log")
    ax.set_xticks(list(cfg.dims))
    ax.set_xticklabels([str(d) for d in cfg.dims])
    ax.set_xlabel("input dimension d (rows live in $R^d$)")
    ax.set_ylabel(f"fitted width exponent (n $\\geq$ {n_min(cfg)}, 95% bootstrap CI; bar: theory)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("width exponents and verdicts (claims engine)", fontsize=9)
    return fig


SIM = Sim("dimension_scaling", __doc__, Config, cell, claims=claims, plot=plot, check=check)

if __name__ == "__main__":
    raise SystemExit(run(SIM))
