"""Trained MLPs on MNIST (or a hermetic stand-in): data, training a pair, and the per-pair measurements.

Shared by ``sims.mnist_matching``, ``sims.llfc`` and :mod:`otlmc.compare` (docs/theory.md §4, §5).
Every function returns flat ``{column: float}`` dictionaries, ready to be a table row.
"""
from __future__ import annotations

import functools

import numpy as np

from ._validation import check_choice
from .barrier import evaluate_path, t_grid
from .datasets import load_mnist, synthetic_classification
from .features import approximate_dimensions, commutativity, lemma1, llfc, llfc_budget, random_init_references, \
    stitching_errors, weak_additivity, weak_additivity_batch
from .matching import match
from .networks import MLP, permute
from .train import TrainConfig, init_mlp, train

DATA = ("mnist", "synthetic")
#: the matchings of Ferbach et al. §6 compared by ``sims.mnist_matching`` (plus Git Re-Basin WM)
PAPER_METHODS = ("wm_naive", "wm_ours", "am", "rebasin")
#: cross-entropy of a uniform prediction over 10 classes: the loss of a network that learned nothing
CHANCE_LOSS = float(np.log(10.0))


@functools.lru_cache(maxsize=4)
def load_data(data: str, n_train: int, n_test: int):
    """``(X_train (n_train, 784), y_train, X_test (n_test, 784), y_test)``.

    ``data="mnist"``: prefixes of the MNIST training and test sets; ``"synthetic"``: a 784-d,
    10-class Gaussian mixture rescaled to [0, 1] (fixed seed; no download, for tests and ``--quick``).
    """
    check_choice("data", data, DATA)
    if data == "mnist":
        return load_mnist(n_train=n_train, n_test=n_test)
    X, y = synthetic_classification(n_train + n_test, 784, 10, rng=np.random.default_rng(12345))
    X = (X - X.min()) / (X.max() - X.min())  # (n_train + n_test, 784) in [0, 1]
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def train_pair(arch, X, y, tc: TrainConfig, streams: dict) -> tuple[MLP, MLP, MLP]:
    """``(init of A, trained A, trained B)``: independent inits (``init_a``/``init_b``) and data
    orders (``order_a``/``order_b``) from ``streams``."""
    inits, nets = [], []
    for s in ("a", "b"):
        net0 = init_mlp(arch, rng=streams[f"init_{s}"])
        inits.append(net0)
        nets.append(train(net0, X, y, tc, rng=streams[f"order_{s}"], threads=1))
    return inits[0], nets[0], nets[1]


def matching_row(net_a: MLP, net_b: MLP, Xm, X, y, *, ts, methods=PAPER_METHODS, rng) -> dict:
    """Midpoint loss, loss and 0-1 error barriers after aligning B to A by each method.

    ``Xm (n_match, m_0)`` feeds the data-dependent matchings; ``X (n, m_0)``, ``y (n,)`` the path.
    ``identity`` (no alignment) comes first and adds the endpoints' losses and errors. ``rng``
    drives the randomised matchings (``rebasin``).
    """
    row = {}
    for method in ("identity", *methods):
        kw = {"X": Xm} if method in ("wm_ours", "am") else {}
        if method == "rebasin":
            kw["rng"] = rng
        res = match(net_a, net_b, method, **kw)
        path = evaluate_path(net_a, permute(net_b, res.perms), X, y, ts=ts, loss="ce")
        row[f"{method}_midpoint_loss"] = float(np.interp(0.5, path.ts, path.loss))
        row.update({f"{method}_{k}": v for k, v in path.barriers.items() if k != "midpoint_loss"})
        row.update({f"{method}_error_{k}": v for k, v in path.error_barriers.items()})
        if method == "identity":
            row["loss_a"], row["loss_b"] = float(path.loss[0]), float(path.loss[-1])
            row["error_a"], row["error_b"] = float(path.error[0]), float(path.error[-1])
            row["endpoint_loss"] = (row["loss_a"] + row["loss_b"]) / 2
    return row


def dimension_row(net: MLP, X, prefix: str = "dim") -> dict:
    """``{prefix}_{matrix}`` (mean over hidden layers) and ``{prefix}_{matrix}_layer{l}`` of
    :func:`otlmc.features.approximate_dimensions` (second moments over ``X``: uncentered, and the
    ``*_centered`` covariances), then ``{prefix}_ref_{matrix}`` (and per layer) of
    :func:`otlmc.features.random_init_references`: the Gaussian-weight values given ``net``'s inputs."""
    row = {}
    for key, vals in approximate_dimensions(net, X).items():
        row[f"{prefix}_{key}"] = float(np.mean(vals))
        for l, v in enumerate(vals, start=1):
            row[f"{prefix}_{key}_layer{l}"] = float(v)
    for key, vals in random_init_references(net, X).items():
        row[f"{prefix}_ref_{key}"] = float(np.mean(vals))
        for l, v in enumerate(vals, start=1):
            row[f"{prefix}_ref_{key}_layer{l}"] = float(v)
    return row


def feature_row(net_a: MLP, net_b: MLP, X, y, *, t_points: int, prefix: str) -> dict:
    """Zhou et al.'s diagnostics of one pair (docs/theory.md §5), columns ``{prefix}_...``.

    Per layer (hidden post-activations, then logits): LLFC ``1 - cos`` at alpha = 1/2, its std,
    ``coef`` and baseline; ``Dist_sigma`` (Zhou et al.'s per-example mean) and ``dist_sigma_batch`` (one
    normalised distance over the whole batch, max over alpha); ``Dist_com``/``Dist_W``/``Dist_H``; the error budget at
    alpha = 1/2; stitching errors. Then Lemma 1 at the midpoint and the loss/error barriers.
    ``error_{prefix}_endpoint`` is B's test error, ``error_a`` A's.
    """
    p, row = prefix, {}
    res = llfc(net_a, net_b, X, alphas=[0.5])
    for l, layer in enumerate(res["layers"], start=1):
        pa = layer["per_alpha"][0]
        row[f"{p}_llfc_layer{l}"] = pa["mean"]
        row[f"{p}_llfc_std_layer{l}"] = pa["std"]
        row[f"{p}_coef_layer{l}"] = pa["coef"]
        row[f"{p}_baseline_layer{l}"] = layer["baseline"]
    for l, v in enumerate(weak_additivity(net_a, net_b, X), start=1):
        row[f"{p}_dist_sigma_layer{l}"] = v
    for l, v in enumerate(weak_additivity_batch(net_a, net_b, X), start=1):
        row[f"{p}_dist_sigma_batch_layer{l}"] = v
    for c in commutativity(net_a, net_b, X):
        for k in ("dist_com", "dist_w", "dist_h"):
            row[f"{p}_{k}_layer{c['layer']}"] = c[k]
    for b in llfc_budget(net_a, net_b, X, alpha=0.5):
        for k in ("error", "weak_additivity", "commutativity", "propagated", "through_sigma"):
            row[f"{p}_budget_{k}_layer{b['layer']}"] = b[k]
        row[f"{p}_budget_residual_layer{b['layer']}"] = max(b["residual_pre"], b["residual_post"])
    for l, e in enumerate(stitching_errors(net_a, net_b, X, y), start=1):
        row[f"{p}_stitch_error_layer{l}"] = e
    lem = lemma1(net_a, net_b, X, y, alphas=[0.5])
    row[f"{p}_mid_error_path"] = lem["path"][0]["error_path"]
    row[f"{p}_mid_error_interp"] = lem["path"][0]["error_interp"]
    row[f"{p}_mid_argmax_disagree"] = lem["path"][0]["argmax_disagree"]
    row[f"{p}_lemma1_bound"] = lem["bound"]
    path = evaluate_path(net_a, net_b, X, y, ts=t_grid(t_points), loss="ce")
    row[f"{p}_barrier"] = path.barriers["barrier"]
    row[f"{p}_error_barrier"] = path.error_barriers["barrier"]
    row[f"error_{p}_endpoint"] = float(path.error[-1])
    row["error_a"] = lem["error_a"]
    return row



def check_path_sizes(cfg) -> None:
    """Cross-field checks shared by the real-network sims: ``t = 1/2`` on the t-grid (odd
    ``t_points``) and the matching subset inside the training set (``n_match <= n_train``)."""
    if cfg.t_points % 2 == 0:
        raise ValueError(f"--t-points == {cfg.t_points}, must be odd (t = 1/2 must be on the grid).")
    if cfg.n_match > cfg.n_train:
        raise ValueError(f"--n-match == {cfg.n_match}, must be <= --n-train == {cfg.n_train}.")

__all__ = ["CHANCE_LOSS", "DATA", "PAPER_METHODS", "check_path_sizes", "dimension_row", "feature_row", "load_data", "matching_row",
           "train_pair"]
