"""Derived permutation specs: structure, and functional equivalence under random permutations.

Equivalence tolerance: a permuted network performs the same floating-point operations in another
order (sums over channels are reordered), so outputs agree to a few ulps of their magnitude; 1e-10
relative in float64 leaves four orders of magnitude of margin, and a wrong spec is off by O(1).
"""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.conv import (
    Architecture,
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    LayerNorm,
    MaxPool,
    ReLU,
    Residual,
    derive_spec,
    forward,
    init_network,
    permute,
    random_perms,
    resnet,
    vgg,
)
from otlmc.conv.specs import AxisGroup, PermutationSpec, compose_perms, inverse_perms


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def architectures():
    """Every architecture of the equivalence check (small sizes)."""
    return {
        "vgg": vgg(stages=((4,), (6, 5)), dense=(7,), input_shape=(10, 10, 2), n_classes=3),
        "vgg_bn": vgg(stages=((4,), (6,)), dense=(7, 5), norm="batchnorm", input_shape=(8, 8, 1), n_classes=3),
        "resnet_ln": resnet(blocks_per_stage=2, base_width=3, norm="layernorm", input_shape=(8, 8, 2), n_classes=4),
        "resnet_bn": resnet(blocks_per_stage=2, base_width=3, norm="batchnorm", input_shape=(8, 8, 2), n_classes=4),
        "resnet_plain": resnet(blocks_per_stage=1, base_width=2, norm="none", input_shape=(8, 8, 1), n_classes=3),
        # projection shortcut without stride; a residual dense block after Flatten (blockwise perms)
        "projection_dense": Architecture((6, 6, 2), [
            Conv(3), LayerNorm(), ReLU(),
            Residual([Conv(5), BatchNorm(), ReLU(), Conv(5)], [Conv(5, 1, 1, 0)]), ReLU(), MaxPool(),
            Flatten(), Dense(6), ReLU(), Residual([Dense(4), ReLU(), Dense(6)]), ReLU(), Dense(3)]),
        # a residual stream added to the raw input: its channels are fixed, the inner ones are not
        "input_stream": Architecture((5, 5, 3), [
            Residual([Conv(4), ReLU(), Conv(3)]), ReLU(), Flatten(), Dense(3)]),
    }


def _randomised(net, rng):
    """Random norms and running statistics, so that BatchNorm/LayerNorm permutations matter."""
    params = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in net.params.items()}
    buffers = {k: (rng.random(v.shape) + 0.5 if k.endswith(".var") else rng.standard_normal(v.shape))
               for k, v in net.buffers.items()}
    return net.replace(params, buffers)


@pytest.mark.parametrize("name", list(architectures()))
def test_random_permutation_keeps_the_function(name, rng):
    arch = architectures()[name]
    spec = derive_spec(arch)
    net = _randomised(init_network(arch, rng=rng), rng)
    X = rng.standard_normal((6,) + arch.input_shape)
    perms = {g: (np.roll(p, 1) if np.array_equal(p, np.arange(p.size)) else p)  # never the identity
             for g, p in random_perms(spec, rng=rng).items()}
    pnet = permute(net, spec, perms)
    for train in (False, True):
        out, rec = forward(net, X, train=train, record=True)
        pout, prec = forward(pnet, X, train=train, record=True)
        err = np.max(np.abs(out - pout)) / np.max(np.abs(out))
        assert err < 1e-10, (name, train, err)
        # and every post-ReLU feature map is the permuted one (channel i of B = channel p[i] of A)
        for tap, g in spec.taps.items():
            if g is not None and perms[g].size == rec.post[tap].shape[-1]:
                np.testing.assert_allclose(prec.post[tap], rec.post[tap][..., perms[g]], rtol=1e-9, atol=1e-12)
    # the permutation moved something (not a vacuous check)
    assert any(not np.array_equal(net.params[k], pnet.params[k]) for k in net.params)


def test_spec_structure_of_a_resnet():
    arch = resnet(blocks_per_stage=2, base_width=3, norm="batchnorm", input_shape=(8, 8, 2), n_classes=4)
    spec = derive_spec(arch)
    streams = [g for g, m in spec.members.items() if len(m) > 1]
    # three residual streams: the stem's (shared with two blocks) and one per projection
    assert len(streams) == 3
    assert spec.members["0"] == ("0", "3.body.3", "5.body.3")
    assert set(spec.members["7.body.3"]) == {"7.body.3", "7.shortcut.0", "9.body.3"}
    assert len(spec.groups) == 3 + 6  # plus one inner group per block
    # norm parameters and running statistics follow their channels
    for p in ("gamma", "beta", "mean", "var"):
        assert spec.axes[f"3.body.4.{p}"] == (AxisGroup("0"),)
    assert spec.axes["16.W"] == (None, AxisGroup("11.body.3"))  # classifier after global pooling
    assert spec.axes["0.W"] == (AxisGroup("0"), None, None, None)


def test_flatten_maps_a_channel_permutation_onto_blocks():
    arch = vgg(stages=((4,),), dense=(), input_shape=(4, 6, 1), n_classes=3)  # 2x3 positions of 4 channels
    spec = derive_spec(arch)
    assert spec.axes["4.W"] == (None, AxisGroup("0", repeat=6))
    net = init_network(arch, rng=np.random.default_rng(0))
    p = np.array([2, 0, 3, 1])
    W = permute(net, spec, {"0": p}).params["4.W"]
    for pos in range(6):
        np.testing.assert_array_equal(W[:, 4 * pos:4 * pos + 4], net.params["4.W"][:, 4 * pos + p])


def test_input_stream_is_fixed():
    spec = derive_spec(architectures()["input_stream"])
    assert list(spec.groups) == ["0.body.0"]
    assert spec.axes["0.body.2.W"] == (None, AxisGroup("0.body.0"), None, None)


def test_wrong_spec_breaks_equivalence(rng):
    """Negative control: decoupling one block from its residual stream (the peers' hand-written
    error) or forgetting a norm's parameters changes the function by O(1)."""
    arch = architectures()["resnet_ln"]
    spec = derive_spec(arch)
    net = _randomised(init_network(arch, rng=rng), rng)
    X = rng.standard_normal((6,) + arch.input_shape)
    out = forward(net, X)
    perms = random_perms(spec, rng=rng)
    decoupled = dict(spec.axes)
    decoupled["3.body.3.W"] = (AxisGroup("fake"),) + spec.axes["3.body.3.W"][1:]
    decoupled["3.body.3.b"] = (AxisGroup("fake"),)
    wrong = PermutationSpec({**spec.groups, "fake": spec.groups["0"]}, decoupled, spec.taps, spec.linear_in,
                            spec.linear_out, spec.members)
    bad = forward(permute(net, wrong, {**perms, "fake": np.roll(perms["0"], 1)}), X)
    assert np.max(np.abs(bad - out)) > 1e-3 * np.max(np.abs(out))
    no_norm = {k: v for k, v in spec.axes.items() if not k.startswith("1.")}
    forgot = PermutationSpec(spec.groups, no_norm, spec.taps, spec.linear_in, spec.linear_out, spec.members)
    assert np.max(np.abs(forward(permute(net, forgot, perms), X) - out)) > 1e-3 * np.max(np.abs(out))


def test_compose_and_inverse(rng):
    arch = architectures()["vgg"]
    spec = derive_spec(arch)
    net = init_network(arch, rng=rng)
    p, q = random_perms(spec, rng=rng), random_perms(spec, rng=rng)
    a = permute(permute(net, spec, q), spec, p)
    b = permute(net, spec, compose_perms(p, q))
    for k in net.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    back = permute(permute(net, spec, p), spec, inverse_perms(p))
    for k in net.params:
        np.testing.assert_array_equal(back.params[k], net.params[k])


def test_bad_perms_are_refused(rng):
    spec = derive_spec(architectures()["vgg"])
    net = init_network(architectures()["vgg"], rng=rng)
    perms = random_perms(spec, rng=rng)
    with pytest.raises(ValueError, match="groups"):
        permute(net, spec, {k: v for k, v in list(perms.items())[1:]})
    with pytest.raises(ValueError, match="permutation of 0..3"):
        permute(net, spec, {**perms, "0": np.array([0, 0, 1, 2])})
