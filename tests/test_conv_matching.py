"""Matching on conv nets: planted permutations recovered, MLP methods reproduced, Re-Basin's sub-problem."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from otlmc import matching as mlp_matching
from otlmc.conv import Architecture, Conv, Dense, Flatten, ReLU, derive_spec, init_network, permute, random_perms
from otlmc.conv.matching import (
    _group_gain,
    _np_params,
    _objective,
    align,
    live_channels,
    match,
    planted_recovery,
)
from otlmc.networks import MLP

from test_conv_specs import _randomised, architectures

PLANTED = ["vgg", "vgg_bn", "resnet_ln", "resnet_bn", "projection_dense"]
KWARGS = {"rebasin": lambda r, X: {"rng": r}, "wm_naive": lambda r, X: {},
          "wm_ours": lambda r, X: {"X": X}, "am": lambda r, X: {"X": X}}


@pytest.mark.parametrize("method", list(KWARGS))
@pytest.mark.parametrize("name", PLANTED)
def test_planted_permutation_is_recovered(name, method, rng):
    """B = A permuted by the derived spec, plus noise 1e-6 of the weights' scale."""
    arch = architectures()[name]
    spec = derive_spec(arch)
    A = _randomised(init_network(arch, rng=rng), rng)
    q = random_perms(spec, rng=rng)
    B = permute(A, spec, q)
    B = B.replace({k: v + 1e-6 * rng.standard_normal(v.shape) for k, v in B.params.items()})
    X = rng.standard_normal((64,) + arch.input_shape)
    res = match(A, B, spec, method, **KWARGS[method](rng, X))
    live = live_channels(A, spec, X) if method == "am" else None
    assert planted_recovery(spec, q, res, live=live)["all"], (name, method)
    if method != "am":
        assert all(c <= ci + 1e-12 for c, ci in zip(res.costs.values(), res.identity_costs.values()))


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def test_kronecker_wm_ours_recovers_too(rng):
    arch = architectures()["resnet_bn"]
    spec = derive_spec(arch)
    A = _randomised(init_network(arch, rng=rng), rng)
    q = random_perms(spec, rng=rng)
    B = permute(A, spec, q)
    X = rng.standard_normal((32,) + arch.input_shape)
    for est in ("kron", "channel"):
        assert planted_recovery(spec, q, match(A, B, spec, "wm_ours", X=X, estimate=est))["all"]


def _mlp_as_conv(rng, d=5, widths=(6, 7), c=3):
    arch = Architecture((1, 1, d), [Conv(widths[0], 1), ReLU(), Conv(widths[1], 1), ReLU(), Flatten(), Dense(c)])
    net = init_network(arch, rng=rng, init="torch")
    mlp = MLP([net.params["0.W"][:, :, 0, 0], net.params["2.W"][:, :, 0, 0], net.params["5.W"]],
              [net.params["0.b"], net.params["2.b"], net.params["5.b"]])
    return arch, net, mlp


@pytest.mark.parametrize("method", ["wm_naive", "wm_ours", "am", "am_uncentered"])
def test_one_by_one_convnet_reproduces_the_mlp_methods(method, rng):
    """A conv net on 1x1 maps with 1x1 kernels is an MLP: the conv methods must give the MLP's
    permutations and costs (otlmc.matching), which pins the conventions."""
    arch, A, mlp_a = _mlp_as_conv(rng)
    _, B, mlp_b = _mlp_as_conv(rng)
    spec = derive_spec(arch)
    X = rng.standard_normal((50, 1, 1, 5))
    kw = {"X": X} if method != "wm_naive" else {}
    got = match(A, B, spec, method, **kw)
    ref = mlp_matching.match(mlp_a, mlp_b, method, **({"X": X[:, 0, 0, :]} if kw else {}))
    for l, g in enumerate(spec.groups):
        np.testing.assert_array_equal(got.perms[g], ref.perms[l])
        assert abs(got.costs[g] - ref.costs[l]) <= 1e-10 * max(1.0, ref.costs[l])


def test_rebasin_group_gain_is_the_objective_up_to_a_constant(rng):
    """Oracle for the sub-problem: over all 24 permutations of a 4-channel group, the objective
    minus ``sum_i G[i, p[i]]`` is one constant, so the assignment maximises the objective."""
    arch = architectures()["resnet_plain"]  # stream groups of size 2 and 4, inner groups too
    spec = derive_spec(arch)
    A, B = init_network(arch, rng=rng), init_network(arch, rng=rng)
    pa, pb = _np_params(A), _np_params(B)
    perms = random_perms(spec, rng=rng)
    g = next(g for g, n in spec.groups.items() if n == 4 and len(spec.members[g]) > 1)
    G = _group_gain(pa, pb, spec, perms, g)
    consts = [_objective(pa, pb, spec, {**perms, g: np.array(p)}) - G[np.arange(4), list(p)].sum()
              for p in itertools.permutations(range(4))]
    assert np.ptp(consts) < 1e-10 * max(1.0, abs(consts[0]))


def test_rebasin_objective_never_decreases_and_beats_identity(rng):
    arch = architectures()["resnet_ln"]
    spec = derive_spec(arch)
    A, B = init_network(arch, rng=rng), init_network(arch, rng=rng)
    res = match(A, B, spec, "rebasin", rng=rng)
    obj = res.info["objective"]
    assert all(b >= a - 1e-12 * abs(a) for a, b in zip(obj, obj[1:]))
    assert obj[-1] > obj[0]
    aligned, res2 = align(A, B, spec, "rebasin", rng=np.random.default_rng(0))
    dist = sum(float(np.sum((A.params[k] - aligned.params[k]) ** 2)) for k in A.params)
    dist0 = sum(float(np.sum((A.params[k] - B.params[k]) ** 2)) for k in A.params)
    assert dist < dist0


def test_match_checks_its_arguments(rng):
    arch = architectures()["vgg"]
    spec = derive_spec(arch)
    A = init_network(arch, rng=rng)
    with pytest.raises(ValueError, match="method"):
        match(A, A, spec, "nope")
    with pytest.raises(TypeError, match="PermutationSpec"):
        match(A, A, {}, "wm_naive")
    with pytest.raises(ValueError, match="different architectures"):
        match(A, init_network(architectures()["vgg_bn"], rng=rng), spec, "wm_naive")
    with pytest.raises(TypeError, match="Generator"):
        match(A, A, spec, "rebasin", rng=0)
