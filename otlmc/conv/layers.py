"""Forward and backward passes of the layers of a convolutional network, on numpy or cupy arrays.

Layout: feature maps are channels-last, ``(N, H, W, C)`` (batches are rows and channels the last
axis, as the MLP features of :mod:`otlmc.networks`), so a channel permutation indexes the last
axis. Convolution weights are stored as in PyTorch, ``(C_out, C_in, k_h, k_w)``.

A convolution is one GEMM on the im2col matrix: the patch of output position ``(n, i, j)`` is the
row ``cols[n, i, j] = x_pad[n, s i + a, s j + b, c]`` over ``(a, b, c)`` in that order (kernel row,
kernel column, channel; channels fastest), and

.. math:: y[n, i, j, o] = \\sum_{a, b, c} W[o, c, a, b] \\, x_{pad}[n, s i + a, s j + b, c] + b_o ,

i.e. ``y = cols @ weight_matrix(W).T + b`` with ``weight_matrix(W)`` of shape
``(C_out, k_h k_w C_in)``. Every ``*_forward`` returns ``(y, cache)``; the matching ``*_backward``
takes the upstream gradient and the cache and returns the input gradient (and parameter gradients).
Only array-module calls shared by numpy and cupy are used (``xp = xp_of(x)``).
"""
from __future__ import annotations

from ..backend import xp_of


# --------------------------------------------------------------------------- geometry
def out_size(n: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling window along one axis (floor, as PyTorch)."""
    return (n + 2 * padding - kernel) // stride + 1


def weight_matrix(W):
    """``(C_out, C_in, kh, kw)`` -> ``(C_out, kh * kw * C_in)`` in the im2col column order."""
    C_out = W.shape[0]
    return W.transpose(0, 2, 3, 1).reshape(C_out, -1)  # (C_out, kh*kw*C_in)


def weight_from_matrix(M, shape):
    """Inverse of :func:`weight_matrix` for a weight of shape ``(C_out, C_in, kh, kw)``."""
    C_out, C_in, kh, kw = shape
    return M.reshape(C_out, kh, kw, C_in).transpose(0, 3, 1, 2)  # (C_out, C_in, kh, kw)


def im2col(x, kh: int, kw: int, stride: int, padding: int):
    """Patches of ``x`` ``(N, H, W, C)``: ``(N, Ho, Wo, kh * kw * C)`` (kernel row, column, channel)."""
    xp = xp_of(x)
    N, H, W, C = x.shape
    Ho, Wo = out_size(H, kh, stride, padding), out_size(W, kw, stride, padding)
    if padding:
        x = xp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))  # (N, H+2p, W+2p, C)
    if kh == kw == 1 and stride == 1:
        return x
    cols = xp.empty((N, Ho, Wo, kh, kw, C), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            cols[:, :, :, a, b, :] = x[:, a:a + stride * (Ho - 1) + 1:stride, b:b + stride * (Wo - 1) + 1:stride, :]
    return cols.reshape(N, Ho, Wo, kh * kw * C)


def col2im(dcols, x_shape, kh: int, kw: int, stride: int, padding: int):
    """Adjoint of :func:`im2col`: sums patch gradients ``(N, Ho, Wo, kh*kw*C)`` back onto ``x_shape``."""
    xp = xp_of(dcols)
    N, H, W, C = x_shape
    Ho, Wo = dcols.shape[1], dcols.shape[2]
    if kh == kw == 1 and stride == 1 and padding == 0:
        return dcols
    dcols = dcols.reshape(N, Ho, Wo, kh, kw, C)
    dx = xp.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            dx[:, a:a + stride * (Ho - 1) + 1:stride, b:b + stride * (Wo - 1) + 1:stride, :] += dcols[:, :, :, a, b, :]
    return dx[:, padding:padding + H, padding:padding + W, :]


# --------------------------------------------------------------------------- linear layers
def conv_forward(x, W, b, stride: int, padding: int):
    """Convolution as one GEMM: ``x (N, H, W, C_in)`` -> ``(N, Ho, Wo, C_out)``; ``b`` may be None."""
    C_out, _, kh, kw = W.shape
    cols = im2col(x, kh, kw, stride, padding)  # (N, Ho, Wo, K)
    N, Ho, Wo, K = cols.shape
    Wm = weight_matrix(W)  # (C_out, K)
    y = cols.reshape(-1, K) @ Wm.T  # (N*Ho*Wo, C_out)
    if b is not None:
        y += b
    return y.reshape(N, Ho, Wo, C_out), (x.shape, cols, W, stride, padding)


def conv_backward(dy, cache, *, need_dx: bool = True):
    """Gradients ``(dx, dW, db)`` of a convolution (``db`` sums ``dy`` over all positions);
    ``dx`` is ``None`` when ``need_dx`` is False (the network's first layer)."""
    x_shape, cols, W, stride, padding = cache
    C_out, _, kh, kw = W.shape
    K = cols.shape[-1]
    dy2 = dy.reshape(-1, C_out)  # (N*Ho*Wo, C_out)
    dW = weight_from_matrix(dy2.T @ cols.reshape(-1, K), W.shape)  # (C_out, C_in, kh, kw)
    db = dy2.sum(axis=0)  # (C_out,)
    if not need_dx:
        return None, dW, db
    dcols = (dy2 @ weight_matrix(W)).reshape(cols.shape)  # (N, Ho, Wo, K)
    return col2im(dcols, x_shape, kh, kw, stride, padding), dW, db


def dense_forward(x, W, b):
    """``x (N, F_in)`` -> ``x W^T + b`` ``(N, F_out)``."""
    y = x @ W.T  # (N, F_out)
    if b is not None:
        y += b
    return y, (x, W)


def dense_backward(dy, cache):
    x, W = cache
    return dy @ W, dy.T @ x, dy.sum(axis=0)  # (N, F_in), (F_out, F_in), (F_out,)


# --------------------------------------------------------------------------- pointwise and pooling
def relu_forward(x):
    xp = xp_of(x)
    return xp.maximum(x, 0), x


def relu_backward(dy, cache):
    return dy * (cache > 0)


def _windows(x, size: int):
    """``(N, H, W, C)`` -> ``(N, Ho, Wo, C, size*size)`` non-overlapping windows (edges cropped)."""
    N, H, W, C = x.shape
    Ho, Wo = H // size, W // size
    v = x[:, :Ho * size, :Wo * size, :].reshape(N, Ho, size, Wo, size, C)
    return v.transpose(0, 1, 3, 5, 2, 4).reshape(N, Ho, Wo, C, size * size)


def _unwindows(d, x_shape, size: int):
    xp = xp_of(d)
    N, H, W, C = x_shape
    Ho, Wo = H // size, W // size
    g = d.reshape(N, Ho, Wo, C, size, size).transpose(0, 1, 4, 2, 5, 3).reshape(N, Ho * size, Wo * size, C)
    if (Ho * size, Wo * size) == (H, W):
        return g
    out = xp.zeros(x_shape, dtype=d.dtype)
    out[:, :Ho * size, :Wo * size, :] = g
    return out


def _offsets(x_shape, size: int):
    """Strided-view slices of every window offset ``(a, b)`` in row-major order (edges cropped)."""
    Ho, Wo = x_shape[1] // size, x_shape[2] // size
    return [(slice(a, a + size * (Ho - 1) + 1, size), slice(b, b + size * (Wo - 1) + 1, size))
            for a in range(size) for b in range(size)]


def maxpool_forward(x, size: int):
    """Max over non-overlapping ``size x size`` windows (stride = size; edge rows/columns cropped).

    One elementwise pass per window offset on strided views (no transposed copy); the backward
    sends each gradient to the first maximum of its window in row-major order, as ``argmax`` would.
    """
    xp = xp_of(x)
    offs = _offsets(x.shape, size)
    y = x[:, offs[0][0], offs[0][1], :].copy()  # (N, Ho, Wo, C)
    for si, sj in offs[1:]:
        xp.maximum(y, x[:, si, sj, :], out=y)
    return y, (x, y, size)


def maxpool_backward(dy, cache):
    xp = xp_of(dy)
    x, y, size = cache
    dx = xp.zeros(x.shape, dtype=dy.dtype)
    taken = xp.zeros(y.shape, dtype=bool)
    for si, sj in _offsets(x.shape, size):
        m = (x[:, si, sj, :] == y) & ~taken  # first maximum of each window
        dx[:, si, sj, :] = dy * m
        taken |= m
    return dx


def avgpool_forward(x, size: int):
    """Mean over non-overlapping ``size x size`` windows (edge rows/columns cropped)."""
    return _windows(x, size).mean(axis=-1), (x.shape, size)


def avgpool_backward(dy, cache):
    xp = xp_of(dy)
    x_shape, size = cache
    d = xp.broadcast_to(dy[..., None] / (size * size), dy.shape + (size * size,))
    return _unwindows(xp.ascontiguousarray(d), x_shape, size)


def global_avgpool_forward(x):
    """``(N, H, W, C)`` -> ``(N, C)`` spatial means."""
    return x.mean(axis=(1, 2)), x.shape


def global_avgpool_backward(dy, x_shape):
    xp = xp_of(dy)
    N, H, W, C = x_shape
    return xp.broadcast_to(dy[:, None, None, :] / (H * W), x_shape).copy()


def flatten_forward(x):
    """``(N, H, W, C)`` -> ``(N, H*W*C)``, channels fastest: feature ``(h W + w) C + c``."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy, x_shape):
    return dy.reshape(x_shape)


# --------------------------------------------------------------------------- normalisation
def _normalize_backward(dxhat, xhat, inv, axes):
    """Gradient through ``xhat = (x - mean) * inv`` with mean/var over ``axes``."""
    m = 1
    for a in axes:
        m *= dxhat.shape[a]
    s1 = dxhat.sum(axis=axes, keepdims=True)
    s2 = (dxhat * xhat).sum(axis=axes, keepdims=True)
    return inv * (dxhat - s1 / m - xhat * s2 / m)


def layernorm_forward(x, gamma, beta, eps: float):
    """LayerNorm over the channel axis at every position: ``gamma (x - mu) / sqrt(var + eps) + beta``."""
    xp = xp_of(x)
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = x.var(axis=-1, keepdims=True)
    inv = 1.0 / xp.sqrt(var + eps)
    xhat = (x - mu) * inv  # like x
    return xhat * gamma + beta, (xhat, inv, gamma)


def layernorm_backward(dy, cache):
    xhat, inv, gamma = cache
    red = tuple(range(dy.ndim - 1))
    dgamma = (dy * xhat).sum(axis=red)  # (C,)
    dbeta = dy.sum(axis=red)
    return _normalize_backward(dy * gamma, xhat, inv, (dy.ndim - 1,)), dgamma, dbeta


def batchnorm_forward(x, gamma, beta, mean, var, eps: float, *, train: bool):
    """BatchNorm per channel (last axis) over all other axes.

    ``train=True`` normalises with the batch statistics (biased variance) and also returns them;
    ``train=False`` uses the running ``mean`` and ``var``. Returns ``(y, cache, batch_mean,
    batch_var)`` with the batch statistics ``None`` in eval mode.
    """
    xp = xp_of(x)
    if train:
        red = tuple(range(x.ndim - 1))
        mu = x.mean(axis=red)  # (C,)
        v = x.var(axis=red)
    else:
        mu, v, red = mean, var, None
    inv = 1.0 / xp.sqrt(v + eps)  # (C,)
    xhat = (x - mu) * inv
    return xhat * gamma + beta, (xhat, inv, gamma, red), (mu if train else None), (v if train else None)


def batchnorm_backward(dy, cache):
    xhat, inv, gamma, red = cache
    all_red = tuple(range(dy.ndim - 1))
    dgamma = (dy * xhat).sum(axis=all_red)
    dbeta = dy.sum(axis=all_red)
    if red is None:  # eval mode: a fixed per-channel affine map
        return dy * (gamma * inv), dgamma, dbeta
    return _normalize_backward(dy * gamma, xhat, inv, red), dgamma, dbeta


# --------------------------------------------------------------------------- loss
def cross_entropy(Z, y):
    """Mean cross-entropy of logits ``Z (N, C)`` with integer labels ``y (N,)`` and ``dL/dZ``."""
    xp = xp_of(Z)
    N = Z.shape[0]
    zmax = Z.max(axis=1, keepdims=True)  # (N, 1)
    E = xp.exp(Z - zmax)  # (N, C)
    S = E.sum(axis=1, keepdims=True)  # (N, 1)
    rows = xp.arange(N)
    loss = float(xp.mean(xp.log(S[:, 0]) + zmax[:, 0] - Z[rows, y]))
    dZ = E / S  # (N, C) softmax
    dZ[rows, y] -= 1
    dZ /= N
    return loss, dZ
