"""Sub-Gaussian weights: Gaussian vs uniform vs Rademacher entries, same width rate, constants within a factor?

Ferbach et al.'s sub-Gaussian case (docs/theory.md §2.7: Section 5.5 and Appendix B.13) keeps the width law of the
Gaussian case for independent entries with mean 0, variance ``1/m_{l-1}`` and sub-Gaussian
tails, such as uniform and Rademacher entries. Per cell (law, input dimension ``d``, width ``n``,
replicate) two two-layer networks are aligned by weight matching; ``otlmc.pairs.pair_metrics``
records ``W_2`` of the layer-1 rows, the aligned output deviation and the two-layer path bound.

Claims, per law and ``d``: ``W_2`` follows the law's own rate (``otlmc.theory.wasserstein_rate``:
``-1/d`` for the two laws with a density; ``-1/4`` for Rademacher, a law on the ``2^d`` corners
of a cube, once ``n >> 2^d``), with the measured finite-``n`` corrections of
``otlmc.pairs.rate_corrections`` (the cube's boundary for uniform entries); the aligned deviation
is bounded by the same rate. ``subgaussian_constants.csv`` gives each law's constant relative to
the Gaussian one under a common rate (no theory value: a description, not a verdict).
"""
from __future__ import annotations

from dataclasses import dataclass

from otlmc.theory import RATE_LAWS as WEIGHT_LAWS, deviation_rate
from otlmc.claims import Claim
from otlmc.declare import Sim, param
from otlmc.pairs import constant_ratios, pair_metrics, rate_corrections, w2_law
from otlmc.plots import loglog_panel, mean_ci, plt
from otlmc.runner import run

FERBACH = "Ferbach et al. 2024"
LAW_COLOR = {"gaussian": "C0", "uniform": "C1", "rademacher": "C3"}
METRICS = {"w2_layer1": "$W_2$ of layer-1 rows (aligned)", "aligned_deviation_rms_max_t": "aligned output deviation"}


@dataclass(frozen=True)
class Config:
    dists: tuple = param(("gaussian", "uniform", "rademacher"), "weight laws; gaussian is the reference "
                         "and must be among them", choices=WEIGHT_LAWS, axis="dist")
    dims: tuple = param((5, 12), "input dimensions d (>= 3: d = 1, 2 have law-specific log factors)", min=3,
                        quick=(5,), axis="d")
    widths: tuple = param((16, 32, 64, 128, 256, 512, 1024, 2048), "hidden widths to sweep", min=1,
                          quick=(16, 32, 64, 128), axis="width")
    replicates: int = param(10, "pairs of networks per (law, d, width)", min=2, quick=3)
    activation: str = param("relu", "hidden activation (the path bound needs a 1-Lipschitz one)",
                            choices=("relu", "tanh", "identity"))
    n_out: int = param(10, "output width", min=1)
    n_eval: int = param(300, "Gaussian evaluation inputs", min=1, quick=100)
    t_points: int = param(9, "points of the t-grid", min=2, quick=5)
    fit_min_width: int = param(64, "smallest width in the rate fits and constant ratios", min=1, quick=16,
                               identity=False)
    n_boot: int = param(2000, "bootstrap resamples of each rate fit", min=10, quick=200, identity=False)
    factor: float = param(2.0, "constants count as 'within a factor' when every width's mean ratio to "
                          "Gaussian lies in [1/factor, factor]", min=1.0, strict_min=True, identity=False)


def check(cfg: Config) -> None:
    if "gaussian" not in cfg.dists:
        raise ValueError(f"--dists {' '.join(cfg.dists)}: 'gaussian' must be among them (it is the reference).")
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least two widths to fit a rate.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (law, d, n, replicate): the metrics of ``otlmc.pairs.pair_metrics``."""
    return pair_metrics(params["d"], params["width"], dist=params["dist"], activation=cfg.activation,
                        n_out=cfg.n_out, n_eval=cfg.n_eval, t_points=cfg.t_points, streams=streams)


def n_min(cfg: Config) -> int:
    return min(cfg.fit_min_width, sorted(cfg.widths)[-2])


def claims(cfg: Config) -> list[Claim]:
    """Per (law, d): the law's own W_2 rate and the deviation bound; the path bound on every draw."""
    lo = n_min(cfg)
    c = dict(by=("dist", "d"), n_min=lo, n_boot=cfg.n_boot, where=lambda s: w2_law(s["d"], s["dist"], n_min=lo)[1])
    return [
        Claim("w2_rate", "rate", "W_2 of the layer-1 rows follows the weight law's own two-sample rate: n^-1/d "
              "with a density (Gaussian, uniform), n^-1/4 for the 2^d-atom Rademacher law once n >> 2^d",
              f"{FERBACH}, §5.5 and App. B.13; docs/theory.md §1, §2.7", "w2_layer1",
              theory=lambda s: w2_law(s["d"], s["dist"], n_min=lo)[0].exponent,
              corrections=lambda s: rate_corrections(s["d"], s["dist"]), **c),
        Claim("deviation_bound", "upper_bound", "after weight matching the output deviation decays at least as "
              "fast as the law's W_2 rate (sub-Gaussian entries keep the Gaussian width law)",
              f"{FERBACH}, §5.5 (App. B.13), Lemma 5.1 (L = 1)", "aligned_deviation_rms_max_t",
              theory=lambda s: deviation_rate(s["d"], law=s["dist"]).exponent, **c),
        Claim("path_bound", "inequality", "RMS deviation <= RMS of the two-layer path bound; both sides come from "
              "the same pre-activations and the bound holds for any weights (by construction)",
              "docs/theory.md §6.4", "aligned_deviation_rms_max_t", bound="path_bound_rms_max_t",
              construction=True),
    ]


def tables(rows, cfg: Config) -> dict:
    """``constants``: each law's mean relative to the Gaussian one, per d and metric."""
    return {"constants": [r for m in METRICS for r in constant_ratios(rows, m, ref="gaussian", n_min=n_min(cfg),
                                                                      factor=cfg.factor)]}


def plot(rows, cfg: Config, verdicts):
    ncol = len(cfg.dims) + 1
    fig, axes = plt.subplots(len(METRICS), ncol, figsize=(5.4 * ncol, 4.3 * len(METRICS)), squeeze=False)
    ratios = tables(rows, cfg)["constants"]
    for i, (metric, ylabel) in enumerate(METRICS.items()):
        for j, d in enumerate(cfg.dims):
            ax = axes[i, j]
            for dist in cfg.dists:
                loglog_panel(ax, [r for r in rows if r["d"] == d and r["dist"] == dist], "width",
                             [(metric, dist, LAW_COLOR.get(dist))], verdicts=verdicts, setting=f"dist={dist}, d={d}",
                             theory_slope=w2_law(d, dist, n_min=n_min(cfg))[0].exponent, theory_label="_nolegend_",
                             ylabel=ylabel)
            ax.set_xlabel("hidden width n")
            ax.legend(fontsize=7, title="fit [95% CI]: verdict (claims engine)", title_fontsize=7)
            ax.set_title(f"d = {d}: dashed = each law's exponent ($-1/{d}$; Rademacher $-1/4$, $n \\gg 2^d$)",
                         fontsize=9)
        ax = axes[i, -1]
        for j, d in enumerate(cfg.dims):
            lv, mg, _ = mean_ci([r for r in rows if r["d"] == d and r["dist"] == "gaussian"], "width", metric)
            for dist in (x for x in cfg.dists if x != "gaussian"):
                _, mo, _ = mean_ci([r for r in rows if r["d"] == d and r["dist"] == dist], "width", metric)
                f = next(t for t in ratios if t["d"] == d and t["dist"] == dist and t["metric"] == metric)
                ok = "within" if f["within_factor"] else "NOT within"
                ax.plot(lv, mo / mg, "o-" if j == 0 else "s--", ms=4, color=LAW_COLOR.get(dist),
                        label=f"{dist}, d={d}: ratio {f['constant_ratio']:.2f} ({ok} x{cfg.factor:g}, n >= {f['n_min']:g})")
        ax.axhspan(1 / cfg.factor, cfg.factor, color="C2", alpha=0.08, label=f"within a factor {cfg.factor:g}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width n")
        ax.set_ylabel(f"mean / Gaussian mean ({ylabel})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("constants relative to Gaussian weights (no theory value)", fontsize=9)
    fig.suptitle(f"Sub-Gaussian weights: two-layer MLPs d-n-{cfg.n_out} ({cfg.activation}), weight matching; "
                 f"mean $\\pm$ 95% CI over {cfg.replicates} pairs; fits use n $\\geq$ {n_min(cfg)}; "
                 "CIs hold replicate noise only", fontsize=10)
    return fig


SIM = Sim("subgaussian", __doc__, Config, cell, claims=claims, plot=plot, check=check, tables=tables)

if __name__ == "__main__":
    raise SystemExit(run(SIM))
