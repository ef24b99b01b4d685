"""Bring your own networks: MLPs to and from ``.npz`` files and PyTorch state dicts.

File layout (``.npz``): ``W0, b0, W1, b1, ..., W{L}, b{L}`` with ``W_l`` of shape ``(out, in)``
(docs/theory.md §0, the same layout as PyTorch's ``nn.Linear.weight``) and an optional 0-d string
``activation``. Files are read with ``allow_pickle=False``, so loading never runs code.

PyTorch: a state dict of an ``nn.Sequential`` of ``nn.Linear`` layers (``0.weight, 0.bias,
2.weight, ...``, any names) is read in its stored order. :func:`mlp_from_state_dict` takes any
mapping of names to arrays or tensors, so it works without torch; reading a ``.pt``/``.pth`` file
needs torch (an optional dependency) and uses ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._validation import check_choice
from .backend import to_numpy
from .activations import ACTIVATIONS
from .networks import MLP

_KEY = re.compile(r"^([Wb])(\d+)$")

#: what decoding a damaged or foreign file can raise; each is re-raised as ValueError naming the file
_DECODING_ERRORS = (OSError, ValueError, EOFError, TypeError, KeyError, zipfile.BadZipFile, UnicodeDecodeError)


def _check_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}.")
    return Path(path)


def save_mlp(net: MLP, path) -> Path:
    """Write ``net`` to ``path`` (``.npz``; the suffix is added when missing). Returns the path."""
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an otlmc.networks.MLP, got {type(net).__name__}.")
    path = _check_path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays = {}
    for l, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{l}"] = to_numpy(W)
        arrays[f"b{l}"] = to_numpy(b)
    arrays["activation"] = np.array(net.activation)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def _from_npz(path: Path, activation: str | None) -> MLP:
    try:
        # our own handle: np.load leaves its file open when the archive fails to parse
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib, struct and numpy's format parser all raise
        # their own types on a damaged archive (BadZipFile, EOFError, NotImplementedError, ...): all
        # mean "not a readable MLP file", said with the file's name
        raise ValueError(f"{path} is not a readable .npz file of an MLP: {type(exc).__name__}: {exc}") from None
    stored_act = files.pop("activation", None)
    layers: dict[str, dict[int, np.ndarray]] = {"W": {}, "b": {}}
    for k, v in files.items():
        m = _KEY.match(k)
        if m is None:
            raise ValueError(f"{path}: unexpected key {k!r}; an MLP file holds W0, b0, W1, b1, ... "
                             f"and optionally 'activation'.")
        layers[m.group(1)][int(m.group(2))] = v
    n = len(layers["W"])
    if n == 0:
        raise ValueError(f"{path} holds no weight matrices (keys W0, W1, ...).")
    for kind in ("W", "b"):
        if sorted(layers[kind]) != list(range(n)):
            raise ValueError(f"{path}: keys {kind}0..{kind}{n - 1} expected, found "
                             f"{sorted(f'{kind}{i}' for i in layers[kind])}.")
    if activation is None:
        activation = "relu" if stored_act is None else str(stored_act)
    try:
        check_choice("activation", activation, ACTIVATIONS)
        return MLP([layers["W"][l] for l in range(n)], [layers["b"][l] for l in range(n)],
                   activation=activation)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def mlp_from_state_dict(state_dict: Mapping, *, activation: str = "relu") -> MLP:
    """MLP from a mapping ``name -> (out, in) weight`` / ``(out,)`` bias, in the mapping's order.

    Every 2-D entry is a layer's weight; the 1-D entry that follows it (if any) its bias. Accepts
    numpy arrays and torch tensors (converted with ``.detach().cpu().numpy()``).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}.")
    check_choice("activation", activation, ACTIVATIONS)
    weights, biases = [], []
    for name, v in state_dict.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        v = np.asarray(v)
        if v.ndim == 2:
            weights.append(v)
            biases.append(None)
        elif v.ndim == 1:
            if not weights or biases[-1] is not None:
                raise ValueError(f"state_dict entry {name!r} is a vector with no weight matrix before it.")
            biases[-1] = v
        else:
            raise ValueError(f"state_dict entry {name!r} has shape {v.shape}; an MLP has only "
                             f"(out, in) weights and (out,) biases.")
    if not weights:
        raise ValueError("state_dict holds no weight matrix.")
    biases = [np.zeros(W.shape[0]) if b is None else b for W, b in zip(weights, biases)]
    return MLP(weights, biases, activation=activation)


def load_mlp(path, *, activation: str | None = None) -> MLP:
    """Read an MLP from ``.npz`` (see module docstring) or a PyTorch ``.pt``/``.pth`` state dict.

    ``activation`` overrides the stored one (``.npz``); for PyTorch files it defaults to ``relu``.
    """
    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no network file at {path}.")
    if path.suffix in (".pt", ".pth"):
        try:
            import torch
        except ImportError:
            raise ImportError(f"reading {path} needs PyTorch, which is not installed; save the state "
                              f"dict as .npz (keys W0, b0, ...) or install torch.") from None
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, *_DECODING_ERRORS) as exc:
            raise ValueError(f"{path} is not a readable PyTorch state dict: {type(exc).__name__}: {exc}") from None
        if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
            sd = sd["state_dict"]
        try:
            return mlp_from_state_dict(sd, activation=activation or "relu")
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    return _from_npz(path, activation)
