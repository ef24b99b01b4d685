"""Feature-level diagnostics of two networks and the path between them (docs/theory.md §4–5).

Conventions: batches are rows (``Z_l = H_{l-1} W_l^T + b_l``), hidden layers are numbered
``l = 1..L`` in docstrings and indexed ``0..L-1`` in returned lists. Along the LLFC path the
weight of A is ``alpha`` (Zhou et al.): ``theta_alpha = alpha theta_A + (1 - alpha) theta_B``,
i.e. ``t = 1 - alpha`` in the convention of :mod:`otlmc.networks`. B is used as given: align it
first (:func:`otlmc.matching.align`) to study the matched pair.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array
from .backend import to_numpy
from .activations import activate
from .networks import MLP, check_same_architecture, forward, host_inputs, interpolate


def _np(net: MLP) -> MLP:
    return MLP([to_numpy(W) for W in net.weights], [to_numpy(b) for b in net.biases], net.activation)


def _check_alphas(alphas) -> np.ndarray:
    a = check_array("alphas", alphas, ndim=1)
    if a.size == 0 or a.min() < 0 or a.max() > 1:
        raise ValueError(f"alphas must be a non-empty grid in [0, 1], got {a!r}.")
    return a


def _check_labels(y, n: int, n_classes: int) -> np.ndarray:
    y = np.asarray(to_numpy(y))
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be {n} integer labels, got dtype {y.dtype} shape {y.shape}.")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got range [{y.min()}, {y.max()}].")
    return y


# --------------------------------------------------------------------------- dimensions
def approximate_dimension(S) -> float:
    """Participation ratio ``tr(S)^2 / tr(S^2)`` of a symmetric PSD matrix (between 1 and its rank).

    Uses ``tr(S^2) = |S|_F^2``. Raises on a zero matrix (the ratio is undefined).
    """
    S = check_array("S", to_numpy(S), ndim=2)
    if S.shape[0] != S.shape[1] or not np.allclose(S, S.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(S).max())):
        raise ValueError(f"S must be a symmetric square matrix, got shape {S.shape}.")
    f2 = float(np.sum(S * S))
    if f2 == 0.0:
        raise ValueError("S is the zero matrix; its approximate dimension is undefined.")
    return float(np.trace(S)) ** 2 / f2


def random_init_dimension(n: int, d: int) -> float:
    """``n d / (n + d + 1)``: expected-ratio reference for ``W^T W`` with ``W`` an ``(n, d)`` Gaussian."""
    return n * d / (n + d + 1)


def random_init_dimension_sigma(n: int, Sigma) -> float:
    """Reference for ``Dim(W Sigma W^T)`` with ``W`` an ``(n, d)`` matrix of iid centred Gaussians.

    Ratio of expectations ``(E tr A)^2 / E tr(A^2)`` for ``A = W Sigma W^T``: with rows ``w_i`` of
    ``W``, ``E (w^T Sigma w)^2 = (tr Sigma)^2 + 2 tr Sigma^2`` and ``E (w_i^T Sigma w_j)^2 =
    tr Sigma^2`` (``i != j``), so

    ``n (tr Sigma)^2 / ((tr Sigma)^2 + (n + 1) tr Sigma^2)``

    (the weight scale cancels; ``Sigma = I_d`` gives :func:`random_init_dimension`). It separates
    the part of ``Dim(W Sigma W^T)`` that ``Sigma`` alone explains from what the weights add.
    ``Sigma`` ``(d, d)`` symmetric PSD, not zero.
    """
    S = check_array("Sigma", to_numpy(Sigma), ndim=2)
    if S.shape[0] != S.shape[1] or not np.allclose(S, S.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(S).max())):
        raise ValueError(f"Sigma must be a symmetric square matrix, got shape {S.shape}.")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer (the number of rows of W), got {n!r}.")
    tr, tr2 = float(np.trace(S)), float(np.sum(S * S))
    if tr2 == 0.0:
        raise ValueError("Sigma is the zero matrix; the reference is undefined.")
    return n * tr**2 / (tr**2 + (n + 1) * tr2)


def _second_moment(H: np.ndarray, centered: bool) -> np.ndarray:
    """``H^T H / N`` (uncentered) or the covariance ``(H - mean)^T (H - mean) / N``: ``(m, m)``."""
    if centered:
        H = H - H.mean(axis=0)  # (N, m)
    return H.T @ H / H.shape[0]


def approximate_dimensions(net: MLP, X) -> dict:
    """Per hidden layer, the matrices of Ferbach et al. §6 / docs/theory.md §4, and centered variants.

    ``wm_naive``: ``Dim(W_l^T W_l)``; ``wm_ours``: ``Dim(W_l Sigma_{l-1} W_l^T)`` with the uncentered
    input second moment ``Sigma_{l-1}`` over ``X``; ``am``: ``Dim(E[h_l h_l^T])`` uncentered
    (``H_l^T H_l / N``). ``wm_ours_centered`` and ``am_centered``: the same with the covariances
    (centered second moments) instead; an uncentered ``Sigma`` dominated by the mean input has a
    dimension near 1 whatever the weights. Each a list over hidden layers.
    """
    net = _np(net)
    X = host_inputs(net, X)
    _, feats = forward(net, X, return_features=True)
    Hin = [X] + [H for _, H in feats[:-1]]
    out = {"wm_naive": [], "wm_ours": [], "am": [], "wm_ours_centered": [], "am_centered": []}
    for l in range(net.n_hidden):
        W = net.weights[l]
        H = feats[l][1]
        out["wm_naive"].append(approximate_dimension(W.T @ W))
        out["wm_ours"].append(approximate_dimension(W @ _second_moment(Hin[l], False) @ W.T))
        out["am"].append(approximate_dimension(_second_moment(H, False)))
        out["wm_ours_centered"].append(approximate_dimension(W @ _second_moment(Hin[l], True) @ W.T))
        out["am_centered"].append(approximate_dimension(_second_moment(H, True)))
    return out


def random_init_references(net: MLP, X) -> dict:
    """Gaussian-weight references of the weight dimensions, per hidden layer, given ``net``'s inputs.

    ``wm_naive``: :func:`random_init_dimension` ``(m_l, m_{l-1})``; ``wm_ours`` and
    ``wm_ours_centered``: :func:`random_init_dimension_sigma` with the layer input's uncentered /
    centered second moment over ``X`` (the same ``Sigma_{l-1}`` as :func:`approximate_dimensions`).
    ``E[h h^T]`` has no closed form: measure it on the network at its random initialisation.
    """
    net = _np(net)
    X = host_inputs(net, X)
    _, feats = forward(net, X, return_features=True)
    Hin = [X] + [H for _, H in feats[:-1]]
    out = {"wm_naive": [], "wm_ours": [], "wm_ours_centered": []}
    for l in range(net.n_hidden):
        n, d = net.weights[l].shape
        out["wm_naive"].append(random_init_dimension(n, d))
        out["wm_ours"].append(random_init_dimension_sigma(n, _second_moment(Hin[l], False)))
        out["wm_ours_centered"].append(random_init_dimension_sigma(n, _second_moment(Hin[l], True)))
    return out


def stable_rank(W) -> float:
    """``|W|_F^2 / |W|_2^2`` (1 for rank one, the rank for equal singular values)."""
    W = check_array("W", to_numpy(W), ndim=2)
    s = np.linalg.svd(W, compute_uv=False)
    if s.size == 0 or s[0] == 0.0:
        raise ValueError("W is zero; its stable rank is undefined.")
    return float(np.sum(s**2) / s[0] ** 2)


# --------------------------------------------------------------------------- distances
def normalized_dist(x, y) -> float:
    """``|x - y|^2 / (|x| |y|)`` of the flattened arrays (Zhou et al.); raises if either is zero."""
    x, y = np.ravel(to_numpy(x)), np.ravel(to_numpy(y))
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same size, got {x.size} and {y.size}.")
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
    if nx == 0.0 or ny == 0.0:
        raise ValueError("normalized_dist of a zero array is undefined (|x| |y| == 0).")
    return float(np.sum((x - y) ** 2)) / (nx * ny)


def _cos_rows(U, V) -> np.ndarray:
    """Row-wise cosine; a pair of zero rows counts as equal (cos 1), one zero row as orthogonal (0)."""
    nu, nv = np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1)
    dot = np.sum(U * V, axis=1)
    den = nu * nv
    out = np.where(den > 0, dot / np.where(den > 0, den, 1.0), 0.0)
    return np.where((nu == 0) & (nv == 0), 1.0, out)


def _path_features(net_a: MLP, net_b: MLP, X, alpha: float):
    """``(Z, H)`` per hidden layer and the logits of ``theta_alpha``."""
    net = interpolate(net_a, net_b, 1.0 - alpha)
    out, feats = forward(net, X, return_features=True)
    return feats, out


# --------------------------------------------------------------------------- LLFC
def llfc(net_a: MLP, net_b: MLP, X, *, alphas=(0.25, 0.5, 0.75)) -> dict:
    """LLFC metric of Zhou et al. (Def. 2) per layer (hidden post-activations, then the logits).

    For every ``alpha`` and layer: ``one_minus_cos`` ``(N,)`` per example,
    ``1 - cos(f_l(theta_alpha), alpha f_l(theta_A) + (1 - alpha) f_l(theta_B))``; its mean and std;
    ``coef = <f_alpha, f_int> / |f_int|^2`` over the flattened batch (least-squares scale, the
    paper's ``c`` is about ``1 / coef``; ``inf`` if the interpolated features vanish on the whole batch
    but the path's do not, 1 if both vanish). Baseline ``one_minus_cos_ab`` (mean over examples of
    ``1 - cos(f_l(theta_A), f_l(theta_B))``) per layer. Returned as
    ``{"alphas", "layers": [{"baseline", "per_alpha": [{alpha, mean, std, coef, one_minus_cos}]}]}``.
    """
    check_same_architecture(net_a, net_b)
    A, B = _np(net_a), _np(net_b)
    X = host_inputs(A, X)
    alphas = _check_alphas(alphas)
    oa, fa = forward(A, X, return_features=True)
    ob, fb = forward(B, X, return_features=True)
    ends_a = [H for _, H in fa] + [oa]
    ends_b = [H for _, H in fb] + [ob]
    layers = [{"baseline": float(np.mean(1 - _cos_rows(Fa, Fb))), "per_alpha": []}
              for Fa, Fb in zip(ends_a, ends_b)]
    for al in alphas:
        feats, out = _path_features(A, B, X, float(al))
        path = [H for _, H in feats] + [out]
        for k, (F, Fa, Fb) in enumerate(zip(path, ends_a, ends_b)):
            Fi = al * Fa + (1 - al) * Fb  # (N, m)
            omc = 1 - _cos_rows(F, Fi)
            nrm = float(np.sum(Fi * Fi))
            coef = float(np.sum(F * Fi)) / nrm if nrm > 0 else float("inf") if np.any(F) else 1.0
            layers[k]["per_alpha"].append({"alpha": float(al), "mean": float(omc.mean()),
                                           "std": float(omc.std()), "coef": coef, "one_minus_cos": omc})
    return {"alphas": alphas, "layers": layers}


def _dist_rows(U, V) -> np.ndarray:
    """Row-wise ``|u - v|^2 / (|u| |v|)`` ``(N,)``: 0 where the rows are equal (both zero included),
    ``inf`` where exactly one row is zero (the formula's limit)."""
    num = np.sum((U - V) ** 2, axis=1)  # (N,)
    den = np.linalg.norm(U, axis=1) * np.linalg.norm(V, axis=1)  # (N,)
    out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)
    return np.where(num == 0, 0.0, out)


def _additivity_residuals(net_a: MLP, net_b: MLP, X, alphas):
    """Per hidden layer, per alpha: ``(sigma(alpha Z_A + (1-alpha) Z_B), alpha H_A + (1-alpha) H_B)``."""
    check_same_architecture(net_a, net_b)
    A, B = _np(net_a), _np(net_b)
    X = host_inputs(A, X)
    alphas = np.linspace(0.1, 0.9, 9) if alphas is None else _check_alphas(alphas)
    _, fa = forward(A, X, return_features=True)
    _, fb = forward(B, X, return_features=True)
    return [[(activate(A.activation, al * Za + (1 - al) * Zb), al * Ha + (1 - al) * Hb) for al in alphas]
            for (Za, Ha), (Zb, Hb) in zip(fa, fb)]


def weak_additivity(net_a: MLP, net_b: MLP, X, *, alphas=None) -> list[float]:
    """``Dist_sigma`` per hidden layer as Zhou et al. define it (Def. 3, §5.1): per example, then averaged.

    For every input ``x`` (a row of ``X``) and layer,
    ``Dist_sigma(x) = max_alpha dist(sigma(alpha z_A + (1-alpha) z_B), alpha sigma(z_A) + (1-alpha) sigma(z_B))``
    over the grid (default 9 interior points) with ``dist(u, v) = |u - v|^2 / (|u| |v|)`` of the
    layer's feature vectors of ``x``; the value is the mean of ``Dist_sigma(x)`` over ``X``. A row
    where both sides vanish counts 0, one where only one side vanishes ``inf``. 0 for identity
    activations. :func:`weak_additivity_batch` is the older whole-batch variant.
    """
    out = []
    for pairs in _additivity_residuals(net_a, net_b, X, alphas):
        per_x = np.max([_dist_rows(lhs, rhs) for lhs, rhs in pairs], axis=0)  # (N,) max over alpha
        out.append(float(np.mean(per_x)))
    return out


def weak_additivity_batch(net_a: MLP, net_b: MLP, X, *, alphas=None) -> list[float]:
    """Whole-batch variant of ``Dist_sigma``: ``max_alpha dist`` of the flattened ``(N, m_l)`` arrays.

    One normalised distance over the whole batch (not Zhou et al.'s per-example average, see
    :func:`weak_additivity`); 0 when both sides vanish on the whole batch.
    """
    out = []
    for pairs in _additivity_residuals(net_a, net_b, X, alphas):
        vals = [normalized_dist(lhs, rhs) if np.any(rhs) or np.any(lhs) else 0.0 for lhs, rhs in pairs]
        out.append(float(max(vals)))
    return out


def commutativity(net_a: MLP, net_b: MLP, X) -> list[dict]:
    """Per layer ``l = 2..L+1`` (Zhou et al. Def. 4): ``Dist_com``, ``Dist_W``, ``Dist_H``.

    ``Dist_com = dist(H_A W_A^T + H_B W_B^T, H_B W_A^T + H_A W_B^T)`` with ``H`` the previous hidden
    layer's features; ``Dist_W = dist(W_A, W_B)``, ``Dist_H = dist(H_A, H_B)``. Entry 0 is layer 2.
    """
    check_same_architecture(net_a, net_b)
    A, B = _np(net_a), _np(net_b)
    X = host_inputs(A, X)
    _, fa = forward(A, X, return_features=True)
    _, fb = forward(B, X, return_features=True)
    out = []
    for l in range(1, A.n_hidden + 1):
        Ha, Hb = fa[l - 1][1], fb[l - 1][1]
        Wa, Wb = A.weights[l], B.weights[l]
        out.append({"layer": l + 1,
                    "dist_com": normalized_dist(Ha @ Wa.T + Hb @ Wb.T, Hb @ Wa.T + Ha @ Wb.T),
                    "dist_w": normalized_dist(Wa, Wb), "dist_h": normalized_dist(Ha, Hb)})
    return out


def llfc_budget(net_a: MLP, net_b: MLP, X, *, alpha: float = 0.5) -> list[dict]:
    """Exact split of the LLFC error of every layer into commutativity and weak-additivity parts.

    At layer ``l`` with ``E_{l-1} = H_{l-1}(theta_alpha) - (alpha H^A_{l-1} + (1-alpha) H^B_{l-1})``
    (``E_0 = 0``), the pre-activation error is, identically,

    ``Z_alpha - (alpha Z_A + (1-alpha) Z_B) = C_l + P_l``,
    ``C_l = -alpha (1-alpha) (H_A - H_B)(W_A - W_B)^T`` (commutativity), ``P_l = E_{l-1} W_alpha^T``
    (propagated error), and the post-activation error ``E_l = D_l + S_l`` with
    ``S_l = sigma(alpha Z_A + (1-alpha) Z_B) - (alpha sigma(Z_A) + (1-alpha) sigma(Z_B))`` (weak
    additivity) and ``D_l = sigma(Z_alpha) - sigma(alpha Z_A + (1-alpha) Z_B)`` (the pre-activation
    error passed through sigma). Returns per layer (hidden ones, then the logits, where ``sigma``
    is the identity and ``S = 0``) the Frobenius norms of ``E, D, S, C, P`` and the residuals
    ``max|E - D - S|`` and ``max|(Z_alpha - Z_int) - C - P|`` (rounding only).
    """
    check_same_architecture(net_a, net_b)
    A, B = _np(net_a), _np(net_b)
    X = host_inputs(A, X)
    al = float(_check_alphas([alpha])[0])
    M = interpolate(A, B, 1 - al)
    oa, fa = forward(A, X, return_features=True)
    ob, fb = forward(B, X, return_features=True)
    om, fm = forward(M, X, return_features=True)
    Za_all = [Z for Z, _ in fa] + [oa]
    Zb_all = [Z for Z, _ in fb] + [ob]
    Zm_all = [Z for Z, _ in fm] + [om]
    Ha, Hb, E = X, X, np.zeros_like(X)
    out = []
    for l in range(A.n_hidden + 1):
        last = l == A.n_hidden
        act = "identity" if last else A.activation
        Wa, Wb, Wm = A.weights[l], B.weights[l], M.weights[l]
        C = -al * (1 - al) * (Ha - Hb) @ (Wa - Wb).T
        P = E @ Wm.T
        Za, Zb, Zm = Za_all[l], Zb_all[l], Zm_all[l]
        Zint = al * Za + (1 - al) * Zb
        Sig_a, Sig_b = activate(act, Za), activate(act, Zb)
        S = activate(act, Zint) - (al * Sig_a + (1 - al) * Sig_b)
        D = activate(act, Zm) - activate(act, Zint)
        E_new = activate(act, Zm) - (al * Sig_a + (1 - al) * Sig_b)
        out.append({"layer": l + 1, "error": float(np.linalg.norm(E_new)), "through_sigma": float(np.linalg.norm(D)),
                    "weak_additivity": float(np.linalg.norm(S)), "commutativity": float(np.linalg.norm(C)),
                    "propagated": float(np.linalg.norm(P)),
                    "residual_post": float(np.max(np.abs(E_new - D - S))),
                    "residual_pre": float(np.max(np.abs((Zm - Zint) - C - P)))})
        Ha, Hb, E = Sig_a, Sig_b, E_new
    return out


def lemma1(net_a: MLP, net_b: MLP, X, y, *, alphas=None) -> dict:
    """Lemma 1 of Zhou et al. along the path: 0-1 errors of ``theta_alpha`` and of the logits' LLFC.

    Per alpha: ``error_path`` (of ``theta_alpha``), ``error_interp`` (of the interpolated logits
    ``alpha f_A + (1-alpha) f_B``, the prediction LLFC with ``c > 0`` would give; always
    ``<= error_A + error_B`` because an example both endpoints classify correctly stays correct),
    ``argmax_disagree`` (fraction where the two predictions differ), and ``bound = error_A + error_B``.
    """
    check_same_architecture(net_a, net_b)
    A, B = _np(net_a), _np(net_b)
    X = host_inputs(A, X)
    y = _check_labels(y, X.shape[0], A.widths[-1])
    alphas = np.linspace(0, 1, 11) if alphas is None else _check_alphas(alphas)
    oa, ob = forward(A, X), forward(B, X)
    ea, eb = float(np.mean(oa.argmax(1) != y)), float(np.mean(ob.argmax(1) != y))
    rows = []
    for al in alphas:
        om = forward(interpolate(A, B, 1 - float(al)), X)
        pi = (al * oa + (1 - al) * ob).argmax(1)
        pm = om.argmax(1)
        rows.append({"alpha": float(al), "error_path": float(np.mean(pm != y)),
                     "error_interp": float(np.mean(pi != y)), "argmax_disagree": float(np.mean(pm != pi))})
    return {"error_a": ea, "error_b": eb, "bound": ea + eb, "path": rows}


def stitching_errors(net_a: MLP, net_b: MLP, X, y) -> list[float]:
    """0-1 error of ``f_B(l -> out) o f_A(in -> l)`` for every hidden layer ``l`` (no stitching layer).

    Entry ``l - 1`` feeds A's layer-``l`` features into B's layers ``l + 1 .. L + 1``.
    """
    check_same_architecture(net_a, net_b)
    A, B = _np(net_a), _np(net_b)
    X = host_inputs(A, X)
    y = _check_labels(y, X.shape[0], A.widths[-1])
    _, fa = forward(A, X, return_features=True)
    errs = []
    for l in range(A.n_hidden):
        H = fa[l][1]
        for k in range(l + 1, A.n_hidden + 1):
            Z = H @ B.weights[k].T + B.biases[k]
            H = Z if k == A.n_hidden else activate(B.activation, Z)
        errs.append(float(np.mean(H.argmax(1) != y)))
    return errs
