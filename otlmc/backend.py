"""The one array-module seam: numpy everywhere, cupy when a caller asks for it.

This is the only module that imports cupy, and it does so lazily, so ``import otlmc`` never
initialises CUDA. Library code infers the module from its inputs with :func:`xp_of`; entry
points choose a backend once with :func:`get_xp`.
"""
from __future__ import annotations

import importlib
import importlib.util

import numpy as np

BACKENDS = ("numpy", "cupy")


def cupy_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        cp = importlib.import_module("cupy")
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # any driver/runtime failure means: no usable GPU
        return False


def get_xp(backend: str = "numpy"):
    """Return the array module for ``backend`` ('numpy' or 'cupy')."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not known; allowed: {', '.join(BACKENDS)}.")
    if backend == "numpy":
        return np
    if not cupy_available():
        raise RuntimeError(
            "backend='cupy' was requested but cupy is not installed or sees no CUDA device; "
            "install the 'gpu' extra (pip install -e '.[gpu]') on a machine with a GPU, "
            "or use backend='numpy'."
        )
    return importlib.import_module("cupy")


def _is_cupy_array(a) -> bool:
    return type(a).__module__.split(".")[0] == "cupy"


def xp_of(*arrays):
    """Array module of the inputs: cupy if any input is a cupy array, else numpy.

    Mixing is allowed only in that direction; it never imports cupy for numpy inputs.
    """
    for a in arrays:
        if _is_cupy_array(a):
            return importlib.import_module("cupy")
    return np


def to_numpy(a) -> np.ndarray:
    """Host copy of ``a`` (no copy for numpy input)."""
    if _is_cupy_array(a):
        return a.get()
    return np.asarray(a)
