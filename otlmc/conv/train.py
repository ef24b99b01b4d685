"""Training of convolutional networks: the optimisers and schedules of :mod:`otlmc.train`, and spawning.

The protocol and :class:`otlmc.train.TrainConfig` are those of the MLP trainer (SGD with momentum or
Adam, linear warm-up then cosine decay, coupled weight decay, seeded data order: one
``rng.permutation(N)`` per pass cut into consecutive batches); the optimiser step itself is the
MLP trainer's, applied to the parameters in the architecture's order. BatchNorm layers use batch
statistics during training and update their running statistics after every step (PyTorch's rule).
The arithmetic runs in ``cfg.dtype`` on the array module of the network (numpy or cupy).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int
from ..backend import xp_of
from ..rng import check_rng
from ..train import TrainConfig, _apply_update, blas_threads, check_config, learning_rate
from .model import ConvNet, check_inputs, loss_and_grad, updated_buffers


@dataclass
class ConvTrainState:
    """Parameters (``keys`` order), optimiser slots, BatchNorm buffers and the step counter."""

    arch: object
    keys: tuple
    params: list
    slots: list
    buffers: dict
    step: int = 0
    losses: list = field(default_factory=list)

    def copy(self) -> ConvTrainState:
        return ConvTrainState(self.arch, self.keys, [p.copy() for p in self.params],
                              [[s.copy() for s in k] for k in self.slots],
                              {k: v.copy() for k, v in self.buffers.items()}, self.step, list(self.losses))

    def to_net(self) -> ConvNet:
        return ConvNet(self.arch, dict(zip(self.keys, self.params)), self.buffers)


def init_state(net: ConvNet, cfg: TrainConfig) -> ConvTrainState:
    """Training state at step 0 (parameters and buffers copied into ``cfg.dtype``)."""
    if not isinstance(net, ConvNet):
        raise TypeError(f"net must be an otlmc.conv.ConvNet, got {type(net).__name__}.")
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be an otlmc.train.TrainConfig, got {type(cfg).__name__}.")
    keys = tuple(net.params)
    params = [net.params[k].astype(cfg.dtype, copy=True) for k in keys]
    xp = xp_of(*params)
    n_kinds = 1 if cfg.optimizer == "sgd" else 2
    slots = [[xp.zeros_like(p) for p in params] for _ in range(n_kinds)]
    return ConvTrainState(net.arch, keys, params, slots, {k: v.astype(cfg.dtype, copy=True)
                                                          for k, v in net.buffers.items()})


def _check_xy(net: ConvNet, X, y, dtype):
    X = check_inputs(net, X)
    xp = xp_of(X)
    X = xp.ascontiguousarray(X, dtype=dtype)
    y = xp.asarray(y)
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"y must be {X.shape[0]} integer labels, got dtype {y.dtype} shape {tuple(y.shape)}.")
    n_out = net.arch.n_classes
    if y.size and (int(y.min()) < 0 or int(y.max()) >= n_out):
        raise ValueError(f"labels y take values in [{int(y.min())}, {int(y.max())}]; they must lie in 0..{n_out - 1}.")
    return X, y.astype(xp.int64)


def run_steps(state: ConvTrainState, X, y, cfg: TrainConfig, *, n_steps: int, total_steps: int,
              rng: np.random.Generator, callback: Callable | None = None) -> ConvTrainState:
    """Advance ``state`` by ``n_steps`` steps in place (data order from ``rng``, as
    :func:`otlmc.train.run_steps`); ``callback(epoch, net, stats)`` after every completed pass."""
    N, B = X.shape[0], cfg.batch_size
    xp = xp_of(X)
    done, epoch, epoch_losses = 0, 0, []
    while done < n_steps:
        order = rng.permutation(N)  # (N,)
        for start in range(0, N, B):
            if done == n_steps:
                break
            idx = xp.asarray(order[start:start + B])  # (b,)
            net = state.to_net()
            loss, grads, rec = loss_and_grad(net, X[idx], y[idx], train=True)
            if not np.isfinite(loss):
                raise FloatingPointError(f"training diverged at step {state.step} (loss {loss}); "
                                         f"lower lr (now {cfg.lr}).")
            state.buffers.update(updated_buffers(net, rec))
            _apply_update(state, [grads[k] for k in state.keys], cfg, learning_rate(cfg, state.step, total_steps))
            state.step += 1
            state.losses.append(loss)
            epoch_losses.append(loss)
            done += 1
        else:
            epoch += 1
            if callback is not None:
                callback(epoch, state.to_net(), {"epoch": epoch, "step": state.step,
                                                 "train_loss": float(np.mean(epoch_losses))})
            epoch_losses = []
    return state


def train(net: ConvNet, X, y, cfg: TrainConfig, *, rng: np.random.Generator, callback: Callable | None = None,
          threads: int | None = None) -> ConvNet:
    """Train ``net`` on ``(X (N, H, W, C), y (N,))`` for ``cfg.epochs`` epochs; return a new ConvNet."""
    cfg = check_config(cfg)
    check_rng(rng)
    X, y = _check_xy(net, X, y, np.dtype(cfg.dtype))
    total = cfg.total_steps(X.shape[0])
    with blas_threads(threads):
        state = run_steps(init_state(net, cfg), X, y, cfg, n_steps=total, total_steps=total, rng=rng,
                          callback=callback)
    return state.to_net()


def spawn(net0: ConvNet, X, y, cfg: TrainConfig, *, k_steps: int, rng_common: np.random.Generator,
          rng_a: np.random.Generator, rng_b: np.random.Generator, threads: int | None = None) -> tuple:
    """Spawning (Frankle et al.; Zhou et al. §5): ``k_steps`` common steps, then two copies of the
    state (parameters, optimiser slots, BatchNorm buffers) finish the same schedule with their own
    data orders. Returns ``(net_a, net_b)``."""
    for name, r in (("rng_common", rng_common), ("rng_a", rng_a), ("rng_b", rng_b)):
        check_rng(r, name)
    cfg = check_config(cfg)
    X, y = _check_xy(net0, X, y, np.dtype(cfg.dtype))
    total = cfg.total_steps(X.shape[0])
    k_steps = check_int("k_steps", k_steps, min_value=0)
    if k_steps > total:
        raise ValueError(f"k_steps == {k_steps}, must be <= {total} (epochs * ceil(N / batch_size)).")
    with blas_threads(threads):
        common = run_steps(init_state(net0, cfg), X, y, cfg, n_steps=k_steps, total_steps=total, rng=rng_common)
        return tuple(run_steps(common.copy(), X, y, cfg, n_steps=total - k_steps, total_steps=total, rng=r).to_net()
                     for r in (rng_a, rng_b))
