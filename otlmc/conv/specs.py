"""Permutation specs derived from the architecture: which channels must share one permutation.

A hidden channel can be relabelled freely as long as every tensor that carries it is relabelled the
same way. :func:`derive_spec` follows the channel axis of the feature maps through the network and
joins (union-find) what must move together:

- every Conv/Dense creates a new group on its output channels;
- ReLU, pooling and global pooling keep the group; a norm layer keeps it and its ``gamma``, ``beta``
  (and BatchNorm's running mean and variance) follow it;
- Flatten turns ``(H, W, C)`` maps with group ``g`` into ``H W`` blocks of ``C`` features: the next
  Dense layer's input axis is permuted blockwise, feature ``(h W + w) C + c -> (h W + w) C + p[c]``;
- a residual block's output is ``body(x) + shortcut(x)``, so the group of the body's output, the
  group of the shortcut's output (the input's own group for an identity shortcut) are one group:
  a residual stream shares one permutation across all its blocks;
- the network input and the logits cannot be permuted: their groups are fixed, and so is every
  group joined to them (e.g. a stream added to the raw input).

The result lists, for every parameter and buffer, which group acts on each axis. Convention (as
:func:`otlmc.networks.permute`): ``perms[g][i] = j`` means A's channel ``i`` is matched with B's
channel ``j``, and :func:`permute` maps B to ``W[p_out][:, p_in]``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..backend import xp_of
from ..rng import check_rng
from . import model as M

_FIXED = "<fixed>"


@dataclass(frozen=True)
class AxisGroup:
    """Group acting on one axis; ``repeat`` > 1 for a flattened axis of ``repeat`` blocks of channels."""

    group: str
    repeat: int = 1


@dataclass(frozen=True)
class PermutationSpec:
    """Derived permutation structure of an architecture.

    Attributes
    ----------
    groups : ``{group name: number of channels}`` in order of first appearance (the name is the
        first layer producing it).
    axes : ``{param or buffer name: tuple over its axes of AxisGroup or None}``.
    taps : ``{ReLU layer name: group of its channels or None}`` (feature maps of the diagnostics).
    linear_in, linear_out : ``{Conv/Dense name: AxisGroup or None}`` of its input and output channels.
    members : ``{group name: names of the Conv/Dense layers producing it}``.
    """

    groups: dict
    axes: dict
    taps: dict
    linear_in: dict
    linear_out: dict
    members: dict

    def __repr__(self) -> str:
        return f"PermutationSpec(groups={self.groups})"


class _UnionFind:
    def __init__(self):
        self.parent: dict = {}
        self.order: dict = {}
        self.size: dict = {}

    def add(self, g, size):
        self.parent[g] = g
        self.order[g] = len(self.order)
        self.size[g] = size

    def find(self, g):
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a, b, where):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] is not None and self.size[rb] is not None and self.size[ra] != self.size[rb]:
            raise ValueError(f"{where}: joins channel groups of sizes {self.size[ra]} and {self.size[rb]}.")
        # the fixed group absorbs; otherwise the earlier group names the union
        if rb == _FIXED or (ra != _FIXED and self.order[rb] < self.order[ra]):
            ra, rb = rb, ra
        self.parent[rb] = ra


def derive_spec(arch) -> PermutationSpec:
    """The :class:`PermutationSpec` of an :class:`~otlmc.conv.model.Architecture` (module docstring)."""
    uf = _UnionFind()
    uf.add(_FIXED, None)
    raw_axes: dict = {}
    taps: dict = {}
    lin_in: dict = {}
    lin_out: dict = {}
    shapes = {i.name: i for i in arch.leaves}

    def walk(layers, prefix, g, rep):
        for j, layer in enumerate(layers):
            name = f"{prefix}{j}"
            if isinstance(layer, M.Residual):
                gb, rb = walk(layer.body, f"{name}.body.", g, rep)
                gs, rs = walk(layer.shortcut, f"{name}.shortcut.", g, rep)
                if rb != rs:
                    raise ValueError(f"residual block {name}: body and shortcut give differently "
                                     f"flattened features.")
                uf.union(gb, gs, f"residual block {name}")
                g, rep = gb, rb
                continue
            info = shapes[name]
            if isinstance(layer, (M.Conv, M.Dense)):
                new = name
                uf.add(new, layer.out)
                raw_axes[f"{name}.W"] = ((new, 1), (g, rep)) + ((None, 1),) * (2 if isinstance(layer, M.Conv) else 0)
                if layer.bias:
                    raw_axes[f"{name}.b"] = ((new, 1),)
                lin_in[name], lin_out[name] = (g, rep), (new, 1)
                g, rep = new, 1
            elif isinstance(layer, M.NORMS):
                if rep != 1:
                    raise ValueError(f"layer {name}: normalisation of flattened features is not supported.")
                for p in ("gamma", "beta") + (("mean", "var") if isinstance(layer, M.BatchNorm) else ()):
                    raw_axes[f"{name}.{p}"] = ((g, 1),)
            elif isinstance(layer, M.ReLU):
                taps[name] = (g, rep)
            elif isinstance(layer, M.Flatten):
                H, W, _ = info.in_shape
                rep = rep * H * W
            elif isinstance(layer, (M.MaxPool, M.AvgPool, M.GlobalAvgPool)):
                pass
            else:  # pragma: no cover
                raise AssertionError(type(layer))
        return g, rep

    g_out, _ = walk(arch.layers, "", _FIXED, 1)
    uf.union(g_out, _FIXED, "network output")

    def resolve(entry):
        g, rep = entry
        if g is None:
            return None
        r = uf.find(g)
        return None if r == _FIXED else AxisGroup(r, rep)

    groups: dict = {}
    members: dict = {}
    for name, (g, _) in lin_out.items():
        r = uf.find(g)
        if r != _FIXED:
            groups.setdefault(r, uf.size[r])
            members.setdefault(r, []).append(name)
    groups = dict(sorted(groups.items(), key=lambda kv: uf.order[kv[0]]))
    return PermutationSpec(
        groups=groups,
        axes={k: tuple(resolve(e) for e in v) for k, v in raw_axes.items()},
        taps={k: (None if resolve(v) is None else resolve(v).group) for k, v in taps.items()},
        linear_in={k: resolve(v) for k, v in lin_in.items()},
        linear_out={k: resolve(v) for k, v in lin_out.items()},
        members={k: tuple(v) for k, v in members.items()},
    )


# --------------------------------------------------------------------------- permutations
def check_perms(spec: PermutationSpec, perms: Mapping) -> dict:
    """Validate ``{group: permutation}`` (every group of ``spec`` present, nothing else)."""
    if not isinstance(perms, Mapping):
        raise TypeError(f"perms must be a mapping of group names to permutations, got {type(perms).__name__}.")
    if set(perms) != set(spec.groups):
        raise ValueError(f"perms has groups {sorted(perms)}, the spec has {sorted(spec.groups)}.")
    out = {}
    for g, n in spec.groups.items():
        p = np.asarray(perms[g])
        if p.shape != (n,) or not np.issubdtype(p.dtype, np.integer) or not np.array_equal(np.sort(p), np.arange(n)):
            raise ValueError(f"perms[{g!r}] must be a permutation of 0..{n - 1}, got dtype {p.dtype} shape {p.shape}.")
        out[g] = p
    return out


def identity_perms(spec: PermutationSpec) -> dict:
    return {g: np.arange(n) for g, n in spec.groups.items()}


def random_perms(spec: PermutationSpec, *, rng: np.random.Generator) -> dict:
    """One uniformly random permutation per group."""
    check_rng(rng)
    return {g: rng.permutation(n) for g, n in spec.groups.items()}


def inverse_perms(perms: Mapping) -> dict:
    return {g: np.argsort(p) for g, p in perms.items()}


def compose_perms(p: Mapping, q: Mapping) -> dict:
    """``permute(permute(B, q), p) == permute(B, compose(p, q))``: ``(q[p[i]])``."""
    return {g: np.asarray(q[g])[np.asarray(p[g])] for g in p}


def axis_index(ax: AxisGroup, perm):
    """Index array along an axis for the channel permutation ``perm`` of its group."""
    perm = np.asarray(perm)
    if ax.repeat == 1:
        return perm
    C = perm.shape[0]
    return (np.arange(ax.repeat)[:, None] * C + perm[None, :]).ravel()  # (repeat*C,) blockwise


def permute_array(a, axes, perms: Mapping, *, skip_axis: int | None = None):
    """``a`` with every axis that carries a group re-indexed by its permutation."""
    xp = xp_of(a)
    for k, ax in enumerate(axes):
        if ax is None or k == skip_axis:
            continue
        a = xp.take(a, xp.asarray(axis_index(ax, perms[ax.group])), axis=k)
    return a


def permute(net: M.ConvNet, spec: PermutationSpec, perms: Mapping) -> M.ConvNet:
    """B with its channels relabelled by ``perms``: the same function (to rounding) as ``net``."""
    perms = check_perms(spec, perms)
    params = {k: permute_array(v, spec.axes.get(k, ()), perms) for k, v in net.params.items()}
    buffers = {k: permute_array(v, spec.axes.get(k, ()), perms) for k, v in net.buffers.items()}
    return M.ConvNet(net.arch, params, buffers)
