"""CIFAR-10 loader on small synthetic archives in the canonical format (Python-2 pickles in a tar.gz).

The synthetic batches are written the way the canonical ones were: Python 2 ``str`` objects
(SHORT_BINSTRING/BINSTRING opcodes) for the keys and the array bytes, protocol 2, numpy arrays
through ``_reconstruct``. The real archive is used only if the user has it (never downloaded).
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from otlmc import cifar
from otlmc.datasets import DataError


class _Py2Pickler(pickle._Pickler):
    """Pure-Python pickler writing ``bytes`` as Python 2 ``str`` (as the canonical batches hold)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _batch(rng, n, label_offset=0):
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int((i + label_offset) % 10) for i in range(n)]
    return {b"batch_label": b"synthetic", b"labels": labels, b"data": data,
            b"filenames": [b"img%d.png" % i for i in range(n)]}


def _archive(tmp_path, members: dict) -> tuple:
    path = tmp_path / cifar.ARCHIVE
    with tarfile.open(path, "w:gz") as tf:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def _good_members(rng, n=4):
    batches = {b: _batch(rng, n, i) for i, b in enumerate(cifar.TRAIN_BATCHES + (cifar.TEST_BATCH,))}
    return batches, {b: _py2_pickle(v) for b, v in batches.items()}


def test_synthetic_archive_round_trip(tmp_path, rng):
    batches, members = _good_members(rng)
    assert b"U\x04data" in members["test_batch"]  # a Python 2 str key, as in the canonical files
    path, md5 = _archive(tmp_path, {**members, "batches.meta": _py2_pickle({b"label_names": []})})
    Xtr, ytr, Xte, yte = cifar.load_cifar10(path, expected_md5=md5, n_per_batch=None)
    assert Xtr.shape == (20, 32, 32, 3) and Xtr.dtype == np.float32 and Xte.shape == (4, 32, 32, 3)
    raw = batches["data_batch_2"][b"data"][1]  # (3072,): R plane, G plane, B plane
    np.testing.assert_array_equal(Xtr[5, :, :, 1] * 255, raw[1024:2048].reshape(32, 32).astype(np.float32))
    np.testing.assert_array_equal(ytr[:4], [0, 1, 2, 3])
    np.testing.assert_array_equal(ytr[4:8], [1, 2, 3, 4])
    assert yte.dtype == np.int64
    sub = cifar.load_cifar10(path, expected_md5=md5, n_per_batch=None, n_train=3, n_test=2)
    assert sub[0].shape[0] == 3 and sub[3].shape == (2,)
    with pytest.raises(ValueError, match="n_train == 21"):
        cifar.load_cifar10(path, expected_md5=md5, n_per_batch=None, n_train=21)
    with pytest.raises(DataError, match="expected 10000"):
        cifar.load_cifar10(path, expected_md5=md5)


def test_checksum_is_checked_before_anything_is_read(tmp_path, rng):
    _, members = _good_members(rng)
    path, _ = _archive(tmp_path, members)
    with pytest.raises(DataError, match=f"expected {cifar.ARCHIVE_MD5}"):
        cifar.load_cifar10(path)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickles_asking_for_other_globals_are_refused(tmp_path, rng):
    _, members = _good_members(rng)
    members["data_batch_3"] = pickle.dumps({"data": _Evil(), "labels": []}, protocol=2)
    path, md5 = _archive(tmp_path, members)
    with pytest.raises(DataError, match="refused"):
        cifar.load_cifar10(path, expected_md5=md5, n_per_batch=None)
    # object arrays are refused too (their elements would be arbitrary pickles)
    with pytest.raises(DataError, match="refused"):
        cifar.load_batch_pickle(pickle.dumps({"data": np.array([1, "a"], dtype=object), "labels": []}))


def test_wrong_content_is_refused(tmp_path, rng):
    bad = _batch(rng, 3)
    bad[b"labels"] = [0, 1, 12]
    with pytest.raises(DataError, match="outside 0..9"):
        cifar.load_batch_pickle(_py2_pickle(bad), n_rows=None)
    bad = _batch(rng, 3)
    bad[b"data"] = bad[b"data"].astype(np.float32)
    with pytest.raises(DataError, match="uint8"):
        cifar.load_batch_pickle(_py2_pickle(bad), n_rows=None)
    _, members = _good_members(rng)
    del members["test_batch"]
    path, md5 = _archive(tmp_path, members)
    with pytest.raises(DataError, match="lacks"):
        cifar.load_cifar10(path, expected_md5=md5, n_per_batch=None)


def test_missing_archive_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        cifar.load_cifar10(cache_dir=tmp_path)


def test_real_archive_when_the_user_has_it():
    path = cifar.find_archive()
    if path is None:
        pytest.skip("cifar-10-python.tar.gz is not in the otlmc cache (it is never downloaded).")
    Xtr, ytr, Xte, yte = cifar.load_cifar10(path)
    assert Xtr.shape == (50_000, 32, 32, 3) and Xte.shape == (10_000, 32, 32, 3)
    assert np.bincount(ytr).tolist() == [5000] * 10 and np.bincount(yte).tolist() == [1000] * 10
