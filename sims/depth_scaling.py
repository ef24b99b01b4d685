"""Depth scaling of weight matching at fixed width, and Lemma 4.1 with measured constants.

Two random MLPs ``d - n - ... - n - 1`` (``L`` hidden layers of width ``n``) with i.i.d. rows
(Ferbach et al., Assumption 6) are aligned by layer-wise weight matching (Eq. 2). Per cell the
table records, layer by layer: the matching cost ``W_2`` of the row measures (aligned and
not), Property 1's gap ``E_l = max_t (1/m_l) E_x |H_l(M_t) - H_l^A|^2`` measured on the path,
the constants ``C_1, C_2, Ebar`` of Lemma 4.1 measured on the same pair, and the recursion
``E_{l+1} <= 2 C_2 E_l + 2 C_1 m_l Ebar_l`` evaluated with them (see ``otlmc.measure``); and,
for the whole network, the output deviation of the mean network and the barrier. Layer 1's rows
live in ``R^d``; deeper rows live in ``R^n``, where ``n`` points are far too few for ``W_2`` to be
small -- the reason the theorems need effective widths growing like a tower in depth.

    python -m sims.depth_scaling            # default sweep, ~30 s (15 s of cell time)
    python -m sims.depth_scaling --quick    # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.matching import identity_matching, weight_matching
from otlmc.measure import measure_layer_constants
from otlmc.networks import permute
from otlmc.sampling import WEIGHT_LAWS, sample_inputs, sample_mlp

from ._common import base_parser, run_sim

NAME = "depth_scaling"
PER_LAYER = ("E", "E_endpoint", "C1", "C2", "C2_isotropic", "Ebar", "mismatch",
             "bound_one_step", "bound_recursive", "bound_sharp", "estimate_isotropic")


@dataclass(frozen=True)
class Config:
    d: int = 5
    width: int = 256
    depths: tuple = (1, 2, 3, 4, 5, 6)
    replicates: int = 6
    dist: str = "gaussian"
    activation: str = "relu"
    scale: float = 1.4142135623730951  # sqrt(2), He: ReLU activations keep their size with depth
    n_eval: int = 500
    t_points: int = 13

    grid_fields = ("depths",)


QUICK = dict(width=32, depths=(1, 2, 3), replicates=2, n_eval=100, t_points=5)


def architecture(cfg: Config, depth: int) -> tuple[int, ...]:
    return (cfg.d, *([cfg.width] * depth), 1)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One depth, one replicate: align, measure Property 1 layer by layer, and the whole path."""
    depth = params["depth"]
    arch = architecture(cfg, depth)
    law = dict(law=cfg.dist, activation=cfg.activation, scale=cfg.scale)
    net_a = sample_mlp(arch, rng=streams["net_a"], **law)
    net_b = sample_mlp(arch, rng=streams["net_b"], **law)
    X = sample_inputs(cfg.n_eval, cfg.d, rng=streams["eval"])  # (n_eval, d)
    ts = t_grid(cfg.t_points)
    matched = weight_matching(net_a, net_b)
    unmatched = identity_matching(net_a, net_b)
    net_b_al = permute(net_b, matched.perms)
    consts = measure_layer_constants(net_a, net_b_al, X, ts=ts)
    row = {}
    for l in range(depth):
        row[f"w2_layer{l + 1}"] = float(np.sqrt(matched.costs[l]))
        row[f"w2_identity_layer{l + 1}"] = float(np.sqrt(unmatched.costs[l]))
        for key in PER_LAYER:
            row[f"{key}_layer{l + 1}"] = float(consts[key][l])
    row.update(evaluate_path(net_a, net_b_al, X, ts=ts).summary("aligned_"))
    row.update(evaluate_path(net_a, net_b, X, ts=ts).summary("unaligned_"))
    return row


def _layer_stats(rows, key: str, depth: int):
    """Mean and 95% CI half-width over replicates of ``key_layer{l}`` for ``l = 1..depth``."""
    mean, ci = [], []
    for l in range(1, depth + 1):
        v = np.array([r[f"{key}_layer{l}"] for r in rows], dtype=float)
        mean.append(v.mean())
        ci.append(1.96 * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0)
    return np.arange(1, depth + 1), np.array(mean), np.array(ci)


def bound_holds(rows) -> tuple[int, int]:
    """How many (row, layer) pairs satisfy ``E_l <= bound_recursive_l`` and ``<= bound_sharp_l``."""
    ok = total = 0
    for r in rows:
        for l in range(1, r["depth"] + 1):
            e = r[f"E_layer{l}"]
            total += 1
            ok += int(e <= r[f"bound_sharp_layer{l}"] <= r[f"bound_one_step_layer{l}"]
                      and e <= r[f"bound_recursive_layer{l}"])
    return ok, total


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, mean_ci

    plt = _mpl()
    L = max(cfg.depths)
    deep = [r for r in rows if r["depth"] == L]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.6))
    ax = axes[0]
    for key, label, color in (("w2", "aligned (weight matching)", "C0"),
                              ("w2_identity", "not aligned", "C3")):
        x, m, c = _layer_stats(deep, key, L)
        ax.errorbar(x, m, yerr=c, fmt="o-", color=color, capsize=2, label=label)
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("$W_2$ between row measures of layer $l$")
    ax.set_title(f"matching cost per layer (rows in $R^{{{cfg.d}}}$ at $l=1$, "
                 f"$R^{{{cfg.width}}}$ after)", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)

    ax = axes[1]
    curves = (("E", "measured $E_l$ (max over t)", "C0", "o-"),
              ("bound_recursive", "Lemma 4.1, fed its own bound", "C3", "s--"),
              ("bound_one_step", "Lemma 4.1, fed measured $E_{l-1}$", "C1", "^--"),
              ("bound_sharp", "same, exact mismatch (no Cauchy-Schwarz)", "C2", "v--"),
              ("estimate_isotropic", "expectation-level estimate ($C_2$ = |W|$_F^2$/m)", "C4", "d:"))
    for key, label, color, fmt in curves:
        x, m, c = _layer_stats(deep, key, L)
        ax.errorbar(x, m, yerr=c, fmt=fmt, color=color, capsize=2, label=label)
    ok, total = bound_holds(rows)
    ax.set_yscale("log")
    ax.set_xlabel("layer $l$")
    ax.set_ylabel(r"$E_l = \max_t\ \frac{1}{m_l} E_x |H_l(M_t) - H^A_l|^2$")
    ax.set_title(f"Property 1 vs Lemma 4.1 with measured constants\n"
                 f"deterministic bounds hold in {ok}/{total} (row, layer) pairs", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[2]
    for key, label, color in (("C1", "$C_1$ = $W_2^2$ of matched rows", "C0"),
                              ("C2", "$C_2$ spectral (guaranteed)", "C3"),
                              ("C2_isotropic", f"$C_2$ isotropic (theory: scale$^2$ = {cfg.scale ** 2:.3g})", "C4"),
                              ("Ebar", r"$\bar E_l$ = (E|h|$^2$+1)/$m_l$ (input of layer l+1)", "C2")):
        x, m, c = _layer_stats(deep, key, L)
        ax.errorbar(x - 1, m, yerr=c, fmt="o-", color=color, capsize=2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step $l \\to l+1$")
    ax.set_ylabel("measured constant")
    ax.set_title("constants of the recursion", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[3]
    for key, label, color in (("aligned_deviation_rms_max_t", "aligned", "C0"),
                              ("unaligned_deviation_rms_max_t", "not aligned", "C3")):
        lv, m, c = mean_ci(rows, "depth", key)
        ax.errorbar(lv, m, yerr=c, fmt="o-", color=color, capsize=2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("number of hidden layers $L$")
    ax.set_ylabel(r"$\max_t\ \mathrm{RMS}_x |f_{M_t} - (1-t)f_A - t f_{\tilde B}|$")
    ax.set_title("output deviation of the mean network vs depth", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle(
        f"Random {cfg.dist} MLP {cfg.d}-{cfg.width}x L-1, {cfg.activation}, scale {cfg.scale:.3g}; "
        f"mean $\\pm$ 95% CI over {cfg.replicates} pairs; per-layer panels use L = {L}; "
        f"{cfg.n_eval} Gaussian inputs, {cfg.t_points}-point t-grid (t = 1 is aligned B)", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--d", type=int, default=d.d, help="input dimension m_0 (rows of layer 1 live in R^d)")
    p.add_argument("--width", type=int, default=None, help=f"hidden width n of every layer (default {d.width})")
    p.add_argument("--depths", type=int, nargs="+", default=None,
                   help=f"numbers of hidden layers L to sweep (default {' '.join(map(str, d.depths))})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per depth (default {d.replicates})")
    p.add_argument("--dist", choices=WEIGHT_LAWS[:3], default=d.dist, help="law of the weight entries")
    p.add_argument("--activation", choices=("relu", "tanh", "identity"), default=d.activation,
                   help="pointwise activation (all three are 1-Lipschitz, as Lemma 4.1 needs)")
    p.add_argument("--scale", type=float, default=d.scale,
                   help="weight entries have variance scale^2/fan_in; default sqrt(2) (He) keeps ReLU activations "
                        "the same size at every depth; 1 is THEORY's N(0, 1/m_{l-1}) (activations halve per layer)")
    p.add_argument("--n-eval", type=int, default=None, help=f"evaluation inputs (default {d.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = dict(d=args.d, dist=args.dist, activation=args.activation, scale=args.scale)
    for key in ("width", "depths", "replicates", "n_eval", "t_points"):
        v = getattr(args, key)
        if v is not None:
            over[key] = tuple(sorted(set(v))) if key == "depths" else v
    cfg = replace(cfg, **over)
    for key in ("d", "width", "replicates", "n_eval"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if min(cfg.depths) < 1:
        raise SystemExit(f"--depths contains {min(cfg.depths)}; depths must be >= 1.")
    if not (cfg.scale > 0 and np.isfinite(cfg.scale)):
        raise SystemExit(f"--scale == {cfg.scale}, must be a finite number > 0.")
    return cfg


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    rows, out = run_sim(NAME, cfg, {"depth": list(cfg.depths)}, cell, args, plot=plot)
    L = max(cfg.depths)
    deep = [r for r in rows if r["depth"] == L]
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows)")
    ok, total = bound_holds(rows)
    print(f"  deterministic Lemma 4.1 bounds hold in {ok}/{total} (row, layer) pairs")
    for key in ("w2", "w2_identity", "E", "bound_sharp", "bound_one_step", "bound_recursive",
                "estimate_isotropic", "C2", "C2_isotropic"):
        _, m, _ = _layer_stats(deep, key, L)
        print(f"  {key:20s} per layer (L={L}): " + " ".join(f"{v:.3g}" for v in m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
