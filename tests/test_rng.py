"""Seeding depends on what a cell is, never on when or where it runs."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.rng import analysis_rng, cell_streams, check_rng, stable_hash


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


def test_analysis_streams_come_from_the_root_seed_and_the_purpose():
    a = analysis_rng(3, "fit deviation d=5").random(4)
    np.testing.assert_array_equal(analysis_rng(3, "fit deviation d=5").random(4), a)  # reproducible
    assert not np.array_equal(analysis_rng(4, "fit deviation d=5").random(4), a)  # root seed enters
    assert not np.array_equal(analysis_rng(3, "fit deviation d=6").random(4), a)  # purpose enters
    # a fixed value: the stream must not change between processes (no Python hash, no offsets)
    ss = np.random.SeedSequence(entropy=[int(stable_hash({"analysis": "x"}, 32)[i:i + 8], 16)
                                         for i in range(0, 32, 8)] + [7])
    np.testing.assert_array_equal(analysis_rng(7, "x").random(3), np.random.Generator(np.random.PCG64(ss)).random(3))
    # never one of a cell's streams
    cell = cell_streams({"analysis": "x"}, 7)
    assert all(not np.array_equal(g.random(3), analysis_rng(7, "x").random(3)) for g in cell.values())


@pytest.mark.parametrize("args, match", [((-1, "x"), "root_seed=-1"), ((1.5, "x"), "root_seed=1.5"),
                                         ((True, "x"), "root_seed=True"), ((0, ""), "purpose=''"),
                                         ((0, 3), "purpose=3")])
def test_analysis_rng_names_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        analysis_rng(*args)
