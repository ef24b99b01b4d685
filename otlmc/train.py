"""Mini-batch training of MLPs on CPU: SGD with momentum or Adam, cross-entropy, seeded data order.

This is the training protocol of the real-network experiments (docs/theory.md §4, Ferbach et al.
Section 6 and Appendix D; §5, Zhou et al. spawning): LeCun-normal initialisation, SGD with momentum
0.9, a linear warm-up of 10 steps followed by a cosine decay, batch 500, inputs in ``[0, 1]``; or
Adam with learning rate 1e-3 for the LLFC runs. Networks are the :class:`otlmc.networks.MLP`
containers of the core (``W_l`` of shape ``(out, in)``, batches are rows); the arithmetic runs in
float32 by default (about twice the BLAS throughput of float64) and the result is handed back as an
ordinary float64 ``MLP``.

Loss (per batch of ``B`` rows, logits ``Z = f(X)``):

.. math:: \\mathcal L = \\frac1B \\sum_i \\big(\\log \\textstyle\\sum_k e^{Z_{ik}} - Z_{i y_i}\\big),
    \\qquad \\partial \\mathcal L / \\partial Z = (\\mathrm{softmax}(Z) - \\mathrm{onehot}(y)) / B,

back-propagated through ``Z_l = H_{l-1} W_l^T + b_l``: ``dW_l = dZ_l^T H_{l-1}``, ``db_l = sum_i dZ_l``,
``dH_{l-1} = dZ_l W_l``, ``dZ_{l-1} = dH_{l-1} * sigma'(Z_{l-1})``.

Randomness: the initialisation draws from the ``rng`` given to :func:`init_mlp`, the data order from
the ``rng`` given to :func:`train` (one permutation per epoch). Nothing else is random, so equal
generators give bit-identical networks.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from ._validation import check_choice, check_int, check_real
from .activations import ACTIVATIONS
from .datasets import load_mnist
from .io import _check_path, save_mlp
from .networks import MLP
from .objective import act_and_grad_mask, as_matrix, check_xy, forward_backward
from .rng import check_rng, named_streams
from .sampling import _check_widths, sample_weights

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant", "linear")
DTYPES = ("float32", "float64")
INITS = ("lecun_normal", "gaussian", "he_normal", "torch")

# Standard deviation of N(0, 1) truncated to [-2, 2]; dividing by it restores unit variance.
_TRUNC2_STD = 0.87962566103423978


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule and batching of one training run.

    Parameters
    ----------
    optimizer : ``"sgd"`` (heavy-ball momentum, PyTorch form ``v <- mu v + g``, ``theta <- theta - lr v``)
        or ``"adam"`` (Kingma & Ba, bias-corrected).
    lr : peak learning rate.
    epochs : passes over the training set; the run has ``epochs * ceil(N / batch_size)`` steps.
    batch_size : rows per step; an epoch is one random permutation cut into consecutive batches
        (the last one shorter when ``batch_size`` does not divide ``N``).
    momentum : ``mu`` of SGD (ignored by Adam).
    warmup_steps : the learning rate rises linearly, ``lr (s + 1) / warmup_steps`` at step ``s``, for
        the first ``warmup_steps`` steps.
    schedule : after the warm-up, ``"cosine"`` decays to 0 at the last step,
        ``lr (1 + cos(pi (s - w) / (S - w))) / 2``; ``"linear"`` decays linearly to 0 at the last step,
        ``lr (1 - (s - w) / (S - w))`` (with the warm-up: the triangular schedule of Jordan et al.);
        ``"constant"`` keeps ``lr``.
    weight_decay : coupled L2 penalty ``(wd / 2) |theta|^2`` added to the loss (weights and biases).
    beta1, beta2, eps : Adam's moment decays and denominator guard.
    dtype : arithmetic precision, ``"float32"`` (fast) or ``"float64"``.
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    epochs: int = 1
    batch_size: int = 500
    momentum: float = 0.9
    warmup_steps: int = 10
    schedule: str = "cosine"
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    dtype: str = "float32"

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_real("lr", self.lr, min_value=0.0, strict_min=True)
        check_int("epochs", self.epochs, min_value=0)
        check_int("batch_size", self.batch_size, min_value=1)
        check_real("momentum", self.momentum, min_value=0.0)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum == {self.momentum}, must be < 1.")
        check_int("warmup_steps", self.warmup_steps, min_value=0)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_real("weight_decay", self.weight_decay, min_value=0.0)
        for name in ("beta1", "beta2"):
            v = check_real(name, getattr(self, name), min_value=0.0)
            if v >= 1.0:
                raise ValueError(f"{name} == {v}, must be < 1.")
        check_real("eps", self.eps, min_value=0.0, strict_min=True)
        check_choice("dtype", self.dtype, DTYPES)

    def steps_per_epoch(self, n: int) -> int:
        """``ceil(n / batch_size)``."""
        return -(-check_int("n", n, min_value=1) // self.batch_size)

    def total_steps(self, n: int) -> int:
        """Number of optimiser steps of a full run on ``n`` examples."""
        return self.epochs * self.steps_per_epoch(n)


def learning_rate(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate at 0-based ``step`` of a run of ``total_steps`` (warm-up, then the schedule)."""
    w = cfg.warmup_steps
    if step < w:
        return cfg.lr * (step + 1) / w
    if cfg.schedule == "constant" or total_steps <= w:
        return cfg.lr
    frac = min((step - w) / (total_steps - w), 1.0)
    if cfg.schedule == "linear":
        return cfg.lr * (1.0 - frac)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * frac))


# --------------------------------------------------------------------------- initialisation
def _truncated_normal(shape, *, rng: np.random.Generator) -> np.ndarray:
    """N(0, 1) conditioned on [-2, 2], by redrawing the rejected entries."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return z


def init_mlp(widths: Sequence[int], *, rng: np.random.Generator, init: str = "lecun_normal",
             activation: str = "relu") -> MLP:
    """A freshly initialised MLP with widths ``(m_0, m_1, ..., m_{L+1})``.

    ``init``:

    - ``"lecun_normal"`` (default; JAX's ``lecun_normal``, the Flax ``Dense`` default, which
      docs/theory.md §4 names for the Ferbach et al. runs): entries from a normal truncated at two
      standard deviations, rescaled to variance ``1 / fan_in``; zero biases;
    - ``"gaussian"``: entries ``N(0, 1 / fan_in)`` (the i.i.d. law of docs/theory.md §2), zero biases;
    - ``"he_normal"``: entries ``N(0, 2 / fan_in)``, zero biases;
    - ``"torch"``: PyTorch's ``nn.Linear`` default, weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    """
    widths = _check_widths(widths)
    check_rng(rng)
    check_choice("init", init, INITS)
    check_choice("activation", activation, ACTIVATIONS)
    weights, biases = [], []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        if init == "lecun_normal":
            W = _truncated_normal((fan_out, fan_in), rng=rng) / (_TRUNC2_STD * np.sqrt(fan_in))
            b = np.zeros(fan_out)
        elif init in ("gaussian", "he_normal"):
            scale = 1.0 if init == "gaussian" else np.sqrt(2.0)
            W = sample_weights(fan_out, fan_in, rng=rng, law="gaussian", scale=scale)  # (out, in)
            b = np.zeros(fan_out)
        else:  # torch
            bound = 1.0 / np.sqrt(fan_in)
            W = rng.uniform(-bound, bound, size=(fan_out, fan_in))  # (out, in)
            b = rng.uniform(-bound, bound, size=fan_out)  # (out,)
        weights.append(W)
        biases.append(b)
    return MLP(weights, biases, activation=activation)


# --------------------------------------------------------------------------- training state
@dataclass
class TrainState:
    """Everything a run needs to continue: parameters, optimiser slots and the step counter.

    ``params`` alternates ``W_0, b_0, W_1, b_1, ...`` in the training dtype; ``slots`` holds the
    momentum buffers (SGD) or the first and second moments (Adam), one list per kind.
    """

    params: list
    slots: list
    step: int
    activation: str
    losses: list = field(default_factory=list)

    def copy(self) -> TrainState:
        return TrainState([p.copy() for p in self.params], [[s.copy() for s in k] for k in self.slots],
                          self.step, self.activation, list(self.losses))

    def to_mlp(self) -> MLP:
        return MLP(self.params[0::2], self.params[1::2], activation=self.activation)


def init_state(net: MLP, cfg: TrainConfig) -> TrainState:
    """Training state at step 0 for ``net`` (parameters copied into ``cfg.dtype``)."""
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an otlmc.networks.MLP, got {type(net).__name__}.")
    dt = np.dtype(cfg.dtype)
    params = []
    for W, b in zip(net.weights, net.biases):
        params += [np.array(W, dtype=dt, order="C"), np.array(b, dtype=dt)]
    n_kinds = 1 if cfg.optimizer == "sgd" else 2
    slots = [[np.zeros_like(p) for p in params] for _ in range(n_kinds)]
    return TrainState(params, slots, 0, net.activation)


def _apply_update(state: TrainState, grads: list, cfg: TrainConfig, lr: float) -> None:
    """One optimiser step, in place."""
    wd = cfg.weight_decay
    if cfg.optimizer == "sgd":
        (vel,) = state.slots
        for p, g, v in zip(state.params, grads, vel):
            if wd:
                g += wd * p
            v *= cfg.momentum
            v += g
            p -= lr * v
        return
    m1, m2 = state.slots
    t = state.step + 1
    c1 = 1.0 - cfg.beta1 ** t
    c2 = 1.0 - cfg.beta2 ** t
    for p, g, m, v in zip(state.params, grads, m1, m2):
        if wd:
            g += wd * p
        m *= cfg.beta1
        m += (1 - cfg.beta1) * g
        v *= cfg.beta2
        v += (1 - cfg.beta2) * (g * g)
        p -= (lr / c1) * m / (np.sqrt(v / c2) + cfg.eps)


def run_steps(state: TrainState, X, y, cfg: TrainConfig, *, n_steps: int, total_steps: int,
              rng: np.random.Generator, callback: Callable | None = None) -> TrainState:
    """Advance ``state`` by ``n_steps`` optimiser steps, in place, and return it.

    The data order comes from ``rng``: each pass is ``rng.permutation(N)`` cut into consecutive
    batches; a new pass starts when one is used up (also at the start of this call).
    ``total_steps`` is the length of the whole run, which fixes the learning-rate schedule.
    ``X`` must already be a C-contiguous array of the training dtype and ``y`` integer labels.
    ``callback(epoch, net, stats)`` is called after every completed pass.
    """
    N = X.shape[0]
    B = cfg.batch_size
    done, epoch, epoch_losses = 0, 0, []
    Ws_b = state.params
    while done < n_steps:
        order = rng.permutation(N)  # (N,)
        for start in range(0, N, B):
            if done == n_steps:
                break
            idx = order[start:start + B]  # (b,)
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    loss, dWs, dbs = forward_backward(Ws_b[0::2], Ws_b[1::2], X[idx], y[idx],
                                                       state.activation)
                    grads = [g for pair in zip(dWs, dbs) for g in pair]
                    _apply_update(state, grads, cfg, learning_rate(cfg, state.step, total_steps))
            except FloatingPointError as exc:
                raise FloatingPointError(
                    f"training diverged at step {state.step} ({exc}); lower lr (now {cfg.lr})."
                ) from None
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"training diverged at step {state.step} (loss {loss}); lower lr (now {cfg.lr}).")
            state.step += 1
            state.losses.append(loss)
            epoch_losses.append(loss)
            done += 1
        else:
            epoch += 1
            if callback is not None:
                callback(epoch, state.to_mlp(), {"epoch": epoch, "step": state.step,
                                                 "lr": learning_rate(cfg, state.step - 1, total_steps),
                                                 "train_loss": float(np.mean(epoch_losses))})
            epoch_losses = []
    return state


def blas_threads(threads: int | None):
    """Context manager capping BLAS threads at ``threads`` (``None``: leave them as they are).

    On a loaded machine one thread per process is often faster than several; sweeps running one
    training per worker should pass ``threads=1``.
    """
    if threads is None:
        return nullcontext()
    threads = check_int("threads", threads, min_value=1)
    return threadpool_limits(limits=threads, user_api="blas")


def check_config(cfg) -> TrainConfig:
    """``cfg`` if it is a :class:`TrainConfig` (what both trainers take), else a TypeError naming it."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be an otlmc.train.TrainConfig, got {type(cfg).__name__}.")
    return cfg


def train(net: MLP, X, y, cfg: TrainConfig, *, rng: np.random.Generator,
          callback: Callable | None = None, threads: int | None = None) -> MLP:
    """Train ``net`` on ``(X, y)`` with cross-entropy for ``cfg.epochs`` epochs; return a new MLP.

    Parameters
    ----------
    net : the initial network (unchanged; see :func:`init_mlp`).
    X : ``(N, m_0)`` inputs; y : ``(N,)`` integer labels in ``0..m_{L+1}-1``.
    cfg : :class:`TrainConfig`.
    rng : generator of the data order (one permutation per epoch).
    callback : ``callback(epoch, net, stats)`` after every epoch, ``stats`` holding the epoch's
        mean training batch loss, the step count and the last learning rate.
    threads : cap on BLAS threads during training (:func:`blas_threads`); ``None`` leaves them.
        On a loaded machine pass ``threads=1``: with more BLAS threads than free cores an epoch
        was measured 2-5x slower (``benchmarks/bench_train.py``); joblib's loky workers
        (``n_jobs > 1``) already get ``cpu_count // n_jobs`` threads.
    """
    cfg = check_config(cfg)
    check_rng(rng)
    X, y = check_xy(net, X, y, np.dtype(cfg.dtype))
    total = cfg.total_steps(X.shape[0])
    with blas_threads(threads):
        state = run_steps(init_state(net, cfg), X, y, cfg, n_steps=total, total_steps=total, rng=rng,
                          callback=callback)
    return state.to_mlp()


def spawn(net0: MLP, X, y, cfg: TrainConfig, *, k_steps: int, rng_common: np.random.Generator,
          rng_a: np.random.Generator, rng_b: np.random.Generator,
          callback: Callable | None = None, threads: int | None = None) -> tuple[MLP, MLP]:
    """Spawning (Frankle et al.; Zhou et al. §5): a common start, then two independent data orders.

    ``net0`` is trained for ``k_steps`` steps with data order from ``rng_common``; the state
    (parameters and optimiser slots) is copied, and each copy runs the remaining
    ``cfg.total_steps(N) - k_steps`` steps of the same schedule with its own data order (``rng_a``,
    ``rng_b``). ``k_steps = 0`` is a common initialisation only. ``callback(epoch, net, stats)`` is
    called after every completed pass of each phase, ``stats["branch"]`` naming the phase
    (``"common"``, ``"a"`` or ``"b"``).
    """
    cfg = check_config(cfg)
    for name, r in (("rng_common", rng_common), ("rng_a", rng_a), ("rng_b", rng_b)):
        check_rng(r, name)
    X, y = check_xy(net0, X, y, np.dtype(cfg.dtype))
    total = cfg.total_steps(X.shape[0])
    k_steps = check_int("k_steps", k_steps, min_value=0)
    if k_steps > total:
        raise ValueError(f"k_steps == {k_steps}, must be <= {total} (the run's total number of steps, "
                         f"epochs * ceil(N / batch_size)).")
    def tagged(branch):
        if callback is None:
            return None
        return lambda epoch, net, stats: callback(epoch, net, {**stats, "branch": branch})

    out = []
    with blas_threads(threads):
        common = run_steps(init_state(net0, cfg), X, y, cfg, n_steps=k_steps, total_steps=total,
                           rng=rng_common, callback=tagged("common"))
        for branch, r in (("a", rng_a), ("b", rng_b)):
            st = run_steps(common.copy(), X, y, cfg, n_steps=total - k_steps, total_steps=total, rng=r,
                           callback=tagged(branch))
            out.append(st.to_mlp())
    return out[0], out[1]


# --------------------------------------------------------------------------- evaluation
def predict_logits(net: MLP, X, *, dtype=np.float32, batch_size: int = 10_000) -> np.ndarray:
    """Logits ``(N, m_{L+1})`` computed in ``dtype`` in batches (float64 result)."""
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an otlmc.networks.MLP, got {type(net).__name__}.")
    batch_size = check_int("batch_size", batch_size, min_value=1)
    X = as_matrix(X, dtype)
    if X.shape[1] != net.widths[0]:
        raise ValueError(f"X has {X.shape[1]} features but the network's input width is {net.widths[0]}.")
    Ws = [np.asarray(W, dtype=dtype) for W in net.weights]
    bs = [np.asarray(b, dtype=dtype) for b in net.biases]
    out = np.empty((X.shape[0], net.widths[-1]))
    for s in range(0, X.shape[0], batch_size):
        H = np.asarray(X[s:s + batch_size], dtype=dtype)  # (b, m_0)
        for l, (W, b) in enumerate(zip(Ws, bs)):
            H = H @ W.T + b  # (b, m_{l+1})
            if l < len(Ws) - 1:
                H = act_and_grad_mask(net.activation, H)[0]
        out[s:s + batch_size] = H
    return out


def accuracy(net: MLP, X, y, *, dtype=np.float32) -> float:
    """Fraction of rows whose arg-max logit equals the label."""
    X, y = check_xy(net, X, y, dtype)
    return float(np.mean(np.argmax(predict_logits(net, X, dtype=dtype), axis=1) == y))


def evaluate(net: MLP, X, y, *, dtype=np.float32) -> dict:
    """``{"loss": mean cross-entropy, "accuracy": ..., "error": 1 - accuracy}`` on ``(X, y)``."""
    X, y = check_xy(net, X, y, dtype)
    Z = predict_logits(net, X, dtype=dtype)  # (N, C), float64
    zmax = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - zmax).sum(axis=1)) + zmax[:, 0]  # (N,)
    loss = float(np.mean(lse - Z[np.arange(len(y)), y]))
    acc = float(np.mean(np.argmax(Z, axis=1) == y))
    return {"loss": loss, "accuracy": acc, "error": 1.0 - acc}


# --------------------------------------------------------------------------- CLI
def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise ValueError(f"--widths={text!r} must be comma-separated integers like 784,512,10.") from None


def main(argv=None) -> int:
    """``python -m otlmc.train``: train an MLP (or a spawned pair) on MNIST and save it as ``.npz``."""
    p = argparse.ArgumentParser(
        prog="python -m otlmc.train", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train an MLP on MNIST (docs/theory.md §4 protocol by default) and save it as .npz "
                    "(keys W0, b0, W1, b1, ...), ready for otlmc.io.load_mlp.")
    p.add_argument("--out", required=True, help="output .npz path; with --spawn, _a and _b are appended")
    p.add_argument("--widths", default="784,512,512,512,10", help="layer widths, input first")
    p.add_argument("--activation", default="relu", choices=tuple(ACTIVATIONS), help="hidden activation")
    p.add_argument("--init", default="lecun_normal", choices=INITS, help="initialisation (see init_mlp)")
    p.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS, help="optimiser")
    p.add_argument("--lr", type=float, default=0.0251, help="peak learning rate")
    p.add_argument("--epochs", type=int, default=50, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=500, help="examples per step")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--warmup-steps", type=int, default=10, help="linear warm-up steps")
    p.add_argument("--schedule", default="cosine", choices=SCHEDULES, help="schedule after warm-up")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty coefficient")
    p.add_argument("--n-train", type=int, default=None, help="use the first N training examples")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and data order")
    p.add_argument("--spawn", type=int, default=None, metavar="K",
                   help="train a pair: common run for K steps, then two independent data orders")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: leave as is)")
    p.add_argument("--cache-dir", default=None,
                   help="MNIST cache; when not given: $OTLMC_DATA, else ~/.cache/otlmc")
    args = p.parse_args(argv)

    widths = _parse_widths(args.widths)
    cfg = TrainConfig(optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                      momentum=args.momentum, warmup_steps=args.warmup_steps, schedule=args.schedule,
                      weight_decay=args.weight_decay)
    if args.seed < 0:
        raise ValueError(f"--seed == {args.seed}, must be >= 0.")
    streams = named_streams(np.random.SeedSequence(args.seed), ("init", "data", "data_a", "data_b"))
    X, y, X_test, y_test = load_mnist(cache_dir=args.cache_dir, n_train=args.n_train)
    net0 = init_mlp(widths, rng=streams["init"], init=args.init, activation=args.activation)
    t0 = time.perf_counter()

    def report(epoch, net, stats):
        ev = evaluate(net, X_test, y_test)
        print(f"epoch {epoch:3d}  train loss {stats['train_loss']:.4f}  test loss {ev['loss']:.4f}  "
              f"test acc {ev['accuracy']:.4f}  ({time.perf_counter() - t0:.1f} s)", flush=True)

    out = _check_path(args.out)
    stem = out.with_suffix("") if out.suffix == ".npz" else out
    if args.spawn is None:
        nets = {"": train(net0, X, y, cfg, rng=streams["data"], callback=report, threads=args.threads)}
    else:
        a, b = spawn(net0, X, y, cfg, k_steps=args.spawn, rng_common=streams["data"],
                     rng_a=streams["data_a"], rng_b=streams["data_b"], threads=args.threads)
        nets = {"_a": a, "_b": b}
    for suffix, net in nets.items():
        path = save_mlp(net, stem.with_name(stem.name + suffix + ".npz"))
        ev = evaluate(net, X_test, y_test)
        print(json.dumps({"path": str(path), "test_loss": ev["loss"], "test_accuracy": ev["accuracy"],
                          "seconds": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
