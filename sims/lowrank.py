"""Approximately low-dimensional weights (Assumption 8): the n^{-1/k} -> n^{-1/d} crossover of W_2.

Per cell (``k``, ``eta``, width ``n``, replicate) two two-layer networks ``d - n - n_out`` with layer-1 rows
i.i.d. ``N(0, diag(1/k x k, eta/k x (d-k)))`` (Ferbach et al. §5.4, variance convention of ``otlmc.sampling``)
are aligned by weight matching. The table records ``W_2`` of the rows (``w2_layer1``), of their ``k`` large
components (``w2_large``), the cost of matching on the large components only (``w2_upper``), the aligned
output deviation and ``sandwich_ok`` (``w2_large <= w2_layer1 <= w2_upper`` within a relative 1e-9).

Claims: at ``eta = 0`` ``W_2`` falls like ``n^{-1/k}`` and the deviation at least as fast (Theorem 5.4:
width ``eps^{-k}``); for ``eta > 0`` Weed & Bach's crossover ``n* = (A_k / delta)^k``, ``delta =
sqrt(2 eta (d-k)/k)``, ``A_k`` from the ``eta = 0`` curve, against the measured ``W_2(eta)^2 = 2 W_2(0)^2``
(``otlmc.crossover``); the sandwich on every draw. Derived tables: ``_crossover.csv``, ``_needed.csv``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.theory import deviation_rate, multiscale_w2
from otlmc.claims import Claim
from otlmc.crossover import crossovers, curve, needed_widths
from otlmc.declare import Sim, param
from otlmc.matching import weight_matching
from otlmc.networks import ACTIVATIONS, MLP, permute
from otlmc.pairs import effective_log_power, rate_corrections, w2_law
from otlmc.plots import loglog_panel, plt
from otlmc.runner import run
from otlmc.sampling import sample_inputs, sample_weights
from otlmc.transport import match_rows

FERBACH, CONVENTION = "Ferbach et al. 2024", "variance"  # otlmc.sampling draws the small eigenvalues as eta / k
METRICS = {"w2_layer1": "$W_2$ of layer-1 rows (aligned)", "aligned_deviation_rms_max_t": "aligned output deviation"}


@dataclass(frozen=True)
class Config:
    d: int = param(10, "ambient dimension of the layer-1 rows (the input dimension)", min=2)
    ks: tuple = param((3, 4, 5), "numbers k of large eigenvalues (1 <= k < d)", min=1, quick=(3, 4), axis="k")
    etas: tuple = param((0.0, 0.01, 0.03, 0.1, 0.3), "relative sizes eta of the small eigenvalues (with 0)",
                        min=0.0, quick=(0.0, 0.1), axis="eta")
    widths: tuple = param((16, 32, 64, 128, 256, 512, 1024, 2048, 4096), "hidden widths to sweep", min=2,
                          quick=(16, 32, 64, 128), axis="width")
    replicates: int = param(10, "pairs of networks per grid point", min=2, quick=3)
    activation: str = param("relu", "hidden activation", choices=ACTIVATIONS)
    n_out: int = param(10, "output width", min=1)
    n_eval: int = param(200, "Gaussian evaluation inputs", min=1, quick=50)
    t_points: int = param(9, "points of the t-grid", min=2, quick=5)
    fit_min_width: int = param(64, "smallest width in the eta = 0 fits and in A_k", min=1, quick=16, identity=False)
    n_targets: int = param(3, "deviation targets eps of the needed-width table", min=1, identity=False)
    n_boot: int = param(2000, "bootstrap resamples of each rate fit", min=10, quick=200, identity=False)


def check(cfg: Config) -> None:
    if max(cfg.ks) >= cfg.d:
        raise ValueError(f"--ks must lie in [1, d - 1] == [1, {cfg.d - 1}], got {list(cfg.ks)}.")
    if 0.0 not in cfg.etas:
        raise ValueError(f"--etas {' '.join(map(str, cfg.etas))} must include 0: the eta = 0 curve calibrates A_k.")
    if len(cfg.widths) < 3:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least three widths.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (k, eta, n, replicate): W_2 of the rows, of their large components, the sandwich, the deviation."""
    k, eta, n = params["k"], params["eta"], params["width"]
    nets = []
    for name in ("net_a", "net_b"):
        W1 = sample_weights(n, cfg.d, rng=streams[name], law="lowrank", k=k, eta=eta)  # (n, d), axis-aligned
        nets.append(MLP([W1, sample_weights(cfg.n_out, n, rng=streams[name])], activation=cfg.activation))
    A, B = nets[0].weights[0], nets[1].weights[0]  # (n, d) each
    matched = weight_matching(*nets)
    p_large = match_rows(A[:, :k], B[:, :k])  # matching of the large components alone
    large = np.sum((A[:, :k] - B[p_large, :k]) ** 2, axis=1).mean()
    small_under_large = np.sum((A[:, k:] - B[p_large, k:]) ** 2, axis=1).mean()
    X = sample_inputs(cfg.n_eval, cfg.d, rng=streams["eval"])  # (n_eval, d)
    dev = evaluate_path(nets[0], permute(nets[1], matched.perms), X, ts=t_grid(cfg.t_points))
    w2, w2_large, w2_upper = (float(np.sqrt(c)) for c in (matched.costs[0], large, large + small_under_large))
    return {"w2_layer1": w2, "w2_large": w2_large, "w2_upper": w2_upper,
            "small_share": float(max(matched.costs[0] - large, 0.0) / matched.costs[0])
            if matched.costs[0] > 0 else 0.0,
            "sandwich_ok": int(w2_large <= w2 * (1 + 1e-9) + 1e-12 and w2 <= w2_upper * (1 + 1e-9) + 1e-12),
            "aligned_deviation_rms_max_t": dev.summary()["deviation_rms_max_t"]}


def _style(ax, title, **kw):
    ax.set(**kw)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    ax.set_title(title, fontsize=8)


def n_min(cfg: Config) -> int:  # the fits keep at least three widths
    return min(cfg.fit_min_width, sorted(cfg.widths)[-3])


def tables(rows, cfg: Config) -> dict:
    out = {"crossover": crossovers(rows, d=cfg.d, ks=cfg.ks, etas=cfg.etas, n_min=n_min(cfg), convention=CONVENTION),
           "needed": needed_widths(rows, ks=cfg.ks, etas=cfg.etas, n_targets=cfg.n_targets, n_min=n_min(cfg))}
    return {name: t for name, t in out.items() if t}  # "needed" is empty when the eta = 0 ranges do not overlap


def claims(cfg: Config) -> list[Claim]:
    """eta = 0 rates -1/k (W_2, deviation); the crossover width; the sandwich."""
    lo, hi = n_min(cfg), max(cfg.widths)
    c = dict(by=("k", "eta"), n_min=lo, n_boot=cfg.n_boot,
             where=lambda s: None if s["eta"] == 0 else "eta > 0: the rows are not k-dimensional (see crossover_width)",
             log_power=lambda s: effective_log_power(w2_law(s["k"], "gaussian", n_min=lo)[0], lo, hi))
    measure = lambda rows: [({"k": r["k"], "eta": r["eta"]}, r["n_star_measured"], r["n_star_predicted"])  # noqa: E731
                            for r in tables(rows, cfg).get("crossover", []) if r["measured_flag"] == "inside"]
    return [
        Claim("w2_rate_rank_k", "rate", "rows of exact rank k (eta = 0): W_2 falls like n^-1/k",
              f"{FERBACH}, §5.4 (Assumption 8); docs/theory.md §1", "w2_layer1",
              theory=lambda s: w2_law(s["k"], "gaussian", n_min=lo)[0].exponent,
              corrections=lambda s: rate_corrections(s["k"], "gaussian"), **c),
        Claim("deviation_rank_k", "upper_bound", "eta = 0: the aligned deviation falls at least like W_2 (n^-1/k for "
              "k >= 3), i.e. the width needed for deviation eps grows at most like eps^-k (exponent = -1/slope)",
              f"{FERBACH}, Thm 5.4", "aligned_deviation_rms_max_t",
              theory=lambda s: deviation_rate(s["k"]).exponent, **c),
        Claim("crossover_width", "crossover", "W_2 leaves n^-1/k at n* = (A_k/delta)^k, delta = sqrt(2 eta (d-k)/k) "
              "(measured: W_2(eta)^2 = 2 W_2(0)^2; only crossings inside the widths are judged). Tolerance x4 "
              "in n* is x4^(1/k) = 1.3-1.6 in the length scale delta", f"{FERBACH}, §5.4; Weed & Bach 2019",
              "w2_layer1", measure=measure, factor=4.0),
        Claim("sandwich_lower", "inequality", "W_2 of the large components <= W_2 of the rows (projection is "
              "1-Lipschitz; two independent assignment solves)", "Weed & Bach 2019; docs/theory.md §1",
              "w2_large", bound="w2_layer1", by=("eta",),
              where=lambda s: None if s["eta"] else "eta = 0: both sides are one optimal cost (equal up to rounding)"),
        Claim("sandwich_upper", "inequality", "W_2 of the rows <= cost of the large-component matching (one candidate "
              "permutation)", "Weed & Bach 2019; docs/theory.md §1", "w2_layer1", bound="w2_upper",
              where=lambda s: "ties (matchings that coincide) differ by 1 ulp between two solver calls and the engine "
                              "compares exactly; see the sandwich_ok column (relative tolerance 1e-9)"),
    ]


def plot(rows, cfg: Config, verdicts):
    fig, axes = plt.subplots(3, len(cfg.ks) + 1, figsize=(4.6 * (len(cfg.ks) + 1), 12.5), squeeze=False)
    colors = {eta: plt.get_cmap("viridis")(i / max(1, len(cfg.etas) - 1)) for i, eta in enumerate(cfg.etas)}
    cross, need = (tables(rows, cfg).get(s, []) for s in ("crossover", "needed"))
    for j, k in enumerate(cfg.ks):
        for i, (metric, ylabel) in enumerate(METRICS.items()):
            ax = axes[i, j]
            for eta in cfg.etas:
                loglog_panel(ax, [r for r in rows if r["k"] == k and r["eta"] == eta], "width",
                             [(metric, f"$\\eta$={eta:g}", colors[eta])], verdicts=verdicts,
                             setting=f"k={k}, eta={eta}", ylabel=ylabel, theory_label=f"$n^{{-1/{k}}}$",
                             theory_slope=-1.0 / k if eta == 0 else None)
                for c in (c for c in cross if c["k"] == k and c["eta"] == eta and i == 0):
                    lv, mean = curve(rows, k, eta, metric)
                    ax.plot(lv, multiscale_w2(lv, cfg.d, k, eta, prefactor=c["A_k"], convention=CONVENTION), ":",
                            color=colors[eta], lw=0.8)
                    if c["measured_flag"] == "inside":
                        y = np.exp(np.interp(np.log(c["n_star_measured"]), np.log(lv), np.log(mean)))
                        ax.plot([c["n_star_measured"]], [y], "v", color=colors[eta], ms=9, mec="k")
            _style(ax, f"k = {k}, d = {cfg.d}" + (": dotted = two-regime model, $\\blacktriangledown$ = measured $n^*$"
                                                  if i == 0 else ""))
        ax = axes[2, j]
        for eta in cfg.etas:
            lv, mean = curve(rows, k, eta, "w2_layer1")
            ax.plot(np.sqrt(lv[1:] * lv[:-1]), np.diff(np.log(mean)) / np.diff(np.log(lv)), "o-", ms=3,
                    color=colors[eta], label=f"$\\eta$={eta:g}")
        ax.axhline(-1.0 / k, color="k", ls="--", lw=1, label=f"$-1/k$ = {-1 / k:+.3f}")
        ax.axhline(-1.0 / cfg.d, color="gray", ls="-.", lw=1, label=f"$-1/d$ = {-1 / cfg.d:+.3f}")
        _style(ax, f"k = {k}: local slopes between consecutive widths", xscale="log",
               xlabel="hidden width n (geometric midpoint)", ylabel="local slope of $\\log W_2$", ylim=(-0.7, 0.05))
    ax = axes[0, -1]
    vs = [v for v in verdicts if v["claim"] == "crossover_width"]
    for v in vs:
        ax.plot(v["theory"], v["value"], "o", color="C0" if v["verdict"] == "consistent" else "C3", ms=6)
        ax.annotate(v["setting"], (v["theory"], v["value"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    scale = [*cfg.widths, *(v["theory"] for v in vs)]
    lim = np.array([min(scale) / 2, max(scale) * 2])
    ax.plot(lim, lim, "k-", lw=1, label="measured = predicted")
    ax.fill_between(lim, lim / 4, lim * 4, color="gray", alpha=0.15, label="tolerance x4 (claim)")
    _style(ax, "crossover width (red: inconsistent)", xscale="log", yscale="log",
           xlabel="predicted $n^* = (A_k/\\delta)^k$", ylabel="measured: $W_2(\\eta)^2 = 2 W_2(0)^2$")
    ax = axes[1, -1]
    for i, eps in enumerate(sorted({r["eps"] for r in need})):
        sub = [r for r in need if r["eps"] == eps and r["eta"] == 0.0]
        ax.plot([r["k"] for r in sub], [r["n_needed"] for r in sub], "o-", color=f"C{i}", ms=5,
                label=f"measured, $\\varepsilon$={eps:.3g}, $\\eta$=0")
        ax.plot([r["k"] for r in sub], [r["plugin_eps_minus_k"] for r in sub], "x--", color=f"C{i}", lw=0.8,
                label=f"$(c_k/\\varepsilon)^k$, $\\varepsilon$={eps:.3g}")
    _style(ax, "width needed (Thm 5.4: $\\varepsilon^{-k}$, $c_k$ measured on $\\eta$=0)", yscale="log",
           xticks=list(cfg.ks), xlabel="k", ylabel="width n with aligned deviation $\\leq \\varepsilon$")
    axes[2, -1].axis("off")
    axes[2, -1].text(0, 1, "verdicts (lowrank_fits.csv):\n" + "\n".join(
        f"{v['claim']} [{v['setting']}]: {v['verdict']}" for v in verdicts if v["value"] not in (None, "")),
        va="top", fontsize=6, family="monospace", transform=axes[2, -1].transAxes)
    fig.suptitle(f"Assumption 8 rows in $R^{{{cfg.d}}}$ (eigenvalues 1/k x k, $\\eta$/k x (d-k)); "
                 f"{cfg.d}-n-{cfg.n_out} {cfg.activation} pairs, weight matching; mean $\\pm$ 95% CI over {cfg.replicates} pairs; "
                 f"fits n $\\geq$ {n_min(cfg)}", fontsize=9)
    return fig


SIM = Sim("lowrank", __doc__, Config, cell, claims=claims, plot=plot, check=check, tables=tables)

if __name__ == "__main__":
    raise SystemExit(run(SIM))
