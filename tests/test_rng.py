"""Seeding depends on what a cell is, never on when or where it runs."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.rng import cell_streams, check_rng, stable_hash


def test_stable_hash_ignores_key_order_and_int_float_spelling():
    assert stable_hash({"a": 1, "b": (2, 3)}) == stable_hash({"b": [2, 3], "a": 1.0})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    # a fixed value: the hash must not change between Python processes or versions
    assert stable_hash({"width": 64}) == stable_hash({"width": np.int64(64)})


def test_streams_are_reproducible_independent_and_named():
    s1 = cell_streams({"width": 8, "replicate": 0}, 3)
    s2 = cell_streams({"replicate": 0, "width": 8}, 3)
    for name in s1:
        np.testing.assert_array_equal(s1[name].random(5), s2[name].random(5))
    s = cell_streams({"width": 8, "replicate": 0}, 3)
    draws = {k: g.random(4) for k, g in s.items()}
    assert len({tuple(v) for v in draws.values()}) == len(draws)
    # adding a stream does not change the others
    more = cell_streams({"width": 8, "replicate": 0}, 3, names=("data", "net_a", "net_b", "eval", "extra"))
    np.testing.assert_array_equal(more["net_a"].random(4), draws["net_a"])
    other_seed = cell_streams({"width": 8, "replicate": 0}, 4)
    assert not np.array_equal(other_seed["net_a"].random(4), draws["net_a"])


def test_bad_rng_and_seed():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        check_rng(np.random.RandomState(0))
    with pytest.raises(ValueError, match="root_seed=-1"):
        cell_streams({"a": 1}, -1)
