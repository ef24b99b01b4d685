"""Width needed for a target barrier, from measured curves, against the two-layer width laws.

For two-layer random MLPs ``d - n - 1`` (ReLU, Gaussian rows) aligned by weight matching, the
measured output deviation of the mean network ``D(n) = max_t RMS_x |f_{M_t} - (1-t) f_A - t f_B~|``
is inverted into the width ``n(eps)`` at which ``D(n) <= eps``. For a convex ``Lip``-Lipschitz
loss the barrier is at most ``Lip * D(n)`` (Jensen), so ``n(eps)`` is the width that certifies a
barrier ``<= Lip * eps``. Ferbach et al. (Theorem 5.2, two layers) predict ``n ~ eps^{-m_0}``;
Entezari et al. (Theorem 3.1) ``n ~ eps^{-(2 m_0 + 4)}``. Both laws hold up to unknown constants,
so they are drawn through the first inverted point and only their slopes are claims. The
measured exponent is ``-1/s`` with ``s`` the fitted slope of ``log D`` on ``log n``.

    python -m sims.required_width            # default sweep, ~4 minutes on one busy core (--n-jobs 2 halves it)
    python -m sims.required_width --quick    # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.matching import weight_matching
from otlmc.measure import measure_layer_constants
from otlmc.networks import permute
from otlmc.sampling import sample_inputs, sample_mlp
from otlmc.theory import minimal_widths_from_constants, required_width

from . import width_scaling as ws
from ._common import base_parser, run_sim

NAME = "required_width"
METRIC = "aligned_deviation_rms_max_t"


@dataclass(frozen=True)
class Config:
    dims: tuple = (2, 3, 5)
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048)
    replicates: int = 6
    n_eval: int = 500
    t_points: int = 13
    fit_min_width: int = 64
    n_eps: int = 12

    grid_fields = ("dims", "widths", "fit_min_width", "n_eps")


QUICK = dict(dims=(2, 3), widths=(16, 32, 64, 128), replicates=2, n_eval=100, t_points=5,
             fit_min_width=16, n_eps=5)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, width, replicate): a two-layer ReLU pair, aligned; path metrics and Lemma 4.1 constants."""
    d, n = params["d"], params["width"]
    arch = ws.architecture(ws.Config(d=d, depth=1, n_out=1), n)  # (d, n, 1)
    net_a = sample_mlp(arch, rng=streams["net_a"])
    net_b = sample_mlp(arch, rng=streams["net_b"])
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


def inversion(rows, cfg: Config, d: int) -> dict:
    """Inverted curve and power-law exponent for one input dimension ``d``."""
    from otlmc.fit import fit_power_law
    from otlmc.plots import mean_ci

    sub = [r for r in rows if r["d"] == d]
    lv, mean, _ = mean_ci(sub, "width", METRIC)
    eps = np.geomspace(mean.min(), mean[0], cfg.n_eps)
    n_needed = required_width(lv, mean, eps)
    fit = fit_power_law(np.array([r["width"] for r in sub], float), np.array([r[METRIC] for r in sub]),
                        n_min=cfg.fit_min_width)
    return {"eps": eps, "n_needed": n_needed, "slope": fit.slope, "intercept": fit.intercept,
            "exponent": -1.0 / fit.slope if fit.slope < 0 else np.inf}


def lemma41_plugin(rows, cfg: Config, d: int) -> dict:
    """Width needed for the layer-1 gap ``sqrt(E_1) <= eps``: measured vs Lemma 4.1 plug-in.

    Measured: the mean ``E_1`` curve inverted at ``eps^2``. Plug-in: Lemma 5.1's width with
    ``T_1`` from measured constants (:func:`otlmc.theory.minimal_widths_from_constants`, one
    layer): ``C_1 = c_1 n^{-2/d}`` with ``c_1`` the geometric mean of ``C_1 n^{2/d}`` over widths
    ``>= fit_min_width``, and the measured mean ``Ebar_0``.
    """
    from otlmc.plots import mean_ci

    sub = [r for r in rows if r["d"] == d]
    lv, e1, _ = mean_ci(sub, "width", "E_layer1")
    eps2 = np.geomspace(e1.min(), e1[0], cfg.n_eps)  # targets for E_1 inside the measured range
    eps = np.sqrt(eps2)
    measured = required_width(lv, e1, eps2)
    big = [r for r in sub if r["width"] >= cfg.fit_min_width]
    c1 = float(np.exp(np.mean([np.log(r["C1_layer1"]) + 2.0 / d * np.log(r["width"]) for r in big])))
    ebar = float(np.mean([r["Ebar_layer1"] for r in sub]))
    gain = float(np.mean([r["C2_layer1"] for r in sub]))
    plugin = np.array([10 ** minimal_widths_from_constants(e, d, prefactors=[c1], gains=[gain],
                                                           second_moments=[ebar])[0][1] for e in eps])
    return {"eps": eps, "measured": measured, "plugin": plugin, "c1": c1, "Ebar0": ebar}


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl

    plt = _mpl()
    fig, axes = plt.subplots(2, len(cfg.dims), figsize=(5.4 * len(cfg.dims), 9.0), squeeze=False)
    for ax, d in zip(axes[1], cfg.dims):
        pl = lemma41_plugin(rows, cfg, d)
        x = 1.0 / pl["eps"]
        ax.plot(x, pl["measured"], "o-", color="C0", label="measured: $E_1$ curve inverted at $\\varepsilon^2$")
        ax.plot(x, pl["plugin"], "s--", color="C3",
                label=f"Lemma 4.1/5.1 plug-in ($c_1$ = {pl['c1']:.3g}, $\\bar E_0$ = {pl['Ebar0']:.3g})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"$1/\varepsilon$")
        ax.set_ylabel(r"width n with layer-1 gap $\sqrt{E_1} \leq \varepsilon$")
        ratio = np.exp(np.mean(np.log(pl["plugin"] / pl["measured"])))
        ax.set_title(f"$m_0$ = {d}: plug-in / measured width = {ratio:.3g} (geometric mean)"
                     + ("" if d >= 5 else "\nrate model $n^{-2/d}$ is asymptotic only for $d \\geq 5$"), fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    for ax, d in zip(axes[0], cfg.dims):
        inv = inversion(rows, cfg, d)
        x, y = 1.0 / inv["eps"], inv["n_needed"]
        ax.plot(x, y, "o-", color="C0", label="measured (inverted mean curve)")
        xx = np.geomspace(x.min(), x.max() * 2, 50)
        if np.isfinite(inv["exponent"]):
            fitted = np.exp(-inv["intercept"] / inv["slope"]) * (1 / xx) ** (1 / inv["slope"])
            ax.plot(xx, fitted, "-", color="C0", alpha=0.4,
                    label=f"power-law fit: $\\varepsilon^{{-{inv['exponent']:.2f}}}$ (n $\\geq$ {cfg.fit_min_width})")
        for expo, label, style in ((d, f"Ferbach et al.: $\\varepsilon^{{-m_0}}$ = $\\varepsilon^{{-{d}}}$", "k--"),
                                   (2 * d + 4, f"Entezari et al.: $\\varepsilon^{{-(2m_0+4)}}$ = "
                                               f"$\\varepsilon^{{-{2 * d + 4}}}$", "r:")):
            ax.plot(xx, y[0] * (xx / x[0]) ** expo, style, lw=1.2, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(min(y) / 2, max(y) * 8)
        ax.set_xlabel(r"$1/\varepsilon$")
        ax.set_ylabel(r"width n with $\max_t \mathrm{RMS}_x$ deviation $\leq \varepsilon$")
        closer = "Ferbach" if abs(inv["exponent"] - d) < abs(inv["exponent"] - (2 * d + 4)) else "Entezari"
        ax.set_title(f"$m_0$ = {d}: measured exponent {inv['exponent']:.2f} vs {d} (Ferbach), "
                     f"{2 * d + 4} (Entezari)\nverdict: closer to {closer}'s law", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Required width for LMC of random two-layer ReLU nets (weight matching); mean over "
                 f"{cfg.replicates} pairs, {cfg.n_eval} Gaussian inputs, {cfg.t_points}-point t-grid; "
                 f"theory laws anchored at the smallest eps (constants unknown)", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    c = Config()
    p.add_argument("--dims", type=int, nargs="+", default=None,
                   help=f"input dimensions m_0 (default {' '.join(map(str, c.dims))})")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"hidden widths to measure (default {' '.join(map(str, c.widths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per (d, width) (default {c.replicates})")
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {c.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {c.t_points})")
    p.add_argument("--fit-min-width", type=int, default=None,
                   help=f"smallest width in the power-law fit (default {c.fit_min_width})")
    p.add_argument("--n-eps", type=int, default=None,
                   help=f"number of targets eps inside the measured range (default {c.n_eps})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = {}
    for key in ("dims", "widths", "replicates", "n_eval", "t_points", "fit_min_width", "n_eps"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(sorted(set(v))) if key in ("dims", "widths") else v
    cfg = replace(cfg, **over)
    for key in ("replicates", "n_eval"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if min(cfg.dims) < 1:
        raise SystemExit(f"--dims contains {min(cfg.dims)}; dimensions must be >= 1.")
    if min(cfg.widths) < 1 or len(cfg.widths) < 2:
        raise SystemExit("--widths needs at least two distinct widths >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if cfg.n_eps < 2:
        raise SystemExit(f"--n-eps == {cfg.n_eps}, must be >= 2.")
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, cfg.widths[-2]))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    grid = {"d": list(cfg.dims), "width": list(cfg.widths)}
    rows, out = run_sim(NAME, cfg, grid, cell, args, plot=plot)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows)")
    for d in cfg.dims:
        inv = inversion(rows, cfg, d)
        pl = lemma41_plugin(rows, cfg, d)
        ratio = np.exp(np.mean(np.log(pl["plugin"] / pl["measured"])))
        print(f"  m_0 = {d}: deviation ~ n^{inv['slope']:+.3f}, width needed ~ eps^-{inv['exponent']:.2f}; "
              f"Ferbach eps^-{d}, Entezari eps^-{2 * d + 4}; Lemma 4.1 plug-in width / measured "
              f"(layer-1 gap) = {ratio:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
