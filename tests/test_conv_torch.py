"""Oracle: otlmc.conv's forward pass, loss gradient and BatchNorm running statistics against PyTorch.

The same small network (strided and padded convolutions, BatchNorm in train and eval mode,
LayerNorm over channels, a residual block with a projection shortcut, max-pooling, flatten, dense
layers) is written once as an otlmc :class:`~otlmc.conv.Architecture` and once with
``torch.nn.functional`` on the same float64 parameters; torch works in NCHW, so its maps are
transposed to NHWC before the flatten (otlmc's feature order). Float64 on both sides: logits and
gradients agree to ~1e-12 relative; a wrong layer is off by O(1). Skipped without torch (the
``torch`` extra).
"""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.conv import model as M

torch = pytest.importorskip("torch", reason="PyTorch is optional (the `torch` extra); this oracle needs it")
F = torch.nn.functional

pytestmark = pytest.mark.usefixtures("one_blas_thread")

ARCH = M.Architecture((9, 8, 2), [
    M.Conv(4), M.BatchNorm(momentum=0.3), M.ReLU(),
    M.Residual([M.Conv(6, 3, 2), M.LayerNorm(), M.ReLU(), M.Conv(6, 5, 1, 2)], [M.Conv(6, 1, 2, 0), M.BatchNorm()]),
    M.ReLU(), M.MaxPool(2), M.Flatten(), M.Dense(5), M.ReLU(), M.Dense(3)])
# maps: (9, 8, 2) -> (9, 8, 4) -> block (5, 4, 6) (odd sizes: floor in the strided conv) -> pool (2, 2, 6) -> 24


def _torch_forward(P: dict, B: dict, x, *, train: bool):
    """The network of :data:`ARCH` in torch; ``x (N, C, H, W)``; BatchNorm buffers updated in place."""
    def bn(h, name, momentum):
        return F.batch_norm(h, B[f"{name}.mean"], B[f"{name}.var"], P[f"{name}.gamma"], P[f"{name}.beta"],
                            training=train, momentum=momentum, eps=1e-5)

    def ln(h, name):  # LayerNorm over the channels at every position
        h = h.permute(0, 2, 3, 1)
        return F.layer_norm(h, (h.shape[-1],), P[f"{name}.gamma"], P[f"{name}.beta"], eps=1e-5).permute(0, 3, 1, 2)

    h = F.relu(bn(F.conv2d(x, P["0.W"], P["0.b"], padding=1), "1", 0.3))
    body = F.relu(ln(F.conv2d(h, P["3.body.0.W"], P["3.body.0.b"], stride=2, padding=1), "3.body.1"))
    body = F.conv2d(body, P["3.body.3.W"], P["3.body.3.b"], padding=2)
    short = bn(F.conv2d(h, P["3.shortcut.0.W"], P["3.shortcut.0.b"], stride=2), "3.shortcut.1", 0.1)
    h = F.max_pool2d(F.relu(body + short), 2)
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # NHWC flatten, otlmc's feature order
    h = F.relu(F.linear(h, P["7.W"], P["7.b"]))
    return F.linear(h, P["9.W"], P["9.b"])


def _setup(seed: int):
    rng = np.random.default_rng(seed)
    net = M.init_network(ARCH, rng=rng, init="torch")
    # non-trivial norm parameters and running statistics, so that a swapped gamma/beta or mean/var shows
    params = {k: (v + 0.3 * rng.standard_normal(v.shape) if k.endswith((".gamma", ".beta")) else v)
              for k, v in net.params.items()}
    buffers = {k: (v + 0.5 * rng.random(v.shape)) for k, v in net.buffers.items()}
    net = net.replace(params, buffers)
    X = rng.standard_normal((6, 9, 8, 2))
    y = rng.integers(0, 3, 6)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    B = {k: torch.tensor(v) for k, v in net.buffers.items()}
    return net, X, y, P, B, torch.tensor(X.transpose(0, 3, 1, 2).copy())


def test_the_torch_mirror_has_the_architecture_shapes():
    shapes = {i.name: i.out_shape for i in ARCH.leaves}
    assert shapes["3.body.3"] == shapes["3.shortcut.1"] == (5, 4, 6)  # the 5x5 with padding 2 keeps 5x4
    assert shapes["6"] == (2 * 2 * 6,)


@pytest.mark.parametrize("train", [True, False])
def test_logits_gradients_and_running_statistics_agree_with_torch(seed, train):
    net, X, y, P, B, Xt = _setup(seed)
    loss, grads, rec = M.loss_and_grad(net, X, y, train=train)
    Z = M.forward(net, X, train=train)
    Zt = _torch_forward(P, B, Xt, train=train)
    lt = F.cross_entropy(Zt, torch.tensor(y))
    lt.backward()
    np.testing.assert_allclose(Z, Zt.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert abs(loss - lt.item()) <= 1e-12 * max(1.0, abs(lt.item()))
    assert set(grads) == set(P)
    for k, g in grads.items():
        gt = P[k].grad.numpy()
        np.testing.assert_allclose(g, gt, rtol=1e-9, atol=1e-12 * max(1.0, np.abs(gt).max()), err_msg=k)
    if train:  # PyTorch's running-statistics rule (unbiased batch variance)
        new = M.updated_buffers(net, rec)
        assert set(new) == set(B)
        for k, v in new.items():
            np.testing.assert_allclose(v, B[k].numpy(), rtol=1e-12, atol=1e-14, err_msg=k)
