"""Explicit, order-independent randomness.

A sweep cell's randomness is a function of *what the cell is*, never of *when or where it
runs*: ``SeedSequence(entropy=[*hash_words(cell params), root_seed])``. Named sub-streams are
derived from the stream's name (not its position), so adding a stream or a grid point later
leaves every existing number unchanged. Results are then identical for any ``n_jobs``,
backend, scheduling or resume order.

Analysis randomness (a bootstrap over a finished table, a resampling in a report) is not tied to
a cell: :func:`analysis_rng` derives it from the run's root seed and a *purpose name*, never from
a constant written in the code or an offset added to a seed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import numpy as np

DEFAULT_STREAMS = ("data", "net_a", "net_b", "eval")


def _canonical(obj):
    """JSON-able canonical form: tuples -> lists, numpy scalars -> Python scalars."""
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj.is_integer():
        # 2.0 and 2 name the same cell
        return int(obj)
    return obj


def stable_hash(obj, n_hex: int = 16) -> str:
    """Stable hex digest of a JSON-able object (independent of dict order and Python hash seed)."""
    text = json.dumps(_canonical(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n_hex]


def _words(hex_digest: str) -> list[int]:
    return [int(hex_digest[i : i + 8], 16) for i in range(0, len(hex_digest), 8)]


def cell_seed_sequence(params: Mapping, root_seed: int) -> np.random.SeedSequence:
    """SeedSequence of a cell: its parameters' stable hash mixed with the root seed."""
    if not isinstance(root_seed, (int, np.integer)) or root_seed < 0:
        raise ValueError(f"root_seed={root_seed!r} must be a non-negative integer.")
    return np.random.SeedSequence(entropy=[*_words(stable_hash(params, 32)), int(root_seed)])


def named_streams(
    ss: np.random.SeedSequence, names: Iterable[str] = DEFAULT_STREAMS
) -> dict[str, np.random.Generator]:
    """One independent Generator per name, derived from the name itself."""
    out = {}
    for name in names:
        child = np.random.SeedSequence(
            entropy=ss.entropy, spawn_key=(*ss.spawn_key, *_words(stable_hash(name, 8)))
        )
        out[name] = np.random.Generator(np.random.PCG64(child))
    return out


def cell_streams(
    params: Mapping, root_seed: int, names: Iterable[str] = DEFAULT_STREAMS
) -> dict[str, np.random.Generator]:
    """Named generators for the cell identified by ``params`` under ``root_seed``."""
    return named_streams(cell_seed_sequence(params, root_seed), names)


def analysis_rng(root_seed: int, purpose: str) -> np.random.Generator:
    """Generator of an analysis step named ``purpose`` under ``root_seed``.

    ``SeedSequence(entropy=[*hash_words({"analysis": purpose}), root_seed])``: a stable hash of the
    name (independent of the Python hash seed), so the same root seed and purpose give the same
    stream in every process, two purposes give independent streams, and no stream coincides with
    a cell's (whose entropy hashes the cell's parameters, :func:`cell_seed_sequence`).

    Parameters
    ----------
    root_seed : the run's root seed, ``>= 0``.
    purpose : a non-empty name of what the randomness is for, e.g.
        ``"dimension_scaling fit d=5 deviation"``; include everything that distinguishes one
        analysis from another.
    """
    if isinstance(root_seed, bool) or not isinstance(root_seed, (int, np.integer)) or root_seed < 0:
        raise ValueError(f"root_seed={root_seed!r} must be a non-negative integer.")
    if not isinstance(purpose, str) or not purpose:
        raise ValueError(f"purpose={purpose!r} must be a non-empty string naming the analysis.")
    ss = np.random.SeedSequence(entropy=[*_words(stable_hash({"analysis": purpose}, 32)), int(root_seed)])
    return np.random.Generator(np.random.PCG64(ss))


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Refuse anything but a Generator: no global state, no silent int seeds."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}."
        )
    return rng

