"""Layer-wise alignment of network B to network A.

Weight matching, Ferbach et al. Eq. (2): for ``l = 1..L`` in order,

.. math:: p_l = \\arg\\min_p \\| W_l^A - W_l^B[p][:, p_{l-1}] \\|_F^2 ,

one exact assignment per layer on the rows of ``W_l^A`` and of ``W_l^B[:, p_{l-1}]`` (biases
appended as one more coordinate of each neuron's incoming vector). By Birkhoff the optimal cost
divided by ``m_l`` is ``W_2^2`` between the two row measures.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_choice
from .backend import to_numpy
from .networks import MLP, check_same_architecture, permute
from .transport import match_rows


@dataclass(frozen=True)
class MatchResult:
    """Permutations (one per hidden layer) and per-layer costs of a matching.

    ``costs[l]`` is the mean squared distance between matched incoming vectors of hidden layer
    ``l + 1`` (= ``W_2^2`` of the row measures for weight matching); ``identity_costs`` the same
    without permuting the rows (columns still follow the previous layer's permutation).
    """

    perms: list
    costs: list
    identity_costs: list
    method: str
    info: dict = field(default_factory=dict)


def neuron_vectors(W, b) -> np.ndarray:
    """Incoming vector ``(w_i, b_i)`` of every neuron: ``(m_l, m_{l-1} + 1)``."""
    return np.concatenate([to_numpy(W), to_numpy(b)[:, None]], axis=1)


def _mean_sq(A, B) -> float:
    return float(np.mean(np.sum((A - B) ** 2, axis=1)))


def weight_matching(net_a: MLP, net_b: MLP) -> MatchResult:
    """Recursive layer-wise weight matching (Ferbach et al., Eq. 2); see the module docstring."""
    check_same_architecture(net_a, net_b)
    perms, costs, id_costs = [], [], []
    p_prev = None
    for l in range(net_a.n_hidden):
        Va = neuron_vectors(net_a.weights[l], net_a.biases[l])  # (m_l, m_{l-1} + 1)
        Wb = to_numpy(net_b.weights[l])
        if p_prev is not None:
            Wb = Wb[:, p_prev]
        Vb = neuron_vectors(Wb, net_b.biases[l])  # (m_l, m_{l-1} + 1)
        p = match_rows(Va, Vb)
        perms.append(p)
        costs.append(_mean_sq(Va, Vb[p]))
        id_costs.append(_mean_sq(Va, Vb))
        p_prev = p
    return MatchResult(perms, costs, id_costs, "weight")


def identity_matching(net_a: MLP, net_b: MLP) -> MatchResult:
    """No alignment: identity permutations (the unaligned baseline)."""
    check_same_architecture(net_a, net_b)
    perms = [np.arange(m) for m in net_a.widths[1:-1]]
    costs = []
    for l in range(net_a.n_hidden):
        Va = neuron_vectors(net_a.weights[l], net_a.biases[l])
        Vb = neuron_vectors(net_b.weights[l], net_b.biases[l])
        costs.append(_mean_sq(Va, Vb))
    return MatchResult(perms, costs, list(costs), "identity")


METHODS: dict[str, Callable[..., MatchResult]] = {
    "weight": weight_matching,
    "identity": identity_matching,
}


def match(net_a: MLP, net_b: MLP, method: str = "weight", **kwargs) -> MatchResult:
    """Run the named matching method; extra keywords go to the method."""
    check_choice("method", method, METHODS)
    return METHODS[method](net_a, net_b, **kwargs)


def align(net_a: MLP, net_b: MLP, method: str = "weight", **kwargs):
    """Permute B's hidden units to match A. Returns ``(net_b_aligned, perms)``."""
    res = match(net_a, net_b, method, **kwargs)
    return permute(net_b, res.perms), res.perms
