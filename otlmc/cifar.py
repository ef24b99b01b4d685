"""CIFAR-10 from the canonical python archive the user already has; nothing is downloaded.

The archive ``cifar-10-python.tar.gz`` (https://www.cs.toronto.edu/~kriz/cifar.html, MD5
``c58f30108f718f92721af3b95e74349a`` as published there) holds ``cifar-10-batches-py/data_batch_1..5``
and ``test_batch``: Python-2 pickles of dicts with ``data`` (a ``(10000, 3072)`` uint8 array, each
row the red, green and blue 32x32 planes) and ``labels`` (a list of ints 0..9), plus ``batch_label``
and ``filenames``.

Pickles can run code, and the project refuses pickle-bearing files elsewhere (:mod:`otlmc.io` reads
``.npz`` with ``allow_pickle=False``). This reader therefore (1) checks the archive's MD5 before
anything in it is read, (2) reads the members from the tar stream into memory (nothing is extracted
to disk; only regular files of the expected names are read), and (3) unpickles with an unpickler
that resolves only the three globals a plain numpy array needs (``numpy.core.multiarray._reconstruct``
for ``ndarray`` with a non-object dtype, ``numpy.dtype``); dicts, lists, strings and ints are pickle
opcodes, not globals. The unpickled object must then be a dict with exactly the expected fields,
shapes, dtypes and label range. A file that asks for any other global is refused before it runs.

Images are returned channels-last, ``(N, 32, 32, 3)`` float32 in ``[0, 1]`` (bytes / 255), the
layout of :mod:`otlmc.conv`.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .datasets import DataError, _ArrayUnpickler, _cache_dir, _check_subset

ARCHIVE = "cifar-10-python.tar.gz"
#: MD5 of ``cifar-10-python.tar.gz`` published on the CIFAR page.
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
N_PER_BATCH, N_PIXELS, N_CLASSES = 10_000, 3072, 10
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def md5_file(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - integrity check against the published checksum, not security
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_batch_pickle(data: bytes, *, name: str = "batch", n_rows: int | None = N_PER_BATCH) -> tuple:
    """One batch's ``(data (n, 3072) uint8, labels (n,) int64)`` from its pickle bytes (safe reader).

    ``n_rows=None`` accepts any number of rows (synthetic archives in tests).
    """
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{name}: refused or unreadable pickle ({exc}).") from None
    if not isinstance(obj, dict) or not {"data", "labels"} <= set(obj):
        raise DataError(f"{name}: expected a dict with 'data' and 'labels', got {type(obj).__name__} "
                        f"with keys {sorted(obj) if isinstance(obj, dict) else '-'}.")
    extra = set(obj) - {"data", "labels", "batch_label", "filenames"}
    if extra:
        raise DataError(f"{name}: unexpected fields {sorted(extra)}.")
    X = obj["data"]
    if type(X) is not np.ndarray or X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != N_PIXELS:
        raise DataError(f"{name}: 'data' must be a uint8 array (n, {N_PIXELS}), got "
                        f"{getattr(X, 'dtype', type(X).__name__)} {getattr(X, 'shape', '')}.")
    if n_rows is not None and X.shape[0] != n_rows:
        raise DataError(f"{name}: 'data' has {X.shape[0]} rows, expected {n_rows}.")
    labels = obj["labels"]
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DataError(f"{name}: 'labels' must be a list of ints.")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (X.shape[0],) or (y.size and (y.min() < 0 or y.max() >= N_CLASSES)):
        raise DataError(f"{name}: {y.size} labels for {X.shape[0]} images, or labels outside 0..9.")
    return X, y


def _read_members(path: Path, names) -> dict:
    out = {}
    want = {f"{FOLDER}/{n}": n for n in names}
    try:
        with tarfile.open(path, "r:gz") as tf:
            for member in tf:
                key = want.get(member.name)
                if key is None:
                    continue
                if not member.isfile():
                    raise DataError(f"{path}: member {member.name} is not a regular file.")
                out[key] = tf.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable tar.gz archive ({exc}).") from None
    missing = sorted(set(names) - set(out))
    if missing:
        raise DataError(f"{path} lacks {', '.join(f'{FOLDER}/{m}' for m in missing)}.")
    return out


def _to_images(X: np.ndarray) -> np.ndarray:
    return (X.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / np.float32(255))  # (n, 32, 32, 3)


def find_archive(cache_dir=None) -> Path | None:
    """``cifar-10-python.tar.gz`` in ``cache_dir`` (default ``$OTLMC_DATA`` or ``~/.cache/otlmc``),
    looked for in ``<cache>/cifar10/`` and ``<cache>/``."""
    cache = _cache_dir(cache_dir)
    for d in (cache / "cifar10", cache):
        if (d / ARCHIVE).is_file():
            return d / ARCHIVE
    return None


def load_cifar10(path=None, *, cache_dir=None, n_train: int | None = None, n_test: int | None = None,
                 expected_md5: str = ARCHIVE_MD5, n_per_batch: int | None = N_PER_BATCH):
    """CIFAR-10 as ``(X_train (n, 32, 32, 3) float32, y_train (n,) int64, X_test, y_test)``.

    Parameters
    ----------
    path : the local ``cifar-10-python.tar.gz``; default: :func:`find_archive` in ``cache_dir``.
    n_train, n_test : keep the first ``n`` examples of each split (archive order).
    expected_md5 : the archive's checksum (the published one; tests pass that of a synthetic archive).
    n_per_batch : rows per batch file (10000; ``None`` accepts any, for synthetic archives).

    Raises
    ------
    FileNotFoundError : no archive (the message says where to put it); nothing is downloaded.
    DataError : wrong checksum, a pickle asking for a global other than numpy's array machinery,
        or content failing the checks.
    """
    if path is None:
        path = find_archive(cache_dir)
        if path is None:
            cache = _cache_dir(cache_dir)
            raise FileNotFoundError(
                f"{ARCHIVE} was not found in {cache / 'cifar10'} (nor in {cache}). Download it yourself from "
                f"https://www.cs.toronto.edu/~kriz/cifar.html (MD5 {ARCHIVE_MD5}) and put it there, or "
                f"pass its path; otlmc never downloads it.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}.")
    got = md5_file(path)
    if got != expected_md5:
        raise DataError(f"{path} has MD5 {got}, expected {expected_md5}: not the canonical CIFAR-10 python "
                        f"archive (or corrupt); refusing to unpickle its contents.")
    raw = _read_members(path, TRAIN_BATCHES + (TEST_BATCH,))
    tr = [load_batch_pickle(raw[b], name=b, n_rows=n_per_batch) for b in TRAIN_BATCHES]
    Xte, yte = load_batch_pickle(raw[TEST_BATCH], name=TEST_BATCH, n_rows=n_per_batch)
    Xtr = np.concatenate([x for x, _ in tr])  # (n_train, 3072)
    ytr = np.concatenate([y for _, y in tr])
    n_train = _check_subset("n_train", n_train, Xtr.shape[0], "split")
    n_test = _check_subset("n_test", n_test, Xte.shape[0], "split")
    return _to_images(Xtr[:n_train]), ytr[:n_train], _to_images(Xte[:n_test]), yte[:n_test]
