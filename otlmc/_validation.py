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


#: dtype kinds accepted as real numbers: bool, signed and unsigned integers, floats
_REAL_KINDS = "biuf"
_KIND_NAMES = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "structured",
               "M": "datetime", "m": "timedelta"}


def check_real_dtype(name: str, a) -> None:
    """Refuse arrays whose dtype is not real (complex, object, strings, ...): converting them to
    float64 would drop an imaginary part or coerce arbitrary objects."""
    kind = a.dtype.kind
    if kind not in _REAL_KINDS:
        what = _KIND_NAMES.get(kind, str(a.dtype))
        raise TypeError(f"{name} must be a real array (bool, integer or float), got {'an' if what[0] in 'aeiou' else 'a'} {what} array "
                        f"(dtype {a.dtype}).")


def as_real_array(name: str, a, *, dtype=np.float64) -> np.ndarray:
    """``np.asarray(a, dtype)`` for real input only (no finiteness or rank check); TypeError names ``name``."""
    try:
        raw = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a real array, got {type(a).__name__}: {exc}") from None
    check_real_dtype(name, raw)
    return raw.astype(dtype, copy=False)


def check_array(name: str, a, *, ndim: int | None = None, xp=np):
    """Finite real array of the given rank (converted to float64 for numpy inputs).

    Complex, object, string and other non-real arrays are refused (TypeError), never truncated.
    """
    if xp is np:
        a = as_real_array(name, a)
    elif getattr(a, "dtype", None) is not None:
        check_real_dtype(name, a)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {tuple(a.shape)}.")
    if not bool(xp.all(xp.isfinite(a))):
        bad = int(xp.sum(~xp.isfinite(a)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf); all must be finite.")
    return a


def check_t_grid(ts) -> np.ndarray:
    """A t-grid: finite, in ``[0, 1]``, strictly increasing (no repeats: a barrier or a midpoint
    interpolated on an unsorted or duplicated grid is wrong)."""
    ts = check_array("ts", ts, ndim=1)
    if ts.size == 0:
        raise ValueError("ts is empty; give at least one interpolation point in [0, 1].")
    if ts.min() < 0 or ts.max() > 1:
        raise ValueError(f"ts must lie in [0, 1], got range [{ts.min()}, {ts.max()}].")
    steps = np.diff(ts)
    if (steps <= 0).any():
        k = int(np.argmax(steps <= 0))
        raise ValueError(f"ts must be strictly increasing; ts[{k}] == {ts[k]} and ts[{k + 1}] == {ts[k + 1]}.")
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
