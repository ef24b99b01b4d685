"""Layerwise linear feature connectivity of MLPs on MNIST (Zhou et al., NeurIPS 2023).

Per replicate three MLPs are trained with Adam (lr 1e-3, constant after 10 warm-up steps, batch
500): A and B spawned from one common initialisation (k = 0) with independent data orders, and C
from its own initialisation. Four pairs are compared: ``spawn`` (A, B), ``independent`` (A, C)
unaligned, ``wm`` (A, C aligned by Git Re-Basin weight matching) and ``am`` (A, C aligned by
activation matching). For every pair and layer (hidden post-activations, then logits) the table
records on test examples the LLFC metric ``mean(1 - cos_alpha)`` at alpha = 1/2 (A's weight) and
its baseline ``mean(1 - cos_AB)``, the scale ``coef``, weak additivity ``Dist_sigma``,
commutativity ``Dist_com`` beside ``Dist_W`` and ``Dist_H``, the exact error budget at alpha = 1/2
(weak-additivity and commutativity parts), model-stitching errors without a stitching layer and
Lemma 1's errors at the midpoint.

Scaled down from the paper to fit a 2-core CPU in minutes: hidden width 256, 20k training
examples, 10 epochs, 2 replicates.

    python -m sims.llfc            # default, a few minutes on 2 cores
    python -m sims.llfc --quick    # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import evaluate_path, t_grid
from otlmc.features import commutativity, lemma1, llfc, llfc_budget, stitching_errors, weak_additivity
from otlmc.matching import match
from otlmc.networks import permute
from otlmc.train import TrainConfig, init_mlp, spawn, train

from ._common import base_parser, run_sim

NAME = "llfc"
PAIRS = ("spawn", "independent", "wm", "am")
LABELS = {"spawn": "spawned (k=0), no alignment", "independent": "independent, no alignment",
          "wm": "independent + Re-Basin WM", "am": "independent + AM"}
COLORS = {"spawn": "C0", "independent": "C7", "wm": "C1", "am": "C2"}
#: Zhou et al.: MLP/MNIST stitching errors (%) at FC1, FC2, FC3 (THEORY.md §5)
PAPER_STITCH = (2.69, 2.11, 1.92)
STREAMS = ("init", "init_c", "order_common", "order_a", "order_b", "order_c", "rebasin")


@dataclass(frozen=True)
class Config:
    data: str = "mnist"
    width: int = 256
    depth: int = 3
    lr: float = 1e-3
    replicates: int = 2
    epochs: int = 10
    n_train: int = 20000
    n_test: int = 5000
    n_match: int = 5000
    batch_size: int = 500
    t_points: int = 11


QUICK = dict(width=32, depth=2, replicates=2, epochs=3, n_train=2000, n_test=500, n_match=1000, t_points=5)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """Train A, B (spawned) and C (independent); measure the four pairs."""
    from sims.mnist_matching import load_data  # by reference: workers cannot unpickle a cached __main__ function

    Xtr, ytr, Xte, yte = load_data(cfg.data, cfg.n_train, cfg.n_test)
    arch = (784, *([cfg.width] * cfg.depth), 10)
    tc = TrainConfig(optimizer="adam", lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, schedule="constant")
    net0 = init_mlp(arch, rng=streams["init"])
    net_a, net_b = spawn(net0, Xtr, ytr, tc, k_steps=0, rng_common=streams["order_common"],
                         rng_a=streams["order_a"], rng_b=streams["order_b"], threads=1)
    net_c = train(init_mlp(arch, rng=streams["init_c"]), Xtr, ytr, tc, rng=streams["order_c"], threads=1)
    Xm = Xtr[: cfg.n_match].astype(np.float64)
    X, y = Xte.astype(np.float64), yte
    pairs = {"spawn": net_b, "independent": net_c,
             "wm": permute(net_c, match(net_a, net_c, "rebasin", rng=streams["rebasin"]).perms),
             "am": permute(net_c, match(net_a, net_c, "am", X=Xm).perms)}
    row = {}
    for name, nb in pairs.items():
        res = llfc(net_a, nb, X, alphas=[0.5])
        for l, layer in enumerate(res["layers"], start=1):
            pa = layer["per_alpha"][0]
            row[f"{name}_llfc_layer{l}"] = pa["mean"]
            row[f"{name}_llfc_std_layer{l}"] = pa["std"]
            row[f"{name}_coef_layer{l}"] = pa["coef"]
            row[f"{name}_baseline_layer{l}"] = layer["baseline"]
        for l, v in enumerate(weak_additivity(net_a, nb, X), start=1):
            row[f"{name}_dist_sigma_layer{l}"] = v
        for c in commutativity(net_a, nb, X):
            for k in ("dist_com", "dist_w", "dist_h"):
                row[f"{name}_{k}_layer{c['layer']}"] = c[k]
        for b in llfc_budget(net_a, nb, X, alpha=0.5):
            for k in ("error", "weak_additivity", "commutativity", "propagated", "through_sigma"):
                row[f"{name}_budget_{k}_layer{b['layer']}"] = b[k]
            row[f"{name}_budget_residual_layer{b['layer']}"] = max(b["residual_pre"], b["residual_post"])
        for l, e in enumerate(stitching_errors(net_a, nb, X, y), start=1):
            row[f"{name}_stitch_error_layer{l}"] = e
        lem = lemma1(net_a, nb, X, y, alphas=[0.5])
        row[f"{name}_mid_error_path"] = lem["path"][0]["error_path"]
        row[f"{name}_mid_error_interp"] = lem["path"][0]["error_interp"]
        row[f"{name}_mid_argmax_disagree"] = lem["path"][0]["argmax_disagree"]
        row[f"{name}_lemma1_bound"] = lem["bound"]
        path = evaluate_path(net_a, nb, X, y, ts=t_grid(cfg.t_points), loss="ce")
        row[f"{name}_barrier"] = path.barriers["barrier"]
        row[f"{name}_error_barrier"] = path.error_barriers["barrier"]
        row[f"error_{name}_endpoint"] = float(path.error[-1])
    row["error_a"] = lem["error_a"]
    return row


def _mean_sd(rows, key):
    v = np.array([r[key] for r in rows])
    return v.mean(), v.std()


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl

    plt = _mpl()
    L = cfg.depth
    fig, ax = plt.subplots(2, 2, figsize=(13, 9.5))
    layers = np.arange(1, L + 2)
    names = [f"FC{l}" for l in range(1, L + 1)] + ["logits"]
    a = ax[0, 0]
    for p in PAIRS:
        ms = [_mean_sd(rows, f"{p}_llfc_layer{l}") for l in layers]
        bs = [_mean_sd(rows, f"{p}_baseline_layer{l}") for l in layers]
        a.errorbar(layers, [m for m, _ in ms], yerr=[s for _, s in ms], fmt="o-", color=COLORS[p], capsize=2,
                   label=LABELS[p] + r": $1-\cos_{1/2}$")
        a.plot(layers, [m for m, _ in bs], "s:", color=COLORS[p], alpha=0.7)
    a.plot([], [], "ks:", alpha=0.7, label=r"dotted: baseline $1-\cos(f_A, f_B)$")
    a.set(yscale="log", xticks=layers, xticklabels=names, ylabel="mean over test examples",
          title=r"LLFC at $\alpha = 1/2$ (lower = more linear)")
    a.set_ylim(top=a.get_ylim()[1] * 30)
    a.legend(fontsize=7, loc="upper center", ncol=2)
    a = ax[0, 1]
    for p in PAIRS:
        for key, ls in (("dist_com", "-"), ("dist_w", "--"), ("dist_h", ":")):
            ms = [_mean_sd(rows, f"{p}_{key}_layer{l}")[0] for l in layers[1:]]
            a.plot(layers[1:], ms, "o" + ls, color=COLORS[p], ms=4,
                   label=LABELS[p] if key == "dist_com" else None)
    a.plot([], [], "k-", label=r"$\mathrm{Dist}_{com}$")
    a.plot([], [], "k--", label=r"$\mathrm{Dist}_W$")
    a.plot([], [], "k:", label=r"$\mathrm{Dist}_H$")
    a.set(yscale="log", xticks=layers[1:], xticklabels=names[1:], ylabel="normalised distance",
          title="commutativity (previous layer's features x this layer's weights)")
    a.legend(fontsize=7)
    a = ax[1, 0]
    for p in PAIRS:
        ms = [_mean_sd(rows, f"{p}_dist_sigma_layer{l}") for l in layers[:-1]]
        a.errorbar(layers[:-1], [m for m, _ in ms], yerr=[s for _, s in ms], fmt="o-", color=COLORS[p], capsize=2,
                   label=LABELS[p])
    a.set(yscale="log", xticks=layers[:-1], xticklabels=names[:-1], ylabel=r"$\mathrm{Dist}_\sigma$ (max over $\alpha$)",
          title="weak additivity of ReLU on the endpoints' pre-activations")
    a.legend(fontsize=7)
    a = ax[1, 1]
    for p in PAIRS:
        ms = [_mean_sd(rows, f"{p}_stitch_error_layer{l}") for l in layers[:-1]]
        a.errorbar(layers[:-1], [100 * m for m, _ in ms], yerr=[100 * s for _, s in ms], fmt="o-", color=COLORS[p],
                   capsize=2, label=LABELS[p])
    a.axhline(100 * _mean_sd(rows, "error_a")[0], color="k", ls="--", lw=1, label="test error of A")
    if L == 3:
        a.plot(layers[:-1], PAPER_STITCH, "kx--", alpha=0.6, label="paper (Zhou et al., MLP/MNIST)")
    a.set(yscale="log", xticks=layers[:-1], xticklabels=names[:-1], ylabel="test error (%)",
          title=r"model stitching $f_B(l\to out)\circ f_A(in \to l)$, no stitching layer")
    a.legend(fontsize=7)
    fig.suptitle(f"MNIST ({cfg.data}), MLP 784-{'-'.join([str(cfg.width)] * L)}-10, Adam lr {cfg.lr:g}, "
                 f"{cfg.epochs} epochs on {cfg.n_train} examples; {cfg.replicates} replicates (mean $\\pm$ sd); "
                 f"{cfg.n_test} test examples", fontsize=10)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--data", choices=("mnist", "synthetic"), default=d.data,
                   help="real MNIST (see `python -m otlmc.datasets`) or a 784-d Gaussian mixture (tests)")
    p.add_argument("--width", type=int, default=None, help=f"hidden width (default {d.width})")
    p.add_argument("--depth", type=int, default=None, help=f"number of hidden layers (default {d.depth})")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--replicates", type=int, default=None, help=f"independent replicates (default {d.replicates})")
    p.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {d.epochs})")
    p.add_argument("--n-train", type=int, default=None, help=f"training examples (default {d.n_train})")
    p.add_argument("--n-test", type=int, default=None, help=f"test examples for every diagnostic (default {d.n_test})")
    p.add_argument("--n-match", type=int, default=None, help=f"training examples for AM (default {d.n_match})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size of the barrier (default {d.t_points})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = {"data": args.data, "lr": args.lr}
    for key in ("width", "depth", "replicates", "epochs", "n_train", "n_test", "n_match", "t_points"):
        v = getattr(args, key)
        if v is not None:
            over[key] = v
    cfg = replace(cfg, **over)
    for key in ("width", "depth", "replicates", "epochs", "n_train", "n_test", "n_match"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if cfg.n_match > cfg.n_train:
        raise SystemExit(f"--n-match == {cfg.n_match}, must be <= --n-train == {cfg.n_train}.")
    if cfg.lr <= 0:
        raise SystemExit(f"--lr == {cfg.lr}, must be > 0.")
    return cfg


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    rows, out = run_sim(NAME, cfg, {"pair_set": ["spawn_vs_permutation"]}, cell, args, plot=plot, streams=STREAMS)
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows); mean over replicates:")
    L = cfg.depth
    print(f"{'pair':>12s} " + " ".join(f"{'llfc' + str(l):>9s} {'base' + str(l):>9s}" for l in range(1, L + 2))
          + f" {'mid_err':>8s} {'stitch%':>20s}")
    for p in PAIRS:
        vals = []
        for l in range(1, L + 2):
            vals += [_mean_sd(rows, f"{p}_llfc_layer{l}")[0], _mean_sd(rows, f"{p}_baseline_layer{l}")[0]]
        st = " ".join(f"{100 * _mean_sd(rows, f'{p}_stitch_error_layer{l}')[0]:.2f}" for l in range(1, L + 1))
        print(f"{p:>12s} " + " ".join(f"{v:9.4f}" for v in vals)
              + f" {_mean_sd(rows, f'{p}_mid_error_path')[0]:8.4f} {st:>20s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
