"""Approximately low-dimensional weights (Assumption 8): the n^{-1/k} -> n^{-1/d} crossover of W_2.

Per cell (``k``, ``eta``, hidden width ``n``, replicate) two random two-layer networks
``d - n - n_out`` are drawn whose layer-1 rows are i.i.d. ``N(0, diag(1/k x k, eta/k x (d-k)))``
(Ferbach et al., Section 5.4, variance convention of ``otlmc.sampling``; output layers Gaussian)
and aligned by weight matching (Eq. 2). The table records ``w2_layer1`` (``W_2`` of the layer-1
rows, exact by Birkhoff), ``w2_large`` (``W_2`` of the rows' ``k`` large components alone), the
explicit upper bound ``w2_upper`` obtained by matching on the large components only (on every
draw ``w2_large <= w2_layer1 <= w2_upper``; ``otlmc.theory.lowrank_thickness``) and the aligned
output deviation ``max_t RMS_x |f_{M_t} - (1-t) f_A - t f_B~|``.

The analysis (``lowrank_fits.csv``):

- ``eta = 0``: rows are exactly ``k``-dimensional; the fitted exponent (bootstrap CI,
  ``otlmc.fit.fit_rate``) against ``-1/k`` (clean for ``W_2`` only when ``k >= 5``; THEORY.md §1).
- ``eta > 0``: Weed & Bach's crossover ``n* = (A_k / delta)^k`` with the explicit thickness
  ``delta = sqrt(2 eta (d-k)/k)`` and ``A_k`` measured on the ``eta = 0`` curve
  (``otlmc.theory.lowrank_crossover_width``; ``n* ∝ eta^{-k/2}`` in this convention). The measured
  crossover is the width at which the small directions' share of ``W_2^2`` equals the
  ``k``-dimensional part, ``W_2(eta)^2 = 2 W_2(0)^2`` (at ``n*`` the two terms of the two-regime
  model are equal). Beyond it the fitted slope is compared with ``-1/d``.
- Width needed for a target deviation ``eps`` vs ``k``: the measured deviation curves inverted
  (``otlmc.theory.required_width``), against Theorem 5.4's ``eps^{-k}`` law with its constant
  measured per ``k``.

    python -m sims.lowrank --n-jobs 2      # default sweep, ~2 minutes on 2 cores
    python -m sims.lowrank --quick         # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.theory import (
    lowrank_crossover_eta_exponent,
    lowrank_crossover_width,
    lowrank_participation_ratio,
    lowrank_thickness,
    multiscale_w2,
)
from otlmc.matching import weight_matching
from otlmc.networks import MLP, permute
from otlmc.sampling import sample_inputs, sample_weights
from otlmc.transport import match_rows

from ._common import base_parser, run_sim

NAME = "lowrank"
CONVENTION = "variance"  # otlmc.sampling draws the small eigenvalues as eta / k


@dataclass(frozen=True)
class Config:
    d: int = 10
    ks: tuple = (3, 4, 5)
    etas: tuple = (0.0, 0.01, 0.03, 0.1, 0.3)
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    replicates: int = 10
    activation: str = "relu"
    n_out: int = 10
    n_eval: int = 200
    t_points: int = 9
    fit_min_width: int = 64
    n_targets: int = 3
    n_boot: int = 2000
    boot_seed: int = 0

    grid_fields = ("ks", "etas", "widths", "fit_min_width", "n_targets", "n_boot", "boot_seed")


QUICK = dict(ks=(3, 4), etas=(0.0, 0.1), widths=(16, 32, 64, 128), replicates=3, n_eval=50, t_points=5,
             fit_min_width=16, n_boot=200)


def pair(cfg: Config, k: int, eta: float, n: int, streams: dict):
    """Two networks ``d - n - n_out``: layer-1 rows of Assumption 8 (``k``, ``eta``), Gaussian output layer."""
    nets = []
    for name in ("net_a", "net_b"):
        rng = streams[name]
        W1 = sample_weights(n, cfg.d, rng=rng, law="lowrank", k=k, eta=eta)  # (n, d), axis-aligned
        W2 = sample_weights(cfg.n_out, n, rng=rng)  # (n_out, n)
        nets.append(MLP([W1, W2], activation=cfg.activation))
    return nets


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (k, eta, n, replicate): W_2 of the rows, of their large components, the sandwich, the deviation."""
    k, eta, n = params["k"], params["eta"], params["width"]
    net_a, net_b = pair(cfg, k, eta, n, streams)
    A, B = net_a.weights[0], net_b.weights[0]  # (n, d) each
    matched = weight_matching(net_a, net_b)
    p_large = match_rows(A[:, :k], B[:, :k])  # matching of the large components alone
    large = np.sum((A[:, :k] - B[p_large, :k]) ** 2, axis=1).mean()
    small_under_large = np.sum((A[:, k:] - B[p_large, k:]) ** 2, axis=1).mean()
    X = sample_inputs(cfg.n_eval, cfg.d, rng=streams["eval"])  # (n_eval, d)
    dev = evaluate_path(net_a, permute(net_b, matched.perms), X, ts=t_grid(cfg.t_points))
    w2 = float(np.sqrt(matched.costs[0]))
    w2_large = float(np.sqrt(large))
    w2_upper = float(np.sqrt(large + small_under_large))
    return {
        "w2_layer1": w2,
        "w2_large": w2_large,
        "w2_upper": w2_upper,
        "small_share": float(max(matched.costs[0] - large, 0.0) / matched.costs[0]) if matched.costs[0] > 0 else 0.0,
        "sandwich_ok": int(w2_large <= w2 * (1 + 1e-9) + 1e-12 and w2 <= w2_upper * (1 + 1e-9) + 1e-12),
        "aligned_deviation_rms_max_t": dev.summary()["deviation_rms_max_t"],
    }


# ------------------------------------------------------------------------------------------
# analysis (tables -> numbers; plots only draw them)
# ------------------------------------------------------------------------------------------
def _curve(rows, k, eta, metric):
    from otlmc.plots import mean_ci

    return mean_ci([r for r in rows if r["k"] == k and r["eta"] == eta], "width", metric)


def _first_crossing(x, y, level):
    """``x`` (log-interpolated) where the increasing-ish curve ``y`` first reaches ``level``.

    Returns ``(value, flag)``; flag ``"below"`` when ``y[0] >= level`` (crossing at or before the
    first width), ``"above"`` when never reached (after the last width), else ``"inside"``.
    """
    if y[0] >= level:
        return float(x[0]), "below"
    hit = np.nonzero(y >= level)[0]
    if hit.size == 0:
        return float(x[-1]), "above"
    i = int(hit[0])
    lx, ly = np.log(x), np.log(y)
    frac = (np.log(level) - ly[i - 1]) / (ly[i] - ly[i - 1])
    return float(np.exp(lx[i - 1] + frac * (lx[i] - lx[i - 1]))), "inside"


def prefactor(rows, cfg: Config, k: int) -> float:
    """``A_k``: geometric mean of ``W_2(eta=0) n^{1/k}`` over widths ``>= fit_min_width``."""
    lv, mean, _ = _curve(rows, k, 0.0, "w2_layer1")
    keep = lv >= cfg.fit_min_width
    return float(np.exp(np.mean(np.log(mean[keep]) + np.log(lv[keep]) / k)))


def crossovers(rows, cfg: Config) -> list[dict]:
    """Predicted vs measured crossover width for every ``k`` and ``eta > 0``."""
    out = []
    for k in cfg.ks:
        if 0.0 not in cfg.etas:
            break
        a_k = prefactor(rows, cfg, k)
        lv, w0, _ = _curve(rows, k, 0.0, "w2_layer1")
        for eta in cfg.etas:
            if eta == 0.0:
                continue
            _, we, _ = _curve(rows, k, eta, "w2_layer1")
            n_meas, flag = _first_crossing(lv, we / w0, np.sqrt(2.0))
            n_pred = lowrank_crossover_width(cfg.d, k, eta, prefactor=a_k, convention=CONVENTION)
            out.append({"k": k, "eta": eta, "A_k": a_k,
                        "thickness": lowrank_thickness(cfg.d, k, eta, convention=CONVENTION),
                        "participation_ratio": lowrank_participation_ratio(cfg.d, k, eta, convention=CONVENTION),
                        "n_star_predicted": n_pred, "n_star_measured": n_meas, "measured_flag": flag,
                        "ratio_measured_predicted": n_meas / n_pred if flag == "inside" else float("nan")})
    return out


def fits(rows, cfg: Config) -> list[dict]:
    """Exponent fits: ``eta = 0`` against ``-1/k``; ``eta > 0`` beyond the measured crossover against ``-1/d``."""
    from otlmc.fit import fit_rate
    from otlmc.sweep import column

    cross = {(c["k"], c["eta"]): c for c in crossovers(rows, cfg)}
    out = []
    for k in cfg.ks:
        for eta in cfg.etas:
            sub = [r for r in rows if r["k"] == k and r["eta"] == eta]
            n = column(sub, "width")
            levels = np.unique(n)
            if eta == 0.0:
                n_min, theory, regime = cfg.fit_min_width, -1.0 / k, f"k-dimensional (k={k})"
            else:
                c = cross[(k, eta)]
                start = c["n_star_measured"] if c["measured_flag"] != "above" else np.inf
                n_min, theory, regime = start, -1.0 / cfg.d, f"ambient beyond measured n* (d={cfg.d})"
            for metric in ("w2_layer1", "aligned_deviation_rms_max_t"):
                row = {"k": k, "eta": eta, "metric": metric, "theory_exponent": theory, "regime": regime,
                       "fit_n_min": float(n_min)}
                if (levels >= n_min).sum() >= 3:
                    f = fit_rate(n, column(sub, metric), n_min=n_min, n_boot=cfg.n_boot,
                                 rng=np.random.default_rng([cfg.boot_seed, k, int(round(1e6 * eta))]))
                    row.update(slope=f.slope, ci_low=f.ci_low, ci_high=f.ci_high, ci=f.ci,
                               verdict=f.verdict(theory), intercept=f.intercept, n_points=f.n_points,
                               local_slope_first=float(f.local_slopes[0]),
                               local_slope_top=float(f.local_slopes[-1]))
                else:
                    row.update(slope=float("nan"), ci_low=float("nan"), ci_high=float("nan"), ci=float("nan"),
                               verdict="too few widths", intercept=float("nan"), n_points=int((levels >= n_min).sum()),
                               local_slope_first=float("nan"), local_slope_top=float("nan"))
                out.append(row)
    return out


def needed_widths(rows, cfg: Config) -> list[dict]:
    """Width at which the mean aligned deviation reaches ``eps``, per ``k``, ``eta`` and target.

    Targets: ``n_targets`` values log-spaced inside the range that every ``eta = 0`` curve covers.
    ``plugin`` is Theorem 5.4's ``(c_k / eps)^k`` with ``c_k`` the geometric mean of
    ``D(n) n^{1/k}`` on the ``eta = 0`` curve (widths ``>= fit_min_width``).
    """
    from otlmc.theory import required_width

    if 0.0 not in cfg.etas:
        return []
    curves = {(k, eta): _curve(rows, k, eta, "aligned_deviation_rms_max_t") for k in cfg.ks for eta in cfg.etas}
    lo = max(curves[(k, 0.0)][1].min() for k in cfg.ks)
    hi = min(curves[(k, 0.0)][1][0] for k in cfg.ks)
    if not lo < hi:
        return []
    targets = np.geomspace(lo, hi, cfg.n_targets + 2)[1:-1]
    out = []
    for k in cfg.ks:
        lv, d0, _ = curves[(k, 0.0)]
        keep = lv >= cfg.fit_min_width
        c_k = float(np.exp(np.mean(np.log(d0[keep]) + np.log(lv[keep]) / k)))
        for eta in cfg.etas:
            lv, dm, _ = curves[(k, eta)]
            for eps in targets:
                inside = dm.min() <= eps <= dm[0]
                out.append({"k": k, "eta": eta, "eps": float(eps), "c_k": c_k,
                            "n_needed": float(required_width(lv, dm, eps)[0]) if inside else float("nan"),
                            "plugin_eps_minus_k": float((c_k / eps) ** k)})
    return out


# ------------------------------------------------------------------------------------------
# figure
# ------------------------------------------------------------------------------------------
def plot(rows, cfg: Config):
    from otlmc.fit import fit_rate
    from otlmc.plots import _mpl
    from otlmc.sweep import column

    plt = _mpl()
    cross = crossovers(rows, cfg)
    table = fits(rows, cfg)
    need = needed_widths(rows, cfg)
    nk = len(cfg.ks)
    fig, axes = plt.subplots(3, nk + 1, figsize=(4.6 * (nk + 1), 12.5), squeeze=False)
    cmap = plt.get_cmap("viridis")
    colors = {eta: cmap(i / max(1, len(cfg.etas) - 1)) for i, eta in enumerate(cfg.etas)}
    for j, k in enumerate(cfg.ks):
        a_k = prefactor(rows, cfg, k) if 0.0 in cfg.etas else None
        for i, (metric, ylabel) in enumerate((("w2_layer1", "$W_2$ of layer-1 rows (aligned)"),
                                              ("aligned_deviation_rms_max_t", "aligned output deviation"))):
            ax = axes[i, j]
            for eta in cfg.etas:
                lv, mean, ci = _curve(rows, k, eta, metric)
                fr = next(f for f in table if f["k"] == k and f["eta"] == eta and f["metric"] == metric)
                lab = f"$\\eta$={eta:g}"
                if np.isfinite(fr["slope"]):
                    lab += f": {fr['slope']:+.3f} [{fr['ci_low']:+.3f}, {fr['ci_high']:+.3f}] vs {fr['theory_exponent']:+.3f} {fr['verdict']}"
                ax.errorbar(lv, mean, yerr=ci, fmt="o-", ms=3, capsize=2, color=colors[eta], label=lab)
                if metric == "w2_layer1" and a_k is not None:
                    ax.plot(lv, multiscale_w2(lv, cfg.d, k, eta, prefactor=a_k, convention=CONVENTION), "--",
                            color=colors[eta], lw=0.8)
                    c = next((c for c in cross if c["k"] == k and c["eta"] == eta), None)
                    if c is not None and lv[0] <= c["n_star_predicted"] <= lv[-1]:
                        ax.axvline(c["n_star_predicted"], color=colors[eta], ls=":", lw=1)
                    if c is not None and c["measured_flag"] == "inside":
                        y = np.exp(np.interp(np.log(c["n_star_measured"]), np.log(lv), np.log(mean)))
                        ax.plot([c["n_star_measured"]], [y], "v", color=colors[eta], ms=9, mec="k")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("hidden width n")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6, title="fit slope [CI] vs theory: verdict", title_fontsize=6)
            ax.set_title(f"k = {k}, d = {cfg.d}: " + ("$W_2$ (dashed: two-regime model)" if i == 0 else
                                                    "aligned output deviation"), fontsize=8)
        ax = axes[2, j]
        for eta in cfg.etas:
            sub = [r for r in rows if r["k"] == k and r["eta"] == eta]
            f = fit_rate(column(sub, "width"), column(sub, "w2_layer1"), n_boot=0)
            ax.plot(f.local_n, f.local_slopes, "o-", ms=3, color=colors[eta], label=f"$\\eta$={eta:g}")
            c = next((c for c in cross if c["k"] == k and c["eta"] == eta), None)
            if c is not None and min(cfg.widths) <= c["n_star_predicted"] <= max(cfg.widths):
                ax.axvline(c["n_star_predicted"], color=colors[eta], ls=":", lw=1)
        ax.axhline(-1.0 / k, color="k", ls="--", lw=1, label=f"$-1/k$ = {-1 / k:+.3f}")
        ax.axhline(-1.0 / cfg.d, color="gray", ls="-.", lw=1, label=f"$-1/d$ = {-1 / cfg.d:+.3f}")
        ax.axhline(-0.5 / k - 0.5 / cfg.d, color="C3", ls=":", lw=0.8, label="half-way")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width n (geometric midpoint)")
        ax.set_ylabel("local slope of $\\log W_2$")
        ax.set_ylim(-0.7, 0.05)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
        ax.set_title(f"k = {k}: local slopes (dotted: predicted $n^*$)", fontsize=8)
    # crossover: measured vs predicted
    ax = axes[0, nk]
    ok = [c for c in cross if c["measured_flag"] == "inside"]
    for c in ok:
        ax.plot(c["n_star_predicted"], c["n_star_measured"], "o", color=f"C{cfg.ks.index(c['k'])}", ms=6)
        ax.annotate(f"k={c['k']}, $\\eta$={c['eta']:g}", (c["n_star_predicted"], c["n_star_measured"]),
                    fontsize=6, xytext=(3, 3), textcoords="offset points")
    if ok:
        lim = np.array([min(min(c["n_star_predicted"], c["n_star_measured"]) for c in ok) / 2,
                        max(max(c["n_star_predicted"], c["n_star_measured"]) for c in ok) * 2])
        ax.plot(lim, lim, "k-", lw=1, label="measured = predicted")
        ax.fill_between(lim, lim / 4, lim * 4, color="gray", alpha=0.15, label="within a factor 4")
        ratios = np.array([c["ratio_measured_predicted"] for c in ok])
        ax.set_title(f"crossover width: measured/predicted in [{ratios.min():.2f}, {ratios.max():.2f}]", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted $n^* = (A_k/\\delta)^k$, $\\delta = \\sqrt{2\\eta(d-k)/k}$")
    ax.set_ylabel("measured: $W_2(\\eta)^2 = 2 W_2(0)^2$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    # crossover vs eta: slope -k/2
    ax = axes[1, nk]
    for j, k in enumerate(cfg.ks):
        cs = [c for c in cross if c["k"] == k]
        if not cs:
            continue
        eta = np.array([c["eta"] for c in cs])
        ax.plot(eta, [c["n_star_predicted"] for c in cs], "--", color=f"C{j}", lw=1,
                label=f"k={k} predicted (slope {lowrank_crossover_eta_exponent(k, convention=CONVENTION):+.1f})")
        m = np.array([c["measured_flag"] == "inside" for c in cs])
        ax.plot(eta[m], np.array([c["n_star_measured"] for c in cs])[m], "o", color=f"C{j}", label=f"k={k} measured")
    ax.axhspan(min(cfg.widths), max(cfg.widths), color="C2", alpha=0.07, label="measured widths")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("$\\eta$ (small eigenvalues $\\eta/k$)")
    ax.set_ylabel("crossover width $n^*$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    ax.set_title("$n^* \\propto \\eta^{-k/2}$ (variance convention)", fontsize=8)
    # width needed for a target deviation vs k
    ax = axes[2, nk]
    targets = sorted({r["eps"] for r in need})
    for i, eps in enumerate(targets):
        for eta, mk in ((0.0, "o-"),) + tuple((e, "s:") for e in cfg.etas if e > 0)[:1]:
            sub = [r for r in need if r["eps"] == eps and r["eta"] == eta]
            ax.plot([r["k"] for r in sub], [r["n_needed"] for r in sub], mk, color=f"C{i}", ms=5,
                    label=f"measured, $\\varepsilon$={eps:.3g}, $\\eta$={eta:g}")
        sub = [r for r in need if r["eps"] == eps and r["eta"] == 0.0]
        ax.plot([r["k"] for r in sub], [r["plugin_eps_minus_k"] for r in sub], "x--", color=f"C{i}", lw=0.8,
                label=f"$(c_k/\\varepsilon)^k$, $\\varepsilon$={eps:.3g}")
    ax.set_yscale("log")
    ax.set_xticks(list(cfg.ks))
    ax.set_xlabel("k (approximate dimension of the rows)")
    ax.set_ylabel("width n with aligned deviation $\\leq \\varepsilon$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6)
    ax.set_title("width needed (Thm 5.4: $\\varepsilon^{-k}$, $c_k$ measured on $\\eta$=0)", fontsize=8)
    fig.suptitle(f"Assumption 8 rows in $R^{{{cfg.d}}}$ (eigenvalues 1/k x k, $\\eta$/k x (d-k)); two-layer "
                 f"{cfg.d}-n-{cfg.n_out} {cfg.activation} pairs aligned by weight matching; mean $\\pm$ 95% CI over "
                 f"{cfg.replicates} pairs; {cfg.n_eval} Gaussian inputs, {cfg.t_points}-point t-grid; "
                 f"fits: n $\\geq$ {cfg.fit_min_width} ($\\eta$=0), n $\\geq$ measured $n^*$ ($\\eta$>0)\n"
                 f"top row: dotted verticals = predicted crossover $n^* = (A_k/\\delta)^k$ ($A_k$ from the $\\eta$=0 curve), "
                 f"$\\blacktriangledown$ = measured crossover ($W_2(\\eta)^2 = 2 W_2(0)^2$)", fontsize=9)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--d", type=int, default=None, help=f"ambient dimension of the rows (default {d.d})")
    p.add_argument("--ks", type=int, nargs="+", default=None, help=f"numbers of large eigenvalues (default {d.ks})")
    p.add_argument("--etas", type=float, nargs="+", default=None,
                   help=f"relative sizes of the small eigenvalues (default {d.etas}); include 0 for the fits")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"hidden widths n (default {' '.join(map(str, d.widths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per grid point (default {d.replicates})")
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {d.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    p.add_argument("--fit-min-width", type=int, default=None, help=f"smallest width in the eta=0 fits (default {d.fit_min_width})")
    p.add_argument("--n-boot", type=int, default=None, help=f"bootstrap resamples (default {d.n_boot})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = {}
    for key in ("d", "ks", "etas", "widths", "replicates", "n_eval", "t_points", "fit_min_width", "n_boot"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(v) if key in ("ks", "etas", "widths") else v
    cfg = replace(cfg, **over)
    if cfg.replicates < 2:
        raise SystemExit(f"--replicates == {cfg.replicates}, must be >= 2 for a bootstrap interval.")
    if min(cfg.ks) < 1 or max(cfg.ks) >= cfg.d:
        raise SystemExit(f"--ks must lie in [1, d - 1] == [1, {cfg.d - 1}], got {list(cfg.ks)}.")
    if min(cfg.etas) < 0:
        raise SystemExit(f"--etas contains {min(cfg.etas)}; must be >= 0.")
    if 0.0 not in cfg.etas:
        raise SystemExit("--etas must include 0: the eta = 0 curve calibrates A_k and the crossover.")
    if min(cfg.widths) < 2 or len(set(cfg.widths)) < 3:
        raise SystemExit("--widths needs at least three distinct widths >= 2.")
    for key in ("n_eval", "n_out"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if cfg.n_boot < 10:
        raise SystemExit(f"--n-boot == {cfg.n_boot}, must be >= 10.")
    cfg = replace(cfg, etas=tuple(float(e) for e in cfg.etas), widths=tuple(sorted(set(cfg.widths))))
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, cfg.widths[-3]))


def main(argv=None) -> int:
    from otlmc.sweep import write_csv

    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    grid = {"k": list(cfg.ks), "eta": list(cfg.etas), "width": list(cfg.widths)}
    rows, out = run_sim(NAME, cfg, grid, cell, args, plot=plot)
    table, cross, need = fits(rows, cfg), crossovers(rows, cfg), needed_widths(rows, cfg)
    write_csv(table, out / f"{NAME}_fits.csv")
    write_csv(cross, out / f"{NAME}_crossover.csv")
    if need:
        write_csv(need, out / f"{NAME}_needed.csv")
    bad = sum(1 - int(r["sandwich_ok"]) for r in rows)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf, {NAME}_fits.csv, {NAME}_crossover.csv ({len(rows)} rows); "
          f"sandwich W2(large) <= W2 <= W2(upper) violated in {bad} cells")
    for f in table:
        if f["metric"] == "w2_layer1":
            print(f"  k={f['k']} eta={f['eta']:<5g} W2 slope {f['slope']:+.3f} [{f['ci_low']:+.3f}, {f['ci_high']:+.3f}]"
                  f" (n >= {f['fit_n_min']:.0f}) vs {f['theory_exponent']:+.3f}: {f['verdict']}")
    for c in cross:
        print(f"  k={c['k']} eta={c['eta']:<5g} n* predicted {c['n_star_predicted']:9.1f}  measured "
              f"{c['n_star_measured']:9.1f} ({c['measured_flag']})  ratio {c['ratio_measured_predicted']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
