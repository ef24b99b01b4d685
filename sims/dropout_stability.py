"""Dropout stability of wide two-layer networks against the W_1 bound (Ferbach et al., Appendix B.14).

Setting of B.14: ``f(x) = (1/m) sum_i sigma(<w_i, x>)`` (second layer fixed to ``1/m``), rows
``w_i`` i.i.d. ``N(0, I_d / d)``, inputs uniform on the sphere of radius ``sqrt(d)`` (bounded, as
B.14 asks). Per cell (``d``, width ``m``, dropped fraction ``q``, replicate) a random set ``S^c``
of ``round(q m)`` neurons is dropped and the kept ones renormalised,
``f_S(x) = (1/|S|) sum_{i in S} sigma(<w_i, x>)``. On every input the table compares the dropout
error ``|f(x) - f_S(x)|`` with the explicit bound (``otlmc.theory.dropout_bound``)

    |f(x) - f_S(x)| <= (|S^c| / m) Lip(sigma) |x| W_1(mu_S, mu_{S^c}),

with ``W_1`` exact (``otlmc.transport``). The bound holds on every draw (``bound_violations`` must
be 0). Rates: ``W_1`` between two samples of a law with a density in ``R^d`` decays like
``m^{-1/d}`` (``d >= 3``), so the bound does; the error itself at a fixed ``x`` is the deviation
of a subsample mean, ``E|f - f_S|^2 = (q / (1 - q)) s_x^2 / (m - 1)`` with ``s_x^2`` the
population variance of ``sigma(<w_i, x>)`` over the ``m`` neurons (sampling without
replacement), i.e. ``m^{-1/2}``. The bound is therefore loose by a factor growing like
``m^{1/2 - 1/d}``: B.14's remark that the tightness of the bound is open is answered negatively
for random weights and a fixed input.

    python -m sims.dropout_stability --n-jobs 2     # default sweep, ~30 s on 2 cores
    python -m sims.dropout_stability --quick        # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.measure import dropout_error_mean_square, dropout_stability
from otlmc.sampling import sample_inputs, sample_weights

from ._common import base_parser, run_sim

NAME = "dropout_stability"
METRICS = {"error_rms": "dropout error RMS$_x |f - f_S|$", "bound_rms": "B.14 bound RMS$_x$",
           "w1": "$W_1(\\mu_S, \\mu_{S^c})$"}


@dataclass(frozen=True)
class Config:
    dims: tuple = (3, 5, 8)
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    fractions: tuple = (0.5, 0.2)
    replicates: int = 16
    activation: str = "relu"
    n_eval: int = 500
    fit_min_width: int = 64
    n_boot: int = 2000
    boot_seed: int = 0

    grid_fields = ("dims", "widths", "fractions", "fit_min_width", "n_boot", "boot_seed")


QUICK = dict(dims=(3, 5), widths=(16, 32, 64, 128), fractions=(0.5,), replicates=3, n_eval=100,
             fit_min_width=16, n_boot=200)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, m, q, replicate): drop ``round(q m)`` random neurons, both sides of the bound on every input."""
    d, m, q = params["d"], params["width"], params["fraction"]
    W = sample_weights(m, d, rng=streams["net_a"])  # (m, d) rows N(0, I/d)
    X = sample_inputs(cfg.n_eval, d, rng=streams["eval"], law="sphere")  # (n_eval, d), |x| = sqrt(d)
    n_drop = min(max(int(round(q * m)), 1), m - 1)
    keep = np.sort(streams["data"].permutation(m)[n_drop:])  # (m - n_drop,) kept indices S
    err, bound, w1 = dropout_stability(W, keep, X, activation=cfg.activation)  # (n_eval,) each
    pos = err > 0
    return {
        "n_dropped": n_drop,
        "w1": w1,
        "error_rms": float(np.sqrt(np.mean(err**2))),
        "error_max": float(err.max()),
        # exact E_S over random kept sets, averaged over the inputs: the m^{-1/2} law
        "error_rms_expected": float(np.sqrt(dropout_error_mean_square(W, X, n_dropped=n_drop,
                                                                      activation=cfg.activation).mean())),
        "bound_rms": float(np.sqrt(np.mean(bound**2))),
        "bound_max": float(bound.max()),
        "min_ratio_bound_error": float((bound[pos] / err[pos]).min()) if pos.any() else float("inf"),
        "bound_violations": int((err > bound * (1 + 1e-9) + 1e-12).sum()),
    }


def theory_exponent(metric: str, d: int) -> float:
    """``-1/d`` for ``W_1`` and the bound (two-sample rate, ``d >= 3``); ``-1/2`` for the error."""
    return -0.5 if metric == "error_rms" else -1.0 / d


def theory_exponents(cfg: Config) -> list[dict]:
    """Width exponents for ``sims.report``: the B.14 bound ``m^{-1/d}``, the error ``m^{-1/2}``."""
    e = lambda y, slope, label: dict(x="width", y=y, slope=slope, n_min=cfg.fit_min_width, label=label)  # noqa: E731
    return [e("bound_rms", lambda g: theory_exponent("bound_rms", g["d"]), "B.14 bound"),
            e("error_rms", lambda g: theory_exponent("error_rms", g["d"]), "dropout error")]


def fits(rows, cfg: Config) -> list[dict]:
    """Fitted exponents (bootstrap CI) per (d, fraction, metric) and the bound/error ratio range."""
    from otlmc.fit import fit_rate
    from otlmc.sweep import column

    out = []
    for d in cfg.dims:
        for q in cfg.fractions:
            sub = [r for r in rows if r["d"] == d and r["fraction"] == q]
            n = column(sub, "width")
            ratio = column(sub, "bound_rms") / column(sub, "error_rms")
            for metric in METRICS:
                theory = theory_exponent(metric, d)
                f = fit_rate(n, column(sub, metric), n_min=cfg.fit_min_width, n_boot=cfg.n_boot,
                             rng=np.random.default_rng([cfg.boot_seed, d, int(round(1000 * q))]))
                out.append({"d": d, "fraction": q, "metric": metric, "theory_exponent": theory,
                            "slope": f.slope, "ci_low": f.ci_low, "ci_high": f.ci_high, "ci": f.ci,
                            "verdict": f.verdict(theory), "local_slope_top": float(f.local_slopes[-1]),
                            "n_min": f.n_min, "n_points": f.n_points,
                            "ratio_rms_smallest_width": float(ratio[n == n.min()].mean()),
                            "ratio_rms_largest_width": float(ratio[n == n.max()].mean()),
                            "min_pointwise_ratio": float(column(sub, "min_ratio_bound_error").min()),
                            "violations": int(column(sub, "bound_violations").sum())})
    return out


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, mean_ci

    plt = _mpl()
    table = fits(rows, cfg)
    nq = len(cfg.fractions)
    fig, axes = plt.subplots(1, nq + 1, figsize=(5.8 * (nq + 1), 7.4), squeeze=False)
    axes = axes[0]
    colors = {d: f"C{i}" for i, d in enumerate(cfg.dims)}
    for ax, q in zip(axes, cfg.fractions):
        for d in cfg.dims:
            sub = [r for r in rows if r["d"] == d and r["fraction"] == q]
            for metric, fmt in (("bound_rms", "s--"), ("error_rms", "o-")):
                lv, mean, ci = mean_ci(sub, "width", metric)
                fr = next(f for f in table if f["d"] == d and f["fraction"] == q and f["metric"] == metric)
                th = fr["theory_exponent"]
                ax.errorbar(lv, mean, yerr=ci, fmt=fmt, ms=3, capsize=2, color=colors[d],
                            label=f"d={d} {'bound' if metric == 'bound_rms' else 'error'}: "
                                  f"{fr['slope']:+.3f} [{fr['ci_low']:+.3f}, {fr['ci_high']:+.3f}] "
                                  f"vs {th:+.3f} {fr['verdict']}")
                keep = lv >= cfg.fit_min_width
                c = np.exp(np.mean(np.log(mean[keep]) - th * np.log(lv[keep])))
                ax.plot(lv[keep], c * lv[keep] ** th, ":", color="k", lw=0.8)
            lv, exp_rms, _ = mean_ci(sub, "width", "error_rms_expected")
            ax.plot(lv, exp_rms, "-", color=colors[d], lw=3, alpha=0.25,
                    label=f"d={d} exact $E_S$ of the error (without-replacement variance)")
        viol = sum(r["bound_violations"] for r in rows if r["fraction"] == q)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width m")
        ax.set_ylabel("RMS over inputs")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, title="fit slope [CI] vs theory: verdict (dotted: theory rate)", title_fontsize=6,
                  loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
        ax.set_title(f"drop a fraction {q:g}: squares = $W_1$ bound, circles = error\n"
                     f"bound violated at {viol} (x, draw) points", fontsize=8)
    ax = axes[nq]
    for d in cfg.dims:
        for j, q in enumerate(cfg.fractions):
            sub = [r for r in rows if r["d"] == d and r["fraction"] == q]
            lv = np.unique([r["width"] for r in sub])
            ratio = np.array([np.mean([r["bound_rms"] / r["error_rms"] for r in sub if r["width"] == v]) for v in lv])
            mn = np.array([min(r["min_ratio_bound_error"] for r in sub if r["width"] == v) for v in lv])
            ax.plot(lv, ratio, "o-" if j == 0 else "o:", color=colors[d], ms=3,
                    label=f"d={d}, q={q:g}: RMS bound / RMS error")
            ax.plot(lv, mn, "v" if j == 0 else "1", color=colors[d], ms=5,
                    label=f"d={d}, q={q:g}: min over x and draws of bound/error")
            c = ratio[-1] / lv[-1] ** (0.5 - 1.0 / d)
            ax.plot(lv, c * lv ** (0.5 - 1.0 / d), "--", color=colors[d], lw=0.6)
    ax.axhline(1.0, color="k", lw=1.2, label="bound = error")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width m")
    ax.set_ylabel("bound / measured")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    ax.set_title("bound / error: looseness grows like $m^{1/2 - 1/d}$ (dashed)\nnever below 1", fontsize=8)
    fig.suptitle(f"Appendix B.14: $f = \\frac{{1}}{{m}}\\sum_i \\sigma(\\langle w_i, x\\rangle)$, {cfg.activation}, rows "
                 f"N(0, I/d), {cfg.n_eval} inputs on the sphere of radius $\\sqrt{{d}}$; mean $\\pm$ 95% CI over "
                 f"{cfg.replicates} draws; fits use m $\\geq$ {cfg.fit_min_width}; exact $W_1$", fontsize=9)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--dims", type=int, nargs="+", default=None, help=f"input dimensions d (default {d.dims})")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"widths m (default {' '.join(map(str, d.widths))})")
    p.add_argument("--fractions", type=float, nargs="+", default=None,
                   help=f"fractions of neurons dropped (default {d.fractions})")
    p.add_argument("--replicates", type=int, default=None, help=f"draws per grid point (default {d.replicates})")
    p.add_argument("--activation", choices=("relu", "tanh", "identity"), default=d.activation)
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {d.n_eval})")
    p.add_argument("--fit-min-width", type=int, default=None, help=f"smallest width in the fits (default {d.fit_min_width})")
    p.add_argument("--n-boot", type=int, default=None, help=f"bootstrap resamples (default {d.n_boot})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = dict(activation=args.activation)
    for key in ("dims", "widths", "fractions", "replicates", "n_eval", "fit_min_width", "n_boot"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(v) if key in ("dims", "widths", "fractions") else v
    cfg = replace(cfg, **over)
    if cfg.replicates < 2:
        raise SystemExit(f"--replicates == {cfg.replicates}, must be >= 2 for a bootstrap interval.")
    if min(cfg.dims) < 1:
        raise SystemExit(f"--dims contains {min(cfg.dims)}; dimensions must be >= 1.")
    if min(cfg.widths) < 2 or len(set(cfg.widths)) < 2:
        raise SystemExit("--widths needs at least two distinct widths >= 2.")
    if not all(0 < q < 1 for q in cfg.fractions):
        raise SystemExit(f"--fractions must lie in (0, 1), got {list(cfg.fractions)}.")
    if cfg.n_eval < 1:
        raise SystemExit(f"--n-eval == {cfg.n_eval}, must be >= 1.")
    if cfg.n_boot < 10:
        raise SystemExit(f"--n-boot == {cfg.n_boot}, must be >= 10.")
    cfg = replace(cfg, fractions=tuple(float(q) for q in cfg.fractions), widths=tuple(sorted(set(cfg.widths))))
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, cfg.widths[-2]))


def main(argv=None) -> int:
    from otlmc.sweep import write_csv

    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    grid = {"d": list(cfg.dims), "fraction": list(cfg.fractions), "width": list(cfg.widths)}
    rows, out = run_sim(NAME, cfg, grid, cell, args, plot=plot)
    table = fits(rows, cfg)
    write_csv(table, out / f"{NAME}_fits.csv")
    bad = sum(r["bound_violations"] for r in rows)
    worst = min(r["min_ratio_bound_error"] for r in rows)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf and {NAME}_fits.csv ({len(rows)} rows); B.14 bound violated at "
          f"{bad} (x, draw) points; smallest bound/error ratio {worst:.3f}")
    for f in table:
        print(f"  d={f['d']} q={f['fraction']:g} {f['metric']:10s} slope {f['slope']:+.3f} [{f['ci_low']:+.3f}, "
              f"{f['ci_high']:+.3f}] vs {f['theory_exponent']:+.3f}: {f['verdict']}; RMS bound/error "
              f"{f['ratio_rms_smallest_width']:.1f} -> {f['ratio_rms_largest_width']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
