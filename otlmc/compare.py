"""Compare two MLPs: align B to A by one matching and measure every diagnostic before and after.

The library side of ``python -m sims.compare_networks`` (docs/theory.md §4, §5): :func:`load_inputs`
reads the evaluation data, :func:`compare` returns one JSON-ready dictionary.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._validation import as_real_array, check_int
from .barrier import evaluate_path, t_grid
from .features import (approximate_dimensions, commutativity, lemma1, llfc, llfc_budget, stable_rank,
                       stitching_errors, weak_additivity)
from .matching import DATA_METHODS, RNG_METHODS, match
from .networks import MLP, permute
from .realnet import DATA, load_data


def load_inputs(data: str, n_match: int, n_eval: int):
    """``(Xm (n_match, m_0), ym, X (n_eval, m_0), y)`` from ``data``.

    ``data``: ``"mnist"`` or ``"synthetic"`` (their test sets, :func:`otlmc.realnet.load_data`) or a
    ``.npz`` file with arrays ``X (N, m_0)`` and ``y (N,)``. The first ``n_match`` rows feed the
    data-dependent matchings, the next ``n_eval`` rows every measurement.
    Raises FileNotFoundError for a missing file, ValueError for too few rows or missing arrays.
    """
    n_match, n_eval = check_int("n_match", n_match, min_value=1), check_int("n_eval", n_eval, min_value=1)
    if data in DATA:
        _, _, X, y = load_data(data, 1, n_match + n_eval) if data == "synthetic" else load_data(data, 1, None)
    else:
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"data == {data!r}: neither one of {DATA} nor an existing .npz file.")
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files or "y" not in f.files:
                raise ValueError(f"data == {data!r}: the .npz must hold arrays 'X' and 'y', found {f.files}.")
            X, y = f["X"], f["y"]
    if len(X) < n_match + n_eval:
        raise ValueError(f"n_match + n_eval == {n_match + n_eval} rows, but data {data!r} has only {len(X)}.")
    X = as_real_array("X", X)
    y = np.asarray(y).astype(np.int64)
    return X[:n_match], y[:n_match], X[n_match:n_match + n_eval], y[n_match:n_match + n_eval]


def compare(net_a: MLP, net_b: MLP, method: str, Xm, ym, X, y, *, seed: int = 0, t_points: int = 11,
            ste_steps: int = 200) -> dict:
    """All diagnostics of the pair before and after aligning B by ``method``; JSON-ready.

    ``Xm (n_match, m_0)``, ``ym`` feed the data-dependent matchings (``ym`` only ``ste``);
    ``X (n_eval, m_0)``, ``y`` the path (``t_points`` values of t), LLFC at alpha = 1/2,
    ``Dist_sigma``, commutativity, the error budget, stitching and Lemma 1. ``seed`` drives the
    randomised matchings. Keys ``unaligned`` and ``aligned`` hold the per-pair results.
    """
    kw = {}
    if method in DATA_METHODS:
        kw["X"] = Xm
    if method == "ste":
        kw.update(y=ym, steps=ste_steps)
    if method in RNG_METHODS:
        kw["rng"] = np.random.default_rng(seed)
    res = match(net_a, net_b, method, **kw)
    aligned = permute(net_b, res.perms)
    ts = t_grid(t_points)
    out = {"method": method, "widths": list(net_a.widths), "activation": net_a.activation,
           "match_costs": res.costs, "identity_costs": res.identity_costs, "n_eval": len(X), "n_match": len(Xm),
           "t_grid": ts.tolist()}
    for tag, nb in (("unaligned", net_b), ("aligned", aligned)):
        path = evaluate_path(net_a, nb, X, y, ts=ts, loss="ce")
        ll = llfc(net_a, nb, X, alphas=[0.5])
        out[tag] = {
            "path_loss": path.loss.tolist(), "path_error": path.error.tolist(), "barriers": path.barriers,
            "error_barriers": path.error_barriers,
            "llfc_mid": [layer["per_alpha"][0]["mean"] for layer in ll["layers"]],
            "llfc_coef": [layer["per_alpha"][0]["coef"] for layer in ll["layers"]],
            "llfc_baseline": [layer["baseline"] for layer in ll["layers"]],
            "dist_sigma": weak_additivity(net_a, nb, X), "commutativity": commutativity(net_a, nb, X),
            "budget_mid": llfc_budget(net_a, nb, X, alpha=0.5), "stitching_error": stitching_errors(net_a, nb, X, y),
            "lemma1": lemma1(net_a, nb, X, y, alphas=[0.5]),
        }
    out["approximate_dimension_a"] = approximate_dimensions(net_a, Xm)
    out["approximate_dimension_b"] = approximate_dimensions(net_b, Xm)
    out["stable_rank_a"] = [stable_rank(W) for W in net_a.weights]
    out["stable_rank_b"] = [stable_rank(W) for W in net_b.weights]
    return out


__all__ = ["compare", "load_inputs"]
