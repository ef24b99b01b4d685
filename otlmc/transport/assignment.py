"""Exact linear assignment: ``min sum_i C[i, col(i)]`` over injective assignments, scipy's meaning.

Every optimal-transport number in the project goes through :func:`linear_assignment`: by
Birkhoff's theorem (Ferbach et al., Lemma B.3) the exact ``W_p`` between two ``n``-point empirical
measures and the layer-wise weight matching (Eq. 2) are both assignment problems.

What is solved
--------------
The same problems as :func:`scipy.optimize.linear_sum_assignment`: square or rectangular costs,
``maximize``, and forbidden edges written as ``+inf`` (``-inf`` with ``maximize=True``); a matrix
in which no complete assignment avoids the forbidden edges raises ``ValueError``. NaN, ``-inf``
(``+inf`` when maximising) and non-real dtypes are refused. Integer and boolean inputs are
converted to float64, like scipy does.

Method (square, finite, ``n >= DENSE_MIN_N``)
----------------------------------------------
1. **Profile.** A cost whose double differences are rank one,
   ``C_ij = r_i + c_j + a_i b_j`` (Machol-Wien ``C_ij = i j``, products of two vectors, 1-D squared
   distances), is solved by sorting (rearrangement inequality) with dual potentials built along the
   sorted chain. Below ``SPARSE_MIN_N`` everything else goes to the dense Jonker-Volgenant solver
   of :mod:`otlmc.transport.dense_jv` on ``C - v0`` (``v0``: column minima) and is certified as in
   step 4. From ``SPARSE_MIN_N`` on, a cost with heavy ties at the bottom of its rows (few
   distinct values: small integers, Rademacher features) goes to scipy's LAPJV, which is fastest
   there; the rest to steps 2-4.
2. **Sparse candidate graph.** For every row, the columns whose reduced cost ``C_ij - v_j``
   (``v`` = column minima) is at or below a threshold set from a strided sample of the row so
   that about ``k = 20`` pass (the exact ``k`` smallest where the sample misleads); the same for
   every column on ``C_ij - u_i`` (so that "popular" columns of low-rank costs do not starve the
   others); and the diagonal (a perfect matching always exists in the graph).
3. **Exact sparse solve.** Jonker-Volgenant augmenting row reduction (bounded), then successive
   shortest augmenting paths (Dijkstra on reduced costs, Hungarian potentials ``u``, ``v``).
4. **Dense certificate on reduced costs**, in one pass over ``C``. The column potentials come in
   two parts, a base ``v0`` fixed for the solve (the column minima, which are entries of ``C``,
   or the rank-one chain potentials) and a refinement ``v`` moved by the sparse solver; the graph
   stores ``C_ij - v0_j`` and every reduced cost is formed as ``(C_ij - v0_j) - v_j``. The first
   difference is exact whenever ``C_ij`` and ``v0_j`` are within a factor two (constant, row and
   column offsets, tiny ranges), so the shortest paths and the certificate work on the small
   numbers that decide the assignment, not on the offset. With
   ``g_i = r_{i,p(i)} - min_j r_ij >= 0`` (how far row ``i``'s match is above its best reduced
   cost ``r``), weak duality gives

   .. math:: \\sum_i C_{i,p(i)} - \\mathrm{OPT} \\;\\le\\; \\sum_i g_i .

   The result is accepted when every row passes
   ``g_i <= CERT_ULPS * u * (|C_{i,p(i)} - v0_{p(i)}| + |v_{p(i)}| [+ max|v0|])`` (``u = 2^-53``,
   the unit round-off; the bracket only for base potentials that are not entries of ``C``):
   each row's match is optimal up to a few units in the last place of the numbers its reduced
   costs are made of. The dense solver's potentials move along whole shortest-path trees, so a
   row is compared with columns whose potentials are unrelated to its match's: there
   ``|v_{p(i)}|`` is replaced by ``max_j |v_j|``, which bounds the potential of both columns
   compared (integer costs stay exact while it is below 2^49). The test never looks at
   ``sum_i |C_{i,p(i)}|``, so a constant, a row offset or a column offset added to ``C`` does not
   loosen it. Otherwise each failing row's violated
   edges are added and the sparse solve restarts from the current potentials; after
   ``MAX_ROUNDS`` rounds, or when two rounds in a row each clear less than a tenth of the failing
   rows, scipy answers. An uncertified dense result goes to scipy directly.

What "exact" means in float64
-----------------------------
A certified permutation's total exceeds the optimum of the float64 matrix ``C`` it was given by
at most ``info["excess_bound"]``: ``sum_i g_i`` plus the rounding of the reduced costs themselves
(one unit round-off of each of the two differences at the matched and the minimal entry of every
row). This is a few units in the last place of each row's reduced costs, never a fraction of the
total. For integer costs (offsets included) whose entries and potentials stay below about 2^49
in magnitude, every reduced cost is an exact integer and the tolerance is below 1, so a certified
permutation is exactly optimal: its total equals scipy's to the last bit. A matrix such as
``C + 1e12`` with real ``C`` has already lost the low bits of ``C`` when it was formed; what is
guaranteed is optimality for the float64 matrix passed in, the same problem scipy solves, and
comparisons with scipy are made on that matrix. Small, rectangular and ``inf``-bearing problems
(and entries beyond about 1e145, where sums of squares overflow) go to scipy directly.

CPU only: cupy inputs are copied to the host once at this boundary. The numba kernels are
compiled on first use and cached on disk. Solver diagnostics are returned with
``return_info=True``; the module keeps no state between calls.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..backend import to_numpy
from .dense_jv import solve_dense

try:  # numba is a core dependency; the guard keeps a pure-scipy path if it is broken
    import numba as _nb
except ImportError:  # pragma: no cover - exercised only in a numba-less environment
    _nb = None

#: problems smaller than this go straight to scipy; from here to ``SPARSE_MIN_N`` the dense
#: Jonker-Volgenant solver of :mod:`otlmc.transport.dense_jv` answers, certified like the rest
DENSE_MIN_N = 96
#: from this size on, the sparse candidate graph pays for itself
SPARSE_MIN_N = 384
#: augmenting row reduction steps per initially free row in the dense solver
DENSE_ARR_FACTOR = 16
#: per-row certificate tolerance in units of the round-off ``u = 2^-53`` of ``|C_ip| + |v_p|``
CERT_ULPS = 8.0
#: candidate edges per row in the first round, and how many rounds of enlargement to try
K_START = 20
MAX_ROUNDS = 10
#: the sparse path gives up early (scipy answers) when two rounds in a row each leave more than
#: this fraction of the previous round's failing rows
STALL = 0.9
#: augmenting-row-reduction steps allowed per initially free row before shortest paths take over
#: (n = 1024, k = 20, time against 16: 0.84x / 0.74x / 0.87x on gauss16 / gauss128 / wm128, the
#: same on gauss2 and uniform2; n = 2048 ... 8192: equal or faster. With k = 12, 32 sent wm6 at
#: n = 4096 to scipy after stalled rounds, which k = 20 does not)
ARR_FACTOR = 32
#: candidate graph: thresholds are the CAND_R-th smallest of a sample of CAND_R m / k entries;
#: a row (column) with fewer than CAND_MIN candidates gets its exact k smallest instead
CAND_R = 4
CAND_MIN = 4
#: warm start of later rounds by lowering violated columns' potentials (else raising rows')
WARM_COLS = True
#: profile: rows sampled, and the tie ratio (entries at or below a row's k-th smallest reduced
#: cost, over k; median of the sampled rows) from which a cost counts as tied and goes to scipy.
#: n = 4096: integers 0..99 score 3.7 (sparse path 2.7x scipy), 0..149 score 2.4 (0.9x); a
#: matrix with every column duplicated scores 2 and stays on the sparse path
PROFILE_ROWS = 32
#: the k of the tie ratio (the thresholds above were calibrated with it)
PROFILE_K = 12
TIE_RATIO = 2.5
#: residual (relative to the largest sampled double difference, plus round-off) up to which
#: the sampled double differences count as rank one
RANK1_RTOL = 1e-9

_U = np.finfo(np.float64).eps / 2  # unit round-off 2^-53
_TINY = np.finfo(np.float64).smallest_subnormal

__all__ = ["linear_assignment", "certify", "DENSE_MIN_N", "SPARSE_MIN_N"]


# ----------------------------------------------------------------------------- public API
def linear_assignment(C, *, maximize: bool = False, return_info: bool = False):
    """Optimal assignment for the cost matrix ``C`` (n_rows, n_cols), scipy's problem.

    .. math:: \\min_{\\sigma} \\sum_i C_{i, \\sigma(i)} \\quad \\text{over injections } \\sigma
              \\text{ of the shorter side into the longer}

    Parameters
    ----------
    C : array_like, shape (n_rows, n_cols)
        Real costs (numpy or cupy; bool, integer or float, converted to float64 on the host).
        ``+inf`` marks a forbidden edge (``-inf`` when ``maximize``). NaN, ``-inf`` (``+inf``
        when maximising), complex, object and string arrays are refused.
    maximize : bool, keyword-only
        Maximise the total instead.
    return_info : bool, keyword-only
        Also return the solver's diagnostics.

    Returns
    -------
    perm : ndarray of intp
        ``n_rows <= n_cols`` (square included): shape (n_rows,), row ``i`` is assigned to column
        ``perm[i]`` (distinct columns); the total is ``C[arange(n_rows), perm].sum()``.
        ``n_rows > n_cols``: shape (n_cols,), column ``j`` is assigned to row ``perm[j]``; the
        total is ``C[perm, arange(n_cols)].sum()``. Either way: one entry per element of the
        shorter side, indexing the longer side.
    info : dict, only with ``return_info=True``
        ``method`` (``"scipy"``, ``"sparse"``, ``"rank1"``), ``reason`` (why that path), ``shape``,
        ``rounds``, ``edges`` (candidate edges in the last round), and for certified results
        ``gap`` (``sum_i g_i``), ``worst`` (``max_i g_i``), ``tol`` (``sum_i`` of the per-row
        tolerances) and ``excess_bound`` (see the module docstring); NaN where scipy answered.

    Raises
    ------
    ValueError
        Wrong rank, NaN or wrong-signed infinities, or no complete assignment avoids the
        forbidden edges ("infeasible").
    TypeError
        ``C`` is not a real numeric array, or a flag is not a bool.
    """
    for name, flag in (("maximize", maximize), ("return_info", return_info)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {flag!r} ({type(flag).__name__}).")
    C, kind, colmin = _as_cost(C, bool(maximize), colmin=True)  # (n_rows, n_cols) float64, minimised
    nr, nc = C.shape
    if nr != nc:
        reason = "rectangular"
    elif kind == "forbidden":
        reason = "forbidden edges"
    elif kind == "huge":
        reason = "entries near the float range"
    elif nr < DENSE_MIN_N:
        reason = "small"
    elif _nb is None:  # pragma: no cover
        reason = "numba unavailable"
    else:
        perm, info = _solve_square(C, colmin)
        return (perm, info) if return_info else perm
    perm = _scipy_perm(C, maximize)
    info = _info("scipy", reason, C.shape, edges=nr * nc)
    return (perm, info) if return_info else perm


def certify(C, perm, v) -> dict:
    r"""Certificate of the permutation ``perm`` (n,) for the square problem ``C`` (n, n).

    For any column potentials ``v`` (n,), ``u'_i = min_j (C_ij - v_j)`` makes ``(u', v)`` dual
    feasible on all ``n^2`` edges, so with ``g_i = (C_{i,p(i)} - v_{p(i)}) - u'_i >= 0``

    .. math:: \sum_i C_{i,p(i)} - \mathrm{OPT} \;\le\; \sum_i g_i .

    Returns a dict: ``certified`` (every ``g_i`` within its row's tolerance
    ``CERT_ULPS * u * (|C_{i,p(i)} - v_{p(i)}| + max_j |v_j|)``), ``gap`` (``sum_i g_i``), ``worst``
    (``max_i g_i``), ``tol`` (sum of the row tolerances) and ``excess_bound`` (``gap`` plus the
    rounding of the reduced costs: a bound on ``sum_i C_{i,p(i)} - OPT`` for the float64 ``C``).
    """
    C, kind = _as_cost(C, False)
    n = C.shape[0]
    if C.shape != (n, n):
        raise ValueError(f"C must be square, got shape {C.shape}.")
    if kind != "finite":
        raise ValueError(f"C has {'+inf' if kind == 'forbidden' else 'near-overflow'} entries; "
                         "certify() needs finite costs below 1e154 in magnitude.")
    perm = np.asarray(perm)
    if perm.shape != (n,) or perm.dtype.kind not in "iu" or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"perm must be a permutation of 0..{n - 1}, got shape {perm.shape}, dtype {perm.dtype}.")
    v = np.asarray(to_numpy(v))
    if v.dtype.kind not in "biuf":
        raise TypeError(f"v must be a real array, got dtype {v.dtype}.")
    v = np.ascontiguousarray(v, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"v has shape {v.shape}, expected ({n},).")
    if not np.isfinite(v).all():
        raise ValueError("v contains non-finite values; potentials must be finite.")
    cert, _ = _certificate(C, perm.astype(np.int64), v, np.zeros(n), 1, v0_exact=False)
    del cert["failing"]
    return cert


# ----------------------------------------------------------------------------- input
def _as_cost(C, maximize: bool, colmin: bool = False):
    """``C`` as a C-contiguous float64 minimisation matrix, and its kind: ``"finite"`` (the sum
    of squares is finite, so every ``|C_ij| < 1.3e154``), ``"forbidden"`` (``+inf`` entries) or
    ``"huge"`` (finite, but large enough that sums of squares, and maybe differences, overflow).

    ``colmin=True`` also returns the column minima (n_cols,) of a finite matrix, taken in the same
    pass over ``C`` (None otherwise): the solvers' base potentials, one read of ``C`` saved.
    """
    A = np.asarray(to_numpy(C)) if not isinstance(C, np.ndarray) else C
    if A.dtype.kind not in "biuf":
        raise TypeError(
            f"C must be a real array (bool, integer or float), got dtype {A.dtype}; "
            "complex, object and string costs are not accepted.")
    if A.ndim != 2:
        raise ValueError(f"C must be 2-dimensional, got shape {tuple(A.shape)}.")
    A = np.ascontiguousarray(A, dtype=np.float64)
    if maximize:
        A = -A  # (n_rows, n_cols) fresh copy: the caller's array is never modified
    if A.size == 0:
        return (A, "finite", None) if colmin else (A, "finite")
    flat = A.ravel()  # (n_rows n_cols,) view
    with np.errstate(all="ignore"):
        # one pass settles the common case: a finite sum of squares means no NaN, no inf and
        # every |C_ij| < sqrt(float max) ~ 1.3e154, so no difference of entries overflows. A
        # serial kernel, not BLAS: a threaded ddot costs 5-12 ms at n = 256..1024 on busy cores
        if colmin and _nb is not None:
            ss, mins = _sum_squares_colmin(A)
        else:
            ss, mins = (_sum_squares(flat) if _nb is not None else np.dot(flat, flat)), None
        if np.isfinite(ss):
            return (A, "finite", mins) if colmin else (A, "finite")
    lo, hi = A.min(), A.max()  # NaN propagates into both
    if np.isnan(lo) or lo == -np.inf:
        counts = {"NaN": int(np.isnan(A).sum()), ("+inf" if maximize else "-inf"): int((A == -np.inf).sum())}
        found = " and ".join(f"{c} {name}" for name, c in counts.items() if c)
        raise ValueError(
            f"C contains {found} entr{'y' if sum(counts.values()) == 1 else 'ies'}; costs must be real "
            f"numbers, with {'-inf' if maximize else '+inf'} only to forbid an edge"
            f"{' (maximize=True)' if maximize else ''}.")
    kind = "forbidden" if hi == np.inf else "huge"
    return (A, kind, None) if colmin else (A, kind)


def _scipy_perm(C: np.ndarray, maximize: bool = False) -> np.ndarray:
    """scipy's exact solution of the minimisation ``C`` in this module's return convention."""
    nr, nc = C.shape
    try:
        rows, cols = linear_sum_assignment(C)
    except ValueError as exc:
        if "infeasible" not in str(exc):
            raise
        raise ValueError(
            f"C is infeasible: no assignment of all {min(nr, nc)} {'rows' if nr <= nc else 'columns'} "
            f"avoids the forbidden ({'-inf' if maximize else '+inf'}) entries.") from None
    if nr <= nc:
        perm = np.empty(nr, dtype=np.intp)
        perm[rows] = cols
    else:
        perm = np.empty(nc, dtype=np.intp)
        perm[cols] = rows
    return perm


def _info(method: str, reason: str, shape, *, rounds: int = 0, edges: int = 0, cert=None) -> dict:
    info = dict(method=method, reason=reason, shape=tuple(shape), rounds=rounds, edges=int(edges),
                gap=np.nan, worst=np.nan, tol=np.nan, excess_bound=np.nan)
    if cert is not None:
        info.update({k: cert[k] for k in ("gap", "worst", "tol", "excess_bound")})
    return info


# ----------------------------------------------------------------------------- certificate
def _certificate(C, row2col, v0, v, k: int, v0_exact: bool = True, any_column: bool = False):
    """Per-row certificate of ``row2col`` (n,) under the potentials ``v0 + v`` (n,) and, for rows
    that fail, their (at most ``k``) most violated edges (n, k; -1 where none).

    ``v0_exact``: the base potentials are entries of ``C`` (column minima). Otherwise they carry
    a rounding of their own, and every row's tolerance grows by ``CERT_ULPS u max|v0|``.
    ``any_column``: a row's tolerance is measured on the refinement of *both* columns it compares,
    its match and its cheapest one (bounded by ``max|v|``), not on its match alone. The dense
    solver needs this: its potentials move along whole shortest-path trees, so a row whose match
    has a small potential can be compared with a column whose potential is large.
    """
    n = C.shape[0]
    matched = C[np.arange(n), row2col] - v0[row2col]  # (n,) first subtraction, as in the kernel
    thr = matched - v[row2col]  # (n,) reduced cost of the match, same float operations
    umin = _row_min_reduced(C, v0, v)  # (n,) includes j = p(i)
    g = thr - umin  # (n,) >= 0
    base = (0.0 if v0_exact else float(np.abs(v0).max())) + (float(np.abs(v).max()) if any_column else 0.0)
    row_tol = CERT_ULPS * _U * (np.abs(matched) + np.abs(v[row2col]) + base) + 4 * _TINY  # (n,)
    bad = g > row_tol  # (n,)
    top = _violations(C, v0, v, thr, np.flatnonzero(bad), k)  # (n, k) -1 outside the failing rows
    gap = float(g.sum())
    # each reduced cost carries two roundings: u |C_ij - v0_j| and u |result|; at the row minimum
    # |C_ij - v0_j| <= |umin_i| + max|v|
    rounding = _U * float((np.abs(matched) + np.abs(thr) + 2 * np.abs(umin)).sum() + n * np.abs(v).max())
    cert = dict(certified=not bad.any(), gap=gap, worst=float(g.max()), tol=float(row_tol.sum()),
                excess_bound=float((gap + rounding) * (1 + 2 * n * _U)), failing=int(bad.sum()))
    return cert, top


# ----------------------------------------------------------------------------- profile
def _sample_rows(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(PROFILE_ROWS, n)).astype(np.int64))


def _tie_ratio(C, v, k: int) -> float:
    """Median over sampled rows of ``#{j : C_ij - v_j <= k-th smallest}`` / ``k`` (``v`` may be None)."""
    counts = _tie_counts(C, np.zeros(C.shape[1]) if v is None else v, _sample_rows(C.shape[0]), k)  # (s,)
    return float(np.median(counts)) / k


def _rank1_start(C):
    """Sorted matching and chain potentials when ``C_ij = r_i + c_j + a_i b_j`` on a sample, else None.

    The double differences ``D_ij = C_ij - C_0j - C_i0 + C_00 = (a_i - a_0)(b_j - b_0)`` of such a
    cost are rank one: ``D = A B^T / K`` with ``A = D[:, j1]``, ``B = D[i1, :]``, ``K = D[i1, j1]``.
    ``sum_i D_{i,p(i)}`` is minimised by pairing ``A/K`` ascending with ``B`` descending
    (rearrangement inequality), and the potentials that make each row tight on its own column and
    on the next one in that order are dual feasible (Monge property); they are accumulated from
    ``C`` itself with compensated sums. The dense certificate decides; None is only a cheap "no".
    """
    n = C.shape[0]
    rows = _sample_rows(n)
    K, i1, j1, scale = _double_differences(C, rows)  # the largest sampled D_ij and where it is
    if abs(K) <= 1e3 * _U * scale:  # no rank-one part above round-off
        return None
    r0 = C[:, 0].copy()  # (n,)
    A = C[:, j1] - C[0, j1] - (r0 - C[0, 0])  # (n,)
    B = C[i1] - C[0] - (r0[i1] - C[0, 0])  # (n,)
    # near the float range the model check may overflow or give NaN: then "no"
    resid = _rank1_residual(C, rows, A, B, K)
    if not resid <= RANK1_RTOL * abs(K) + 64 * _U * scale:
        return None
    ro = np.argsort(A / K, kind="stable")  # rows by a ascending
    co = np.argsort(-B, kind="stable")  # columns by b descending
    perm = np.empty(n, dtype=np.int64)
    perm[ro] = co
    return perm, _chain_potentials(C, ro, co)


# ----------------------------------------------------------------------------- solver
def _graph(C, v0, indptr, indices, costs):
    """The graph with its edge costs reduced by the base potentials: ``C_ij - v0_j``."""
    return indptr, indices, costs - v0[indices]


def _solve_square(C: np.ndarray, colmin=None):
    """Profile, then sparse rounds with a dense certificate; scipy when either says so.

    Potentials come in two parts: a base ``v0`` (column minima, or the rank-one chain
    potentials), fixed for the whole solve, and a refinement ``v`` that the sparse solver moves.
    The graph stores ``C_ij - v0_j``, which is exact when ``C_ij`` and ``v0_j`` are within a factor
    two (offsets, tiny ranges), so the shortest-path arithmetic works on the small numbers that
    decide the assignment instead of on the offset.
    """
    n = C.shape[0]
    k = min(K_START, n)
    start = _rank1_start(C)
    v = np.zeros(n)  # (n,) refinement of the base potentials
    if start is not None:
        row2col, v0 = start
        cert, top = _certificate(C, row2col, v0, v, k, v0_exact=False)
        if cert["certified"]:
            return row2col.astype(np.intp), _info("rank1", "rank-one double differences", C.shape,
                                                  rounds=0, edges=n, cert=cert)
        # nearly rank one: repair from the sorted matching and its potentials
        top_r, u = _candidates_rows(C, v0, k)  # (n, 3k) -1 padded, (n,) u: row reduction
        graph = _assemble(C, top_r, _candidates_cols(C, u, k))
        graph = _merge(C, graph[0], graph[1], np.concatenate([row2col[:, None], top], 1))
        arr = 0
    elif n < SPARSE_MIN_N:
        # small: a dense solve on C - v0 (exact where C and v0 are close, as in the graph)
        v0 = _column_min(C) if colmin is None else colmin  # (n,) base potentials: entries of C
        row2col, v = solve_dense(C - v0, DENSE_ARR_FACTOR)  # (n,), (n,)
        cert, _ = _certificate(C, row2col, v0, v, k, any_column=True)
        if cert["certified"]:
            return row2col.astype(np.intp), _info("dense", "certified", C.shape, rounds=1,
                                                  edges=n * n, cert=cert)
        return _scipy_perm(C), _info("scipy", "dense not certified", C.shape, rounds=1, edges=n * n)
    else:
        # heavy ties: in the raw rows (no dense pass spent before scipy), then after column reduction
        if _tie_ratio(C, None, min(PROFILE_K, n)) >= TIE_RATIO:
            return _scipy_perm(C), _info("scipy", "ties", C.shape, edges=n * n)
        v0 = _column_min(C) if colmin is None else colmin  # (n,) column reduction: base potentials
        if _tie_ratio(C, v0, min(PROFILE_K, n)) >= TIE_RATIO:
            return _scipy_perm(C), _info("scipy", "ties", C.shape, edges=n * n)
        top_r, u = _candidates_rows(C, v0, k)  # (n, 3k) -1 padded, (n,) u: row reduction
        graph = _assemble(C, top_r, _candidates_cols(C, u, k))
        row2col = np.full(n, -1, dtype=np.int64)
        arr = ARR_FACTOR
    indptr, indices, costs = _graph(C, v0, *graph)
    failing = []
    for rnd in range(1, MAX_ROUNDS + 1):
        # augmenting row reduction only from scratch: in later rounds its bidding on popular
        # columns undoes the duals the certificate just used (many more rounds on wm6)
        row2col, v, ok = _sparse_ssp(n, indptr, indices, costs, v, row2col,
                                     arr if rnd == 1 else 0, WARM_COLS)
        if not ok:  # cannot happen: the diagonal edges always admit a perfect matching
            break
        cert, top = _certificate(C, row2col, v0, v, k, v0_exact=start is None)
        if cert["certified"]:
            return row2col.astype(np.intp), _info("sparse", "certified", C.shape, rounds=rnd,
                                                  edges=indices.size, cert=cert)
        failing.append(cert["failing"])
        if len(failing) >= 3 and failing[-1] > STALL * failing[-2] and failing[-2] > STALL * failing[-3]:
            break  # two rounds in a row removed almost no failing rows: scipy is faster from here
        # enlarge the graph with the violated edges, then solve again from the current duals
        indptr, indices, costs = _graph(C, v0, *_merge(C, indptr, indices, top))
    reason = "stalled" if len(failing) < MAX_ROUNDS else "round limit"
    return _scipy_perm(C), _info("scipy", reason, C.shape, rounds=len(failing), edges=indices.size)


# ----------------------------------------------------------------------------- numba kernels
if _nb is not None:
    # serial kernels: on 2 shared cores a parallel region's fork/join costs more than it saves
    _jit = _nb.njit(cache=True, nogil=True)

    @_jit
    def _column_min(C):
        n, m = C.shape
        out = np.empty(m)
        out[:] = np.inf
        for i in range(n):  # row-major sweep (cache friendly); serial by design
            for j in range(m):
                if C[i, j] < out[j]:
                    out[j] = C[i, j]
        return out

    @_jit
    def _tie_counts(C, v, rows, k):
        """For each sampled row ``i``: ``#{j : C_ij - v_j <= k-th smallest of the row}`` (s,)."""
        m = C.shape[1]
        red = np.empty(m)
        hv = np.empty(k)
        hi = np.empty(k, dtype=np.int64)
        out = np.empty(rows.size, dtype=np.int64)
        for t in range(rows.size):
            row = C[rows[t]]
            for j in range(m):
                red[j] = row[j] - v[j]
            _heap_k(red, k, hv, hi)
            kth = hv[0]
            c = 0
            for j in range(m):
                c += red[j] <= kth
            out[t] = c
        return out

    @_jit
    def _double_differences(C, rows):
        """The sampled double difference ``D_ij = (C_ij - C_0j) - (C_i0 - C_00)`` of largest
        magnitude (first in row-major order among equals), its row and column, and the scale
        ``max|C_rows| + max|C_0.| + max|C_.0|`` (the sampled rows, row 0, column 0)."""
        n, m = C.shape
        best = -1.0
        K, i1, j1 = 0.0, 0, 0
        amax = 0.0
        c00 = C[0, 0]
        for t in range(rows.size):
            i = rows[t]
            row = C[i]
            ri = C[i, 0] - c00
            for j in range(m):
                x = row[j]
                amax = max(amax, abs(x))
                dij = (x - C[0, j]) - ri
                if abs(dij) > best:
                    best = abs(dij)
                    K, i1, j1 = dij, i, j
        a0 = 0.0
        for j in range(m):
            a0 = max(a0, abs(C[0, j]))
        b0 = 0.0
        for i in range(n):
            b0 = max(b0, abs(C[i, 0]))
        return K, i1, j1, amax + a0 + b0

    @_jit
    def _rank1_residual(C, rows, A, B, K):
        """``max |D_ij - (A_i / K) B_j|`` over the sampled rows; NaN if any term is NaN."""
        m = C.shape[1]
        c00 = C[0, 0]
        worst = 0.0
        for t in range(rows.size):
            i = rows[t]
            row = C[i]
            ri = C[i, 0] - c00
            a = A[i] / K
            for j in range(m):
                x = abs(((row[j] - C[0, j]) - ri) - a * B[j])
                if x != x:
                    return np.nan
                worst = x if x > worst else worst
        return worst

    @_jit
    def _row_min_reduced(C, v0, v):
        """Row minima (n,) of ``(C_ij - v0_j) - v_j``; four running minima per row (no loop-carried
        dependence on a single one), so the loop vectorises. The minimum is order independent."""
        n, m = C.shape
        out = np.empty(n)
        for i in range(n):
            b0 = np.inf
            b1 = np.inf
            b2 = np.inf
            b3 = np.inf
            j = 0
            while j + 4 <= m:
                r0 = (C[i, j] - v0[j]) - v[j]
                r1 = (C[i, j + 1] - v0[j + 1]) - v[j + 1]
                r2 = (C[i, j + 2] - v0[j + 2]) - v[j + 2]
                r3 = (C[i, j + 3] - v0[j + 3]) - v[j + 3]
                b0 = r0 if r0 < b0 else b0
                b1 = r1 if r1 < b1 else b1
                b2 = r2 if r2 < b2 else b2
                b3 = r3 if r3 < b3 else b3
                j += 4
            while j < m:
                r0 = (C[i, j] - v0[j]) - v[j]
                b0 = r0 if r0 < b0 else b0
                j += 1
            b0 = b1 if b1 < b0 else b0
            b2 = b3 if b3 < b2 else b2
            out[i] = b2 if b2 < b0 else b0
        return out

    @_jit
    def _sum_squares(x):
        """``sum_i x_i^2`` (x: 1-D) with four partial sums; finite iff every ``|x_i| < 1.3e154``."""
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        m = x.size
        j = 0
        while j + 4 <= m:
            s0 += x[j] * x[j]
            s1 += x[j + 1] * x[j + 1]
            s2 += x[j + 2] * x[j + 2]
            s3 += x[j + 3] * x[j + 3]
            j += 4
        while j < m:
            s0 += x[j] * x[j]
            j += 1
        return (s0 + s1) + (s2 + s3)

    @_jit
    def _sum_squares_colmin(C):
        """:func:`_sum_squares` of the 2-D ``C`` (summed row by row) and its column minima (m,), in
        one row-major pass."""
        n, m = C.shape
        mins = C[0].copy()
        total = 0.0
        for i in range(n):
            row = C[i]
            total += _sum_squares(row)
            for j in range(m):
                if row[j] < mins[j]:
                    mins[j] = row[j]
        return total, mins

    @_nb.njit(cache=True, nogil=True, inline="always")
    def _sift_down(hv, hi, p, k):
        """Restore the max-heap ``hv[:k]`` (payload ``hi``) below position ``p``."""
        while True:
            c = 2 * p + 1
            if c >= k:
                break
            if c + 1 < k and hv[c + 1] > hv[c]:
                c += 1
            if hv[c] > hv[p]:
                hv[c], hv[p] = hv[p], hv[c]
                hi[c], hi[p] = hi[p], hi[c]
                p = c
            else:
                break

    @_jit
    def _heap_k(vals, k, hv, hi):
        """The ``k`` smallest of ``vals`` (1-D) into the max-heap ``hv[:k]`` with their positions
        ``hi[:k]``."""
        for t in range(k):
            hv[t] = vals[t]
            hi[t] = t
        for s in range(k // 2 - 1, -1, -1):
            _sift_down(hv, hi, s, k)
        for t in range(k, vals.size):
            if vals[t] < hv[0]:
                hv[0] = vals[t]
                hi[0] = t
                _sift_down(hv, hi, 0, k)

    @_jit
    def _candidates_rows(C, v, k):
        """Candidate columns of every row: those whose reduced cost ``C_ij - v_j`` is at or below
        a threshold ``tau_i``, the ``CAND_R``-th smallest of a strided sample of the row sized so
        that about ``k`` columns pass. A row where fewer than ``CAND_MIN`` or more than ``3 k``
        pass gets its exact ``k`` smallest instead. One pass over ``C`` and no heap for most rows (an
        exact top-``k`` heap costs about ``k log(m / k)`` sift-downs per row).

        Returns the columns (n, 3k), -1 padded, and the row minima (n,) of ``C_ij - v_j``.
        """
        n, m = C.shape
        cap = 3 * k
        lo = min(CAND_MIN, k)
        idx = np.full((n, cap), -1, dtype=np.int64)
        rmin = np.empty(n)
        stride = max(1, k // CAND_R)
        s = (m + stride - 1) // stride  # sample: every stride-th column, about CAND_R m / k of them
        r = min(CAND_R, s)
        samp = np.empty(s)
        red = np.empty(m)
        hv = np.empty(max(k, r))
        hi = np.empty(max(k, r), dtype=np.int64)
        for i in range(n):
            row = C[i]
            for t in range(s):
                samp[t] = row[t * stride] - v[t * stride]
            _heap_k(samp, r, hv, hi)
            tau = hv[0]
            out = idx[i]
            cnt = 0
            best = np.inf
            j = 0
            while j + 8 <= m:  # reject eight at a time by their minimum (no dependent chain)
                r0 = row[j] - v[j]
                r1 = row[j + 1] - v[j + 1]
                r2 = row[j + 2] - v[j + 2]
                r3 = row[j + 3] - v[j + 3]
                r4 = row[j + 4] - v[j + 4]
                r5 = row[j + 5] - v[j + 5]
                r6 = row[j + 6] - v[j + 6]
                r7 = row[j + 7] - v[j + 7]
                a = min(min(min(r0, r1), min(r2, r3)), min(min(r4, r5), min(r6, r7)))
                if a <= tau:
                    best = a if a < best else best
                    for t in range(8):
                        x = row[j + t] - v[j + t]
                        if x <= tau:
                            if cnt < cap:
                                out[cnt] = j + t
                            cnt += 1
                j += 8
            while j < m:
                x = row[j] - v[j]
                if x <= tau:
                    best = x if x < best else best
                    if cnt < cap:
                        out[cnt] = j
                    cnt += 1
                j += 1
            if cnt < lo or cnt > cap:
                for jj in range(m):
                    red[jj] = row[jj] - v[jj]
                _heap_k(red, k, hv, hi)
                best = np.inf
                for t in range(cap):
                    out[t] = hi[t] if t < k else -1
                for t in range(k):
                    best = hv[t] if hv[t] < best else best
            rmin[i] = best
        return idx, rmin

    @_jit
    def _csr_union(top, topc):
        """CSR pattern ``indptr (n+1,), indices (E,)``: the columns ``top[i]`` of each row, the rows
        ``topc[j]`` of each column (``-1``: none) and the diagonal, each pair once, in that order.

        The diagonal edge ``(i, i)`` guarantees a perfect matching exists in the graph.
        """
        n = top.shape[0]
        kc = topc.shape[1]
        # rows named by the column lists: count per row, then CSR of (row -> extra columns)
        cnt = np.zeros(n + 1, dtype=np.int64)
        for j in range(n):
            for t in range(kc):
                if topc[j, t] >= 0:  # -1: fewer than kc usable rows in column j
                    cnt[topc[j, t] + 1] += 1
        for i in range(n):
            cnt[i + 1] += cnt[i]
        fill = cnt[:-1].copy()
        extra_cols = np.empty(n * kc, dtype=np.int64)
        for j in range(n):
            for t in range(kc):
                i = topc[j, t]
                if i < 0:
                    continue
                extra_cols[fill[i]] = j
                fill[i] += 1
        indptr, indices = _csr_add(np.zeros(n + 1, dtype=np.int64), np.empty(0, dtype=np.int64), top)
        indptr, indices = _csr_join(indptr, indices, cnt, extra_cols)
        return _csr_join(indptr, indices, np.arange(n + 1), np.arange(n))  # the diagonal

    @_jit
    def _with_costs(C, indptr, indices):
        """The CSR pattern ``indptr, indices`` and the costs ``C[i, indices[q]]`` (E,) of its edges."""
        costs = np.empty(indices.size)
        for i in range(indptr.size - 1):
            for q in range(indptr[i], indptr[i + 1]):
                costs[q] = C[i, indices[q]]
        return indptr, indices, costs

    @_jit
    def _assemble(C, top, topc):
        """CSR graph of :func:`_csr_union` with its costs from ``C``: ``indptr, indices, costs``.

        The diagonal edge is used only when nothing cheaper is available, and the dense
        certificate then fails.
        """
        return _with_costs(C, *_csr_union(top, topc))

    @_jit
    def _heap_push(hk, hv, size, key, val):
        p = size
        hk[p] = key
        hv[p] = val
        while p > 0:
            q = (p - 1) >> 1
            if hk[q] > hk[p]:
                hk[q], hk[p] = hk[p], hk[q]
                hv[q], hv[p] = hv[p], hv[q]
                p = q
            else:
                break
        return size + 1

    @_jit
    def _heap_pop(hk, hv, size):
        key = hk[0]
        val = hv[0]
        size -= 1
        hk[0] = hk[size]
        hv[0] = hv[size]
        p = 0
        while True:
            c = 2 * p + 1
            if c >= size:
                break
            if c + 1 < size and hk[c + 1] < hk[c]:
                c += 1
            if hk[c] < hk[p]:
                hk[c], hk[p] = hk[p], hk[c]
                hv[c], hv[p] = hv[p], hv[c]
                p = c
            else:
                break
        return key, val, size

    @_jit
    def _sparse_ssp(n, indptr, indices, costs, v_in, row2col_in, arr_factor, warm_cols):
        """Exact assignment on a sparse graph by successive shortest augmenting paths.

        Hungarian invariant: reduced costs ``c_ij - u_i - v_j >= 0`` on every graph edge and
        ``= 0`` on matched edges. Warm start from a complete previous matching ``row2col_in`` and
        its potentials ``v_in``: with ``warm_cols`` the columns give way (see below), otherwise
        ``u_i = min_j (c_ij - v_j)`` and the still-tight matches are kept. ``arr_factor``: steps of
        augmenting row reduction per free row (0 = none). Returns ``(row2col, v, ok)``; ``ok`` is
        False when the graph has no perfect matching.
        """
        v = v_in.copy()
        u = np.empty(n)
        row2col = np.full(n, -1, dtype=np.int64)
        col2row = np.full(n, -1, dtype=np.int64)
        complete = True
        for i in range(n):
            if row2col_in[i] < 0:
                complete = False
                break
        if complete and warm_cols:
            # --- column-side warm start: keep u_i = c_{i,p(i)} - v_{p(i)} of the previous
            # (complete) matching and lower v_j just enough that every new edge has reduced
            # cost >= 0. Only the rows owning a lowered column lose their match, so a popular
            # column violated by many rows costs one augmentation, not many.
            lowered = np.zeros(n, dtype=np.bool_)
            for i in range(n):
                j0 = row2col_in[i]
                for q in range(indptr[i], indptr[i + 1]):
                    if indices[q] == j0:
                        u[i] = costs[q] - v[j0]
                        break
            for i in range(n):
                j0 = row2col_in[i]
                for q in range(indptr[i], indptr[i + 1]):
                    j = indices[q]
                    if j != j0:
                        r = costs[q] - u[i]
                        if r < v[j]:
                            v[j] = r
                            lowered[j] = True
            for i in range(n):
                j0 = row2col_in[i]
                if not lowered[j0]:
                    row2col[i] = j0
                    col2row[j0] = i
            for i in range(n):
                if row2col[i] < 0:
                    best = np.inf
                    for q in range(indptr[i], indptr[i + 1]):
                        r = costs[q] - v[indices[q]]
                        if r < best:
                            best = r
                    u[i] = best
        else:
            # --- row-side warm start / row reduction: keep v, u_i = min_j (c_ij - v_j), keep
            # the previous matches that are still tight, then greedily take free tight columns
            for i in range(n):
                best = np.inf
                for q in range(indptr[i], indptr[i + 1]):
                    r = costs[q] - v[indices[q]]
                    if r < best:
                        best = r
                u[i] = best
                j0 = row2col_in[i]
                if j0 >= 0 and col2row[j0] < 0:
                    for q in range(indptr[i], indptr[i + 1]):
                        if indices[q] == j0:
                            if costs[q] - v[j0] == best:
                                row2col[i] = j0
                                col2row[j0] = i
                            break
            for i in range(n):
                if row2col[i] < 0:
                    for q in range(indptr[i], indptr[i + 1]):
                        j = indices[q]
                        if col2row[j] < 0 and costs[q] - v[j] == u[i]:
                            row2col[i] = j
                            col2row[j] = i
                            break
        # --- augmenting row reduction (Jonker & Volgenant 1987), with a bounded number of steps:
        # a free row takes its best column and lowers that column's potential by the margin to its
        # second best; a displaced row becomes free again. Reduced costs stay >= 0 on every edge.
        queue = np.empty(n, dtype=np.int64)
        nq = 0
        for i in range(n):
            if row2col[i] < 0:
                queue[nq] = i
                nq += 1
        head = 0
        steps = 0
        budget = arr_factor * nq
        while nq > 0 and steps < budget:
            i = queue[head]
            head = (head + 1) % n
            nq -= 1
            steps += 1
            u1 = np.inf
            u2 = np.inf
            j1 = -1
            j2 = -1
            for q in range(indptr[i], indptr[i + 1]):
                j = indices[q]
                r = costs[q] - v[j]
                if r < u1:
                    u2 = u1
                    j2 = j1
                    u1 = r
                    j1 = j
                elif r < u2:
                    u2 = r
                    j2 = j
            i0 = col2row[j1]
            if u1 < u2 and u2 < np.inf:
                v[j1] -= u2 - u1
                u[i] = u2
            elif i0 >= 0 and j2 >= 0:
                j1 = j2
                i0 = col2row[j2]
                u[i] = u2
            else:
                u[i] = u1
            row2col[i] = j1
            col2row[j1] = i
            if i0 >= 0:
                row2col[i0] = -1
                tail = (head + nq) % n
                queue[tail] = i0
                nq += 1
        # --- augment every free row by a shortest path (Dijkstra on reduced costs)
        dist = np.full(n, np.inf)
        pred = np.full(n, -1, dtype=np.int64)
        done = np.zeros(n, dtype=np.bool_)
        touched = np.empty(n, dtype=np.int64)
        scanned = np.empty(n, dtype=np.int64)
        cap = indices.size + n + 1
        hk = np.empty(cap)
        hv = np.empty(cap, dtype=np.int64)
        for s in range(n):
            if row2col[s] >= 0:
                continue
            ntouch = 0
            nscan = 0
            size = 0
            i = s
            d_i = 0.0
            sink = -1
            dsink = 0.0
            while True:
                ui = u[i]
                for q in range(indptr[i], indptr[i + 1]):
                    j = indices[q]
                    if done[j]:
                        continue
                    r = costs[q] - ui - v[j]
                    if r < 0.0:
                        r = 0.0
                    nd = d_i + r
                    if nd < dist[j]:
                        if dist[j] == np.inf:
                            touched[ntouch] = j
                            ntouch += 1
                        dist[j] = nd
                        pred[j] = i
                        size = _heap_push(hk, hv, size, nd, j)
                # next column: smallest tentative distance
                found = False
                while size > 0:
                    key, j, size = _heap_pop(hk, hv, size)
                    if done[j] or key > dist[j]:
                        continue
                    found = True
                    break
                if not found:
                    break
                done[j] = True
                scanned[nscan] = j
                nscan += 1
                if col2row[j] < 0:
                    sink = j
                    dsink = dist[j]
                    break
                i = col2row[j]
                d_i = dist[j]
            if sink < 0:  # no augmenting path: the graph has no perfect matching
                return row2col, v, False
            # --- dual update (keeps reduced costs >= 0, path edges tight)
            u[s] += dsink
            for t in range(nscan):
                j = scanned[t]
                if j != sink:
                    u[col2row[j]] += dsink - dist[j]
                    v[j] -= dsink - dist[j]
            # --- augment along the predecessor chain
            j = sink
            while True:
                i = pred[j]
                nxt = row2col[i]
                row2col[i] = j
                col2row[j] = i
                if i == s:
                    break
                j = nxt
            for t in range(ntouch):
                j = touched[t]
                dist[j] = np.inf
                done[j] = False
        return row2col, v, True

    @_jit
    def _abs_max(C):
        n, m = C.shape
        part = np.zeros(n)
        for i in range(n):
            b = 0.0
            for j in range(m):
                a = abs(C[i, j])
                if a > b:
                    b = a
            part[i] = b
        return part.max()

    @_jit
    def _candidates_cols(C, u, k):
        """Candidate rows of every column: those whose ``C_ij - u_i`` is at or below a threshold
        ``tau_j`` taken, as in :func:`_candidates_rows`, from a strided sample of the rows (one
        max-heap of ``CAND_R`` per column), then one row-major filtering pass. A column where
        fewer than ``CAND_MIN`` or more than ``3 k`` rows pass gets its exact ``k`` smallest (a
        strided pass over the column: at ``k / 2`` instead, n = 1024, 15 % of the columns took
        it and the candidate graph cost 5 % more of the whole solve).

        Returns the rows (m, 3k), -1 padded.
        """
        n, m = C.shape
        cap = 3 * k
        lo = min(CAND_MIN, k)
        stride = max(1, k // CAND_R)
        s = (n + stride - 1) // stride
        r = min(CAND_R, s)
        hv = np.full((m, r), np.inf)  # per-column max-heaps over the sampled rows
        hi = np.zeros((m, r), dtype=np.int64)
        for t in range(s):
            i = t * stride
            row = C[i]
            ui = u[i]
            for j in range(m):
                x = row[j] - ui
                if x < hv[j, 0]:
                    hv[j, 0] = x
                    _sift_down(hv[j], hi[j], 0, r)
        tau = hv[:, 0].copy()  # (m,)
        idx = np.full((m, cap), -1, dtype=np.int64)
        cnt = np.zeros(m, dtype=np.int64)
        for i in range(n):
            row = C[i]
            ui = u[i]
            j = 0
            while j + 8 <= m:
                hit = ((row[j] - ui <= tau[j]) | (row[j + 1] - ui <= tau[j + 1])
                       | (row[j + 2] - ui <= tau[j + 2]) | (row[j + 3] - ui <= tau[j + 3])
                       | (row[j + 4] - ui <= tau[j + 4]) | (row[j + 5] - ui <= tau[j + 5])
                       | (row[j + 6] - ui <= tau[j + 6]) | (row[j + 7] - ui <= tau[j + 7]))
                if hit:
                    for jj in range(j, j + 8):
                        if row[jj] - ui <= tau[jj]:
                            if cnt[jj] < cap:
                                idx[jj, cnt[jj]] = i
                            cnt[jj] += 1
                j += 8
            while j < m:
                if row[j] - ui <= tau[j]:
                    if cnt[j] < cap:
                        idx[j, cnt[j]] = i
                    cnt[j] += 1
                j += 1
        col = np.empty(n)
        kh = np.empty(k)
        ki = np.empty(k, dtype=np.int64)
        for j in range(m):
            if lo <= cnt[j] <= cap:
                continue
            for i in range(n):  # strided, but only for the few columns whose sample misled
                col[i] = C[i, j] - u[i]
            _heap_k(col, k, kh, ki)
            for t in range(cap):
                idx[j, t] = ki[t] if t < k else -1
        return idx

    @_jit
    def _violations(C, v0, v, thr, rows, k):
        """Up to ``k`` most violated edges (n, k) of each row in ``rows``; -1 elsewhere.

        An edge is violated when its reduced cost ``(C_ij - v0_j) - v_j`` is below ``thr_i``. The
        potentials come in two parts, a base ``v0`` and a refinement ``v``, subtracted one after
        the other so that reduced costs near zero keep their low bits.
        """
        n, m = C.shape
        idx = np.full((n, k), -1, dtype=np.int64)
        hv = np.empty(k)
        for i in rows:
            t_i = thr[i]
            hv[:] = np.inf
            hi = idx[i]
            for j in range(m):
                r = (C[i, j] - v0[j]) - v[j]
                if r < t_i and r < hv[0]:
                    hv[0] = r
                    hi[0] = j
                    _sift_down(hv, hi, 0, k)
        return idx

    @_jit
    def _csr_join(indptr, indices, aptr, aidx):
        """Union of two CSR patterns over the same ``n`` rows and columns: each row keeps its edges
        ``indices``, in their order, then gains those of ``aidx`` (``-1``: none) it lacks, in their
        order. Returns ``new_ptr (n+1,), new_idx (E',)``."""
        n = indptr.size - 1
        mark = np.full(n, -1, dtype=np.int64)
        new_ptr = np.zeros(n + 1, dtype=np.int64)
        new_idx = np.empty(indices.size + aidx.size, dtype=np.int64)
        pos = 0
        for i in range(n):
            for q in range(indptr[i], indptr[i + 1]):
                j = indices[q]
                mark[j] = i
                new_idx[pos] = j
                pos += 1
            for q in range(aptr[i], aptr[i + 1]):
                j = aidx[q]
                if j >= 0 and mark[j] != i:
                    mark[j] = i
                    new_idx[pos] = j
                    pos += 1
            new_ptr[i + 1] = pos
        return new_ptr, new_idx[:pos].copy()

    @_jit
    def _csr_add(indptr, indices, top):
        """:func:`_csr_join` with the edges ``(i, top[i, t])``, ``top`` (n, k) dense."""
        n, k = top.shape
        return _csr_join(indptr, indices, np.arange(n + 1) * k, np.ascontiguousarray(top).reshape(-1))

    @_jit
    def _merge(C, indptr, indices, top):
        """CSR graph ``indptr, indices`` plus the edges ``(i, top[i, t])`` with ``top[i, t] >= 0``."""
        return _with_costs(C, *_csr_add(indptr, indices, top))

    @_jit
    def _chain_potentials(C, ro, co):
        """Column potentials (n,) making row ``ro[t]`` tight on ``co[t]`` and ``co[t + 1]``.

        ``v[co[t + 1]] = v[co[t]] + C[ro[t], co[t + 1]] - C[ro[t], co[t]]`` from ``v[co[0]] = 0``,
        summed with Neumaier's compensation so that each potential carries one rounding.
        """
        n = ro.size
        v = np.empty(C.shape[1])
        v[co[0]] = 0.0
        s = 0.0
        comp = 0.0
        for t in range(n - 1):
            i = ro[t]
            for term in (C[i, co[t + 1]], -C[i, co[t]]):
                tot = s + term
                if abs(s) >= abs(term):
                    comp += (s - tot) + term
                else:
                    comp += (term - tot) + s
                s = tot
            v[co[t + 1]] = s + comp
        return v
