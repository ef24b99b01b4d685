"""VGG-style and ResNet-20-style architectures with a width multiplier (small sizes for MNIST).

VGG (Simonyan & Zisserman; the VGG-16 of Ferbach et al. §6 and Zhou et al. §4 is
``stages=((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))``): per stage,
``Conv3x3 [-> norm] -> ReLU`` per entry, then a 2x2 max-pool; then Flatten, hidden Dense layers with
ReLU, and the classifier. ResNet-20 (He et al. 2016, CIFAR variant; Zhou et al. use it widened, with
LayerNorm in place of BatchNorm, as Git Re-Basin does): a 3x3 stem, three stages of ``n`` basic blocks
``conv-norm-relu-conv-norm`` with widths ``16k, 32k, 64k``, the first block of stages 2 and 3
downsampling with stride 2 and a projection shortcut ``Conv1x1(stride 2) -> norm`` (option B), a ReLU
after every residual sum, global average pooling and the classifier.
"""
from __future__ import annotations

from collections.abc import Sequence

from .._validation import check_choice, check_int, check_real
from . import model as M

NORM_KINDS = ("none", "layernorm", "batchnorm")


def _norm(kind: str):
    return [] if kind == "none" else [M.LayerNorm() if kind == "layernorm" else M.BatchNorm()]


def _scaled(c: int, k: float) -> int:
    return max(1, int(round(c * k)))


def vgg(stages: Sequence[Sequence[int]] = ((16,), (32,)), *, width_multiplier: float = 1.0,
        dense: Sequence[int] = (64,), norm: str = "none", input_shape=(28, 28, 1),
        n_classes: int = 10) -> M.Architecture:
    """VGG-style network; the default is a small MNIST one (two stages, 28 -> 14 -> 7)."""
    k = check_real("width_multiplier", width_multiplier, min_value=0.0, strict_min=True)
    check_choice("norm", norm, NORM_KINDS)
    check_int("n_classes", n_classes, min_value=2)
    if len(stages) == 0 or any(len(s) == 0 for s in stages):
        raise ValueError(f"stages must be a non-empty list of non-empty channel lists, got {stages!r}.")
    layers: list = []
    for stage in stages:
        for c in stage:
            layers += [M.Conv(_scaled(check_int("stage width", c, min_value=1), k)), *_norm(norm), M.ReLU()]
        layers.append(M.MaxPool(2))
    layers.append(M.Flatten())
    for d in dense:
        layers += [M.Dense(_scaled(check_int("dense width", d, min_value=1), k)), M.ReLU()]
    layers.append(M.Dense(n_classes))
    return M.Architecture(input_shape, layers)


def basic_block(c_in: int, c_out: int, stride: int, norm: str) -> M.Residual:
    """``conv3x3(stride) -> norm -> relu -> conv3x3 -> norm`` plus identity or projection shortcut."""
    body = [M.Conv(c_out, 3, stride), *_norm(norm), M.ReLU(), M.Conv(c_out, 3), *_norm(norm)]
    shortcut = [] if (stride == 1 and c_in == c_out) else [M.Conv(c_out, 1, stride, 0), *_norm(norm)]
    return M.Residual(body, shortcut)


def resnet(*, blocks_per_stage: int = 3, base_width: int = 16, width_multiplier: float = 1.0,
           norm: str = "layernorm", input_shape=(28, 28, 1), n_classes: int = 10) -> M.Architecture:
    """ResNet-``6n+2`` (``n = blocks_per_stage``; ResNet-20 is ``n = 3``) with widths ``base (1, 2, 4) k``."""
    n = check_int("blocks_per_stage", blocks_per_stage, min_value=1)
    base = check_int("base_width", base_width, min_value=1)
    k = check_real("width_multiplier", width_multiplier, min_value=0.0, strict_min=True)
    check_choice("norm", norm, NORM_KINDS)
    widths = [_scaled(base * m, k) for m in (1, 2, 4)]
    layers: list = [M.Conv(widths[0], 3), *_norm(norm), M.ReLU()]
    c = widths[0]
    for s, w in enumerate(widths):
        for i in range(n):
            stride = 2 if (s > 0 and i == 0) else 1
            layers += [basic_block(c, w, stride, norm), M.ReLU()]
            c = w
    layers += [M.GlobalAvgPool(), M.Dense(n_classes)]
    return M.Architecture(input_shape, layers)


def resnet20(*, width_multiplier: float = 1.0, norm: str = "layernorm", input_shape=(32, 32, 3),
             n_classes: int = 10) -> M.Architecture:
    """ResNet-20 for CIFAR-10 (``resnet(blocks_per_stage=3, base_width=16)``)."""
    return resnet(blocks_per_stage=3, base_width=16, width_multiplier=width_multiplier, norm=norm,
                  input_shape=input_shape, n_classes=n_classes)
