"""Layerwise linear feature connectivity of small CNNs on feature maps (Zhou et al., NeurIPS 2023; issue 16).

Per architecture and replicate three networks are trained with SGD (momentum 0.9, 10 warm-up steps,
cosine schedule) on MNIST average-pooled to 14 x 14: A and B spawned from one initialisation after
``--spawn-steps`` common steps, with their own data orders afterwards, and C from its own
initialisation. Four pairs: ``spawn`` (A, B), ``independent`` (A, C) unaligned, ``wm`` (A, C aligned by
Git Re-Basin weight matching over the derived spec) and ``am`` (A, C aligned by activation matching).
For every pair, on test images and with BatchNorm statistics reset on training images: per ReLU
layer and the logits (``layer1..``, :func:`otlmc.conv.experiments.layer_names`) the LLFC metric
``mean(1 - cos_alpha)`` at alpha = 1/2 on the flattened feature maps, its baseline ``mean(1 - cos_AB)``
and the scale ``coef``; per Conv/Dense layer after the first the commutativity distance ``Dist_com``
beside ``Dist_W`` and ``Dist_H``; and the loss barrier. Zhou et al. use VGG-16 and a 32x-wide
ResNet-20 with LayerNorm on CIFAR-10; this is a scaled-down version on MNIST (6 replicates so that a
per-layer sign test can reach p < 0.05).
"""
from __future__ import annotations

from dataclasses import dataclass

from otlmc.barrier import t_grid
from otlmc.claims import Claim
from otlmc.conv import derive_spec, init_network
from otlmc.conv.experiments import (ARCHS, DATA, check_image_sims, endpoints, feature_row, image_shape, layer_names,
                                   load_images, make_arch, path_row)
from otlmc.conv.matching import align
from otlmc.conv.train import spawn, train
from otlmc.declare import Sim, param
from otlmc.plots import layer_curve, plt
from otlmc.runner import run
from otlmc.train import TrainConfig

ZHOU = "Zhou et al. 2023"
PAIRS = ("spawn", "independent", "wm", "am")
LABELS = {"spawn": "spawned, no alignment", "independent": "independent, no alignment",
          "wm": "independent + Re-Basin WM", "am": "independent + AM"}
COLORS = {"spawn": "C0", "independent": "C7", "wm": "C1", "am": "C2"}


@dataclass(frozen=True)
class Config:
    data: str = param("mnist", "real MNIST (`python -m otlmc.datasets`), a 784-d Gaussian mixture (no download) or "
                      "CIFAR-10 from --cifar-archive", choices=DATA, quick="synthetic")
    cifar_archive: str = param("", "path of cifar-10-python.tar.gz (default: the otlmc data cache)")
    downsample: int = param(2, "average-pool the images by this factor (28 -> 14)", min=1, quick=4)
    archs: tuple = param(("vgg", "resnet_bn"), "architectures (otlmc.conv.experiments.make_arch)", choices=ARCHS,
                         quick=("vgg", "resnet_bn"), axis="arch")
    width_multiplier: float = param(1.0, "channel width multiplier", min=0.0, strict_min=True)
    base_width: int = param(8, "channels of the first stage at width multiplier 1", min=1, quick=4)
    blocks_per_stage: int = param(1, "residual blocks per stage of the ResNets", min=1)
    lr: float = param(0.1, "peak SGD learning rate", min=0.0, strict_min=True)
    spawn_steps: int = param(0, "common SGD steps of A and B before they are spawned", min=0)
    replicates: int = param(6, "independent replicates (triples A, B, C)", min=1, quick=2)
    epochs: int = param(2, "training epochs", min=1, quick=1)
    n_train: int = param(5000, "training examples", min=1, quick=300)
    n_test: int = param(500, "test examples for every diagnostic", min=1, quick=100)
    n_match: int = param(500, "training examples for AM and the BatchNorm reset", min=2, quick=100)
    batch_size: int = param(100, "SGD batch size", min=1, quick=50)
    t_points: int = param(5, "t-grid size of the barrier (odd: t = 1/2 on the grid)", min=3, quick=3)
    trained_error: float = param(0.5, "a replicate counts as trained when A, B and C all have test error below "
                                 "this; untrained replicates get no verdict", min=0.0, max=1.0, identity=False)


def check(cfg: Config) -> None:
    check_image_sims(cfg)
    steps = cfg.epochs * -(-cfg.n_train // cfg.batch_size)
    if cfg.spawn_steps > steps:
        raise ValueError(f"--spawn-steps == {cfg.spawn_steps} exceeds the run's {steps} steps (--epochs x batches).")


def _arch(cfg: Config, name: str, shape):
    return make_arch(name, cfg.width_multiplier, shape, base_width=cfg.base_width, blocks_per_stage=cfg.blocks_per_stage)


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """Train A, B (spawned) and C (independent); measure the four pairs."""
    Xtr, ytr, Xte, yte = load_images(cfg.data, cfg.n_train, cfg.n_test, cfg.downsample, cfg.cifar_archive)
    arch = _arch(cfg, params["arch"], Xtr.shape[1:])
    tc = TrainConfig(optimizer="sgd", lr=cfg.lr, epochs=cfg.epochs, batch_size=cfg.batch_size)
    net_a, net_b = spawn(init_network(arch, rng=streams["init"]), Xtr, ytr, tc, k_steps=cfg.spawn_steps,
                         rng_common=streams["order_common"], rng_a=streams["order_a"], rng_b=streams["order_b"], threads=1)
    net_c = train(init_network(arch, rng=streams["init_c"]), Xtr, ytr, tc, rng=streams["order_c"], threads=1)
    Xm, spec, ts = Xtr[: cfg.n_match], derive_spec(arch), t_grid(cfg.t_points)
    pairs = {"spawn": net_b, "independent": net_c, "wm": align(net_a, net_c, spec, "rebasin", rng=streams["rebasin"])[0],
             "am": align(net_a, net_c, spec, "am", X=Xm)[0]}
    row = {}
    for name, nb in pairs.items():
        ends = endpoints(net_a, nb, Xm, Xte, yte)
        row.update(feature_row(net_a, nb, Xte, X_stats=Xm, prefix=name))
        row[f"{name}_barrier"] = path_row(net_a, nb, Xm, Xte, yte, ts=ts, ends=ends, prefix=name, repair=False)[f"{name}_barrier"]
        row[f"error_{name}_endpoint"], row["error_a"] = ends[1]["error"], ends[0]["error"]
    return row


def claims(cfg: Config) -> list[Claim]:
    """Per arch and layer: spawned / aligned < unaligned in 1 - cos (LLFC) and in Dist_com (sign test over replicates)."""
    out = []
    shape = image_shape(cfg.data, cfg.downsample)
    for a in cfg.archs:
        llfc_layers, com_layers = layer_names(_arch(cfg, a, shape))
        keep = (lambda a: lambda r: r["arch"] == a and max(r["error_a"], r["error_spawn_endpoint"],
                                                            r["error_independent_endpoint"]) < cfg.trained_error)(a)
        for metric, n, what, where in (("llfc", len(llfc_layers), "1 - cos at alpha = 1/2 (LLFC)", "§4, Def. 2 (LLFC)"),
                                       ("dist_com", len(com_layers), "commutativity distance Dist_com",
                                        "§5.2, Def. 4 (commutativity)")):
            for l in range(1, n + 1):
                for lo in ("spawn", "wm", "am"):
                    out.append(Claim(f"{a}_{metric}_{lo}_below_independent_layer{l}", "ordering",
                                     f"{a} layer {l}: {what} of the {LABELS[lo]} pair < the unaligned independent pair",
                                     f"{ZHOU}, {where}", f"{lo}_{metric}_layer{l}", axis="arch",
                                     other=f"independent_{metric}_layer{l}", keep=keep,
                                     keep_why=f"other architecture, or not trained (test error >= {cfg.trained_error:g})"))
    return out


def plot(rows, cfg: Config, verdicts):
    fig, ax = plt.subplots(len(cfg.archs), 3, figsize=(15, 4.2 * len(cfg.archs)), squeeze=False)
    for i, a in enumerate(cfg.archs):
        sub = [r for r in rows if r["arch"] == a]
        n_llfc = sum(f"spawn_llfc_layer{l}" in sub[0] and sub[0][f"spawn_llfc_layer{l}"] is not None for l in range(1, 99))
        n_com = sum(f"spawn_dist_com_layer{l}" in sub[0] and sub[0][f"spawn_dist_com_layer{l}"] is not None for l in range(1, 99))
        for p in PAIRS:
            for j, key, n, fmt in ((0, "llfc", n_llfc, "o-"), (0, "baseline", n_llfc, "s:"), (1, "coef", n_llfc, "o-"),
                                   (2, "dist_com", n_com, "o-")):
                layer_curve(ax[i, j], sub, f"{p}_{key}", range(1, n + 1), fmt=fmt, color=COLORS[p], ms=4,
                            label=LABELS[p] if fmt == "o-" else None)
        ok = [v for v in verdicts if v["claim"].startswith(a + "_")]
        n_ok = sum(v["verdict"] == "consistent" for v in ok)
        for j, (ylabel, title, log) in enumerate(((r"$1-\cos_{1/2}$ (dotted: baseline $1-\cos(f_A,f_B)$)",
                                                   f"{a}: LLFC per ReLU layer + logits", True),
                                                  ("coef", f"{a}: scale of the midpoint features", False),
                                                  (r"$\mathrm{Dist}_{com}$", f"{a}: commutativity; orderings consistent: "
                                                   f"{n_ok}/{len(ok)}", True))):
            ax[i, j].set(xlabel="layer", ylabel=ylabel, title=title, yscale="log" if log else "linear")
            ax[i, j].legend(fontsize=7)
    fig.suptitle(f"{cfg.data} / {cfg.downsample} pooled, width x{cfg.width_multiplier:g} (base {cfg.base_width}), SGD lr "
                 f"{cfg.lr:g}, {cfg.epochs} epochs on {cfg.n_train}, spawn after {cfg.spawn_steps} steps; "
                 f"{cfg.replicates} replicates (mean ± sd); {cfg.n_test} test images", fontsize=10)
    return fig


SIM = Sim("cnn_llfc", __doc__, Config, cell, claims=claims, plot=plot, check=check,
          streams=("init", "init_c", "order_common", "order_a", "order_b", "order_c", "rebasin"))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
