"""Input checks that name the parameter, the value and what is allowed."""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np


def check_int(name: str, value, *, min_value: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral,)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} == {value}, must be >= {min_value}.")
    return value


def check_real(
    name: str,
    value,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    strict_min: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} == {value}, must be finite.")
    if min_value is not None:
        if strict_min and value <= min_value:
            raise ValueError(f"{name} == {value}, must be > {min_value}.")
        if not strict_min and value < min_value:
            raise ValueError(f"{name} == {value}, must be >= {min_value}.")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} == {value}, must be <= {max_value}.")
    return value


def check_choice(name: str, value, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not known; allowed: {', '.join(map(repr, allowed))}.")
    return value


def check_array(name: str, a, *, ndim: int | None = None, xp=np):
    """Finite floating array of the given rank (converted to float64 for numpy inputs)."""
    if xp is np:
        try:
            a = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a real array, got {type(a).__name__}: {exc}") from None
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {tuple(a.shape)}.")
    if not bool(xp.all(xp.isfinite(a))):
        bad = int(xp.sum(~xp.isfinite(a)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf); all must be finite.")
    return a


def check_t_grid(ts) -> np.ndarray:
    ts = check_array("ts", ts, ndim=1)
    if ts.size == 0:
        raise ValueError("ts is empty; give at least one interpolation point in [0, 1].")
    if ts.min() < 0 or ts.max() > 1:
        raise ValueError(f"ts must lie in [0, 1], got range [{ts.min()}, {ts.max()}].")
    return ts


def check_per_layer(name: str, value, n_layers: int, *, strict_min: bool = True) -> np.ndarray:
    """A positive scalar broadcast to ``n_layers`` values, or a sequence of exactly that length.

    Entries must be ``> 0`` (``>= 0`` with ``strict_min=False``).
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.full(n_layers, check_real(name, value, min_value=0.0, strict_min=strict_min))
    arr = check_array(name, value, ndim=1)
    if arr.shape[0] != n_layers:
        raise ValueError(f"{name} has {arr.shape[0]} values, expected one per layer ({n_layers}).")
    bad = arr <= 0 if strict_min else arr < 0
    if bad.any():
        what = "> 0" if strict_min else ">= 0"
        raise ValueError(f"{name}[{int(np.argmax(bad))}] == {arr[bad][0]}, every entry must be {what}.")
    return arr
