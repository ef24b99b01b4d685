"""Matching methods: planted permutations, optimality of each cost, Re-Basin monotonicity, errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from otlmc.matching import (
    DATA_METHODS,
    MATCHING_METHODS,
    RNG_METHODS,
    covariance_weight_matching,
    match,
    match_layer,
    rebasin_weight_matching,
    second_moments,
    sigma_cost,
    weight_matching,
)
from otlmc.networks import MLP, forward, permute
from otlmc.train import init_mlp


def _net(widths, rng, bias=0.1):
    net = init_mlp(widths, rng=rng)
    return MLP(net.weights, [bias * rng.normal(size=b.shape) for b in net.biases])


def _kwargs(method, X, y, seed):
    kw = {}
    if method in DATA_METHODS:
        kw["X"] = X
    if method == "ste":
        kw.update(y=y, steps=5)
    if method in RNG_METHODS:
        kw["rng"] = np.random.default_rng(seed + 100)
    return kw


@pytest.mark.parametrize("method", [m for m in MATCHING_METHODS if m != "identity"])
def test_recovers_planted_permutation(method, rng, seed):
    A = _net((7, 11, 9, 3), rng)
    planted = [rng.permutation(11), rng.permutation(9)]
    B = permute(A, planted)
    X = rng.normal(size=(300, 7))
    y = rng.integers(0, 3, 300)
    res = match(A, B, method, **_kwargs(method, X, y, seed))
    Bt = permute(B, res.perms)
    for Wa, Wb in zip(A.weights, Bt.weights):
        np.testing.assert_allclose(Wb, Wa, atol=1e-12)
    np.testing.assert_allclose(res.costs, 0.0, atol=1e-12)
    assert all(c > 0 for c in res.identity_costs)
    # permuting B never changes its function
    np.testing.assert_allclose(forward(B, X), forward(A, X), atol=1e-12)


def _brute(Wa, Wb, Sigma):
    m = Wa.shape[0]
    return min(sigma_cost(Wa, Wb[list(p)], Sigma) for p in itertools.permutations(range(m)))


def test_each_wm_minimises_its_own_cost(rng):
    """docs/theory.md §6.3 on layer 1 and on layer 2 given the same p_1, plus brute force for m = 6."""
    A, B = _net((5, 6, 6, 2), rng), _net((5, 6, 6, 2), rng)
    X = rng.normal(size=(400, 5)) @ np.diag([3.0, 1.0, 0.5, 0.2, 0.1]) + 0.3
    S = second_moments(A, X)
    ours, naive = covariance_weight_matching(A, B, X=X), weight_matching(A, B, biases=False)
    Wa, Wb = A.weights[0], B.weights[0]
    pn, po = naive.perms[0], ours.perms[0]
    assert sigma_cost(Wa, Wb[po], S[0]) <= sigma_cost(Wa, Wb[pn], S[0]) + 1e-12
    assert sigma_cost(Wa, Wb[pn], np.eye(5)) <= sigma_cost(Wa, Wb[po], np.eye(5)) + 1e-12
    assert ours.costs[0] == pytest.approx(_brute(Wa, Wb, S[0]), abs=1e-12)
    assert naive.costs[0] == pytest.approx(_brute(Wa, Wb, np.eye(5)), abs=1e-12)
    # layer 2 with a common previous permutation
    Wb2 = B.weights[1][:, pn]
    p_o, p_n = match_layer(A.weights[1], Wb2, S[1]), match_layer(A.weights[1], Wb2)
    assert sigma_cost(A.weights[1], Wb2[p_o], S[1]) <= sigma_cost(A.weights[1], Wb2[p_n], S[1]) + 1e-12
    # cost is E_x |(W^A - P W^B) x|^2 / m (Lemma D.1 ingredient)
    D = Wa - Wb[po]
    assert ours.costs[0] == pytest.approx(np.mean(np.sum((X @ D.T) ** 2, axis=1)) / 6, rel=1e-10)
    # docs/theory.md §6.6 sandwich
    lam = np.linalg.eigvalsh(S[0])
    f2 = np.sum(D**2)
    assert lam[0] * f2 - 1e-12 <= 6 * ours.costs[0] <= lam[-1] * f2 + 1e-12


def test_am_matches_brute_force(rng):
    A, B = _net((4, 6, 3), rng), _net((4, 6, 3), rng)
    X = rng.normal(size=(200, 4))
    _, fa = forward(A, X, return_features=True)
    _, fb = forward(B, X, return_features=True)
    Ha, Hb = fa[0][1] - fa[0][1].mean(0), fb[0][1] - fb[0][1].mean(0)
    best = min(np.sum((Ha - Hb[:, list(p)]) ** 2) for p in itertools.permutations(range(6)))
    res = match(A, B, "am", X=X)
    assert res.costs[0] * 6 * 200 == pytest.approx(best, rel=1e-10)


def test_rebasin_objective_never_decreases(rng, seed):
    A, B = _net((8, 20, 20, 20, 4), rng), _net((8, 20, 20, 20, 4), rng)
    res = rebasin_weight_matching(A, B, rng=np.random.default_rng(seed))
    obj = np.array(res.info["objective"])
    assert np.all(np.diff(obj) >= -1e-12 * np.abs(obj[:-1]).max())
    assert obj[-1] > obj[0]  # independent nets: identity is never a fixed point here
    # at the end no single-layer move improves the objective (coordinate-wise optimum)
    again = rebasin_weight_matching(A, B, rng=np.random.default_rng(seed + 1), init=res.perms)
    assert again.info["objective"][-1] == pytest.approx(obj[-1], rel=1e-12)
    # objective = -|theta_A - theta_B~|^2 / 2 + const, so it beats naive forward WM
    def sqdist(perms):
        Bp = permute(B, perms)
        return sum(np.sum((a - b) ** 2) for a, b in zip(A.weights + A.biases, Bp.weights + Bp.biases))
    init = match(A, B, "weight").perms
    from_wm = rebasin_weight_matching(A, B, rng=np.random.default_rng(seed), init=init)
    assert sqdist(from_wm.perms) <= sqdist(init) + 1e-9


def test_same_rng_same_result(rng):
    A, B = _net((6, 15, 15, 3), rng), _net((6, 15, 15, 3), rng)
    r1 = rebasin_weight_matching(A, B, rng=np.random.default_rng(5))
    r2 = rebasin_weight_matching(A, B, rng=np.random.default_rng(5))
    assert all(np.array_equal(p, q) for p, q in zip(r1.perms, r2.perms))


def test_ste_does_not_worsen_its_start(rng):
    """STE keeps the best projection seen, so its midpoint loss is <= that of its first projection."""
    from otlmc.networks import interpolate
    from otlmc.objective import loss_and_grad

    A, B = _net((5, 10, 3), rng), _net((5, 10, 3), rng)
    X, y = rng.normal(size=(100, 5)), rng.integers(0, 3, 100)
    res = match(A, B, "ste", X=X, y=y, rng=np.random.default_rng(0), steps=10, lr=0.05)
    loss = loss_and_grad(interpolate(A, permute(B, res.perms), 0.5), X, y)[0]
    start = rebasin_weight_matching(A, B, rng=np.random.default_rng(0)).perms
    loss0 = loss_and_grad(interpolate(A, permute(B, start), 0.5), X, y)[0]
    assert loss == pytest.approx(res.info["best_loss"], rel=1e-12)
    assert loss <= loss0 + 1e-12


def test_bad_inputs(rng):
    A, B = _net((5, 8, 3), rng), _net((5, 9, 3), rng)
    with pytest.raises(ValueError, match="widths"):
        match(A, B, "weight")
    A2 = _net((5, 8, 3), rng)
    with pytest.raises(ValueError, match="X has 4 features"):
        match(A, A2, "am", X=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="X is required"):
        covariance_weight_matching(A, A2, X=None)
    with pytest.raises(ValueError, match="method='nope'"):
        match(A, A2, "nope")
    with pytest.raises(TypeError, match="rng"):
        rebasin_weight_matching(A, A2, rng=1)
    with pytest.raises(ValueError, match="integer labels"):
        match(A, A2, "ste", X=np.zeros((4, 5)), y=np.zeros(4), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_sweeps"):
        rebasin_weight_matching(A, A2, rng=np.random.default_rng(0), max_sweeps=0)


def test_mnist_wm_ours_and_am_beat_naive_wm(seed, mnist_cache):
    """Ferbach et al. §6's ordering on trained MLPs (784-64-64-10, 5k MNIST examples, SGD lr 0.05,
    5 epochs): midpoint test loss ratios, mean over the 4 pairs 4*seed .. 4*seed+3. Over seeds 0-9
    (40 pairs): WM-ours / naive WM = 0.919 +- 0.030 (max 0.969), AM / naive WM = 0.851 +- 0.028
    (max 0.887), AM / WM-ours = 0.927 +- 0.014 (max 0.948); bands: all three < 1."""
    from otlmc.datasets import load_mnist
    from otlmc.networks import interpolate
    from otlmc.objective import loss_and_grad
    from otlmc.train import TrainConfig, train

    Xtr, ytr, Xte, yte = load_mnist(cache_dir=mnist_cache, n_train=5000, n_test=2000)
    Xm, Xe = Xtr[:2000].astype(float), Xte.astype(float)
    tc = TrainConfig(lr=0.05, epochs=5)
    ratios = []
    for k in range(4 * seed, 4 * seed + 4):
        A, B = (train(init_mlp((784, 64, 64, 10), rng=np.random.default_rng([k, s])), Xtr, ytr, tc,
                      rng=np.random.default_rng([k, s, 1]), threads=1) for s in (0, 1))
        mid = {}
        for m, kw in (("weight", {"biases": False}), ("wm_ours", {"X": Xm}), ("am", {"X": Xm})):
            r = match(A, B, m, **kw)
            mid[m] = loss_and_grad(interpolate(A, permute(B, r.perms), 0.5), Xe, yte)[0]
        ratios.append((mid["wm_ours"] / mid["weight"], mid["am"] / mid["weight"], mid["am"] / mid["wm_ours"]))
    assert np.all(np.mean(ratios, axis=0) < 1.0), np.mean(ratios, axis=0)
