"""The result store of a sweep: one JSON record per cell, written atomically, verified when read back.

With a store directory every cell's outcome is written atomically (temporary file in the same
directory, ``fsync``, ``os.replace``: :func:`otlmc.tables.atomic_write_text`) by the worker that
computed it, as ``<cell_id>.json``:

* ``{"complete": true, "cell_id", "identity", "row": {...}, "otlmc_version", "sha256"}`` for a
  finished cell;
* ``{"complete": false, "failed": true, "cell_id", "identity", "error", "traceback", "params", ...,
  "sha256"}`` for a cell whose function raised (with ``on_error="record"``).

``identity`` is what the cell *is* (``{"sim", "context", "params", "root_seed"}``) and ``sha256``
the digest of the record's canonical JSON without that key (:func:`record_digest`). A reader sees
either no file or a whole one, so a crash or ``SIGKILL`` at any moment loses only the cells in
flight; several processes writing the same store write identical rows for the same id, and the
last rename wins.

Every record read back is verified (:func:`verify_record`): its file name, its ``cell_id``, the
id recomputed from its identity and the id the sweep expects must agree; its identity must be
the cell's; a finished row must repeat the cell's id, root seed and parameters; the digest must
match the content. A record that fails any check (a file copied over another, an edited metric
or parameter, a forged ``failed`` record, a partial file from another tool) is **rejected**: its
cell is recomputed and the rejection reported (:attr:`otlmc.sweep.SweepResult.rejected`, the
run's JSON), never tabulated. A record made by another otlmc version is not reused either (the
store key is (cell id, otlmc version)), but it is not a rejection: it is stale, not wrong.

The digest guards against accidents and tampering by hand, not against an adversary who
recomputes it (there is no secret key).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..provenance import otlmc_version
from ..rng import stable_hash
from ..tables import atomic_write_text
from .grid import cell_id as _cell_id
from .grid import cell_identity


def record_path(store: str | os.PathLike, cell_id: str) -> Path:
    """Where the record of ``cell_id`` lives in ``store``."""
    return Path(store) / f"{cell_id}.json"


def record_identity(sim: str, params: Mapping, root_seed: int, context: Mapping | None = None) -> dict:
    """The identity stored in every record: ``{"sim", "context", "params", "root_seed"}``."""
    return {**cell_identity(sim, params, context), "root_seed": int(root_seed)}


def _canonical_text(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def record_digest(record: Mapping) -> str:
    """SHA-256 of the canonical JSON of ``record`` without its ``"sha256"`` key."""
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(_canonical_text(body).encode()).hexdigest()


def write_record(store: str | os.PathLike, cell_id: str, record: dict, *, default=None) -> None:
    """Write one record atomically, with its digest; ``default`` is passed to ``json.dumps``.

    The digest is taken of the record as JSON will give it back (``default`` applied, tuples as
    lists), so that a reader recomputes the same value.
    """
    body = json.loads(json.dumps({k: v for k, v in record.items() if k != "sha256"}, default=default))
    body["sha256"] = record_digest(body)
    atomic_write_text(record_path(store, cell_id), json.dumps(body))


def to_jsonable(v):
    """A metric value as JSON: numpy scalars to Python scalars, arrays to lists."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


class RecordRejected(ValueError):
    """A stored record that does not verify; ``reason`` says which check failed."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def _same(a, b) -> bool:
    """Equal as cell identities (2 == 2.0, tuples == lists; the canonical form of :func:`stable_hash`)."""
    try:
        return stable_hash(a, 64) == stable_hash(b, 64)
    except (TypeError, ValueError):
        return False


def verify_record(path: Path, rec, expected_id: str | None = None,
                  expected_identity: Mapping | None = None) -> None:
    """Raise :class:`RecordRejected` unless ``rec`` (read from ``path``) is a true record of its cell.

    Checks: a dict, finished or failed; ``cell_id`` == the file name == ``expected_id`` == the id
    of its identity; identity == ``expected_identity``; a finished row repeats the id, root seed and
    every parameter; the stored digest matches the content.
    """
    path = Path(path)
    if not isinstance(rec, dict):
        raise RecordRejected(path, "not a JSON object")
    finished = rec.get("complete") is True and isinstance(rec.get("row"), dict)
    failed = rec.get("complete") is False and rec.get("failed") is True
    if not (finished or failed):
        raise RecordRejected(path, "neither a finished nor a failed record")
    if "sha256" not in rec:
        raise RecordRejected(path, "no digest (sha256)")
    if rec["sha256"] != record_digest(rec):
        raise RecordRejected(path, "content does not match its digest (edited or damaged)")
    cid = rec.get("cell_id")
    if cid != path.stem:
        raise RecordRejected(path, f"holds cell {cid!r}, not the cell of its file name")
    if expected_id is not None and cid != expected_id:
        raise RecordRejected(path, f"holds cell {cid!r}, expected {expected_id!r}")
    ident = rec.get("identity")
    if not (isinstance(ident, dict) and set(ident) == {"sim", "context", "params", "root_seed"}
            and isinstance(ident["params"], dict) and isinstance(ident["context"], dict)):
        raise RecordRejected(path, "no cell identity (sim, context, params, root_seed)")
    try:
        own = _cell_id(ident["sim"], ident["params"], ident["root_seed"], ident["context"])
    except (TypeError, ValueError):
        own = None
    if own != cid:
        raise RecordRejected(path, "its identity does not hash to its cell id")
    if expected_identity is not None and not _same(ident, expected_identity):
        raise RecordRejected(path, "its identity (sim, context, parameters, seed) is not the expected cell's")
    if finished:
        row = rec["row"]
        if row.get("cell_id") != cid or not _same(row.get("root_seed"), ident["root_seed"]):
            raise RecordRejected(path, "its row names another cell or seed")
        for k, v in ident["params"].items():
            if k not in row or not _same(row[k], v):
                raise RecordRejected(path, f"its row has parameter {k}={row.get(k)!r}, the cell has {v!r}")
    elif not _same(rec.get("params"), ident["params"]):
        raise RecordRejected(path, "its failure parameters are not the cell's")


def load_record(path: Path, expected_id: str | None = None, expected_identity: Mapping | None = None):
    """A verified record, or None when missing or of another otlmc version; raises :class:`RecordRejected`."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordRejected(path, f"unreadable ({exc})") from None
    try:
        rec = json.loads(text)
    except ValueError:
        raise RecordRejected(path, "not valid JSON (partial or foreign file)") from None
    if isinstance(rec, dict) and rec.get("otlmc_version") != otlmc_version() and "otlmc_version" in rec:
        return None  # stale, not wrong: recomputed without a rejection
    verify_record(path, rec, expected_id, expected_identity)
    return rec


def read_record(path: Path) -> dict | None:
    """A stored record (finished or failed) that verifies in itself, or None (missing, other version, rejected)."""
    try:
        return load_record(path)
    except RecordRejected:
        return None


def read_finished(path: Path) -> dict | None:
    """A stored finished row record, or None when the file is missing or not a verified complete record."""
    rec = read_record(path)
    return rec if rec is not None and rec.get("complete") is True else None


def scan_store(store, ids: Sequence[str], identities: Sequence[Mapping] | None = None
               ) -> tuple[dict[str, dict], dict[str, dict], list[dict]]:
    """Verified finished rows and failure records found in ``store`` for the given cell ids.

    ``identities[i]`` (from :func:`record_identity`) is the expected identity of ``ids[i]``.
    Returns ``(done, failed, rejected)``: ``{cell_id: row}``, ``{cell_id: failure record}`` and
    one ``{"cell_id", "file", "reason"}`` per record that did not verify (its cell is to be
    recomputed).
    """
    done, failed, rejected = {}, {}, []
    store = Path(store)
    idents = list(identities) if identities is not None else [None] * len(ids)
    if len(idents) != len(ids):
        raise ValueError(f"identities has {len(idents)} entries for {len(ids)} ids.")
    for cid, ident in zip(ids, idents):
        path = record_path(store, cid)
        try:
            rec = load_record(path, cid, ident)
        except RecordRejected as exc:
            rejected.append({"cell_id": cid, "file": str(path), "reason": exc.reason})
            continue
        if rec is None:
            continue
        if rec.get("complete") is True:
            done[cid] = rec["row"]
        else:
            failed[cid] = rec
    return done, failed, rejected


__all__ = ["RecordRejected", "load_record", "read_finished", "read_record", "record_digest", "record_identity",
           "record_path", "scan_store", "to_jsonable", "verify_record", "write_record"]
