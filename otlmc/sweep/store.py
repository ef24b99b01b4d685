"""The result store of a sweep: one JSON record per cell, written atomically, read back on resume.

With a store directory every cell's outcome is written atomically (temporary file in the same
directory, ``fsync``, ``os.replace``: :func:`otlmc.tables.atomic_write_text`) by the worker that
computed it, as ``<cell_id>.json``:

* ``{"complete": true, "row": {...}, "otlmc_version": ...}`` for a finished cell;
* ``{"complete": false, "failed": true, "error": ..., "traceback": ..., "params": ...}`` for a cell
  whose function raised (with ``on_error="record"``).

A reader sees either no file or a whole one, so a crash or ``SIGKILL`` at any moment loses only
the cells in flight; several processes writing the same store write identical rows for the same
id, and the last rename wins. A file that does not parse as a complete record (a partial file
from another tool, a disk error) is ignored and its cell recomputed. A record made by another
otlmc version is not reused: the store key is (cell id, otlmc version).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..provenance import otlmc_version
from ..tables import atomic_write_text


def record_path(store: str | os.PathLike, cell_id: str) -> Path:
    """Where the record of ``cell_id`` lives in ``store``."""
    return Path(store) / f"{cell_id}.json"


def write_record(store: str | os.PathLike, cell_id: str, record: dict, *, default=None) -> None:
    """Write one record atomically; ``default`` is passed to ``json.dumps`` (``str`` for failure records)."""
    atomic_write_text(record_path(store, cell_id), json.dumps(record, default=default))


def to_jsonable(v):
    """A metric value as JSON: numpy scalars to Python scalars, arrays to lists."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def read_record(path: Path) -> dict | None:
    """A stored record (finished or failed), or None when missing, partial or of another version."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("otlmc_version", otlmc_version()) != otlmc_version():
        return None
    if rec.get("complete") is True and isinstance(rec.get("row"), dict):
        return rec
    if rec.get("failed") is True:
        return rec
    return None


def read_finished(path: Path) -> dict | None:
    """A stored finished row record, or None when the file is missing or not a complete record."""
    rec = read_record(path)
    return rec if rec is not None and rec.get("complete") is True else None


def scan_store(store, ids: Sequence[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Finished rows and failure records found in ``store`` for the given cell ids."""
    done, failed = {}, {}
    store = Path(store)
    for cid in ids:
        rec = read_record(record_path(store, cid))
        if rec is None:
            continue
        if rec.get("complete") is True:
            done[cid] = rec["row"]
        else:
            failed[cid] = rec
    return done, failed


__all__ = ["read_finished", "read_record", "record_path", "scan_store", "to_jsonable", "write_record"]
