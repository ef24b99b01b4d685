"""REPAIR for conv nets and the per-pair measurements of sims.cnn_matching / sims.cnn_llfc (synthetic data)."""
from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from otlmc.conv import channel_statistics, derive_spec, init_network, permute, random_perms
from otlmc.conv.experiments import (
    PERM_TOL,
    SIGMA_ESTIMATES,
    endpoints,
    feature_row,
    layer_names,
    load_images,
    make_arch,
    matching_row,
    path_row,
    permutation_deviation,
    sigma_row,
    sigma_table,
)
from otlmc.conv.features import path_network
from otlmc.conv.model import evaluate, predict
from otlmc.conv.repair import foldable_relus, repair


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _pair(name="vgg", k=1.0, seed=0, shape=(8, 8, 1)):
    arch = make_arch(name, k, shape, base_width=3)
    rng = np.random.default_rng(seed)
    return init_network(arch, rng=rng), init_network(arch, rng=rng)


def _data(n=64, shape=(8, 8, 1), seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)), rng.integers(0, 10, n)


@pytest.mark.parametrize("t", [0.3, 0.8])
def test_repair_sets_every_foldable_relu_to_the_interpolated_statistics(t):
    a, b = _pair()
    X, _ = _data()
    net, info = repair(a, b, t, X, eps=0.0)
    assert info["skipped"] == [] and len(info["repaired"]) == 3
    sa, sb, got = channel_statistics(a, X), channel_statistics(b, X), channel_statistics(net, X)
    for name in info["repaired"]:
        mu, var = got[name]
        np.testing.assert_allclose(mu, (1 - t) * sa[name][0] + t * sb[name][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(np.sqrt(var), (1 - t) * np.sqrt(sa[name][1]) + t * np.sqrt(sb[name][1]),
                                   rtol=1e-9, atol=1e-12)
    plain = channel_statistics(path_network(a, b, t), X)
    assert not np.allclose(plain[info["repaired"][-1]][1], got[info["repaired"][-1]][1])  # it did change something


def test_repair_is_the_identity_at_the_endpoints():
    a, b = _pair()
    X, _ = _data()
    np.testing.assert_allclose(predict(repair(a, b, 0.0, X)[0], X), predict(a, X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(predict(repair(a, b, 1.0, X)[0], X), predict(b, X), rtol=1e-9, atol=1e-12)


def test_repair_skips_residual_sums_and_is_a_no_op_after_a_batchnorm_reset():
    a, b = _pair("resnet_bn")
    rng = np.random.default_rng(3)
    for net in (a, b):  # positive, distinct gammas so that the endpoint statistics differ
        for k in net.params:
            if k.endswith(".gamma"):
                net.params[k] = rng.uniform(0.5, 2.0, net.params[k].shape)
    X, _ = _data()
    ok, skipped = foldable_relus(a)
    assert len(skipped) == 3 and len(ok) == 4  # one residual block per stage; stem + one ReLU per body
    net, info = repair(a, b, 0.4, X, eps=0.0)
    assert info["skipped"] == skipped
    reset = path_network(a, b, 0.4, bn="reset", X_stats=X)
    # a BatchNorm-fed pre-activation already has mean beta_t and std gamma_t sqrt(var / (var + eps_BN)):
    # REPAIR moves it only by the O(eps_BN / var) difference of those factors (var ~ 0.1 here)
    za, zr = predict(net, X), predict(reset, X)
    assert np.max(np.abs(za - zr)) < 1e-3 * np.max(np.abs(zr))
    plain = path_network(a, b, 0.4, bn="interpolate")
    assert np.max(np.abs(predict(plain, X) - zr)) > 1e-2 * np.max(np.abs(zr))  # the reset itself matters


def test_permutation_deviation_separates_a_relabelling_from_a_wrong_one():
    a, _ = _pair("resnet_ln")
    X, _ = _data()
    spec = derive_spec(a.arch)
    good = permute(a, spec, random_perms(spec, rng=np.random.default_rng(0)))
    assert permutation_deviation(a, good, X) <= PERM_TOL
    W = a.params["0.W"]
    bad = a.replace({"0.W": W[::-1].copy()})  # output channels of the stem moved, nothing else
    assert permutation_deviation(a, bad, X) > 1e-3


@pytest.mark.parametrize("name", ["vgg", "resnet_bn"])
def test_layer_names_count_the_columns_of_feature_row(name):
    a, b = _pair(name)
    X, _ = _data()
    row = feature_row(a, b, X, X_stats=X, prefix="p")
    relus, linear = layer_names(a.arch)
    assert sorted(k for k in row if "_llfc_" in k) == sorted(f"p_llfc_layer{l}" for l in range(1, len(relus) + 1))
    assert sorted(k for k in row if "_dist_com_" in k) == sorted(f"p_dist_com_layer{l}" for l in range(1, len(linear) + 1))
    same = feature_row(a, a, X, X_stats=X, prefix="p")
    assert max(v for k, v in same.items() if "_llfc_" in k or "_dist_com_" in k) < 1e-12


def test_path_row_of_a_network_with_itself_has_no_barrier():
    a, _ = _pair("vgg_bn")
    X, y = _data()
    ends = endpoints(a, a, X, X, y)
    row = path_row(a, a, X, X, y, ts=np.linspace(0, 1, 5), ends=ends, prefix="m", repair=True)
    assert abs(row["m_barrier"]) < 1e-9 and abs(row["m_repair_barrier"]) < 1e-6
    assert row["m_midpoint_loss"] == pytest.approx(ends[0]["loss"], rel=1e-9)
    with pytest.raises(ValueError, match="ts"):
        path_row(a, a, X, X, y, ts=[0.0, 0.4, 1.0], ends=ends, prefix="m", repair=False)


def test_matching_row_recovers_a_planted_permutation():
    a, _ = _pair("vgg", k=2.0)
    X, y = _data(n=128)
    spec = derive_spec(a.arch)
    b = permute(a, spec, random_perms(spec, rng=np.random.default_rng(5)))
    row, aligned = matching_row(a, b, X, X, y, ts=np.linspace(0, 1, 3), methods=("identity", "wm_naive", "am"),
                                rng=np.random.default_rng(0))
    assert row["perm_dev"] <= PERM_TOL
    assert abs(row["identity_midpoint_loss"] - row["loss_a"]) > 1e-3  # unaligned: the midpoint is another network
    for m in ("wm_naive", "am"):
        assert abs(row[f"{m}_barrier"]) < 1e-9, m
        np.testing.assert_allclose(aligned[m].params["0.W"], a.params["0.W"])
    assert row["error_a"] == pytest.approx(evaluate(a, X, y)["error"])


def test_sigma_row_of_identical_networks_and_sigma_table_means():
    a, _ = _pair("vgg", k=2.0)
    X, _ = _data()
    row = sigma_row(a, a, X)
    assert row["sigma_exact_rel_fro"] == 0.0 and row["sigma_exact_perm_agreement"] == 1.0
    assert row["sigma_kron_rel_fro"] > 0 and row["sigma_max_kc"] == 9 * 6  # second conv: 3x3 kernel, 6 channels
    rows = [{"arch": "vgg", "width_multiplier": 1.0, **row, "wm_ours_midpoint_loss": v}
            for v in (1.0, 3.0)]
    table = sigma_table(rows)
    assert [r["estimate"] for r in table] == list(SIGMA_ESTIMATES)
    assert table[0]["midpoint_loss"] == 2.0 and table[0]["n_pairs"] == 2 and "flops" not in table[-1]
    assert row["sigma_kron_flops"] < row["sigma_exact_flops"]


def test_load_images_pools_and_rejects_a_bad_factor():
    X14 = load_images("synthetic", 20, 10, 2)[0]
    X28 = load_images("synthetic", 20, 10, 1)[0]
    assert X14.shape == (20, 14, 14, 1) and X14.dtype == np.float32
    np.testing.assert_allclose(X14[:, 0, 0, 0], X28[:, :2, :2, 0].mean(axis=(1, 2)), rtol=1e-6)
    with pytest.raises(ValueError, match="downsample"):
        load_images("synthetic", 20, 10, 3)


def test_image_shape_and_the_cnn_sims_shared_check():
    from types import SimpleNamespace

    from otlmc.conv.experiments import check_image_sims, image_shape
    assert image_shape("mnist", 2) == (14, 14, 1) and image_shape("cifar10", 4) == (8, 8, 3)
    ok = SimpleNamespace(data="cifar10", downsample=4, t_points=5, n_match=10, n_train=20)
    check_image_sims(ok)
    with pytest.raises(ValueError, match=r"^--downsample == 3 does not divide the mnist image size 28\.$"):
        check_image_sims(SimpleNamespace(**{**vars(ok), "data": "mnist", "downsample": 3}))
    with pytest.raises(ValueError, match="--t-points == 4, must be odd"):
        check_image_sims(SimpleNamespace(**{**vars(ok), "t_points": 4}))
