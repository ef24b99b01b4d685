"""A convolutional network as a description (layer specs) plus named parameters.

An :class:`Architecture` is the input shape ``(H, W, C)`` and a sequence of layer specs:
:class:`Conv`, :class:`Dense`, :class:`ReLU`, :class:`MaxPool`, :class:`AvgPool`,
:class:`GlobalAvgPool`, :class:`Flatten`, :class:`LayerNorm`, :class:`BatchNorm` and
:class:`Residual` (``body(x) + shortcut(x)``, the shortcut the identity when empty or a projection).
Layer names are positions: ``"3"`` at the top level, ``"3.body.1"`` and ``"3.shortcut.0"`` inside a
residual block. Parameters are ``"<name>.W"``, ``"<name>.b"``, ``"<name>.gamma"``, ``"<name>.beta"``;
BatchNorm running statistics are the buffers ``"<name>.mean"`` and ``"<name>.var"``.

A :class:`ConvNet` holds the architecture, the parameters and the buffers (numpy or cupy arrays).
:func:`forward` evaluates it (eval mode: BatchNorm uses the running statistics; train mode: batch
statistics, and the updated running statistics are returned), optionally recording the feature maps
the diagnostics need; :func:`loss_and_grad` adds the backward pass.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_array, check_choice, check_int, check_real
from ..backend import to_numpy, xp_of
from ..rng import check_rng
from . import layers as L


# --------------------------------------------------------------------------- layer specs
@dataclass(frozen=True)
class Conv:
    """2-D convolution, ``out`` channels, square ``kernel``; ``padding=None`` means ``kernel // 2``."""

    out: int
    kernel: int = 3
    stride: int = 1
    padding: int | None = None
    bias: bool = True

    def __post_init__(self):
        check_int("Conv.out", self.out, min_value=1)
        check_int("Conv.kernel", self.kernel, min_value=1)
        check_int("Conv.stride", self.stride, min_value=1)
        if self.padding is not None:
            check_int("Conv.padding", self.padding, min_value=0)

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding is None else self.padding


@dataclass(frozen=True)
class Dense:
    """Fully connected layer on ``(N, F)`` features."""

    out: int
    bias: bool = True

    def __post_init__(self):
        check_int("Dense.out", self.out, min_value=1)


@dataclass(frozen=True)
class ReLU:
    pass


@dataclass(frozen=True)
class MaxPool:
    size: int = 2

    def __post_init__(self):
        check_int("MaxPool.size", self.size, min_value=1)


@dataclass(frozen=True)
class AvgPool:
    size: int = 2

    def __post_init__(self):
        check_int("AvgPool.size", self.size, min_value=1)


@dataclass(frozen=True)
class GlobalAvgPool:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class LayerNorm:
    """Normalisation over the channels at every position, with per-channel ``gamma``, ``beta``."""

    eps: float = 1e-5

    def __post_init__(self):
        check_real("LayerNorm.eps", self.eps, min_value=0.0, strict_min=True)


@dataclass(frozen=True)
class BatchNorm:
    """Per-channel normalisation over batch and positions; running statistics as buffers.

    ``momentum`` as in PyTorch: ``running <- (1 - momentum) running + momentum batch`` (unbiased
    batch variance for the running one).
    """

    eps: float = 1e-5
    momentum: float = 0.1

    def __post_init__(self):
        check_real("BatchNorm.eps", self.eps, min_value=0.0, strict_min=True)
        check_real("BatchNorm.momentum", self.momentum, min_value=0.0, max_value=1.0)


@dataclass(frozen=True)
class Residual:
    """``body(x) + shortcut(x)``; an empty ``shortcut`` is the identity."""

    body: tuple
    shortcut: tuple = ()

    def __init__(self, body: Sequence, shortcut: Sequence = ()):
        object.__setattr__(self, "body", tuple(body))
        object.__setattr__(self, "shortcut", tuple(shortcut))
        if not self.body:
            raise ValueError("Residual.body is empty; give at least one layer.")


LAYER_TYPES = (Conv, Dense, ReLU, MaxPool, AvgPool, GlobalAvgPool, Flatten, LayerNorm, BatchNorm, Residual)
LINEAR = (Conv, Dense)
NORMS = (LayerNorm, BatchNorm)


@dataclass(frozen=True)
class LayerInfo:
    """A leaf layer with its name and input/output shapes (without the batch axis)."""

    name: str
    layer: object
    in_shape: tuple
    out_shape: tuple


def _shape_walk(layers, prefix: str, shape: tuple, out: list) -> tuple:
    for j, layer in enumerate(layers):
        name = f"{prefix}{j}"
        if not isinstance(layer, LAYER_TYPES):
            raise TypeError(f"layer {name} is a {type(layer).__name__}; allowed: "
                            f"{', '.join(t.__name__ for t in LAYER_TYPES)}.")
        if isinstance(layer, Residual):
            s_body = _shape_walk(layer.body, f"{name}.body.", shape, out)
            s_short = _shape_walk(layer.shortcut, f"{name}.shortcut.", shape, out)
            if s_body != s_short:
                raise ValueError(f"residual block {name}: body gives shape {s_body} but the shortcut "
                                 f"gives {s_short}; use a projection shortcut (e.g. a 1x1 Conv).")
            shape = s_body
            continue
        spatial = len(shape) == 3
        if isinstance(layer, (Conv, MaxPool, AvgPool, GlobalAvgPool, Flatten)) and not spatial:
            raise ValueError(f"layer {name} ({type(layer).__name__}) needs (H, W, C) feature maps, "
                             f"got features of shape {shape}.")
        if isinstance(layer, Dense) and spatial:
            raise ValueError(f"layer {name} (Dense) needs flat features; put Flatten or GlobalAvgPool "
                             f"before it (got feature maps of shape {shape}).")
        if isinstance(layer, Conv):
            H, W, _ = shape
            Ho, Wo = (L.out_size(n, layer.kernel, layer.stride, layer.pad) for n in (H, W))
            if Ho < 1 or Wo < 1:
                raise ValueError(f"layer {name}: a {layer.kernel}x{layer.kernel} convolution does not fit "
                                 f"on {H}x{W} maps.")
            new = (Ho, Wo, layer.out)
        elif isinstance(layer, (MaxPool, AvgPool)):
            H, W, C = shape
            if H < layer.size or W < layer.size:
                raise ValueError(f"layer {name}: pooling window {layer.size} is larger than the {H}x{W} maps.")
            new = (H // layer.size, W // layer.size, C)
        elif isinstance(layer, GlobalAvgPool):
            new = (shape[2],)
        elif isinstance(layer, Flatten):
            new = (shape[0] * shape[1] * shape[2],)
        elif isinstance(layer, Dense):
            new = (layer.out,)
        else:
            new = shape
        out.append(LayerInfo(name, layer, shape, new))
        shape = new
    return shape


@dataclass(frozen=True)
class Architecture:
    """Input shape ``(H, W, C)`` and the layer specs; the network's output must be flat logits."""

    input_shape: tuple
    layers: tuple
    leaves: tuple = field(init=False, repr=False, compare=False)
    output_shape: tuple = field(init=False, repr=False, compare=False)

    def __init__(self, input_shape: Sequence[int], layers: Sequence):
        shape = tuple(check_int(f"input_shape[{i}]", v, min_value=1) for i, v in enumerate(input_shape))
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (H, W, C), got {tuple(input_shape)}.")
        layers = tuple(layers)
        if not layers:
            raise ValueError("layers is empty; give at least one layer.")
        leaves: list = []
        out_shape = _shape_walk(layers, "", shape, leaves)
        if len(out_shape) != 1:
            raise ValueError(f"the network ends with feature maps of shape {out_shape}; end with "
                             f"Flatten/GlobalAvgPool and a Dense layer giving the logits.")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "leaves", tuple(leaves))
        object.__setattr__(self, "output_shape", out_shape)

    @property
    def n_classes(self) -> int:
        return self.output_shape[0]

    def leaf(self, name: str) -> LayerInfo:
        for info in self.leaves:
            if info.name == name:
                return info
        raise KeyError(f"no layer named {name!r}; layers: {[i.name for i in self.leaves]}.")

    def param_shapes(self) -> dict:
        """``{param name: shape}`` in layer order."""
        out = {}
        for info in self.leaves:
            lay, n = info.layer, info.name
            if isinstance(lay, Conv):
                out[f"{n}.W"] = (lay.out, info.in_shape[2], lay.kernel, lay.kernel)
                if lay.bias:
                    out[f"{n}.b"] = (lay.out,)
            elif isinstance(lay, Dense):
                out[f"{n}.W"] = (lay.out, info.in_shape[0])
                if lay.bias:
                    out[f"{n}.b"] = (lay.out,)
            elif isinstance(lay, NORMS):
                C = info.in_shape[-1]
                out[f"{n}.gamma"] = (C,)
                out[f"{n}.beta"] = (C,)
        return out

    def buffer_shapes(self) -> dict:
        out = {}
        for info in self.leaves:
            if isinstance(info.layer, BatchNorm):
                out[f"{info.name}.mean"] = (info.in_shape[-1],)
                out[f"{info.name}.var"] = (info.in_shape[-1],)
        return out

    @property
    def has_batchnorm(self) -> bool:
        return any(isinstance(i.layer, BatchNorm) for i in self.leaves)


# --------------------------------------------------------------------------- network container
@dataclass(frozen=True, eq=False)
class ConvNet:
    """Architecture + parameters + buffers (BatchNorm running statistics)."""

    arch: Architecture
    params: dict
    buffers: dict

    def __init__(self, arch: Architecture, params: Mapping, buffers: Mapping | None = None):
        if not isinstance(arch, Architecture):
            raise TypeError(f"arch must be an otlmc.conv.Architecture, got {type(arch).__name__}.")
        buffers = {} if buffers is None else buffers
        for kind, got, want in (("params", params, arch.param_shapes()), ("buffers", buffers, arch.buffer_shapes())):
            if not isinstance(got, Mapping):
                raise TypeError(f"{kind} must be a mapping of names to arrays, got {type(got).__name__}.")
            if set(got) != set(want):
                raise ValueError(f"{kind} keys {sorted(got)} differ from the architecture's {sorted(want)}.")
        xp = xp_of(*params.values(), *buffers.values())
        checked = {}
        for kind, got, want in (("params", params, arch.param_shapes()), ("buffers", buffers, arch.buffer_shapes())):
            d = {}
            for k, shape in want.items():
                a = got[k] if xp is not np else np.asarray(got[k])
                if a.dtype.kind != "f":
                    a = a.astype(np.float64)
                a = check_array(f"{kind}[{k!r}]", a, xp=xp) if xp is not np else _finite(f"{kind}[{k!r}]", a)
                if tuple(a.shape) != shape:
                    raise ValueError(f"{kind}[{k!r}] has shape {tuple(a.shape)}, expected {shape}.")
                d[k] = a
            checked[kind] = d
        if any(k.endswith(".var") and bool((v < 0).any()) for k, v in checked["buffers"].items()):
            raise ValueError("a BatchNorm running variance is negative.")
        object.__setattr__(self, "arch", arch)
        object.__setattr__(self, "params", checked["params"])
        object.__setattr__(self, "buffers", checked["buffers"])

    def replace(self, params: Mapping | None = None, buffers: Mapping | None = None) -> ConvNet:
        """A copy with some parameters/buffers replaced (the others shared)."""
        return ConvNet(self.arch, {**self.params, **(params or {})}, {**self.buffers, **(buffers or {})})

    def astype(self, dtype) -> ConvNet:
        return ConvNet(self.arch, {k: v.astype(dtype) for k, v in self.params.items()},
                       {k: v.astype(dtype) for k, v in self.buffers.items()})

    def to_numpy(self) -> ConvNet:
        return ConvNet(self.arch, {k: to_numpy(v) for k, v in self.params.items()},
                       {k: to_numpy(v) for k, v in self.buffers.items()})

    @property
    def n_params(self) -> int:
        return int(sum(v.size for v in self.params.values()))

    def __repr__(self) -> str:
        return f"ConvNet(input={self.arch.input_shape}, layers={len(self.arch.leaves)}, params={self.n_params})"


def _finite(name, a):
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(a)))} non-finite value(s) (NaN or inf); "
                         f"all must be finite.")
    return a


def check_same_architecture(net_a: ConvNet, net_b: ConvNet) -> None:
    if not isinstance(net_a, ConvNet) or not isinstance(net_b, ConvNet):
        raise TypeError(f"expected two ConvNets, got {type(net_a).__name__} and {type(net_b).__name__}.")
    if net_a.arch != net_b.arch:
        raise ValueError("the two networks have different architectures.")


INITS = ("he_normal", "lecun_normal", "torch")


def init_network(arch: Architecture, *, rng: np.random.Generator, init: str = "he_normal",
                 dtype=np.float64) -> ConvNet:
    """Fresh parameters: weights ``N(0, g / fan_in)`` (``g = 2`` he_normal, 1 lecun_normal) or
    PyTorch's default uniform (``"torch"``, also for biases); zero biases otherwise; norms ``gamma = 1,
    beta = 0``; BatchNorm running mean 0, variance 1. ``fan_in = C_in k^2`` for convolutions."""
    check_rng(rng)
    check_choice("init", init, INITS)
    params = {}
    for k, shape in arch.param_shapes().items():
        kind = k.rsplit(".", 1)[1]
        if kind == "W":
            fan_in = int(np.prod(shape[1:]))
            if init == "torch":
                bound = 1.0 / math.sqrt(fan_in)
                params[k] = rng.uniform(-bound, bound, size=shape)
            else:
                params[k] = rng.standard_normal(shape) * math.sqrt((2.0 if init == "he_normal" else 1.0) / fan_in)
        elif kind == "b":
            w_shape = arch.param_shapes()[k[:-2] + ".W"]
            bound = 1.0 / math.sqrt(int(np.prod(w_shape[1:])))
            params[k] = rng.uniform(-bound, bound, size=shape) if init == "torch" else np.zeros(shape)
        elif kind == "gamma":
            params[k] = np.ones(shape)
        else:
            params[k] = np.zeros(shape)
    buffers = {k: (np.zeros(s) if k.endswith(".mean") else np.ones(s)) for k, s in arch.buffer_shapes().items()}
    return ConvNet(arch, {k: v.astype(dtype) for k, v in params.items()},
                   {k: v.astype(dtype) for k, v in buffers.items()})


# --------------------------------------------------------------------------- forward / backward
@dataclass
class Record:
    """What a forward pass records (each a dict keyed by layer name).

    ``post``: output of every ReLU (post-activations); ``pre``: input of every ReLU
    (pre-activations, the statistics REPAIR corrects); ``inputs``: input of every Conv/Dense;
    ``outputs``: output of every Conv/Dense; ``batch_stats``: ``(mean, var, count)`` per BatchNorm (train mode); ``norm_inputs``: input of
    every BatchNorm.
    """

    post: dict = field(default_factory=dict)
    pre: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    batch_stats: dict = field(default_factory=dict)
    norm_inputs: dict = field(default_factory=dict)


def _run(layers, prefix, x, net: ConvNet, train: bool, rec: Record | None, caches: list | None,
         offset: int = 0):
    P, B = net.params, net.buffers
    for j, layer in enumerate(layers, start=offset):
        name = f"{prefix}{j}"
        if isinstance(layer, Residual):
            sub_b, sub_s = ([], []) if caches is not None else (None, None)
            yb = _run(layer.body, f"{name}.body.", x, net, train, rec, sub_b)
            ys = _run(layer.shortcut, f"{name}.shortcut.", x, net, train, rec, sub_s)
            x = yb + ys
            cache = (sub_b, sub_s)
        elif isinstance(layer, Conv):
            if rec is not None:
                rec.inputs[name] = x
            x, cache = L.conv_forward(x, P[f"{name}.W"], P.get(f"{name}.b"), layer.stride, layer.pad)
            if rec is not None:
                rec.outputs[name] = x
        elif isinstance(layer, Dense):
            if rec is not None:
                rec.inputs[name] = x
            x, cache = L.dense_forward(x, P[f"{name}.W"], P.get(f"{name}.b"))
            if rec is not None:
                rec.outputs[name] = x
        elif isinstance(layer, ReLU):
            if rec is not None:
                rec.pre[name] = x
            x, cache = L.relu_forward(x)
            if rec is not None:
                rec.post[name] = x
        elif isinstance(layer, MaxPool):
            x, cache = L.maxpool_forward(x, layer.size)
        elif isinstance(layer, AvgPool):
            x, cache = L.avgpool_forward(x, layer.size)
        elif isinstance(layer, GlobalAvgPool):
            x, cache = L.global_avgpool_forward(x)
        elif isinstance(layer, Flatten):
            x, cache = L.flatten_forward(x)
        elif isinstance(layer, LayerNorm):
            x, cache = L.layernorm_forward(x, P[f"{name}.gamma"], P[f"{name}.beta"], layer.eps)
        elif isinstance(layer, BatchNorm):
            if rec is not None:
                rec.norm_inputs[name] = x
            x, cache, mu, var = L.batchnorm_forward(x, P[f"{name}.gamma"], P[f"{name}.beta"], B[f"{name}.mean"],
                                                    B[f"{name}.var"], layer.eps, train=train)
            if train and rec is not None:
                rec.batch_stats[name] = (mu, var, int(np.prod(x.shape[:-1])))
        else:  # pragma: no cover - Architecture validated the types
            raise AssertionError(type(layer))
        if caches is not None:
            caches.append((layer, name, cache))
    return x


def _back(caches, dy, grads: dict, need_dx: bool = True):
    for i in range(len(caches) - 1, -1, -1):
        layer, name, cache = caches[i]
        if i == 0 and not need_dx and isinstance(layer, Conv):  # the input needs no gradient
            _, grads[f"{name}.W"], db = L.conv_backward(dy, cache, need_dx=False)
            if layer.bias:
                grads[f"{name}.b"] = db
            return None
        if isinstance(layer, Residual):
            sub_b, sub_s = cache
            dx_b = _back(sub_b, dy, grads)
            dx_s = _back(sub_s, dy, grads)
            dy = dx_b + dx_s
        elif isinstance(layer, Conv):
            dy, grads[f"{name}.W"], db = L.conv_backward(dy, cache)
            if layer.bias:
                grads[f"{name}.b"] = db
        elif isinstance(layer, Dense):
            dy, grads[f"{name}.W"], db = L.dense_backward(dy, cache)
            if layer.bias:
                grads[f"{name}.b"] = db
        elif isinstance(layer, ReLU):
            dy = L.relu_backward(dy, cache)
        elif isinstance(layer, MaxPool):
            dy = L.maxpool_backward(dy, cache)
        elif isinstance(layer, AvgPool):
            dy = L.avgpool_backward(dy, cache)
        elif isinstance(layer, GlobalAvgPool):
            dy = L.global_avgpool_backward(dy, cache)
        elif isinstance(layer, Flatten):
            dy = L.flatten_backward(dy, cache)
        elif isinstance(layer, LayerNorm):
            dy, grads[f"{name}.gamma"], grads[f"{name}.beta"] = L.layernorm_backward(dy, cache)
        elif isinstance(layer, BatchNorm):
            dy, grads[f"{name}.gamma"], grads[f"{name}.beta"] = L.batchnorm_backward(dy, cache)
    return dy


def check_inputs(net: ConvNet, X):
    """``X`` as a finite ``(N, H, W, C)`` array of the network's input shape (flat rows are reshaped)."""
    xp = xp_of(X, *net.params.values())
    if xp is np:
        X = np.asarray(X)
        if X.dtype.kind not in "fiu":
            raise TypeError(f"X must be a real array, got dtype {X.dtype}.")
        if X.dtype.kind != "f":
            X = X.astype(np.float64)
    H, W, C = net.arch.input_shape
    if X.ndim == 2 and X.shape[1] == H * W * C:
        X = X.reshape(-1, H, W, C)
    if X.ndim != 4 or tuple(X.shape[1:]) != (H, W, C):
        raise ValueError(f"X must have shape (N, {H}, {W}, {C}) (or (N, {H * W * C})), got {tuple(X.shape)}.")
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"X contains {int(xp.sum(~xp.isfinite(X)))} non-finite value(s); all must be finite.")
    return X


def forward(net: ConvNet, X, *, train: bool = False, record: bool = False):
    """Logits ``(N, n_classes)``; with ``record`` also the :class:`Record` of the pass.

    ``train=True`` normalises BatchNorm layers with batch statistics (and records them for
    :func:`updated_buffers`); ``train=False`` with the running statistics.
    """
    X = check_inputs(net, X)
    rec = Record() if record else None
    out = _run(net.arch.layers, "", X, net, train, rec, None)
    return (out, rec) if record else out


def run_layers(net: ConvNet, x, start: int, stop: int | None = None, *, record: bool = False):
    """Eval-mode pass of the top-level layers ``start .. stop - 1`` on their input ``x``
    (``start = 0``: the network input). Used for stitching; no input checks beyond the network's."""
    stop = len(net.arch.layers) if stop is None else stop
    rec = Record() if record else None
    out = _run(net.arch.layers[start:stop], "", x, net, False, rec, None, offset=start)
    return (out, rec) if record else out


def loss_and_grad(net: ConvNet, X, y, *, train: bool = True):
    """Mean cross-entropy on ``(X, y)``, the gradients (dict like ``net.params``) and the record.

    In train mode the record's ``batch_stats`` give the new running statistics
    (:func:`updated_buffers`).
    """
    X = check_inputs(net, X)
    xp = xp_of(X)
    y = xp.asarray(y)
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"y must be {X.shape[0]} integer labels, got dtype {y.dtype} shape {tuple(y.shape)}.")
    rec, caches = Record(), []
    Z = _run(net.arch.layers, "", X, net, train, rec, caches)
    loss, dZ = L.cross_entropy(Z, y)
    grads: dict = {}
    _back(caches, dZ, grads, need_dx=False)
    return loss, grads, rec


def updated_buffers(net: ConvNet, rec: Record) -> dict:
    """Running statistics after one train-mode batch (PyTorch rule, unbiased batch variance)."""
    out = {}
    for name, (mu, var, m) in rec.batch_stats.items():
        mom = net.arch.leaf(name).layer.momentum
        unbiased = var * (m / max(m - 1, 1))
        out[f"{name}.mean"] = (1 - mom) * net.buffers[f"{name}.mean"] + mom * mu
        out[f"{name}.var"] = (1 - mom) * net.buffers[f"{name}.var"] + mom * unbiased
    return out


def predict(net: ConvNet, X, *, batch_size: int = 1000):
    """Eval-mode logits in batches, as a numpy ``(N, n_classes)`` array."""
    X = check_inputs(net, X)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    return np.concatenate([to_numpy(forward(net, X[s:s + batch_size]))
                           for s in range(0, X.shape[0], batch_size)], axis=0)


def evaluate(net: ConvNet, X, y, *, batch_size: int = 1000) -> dict:
    """``{"loss", "accuracy", "error"}`` of the eval-mode network on ``(X, y)``."""
    Z = predict(net, X, batch_size=batch_size)  # (N, C)
    y = np.asarray(to_numpy(y))
    if y.shape != (Z.shape[0],):
        raise ValueError(f"y must have shape ({Z.shape[0]},), got {y.shape}.")
    zmax = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - zmax).sum(axis=1)) + zmax[:, 0]
    loss = float(np.mean(lse - Z[np.arange(len(y)), y]))
    acc = float(np.mean(Z.argmax(1) == y))
    return {"loss": loss, "accuracy": acc, "error": 1.0 - acc}


# --------------------------------------------------------------------------- paths and BatchNorm reset
def interpolate(net_a: ConvNet, net_b: ConvNet, t: float) -> ConvNet:
    """``(1 - t) theta_A + t theta_B`` for parameters and buffers (reset BatchNorm afterwards with
    :func:`reset_batchnorm`; interpolated running statistics are not those of the new network)."""
    check_same_architecture(net_a, net_b)
    t = check_real("t", t, min_value=0.0, max_value=1.0)
    return ConvNet(net_a.arch, {k: (1 - t) * v + t * net_b.params[k] for k, v in net_a.params.items()},
                   {k: (1 - t) * v + t * net_b.buffers[k] for k, v in net_a.buffers.items()})


def _run_reset(layers, prefix: str, xs: list, net: ConvNet, stats: dict, offset: int = 0) -> list:
    """Eval-mode pass of ``layers`` on the chunks ``xs`` of the data in which every BatchNorm first
    takes the mean and unbiased variance of its input over all chunks into ``stats`` and then
    normalises with them (so the layers after it see the reset network). Other leaves run chunk by
    chunk through :func:`_run`."""
    for j, layer in enumerate(layers, start=offset):
        name = f"{prefix}{j}"
        if isinstance(layer, Residual):
            body = _run_reset(layer.body, f"{name}.body.", xs, net, stats)
            short = _run_reset(layer.shortcut, f"{name}.shortcut.", xs, net, stats)
            xs = [b + c for b, c in zip(body, short)]
        elif isinstance(layer, BatchNorm):
            C = xs[0].shape[-1]
            n = sum(int(np.prod(x.shape[:-1])) for x in xs)
            mu = sum(x.reshape(-1, C).sum(axis=0) for x in xs) / n  # (C,)
            var = sum(((x.reshape(-1, C) - mu) ** 2).sum(axis=0) for x in xs) / max(n - 1, 1)  # (C,) unbiased
            stats[f"{name}.mean"], stats[f"{name}.var"] = mu, var
            xs = [L.batchnorm_forward(x, net.params[f"{name}.gamma"], net.params[f"{name}.beta"], mu, var,
                                      layer.eps, train=False)[0] for x in xs]
        else:
            xs = [_run([layer], prefix, x, net, False, None, None, offset=j) for x in xs]
    return xs


def reset_batchnorm(net: ConvNet, X, *, batch_size: int = 500) -> ConvNet:
    """BatchNorm statistics recomputed on ``X`` (the "reset" of Jordan et al., REPAIR §3).

    In forward order each BatchNorm's running mean and (unbiased) variance become the exact
    statistics of its input over all of ``X``, the earlier BatchNorm layers already reset (so they
    are the statistics the eval-mode network sees). One forward pass does it: the data goes through
    the network layer by layer in chunks of ``batch_size`` examples, and every BatchNorm takes its
    statistics over all chunks before it normalises them. The chunks bound the memory of the
    im2col patches (the feature maps of all of ``X`` at one layer are held); the result does not
    depend on ``batch_size`` beyond rounding. A network without BatchNorm is returned unchanged.
    """
    X = check_inputs(net, X)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    if not net.arch.has_batchnorm:
        return net
    stats: dict = {}
    _run_reset(net.arch.layers, "", [X[s:s + batch_size] for s in range(0, X.shape[0], batch_size)], net, stats)
    return net.replace(buffers=stats)


def channel_statistics(net: ConvNet, X, *, batch_size: int = 500) -> dict:
    """REPAIR hook: per ReLU layer, the per-channel mean and variance of its pre-activation over ``X``.

    Returns ``{relu layer name: (mean (C,), var (C,))}`` (population variance over all examples and
    positions; numpy arrays). REPAIR (Jordan et al. 2023) rescales the interpolated network's
    pre-activations to ``alpha`` times A's statistics plus ``1 - alpha`` times B's; the channels of
    every entry carry the group :attr:`PermutationSpec.taps` names, so A's and B's statistics are
    comparable once B is aligned.
    """
    X = check_inputs(net, X)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    s1: dict = {}
    s2: dict = {}
    n: dict = {}
    for s in range(0, X.shape[0], batch_size):
        _, rec = forward(net, X[s:s + batch_size], record=True)
        for name, Z in rec.pre.items():
            Z2 = to_numpy(Z).reshape(-1, Z.shape[-1]).astype(np.float64)  # (m, C)
            s1[name] = s1.get(name, 0.0) + Z2.sum(axis=0)
            s2[name] = s2.get(name, 0.0) + (Z2 * Z2).sum(axis=0)
            n[name] = n.get(name, 0) + Z2.shape[0]
    out = {}
    for name in s1:
        mu = s1[name] / n[name]
        out[name] = (mu, np.maximum(s2[name] / n[name] - mu * mu, 0.0))
    return out


def _producer(arch: Architecture, relu_name: str):
    """Name and spec of the leaf right before the ReLU ``relu_name`` in its layer list (or None)."""
    prefix, _, idx = relu_name.rpartition(".")
    j = int(idx)
    layers = arch.layers
    if prefix:
        parts = prefix.split(".")
        for k in range(0, len(parts), 2):
            blk = layers[int(parts[k])]
            layers = blk.body if parts[k + 1] == "body" else blk.shortcut
    if j == 0:
        return None, None
    name = f"{prefix}.{j - 1}" if prefix else str(j - 1)
    return name, layers[j - 1]


def fold_channel_affine(net: ConvNet, relu_name: str, scale, shift) -> ConvNet:
    """REPAIR hook: make the pre-activation of ReLU ``relu_name`` become ``scale * z + shift`` per channel.

    The affine map is folded into the layer that produces ``z``: a norm layer's ``gamma, beta``
    (``gamma <- scale gamma``, ``beta <- scale beta + shift``) or a Conv/Dense layer's output rows and
    bias. A pre-activation that is a residual sum (or has no producer with a bias) cannot be folded
    exactly; that raises ``ValueError`` naming the layer.
    """
    if relu_name not in {i.name for i in net.arch.leaves if isinstance(i.layer, ReLU)}:
        raise ValueError(f"relu_name={relu_name!r} is not a ReLU layer of this network.")
    name, layer = _producer(net.arch, relu_name)
    xp = xp_of(*net.params.values())
    scale, shift = xp.asarray(scale), xp.asarray(shift)
    if isinstance(layer, NORMS):
        C = net.params[f"{name}.gamma"].shape[0]
        if scale.shape != (C,) or shift.shape != (C,):
            raise ValueError(f"scale and shift must have shape ({C},), got {scale.shape} and {shift.shape}.")
        return net.replace({f"{name}.gamma": scale * net.params[f"{name}.gamma"],
                            f"{name}.beta": scale * net.params[f"{name}.beta"] + shift})
    if isinstance(layer, LINEAR) and layer.bias:
        W = net.params[f"{name}.W"]
        C = W.shape[0]
        if scale.shape != (C,) or shift.shape != (C,):
            raise ValueError(f"scale and shift must have shape ({C},), got {scale.shape} and {shift.shape}.")
        return net.replace({f"{name}.W": W * scale.reshape((C,) + (1,) * (W.ndim - 1)),
                            f"{name}.b": scale * net.params[f"{name}.b"] + shift})
    what = "nothing" if layer is None else type(layer).__name__ + ("" if not isinstance(layer, LINEAR) else " without bias")
    raise ValueError(f"the pre-activation of {relu_name} comes from {what} (layer {name}); a per-channel affine "
                     f"correction cannot be folded into it exactly (put a norm layer there).")
