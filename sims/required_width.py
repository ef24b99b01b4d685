"""Width needed for a target barrier, from measured curves, against the two-layer width laws.

Two-layer random MLPs ``d - n - 1`` (ReLU, Gaussian rows) aligned by weight matching. The
output deviation of the mean network ``D(n) = max_t RMS_x |f_{M_t} - (1-t) f_A - t f_B~|``
bounds the barrier of a convex ``Lip``-Lipschitz loss by ``Lip D(n)`` (Jensen), so the width
``n(eps)`` at which the mean curve reaches ``eps`` certifies a barrier ``<= Lip eps``. Ferbach et
al. (Theorem 5.2, two layers, ``m_0 >= 5``) give ``n ~ eps^{-m_0}``, i.e. ``D <= C n^{-1/m_0}``;
Entezari et al. (Theorem 3.1) ``eps^{-(2 m_0 + 4)}``. The measured width-vs-eps exponent is
``-1/s``, ``s`` the fitted slope of ``D`` on ``n``. Per cell the table also holds Lemma 4.1's
layer-1 constants, from which Lemma 5.1's width is plugged in (docs/theory.md §2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.claims import Claim
from otlmc.declare import Sim, grid_values, param
from otlmc.matching import weight_matching
from otlmc.summaries import inverted_curve, lemma41_plugin_widths
from otlmc.networks import permute
from otlmc.plots import plt
from otlmc.measure import measure_layer_constants
from otlmc.runner import run
from otlmc.sampling import sample_inputs, sample_mlp

FERBACH = "Ferbach et al. 2024"
METRIC = "aligned_deviation_rms_max_t"


@dataclass(frozen=True)
class Config:
    dims: tuple = param((2, 3, 5), "input dimensions m_0", min=1, quick=(2, 3), axis="d")
    widths: tuple = param((16, 32, 64, 128, 256, 512, 1024, 2048), "hidden widths to measure", min=1,
                          quick=(16, 32, 64, 128), axis="width")
    replicates: int = param(6, "pairs per (d, width)", min=1, quick=2)
    n_eval: int = param(500, "Gaussian evaluation inputs", min=1, quick=100)
    t_points: int = param(13, "points of the t-grid", min=2, quick=5)
    fit_min_width: int = param(64, "smallest width in the rate fits and the C_1 prefactor", min=1, quick=16,
                               identity=False)
    n_eps: int = param(12, "number of targets eps inside the measured range", min=2, quick=5, identity=False)


def check(cfg: Config) -> None:
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least two widths to invert a curve.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, width, replicate): a two-layer ReLU pair, aligned; path metrics and Lemma 4.1 constants."""
    d, n = params["d"], params["width"]
    net_a = sample_mlp((d, n, 1), rng=streams["net_a"])
    net_b = sample_mlp((d, n, 1), rng=streams["net_b"])
    X = sample_inputs(cfg.n_eval, d, rng=streams["eval"])  # (n_eval, d)
    ts = t_grid(cfg.t_points)
    matched = weight_matching(net_a, net_b)
    net_b_al = permute(net_b, matched.perms)
    row = {"w2_layer1": float(np.sqrt(matched.costs[0]))}
    row.update(evaluate_path(net_a, net_b_al, X, ts=ts).summary("aligned_"))
    consts = measure_layer_constants(net_a, net_b_al, X, ts=ts)
    for key in ("E", "C1", "C2", "Ebar", "bound_one_step", "bound_sharp"):
        row[f"{key}_layer1"] = float(consts[key][0])
    return row


def claims(cfg: Config) -> list[Claim]:
    """Ferbach's eps^-m_0 width law where Theorem 5.2 applies; Lemma 4.1 at layer 1 (an identity here)."""
    outside = lambda s: (None if s["d"] >= 5 else f"m_0 = {s['d']} is outside Theorem 5.2's hypothesis "  # noqa: E731
                         "m_0 >= 5 (W_2 of the rows does not follow n^(-1/m_0) there)")
    return [
        Claim("width_law", "upper_bound", "width ~ eps^(-m_0) suffices for deviation (and barrier) <= eps: "
              "D(n) <= C n^(-1/m_0); width exponent = -1/slope (Entezari et al. Thm 3.1 need 2 m_0 + 4)",
              f"{FERBACH}, Thm 5.2 (two layers)", METRIC, theory=lambda s: -1.0 / s["d"], by=("d",),
              where=outside, n_min=min(cfg.fit_min_width, sorted(cfg.widths)[-2])),
        Claim("lemma41_layer1", "inequality", "E_1 <= 2 C_1 m_0 Ebar_0 (Lemma 4.1 with E_0 = 0, spectral C_2, "
              "x^ = H^A): triangle inequality and Cauchy-Schwarz, true on every draw",
              f"{FERBACH}, Lemma 4.1", "E_layer1", bound="bound_one_step_layer1", by=("d",), construction=True),
    ]


def needed_rows(rows, cfg: Config) -> list[dict]:
    """The inverted curves: per (d, eps) the measured widths and the Lemma 4.1 plug-in."""
    out = []
    for d in grid_values(rows, "d"):
        sub = [r for r in rows if r["d"] == d]
        eps, n_dev = inverted_curve(sub, METRIC, n_eps=cfg.n_eps)
        pl = lemma41_plugin_widths(sub, d, n_eps=cfg.n_eps, n_min=min(cfg.fit_min_width, sorted(cfg.widths)[-2]))
        out += [{"d": d, "eps_deviation": float(e), "width_deviation": float(w), "eps_gap": float(g),
                 "width_gap_measured": float(m), "width_gap_plugin": float(p), "c1": pl["c1"], "Ebar0": pl["Ebar0"]}
                for e, w, g, m, p in zip(eps, n_dev, pl["eps"], pl["measured"], pl["plugin"])]
    return out


def plot(rows, cfg: Config, verdicts):
    dims, table = grid_values(rows, "d"), needed_rows(rows, cfg)
    fig, axes = plt.subplots(2, len(dims), figsize=(5.4 * len(dims), 9.0), squeeze=False)
    for top, bottom, d in zip(axes[0], axes[1], dims):
        t = [r for r in table if r["d"] == d]
        x, y = 1.0 / np.array([r["eps_deviation"] for r in t]), np.array([r["width_deviation"] for r in t])
        top.plot(x, y, "o-", color="C0", label="measured (inverted mean curve)")
        xx = np.geomspace(x.min(), x.max() * 2, 50)
        v = next(v for v in verdicts if v["claim"] == "width_law" and v["setting"] == f"d={d}")
        s = v["value"] if v["value"] not in (None, "") else None  # only the where-applicable verdict has a slope
        expos = [(d, f"Ferbach et al.: $\\varepsilon^{{-m_0}}$ = $\\varepsilon^{{-{d}}}$", "k--"),
                 (2 * d + 4, f"Entezari et al.: $\\varepsilon^{{-(2m_0+4)}}$ = $\\varepsilon^{{-{2 * d + 4}}}$", "r:")]
        if s is not None and s < 0:
            ci = f" [{-1 / v['ci_low']:.2f}, {-1 / v['ci_high']:.2f}]" if v["ci_high"] < 0 else ""
            expos.insert(0, (-1 / s, f"fit (n $\\geq$ {cfg.fit_min_width}): $\\varepsilon^{{{1 / s:.2f}}}${ci}: "
                                     f"{v['verdict']}", "C0-"))
        for expo, label, style in expos:
            top.plot(xx, y[0] * (xx / x[0]) ** expo, style, lw=1.2, alpha=0.5 if style == "C0-" else 1, label=label)
        top.set_ylim(min(y) / 2, max(y) * 8)
        top.set_ylabel(r"width n with $\max_t \mathrm{RMS}_x$ deviation $\leq \varepsilon$")
        top.set_title(f"$m_0$ = {d}: Ferbach $\\varepsilon^{{-{d}}}$, Entezari $\\varepsilon^{{-{2 * d + 4}}}$\n"
                      f"width law: {v['verdict']}" + (" (outside Thm 5.2: m$_0$ < 5)" if s is None else ""), fontsize=9)
        gx = 1.0 / np.array([r["eps_gap"] for r in t])
        bottom.plot(gx, [r["width_gap_measured"] for r in t], "o-", color="C0",
                    label="measured: $E_1$ curve inverted at $\\varepsilon^2$")
        bottom.plot(gx, [r["width_gap_plugin"] for r in t], "s--", color="C3",
                    label=f"Lemma 4.1/5.1 plug-in ($c_1$ = {t[0]['c1']:.3g}, $\\bar E_0$ = {t[0]['Ebar0']:.3g})")
        bottom.set_ylabel(r"width n with layer-1 gap $\sqrt{E_1} \leq \varepsilon$")
        ratio = np.exp(np.mean(np.log([r["width_gap_plugin"] / r["width_gap_measured"] for r in t])))
        note = "" if d >= 5 else "\nrate model $n^{-2/d}$ is asymptotic only for $d \\geq 5$"
        bottom.set_title(f"$m_0$ = {d}: plug-in / measured width = {ratio:.3g} (geometric mean){note}", fontsize=9)
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(r"$1/\varepsilon$")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Required width for LMC of random two-layer ReLU nets (weight matching); mean over {cfg.replicates} "
                 f"pairs, {cfg.n_eval} Gaussian inputs, {cfg.t_points}-point t-grid; laws anchored at the smallest "
                 "eps (constants unknown)", fontsize=10)
    return fig


SIM = Sim("required_width", __doc__, Config, cell, claims=claims, plot=plot, check=check,
          tables=lambda rows, cfg: {"needed": needed_rows(rows, cfg)})

if __name__ == "__main__":
    raise SystemExit(run(SIM))
