"""Theorem 5.3 (tightness): one layer's best matching error cannot decay faster than m^{-2/d}.

Per cell: a layer ``W^A, W^B`` of ``m`` i.i.d. Gaussian rows in ``R^d`` (entries ``N(0, 1/d)``),
fed by a random ReLU layer ``x = relu(V z)``, ``z ~ N(0, I_d)``, ``V`` a ``(d, d)`` Gaussian
matrix, whose uncentered second moment ``Sigma = E[x x^T]`` is full rank and known in closed
form (arc-cosine kernel, ``otlmc.theory.relu_second_moment``); ``V`` is shared by all widths of
one replicate (drawn from ``--sigma-seed``, ``d`` and the replicate). The table records the exact

    sigma_cost = min_p (1/m) E_x |W^A x - W^B[p] x|^2 = min_p (1/m) tr(Delta_p Sigma Delta_p^T)

(one assignment on the rows of ``W Sigma^{1/2}``), the plain weight-matching cost
``w2sq = min_p (1/m) |Delta_p|_F^2`` (``W_2^2`` of the row measures) and the eigenvalues of
``Sigma``. The Sigma sandwich ``lambda_min w2sq <= sigma_cost <= lambda_max w2sq`` holds on every
draw; Theorem 5.3 says ``E sigma_cost >= C m^{-2/d}``, so the fitted slope must not be steeper
than ``-2/d`` (THEORY.md: for ``d <= 4`` the two-sample ``W_2^2`` rate is slower, ``m^{-1/2}``
at ``d = 3``, which satisfies the bound with room).

    python -m sims.tightness            # default sweep, ~1 minute (50 s of cell time)
    python -m sims.tightness --quick    # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.measure import sigma_matching_cost
from otlmc.rng import cell_streams
from otlmc.sampling import sample_weights
from otlmc.theory import relu_second_moment, tightness_rate
from otlmc.transport import match_rows

from ._common import base_parser, run_sim

NAME = "tightness"
STREAMS = ("net_a", "net_b")


@dataclass(frozen=True)
class Config:
    dims: tuple = (3, 5, 8)
    sigmas: tuple = ("identity", "relu")
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024)
    replicates: int = 8
    fit_min_width: int = 64
    sigma_seed: int = 0

    grid_fields = ("dims", "sigmas", "widths", "fit_min_width")


QUICK = dict(dims=(3, 5), widths=(16, 32, 64), replicates=3, fit_min_width=16)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, m, replicate): exact Sigma-weighted and plain matching costs of one layer."""
    d, m = params["d"], params["width"]
    if params["sigma"] == "identity":
        Sigma = np.eye(d)  # x ~ N(0, I_d): isotropic, lambda_min = lambda_max = 1
    else:
        # The previous layer V depends on (d, replicate) only, so every width of one replicate
        # sees the same Sigma and the width trend is not confounded by a fresh Sigma per width.
        v_rng = cell_streams({"sim": NAME, "d": d, "replicate": params["replicate"]}, cfg.sigma_seed,
                             ("sigma",))["sigma"]
        V = sample_weights(d, d, rng=v_rng)  # (d, d): the previous layer
        Sigma = relu_second_moment(V)  # (d, d) = E[x x^T], x = relu(V z)
    lam = np.linalg.eigvalsh(Sigma)
    WA = sample_weights(m, d, rng=streams["net_a"])  # (m, d)
    WB = sample_weights(m, d, rng=streams["net_b"])  # (m, d)
    sigma_cost, _ = sigma_matching_cost(WA, WB, Sigma)
    p = match_rows(WA, WB)
    delta = WA - WB[p]  # (m, d)
    w2sq = float((delta**2).sum() / m)
    naive = float(np.einsum("ij,jk,ik->", delta, Sigma, delta) / m)
    return {
        "sigma_cost": sigma_cost,
        "w2sq": w2sq,
        "sigma_cost_naive_perm": naive,
        "lambda_min": float(lam[0]),
        "lambda_max": float(lam[-1]),
        "sigma_participation_ratio": float(lam.sum() ** 2 / (lam**2).sum()),
        "sandwich_low": float(lam[0] * w2sq),
        "sandwich_high": float(lam[-1] * w2sq),
    }


def sandwich_holds(rows, rtol: float = 1e-9) -> tuple[int, int]:
    """Rows where ``lambda_min w2sq <= sigma_cost <= sigma_cost_naive_perm <= lambda_max w2sq``."""
    ok = 0
    for r in rows:
        lo, hi = r["sandwich_low"] * (1 - rtol), r["sandwich_high"] * (1 + rtol)
        ok += int(lo <= r["sigma_cost"] <= r["sigma_cost_naive_perm"] * (1 + rtol) <= hi * (1 + rtol))
    return ok, len(rows)


def fitted_slopes(rows, cfg: Config, metric: str = "sigma_cost") -> dict:
    """``{(d, sigma): slope}`` of ``log mean metric`` on ``log m`` for widths ``>= fit_min_width``."""
    from otlmc.fit import fit_power_law
    from otlmc.sweep import column

    out = {}
    for d in cfg.dims:
        for sig in cfg.sigmas:
            sub = [r for r in rows if r["d"] == d and r["sigma"] == sig]
            out[d, sig] = fit_power_law(column(sub, "width"), column(sub, metric),
                                        n_min=cfg.fit_min_width).slope
    return out


SIGMA_LABEL = {"identity": r"$\Sigma = I$", "relu": r"$\Sigma$ of a random ReLU layer"}
SIGMA_COLOR = {"identity": "C0", "relu": "C2"}


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, mean_ci

    plt = _mpl()
    slopes = fitted_slopes(rows, cfg)
    floor_slopes = fitted_slopes(rows, cfg, "sandwich_low")
    fig, axes = plt.subplots(1, len(cfg.dims), figsize=(5.6 * len(cfg.dims), 4.6), squeeze=False)
    for ax, d in zip(axes[0], cfg.dims):
        first = None
        for sig in cfg.sigmas:
            sub = [r for r in rows if r["d"] == d and r["sigma"] == sig]
            color = SIGMA_COLOR.get(sig, "C1")
            lv, mean, ci = mean_ci(sub, "width", "sigma_cost")
            pr = np.mean([r["sigma_participation_ratio"] for r in sub])
            ax.errorbar(lv, mean, yerr=ci, fmt="o-", color=color, capsize=2,
                        label=f"{SIGMA_LABEL.get(sig, sig)} (PR {pr:.2f}): fit $m^{{{slopes[d, sig]:+.3f}}}$")
            _, lo, _ = mean_ci(sub, "width", "sandwich_low")
            _, hi, _ = mean_ci(sub, "width", "sandwich_high")
            if sig != "identity":
                ax.fill_between(lv, lo, hi, color=color, alpha=0.12)
                ax.plot(lv, lo, ":", color=color,
                        label=f"floor $\\lambda_{{min}} W_2^2$: fit $m^{{{floor_slopes[d, sig]:+.3f}}}$")
            if first is None:
                first = (lv, mean)
        lv, mean = first
        keep = lv >= cfg.fit_min_width
        anchor = np.exp(np.mean(np.log(mean[keep]) - np.log(tightness_rate(lv[keep], d))))
        ax.plot(lv, anchor * tightness_rate(lv, d), "k--", lw=1,
                label=f"Thm 5.3 lower-bound rate $m^{{-2/{d}}}$ (constant unknown; anchored)")
        parts = [f"{sig}: {slopes[d, sig] + 2.0 / d:+.3f} (floor {floor_slopes[d, sig] + 2.0 / d:+.3f})"
                 for sig in cfg.sigmas]
        ax.set_title(f"rows in $R^{{{d}}}$ ($m_{{l-1}}$ = {d}); lower-bound rate slope $-2/d$ = {-2 / d:+.3f}\n"
                     f"fitted slope + 2/d (< 0: steeper than the rate): {'; '.join(parts)}", fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width m (rows of the layer)")
        ax.set_ylabel(r"$\min_p \frac{1}{m} E_x |W^A x - W^B_p x|^2$")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Theorem 5.3 tightness: Gaussian rows N(0, I/d); shaded: Sigma sandwich "
                 f"[$\\lambda_{{min}}$, $\\lambda_{{max}}$] $\\times W_2^2$; mean $\\pm$ 95% CI over "
                 f"{cfg.replicates} draws; fits use m $\\geq$ {cfg.fit_min_width}", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    c = Config()
    p.add_argument("--dims", type=int, nargs="+", default=None,
                   help=f"input dimensions d = m_(l-1) of the layer (default {' '.join(map(str, c.dims))})")
    p.add_argument("--sigmas", nargs="+", choices=("identity", "relu"), default=None,
                   help="input second moments: identity (x ~ N(0, I)) and/or relu (a random ReLU layer's)")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"layer widths m (default {' '.join(map(str, c.widths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"draws per (d, m) (default {c.replicates})")
    p.add_argument("--fit-min-width", type=int, default=None,
                   help=f"smallest width used in the slope fit (default {c.fit_min_width})")
    p.add_argument("--sigma-seed", type=int, default=c.sigma_seed,
                   help="seed of the previous layer V that defines Sigma (shared across widths of a replicate)")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    if args.sigma_seed < 0:
        raise SystemExit(f"--sigma-seed == {args.sigma_seed}, must be >= 0.")
    over = {"sigma_seed": args.sigma_seed}
    for key in ("dims", "sigmas", "widths", "replicates", "fit_min_width"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(sorted(set(v))) if key in ("dims", "widths") else v
    if args.sigmas is not None:
        over["sigmas"] = tuple(dict.fromkeys(args.sigmas))
    cfg = replace(cfg, **over)
    if min(cfg.dims) < 1:
        raise SystemExit(f"--dims contains {min(cfg.dims)}; dimensions must be >= 1.")
    if min(cfg.widths) < 1:
        raise SystemExit(f"--widths contains {min(cfg.widths)}; widths must be >= 1.")
    if cfg.replicates < 1:
        raise SystemExit(f"--replicates == {cfg.replicates}, must be >= 1.")
    if len(cfg.widths) < 2:
        raise SystemExit("--widths needs at least two distinct widths to fit a rate.")
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, cfg.widths[-2]))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    grid = {"d": list(cfg.dims), "sigma": list(cfg.sigmas), "width": list(cfg.widths)}
    rows, out = run_sim(NAME, cfg, grid, cell, args, plot=plot, streams=STREAMS)
    ok, total = sandwich_holds(rows)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows); Sigma sandwich holds in {ok}/{total}")
    floor = fitted_slopes(rows, cfg, "sandwich_low")
    for (d, sig), s in fitted_slopes(rows, cfg).items():
        print(f"  d = {d}, Sigma = {sig:8s}: fitted exponent {s:+.3f} (lambda_min W_2^2 floor "
              f"{floor[d, sig]:+.3f}); Theorem 5.3 lower-bound rate -2/d = {-2 / d:+.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
