"""Matching methods on small CNNs across learning rates and width multipliers (Ferbach et al. §6, issue 16).

Per architecture, learning rate, width multiplier and replicate two networks are trained from
independent initialisations and data orders (SGD momentum 0.9, 10 warm-up steps, cosine schedule,
He-normal init) on MNIST average-pooled to 14 x 14. B is aligned to A over the derived permutation
spec by naive WM, WM-ours (input patch second moment exact, Kronecker ``kron`` and ``channel``
estimates), AM (centered) and Git Re-Basin WM. One row per pair: on the test set the midpoint loss
and the loss barrier of every method (BatchNorm statistics reset on training images), REPAIR's
(:mod:`otlmc.conv.repair`; after a BatchNorm reset it acts, up to O(eps/var), only on ReLUs not fed by
BatchNorm, and it cannot fold into a ReLU after a residual sum), a permutation-invariance check of every aligned B
(``perm_dev``), A's approximate dimensions (plain ``W W^T``, covariance-weighted ``W Sigma W^T``, AM)
trained and at its initialisation, and the exact-vs-Kronecker WM-Sigma comparison (``sigma_*``, derived
table ``_wm_sigma``). For the width claims each cell also trains a reference pair at the smallest
multiplier (``ref_*``). Pairs with an endpoint above ``--trained-error`` test error get no verdict.
"""
from __future__ import annotations

from dataclasses import dataclass

from otlmc.barrier import t_grid
from otlmc.claims import Claim
from otlmc.conv.experiments import (ARCHS, DATA, METHODS, PERM_TOL, check_image_sims, load_images, make_arch,
                                   matching_pair, sigma_table)
from otlmc.declare import Sim, param
from otlmc.plots import mean_ci, plt
from otlmc.runner import run
from otlmc.train import TrainConfig

FERBACH = "Ferbach et al. 2024, §6 (midpoint test loss of the matchings; VGG-16 on CIFAR-10)"
LABELS = {"identity": "no alignment", "wm_naive": "naive WM", "wm_ours": "WM ours (exact Σ)", "wm_ours_kron":
          "WM ours (Kronecker Σ)", "wm_ours_channel": "WM ours (channel Σ)", "am": "AM", "rebasin": "Re-Basin WM"}
COLORS = {"identity": "C7", "wm_naive": "C3", "wm_ours": "C0", "wm_ours_kron": "C9", "wm_ours_channel": "C4",
          "am": "C2", "rebasin": "C1"}
WIDTH_METHODS = ("wm_ours", "am")


@dataclass(frozen=True)
class Config:
    data: str = param("mnist", "real MNIST (`python -m otlmc.datasets`), a 784-d Gaussian mixture (no download) or "
                      "CIFAR-10 from --cifar-archive", choices=DATA, quick="synthetic")
    cifar_archive: str = param("", "path of cifar-10-python.tar.gz (default: the otlmc data cache)")
    downsample: int = param(2, "average-pool the images by this factor (28 -> 14)", min=1, quick=4)
    archs: tuple = param(("vgg", "vgg_bn"), "architectures (otlmc.conv.experiments.make_arch)", choices=ARCHS,
                         quick=("vgg", "resnet_bn"), axis="arch")
    lrs: tuple = param((0.01, 0.03, 0.1), "peak SGD learning rates", min=0.0, strict_min=True, quick=(0.1,), axis="lr")
    width_multipliers: tuple = param((0.5, 1.0, 2.0), "channel width multipliers", min=0.0, strict_min=True,
                                     quick=(0.5, 1.0), axis="width_multiplier")
    base_width: int = param(8, "channels of the first stage at width multiplier 1", min=1, quick=4)
    blocks_per_stage: int = param(1, "residual blocks per stage of the ResNets", min=1)
    replicates: int = param(2, "pairs per grid point", min=1, quick=1)
    epochs: int = param(3, "training epochs", min=1, quick=1)
    n_train: int = param(5000, "training examples", min=1, quick=300)
    n_test: int = param(500, "test examples for the paths", min=1, quick=100)
    n_match: int = param(500, "training examples for AM, WM-ours' covariances, BatchNorm reset and REPAIR", min=2,
                         quick=100)
    batch_size: int = param(100, "SGD batch size", min=1, quick=50)
    t_points: int = param(5, "t-grid size (odd: t = 1/2 on the grid)", min=3, quick=3)
    trained_error: float = param(0.5, "a pair counts as trained when both endpoints' test error is below this; "
                                 "untrained pairs get no verdict", min=0.0, max=1.0, identity=False)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """Train one pair (and the reference pair at the smallest multiplier); align by every method; measure."""
    data = load_images(cfg.data, cfg.n_train, cfg.n_test, cfg.downsample, cfg.cifar_archive)
    tc = TrainConfig(optimizer="sgd", lr=params["lr"], epochs=cfg.epochs, batch_size=cfg.batch_size)
    k, k0 = params["width_multiplier"], min(cfg.width_multipliers)
    kw = dict(n_match=cfg.n_match, ts=t_grid(cfg.t_points))
    arch = make_arch(params["arch"], k, data[0].shape[1:], base_width=cfg.base_width,
                     blocks_per_stage=cfg.blocks_per_stage)
    row = matching_pair(arch, data, tc, streams, methods=tuple(METHODS), repair=WIDTH_METHODS, **kw)
    if k == k0:  # the reference pair is this pair
        ref = {f"ref_{c}": row[c] for c in ("error_a", "error_b", *(f"{m}_barrier" for m in WIDTH_METHODS))}
    else:
        ref_arch = make_arch(params["arch"], k0, data[0].shape[1:], base_width=cfg.base_width,
                             blocks_per_stage=cfg.blocks_per_stage)
        ref = matching_pair(ref_arch, data, tc, streams, methods=WIDTH_METHODS, prefix="ref_", extras=False, **kw)
    return {**row, **{c: ref[c] for c in ("ref_error_a", "ref_error_b", *(f"ref_{m}_barrier" for m in WIDTH_METHODS))},
            "perm_tol": PERM_TOL}


def claims(cfg: Config) -> list[Claim]:
    """Method orderings per lr and pooled; barrier falls with width; dimensions vs init; invariance; REPAIR."""
    te = cfg.trained_error
    ok = lambda r: max(r["error_a"], r["error_b"]) < te  # noqa: E731
    trained = dict(keep=ok, keep_why=f"endpoints not trained (test error >= {te:g})")
    out = []
    for tag, by in (("", ("lr",)), ("_pooled", ())):
        out += [Claim(f"wm_ours_beats_naive{tag}", "ordering", "midpoint test loss: WM-ours < naive WM", FERBACH,
                      "wm_ours_midpoint_loss", axis="lr", other="wm_naive_midpoint_loss", by=by, **trained),
                Claim(f"am_beats_wm_ours{tag}", "ordering", "midpoint test loss: AM < WM-ours", FERBACH,
                      "am_midpoint_loss", axis="lr", other="wm_ours_midpoint_loss", by=by, **trained)]
    k0 = min(cfg.width_multipliers)
    for m in WIDTH_METHODS:
        out.append(Claim(
            f"barrier_falls_with_width_{m}", "ordering", f"{LABELS[m]}: the loss barrier at width multiplier k is "
            f"below that of a pair at k = {k0:g} trained in the same cell (an ordering: the theorems give rates for "
            "MLPs with i.i.d. weights, not an exponent for trained convolutional layers)",
            "Ferbach et al. 2024, Thm 3.1 / §6 (barrier vanishes as width grows)", f"{m}_barrier",
            axis="width_multiplier", other=f"ref_{m}_barrier", by=("width_multiplier",),
            where=lambda s: "the reference width itself" if s["width_multiplier"] == k0 else None,
            keep=lambda r: ok(r) and max(r["ref_error_a"], r["ref_error_b"]) < te,
            keep_why=f"a pair or its reference not trained (test error >= {te:g})"))
    for key, what in (("wm_ours", "W Sigma W^T"), ("am", "E[h h^T]"), ("wm_naive", "W W^T")):
        out.append(Claim(f"dim_{key}_below_init", "ordering", f"training lowers Dim({what}) (uncentered, mean over "
                         "layers) below its value at A's random initialisation",
                         "Ferbach et al. 2024, §6 (approximate dimension)", f"dim_{key}", axis="lr",
                         other=f"dim_init_{key}", **trained))
    out += [Claim("permutation_invariance", "inequality", "every aligned B computes B's function: relative logit "
                  f"deviation <= {PERM_TOL:g} (float64; derived spec checked on every pair)",
                  "docs/theory.md §0 (permutation invariance)", "perm_dev", axis="lr", bound="perm_tol"),
            Claim("repair_lowers_barrier_am", "ordering", "REPAIR lowers the AM barrier (BatchNorm reset done in both)",
                  "Jordan et al. 2023 (REPAIR)", "am_repair_barrier", axis="lr", other="am_barrier",
                  keep=lambda r: ok(r) and r["arch"] != "resnet_bn",
                  keep_why="untrained, or resnet_bn (after the reset REPAIR only moves it by O(eps/var))")]
    return out


def tables(rows, cfg: Config) -> dict:
    return {"wm_sigma": sigma_table(rows)}


def plot(rows, cfg: Config, verdicts):
    fig, ax = plt.subplots(2, 2, figsize=(13, 9.5))
    for a, x, keys, ylabel, title in (
            (ax[0, 0], "lr", [(m, f"{m}_midpoint_loss", "-") for m in METHODS], "test loss at t = 1/2",
             "midpoint loss (mean over archs, widths, pairs)"),
            (ax[0, 1], "width_multiplier", [(m, f"{m}_barrier", "-") for m in METHODS]
             + [(m, f"{m}_repair_barrier", "--") for m in WIDTH_METHODS], "loss barrier (BN reset; dashed: REPAIR)",
             "barrier vs width multiplier (mean over archs, lrs, pairs)"),
            (ax[1, 0], "width_multiplier", [(m, f"dim_{m}", "-") for m in ("wm_naive", "wm_ours", "am")]
             + [(m, f"dim_init_{m}", ":") for m in ("wm_naive", "wm_ours", "am")],
             "approximate dimension (mean over layers)", "Dim of A: W W^T (red), W Σ W^T (blue), AM (green); dotted: init")):
        for m, key, ls in keys:
            xs, mu, ci = mean_ci(rows, x, key)
            a.errorbar(xs, mu, yerr=ci, fmt="o" + ls, color=COLORS[m], capsize=2, ms=4,
                       label=LABELS[m] if ls == "-" and a is not ax[1, 0] else None)
        a.set(xscale="log", yscale="log", xlabel=x.replace("_", " "), ylabel=ylabel, title=title)
        if a is not ax[1, 0]:
            a.legend(fontsize=7)
    lines = [f"{v['claim']} [{v['setting']}]: {v['verdict']}" for v in verdicts]
    ax[1, 1].axis("off")
    ax[1, 1].text(0, 1, "claims:\n" + "\n".join(lines), va="top", family="monospace", fontsize=7)
    fig.suptitle(f"{cfg.data} / {cfg.downsample} pooled, archs {', '.join(cfg.archs)} (base width {cfg.base_width}), "
                 f"SGD+cosine, {cfg.epochs} epochs on {cfg.n_train}; {cfg.replicates} pairs per point (mean ± 95% CI); "
                 f"test set {cfg.n_test}", fontsize=10)
    return fig


SIM = Sim("cnn_matching", __doc__, Config, cell, claims=claims, plot=plot, check=check_image_sims, tables=tables,
          streams=("init_a", "init_b", "order_a", "order_b", "rebasin",
                   "ref_init_a", "ref_init_b", "ref_order_a", "ref_order_b"))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
