"""Conv layers: im2col GEMM against scipy's correlation, and every backward against finite differences.

Finite differences: central differences with step 1e-6 in float64 on a random projection
``<f(x), R>`` of the output; the truncation error is O(h^2) ~ 1e-12 and the rounding error about
1e-16 / h ~ 1e-10 relative, so a relative error below 1e-6 separates a right gradient from a wrong
one (a wrong one is off by O(1)).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate2d

from otlmc.conv import layers as L
from otlmc.conv import model as M
from otlmc.conv import resnet

H = 1e-6


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _fd_check(f, args, grads, R, rng, n_coords=12):
    """Compare ``grads[k]`` with central differences of ``<f(*args), R>`` on random coordinates."""
    for k, (a, g) in enumerate(zip(args, grads)):
        if g is None:
            continue
        assert g.shape == a.shape
        flat = a.reshape(-1)
        idx = rng.choice(flat.size, size=min(n_coords, flat.size), replace=False)
        for i in idx:
            old = flat[i]
            flat[i] = old + H
            fp = float(np.sum(f(*args) * R))
            flat[i] = old - H
            fm = float(np.sum(f(*args) * R))
            flat[i] = old
            fd = (fp - fm) / (2 * H)
            an = g.reshape(-1)[i]
            assert abs(fd - an) <= 1e-6 * max(1.0, abs(fd)), (k, i, fd, an)


def _conv_oracle(x, W, b, stride, pad):
    """Direct correlation with scipy, one (example, out, in) channel pair at a time."""
    N, Hh, Ww, C = x.shape
    O, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    Ho, Wo = L.out_size(Hh, kh, stride, pad), L.out_size(Ww, kw, stride, pad)
    y = np.zeros((N, Ho, Wo, O))
    for n in range(N):
        for o in range(O):
            acc = sum(correlate2d(xp[n, :, :, c], W[o, c], mode="valid") for c in range(C))
            y[n, :, :, o] = acc[::stride, ::stride][:Ho, :Wo] + b[o]
    return y


@pytest.mark.parametrize("kernel,stride,pad", [(3, 1, 1), (3, 2, 1), (1, 2, 0), (5, 1, 0), (2, 2, 0)])
def test_conv_forward_matches_scipy_correlation(rng, kernel, stride, pad):
    x = rng.standard_normal((2, 7, 6, 3))
    W = rng.standard_normal((4, 3, kernel, kernel))
    b = rng.standard_normal(4)
    y, _ = L.conv_forward(x, W, b, stride, pad)
    ref = _conv_oracle(x, W, b, stride, pad)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_col2im_is_the_adjoint_of_im2col(rng):
    x = rng.standard_normal((2, 6, 5, 3))
    cols = L.im2col(x, 3, 3, 2, 1)
    C = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * C)
    rhs = np.sum(x * L.col2im(C, x.shape, 3, 3, 2, 1))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs) + 1e-12


@pytest.mark.parametrize("kernel,stride,pad", [(3, 1, 1), (3, 2, 1), (1, 2, 0), (1, 1, 0)])
def test_conv_backward_matches_finite_differences(rng, kernel, stride, pad):
    x = rng.standard_normal((2, 5, 6, 3))
    W = rng.standard_normal((4, 3, kernel, kernel))
    b = rng.standard_normal(4)
    y, cache = L.conv_forward(x, W, b, stride, pad)
    R = rng.standard_normal(y.shape)
    dx, dW, db = L.conv_backward(R, cache)
    _fd_check(lambda x, W, b: L.conv_forward(x, W, b, stride, pad)[0], [x, W, b], [dx, dW, db], R, rng)


def test_dense_relu_pool_flatten_backward(rng):
    x = rng.standard_normal((3, 7))
    W, b = rng.standard_normal((5, 7)), rng.standard_normal(5)
    y, c = L.dense_forward(x, W, b)
    R = rng.standard_normal(y.shape)
    _fd_check(lambda x, W, b: L.dense_forward(x, W, b)[0], [x, W, b], L.dense_backward(R, c), R, rng)

    x = rng.standard_normal((2, 5, 7, 3))  # odd sizes: edges cropped
    for fwd, bwd in ((lambda x: L.maxpool_forward(x, 2), L.maxpool_backward),
                     (lambda x: L.avgpool_forward(x, 2), L.avgpool_backward),
                     (L.global_avgpool_forward, L.global_avgpool_backward),
                     (L.flatten_forward, L.flatten_backward),
                     (L.relu_forward, L.relu_backward)):
        y, c = fwd(x)
        R = rng.standard_normal(y.shape)
        _fd_check(lambda x: fwd(x)[0], [x], [bwd(R, c)], R, rng, n_coords=30)


def test_maxpool_forward_brute_force(rng):
    x = rng.standard_normal((2, 5, 4, 3))
    y, _ = L.maxpool_forward(x, 2)
    ref = np.array([[[[x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, c].max() for c in range(3)] for j in range(2)]
                     for i in range(2)] for n in range(2)])
    np.testing.assert_array_equal(y, ref)


def test_norm_backward_matches_finite_differences(rng):
    x = rng.standard_normal((3, 4, 2, 5)) * 2 + 1
    g, be = rng.standard_normal(5), rng.standard_normal(5)
    y, c = L.layernorm_forward(x, g, be, 1e-5)
    R = rng.standard_normal(y.shape)
    _fd_check(lambda x, g, be: L.layernorm_forward(x, g, be, 1e-5)[0], [x, g, be], L.layernorm_backward(R, c), R, rng)
    mean, var = rng.standard_normal(5), rng.random(5) + 0.5
    for train in (True, False):
        y, c, _, _ = L.batchnorm_forward(x, g, be, mean, var, 1e-5, train=train)
        R = rng.standard_normal(y.shape)
        f = lambda x, g, be: L.batchnorm_forward(x, g, be, mean, var, 1e-5, train=train)[0]  # noqa: E731
        _fd_check(f, [x, g, be], L.batchnorm_backward(R, c), R, rng)


def test_batchnorm_train_mode_normalises_and_layernorm_per_position(rng):
    x = rng.standard_normal((6, 3, 3, 4)) * 3 + 2
    y, _, mu, var = L.batchnorm_forward(x, np.ones(4), np.zeros(4), None, None, 1e-12, train=True)
    np.testing.assert_allclose(y.reshape(-1, 4).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.reshape(-1, 4).var(0), 1, rtol=1e-9)
    np.testing.assert_allclose(mu, x.reshape(-1, 4).mean(0), rtol=1e-12)
    y, _ = L.layernorm_forward(x, np.ones(4), np.zeros(4), 1e-12)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)


def test_cross_entropy_gradient(rng):
    Z = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    _, dZ = L.cross_entropy(Z, y)
    for i in range(4):
        for k in range(3):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[i, k] += H
            Zm[i, k] -= H
            fd = (L.cross_entropy(Zp, y)[0] - L.cross_entropy(Zm, y)[0]) / (2 * H)
            assert abs(fd - dZ[i, k]) < 1e-8


def _tiny_resnet(norm):
    Nrm = [M.BatchNorm()] if norm == "bn" else [M.LayerNorm()]
    return M.Architecture((6, 6, 2), [
        M.Conv(3), *Nrm, M.ReLU(),
        M.Residual([M.Conv(3), *Nrm, M.ReLU(), M.Conv(3), *Nrm]), M.ReLU(),
        M.Residual([M.Conv(4, 3, 2), *Nrm, M.ReLU(), M.Conv(4)], [M.Conv(4, 1, 2, 0), *Nrm]), M.ReLU(),
        M.MaxPool(), M.AvgPool(1), M.Flatten(), M.Dense(5), M.ReLU(), M.Dense(3)])


@pytest.mark.parametrize("norm", ["bn", "ln"])
def test_network_loss_gradient_matches_finite_differences(rng, norm):
    arch = _tiny_resnet(norm)
    net = M.init_network(arch, rng=rng, init="torch")
    X = rng.standard_normal((5, 6, 6, 2))
    y = rng.integers(0, 3, 5)
    loss, grads, _ = M.loss_and_grad(net, X, y, train=True)
    assert set(grads) == set(net.params)
    for k in net.params:
        a = net.params[k]
        flat = a.reshape(-1)
        for i in rng.choice(flat.size, size=min(2, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + H
            fp = M.loss_and_grad(net, X, y, train=True)[0]
            flat[i] = old - H
            fm = M.loss_and_grad(net, X, y, train=True)[0]
            flat[i] = old
            fd = (fp - fm) / (2 * H)
            assert abs(fd - grads[k].reshape(-1)[i]) <= 1e-6 * max(1.0, abs(fd)), (k, fd)


def test_global_avgpool_net_and_running_stats_rule(rng):
    arch = M.Architecture((4, 4, 1), [M.Conv(3), M.BatchNorm(momentum=0.25), M.ReLU(), M.GlobalAvgPool(), M.Dense(2)])
    net = M.init_network(arch, rng=rng)
    X = rng.standard_normal((8, 4, 4, 1))
    _, _, rec = M.loss_and_grad(net, X, rng.integers(0, 2, 8))
    new = M.updated_buffers(net, rec)
    Z = L.conv_forward(X, net.params["0.W"], net.params["0.b"], 1, 1)[0].reshape(-1, 3)
    np.testing.assert_allclose(new["1.mean"], 0.25 * Z.mean(0), rtol=1e-12)
    np.testing.assert_allclose(new["1.var"], 0.75 + 0.25 * Z.var(0, ddof=1), rtol=1e-12)


def test_reset_batchnorm_gives_full_data_statistics_sequentially(rng):
    arch = _tiny_resnet("bn")
    net = M.init_network(arch, rng=rng)
    X = rng.standard_normal((40, 6, 6, 2))
    r1 = M.reset_batchnorm(net, X, batch_size=7)
    r2 = M.reset_batchnorm(net, X, batch_size=1000)
    for k in r1.buffers:
        np.testing.assert_allclose(r1.buffers[k], r2.buffers[k], rtol=1e-10, atol=1e-12)
    # fixed point: in the eval-mode pass of the reset network on X, every BatchNorm's input has
    # exactly the stored mean and (unbiased, PyTorch's convention) variance -- which fails if a
    # later layer's statistics were taken before the earlier layers were reset
    _, rec = M.forward(r1, X, record=True)
    for name, x in rec.norm_inputs.items():
        x2 = x.reshape(-1, x.shape[-1])
        np.testing.assert_allclose(r1.buffers[f"{name}.mean"], x2.mean(0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r1.buffers[f"{name}.var"], x2.var(0, ddof=1), rtol=1e-10)
    _, rec0 = M.forward(net, X, record=True)
    assert not np.allclose(rec0.norm_inputs["5.body.1"].mean((0, 1, 2)), r1.buffers["5.body.1.mean"])


def _reset_layer_by_layer(net, X):
    """The former reset (oracle): one full eval-mode forward over X per BatchNorm layer, in forward
    order, each reading its layer's input with the earlier layers already reset."""
    for name in [i.name for i in net.arch.leaves if isinstance(i.layer, M.BatchNorm)]:
        _, rec = M.forward(net, X, record=True)
        x2 = rec.norm_inputs[name].reshape(-1, rec.norm_inputs[name].shape[-1])  # (m, C)
        net = net.replace(buffers={f"{name}.mean": x2.mean(0), f"{name}.var": x2.var(0, ddof=1)})
    return net


@pytest.mark.parametrize("arch", ["tiny", "resnet"])
def test_one_pass_reset_equals_the_layer_by_layer_reset(rng, arch):
    arch = _tiny_resnet("bn") if arch == "tiny" else \
        resnet(blocks_per_stage=2, base_width=3, norm="batchnorm", input_shape=(8, 8, 2), n_classes=4)
    net = M.init_network(arch, rng=rng)
    # trained-looking norms: shifted and scaled, so that every layer's statistics depend on the earlier resets
    net = net.replace({k: v + 0.5 * rng.standard_normal(v.shape) for k, v in net.params.items()
                       if k.endswith((".gamma", ".beta"))})
    X = rng.standard_normal((23, *arch.input_shape)) + 0.3
    ref = _reset_layer_by_layer(net, X)
    for bs in (5, 500):
        out = M.reset_batchnorm(net, X, batch_size=bs)
        assert set(out.buffers) == set(ref.buffers)
        for k in ref.buffers:
            np.testing.assert_allclose(out.buffers[k], ref.buffers[k], rtol=1e-10, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(M.forward(out, X), M.forward(ref, X), rtol=1e-10, atol=1e-12)
    # float32 networks (the trained ones) stay float32 and agree to float32 rounding
    n32, X32 = net.astype(np.float32), X.astype(np.float32)
    out32 = M.reset_batchnorm(n32, X32, batch_size=7)
    ref32 = _reset_layer_by_layer(n32, X32)
    for k in ref32.buffers:
        assert out32.buffers[k].dtype == np.float32
        np.testing.assert_allclose(out32.buffers[k], ref32.buffers[k], rtol=2e-4, atol=1e-5, err_msg=k)


def test_bad_architectures_and_params_are_refused(rng):
    with pytest.raises(ValueError, match="projection"):
        M.Architecture((6, 6, 2), [M.Residual([M.Conv(3)]), M.Flatten(), M.Dense(2)])
    with pytest.raises(ValueError, match="Flatten"):
        M.Architecture((6, 6, 2), [M.Dense(2)])
    with pytest.raises(ValueError, match="feature maps"):
        M.Architecture((6, 6, 2), [M.Conv(2)])
    with pytest.raises(TypeError, match="layer 0"):
        M.Architecture((6, 6, 2), ["conv"])
    arch = M.Architecture((4, 4, 1), [M.Conv(2), M.Flatten(), M.Dense(2)])
    net = M.init_network(arch, rng=rng)
    with pytest.raises(ValueError, match="shape"):
        M.ConvNet(arch, {**net.params, "0.W": np.zeros((2, 1, 2, 2))})
    with pytest.raises(ValueError, match="non-finite"):
        M.ConvNet(arch, {**net.params, "0.b": np.array([np.nan, 0.0])})
    with pytest.raises(ValueError, match=r"\(N, 4, 4, 1\)"):
        M.forward(net, np.zeros((2, 5, 4, 1)))


def test_maxpool_backward_sends_each_gradient_to_the_first_maximum(rng):
    """With ties (integer inputs) the gradient goes to the first maximum in row-major window order."""
    x = rng.integers(0, 3, size=(2, 4, 5, 3)).astype(float)
    y, c = L.maxpool_forward(x, 2)
    dy = rng.standard_normal(y.shape)
    dx = L.maxpool_backward(dy, c)
    ref = np.zeros_like(x)
    for n in range(2):
        for i in range(2):
            for j in range(2):
                for ch in range(3):
                    w = x[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2, ch]
                    a, b = divmod(int(np.argmax(w)), 2)
                    ref[n, 2 * i + a, 2 * j + b, ch] = dy[n, i, j, ch]
    np.testing.assert_array_equal(dx, ref)
