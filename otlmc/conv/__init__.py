"""Convolutional, residual and normalised networks: layers, derived permutation specs, matching,
feature-map diagnostics and training (issue 16). Arrays are channels-last ``(N, H, W, C)``.
"""
from .families import resnet, resnet20, vgg
from .model import (
    Architecture,
    AvgPool,
    BatchNorm,
    Conv,
    ConvNet,
    Dense,
    Flatten,
    GlobalAvgPool,
    LayerNorm,
    MaxPool,
    ReLU,
    Residual,
    channel_statistics,
    evaluate,
    fold_channel_affine,
    forward,
    init_network,
    interpolate,
    loss_and_grad,
    reset_batchnorm,
)
from .specs import PermutationSpec, derive_spec, identity_perms, inverse_perms, permute, random_perms

__all__ = [
    "Architecture", "AvgPool", "BatchNorm", "Conv", "ConvNet", "Dense", "Flatten", "GlobalAvgPool",
    "LayerNorm", "MaxPool", "PermutationSpec", "ReLU", "Residual", "channel_statistics", "derive_spec",
    "evaluate", "fold_channel_affine", "forward", "identity_perms", "init_network", "interpolate", "inverse_perms",
    "loss_and_grad", "permute", "random_perms", "reset_batchnorm", "resnet", "resnet20", "vgg",
]
