"""Layer-wise alignment of network B to network A.

Weight matching, Ferbach et al. Eq. (2): for ``l = 1..L`` in order,

.. math:: p_l = \\arg\\min_p \\| W_l^A - W_l^B[p][:, p_{l-1}] \\|_F^2 ,

one exact assignment per layer on the rows of ``W_l^A`` and of ``W_l^B[:, p_{l-1}]`` (biases
appended as one more coordinate of each neuron's incoming vector). By Birkhoff the optimal cost
divided by ``m_l`` is ``W_2^2`` between the two row measures.

One registry, :data:`MATCHING_METHODS`, maps each method's one name to its function; every
function returns a :class:`MatchResult` whose ``costs`` are in the method's own metric:

- ``"identity"``: no alignment (the baseline);
- ``"weight"``: layer-wise weight matching, Eq. (2) above, biases as one more coordinate;
- ``"wm_naive"``: the "naive WM" of Ferbach et al. §6, ``weight`` without the bias coordinate
  (cost ``-W_B' W_A^T`` on incoming weights, docs/theory.md §4);
- ``"wm_ours"``: covariance-weighted weight matching (Ferbach et al. §6, Lemma D.1);
- ``"am"`` / ``"am_uncentered"``: activation matching, centered or not (Git Re-Basin's form);
- ``"rebasin"``: Git Re-Basin weight matching (coordinate descent over all layers, Ainsworth et al. Alg. 1);
- ``"ste"``: straight-through estimator (Ainsworth et al. Alg. 2).

Data-dependent methods (:data:`DATA_METHODS`) take ``X`` (and ``y``) by keyword, randomised ones
(:data:`RNG_METHODS`) ``rng``. Every assignment goes through
:func:`otlmc.transport.linear_assignment`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_choice, check_int, check_real
from .backend import to_numpy
from .networks import MLP, check_same_architecture, forward, host_inputs, interpolate, permute
from .objective import loss_and_grad
from .rng import check_rng
from .transport import linear_assignment, match_rows


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


def weight_matching(net_a: MLP, net_b: MLP, *, biases: bool = True) -> MatchResult:
    """Recursive layer-wise weight matching (Ferbach et al., Eq. 2); see the module docstring.

    ``biases=True`` matches the incoming vectors ``(w_i, b_i)`` (the bias as one more coordinate);
    ``biases=False`` matches the incoming weights only, the naive WM of Ferbach et al. §6, solved
    in its inner-product form ``-W_B' W_A^T``. ``costs[l]`` is the mean squared distance of the
    matched vectors (``W_2^2`` of the row measures), ``identity_costs[l]`` the same unpermuted.
    """
    check_same_architecture(net_a, net_b)
    if not isinstance(biases, (bool, np.bool_)):
        raise TypeError(f"biases must be a bool, got {biases!r}.")
    if not biases:
        return _forward_wm(net_a, net_b, None, "weight")
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


# --------------------------------------------------------------------------- helpers
def _check_X(net: MLP, X) -> np.ndarray:
    if X is None:
        raise ValueError("X is required by this data-dependent matching; pass X=(N, m_0) inputs.")
    return host_inputs(net, X)


def _np_net(net: MLP) -> MLP:
    return MLP([to_numpy(W) for W in net.weights], [to_numpy(b) for b in net.biases], net.activation)


def second_moments(net: MLP, X) -> list[np.ndarray]:
    """A's uncentered second moments of every layer input, ``Sigma_{l-1} = H_{l-1}^T H_{l-1} / N``.

    Entry ``l`` (0-based, one per hidden layer) is ``(m_l, m_l)`` with ``H_0 = X``.
    """
    X = _check_X(net, X)
    _, feats = forward(_np_net(net), X, return_features=True)
    Hs = [X] + [H for _, H in feats[:-1]]  # inputs of hidden layers 1..L
    return [H.T @ H / H.shape[0] for H in Hs]


def sigma_cost(Wa, Wb, Sigma) -> float:
    """``(1/m) sum_i (w^A_i - w^B_i)^T Sigma (w^A_i - w^B_i) = E_x |(W^A - W^B) x|^2 / m``."""
    D = np.asarray(Wa) - np.asarray(Wb)  # (m, m_in)
    return float(np.einsum("ij,jk,ik->", D, Sigma, D) / D.shape[0])


def match_layer(Wa, Wb, Sigma=None) -> np.ndarray:
    """One assignment: the rows ``p`` of ``Wb`` minimising ``sum_i |Wa[i] - Wb[p[i]]|_Sigma^2``.

    With ``Sigma = None`` the Euclidean norm (naive WM, ``weight_matching(biases=False)``); else
    ``|v|_Sigma^2 = v^T Sigma v`` (WM ours).
    Squared norms of the rows do not depend on ``p``, so the cost matrix is ``-Wa Sigma Wb^T``.
    """
    Wa, Wb = np.asarray(Wa), np.asarray(Wb)
    G = Wa @ Wb.T if Sigma is None else Wa @ Sigma @ Wb.T  # (m, m)
    return linear_assignment(G, maximize=True)


def _forward_wm(net_a: MLP, net_b: MLP, sigmas, method: str) -> MatchResult:
    perms, costs, id_costs = [], [], []
    p_prev = None
    for l in range(net_a.n_hidden):
        Wa = to_numpy(net_a.weights[l])  # (m_l, m_{l-1})
        Wb = to_numpy(net_b.weights[l])
        if p_prev is not None:
            Wb = Wb[:, p_prev]
        S = None if sigmas is None else sigmas[l]
        p = match_layer(Wa, Wb, S)
        if S is None:
            costs.append(_mean_sq(Wa, Wb[p]))
            id_costs.append(_mean_sq(Wa, Wb))
        else:
            costs.append(sigma_cost(Wa, Wb[p], S))
            id_costs.append(sigma_cost(Wa, Wb, S))
        perms.append(p)
        p_prev = p
    return MatchResult(perms, costs, id_costs, method)


def covariance_weight_matching(net_a: MLP, net_b: MLP, *, X) -> MatchResult:
    """WM "ours" (Ferbach et al. §6, Lemma D.1): cost ``-W_B' Sigma_{l-1} W_A^T``.

    ``Sigma_{l-1}`` is A's uncentered second moment of the layer input over ``X``, so each
    assignment minimises ``E_x |(W^A - P W^B') x|^2`` (naive WM in whitened coordinates);
    ``costs[l]`` is that expectation divided by ``m_l``.
    """
    check_same_architecture(net_a, net_b)
    return _forward_wm(net_a, net_b, second_moments(net_a, X), "wm_ours")


def _activation_matching(net_a, net_b, X, centered: bool, method: str) -> MatchResult:
    check_same_architecture(net_a, net_b)
    X = _check_X(net_a, X)
    _, fa = forward(_np_net(net_a), X, return_features=True)
    _, fb = forward(_np_net(net_b), X, return_features=True)
    perms, costs, id_costs = [], [], []
    for (_, Ha), (_, Hb) in zip(fa, fb):  # (N, m_l) each
        if centered:
            Ha, Hb = Ha - Ha.mean(0), Hb - Hb.mean(0)
        p = linear_assignment(Ha.T @ Hb / Ha.shape[0], maximize=True)
        perms.append(p)
        costs.append(float(np.mean(np.sum((Ha - Hb[:, p]) ** 2, axis=0)) / Ha.shape[0]))
        id_costs.append(float(np.mean(np.sum((Ha - Hb) ** 2, axis=0)) / Ha.shape[0]))
    return MatchResult(perms, costs, id_costs, method)


def activation_matching(net_a: MLP, net_b: MLP, *, X) -> MatchResult:
    """AM with centered activations: per hidden layer, cost ``-Cov(H_A, H_B)`` (Ferbach et al. §6).

    ``costs[l] = (1/m_l) sum_i E_x (h^A_i - h^B_{p(i)})^2`` of centered post-activations. Each layer
    is matched independently (B's activations do not depend on its other permutations).
    """
    return _activation_matching(net_a, net_b, X, True, "am")


def activation_matching_uncentered(net_a: MLP, net_b: MLP, *, X) -> MatchResult:
    """AM with the uncentered cost ``-E[H_A^T H_B]`` (Git Re-Basin); costs as in the centered one."""
    return _activation_matching(net_a, net_b, X, False, "am_uncentered")


def _rebasin_objective(net_a: MLP, net_b: MLP, perms) -> float:
    """``sum_l <W_l^A, W~_l> + <b_l^A, b~_l>`` over all layers, B permuted by ``perms``."""
    nb = permute(net_b, perms)
    return float(sum(np.sum(to_numpy(Wa) * to_numpy(Wb)) for Wa, Wb in zip(net_a.weights, nb.weights))
                 + sum(np.sum(to_numpy(ba) * to_numpy(bb)) for ba, bb in zip(net_a.biases, nb.biases)))


def rebasin_weight_matching(net_a: MLP, net_b: MLP, *, rng: np.random.Generator, max_sweeps: int = 100,
                            init=None) -> MatchResult:
    """Git Re-Basin weight matching (Ainsworth et al. 2023, Alg. 1): coordinate descent over layers.

    Maximises ``sum_l <W_l^A, W_l^B[p_l][:, p_{l-1}]>_F + <b_l^A, b_l^B[p_l]>``, equivalently
    minimises ``|theta_A - theta_B~|^2``. Each step fixes all permutations but ``p_l`` and solves
    one assignment on the incoming weights, biases and outgoing weights of layer ``l``; each sweep
    visits the hidden layers in an order drawn from ``rng``; it stops after a sweep that does not
    increase the objective. ``info["objective"]`` holds the objective after every sweep (index 0:
    at the start) and never decreases. ``costs`` are mean squared distances of incoming vectors.
    """
    check_same_architecture(net_a, net_b)
    rng = check_rng(rng)
    max_sweeps = check_int("max_sweeps", max_sweeps, min_value=1)
    A, B = _np_net(net_a), _np_net(net_b)
    L = A.n_hidden
    perms = [np.arange(m) for m in A.widths[1:-1]] if init is None else [np.asarray(p) for p in init]
    if init is not None:
        permute(B, perms)  # validates the permutations
    history = [_rebasin_objective(A, B, perms)]
    for _ in range(max_sweeps):
        for l in rng.permutation(L):
            Wb_in = B.weights[l] if l == 0 else B.weights[l][:, perms[l - 1]]
            G = A.weights[l] @ Wb_in.T + np.outer(A.biases[l], B.biases[l])  # (m_l, m_l)
            Wb_out = B.weights[l + 1] if l + 1 == L else B.weights[l + 1][perms[l + 1]]
            G = G + A.weights[l + 1].T @ Wb_out
            cur = G[np.arange(len(perms[l])), perms[l]].sum()
            p = linear_assignment(G, maximize=True)
            if G[np.arange(len(p)), p].sum() > cur:  # keep the old one on ties
                perms[l] = p
        history.append(_rebasin_objective(A, B, perms))
        if history[-1] <= history[-2] + 1e-12 * max(1.0, abs(history[-2])):
            break
    res = _incoming_costs(A, B, perms, "rebasin")
    res.info.update(objective=history, sweeps=len(history) - 1)
    return res


def _incoming_costs(A: MLP, B: MLP, perms, method: str) -> MatchResult:
    costs, id_costs = [], []
    for l, p in enumerate(perms):
        Va = neuron_vectors(A.weights[l], A.biases[l])
        Wb = B.weights[l] if l == 0 else B.weights[l][:, perms[l - 1]]
        Vb = neuron_vectors(Wb, B.biases[l])
        costs.append(_mean_sq(Va, Vb[p]))
        id_costs.append(_mean_sq(Va, Vb))
    return MatchResult([np.asarray(p) for p in perms], costs, id_costs, method)


def straight_through_matching(net_a: MLP, net_b: MLP, *, X, y, rng: np.random.Generator, steps: int = 200,
                              lr: float = 1e-2, batch_size: int = 500) -> MatchResult:
    """Straight-through estimator (Ainsworth et al. 2023, Alg. 2): learn ``p`` from the midpoint loss.

    Keeps free parameters ``theta~`` (started at A); each step projects them onto B's orbit,
    ``p = argmax <theta~, permute(theta_B, p)>`` (:func:`rebasin_weight_matching` of ``theta~``
    to B), evaluates the cross-entropy of the midpoint ``(theta_A + permute(theta_B, p)) / 2`` on a
    minibatch drawn from ``rng``, and moves ``theta~`` by Adam along the straight-through gradient
    (``d theta_B~ / d theta~ = I``, so the gradient is half the midpoint's). Returns the
    projection with the lowest full-batch midpoint loss seen (``info["best_loss"]``,
    ``info["loss_history"]`` per step on its minibatch).
    """
    check_same_architecture(net_a, net_b)
    rng = check_rng(rng)
    X = _check_X(net_a, X)
    y = np.asarray(to_numpy(y))
    if y.shape != (X.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be {X.shape[0]} integer labels, got dtype {y.dtype} shape {y.shape}.")
    steps = check_int("steps", steps, min_value=1)
    lr = check_real("lr", lr, min_value=0.0, strict_min=True)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    A, B = _np_net(net_a), _np_net(net_b)
    params = [W.copy() for W in A.weights] + [b.copy() for b in A.biases]
    n_w = len(A.weights)
    m1 = [np.zeros_like(q) for q in params]
    m2 = [np.zeros_like(q) for q in params]

    def midpoint(perms):
        Bp = permute(B, perms)
        return interpolate(A, Bp, 0.5)

    perms = rebasin_weight_matching(MLP(params[:n_w], params[n_w:], A.activation), B,
                                    rng=rng).perms
    best = (float(loss_and_grad(midpoint(perms), X, y)[0]), perms)
    history = []
    for s in range(1, steps + 1):
        idx = rng.choice(X.shape[0], size=min(batch_size, X.shape[0]), replace=False)
        loss, dW, db = loss_and_grad(midpoint(perms), X[idx], y[idx])
        history.append(float(loss))
        grads = [0.5 * g for g in (*dW, *db)]
        for q, g, a, v in zip(params, grads, m1, m2):
            a *= 0.9
            a += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            q -= lr * (a / (1 - 0.9**s)) / (np.sqrt(v / (1 - 0.999**s)) + 1e-8)
        perms = rebasin_weight_matching(MLP(params[:n_w], params[n_w:], A.activation), B, rng=rng,
                                        init=perms).perms
        full = float(loss_and_grad(midpoint(perms), X, y)[0])
        if full < best[0]:
            best = (full, perms)
    res = _incoming_costs(A, B, best[1], "ste")
    res.info.update(best_loss=best[0], loss_history=history)
    return res


#: the matching methods, one name each (module docstring)
def naive_weight_matching(net_a: MLP, net_b: MLP) -> MatchResult:
    """Naive weight matching of Ferbach et al. §6: incoming weights only, biases ignored."""
    return weight_matching(net_a, net_b, biases=False)


MATCHING_METHODS: dict[str, Callable[..., MatchResult]] = {
    "identity": identity_matching,
    "weight": weight_matching,
    "wm_naive": naive_weight_matching,
    "wm_ours": covariance_weight_matching,
    "am": activation_matching,
    "am_uncentered": activation_matching_uncentered,
    "rebasin": rebasin_weight_matching,
    "ste": straight_through_matching,
}
#: methods that need ``X`` (and ``y`` for ``ste``) and those that need ``rng``
DATA_METHODS = ("wm_ours", "am", "am_uncentered", "ste")
RNG_METHODS = ("rebasin", "ste")


def match(net_a: MLP, net_b: MLP, method: str = "weight", **kwargs) -> MatchResult:
    """Run the method named ``method`` in :data:`MATCHING_METHODS`; extra keywords go to the method."""
    check_choice("method", method, MATCHING_METHODS)
    return MATCHING_METHODS[method](net_a, net_b, **kwargs)


def align(net_a: MLP, net_b: MLP, method: str = "weight", **kwargs):
    """Permute B's hidden units to match A. Returns ``(net_b_aligned, perms)``."""
    res = match(net_a, net_b, method, **kwargs)
    return permute(net_b, res.perms), res.perms
