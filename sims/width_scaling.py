"""Width scaling of weight matching for random MLPs (Ferbach et al., Sections 4-5).

Two networks with i.i.d. rows are sampled per width and replicate; B is aligned to A by
layer-wise weight matching (Eq. 2). Per cell the table records, with and without alignment:
the per-layer matching cost (``w2_layer1`` = ``W_2`` between the row measures of layer 1), the
output deviation of the mean network ``max_t RMS_x |f_{M_t} - ((1-t) f_A + t f_B~)|`` and the
barrier of the squared deviation. For the two-layer default the rows live in ``R^d`` and the
theory rate of the aligned curves is ``n^{-1/d}`` (``n^{-2/d}`` for the squared-loss barrier);
the unaligned curves stay flat.

    python -m sims.width_scaling            # default sweep, ~1 minute on 2 cores
    python -m sims.width_scaling --quick    # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.matching import identity_matching, weight_matching
from otlmc.networks import permute
from otlmc.sampling import WEIGHT_LAWS, sample_inputs, sample_mlp

from ._common import base_parser, run_sim

NAME = "width_scaling"


@dataclass(frozen=True)
class Config:
    d: int = 5
    depth: int = 1
    n_out: int = 10
    widths: tuple = (16, 32, 64, 128, 256, 512, 1024, 2048)
    replicates: int = 10
    dist: str = "gaussian"
    k: int = 2
    eta: float = 0.0
    activation: str = "relu"
    n_eval: int = 1000
    t_points: int = 25
    fit_min_width: int = 64

    grid_fields = ("widths", "fit_min_width")


QUICK = dict(widths=(16, 32, 64, 128), replicates=3, n_eval=200, t_points=9, fit_min_width=16)


def architecture(cfg: Config, n: int) -> tuple[int, ...]:
    return (cfg.d, *([n] * cfg.depth), cfg.n_out)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One width, one replicate: match, then measure the path with and without alignment."""
    n = params["width"]
    arch = architecture(cfg, n)
    law = dict(law=cfg.dist, activation=cfg.activation)
    if cfg.dist == "lowrank":
        law.update(k=cfg.k, eta=cfg.eta)
    net_a = sample_mlp(arch, rng=streams["net_a"], **law)
    net_b = sample_mlp(arch, rng=streams["net_b"], **law)
    X = sample_inputs(cfg.n_eval, cfg.d, rng=streams["eval"])  # (n_eval, d)
    ts = t_grid(cfg.t_points)
    matched = weight_matching(net_a, net_b)
    unmatched = identity_matching(net_a, net_b)
    row = {}
    for l, (c, c0) in enumerate(zip(matched.costs, unmatched.costs), start=1):
        row[f"w2_layer{l}"] = float(np.sqrt(c))
        row[f"w2_identity_layer{l}"] = float(np.sqrt(c0))
    aligned = evaluate_path(net_a, permute(net_b, matched.perms), X, ts=ts)
    unaligned = evaluate_path(net_a, net_b, X, ts=ts)
    row.update(aligned.summary("aligned_"))
    row.update(unaligned.summary("unaligned_"))
    return row


def theory_exponents(cfg: Config) -> list[dict]:
    """Width exponents the theory predicts for this table's columns (read by ``sims.report``).

    Rows of layer 1 are ``n`` i.i.d. points in ``R^d``: ``E W_2 ~ n^{-1/d}`` (THEORY.md Section 1,
    ``d >= 5``); for one hidden layer the output deviation follows the same rate and the squared-loss
    barrier its square (Ferbach et al., Section 4). Unaligned costs do not decay (slope 0). Only
    the claims that hold for this config get a slope; others get ``None`` (no verdict).
    """
    iid = cfg.dist != "lowrank"  # low-rank laws decay at a multi-scale rate, not n^{-1/d}
    rate = -1.0 / cfg.d if iid else None
    one_layer = iid and cfg.depth == 1
    e = lambda y, slope, label: dict(x="width", y=y, slope=slope, n_min=cfg.fit_min_width, label=label)  # noqa: E731
    return [
        e("w2_layer1", rate, "W2 of layer-1 rows, aligned"),
        e("w2_identity_layer1", 0.0, "W2 of layer-1 rows, not aligned"),
        e("aligned_deviation_rms_max_t", rate if one_layer else None, "output deviation, aligned"),
        e("unaligned_deviation_rms_max_t", 0.0 if one_layer else None, "output deviation, not aligned"),
        e("aligned_barrier", 2 * rate if one_layer else None, "loss barrier, aligned"),
    ]


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, loglog_panel

    plt = _mpl()
    rate = -1.0 / cfg.d
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    loglog_panel(axes[0], rows, "width",
                 [("w2_layer1", "aligned (weight matching)", "C0"),
                  ("w2_identity_layer1", "not aligned", "C3")],
                 theory_slope=rate, theory_label=f"theory $n^{{-1/{cfg.d}}}$",
                 fit_min=cfg.fit_min_width, ylabel="$W_2$ between layer-1 row measures")
    axes[0].set_title("matching cost")
    loglog_panel(axes[1], rows, "width",
                 [("aligned_deviation_rms_max_t", "aligned", "C0"),
                  ("unaligned_deviation_rms_max_t", "not aligned", "C3")],
                 theory_slope=rate, theory_label=f"theory $n^{{-1/{cfg.d}}}$",
                 fit_min=cfg.fit_min_width,
                 ylabel=r"$\max_t\ \mathrm{RMS}_x |f_{M_t} - (1-t)f_A - t f_{\tilde B}|$")
    axes[1].set_title("output deviation of the mean network")
    loglog_panel(axes[2], rows, "width",
                 [("aligned_barrier", "aligned", "C0"), ("unaligned_barrier", "not aligned", "C3")],
                 theory_slope=2 * rate, theory_label=f"theory $n^{{-2/{cfg.d}}}$",
                 fit_min=cfg.fit_min_width, ylabel="barrier of the squared deviation")
    axes[2].set_title("loss barrier")
    fig.suptitle(
        f"Random {cfg.dist} MLP {cfg.d}-n" + "-n" * (cfg.depth - 1)
        + f"-{cfg.n_out}, {cfg.activation}; mean $\\pm$ 95% CI over {cfg.replicates} pairs; "
        f"{cfg.n_eval} Gaussian inputs, {cfg.t_points}-point t-grid; fits use n $\\geq$ {cfg.fit_min_width}",
        fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--d", type=int, default=d.d, help="input dimension m_0 (rows of layer 1 live in R^d)")
    p.add_argument("--depth", type=int, default=d.depth, help="number of hidden layers L")
    p.add_argument("--n-out", type=int, default=d.n_out, help="output width")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"hidden widths to sweep (default {' '.join(map(str, d.widths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per width (default {d.replicates})")
    p.add_argument("--dist", choices=WEIGHT_LAWS, default=d.dist, help="law of the weight rows")
    p.add_argument("--k", type=int, default=d.k, help="dist=lowrank: number of large eigenvalues")
    p.add_argument("--eta", type=float, default=d.eta, help="dist=lowrank: relative size of the small ones")
    p.add_argument("--activation", choices=("relu", "tanh", "identity"), default=d.activation)
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {d.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = dict(d=args.d, depth=args.depth, n_out=args.n_out, dist=args.dist, k=args.k, eta=args.eta,
                activation=args.activation)
    for key in ("widths", "replicates", "n_eval", "t_points"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(v) if key == "widths" else v
    cfg = replace(cfg, **over)
    for key in ("d", "depth", "n_out", "replicates", "n_eval"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if min(cfg.widths) < 1:
        raise SystemExit(f"--widths contains {min(cfg.widths)}; widths must be >= 1.")
    if len(set(cfg.widths)) < 2:
        raise SystemExit("--widths needs at least two distinct widths to fit a rate.")
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, sorted(set(cfg.widths))[-2]))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    rows, out = run_sim(NAME, cfg, {"width": list(cfg.widths)}, cell, args, plot=plot)
    from otlmc.fit import fit_power_law
    from otlmc.sweep import column

    n = column(rows, "width")
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows); theory exponent -1/d = {-1 / cfg.d:+.3f}")
    for col in ("w2_layer1", "w2_identity_layer1", "aligned_deviation_rms_max_t",
                "unaligned_deviation_rms_max_t", "aligned_barrier"):
        fit = fit_power_law(n, column(rows, col), n_min=cfg.fit_min_width)
        print(f"  fitted exponent of {col:32s} {fit.slope:+.3f}  (widths >= {cfg.fit_min_width})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
