"""Matrix-free certified exact assignment between two point clouds.

For two clouds ``X``, ``Y`` of ``n`` points in ``R^d`` and ``C_ij = |x_i - y_j|^p`` the exact
assignment ``min_pi sum_i C_{i, pi(i)}`` (Birkhoff: the exact ``W_p^p`` times ``n``, see
docs/theory.md §1) is found without ever holding ``C``: memory is ``O(n k)``, not ``O(n^2)``.

Method
------
1. **Centre** both clouds by one common shift ``c = (mean X + mean Y) / 2``: ``C`` is unchanged in
   exact arithmetic, and the rounding of every computed distance becomes independent of where the
   clouds sit (a cloud at ``10^6`` is solved and certified as well as one at the origin).
2. **Candidate graph**: the ``k`` nearest ``y`` of every ``x`` and the ``k`` nearest ``x`` of every
   ``y`` (a KD-tree for ``d <= TREE_MAX_D``, else the blocked pass below, keeping a heap per row),
   plus the pairs ``(i, i)`` that guarantee a perfect matching exists in the graph. A larger
   *check set* (``CHECK_K`` neighbours each way) is kept with its costs.
3. **Exact sparse solve**: a forward auction with epsilon-scaling gives near-optimal column
   potentials in ``O(n k)`` per phase; successive shortest augmenting paths with Hungarian
   potentials ``u, v`` on the CSR graph (the kernel of :mod:`otlmc.transport.assignment`) then finish
   exactly, and later rounds warm-start from the current duals.
4. **Certificate against all ``n^2`` pairs**, by a blocked pass that computes the reduced costs
   ``r_ij = C_ij - u_i - v_j`` block by block (a ``block``-column tile of ``Y`` in cache, rows
   streamed through it; nothing of size ``n^2`` is stored). ``u_i = C_{i,pi(i)} - v_{pi(i)}``
   makes every matched edge tight, so the permutation is optimal as soon as ``r_ij >= 0`` on every
   pair (weak duality). The pass returns ``min_j r_ij`` of every row (hence the worst reduced cost
   and the duality gap ``sum_i max_j (-r_ij)``) and the ``KV`` most violated pairs of every row.
5. Violated pairs (``r_ij < -tol``) join the graph and the solve restarts from the current duals.
   Before each blocked pass the check set is tested (``O(n CHECK_K)``); only when it holds no
   violation does the ``O(n^2)`` pass run, so one pass usually certifies.

Tolerance (rounding only, not relative to the total): every ``C_ij`` is computed as
``sum_k (x_ik - y_jk)^2`` (then ``sqrt`` / ``**(p/2)``) from the centred coordinates, the same
expression, in the same order, in the graph and in the pass. Its error is at most ``(d + 2) eps C_ij``,
and the two subtractions add ``eps (|C_ij - v_j| + |u_i|)``, so

.. math:: \\mathrm{tol} = 2 (d + 8)\\, \\varepsilon \\,(2 C_{\\max} + \\max|u| + \\max|v|),
          \\qquad C_{\\max} = (\\max_i |x_i| + \\max_j |y_j|)^p

bounds the rounding of every computed reduced cost. Certified means every computed ``r_ij >= -tol``:
then no permutation is cheaper by more than ``n (tol + |worst|)`` (reported as ``gap_bound``;
about 2e-7 of a total of 1.5e4 at n = 131072, d = 5). In every comparison run (n <= 16384, d = 1 to
10) the permutation is the one scipy and :func:`otlmc.transport.linear_assignment` find, so its
total on a common cost matrix is the same to the last bit.

The blocked pass is numba-compiled per ``(d, p-kind)`` (coordinates unrolled so the pair loop
vectorises) and runs over row blocks in parallel. It is the whole cost at large ``n``:
``n^2 (3d + 2)`` flops per pass. Memory: the points, the graph and the check set,
``O(n (d + k + CHECK_K))`` (about 0.5 GB peak RSS at n = 131072, d = 5).
"""
from __future__ import annotations

import math
import time

import numba as _nb
import numpy as np
from scipy.spatial import cKDTree

from .._validation import check_array, check_int, check_real
from .assignment import _csr_add, _csr_union, _sift_down, _sparse_ssp
from ..backend import to_numpy

__all__ = ["match_clouds", "wasserstein_clouds", "K_DEFAULT", "K_LOW_D", "BLOCK_DEFAULT"]

#: candidate neighbours per point in each direction
K_DEFAULT = 24
#: ... and in the plane and on the line, where optimal partners lie further out (n = 32768, d = 2:
#: 24 neighbours need 7 rounds and 3 all-pairs passes, 48 need 2 and 2)
K_LOW_D = 48
LOW_D = 2
#: columns per tile of the blocked pass (``d * BLOCK_DEFAULT * 8`` bytes stay in L1/L2)
BLOCK_DEFAULT = 512
#: augmenting row reduction steps per free row in a fresh sparse solve (the auction has already
#: placed most rows; the dense assignment module's larger value is tuned for column minima starts)
ARR_FACTOR = 4
#: rows per parallel work item of the blocked pass
ROW_BLOCK = 64
#: violated pairs kept per row and round
KV = 8
#: rounds before giving up (each costs one blocked pass)
MAX_ROUNDS = 30
#: the KD-tree finds candidates up to this dimension; above it the blocked scan is faster
TREE_MAX_D = 8
#: neighbours per point (each direction) in the local check set tested before every blocked pass
CHECK_K = 40
#: auction: final epsilon relative to the first (the mean nearest-pair cost), and its shrink factor
AUCTION_EPS_MIN = 1e-4
AUCTION_THETA = 8.0
#: auction: bids allowed in all, per point (a bidding war on an unbalanced graph stops there).
#: d = 2 needs 420 / 700 per point at n = 32768 / 65536; at n = 131072 an unbounded auction took
#: 540 s, capped at 512 bids per point 28 s (the exact solve then takes 41 s instead of 17 s)
AUCTION_MAX_BIDS = 512
_EPS = float(np.finfo(np.float64).eps)


def _p_kind(p: float) -> int:
    """Code of the power applied to squared distances: 2 -> none, 1 -> sqrt, 0 -> ``**(p/2)``."""
    return 2 if p == 2.0 else (1 if p == 1.0 else 0)


# ----------------------------------------------------------------------------- numba kernels
_jit = _nb.njit(cache=True, nogil=True)


@_jit
def _pair_cost(X, Y, i, j, pkind, pexp):
    """``|x_i - y_j|^p``, the same floating-point expression as the blocked pass."""
    c = 0.0
    for kk in range(X.shape[1]):
        df = X[i, kk] - Y[j, kk]
        c += df * df
    if pkind == 1:
        c = math.sqrt(c)
    elif pkind == 0:
        c = c**pexp
    return c


@_jit
def _build_graph(X, Y, top_r, top_c, pkind, pexp):
    """CSR graph: the columns ``top_r[i]`` of each row, the rows ``top_c[j]`` of each column and
    the diagonal; costs from the points. Returns ``indptr (n+1,), indices (E,), costs (E,)``."""
    indptr, indices = _csr_union(top_r, top_c)
    costs = np.empty(indices.size)
    n = top_r.shape[0]
    for i in range(n):
        for q in range(indptr[i], indptr[i + 1]):
            costs[q] = _pair_cost(X, Y, i, indices[q], pkind, pexp)
    return indptr, indices, costs


@_jit
def _add_edges(X, Y, indptr, indices, costs, top, pkind, pexp):
    """The graph plus the pairs ``(i, top[i, t])`` with ``top[i, t] >= 0``; also the number added."""
    new_ptr, new_idx = _csr_add(indptr, indices, top)
    new_cost = np.empty(new_idx.size)
    for i in range(top.shape[0]):
        kept = new_ptr[i] + indptr[i + 1] - indptr[i]  # the old edges come first, in their order
        new_cost[new_ptr[i]:kept] = costs[indptr[i]:indptr[i + 1]]
        for q in range(kept, new_ptr[i + 1]):
            new_cost[q] = _pair_cost(X, Y, i, new_idx[q], pkind, pexp)
    return new_ptr, new_idx, new_cost, new_idx.size - indices.size


@_jit
def _matched(indptr, indices, costs, row2col):
    """Cost of every matched edge (n,), read from the graph."""
    n = row2col.size
    out = np.empty(n)
    for i in range(n):
        j = row2col[i]
        for q in range(indptr[i], indptr[i + 1]):
            if indices[q] == j:
                out[i] = costs[q]
                break
    return out


@_jit
def _col_min(indptr, indices, costs, n):
    """Smallest graph cost into each column (n,)."""
    out = np.full(n, np.inf)
    for i in range(n):
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            if costs[q] < out[j]:
                out[j] = costs[q]
    return out


@_jit
def _auction(n, indptr, indices, costs, v_in, eps0, eps_min, theta, max_bids):
    """Forward auction with epsilon-scaling on the CSR graph (Bertsekas): approximate duals.

    Each free row takes its column of smallest ``c_ij - v_j`` and lowers that column's potential
    so that the column costs it ``eps`` more than its second best; ``eps`` shrinks by ``theta``
    per phase from ``eps0`` to ``eps_min``. The graph must admit a perfect matching (it has the
    diagonal). Returns the column potentials ``v`` (n,), which make every row's choice within
    ``eps_min`` of optimal: the exact solve that follows starts from them and has little left
    to do (n = 16384, d = 5: 0.1 s instead of 3 s from the column minima).

    At most ``max_bids`` bids in all: where the candidate graph has no perfect matching among its
    cheap edges (a cluster of rows whose nearest columns are fewer than they are, common in the
    plane), its rows bid prices down in steps of ``eps`` until an expensive edge wins, which
    takes about (cost range) / ``eps`` bids (n = 131072, d = 2: 540 s of a 757 s solve). The
    auction then stops where it is: any potentials are a valid start for the exact solve.
    Returns the potentials and the number of bids.
    """
    v = v_in.copy()
    owner = np.empty(n, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    eps = eps0
    bids = 0
    while True:
        for j in range(n):
            owner[j] = -1
            queue[j] = j
        head = 0
        nq = n
        while nq > 0 and bids < max_bids:
            bids += 1
            i = queue[head]
            head += 1
            if head == n:
                head = 0
            nq -= 1
            w1 = np.inf
            w2 = np.inf
            j1 = -1
            for q in range(indptr[i], indptr[i + 1]):
                r = costs[q] - v[indices[q]]
                if r < w1:
                    w2 = w1
                    w1 = r
                    j1 = indices[q]
                elif r < w2:
                    w2 = r
            v[j1] -= (w2 - w1) + eps if w2 < np.inf else eps
            i0 = owner[j1]
            owner[j1] = i
            if i0 >= 0:
                tail = head + nq
                if tail >= n:
                    tail -= n
                queue[tail] = i0
                nq += 1
        if eps <= eps_min or bids >= max_bids:
            break
        eps = max(eps / theta, eps_min)
    return v, bids


@_jit
def _check_local(cptr, cidx, ccost, u, v, tol, kv):
    """Violated pairs of the CSR check set (``ccost - u_i - v_j < -tol``): up to ``kv`` per row
    (n, kv), -1 elsewhere, and their number."""
    n = cptr.size - 1
    out = np.full((n, kv), -1, dtype=np.int64)
    total = 0
    for i in range(n):
        t = 0
        for q in range(cptr[i], cptr[i + 1]):
            if t < kv and ccost[q] - u[i] - v[cidx[q]] < -tol:
                out[i, t] = cidx[q]
                t += 1
        total += t
    return out, total


@_nb.njit(cache=True, nogil=True, parallel=True)
def _scan(X, Yblk, wblk, rowdet, viol, kv, bi, pexp, start, D, P):
    """The blocked pass over all pairs, compiled per dimension ``D`` and power kind ``P``.

    ``D`` and ``P`` are dispatched as literals (one cached specialisation each), so the
    coordinate loop is unrolled and the pair loop vectorises. With ``s_ij = C_ij - w_j``
    (``Yblk`` (nb, D, bj) and ``wblk`` (nb, bj) hold the columns in tiles; padding columns carry
    ``w = -inf``), for every row ``i``:

    - ``hi[i]`` (kv,) / ``hv[i]``: the ``kv`` smallest ``s_ij`` with ``s_ij < viol[i]``
      (-1 / inf where fewer),
    - ``rowmin[i]``: the smallest ``s_ij``, exact whenever it is below ``rowdet[i]`` or the ``kv``-th
      kept value (inf if no pair qualified).

    Each (row, tile) is first *counted* in a vectorised loop (``s_ij < threshold``); only tiles with
    a hit are rescanned in scalar code, with the same expression (bit-identical values). Row
    blocks of ``bi`` rows run in parallel and start at tile ``start[b]``.
    """
    _nb.literally(D)
    _nb.literally(P)
    n = X.shape[0]
    nbj = Yblk.shape[0]
    bj = Yblk.shape[2]
    rowmin = np.full(n, np.inf)
    hv = np.full((n, kv), np.inf)
    hi = np.full((n, kv), -1, dtype=np.int64)
    nrb = (n + bi - 1) // bi
    for b in _nb.prange(nrb):
        i0 = b * bi
        i1 = min(n, i0 + bi)
        for q in range(nbj):
            jb = start[b] + q
            if jb >= nbj:
                jb -= nbj
            Yb = Yblk[jb]  # (D, bj)
            wb = wblk[jb]  # (bj,)
            for i in range(i0, i1):
                hvi = hv[i]
                hii = hi[i]
                vi = viol[i]
                t = max(rowdet[i], min(vi, hvi[0]))
                cnt = 0
                for j in range(bj):  # vectorised count: no store, no branch
                    c = 0.0
                    for kk in range(D):
                        df = X[i, kk] - Yb[kk, j]
                        c += df * df
                    if P == 1:
                        c = math.sqrt(c)
                    elif P == 0:
                        c = c**pexp
                    cnt += (c - wb[j]) < t
                if cnt == 0:
                    continue
                for j in range(bj):  # rare: the same values again, kept
                    c = 0.0
                    for kk in range(D):
                        df = X[i, kk] - Yb[kk, j]
                        c += df * df
                    if P == 1:
                        c = math.sqrt(c)
                    elif P == 0:
                        c = c**pexp
                    s = c - wb[j]
                    if s < rowmin[i]:
                        rowmin[i] = s
                    if s < vi and s < hvi[0]:
                        hvi[0] = s
                        hii[0] = jb * bj + j
                        _sift_down(hvi, hii, 0, kv)
    return rowmin, hv, hi


# ----------------------------------------------------------------------------- helpers
class _Tiles:
    """The columns ``Y`` (m, d) laid out in tiles ``(nb, d, bj)`` for the blocked pass."""

    def __init__(self, Y: np.ndarray, bj: int):
        m, d = Y.shape
        self.m, self.bj = m, bj
        self.nb = (m + bj - 1) // bj
        pad = np.zeros((self.nb * bj, d))
        pad[:m] = Y
        self.Y = np.ascontiguousarray(pad.reshape(self.nb, bj, d).transpose(0, 2, 1))  # (nb, d, bj)

    def weights(self, w: np.ndarray) -> np.ndarray:
        out = np.full(self.nb * self.bj, -np.inf)  # padding columns never qualify
        out[: self.m] = w
        return out.reshape(self.nb, self.bj)  # (nb, bj)


def _kd_order(Z: np.ndarray) -> np.ndarray:
    """A permutation putting nearby points next to each other (KD-tree leaf order)."""
    if Z.shape[0] < 2:
        return np.arange(Z.shape[0])
    return np.asarray(cKDTree(Z, leafsize=16, balanced_tree=False).indices, dtype=np.int64)


def _starts(n_rows: int, bi: int, nb: int) -> np.ndarray:
    """First column tile of each row block: the tile at the same relative position (both clouds
    are in KD order, so it holds nearby points and the neighbour heaps tighten at once)."""
    nrb = (n_rows + bi - 1) // bi
    mid = np.minimum(np.arange(nrb) * bi + bi // 2, n_rows - 1)
    return np.minimum(mid * nb // max(n_rows, 1), nb - 1).astype(np.int64)


def _knn(A: np.ndarray, B: np.ndarray, k: int, method: str, bj: int, pkind: int, pexp: float):
    """Indices (n, k) of the ``k`` nearest rows of ``B`` for every row of ``A``, nearest first."""
    if method == "tree":
        _, idx = cKDTree(B).query(A, k=k, workers=-1)
        return np.asarray(idx, dtype=np.int64).reshape(A.shape[0], k)
    tiles = _Tiles(B, bj)
    n = A.shape[0]
    _, hv, hi = _scan(A, tiles.Y, tiles.weights(np.zeros(B.shape[0])), np.full(n, -np.inf),
                      np.full(n, np.inf), k, ROW_BLOCK, pexp, _starts(n, ROW_BLOCK, tiles.nb),
                      A.shape[1], pkind)
    order = np.argsort(hv, axis=1, kind="stable")  # (n, k) nearest first
    return np.ascontiguousarray(np.take_along_axis(hi, order, axis=1))


def _check_clouds(X, Y):
    X = check_array("X", to_numpy(X), ndim=2)
    Y = check_array("Y", to_numpy(Y), ndim=2)
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape (n, d), got {X.shape} and {Y.shape}.")
    if X.shape[1] == 0:
        raise ValueError("X and Y need at least one coordinate (d >= 1), got d = 0.")
    return X, Y


# ----------------------------------------------------------------------------- public API
def match_clouds(X, Y, *, p: float = 2.0, k: int | None = None, block: int = BLOCK_DEFAULT,
                 candidates: str = "auto", max_rounds: int = MAX_ROUNDS, return_info: bool = False):
    """Exact optimal assignment between the point clouds ``X`` (n, d) and ``Y`` (n, d), matrix-free.

    .. math:: \\pi^* = \\arg\\min_{\\pi \\in S_n} \\sum_i |x_i - y_{\\pi(i)}|^p

    Memory ``O(n (d + k))``; time ``O(n^2 d)`` per certification round (see the module docstring).

    Parameters
    ----------
    X, Y : array_like, shape (n, d)
        Finite real points (numpy or cupy; copied to the host as float64).
    p : float, keyword-only
        Exponent ``>= 1`` of the cost (2: squared Euclidean; 1: Euclidean).
    k : int or None, keyword-only
        Nearest neighbours per point in each direction for the first candidate graph (>= 1);
        None: ``K_LOW_D`` for ``d <= LOW_D``, else ``K_DEFAULT``.
    block : int, keyword-only
        Columns per tile of the blocked pass (>= 8).
    candidates : {'auto', 'tree', 'blocked'}, keyword-only
        How the neighbours are found: a KD-tree, or the blocked pass over all pairs;
        ``'auto'`` uses the tree for ``d <= TREE_MAX_D``.
    max_rounds : int, keyword-only
        Certification rounds before giving up with RuntimeError (>= 1).
    return_info : bool, keyword-only
        Also return the certificate dict.

    Returns
    -------
    perm : ndarray of intp, shape (n,)
        ``x_i`` is matched with ``y_{perm[i]}``.
    info : dict, only with ``return_info``
        ``certified`` (True), ``rounds``, ``edges`` (graph size at the end), ``worst_reduced_cost``
        (``min_ij C_ij - u_i - v_j`` as computed), ``tol``, ``gap`` (``sum_i max_j (-r_ij)``,
        the duality gap), ``gap_bound`` (``n (tol + max(0, -worst))``), ``total`` (``sum_i
        C_{i,perm[i]}`` from the centred points), ``peak_bytes`` (estimate of the largest working
        set), ``candidates``, ``n``, ``d``, ``p``, ``auction_bids`` (bids of the warm-start
        auction, at most ``AUCTION_MAX_BIDS n``), and timings ``t_candidates``, ``t_auction``, ``t_solve``,
        ``t_certify`` (seconds).

    Raises
    ------
    RuntimeError
        When ``max_rounds`` rounds did not certify (never seen on point clouds; no uncertified
        permutation is ever returned).
    """
    X, Y = _check_clouds(X, Y)
    p = check_real("p", p, min_value=1.0)
    if k is None:
        k = K_LOW_D if X.shape[1] <= LOW_D else K_DEFAULT
    k = check_int("k", k, min_value=1)
    block = check_int("block", block, min_value=8)
    max_rounds = check_int("max_rounds", max_rounds, min_value=1)
    if candidates not in ("auto", "tree", "blocked"):
        raise ValueError(f"candidates={candidates!r} is not known; allowed: 'auto', 'tree', 'blocked'.")
    if not isinstance(return_info, (bool, np.bool_)):
        raise TypeError(f"return_info must be a bool, got {return_info!r}.")
    n, d = X.shape
    method = ("tree" if d <= TREE_MAX_D else "blocked") if candidates == "auto" else candidates
    info = dict(n=n, d=d, p=p, candidates=method, certified=True, rounds=0, edges=0,
                worst_reduced_cost=0.0, tol=0.0, gap=0.0, gap_bound=0.0, total=0.0,
                peak_bytes=0, passes=0, local_rounds=0, auction_bids=0, t_candidates=0.0, t_auction=0.0,
                t_solve=0.0, t_certify=0.0)
    if n <= 1:
        perm = np.zeros(n, dtype=np.intp)
        if n == 1:
            info.update(edges=1, total=float(np.sum(np.abs(X[0] - Y[0]) ** 2) ** (p / 2)))
        return (perm, info) if return_info else perm
    perm, info = _solve(X, Y, p, min(k, n), min(block, max(8, n)), method, max_rounds, info)
    return (perm, info) if return_info else perm


def wasserstein_clouds(X, Y, p: float = 2.0, **kwargs) -> float:
    """Exact ``W_p`` between the uniform empirical measures of ``X`` (n, d) and ``Y`` (n, d).

    .. math:: W_p(\\mu_n, \\nu_n) = \\Big(\\frac1n \\min_{\\pi \\in S_n}
              \\sum_i |x_i - y_{\\pi(i)}|^p\\Big)^{1/p}

    Matrix-free and certified (:func:`match_clouds`; ``kwargs`` go there). Same value as
    :func:`otlmc.transport.empirical_wasserstein` up to the rounding of the cost formula (this one
    sums ``|x_i - y_j|^p`` computed from differences, which is the more accurate of the two).
    """
    X, Y = _check_clouds(X, Y)
    _, info = match_clouds(X, Y, p=p, return_info=True, **kwargs)
    return float(max(info["total"], 0.0) / X.shape[0]) ** (1.0 / info["p"])


def _solve(X, Y, p, k, bj, method, max_rounds, info):
    n, d = X.shape
    pkind, pexp = _p_kind(p), p / 2.0
    shift = 0.5 * (X.mean(0) + Y.mean(0))  # (d,) one common shift: C unchanged
    ox, oy = _kd_order(X - shift), _kd_order(Y - shift)
    Xc = np.ascontiguousarray(X[ox] - shift)  # (n, d) centred, in KD order
    Yc = np.ascontiguousarray(Y[oy] - shift)  # (n, d)
    t0 = time.perf_counter()
    kc = min(n, max(CHECK_K, k))
    near_r = _knn(Xc, Yc, kc, method, bj, pkind, pexp)  # (n, kc) nearest y of each x, nearest first
    near_c = _knn(Yc, Xc, kc, method, bj, pkind, pexp)  # (n, kc) nearest x of each y
    indptr, indices, costs = _build_graph(Xc, Yc, np.ascontiguousarray(near_r[:, :k]),
                                          np.ascontiguousarray(near_c[:, :k]), pkind, pexp)
    # the local check set: kc neighbours in both directions (tested before every blocked pass)
    cptr, cidx, ccost = _build_graph(Xc, Yc, near_r, near_c, pkind, pexp)
    del near_r, near_c
    info["t_candidates"] = time.perf_counter() - t0
    tiles = _Tiles(Yc, bj)
    starts = np.zeros((n + ROW_BLOCK - 1) // ROW_BLOCK, dtype=np.int64)
    rx = float(np.sqrt((Xc * Xc).sum(1).max()))
    ry = float(np.sqrt((Yc * Yc).sum(1).max()))
    cmax = (rx + ry) ** p  # bound on every C_ij
    t1 = time.perf_counter()
    v = _col_min(indptr, indices, costs, n)  # (n,) column reduction
    eps0 = float(np.mean(np.minimum.reduceat(costs, indptr[:-1])))  # typical nearest-pair cost
    if not eps0 > 0.0:
        eps0 = max(float(costs.mean()), 1e-300) if costs.max() > 0 else 1.0
    v, info["auction_bids"] = _auction(n, indptr, indices, costs, v, eps0, eps0 * AUCTION_EPS_MIN,
                                       AUCTION_THETA, AUCTION_MAX_BIDS * n)
    row2col = np.full(n, -1, dtype=np.int64)
    info["t_auction"] = time.perf_counter() - t1
    peak = 0
    local_rounds = 0
    stale = False
    for rnd in range(1, max_rounds + 1):
        t1 = time.perf_counter()
        fresh = rnd == 1 or stale
        row2col, v, ok = _sparse_ssp(n, indptr, indices, costs, v, row2col,
                                     ARR_FACTOR if fresh else 0, True)
        info["t_solve"] += time.perf_counter() - t1
        if not ok:  # cannot happen: the diagonal pairs always admit a perfect matching
            raise RuntimeError("the candidate graph has no perfect matching (internal error).")
        matched = _matched(indptr, indices, costs, row2col)  # (n,)
        u = matched - v[row2col]  # (n,) every matched edge tight
        tol = 2.0 * (d + 8) * _EPS * (2.0 * cmax + float(np.abs(u).max()) + float(np.abs(v).max()))
        # graph (indices + costs), SSP work arrays (heap of E + n entries, 8 arrays of n), the
        # check set, the pass's outputs, the points and their tiles
        peak = max(peak, 16 * indices.size + 16 * (indices.size + n) + 64 * n + 16 * cidx.size
                   + n * (8 + 16 * KV) + 16 * n * d + tiles.Y.nbytes + 8 * tiles.nb * bj)
        info.update(rounds=rnd, edges=int(indices.size), peak_bytes=int(peak))
        viol, found = _check_local(cptr, cidx, ccost, u, v, tol, KV)  # cheap: O(n kc)
        if found == 0:
            t1 = time.perf_counter()
            rowmin, _, viol = _scan(Xc, tiles.Y, tiles.weights(v), u + tol, u - tol, KV,
                                    ROW_BLOCK, pexp, starts, d, pkind)  # (n,), (n, KV): all pairs
            info["t_certify"] += time.perf_counter() - t1
            info["passes"] += 1
            red = rowmin - u  # (n,) min_j r_ij per row
            worst = float(red.min())
            info.update(worst_reduced_cost=worst, tol=tol, gap=float(np.maximum(-red, 0.0).sum()))
            if worst >= -tol:
                info["gap_bound"] = n * (tol + max(0.0, -worst))
                info["total"] = float(matched.sum())
                info["local_rounds"] = local_rounds
                perm = np.empty(n, dtype=np.intp)
                perm[ox] = oy[row2col]  # back to the callers' labels
                return perm, info
        else:
            local_rounds += 1
        indptr, indices, costs, added = _add_edges(Xc, Yc, indptr, indices, costs, viol, pkind, pexp)
        if added == 0:
            # the violated pairs are graph edges: rounding in the warm-started duals; solve the
            # graph afresh from the current potentials (twice in a row would be a bug)
            if stale:
                raise RuntimeError(f"round {rnd}: violated pairs (tol {tol:.1e}) are already "
                                   "candidates after a fresh solve; the sparse solve is wrong.")
            row2col = np.full(n, -1, dtype=np.int64)
        stale = added == 0
    raise RuntimeError(f"not certified after max_rounds={max_rounds} rounds (worst reduced cost "
                       f"{info['worst_reduced_cost']:.3e}, tol {info['tol']:.1e}); raise max_rounds.")
