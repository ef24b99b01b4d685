"""Second moments of a convolution's input patches: exact (streamed) and Kronecker-factored.

Covariance-weighted weight matching (Ferbach et al. §6, Lemma D.1; docs/theory.md §4) weights the
incoming weights of a layer by the uncentered second moment of its input. For a convolution the
input of the GEMM is the im2col row ``u`` of a patch (``K = k_h k_w`` kernel positions times ``C``
channels, channels fastest), so

.. math:: \\Sigma = \\mathbb E_{patches}[u u^T] \\in \\mathbb R^{KC \\times KC}, \\qquad
    \\mathbb E |(W^A - P W^B) u|^2 = \\mathrm{tr}((W^A - P W^B) \\Sigma (W^A - P W^B)^T).

Estimates (all from the same patches, streamed over batches of examples):

``exact``
    ``Sigma`` itself: memory ``(KC)^2``, time ``O(M (KC)^2)`` for ``M`` patches.
``kron``
    ``Sigma ~ P (x) Q`` (positions x channels, K-FAC style): ``Q = E_{patch, k}[u_k u_k^T]``
    ``(C, C)`` averages the channel second moment over kernel positions, ``P[k, l] =
    E[<u_k, u_l>] / mean_k E|u_k|^2`` ``(K, K)`` is the normalised position Gram, so
    ``tr(P (x) Q) = tr(Sigma)``. Memory ``K^2 + C^2``, time ``O(M K C (K + C))``.
``channel``
    ``I_K (x) Q``: positions uncorrelated (the diagonal blocks of ``kron``), memory ``C^2``.
``nearest_kron``
    the Frobenius-nearest Kronecker product to the exact ``Sigma`` (Van Loan & Pitsianis: leading
    singular pair of the rearranged matrix); needs the exact one, so it is a yardstick separating
    the error of the Kronecker structure from that of the factor estimates, not an estimator.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_int
from ..backend import to_numpy, xp_of
from ..transport import linear_assignment
from . import layers as L

ESTIMATES = ("exact", "kron", "channel")


@dataclass(frozen=True)
class PatchMoment:
    """A patch second moment: ``kind`` ``"exact"`` (``full`` ``(KC, KC)``) or a Kronecker product
    ``kron(P, Q)`` (``P (K, K)``, ``Q (C, C)``; ``"channel"`` has ``P = I``)."""

    kind: str
    K: int
    C: int
    full: np.ndarray | None = None
    P: np.ndarray | None = None
    Q: np.ndarray | None = None

    def dense(self) -> np.ndarray:
        """The ``(KC, KC)`` matrix (built from the factors for Kronecker kinds)."""
        return self.full if self.full is not None else np.kron(self.P, self.Q)

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in (self.full, self.P, self.Q) if a is not None))

    def bilinear(self, A, B) -> np.ndarray:
        """``A Sigma B^T`` for ``A (m, KC)``, ``B (n, KC)`` without forming Kronecker products.

        ``A (P (x) Q) B^T = sum_{k,l} P[k, l] A_k Q B_l^T`` with ``A_k = A[:, k C:(k+1) C]``.
        """
        A, B = np.asarray(A), np.asarray(B)
        if self.full is not None:
            return A @ self.full @ B.T  # (m, n)
        m, n = A.shape[0], B.shape[0]
        A3 = A.reshape(m, self.K, self.C)  # (m, K, C)
        B3 = B.reshape(n, self.K, self.C)
        AQ = A3 @ self.Q  # (m, K, C); Q symmetric
        BP = np.einsum("kl,nlc->nkc", self.P, B3)  # (n, K, C): sum_l P[k, l] B_l
        return AQ.reshape(m, -1) @ BP.reshape(n, -1).T  # (m, n)


def _patch_rows(x, layer):
    cols = L.im2col(x, layer.kernel, layer.kernel, layer.stride, layer.pad)  # (b, Ho, Wo, K*C)
    return cols.reshape(-1, cols.shape[-1])  # (b*Ho*Wo, K*C)


def patch_moment(x, layer, *, estimate: str = "exact", batch_size: int = 256) -> PatchMoment:
    """Second moment of the im2col patches of ``layer`` (a :class:`~otlmc.conv.model.Conv`) on the
    feature maps ``x`` ``(N, H, W, C)``, streamed over ``batch_size`` examples at a time.

    The sums are accumulated in float64 on the inputs' device and returned as numpy arrays; the
    result does not depend on ``batch_size`` beyond rounding.
    """
    check_choice("estimate", estimate, ESTIMATES)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    xp = xp_of(x)
    C = x.shape[-1]
    K = layer.kernel * layer.kernel
    M = 0
    S = xp.zeros((K * C, K * C)) if estimate == "exact" else None
    Q = xp.zeros((C, C))
    Pg = xp.zeros((K, K))
    for s in range(0, x.shape[0], batch_size):
        U = _patch_rows(x[s:s + batch_size], layer).astype(xp.float64)  # (m, K*C)
        M += U.shape[0]
        if estimate == "exact":
            S += U.T @ U  # (KC, KC)
            continue
        U2 = U.reshape(-1, C)  # (m*K, C)
        Q += U2.T @ U2  # (C, C)
        if estimate == "kron":
            U3 = U.reshape(-1, K, C)  # (m, K, C)
            Pg += xp.einsum("mkc,mlc->kl", U3, U3)  # (K, K)
    if estimate == "exact":
        return PatchMoment("exact", K, C, full=to_numpy(S / M))
    Q = to_numpy(Q / (M * K))
    if estimate == "channel":
        return PatchMoment("channel", K, C, P=np.eye(K), Q=Q)
    Pg = to_numpy(Pg)
    scale = np.trace(Pg) / K
    if scale == 0:
        raise ValueError("the layer input is zero on every patch; its second moment is zero.")
    return PatchMoment("kron", K, C, P=Pg / scale, Q=Q)


def nearest_kronecker(S, K: int, C: int) -> PatchMoment:
    """Frobenius-nearest ``P (x) Q`` to ``S (KC, KC)`` (Van Loan & Pitsianis 1993).

    With ``R[(k, l), (c, d)] = S[k C + c, l C + d]``, ``|S - P (x) Q|_F = |R - vec(P) vec(Q)^T|_F``,
    minimised by the leading singular pair of ``R``. The factors are made PSD-signed (``tr Q > 0``).
    """
    S = np.asarray(S)
    R = S.reshape(K, C, K, C).transpose(0, 2, 1, 3).reshape(K * K, C * C)  # (K^2, C^2)
    U, s, Vt = np.linalg.svd(R, full_matrices=False)
    P = (U[:, 0] * np.sqrt(s[0])).reshape(K, K)
    Q = (Vt[0] * np.sqrt(s[0])).reshape(C, C)
    if np.trace(Q) < 0:
        P, Q = -P, -Q
    return PatchMoment("nearest_kron", K, C, P=(P + P.T) / 2, Q=(Q + Q.T) / 2)


def compare_estimates(x, layer, Wa, Wb, *, batch_size: int = 256, repeats: int = 1) -> dict:
    """Cost and accuracy of the Kronecker estimates against the exact patch second moment.

    For the conv layer ``layer`` on inputs ``x`` (A's feature maps) and the two weights
    ``Wa, Wb (C_out, C_in, k, k)`` (B's input channels already aligned), returns per estimate:
    ``seconds`` (best of ``repeats``, accumulation only), ``bytes`` of the accumulated statistic,
    ``rel_fro`` ``|S_est - S|_F / |S|_F``, the WM-Sigma assignment it chooses (``perm_agreement``
    with the exact one's, fraction of equal entries) and ``cost_excess``: the exact-Sigma matching
    cost of its permutation over that of the exact one's, minus one (0 when as good).
    """
    out = {}
    mats = {}
    for est in ESTIMATES:
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            pm = patch_moment(x, layer, estimate=est, batch_size=batch_size)
            best = min(best, time.perf_counter() - t0)
        mats[est] = pm
        out[est] = {"seconds": best, "bytes": pm.nbytes()}
    exact = mats["exact"]
    mats["nearest_kron"] = nearest_kronecker(exact.full, exact.K, exact.C)
    out["nearest_kron"] = {"seconds": float("nan"), "bytes": mats["nearest_kron"].nbytes()}
    A = L.weight_matrix(np.asarray(to_numpy(Wa)))  # (C_out, KC)
    B = L.weight_matrix(np.asarray(to_numpy(Wb)))

    def cost(perm):
        D = A - B[perm]  # (C_out, KC)
        return float(np.einsum("ij,jk,ik->", D, exact.full, D) / D.shape[0])

    p_exact = linear_assignment(exact.bilinear(A, B), maximize=True)
    c_exact = cost(p_exact)
    nrm = np.linalg.norm(exact.full)
    for est, pm in mats.items():
        p = linear_assignment(pm.bilinear(A, B), maximize=True)
        out[est].update(rel_fro=float(np.linalg.norm(pm.dense() - exact.full) / nrm),
                        perm_agreement=float(np.mean(p == p_exact)),
                        cost_excess=cost(p) / c_exact - 1.0 if c_exact > 0 else 0.0)
    out["identity_cost_excess"] = cost(np.arange(A.shape[0])) / c_exact - 1.0 if c_exact > 0 else 0.0
    out["K"], out["C"], out["patches"] = exact.K, exact.C, int(_patch_rows(x[:1], layer).shape[0] * x.shape[0])
    return out
