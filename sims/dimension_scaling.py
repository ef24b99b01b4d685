"""Dimension scaling: the width exponent of W_2 and of the aligned deviation for each input dimension d.

Per cell (input dimension ``d``, hidden width ``n``, replicate) two random two-layer networks
``d - n - n_out`` with i.i.d. rows (Ferbach et al., Assumption 6) are aligned by weight matching
(Eq. 2). The table records ``w2_layer1`` (``W_2`` between the layer-1 row measures, ``n`` points
in ``R^d``; Birkhoff makes the matching cost exact), the same without alignment, the aligned
output deviation ``max_t RMS_x |f_{M_t} - (1-t) f_A - t f_B~|`` and the largest ratio of the two
sides of the two-layer path bound (THEORY.md §6.4; ``<= 1`` on every draw).

The analysis fits ``E[metric] ~ C n^slope (log n)^a (log log n)^b`` per ``d`` with the log powers
of the regime that ``otlmc.theory.wasserstein_rate`` assigns to ``d`` (THEORY.md §1): ``d = 1``:
``n^{-1/2} (log log n)^{1/2}`` (Gaussian); ``d = 2``: ``n^{-1/2} log n`` (Gaussian); ``d >= 3``:
``n^{-1/d}``, clean only for ``5 <= d <= 12``; ``d = 3, 4`` sit below the Fournier-Guillin
threshold ``d > 4`` for ``W_2`` and ``d = 20`` is biased steep at reachable ``n``. The fitted
slope's percentile-bootstrap CI (``otlmc.fit.fit_rate``) gives the verdict "inside"/"outside".
The bootstrap CI reflects replicate noise only: a finite-``n`` bias of the slope is not in it.

    python -m sims.dimension_scaling                # default sweep, ~2 minutes with --n-jobs 2
    python -m sims.dimension_scaling --quick        # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.matching import identity_matching, weight_matching
from otlmc.measure import two_layer_path_bound
from otlmc.networks import permute
from otlmc.sampling import sample_inputs, sample_mlp
from otlmc.sweep import write_csv
from otlmc.theory import deviation_rate, is_clean_rate, wasserstein_rate, wasserstein_upper_rate

from ._common import base_parser, run_sim

NAME = "dimension_scaling"
DISTS = ("gaussian", "uniform", "rademacher")
METRICS = {"w2_layer1": "$W_2$ of layer-1 rows (aligned)",
           "aligned_deviation_rms_max_t": "aligned output deviation"}


@dataclass(frozen=True)
class Config:
    dims: tuple = (1, 2, 3, 5, 8, 12, 20)
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    replicates: int = 10
    dist: str = "gaussian"
    activation: str = "relu"
    n_out: int = 10
    n_eval: int = 300
    t_points: int = 9
    fit_min_width: int = 64
    n_boot: int = 2000
    boot_seed: int = 0

    grid_fields = ("dims", "widths", "fit_min_width", "n_boot", "boot_seed")


QUICK = dict(dims=(1, 2, 5, 12), widths=(16, 32, 64, 128), replicates=3, n_eval=100, t_points=5,
             fit_min_width=16, n_boot=200)


def pair_metrics(d: int, n: int, *, dist: str, activation: str, n_out: int, n_eval: int, t_points: int,
                 streams: dict) -> dict:
    """Two two-layer networks ``d - n - n_out`` with i.i.d. ``dist`` rows, aligned by weight matching.

    Returns ``W_2`` of the layer-1 rows (aligned and not), the aligned output deviation and the
    two sides of the two-layer path bound. Shared by ``sims.subgaussian``.
    """
    arch = (d, n, n_out)
    net_a = sample_mlp(arch, rng=streams["net_a"], law=dist, activation=activation)
    net_b = sample_mlp(arch, rng=streams["net_b"], law=dist, activation=activation)
    X = sample_inputs(n_eval, d, rng=streams["eval"])  # (n_eval, d)
    ts = t_grid(t_points)
    matched = weight_matching(net_a, net_b)
    b_al = permute(net_b, matched.perms)
    aligned = evaluate_path(net_a, b_al, X, ts=ts)
    lhs, rhs = two_layer_path_bound(net_a, b_al, X, ts)  # (T, N, n_out) each
    inner = rhs > 0
    return {
        "w2_layer1": float(np.sqrt(matched.costs[0])),
        "w2_identity_layer1": float(np.sqrt(identity_matching(net_a, net_b).costs[0])),
        "aligned_deviation_rms_max_t": aligned.summary()["deviation_rms_max_t"],
        "path_bound_rms_max_t": float(np.sqrt((rhs**2).sum(-1).mean(1)).max()),
        "path_bound_max_ratio": float((lhs[inner] / rhs[inner]).max()) if inner.any() else 0.0,
        "path_bound_violations": int((lhs > rhs * (1 + 1e-9) + 1e-12).sum()),
    }


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, n, replicate): match two two-layer networks, measure W_2, deviation and the path bound."""
    return pair_metrics(params["d"], params["width"], dist=cfg.dist, activation=cfg.activation,
                        n_out=cfg.n_out, n_eval=cfg.n_eval, t_points=cfg.t_points, streams=streams)


def theory_exponents(cfg: Config) -> list[dict]:
    """Width exponents per ``d`` for ``sims.report`` (plain power laws: ``-1/d`` for ``d >= 3``; the
    log-factor laws of ``d = 1, 2`` are fitted by this sim's own ``_fits.csv`` and get no verdict there)."""
    rate = lambda g: -1.0 / g["d"] if g["d"] >= 3 else None  # noqa: E731
    e = lambda y, slope, label: dict(x="width", y=y, slope=slope, n_min=cfg.fit_min_width, label=label)  # noqa: E731
    return [e("w2_layer1", rate, "W2 of layer-1 rows, aligned"),
            e("aligned_deviation_rms_max_t", rate, "output deviation, aligned"),
            e("w2_identity_layer1", 0.0, "W2 of layer-1 rows, not aligned")]


def fits(rows, cfg: Config) -> list[dict]:
    """One row per (d, metric): fitted slope with bootstrap CI against the regime's exponent.

    The ``log log n`` factor of ``d = 1`` is divided out of the metric before the fit; the
    ``log n`` factor of ``d = 2`` is passed to ``fit_rate`` as ``log_power``. ``local_slope_top``
    is the slope between the two largest widths (a finite-``n`` bias shows as a drift of the
    local slopes towards the theory value).
    """
    from otlmc.fit import fit_rate
    from otlmc.sweep import column

    out = []
    for d in cfg.dims:
        sub = [r for r in rows if r["d"] == d]
        n = column(sub, "width")
        for metric in METRICS:
            law = wasserstein_rate(d, law=cfg.dist) if metric == "w2_layer1" else deviation_rate(d, law=cfg.dist)
            y = column(sub, metric) / law.loglog_factor(n)
            f = fit_rate(n, y, n_min=cfg.fit_min_width, n_boot=cfg.n_boot, log_power=law.log_power,
                         rng=np.random.default_rng([cfg.boot_seed, d]))
            raw = fit_rate(n, column(sub, metric), n_min=cfg.fit_min_width, n_boot=0)
            out.append({
                "d": d, "metric": metric, "theory_exponent": law.exponent, "log_power": law.log_power,
                "loglog_power": law.loglog_power, "law": law.label(), "kind": law.kind, "regime": law.regime,
                "upper_bound_exponent": wasserstein_upper_rate(d).exponent,
                "slope": f.slope, "ci_low": f.ci_low, "ci_high": f.ci_high, "ci": f.ci,
                "verdict": f.verdict(law.exponent), "slope_no_log_model": raw.slope,
                "local_slope_top": float(f.local_slopes[-1]), "clean_regime": is_clean_rate(d),
                "intercept": f.intercept, "n_min": f.n_min, "n_points": f.n_points,
            })
    return out


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, mean_ci

    plt = _mpl()
    table = fits(rows, cfg)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.0))
    cmap = plt.get_cmap("viridis")
    colors = {d: cmap(i / max(1, len(cfg.dims) - 1)) for i, d in enumerate(cfg.dims)}
    for ax, metric in zip(axes[:2], METRICS):
        for d in cfg.dims:
            lv, mean, ci = mean_ci([r for r in rows if r["d"] == d], "width", metric)
            fr = next(f for f in table if f["d"] == d and f["metric"] == metric)
            ax.errorbar(lv, mean, yerr=ci, fmt="o-", ms=3, capsize=2, color=colors[d],
                        label=f"d={d}: ${fr['slope']:+.3f}$ vs ${fr['law']}$ [{fr['verdict']}]")
            law = wasserstein_rate(d, law=cfg.dist)
            keep = lv >= fr["n_min"]
            shape = law.shape(lv[keep])
            c = np.exp(np.mean(np.log(mean[keep])) - np.mean(np.log(shape)))
            ax.plot(lv[keep], c * shape, "--", color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width n")
        ax.set_ylabel(METRICS[metric])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, title="fitted slope vs theory law [verdict]", title_fontsize=7)
        ax.set_title(f"{METRICS[metric]} (dashed: theory law, height anchored on data)", fontsize=9)
    ax = axes[2]
    dd = np.linspace(min(cfg.dims), max(cfg.dims), 200)
    ax.plot(dd[dd >= 3], -1.0 / dd[dd >= 3], "k-", lw=1, label="theory $-1/d$ ($d \\geq 3$)")
    ax.plot(dd, [wasserstein_upper_rate(max(1, int(round(x)))).exponent for x in dd], ":", color="gray",
            label="Fournier-Guillin upper bound ($-1/4$ for $d \\leq 4$)")
    low = [d for d in cfg.dims if d <= 2]
    if low:
        ax.plot(low, [-0.5] * len(low), "ks", mfc="none", ms=9, label="theory $-1/2$ (log factors fitted out)")
    ax.axvspan(5, 12, color="C2", alpha=0.08, label="clean range $5 \\leq d \\leq 12$")
    for k, (metric, marker) in enumerate(zip(METRICS, ("o", "D"))):
        sub = [f for f in table if f["metric"] == metric]
        x = np.array([f["d"] for f in sub]) * (1 + 0.03 * (2 * k - 1))
        s = np.array([f["slope"] for f in sub])
        err = np.array([[f["slope"] - f["ci_low"] for f in sub], [f["ci_high"] - f["slope"] for f in sub]])
        ax.errorbar(x, s, yerr=err, fmt=marker, color=f"C{k}", ms=5, capsize=3, label=METRICS[metric])
        if k == 0:
            for f, xi in zip(sub, x):
                ax.annotate(f["verdict"], (xi, f["ci_low"]), textcoords="offset points", xytext=(0, -12),
                            ha="center", fontsize=7, color="C0")
    ax.set_xscale("log")
    ax.set_xticks(list(cfg.dims))
    ax.set_xticklabels([str(d) for d in cfg.dims])
    ax.set_xlabel("input dimension d (rows live in $R^d$)")
    ax.set_ylabel(f"fitted width exponent (n $\\geq$ {cfg.fit_min_width}, {int(100 * table[0]['ci'])}% bootstrap CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    w2 = [f for f in table if f["metric"] == "w2_layer1"]
    inside = [f["d"] for f in w2 if f["verdict"] == "inside"]
    ax.set_title(f"$W_2$ exponent: theory inside the CI for d in {inside or 'none'} "
                 f"of {list(cfg.dims)}", fontsize=9)
    fig.suptitle(f"Random {cfg.dist} two-layer MLPs d-n-{cfg.n_out} ({cfg.activation}), weight matching; "
                 f"mean $\\pm$ 95% CI over {cfg.replicates} pairs; {cfg.n_eval} Gaussian inputs, "
                 f"{cfg.t_points}-point t-grid. CIs hold replicate noise only, not finite-n bias.", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--dims", type=int, nargs="+", default=None,
                   help=f"input dimensions d (default {' '.join(map(str, d.dims))})")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"hidden widths n (default {' '.join(map(str, d.widths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per (d, n) (default {d.replicates})")
    p.add_argument("--dist", choices=DISTS, default=d.dist, help="law of the weight entries")
    p.add_argument("--n-out", type=int, default=d.n_out, help="output width")
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {d.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    p.add_argument("--fit-min-width", type=int, default=None,
                   help=f"smallest width in the fits (default {d.fit_min_width})")
    p.add_argument("--n-boot", type=int, default=None, help=f"bootstrap resamples (default {d.n_boot})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = dict(dist=args.dist, n_out=args.n_out)
    for key in ("dims", "widths", "replicates", "n_eval", "t_points", "fit_min_width", "n_boot"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(v) if key in ("dims", "widths") else v
    cfg = replace(cfg, **over)
    for key in ("n_out", "replicates", "n_eval"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.replicates < 2:
        raise SystemExit(f"--replicates == {cfg.replicates}, must be >= 2 for a bootstrap interval.")
    if min(cfg.dims) < 1:
        raise SystemExit(f"--dims contains {min(cfg.dims)}; dimensions must be >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if min(cfg.widths) < 3:
        raise SystemExit(f"--widths contains {min(cfg.widths)}; widths must be >= 3 (log log n > 0).")
    if len(set(cfg.widths)) < 2:
        raise SystemExit("--widths needs at least two distinct widths to fit a rate.")
    if cfg.n_boot < 10:
        raise SystemExit(f"--n-boot == {cfg.n_boot}, must be >= 10.")
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, sorted(set(cfg.widths))[-2]))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    rows, out = run_sim(NAME, cfg, {"d": list(cfg.dims), "width": list(cfg.widths)}, cell, args, plot=plot)
    table = fits(rows, cfg)
    write_csv(table, out / f"{NAME}_fits.csv")
    bad = sum(r["path_bound_violations"] for r in rows)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf and {NAME}_fits.csv ({len(rows)} rows); "
          f"two-layer path bound violated at {bad} (t, x) points")
    for f in table:
        print(f"  d={f['d']:3d} {f['metric']:28s} slope {f['slope']:+.3f} [{f['ci_low']:+.3f}, {f['ci_high']:+.3f}]"
              f"  theory {f['theory_exponent']:+.3f} ({f['law']}, {f['regime']}): {f['verdict']}"
              f"  local slope at top {f['local_slope_top']:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
