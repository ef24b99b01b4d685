"""Sub-Gaussian weights: Gaussian vs uniform vs Rademacher entries, same width rate, constants within a factor?

Ferbach et al.'s sub-Gaussian case (THEORY.md §2, Theorem 5.5) keeps the width law of the
Gaussian case for independent entries with mean 0, variance ``1/m_{l-1}`` and sub-Gaussian
tails, such as uniform and Rademacher entries (``otlmc.sampling``). Per cell (law, input
dimension ``d``, width ``n``, replicate) two two-layer networks are aligned by weight matching and
the table records the same metrics as ``sims.dimension_scaling``: ``W_2`` of the layer-1 rows and
the aligned output deviation (plus the two-layer path bound).

The analysis fits each law's exponent with a bootstrap CI, compares it with the law's own
prediction (``otlmc.theory.wasserstein_rate``: ``-1/d`` for the two laws with a density; for
Rademacher, a law on the ``2^d`` corners of a cube, ``-1/4`` once ``n >> 2^d``) and with the
Gaussian CI (overlap or not), and reports the constants' ratio to the Gaussian two ways: the
prefactor ratio ``exp(intercept_law - intercept_gaussian)`` of the two free fits and the
geometric mean over widths ``>= fit_min_width`` of ``mean_law(n) / mean_gaussian(n)`` (the ratio of
constants under a common rate), with its range over widths.

    python -m sims.subgaussian               # default sweep, ~1 minute with --n-jobs 2
    python -m sims.subgaussian --quick       # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.theory import RATE_LAWS, wasserstein_rate

from ._common import base_parser, run_sim
from .dimension_scaling import METRICS, pair_metrics

NAME = "subgaussian"
LAW_COLOR = {"gaussian": "C0", "uniform": "C1", "rademacher": "C3"}


@dataclass(frozen=True)
class Config:
    dists: tuple = ("gaussian", "uniform", "rademacher")
    dims: tuple = (5, 12)
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048)
    replicates: int = 10
    activation: str = "relu"
    n_out: int = 10
    n_eval: int = 300
    t_points: int = 9
    fit_min_width: int = 64
    n_boot: int = 2000
    boot_seed: int = 0
    factor: float = 2.0

    grid_fields = ("dists", "dims", "widths", "fit_min_width", "n_boot", "boot_seed", "factor")


QUICK = dict(dims=(5,), widths=(16, 32, 64, 128), replicates=3, n_eval=100, t_points=5, fit_min_width=16,
             n_boot=200)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (law, d, n, replicate): the metrics of ``sims.dimension_scaling.pair_metrics``."""
    return pair_metrics(params["d"], params["width"], dist=params["dist"], activation=cfg.activation,
                        n_out=cfg.n_out, n_eval=cfg.n_eval, t_points=cfg.t_points, streams=streams)


def _means(sub, metric, n_min):
    from otlmc.sweep import column

    n, y = column(sub, "width"), column(sub, metric)
    levels = np.unique(n[n >= n_min])
    return levels, np.array([y[n == v].mean() for v in levels])


def fits(rows, cfg: Config) -> list[dict]:
    """One row per (law, d, metric): slope + CI vs the law's exponent, CI overlap and constant ratios vs Gaussian."""
    from otlmc.fit import fit_rate
    from otlmc.sweep import column

    out = []
    for d in cfg.dims:
        for metric in METRICS:
            ref = None
            for dist in cfg.dists:
                sub = [r for r in rows if r["d"] == d and r["dist"] == dist]
                law = wasserstein_rate(d, law=dist)
                n = column(sub, "width")
                f = fit_rate(n, column(sub, metric) / law.loglog_factor(n), n_min=cfg.fit_min_width,
                             n_boot=cfg.n_boot, log_power=law.log_power,
                             rng=np.random.default_rng([cfg.boot_seed, d, RATE_LAWS.index(dist)]))
                lv, mean = _means(sub, metric, cfg.fit_min_width)
                row = {"dist": dist, "d": d, "metric": metric, "theory_exponent": law.exponent,
                       "law": law.label(), "regime": law.regime, "slope": f.slope, "ci_low": f.ci_low,
                       "ci_high": f.ci_high, "ci": f.ci, "verdict": f.verdict(law.exponent),
                       "contains_minus_1_over_d": f.contains(-1.0 / d), "intercept": f.intercept,
                       "local_slope_top": float(f.local_slopes[-1]), "n_min": f.n_min}
                if dist == "gaussian" or ref is None:
                    ref = (f, lv, mean) if dist == "gaussian" else ref
                if ref is not None:
                    rf, rlv, rmean = ref
                    ratio = mean / rmean if np.array_equal(lv, rlv) else np.full(lv.shape, np.nan)
                    row.update({
                        "ci_overlaps_gaussian": bool(max(f.ci_low, rf.ci_low) <= min(f.ci_high, rf.ci_high)),
                        "prefactor_ratio": float(np.exp(f.intercept - rf.intercept)),
                        "constant_ratio": float(np.exp(np.mean(np.log(ratio)))),
                        "constant_ratio_min": float(ratio.min()), "constant_ratio_max": float(ratio.max()),
                    })
                    row["within_factor"] = bool(1 / cfg.factor <= row["constant_ratio_min"]
                                                and row["constant_ratio_max"] <= cfg.factor)
                out.append(row)
    return out


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, mean_ci

    plt = _mpl()
    table = fits(rows, cfg)
    ncol = len(cfg.dims) + 1
    fig, axes = plt.subplots(len(METRICS), ncol, figsize=(5.4 * ncol, 4.3 * len(METRICS)), squeeze=False)
    for i, metric in enumerate(METRICS):
        for j, d in enumerate(cfg.dims):
            ax = axes[i, j]
            for dist in cfg.dists:
                sub = [r for r in rows if r["d"] == d and r["dist"] == dist]
                lv, mean, ci = mean_ci(sub, "width", metric)
                f = next(t for t in table if t["d"] == d and t["dist"] == dist and t["metric"] == metric)
                ax.errorbar(lv, mean, yerr=ci, fmt="o-", ms=3, capsize=2, color=LAW_COLOR.get(dist),
                            label=f"{dist}: ${f['slope']:+.3f}$ [{f['ci_low']:+.3f}, {f['ci_high']:+.3f}] "
                                  f"vs ${f['law']}$: {f['verdict']}")
                keep = lv >= f["n_min"]
                law = wasserstein_rate(d, law=dist)
                shape = law.shape(lv[keep])
                c = np.exp(np.mean(np.log(mean[keep])) - np.mean(np.log(shape)))
                ax.plot(lv[keep], c * shape, "--" if law.exponent == -1.0 / d else ":", color="k", lw=0.8)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("hidden width n")
            ax.set_ylabel(METRICS[metric])
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7, title="slope [95% CI] vs own theory law: verdict", title_fontsize=7)
            same = [t["dist"] for t in table if t["d"] == d and t["metric"] == metric
                    and t.get("ci_overlaps_gaussian") and t["dist"] != "gaussian"]
            ax.set_title(f"d = {d}: dashed $n^{{-1/{d}}}$, dotted $n^{{-1/4}}$ (Rademacher, $n \\gg 2^d$)\n"
                         f"CI overlaps Gaussian's: {', '.join(same) or 'none'}", fontsize=9)
        ax = axes[i, -1]
        for j, d in enumerate(cfg.dims):
            for dist in cfg.dists:
                if dist == "gaussian":
                    continue
                g = [r for r in rows if r["d"] == d and r["dist"] == "gaussian"]
                o = [r for r in rows if r["d"] == d and r["dist"] == dist]
                lv, mg = _means(g, metric, min(cfg.widths))
                _, mo = _means(o, metric, min(cfg.widths))
                f = next(t for t in table if t["d"] == d and t["dist"] == dist and t["metric"] == metric)
                ax.plot(lv, mo / mg, "o-" if j == 0 else "s--", ms=4, color=LAW_COLOR.get(dist),
                        label=f"{dist}, d={d}: ratio {f['constant_ratio']:.2f} "
                              f"({'within' if f['within_factor'] else 'NOT within'} x{cfg.factor:g})")
        ax.axhspan(1 / cfg.factor, cfg.factor, color="C2", alpha=0.08, label=f"within a factor {cfg.factor:g}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width n")
        ax.set_ylabel(f"mean / Gaussian mean ({METRICS[metric]})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("constants relative to Gaussian weights", fontsize=9)
    fig.suptitle(f"Sub-Gaussian weights: two-layer MLPs d-n-{cfg.n_out} ({cfg.activation}), weight matching; "
                 f"mean $\\pm$ 95% CI over {cfg.replicates} pairs; fits use n $\\geq$ {cfg.fit_min_width}; "
                 "CIs hold replicate noise only", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--dists", nargs="+", choices=RATE_LAWS, default=None,
                   help=f"weight laws (default {' '.join(d.dists)}); the first Gaussian one is the reference")
    p.add_argument("--dims", type=int, nargs="+", default=None,
                   help=f"input dimensions d (default {' '.join(map(str, d.dims))})")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"hidden widths n (default {' '.join(map(str, d.widths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per point (default {d.replicates})")
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {d.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    p.add_argument("--fit-min-width", type=int, default=None,
                   help=f"smallest width in the fits (default {d.fit_min_width})")
    p.add_argument("--n-boot", type=int, default=None, help=f"bootstrap resamples (default {d.n_boot})")
    p.add_argument("--factor", type=float, default=d.factor,
                   help="constants count as 'within a factor' when every width's mean ratio to Gaussian "
                        "lies in [1/factor, factor]")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = dict(factor=args.factor)
    for key in ("dists", "dims", "widths", "replicates", "n_eval", "t_points", "fit_min_width", "n_boot"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(v) if key in ("dists", "dims", "widths") else v
    cfg = replace(cfg, **over)
    if "gaussian" not in cfg.dists:
        raise SystemExit(f"--dists {' '.join(cfg.dists)}: 'gaussian' must be among them (it is the reference).")
    if len(set(cfg.dists)) != len(cfg.dists):
        raise SystemExit(f"--dists {' '.join(cfg.dists)} repeats a law.")
    for key in ("replicates", "n_eval"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.replicates < 2:
        raise SystemExit(f"--replicates == {cfg.replicates}, must be >= 2 for a bootstrap interval.")
    if min(cfg.dims) < 3:
        raise SystemExit(f"--dims contains {min(cfg.dims)}; this comparison needs d >= 3 "
                         "(d = 1, 2 have law-specific log factors; see sims.dimension_scaling).")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if min(cfg.widths) < 1 or len(set(cfg.widths)) < 2:
        raise SystemExit("--widths needs at least two distinct widths >= 1 to fit a rate.")
    if cfg.n_boot < 10:
        raise SystemExit(f"--n-boot == {cfg.n_boot}, must be >= 10.")
    if not cfg.factor > 1:
        raise SystemExit(f"--factor == {cfg.factor}, must be > 1.")
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, sorted(set(cfg.widths))[-2]))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    grid = {"dist": list(cfg.dists), "d": list(cfg.dims), "width": list(cfg.widths)}
    rows, out = run_sim(NAME, cfg, grid, cell, args, plot=plot)
    from otlmc.sweep import write_csv

    table = fits(rows, cfg)
    write_csv(table, out / f"{NAME}_fits.csv")
    bad = sum(r["path_bound_violations"] for r in rows)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf and {NAME}_fits.csv ({len(rows)} rows); "
          f"two-layer path bound violated at {bad} (t, x) points")
    for f in table:
        print(f"  d={f['d']:3d} {f['dist']:10s} {f['metric']:28s} slope {f['slope']:+.3f} "
              f"[{f['ci_low']:+.3f}, {f['ci_high']:+.3f}] theory {f['theory_exponent']:+.3f}: {f['verdict']}; "
              f"overlaps Gaussian CI: {f['ci_overlaps_gaussian']}; constant ratio {f['constant_ratio']:.3f} "
              f"(range {f['constant_ratio_min']:.3f}..{f['constant_ratio_max']:.3f}), "
              f"prefactor ratio {f['prefactor_ratio']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
