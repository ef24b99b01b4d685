"""Exact linear assignment: ``min_perm sum_i C[i, perm[i]]`` for a square cost matrix.

Every optimal-transport number in the project goes through :func:`linear_assignment`: by
Birkhoff's theorem (Ferbach et al., Lemma B.3) the exact ``W_p`` between two ``n``-point empirical
measures and the layer-wise weight matching (Eq. 2) are both assignment problems.

Method (sparse candidate graph + dense dual certificate)
--------------------------------------------------------
For the costs met here (squared distances of point clouds, inner products ``-W_A W_B^T``) the
optimal assignment uses edges of small reduced cost only. The solver

1. builds a candidate graph: the ``k = 12`` edges of smallest reduced cost ``C_ij - v_j`` of
   every row (``v`` = column minima), the ``k`` of smallest ``C_ij - u_i`` of every column
   (so that "popular" columns of low-rank costs do not starve the others), and the diagonal
   (which guarantees a perfect matching exists in the graph);
2. solves the assignment exactly on that sparse graph: Jonker-Volgenant augmenting row
   reduction (a bounded number of steps), then successive shortest augmenting paths (Dijkstra
   on reduced costs with a binary heap, Hungarian potentials ``u``, ``v``);
3. certifies the result for the *dense* problem in one pass over ``C``:
   ``u'_i = min_j (C_ij - v_j)`` makes ``(u', v)`` dual feasible on all ``n^2`` edges by
   construction, so by weak duality

   .. math:: \\sum_i u'_i + \\sum_j v_j \\;\\le\\; \\mathrm{OPT} \\;\\le\\; \\sum_i C_{i,\\pi(i)} ,

   and the permutation is returned only when the gap is at most ``GAP_RTOL = 1e-9`` of
   ``sum_i |C_{i, pi(i)}|`` (plus a round-off floor of ``8 n eps (max|C| + max|v|)``);
4. otherwise adds, in the same pass, the (at most ``k`` most) violated edges of each row
   (``C_ij - v_j`` below the row's matched value) and solves again from the current duals,
   lowering the potentials of the violated columns so that only their owners lose a match; after ``MAX_ROUNDS`` rounds it falls back to scipy's
   dense exact solver.

No approximate or uncertified result is ever returned. Small problems (``n < 256``) go to scipy's
``linear_sum_assignment`` directly. CPU only: cupy inputs are copied to the host once at this
boundary. The numba kernels are compiled on first use and cached on disk.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._validation import check_array
from ..backend import to_numpy

try:  # numba is a core dependency; the guard keeps a pure-scipy path if it is broken
    import numba as _nb
except ImportError:  # pragma: no cover - exercised only in a numba-less environment
    _nb = None

#: problems smaller than this go straight to scipy (the sparse machinery does not pay off)
SPARSE_MIN_N = 256
#: relative duality gap accepted by the certificate
GAP_RTOL = 1e-9
#: candidate edges per row in the first round, and how many rounds of enlargement to try
K_START = 12
MAX_ROUNDS = 10
#: augmenting-row-reduction steps allowed per initially free row before shortest paths take over
ARR_FACTOR = 4
#: warm start of later rounds by lowering violated columns' potentials (else raising rows')
WARM_COLS = True

__all__ = ["linear_assignment", "certify", "last_info"]

# Diagnostics of the most recent call (method, rounds, edges, gap); read by benchmarks and tests.
_LAST: dict = {}


def last_info() -> dict:
    """Copy of the diagnostics of the most recent :func:`linear_assignment` call.

    Keys: ``method`` (``"sparse"``, ``"scipy"``, ``"scipy-fallback"``), ``n``, ``rounds``,
    ``edges`` (candidate edges in the last round), ``gap`` and ``tol`` (certificate, when run).
    """
    return dict(_LAST)


def _scipy_perm(C: np.ndarray) -> np.ndarray:
    rows, cols = linear_sum_assignment(C)
    perm = np.empty(C.shape[0], dtype=np.intp)
    perm[rows] = cols
    return perm


def linear_assignment(C, *, maximize: bool = False) -> np.ndarray:
    """Optimal permutation for the square cost matrix ``C`` (n, n).

    .. math:: \\pi^* = \\arg\\min_{\\pi \\in S_n} \\sum_i C_{i, \\pi(i)}

    Parameters
    ----------
    C : array_like, shape (n, n)
        Finite real costs (numpy or cupy; converted to float64 on the host).
    maximize : bool, keyword-only
        Maximise ``sum_i C[i, perm[i]]`` instead.

    Returns
    -------
    perm : ndarray of intp, shape (n,)
        Row ``i`` is assigned to column ``perm[i]``. Its cost is optimal, certified by a dual
        solution up to a relative duality gap of ``GAP_RTOL`` (see the module docstring), or it
        comes from scipy's exact dense solver.
    """
    if not isinstance(maximize, (bool, np.bool_)):
        raise TypeError(f"maximize must be a bool, got {maximize!r} ({type(maximize).__name__}).")
    C = check_array("C", to_numpy(C), ndim=2)
    if C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be square, got shape {C.shape}.")
    n = C.shape[0]
    if n == 0:
        _LAST.clear()
        _LAST.update(method="scipy", n=0, rounds=0, edges=0)
        return np.zeros(0, dtype=np.intp)
    C = np.ascontiguousarray(-C if maximize else C)  # (n, n) float64, minimised
    if n < SPARSE_MIN_N or _nb is None:
        _LAST.clear()
        _LAST.update(method="scipy", n=n, rounds=0, edges=n * n)
        return _scipy_perm(C)
    perm, info = _sparse_certified(C)
    _LAST.clear()
    _LAST.update(info)
    if perm is None:
        _LAST["method"] = "scipy-fallback"
        return _scipy_perm(C)
    return perm


def certify(C, perm, v) -> tuple[float, float, float]:
    r"""Duality-gap certificate of the permutation ``perm`` (n,) for the dense problem ``C`` (n, n).

    For any column potentials ``v`` (n,), ``u'_i = min_j (C_ij - v_j)`` makes ``(u', v)`` dual
    feasible on all ``n^2`` edges, so by weak duality

    .. math:: \mathrm{lower} = \sum_i u'_i + \sum_j v_j \;\le\; \mathrm{OPT} \;\le\;
              \sum_i C_{i,\pi(i)} = \mathrm{primal} .

    Returns ``(primal, lower, tol)``; ``perm`` is certified optimal when
    ``primal - lower <= tol`` with ``tol = GAP_RTOL * sum_i |C_{i,pi(i)}|`` plus a round-off floor
    of ``8 n eps (max|C| + max|v|)``.
    """
    C = np.ascontiguousarray(check_array("C", to_numpy(C), ndim=2))
    n = C.shape[0]
    if C.shape != (n, n):
        raise ValueError(f"C must be square, got shape {C.shape}.")
    perm = np.asarray(perm)
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"perm must be a permutation of 0..{n - 1}, got shape {perm.shape}.")
    v = check_array("v", v, ndim=1)
    if v.shape != (n,):
        raise ValueError(f"v has shape {v.shape}, expected ({n},).")
    v = np.ascontiguousarray(v)
    matched = C[np.arange(n), perm]  # (n,)
    umin = _row_min_reduced(C, v) if _nb is not None else (C - v[None, :]).min(1)  # (n,)
    lower = float(umin.sum() + v.sum())
    return float(matched.sum()), lower, _tolerance(matched, float(np.abs(C).max()), v)


def _tolerance(matched, cmax: float, v) -> float:
    # rounding: C_ij - v_j and the two length-n sums each carry ~n ulps of max(|C|, |v|)
    floor = 8.0 * matched.size * np.finfo(np.float64).eps * (cmax + float(np.abs(v).max()))
    return GAP_RTOL * float(np.abs(matched).sum()) + floor


def _sparse_certified(C: np.ndarray):
    n = C.shape[0]
    ar = np.arange(n)
    v = _column_min(C)  # (n,) column reduction: first duals
    u = _row_min_reduced(C, v)  # (n,) row reduction
    k = min(K_START, n)
    indptr, indices, costs = _assemble(C, _topk_rows(C, v, k), _topk_cols(C, u, k))
    row2col = np.full(n, -1, dtype=np.int64)
    info = dict(method="sparse", n=n, rounds=0, edges=0, gap=np.inf, tol=np.nan)
    cmax = float(_abs_max(C))
    for rnd in range(1, MAX_ROUNDS + 1):
        info.update(rounds=rnd, edges=int(indices.size))
        # augmenting row reduction only from scratch: in later rounds its bidding on popular
        # columns undoes the duals the certificate just used (many more rounds on wm6)
        row2col, v, ok = _sparse_ssp(n, indptr, indices, costs, v, row2col,
                                      ARR_FACTOR if rnd == 1 else 0, WARM_COLS)
        if not ok:  # cannot happen: the diagonal edges always admit a perfect matching
            break
        # one dense pass: u'_i = min_j (C_ij - v_j), dual feasible on all n^2 edges, and the
        # (at most k most) violated edges of each row: C_ij - v_j < u_i = C_i,p(i) - v_p(i)
        matched = C[ar, row2col]  # (n,)
        thr = matched - v[row2col]  # (n,) u_i of the sparse solution
        u_cert, top = _violations(C, v, thr, k)  # (n,), (n, k) with -1 where fewer violations
        primal = float(matched.sum())
        lower = float(u_cert.sum() + v.sum())
        tol = _tolerance(matched, cmax, v)
        info.update(gap=primal - lower, tol=tol)
        if primal - lower <= tol:
            return row2col.astype(np.intp), info
        # enlarge the graph with the violated edges, then solve again from the current duals
        indptr, indices, costs = _merge(C, indptr, indices, top)
    return None, info


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
    def _row_min_reduced(C, v):
        n, m = C.shape
        out = np.empty(n)
        for i in range(n):
            best = np.inf
            for j in range(m):
                r = C[i, j] - v[j]
                if r < best:
                    best = r
            out[i] = best
        return out

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
    def _topk_rows(C, v, k):
        """Column indices (n, k) of the k smallest ``C_ij - v_j`` in each row (unordered)."""
        n, m = C.shape
        idx = np.empty((n, k), dtype=np.int64)
        for i in range(n):
            # max-heap of size k over (value, index)
            hv = np.empty(k)
            hi = np.empty(k, dtype=np.int64)
            for t in range(k):
                hv[t] = C[i, t] - v[t]
                hi[t] = t
            # heapify
            for s in range(k // 2 - 1, -1, -1):
                _sift_down(hv, hi, s, k)
            for j in range(k, m):
                r = C[i, j] - v[j]
                if r < hv[0]:
                    hv[0] = r
                    hi[0] = j
                    _sift_down(hv, hi, 0, k)
            for t in range(k):
                idx[i, t] = hi[t]
        return idx

    @_jit
    def _assemble(C, top, topc):
        """CSR graph: the top-k columns of each row, the top-k rows of each column, the diagonal.

        The diagonal edge ``(i, i)`` guarantees a perfect matching exists in the graph; it is
        used only when nothing cheaper is available, and the dense certificate then fails.
        """
        n, k = top.shape
        # rows named by the column lists: count per row, then CSR of (row -> extra columns)
        cnt = np.zeros(n + 1, dtype=np.int64)
        for j in range(n):
            for t in range(k):
                cnt[topc[j, t] + 1] += 1
        for i in range(n):
            cnt[i + 1] += cnt[i]
        fill = cnt[:-1].copy()
        extra_cols = np.empty(n * k, dtype=np.int64)
        for j in range(n):
            for t in range(k):
                i = topc[j, t]
                extra_cols[fill[i]] = j
                fill[i] += 1
        mark = np.full(n, -1, dtype=np.int64)
        indptr = np.zeros(n + 1, dtype=np.int64)
        indices = np.empty(2 * n * k + 2 * n, dtype=np.int64)
        costs = np.empty(2 * n * k + 2 * n)
        pos = 0
        for i in range(n):
            start = pos
            for t in range(k):
                j = top[i, t]
                mark[j] = i
                indices[pos] = j
                pos += 1
            for q in range(cnt[i], cnt[i + 1]):
                j = extra_cols[q]
                if mark[j] != i:
                    mark[j] = i
                    indices[pos] = j
                    pos += 1
            if mark[i] != i:
                mark[i] = i
                indices[pos] = i
                pos += 1
            for q in range(start, pos):
                costs[q] = C[i, indices[q]]
            indptr[i + 1] = pos
        return indptr, indices[:pos].copy(), costs[:pos].copy()

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
    def _topk_cols(C, u, k):
        """Row indices (m, k) of the k smallest ``C_ij - u_i`` in each column (unordered).

        Sweeps ``C`` row by row inside column blocks (no transposed copy); one max-heap per column.
        """
        n, m = C.shape
        idx = np.empty((m, k), dtype=np.int64)
        hv = np.empty((m, k))
        block = 256
        nblocks = (m + block - 1) // block
        for b in range(nblocks):
            j0 = b * block
            j1 = min(m, j0 + block)
            for j in range(j0, j1):
                for t in range(k):
                    hv[j, t] = np.inf
                    idx[j, t] = -1
            for i in range(n):
                ui = u[i]
                for j in range(j0, j1):
                    r = C[i, j] - ui
                    if r < hv[j, 0]:
                        hv[j, 0] = r
                        idx[j, 0] = i
                        _sift_down(hv[j], idx[j], 0, k)
        return idx

    @_jit
    def _violations(C, v, thr, k):
        """Row minima of ``C_ij - v_j`` (n,) and up to ``k`` most violated edges per row (n, k).

        An edge is violated when ``C_ij - v_j < thr_i``; unused slots hold -1.
        """
        n, m = C.shape
        umin = np.empty(n)
        idx = np.full((n, k), -1, dtype=np.int64)
        hv = np.empty(k)
        for i in range(n):
            best = np.inf
            t_i = thr[i]
            hv[:] = np.inf
            hi = idx[i]
            for j in range(m):
                r = C[i, j] - v[j]
                if r < best:
                    best = r
                if r < t_i and r < hv[0]:
                    hv[0] = r
                    hi[0] = j
                    _sift_down(hv, hi, 0, k)
            umin[i] = best
        return umin, idx

    @_jit
    def _merge(C, indptr, indices, top):
        """CSR graph ``indptr, indices`` plus the edges ``(i, top[i, t])`` with ``top[i, t] >= 0``."""
        n, k = top.shape
        mark = np.full(n, -1, dtype=np.int64)
        nnz = indices.size + int((top >= 0).sum())
        new_ptr = np.zeros(n + 1, dtype=np.int64)
        new_idx = np.empty(nnz, dtype=np.int64)
        new_cost = np.empty(nnz)
        pos = 0
        for i in range(n):
            for q in range(indptr[i], indptr[i + 1]):
                j = indices[q]
                mark[j] = i
                new_idx[pos] = j
                new_cost[pos] = C[i, j]
                pos += 1
            for t in range(k):
                j = top[i, t]
                if j >= 0 and mark[j] != i:
                    mark[j] = i
                    new_idx[pos] = j
                    new_cost[pos] = C[i, j]
                    pos += 1
            new_ptr[i + 1] = pos
        return new_ptr, new_idx[:pos].copy(), new_cost[:pos].copy()
