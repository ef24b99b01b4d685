"""Layerwise linear feature connectivity of MLPs on MNIST (Zhou et al., NeurIPS 2023).

Per replicate three MLPs are trained with Adam (lr 1e-3, constant after 10 warm-up steps, batch
500): A and B spawned from one common initialisation (k = 0) with independent data orders, and C
from its own initialisation. Four pairs are compared: ``spawn`` (A, B), ``independent`` (A, C)
unaligned, ``wm`` (A, C aligned by Git Re-Basin weight matching) and ``am`` (A, C aligned by
activation matching). For every pair and layer (hidden post-activations, then logits) the table
records on test examples the LLFC metric ``mean(1 - cos_alpha)`` at alpha = 1/2 (A's weight) and
its baseline ``mean(1 - cos_AB)``, the scale ``coef``, weak additivity ``Dist_sigma``,
commutativity ``Dist_com`` beside ``Dist_W`` and ``Dist_H``, the exact error budget at alpha = 1/2,
model-stitching errors without a stitching layer and Lemma 1's errors at the midpoint
(:func:`otlmc.realnet.feature_row`). Scaled down from the paper: width 256, 20k training
examples, 10 epochs, 2 replicates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.claims import Claim
from otlmc.declare import Sim, param
from otlmc.matching import match
from otlmc.networks import permute
from otlmc.plots import layer_curve, plt
from otlmc.realnet import DATA, feature_row, load_data
from otlmc.runner import run
from otlmc.tables import column
from otlmc.train import TrainConfig, init_mlp, spawn, train

ZHOU = "Zhou et al. 2023"
PAIRS = ("spawn", "independent", "wm", "am")
LABELS = {"spawn": "spawned (k=0), no alignment", "independent": "independent, no alignment",
          "wm": "independent + Re-Basin WM", "am": "independent + AM"}
COLORS = {"spawn": "C0", "independent": "C7", "wm": "C1", "am": "C2"}
#: Zhou et al.: MLP/MNIST stitching errors (%) at FC1, FC2, FC3 (docs/theory.md §5)
PAPER_STITCH = (2.69, 2.11, 1.92)


@dataclass(frozen=True)
class Config:
    data: str = param("mnist", "real MNIST (`python -m otlmc.datasets`) or a 784-d Gaussian mixture (no download)",
                      choices=DATA, quick="synthetic")
    width: int = param(256, "hidden width", min=1, quick=32)
    depth: int = param(3, "number of hidden layers", min=1, quick=2)
    lr: float = param(1e-3, "Adam learning rate", min=0.0, strict_min=True)
    replicates: int = param(2, "independent replicates (triples A, B, C)", min=1)
    epochs: int = param(10, "training epochs", min=1, quick=3)
    n_train: int = param(20000, "training examples", min=1, quick=2000)
    n_test: int = param(5000, "test examples for every diagnostic", min=1, quick=500)
    n_match: int = param(5000, "training examples for AM", min=1, quick=1000)
    batch_size: int = param(500, "Adam batch size", min=1)
    t_points: int = param(11, "t-grid size of the barrier", min=2, quick=5)
    pair_sets: tuple = param(("spawn_vs_permutation",), "the set of pairs compared (one: spawned vs aligned "
                             "vs unaligned)", choices=("spawn_vs_permutation",), axis="pair_set")
    trained_error: float = param(0.5, "a replicate counts as trained when A, B and C all have test error below "
                                 "this; untrained replicates get no verdict", min=0.0, max=1.0, identity=False)


def check(cfg: Config) -> None:
    if cfg.n_match > cfg.n_train:
        raise ValueError(f"--n-match == {cfg.n_match}, must be <= --n-train == {cfg.n_train}.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """Train A, B (spawned) and C (independent); measure the four pairs."""
    Xtr, ytr, Xte, yte = load_data(cfg.data, cfg.n_train, cfg.n_test)
    arch = (784, *([cfg.width] * cfg.depth), 10)
    tc = TrainConfig(optimizer="adam", lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size, schedule="constant")
    net_a, net_b = spawn(init_mlp(arch, rng=streams["init"]), Xtr, ytr, tc, k_steps=0,
                         rng_common=streams["order_common"], rng_a=streams["order_a"], rng_b=streams["order_b"],
                         threads=1)
    net_c = train(init_mlp(arch, rng=streams["init_c"]), Xtr, ytr, tc, rng=streams["order_c"], threads=1)
    Xm, X = Xtr[: cfg.n_match].astype(np.float64), Xte.astype(np.float64)
    pairs = {"spawn": net_b, "independent": net_c,
             "wm": permute(net_c, match(net_a, net_c, "rebasin", rng=streams["rebasin"]).perms),
             "am": permute(net_c, match(net_a, net_c, "am", X=Xm).perms)}
    row = {}
    for name, nb in pairs.items():
        row.update(feature_row(net_a, nb, X, yte, t_points=cfg.t_points, prefix=name))
        error_a = row.pop("error_a")
    row["error_a"] = error_a
    return row


def claims(cfg: Config) -> list[Claim]:
    """Orderings per layer: spawned < aligned < unaligned in 1 - cos (LLFC) and in Dist_com."""
    ok = dict(keep=lambda r: max(r["error_a"], r["error_spawn_endpoint"], r["error_independent_endpoint"])
              < cfg.trained_error, keep_why=f"networks not trained (test error >= {cfg.trained_error:g})")
    out = []
    for metric, layers, what, where in (
            ("llfc", range(1, cfg.depth + 2), "1 - cos at alpha = 1/2 (LLFC)", "Thm / §4 (LLFC)"),
            ("dist_com", range(2, cfg.depth + 2), "commutativity distance Dist_com", "§5.2 (commutativity)")):
        for l in layers:
            for lo, hi in (("spawn", "independent"), ("wm", "independent"), ("am", "independent"),
                           ("spawn", "am")):
                out.append(Claim(f"{metric}_{lo}_below_{hi}_layer{l}", "ordering",
                                 f"layer {l}: {what} of the {LABELS[lo]} pair < the {LABELS[hi]} pair",
                                 f"{ZHOU}, {where}", f"{lo}_{metric}_layer{l}", axis="pair_set",
                                 other=f"{hi}_{metric}_layer{l}", **ok))
    return out


def plot(rows, cfg: Config, verdicts):
    L = cfg.depth
    fig, ax = plt.subplots(2, 2, figsize=(13, 9.5))
    layers = np.arange(1, L + 2)
    names = [f"FC{l}" for l in range(1, L + 1)] + ["logits"]
    for p in PAIRS:
        layer_curve(ax[0, 0], rows, f"{p}_llfc", layers, color=COLORS[p], label=LABELS[p] + r": $1-\cos_{1/2}$")
        layer_curve(ax[0, 0], rows, f"{p}_baseline", layers, color=COLORS[p], fmt="s:", alpha=0.7)
        for key, ls in (("dist_com", "-"), ("dist_w", "--"), ("dist_h", ":")):
            layer_curve(ax[0, 1], rows, f"{p}_{key}", layers[1:], color=COLORS[p], fmt="o" + ls, ms=4,
                         label=LABELS[p] if key == "dist_com" else None)
        layer_curve(ax[1, 0], rows, f"{p}_dist_sigma", layers[:-1], color=COLORS[p], label=LABELS[p])
        layer_curve(ax[1, 1], rows, f"{p}_stitch_error", layers[:-1], color=COLORS[p], scale=100, label=LABELS[p])
    ax[0, 0].plot([], [], "ks:", alpha=0.7, label=r"dotted: baseline $1-\cos(f_A, f_B)$")
    for ls, lab in (("-", r"$\mathrm{Dist}_{com}$"), ("--", r"$\mathrm{Dist}_W$"), (":", r"$\mathrm{Dist}_H$")):
        ax[0, 1].plot([], [], "k" + ls, label=lab)
    ax[1, 1].axhline(100 * column(rows, "error_a").mean(), color="k", ls="--", lw=1,
                     label="test error of A")
    if L == 3:
        ax[1, 1].plot(layers[:-1], PAPER_STITCH, "kx--", alpha=0.6, label="paper (Zhou et al., MLP/MNIST)")
    n_ok = sum(v["verdict"] == "consistent" for v in verdicts)
    for a, ls, ylabel, title in (
            (ax[0, 0], layers, "mean over test examples", r"LLFC at $\alpha = 1/2$ (lower = more linear)"),
            (ax[0, 1], layers[1:], "normalised distance", f"commutativity; orderings consistent: {n_ok}/{len(verdicts)}"),
            (ax[1, 0], layers[:-1], r"$\mathrm{Dist}_\sigma$ (max over $\alpha$)", "weak additivity of ReLU"),
            (ax[1, 1], layers[:-1], "test error (%)", r"model stitching $f_B(l\to out)\circ f_A(in \to l)$")):
        a.set(yscale="log", xticks=ls, xticklabels=[names[l - 1] for l in ls], ylabel=ylabel, title=title)
        a.legend(fontsize=7)
    fig.suptitle(f"MNIST ({cfg.data}), MLP 784-{'-'.join([str(cfg.width)] * L)}-10, Adam lr {cfg.lr:g}, "
                 f"{cfg.epochs} epochs on {cfg.n_train} examples; {cfg.replicates} replicates (mean $\\pm$ sd); "
                 f"{cfg.n_test} test examples", fontsize=10)
    return fig


SIM = Sim("llfc", __doc__, Config, cell, claims=claims, plot=plot, check=check,
          streams=("init", "init_c", "order_common", "order_a", "order_b", "order_c", "rebasin"))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
