"""Jonker-Volgenant on a dense square cost matrix: the assignment solver for small ``n``.

Below a few hundred rows the sparse candidate graph of :mod:`otlmc.transport.assignment` costs
more to build than a dense solve (n = 256: the graph alone takes as long as a whole dense solve
by the fastest peer). This module is the dense solve: the shortest augmenting path method of
Jonker & Volgenant (Computing 38, 1987) in its three phases,

1. **column reduction** with reduction transfer (every column's potential at its minimum, each
   row that is the minimum of exactly one column takes it, and that column's potential is
   lowered by the row's margin to its second best),
2. **augmenting row reduction**, bounded: a free row takes its best column and lowers that
   column's potential to its second best, displacing the owner (at most ``arr_factor`` steps
   per initially free row, two passes, as in the paper),
3. **shortest augmenting paths** (Dijkstra on reduced costs) for the rows still free.

The input is the reduced matrix ``R = C - v0`` (``v0``: column minima, so ``R >= 0`` and every
column has a zero)
:mod:`otlmc.transport.assignment` forms it exactly where ``C`` and ``v0`` are
close (offsets, tiny ranges) and certifies the result on ``C`` itself, so this module only has to
be fast, not to prove anything.

Every row scan is one pass with several independent running minima (a single one is a chain of
dependent compares, about 4 cycles each
several let the core overlap them): the best and second
best of a row in the row reduction, the relaxation and the next column to scan in a shortest-path
step.
"""
from __future__ import annotations

import numba as _nb
import numpy as np

__all__ = ["solve_dense"]

_jit = _nb.njit(cache=True, nogil=True, boundscheck=False)


@_jit
def _min_range(row, v, lo, hi):
    """``min_{lo <= j < hi} row[j] - v[j]`` (inf when empty), eight running minima."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.inf
    j = lo
    while j + 8 <= hi:
        h0 = row[j] - v[j]
        h1 = row[j + 1] - v[j + 1]
        h2 = row[j + 2] - v[j + 2]
        h3 = row[j + 3] - v[j + 3]
        h4 = row[j + 4] - v[j + 4]
        h5 = row[j + 5] - v[j + 5]
        h6 = row[j + 6] - v[j + 6]
        h7 = row[j + 7] - v[j + 7]
        a0 = h0 if h0 < a0 else a0
        a1 = h1 if h1 < a1 else a1
        a2 = h2 if h2 < a2 else a2
        a3 = h3 if h3 < a3 else a3
        a4 = h4 if h4 < a4 else a4
        a5 = h5 if h5 < a5 else a5
        a6 = h6 if h6 < a6 else a6
        a7 = h7 if h7 < a7 else a7
        j += 8
    while j < hi:
        h0 = row[j] - v[j]
        a0 = h0 if h0 < a0 else a0
        j += 1
    a0 = a1 if a1 < a0 else a0
    a2 = a3 if a3 < a2 else a2
    a4 = a5 if a5 < a4 else a4
    a6 = a7 if a7 < a6 else a6
    a0 = a2 if a2 < a0 else a0
    a4 = a6 if a6 < a4 else a4
    return a4 if a4 < a0 else a0


@_jit
def _first_at(row, v, val, skip):
    """First column ``j != skip`` with ``row[j] - v[j] == val`` (-1 if none)."""
    for j in range(row.size):
        if row[j] - v[j] == val and j != skip:
            return j
    return -1


@_jit
def _min2(row, v):
    """``(min, first argmin, second min)`` of ``row - v`` in one pass: four lanes, each keeping its
    best and second best (a branch that is rarely taken, so no dependent chain), merged at the end.
    A value equal to the best counts as the second best (a tie)."""
    n = row.size
    a0 = a1 = a2 = a3 = np.inf
    b0 = b1 = b2 = b3 = np.inf
    i0 = i1 = i2 = i3 = -1
    j = 0
    while j + 4 <= n:
        h = row[j] - v[j]
        if h < b0:
            if h < a0:
                b0 = a0
                a0 = h
                i0 = j
            else:
                b0 = h
        h = row[j + 1] - v[j + 1]
        if h < b1:
            if h < a1:
                b1 = a1
                a1 = h
                i1 = j + 1
            else:
                b1 = h
        h = row[j + 2] - v[j + 2]
        if h < b2:
            if h < a2:
                b2 = a2
                a2 = h
                i2 = j + 2
            else:
                b2 = h
        h = row[j + 3] - v[j + 3]
        if h < b3:
            if h < a3:
                b3 = a3
                a3 = h
                i3 = j + 3
            else:
                b3 = h
        j += 4
    while j < n:
        h = row[j] - v[j]
        if h < b0:
            if h < a0:
                b0 = a0
                a0 = h
                i0 = j
            else:
                b0 = h
        j += 1
    # merge: the best value, its first position, and the second best over everything else
    best = a0
    bi = i0
    sec = b0
    for (a, i, b) in ((a1, i1, b1), (a2, i2, b2), (a3, i3, b3)):
        if a < best or (a == best and i < bi and i >= 0):
            sec = min(sec, best, b)
            best = a
            bi = i
        else:
            sec = min(sec, a, b)
    return best, bi, sec


@_jit
def _relax_arg(row, v, h, w, d, pred, i):
    """Dijkstra step from row ``i``: ``d[j] = min(d[j], row[j] - v[j] - h)`` on the columns not
    yet scanned (``w[j] = 0``
    scanned columns carry ``w[j] = inf`` and never change). Returns the
    smallest ``d`` over the unscanned columns and its first position (four lanes, one pass)."""
    n = row.size
    a0 = a1 = a2 = a3 = np.inf
    k0 = k1 = k2 = k3 = -1
    j = 0
    while j + 4 <= n:
        for t in range(4):
            r = row[j + t] - v[j + t] - h + w[j + t]
            if r < d[j + t]:
                d[j + t] = r
                pred[j + t] = i
        t0 = d[j] + w[j]
        t1 = d[j + 1] + w[j + 1]
        t2 = d[j + 2] + w[j + 2]
        t3 = d[j + 3] + w[j + 3]
        if t0 < a0:
            a0 = t0
            k0 = j
        if t1 < a1:
            a1 = t1
            k1 = j + 1
        if t2 < a2:
            a2 = t2
            k2 = j + 2
        if t3 < a3:
            a3 = t3
            k3 = j + 3
        j += 4
    while j < n:
        r = row[j] - v[j] - h + w[j]
        if r < d[j]:
            d[j] = r
            pred[j] = i
        t0 = d[j] + w[j]
        if t0 < a0:
            a0 = t0
            k0 = j
        j += 1
    best = a0
    bk = k0
    for (a, k) in ((a1, k1), (a2, k2), (a3, k3)):
        if a < best or (a == best and k < bk):
            best = a
            bk = k
    return best, bk


@_jit
def solve_dense(R, arr_factor):
    """Optimal assignment of the square matrix ``R`` (n, n) of finite floats.

    Returns ``row2col`` (n,) and column potentials ``v`` (n,) with ``R[i, row2col[i]] - v[row2col[i]]
    = min_j R[i, j] - v[j]`` up to rounding (the caller certifies). ``arr_factor``: augmenting
    row reduction steps allowed per row left free by the column reduction.
    """
    n = R.shape[0]
    v = R[0].copy()  # (n,) column minima, and their rows
    imin = np.zeros(n, dtype=np.int64)
    for i in range(1, n):  # row-major sweep
        row = R[i]
        for j in range(n):
            if row[j] < v[j]:
                v[j] = row[j]
                imin[j] = i
    colsol = np.full(n, -1, dtype=np.int64)
    rowsol = np.full(n, -1, dtype=np.int64)
    matches = np.zeros(n, dtype=np.int64)
    for j in range(n - 1, -1, -1):  # each row keeps the cheapest column it is the minimum of
        i = imin[j]
        matches[i] += 1
        if matches[i] == 1:
            rowsol[i] = j
            colsol[j] = i
        elif v[j] < v[rowsol[i]]:
            colsol[rowsol[i]] = -1
            rowsol[i] = j
            colsol[j] = i
    free = np.empty(n, dtype=np.int64)
    numfree = 0
    for i in range(n):
        if matches[i] == 0:
            free[numfree] = i
            numfree += 1
        elif matches[i] == 1:  # reduction transfer
            j1 = rowsol[i]
            a = _min_range(R[i], v, 0, j1)
            b = _min_range(R[i], v, j1 + 1, n)
            v[j1] -= a if a < b else b
        # matches[i] > 1: the row keeps its cheapest column; the others stay unassigned
    # --- augmenting row reduction, two passes, at most arr_factor steps per free row
    steps = 0
    budget = arr_factor * numfree
    for _ in range(2):
        k = 0
        prev = numfree
        numfree = 0
        while k < prev:
            i = free[k]
            k += 1
            if steps >= budget:
                free[numfree] = i
                numfree += 1
                continue
            steps += 1
            row = R[i]
            umin, j1, usub = _min2(row, v)
            i0 = colsol[j1]
            if umin < usub:
                v[j1] -= usub - umin
            elif i0 >= 0:  # a tie: take the second best instead, if that one is free
                j1 = _first_at(row, v, usub, j1)
                i0 = colsol[j1]
            rowsol[i] = j1
            colsol[j1] = i
            if i0 >= 0:
                rowsol[i0] = -1
                if umin < usub:  # the displaced row bids next
                    k -= 1
                    free[k] = i0
                else:
                    free[numfree] = i0
                    numfree += 1
    # --- shortest augmenting paths for the rows still free
    d = np.empty(n)
    w = np.empty(n)
    pred = np.empty(n, dtype=np.int64)
    scanned = np.empty(n, dtype=np.int64)
    for f in range(numfree):
        s = free[f]
        row = R[s]
        mn = np.inf
        j1 = -1
        for j in range(n):
            x = row[j] - v[j]
            d[j] = x
            w[j] = 0.0
            pred[j] = s
            if x < mn:
                mn = x
                j1 = j
        ns = 0
        while colsol[j1] >= 0:  # the nearest column is assigned: scan its row
            w[j1] = np.inf
            scanned[ns] = j1
            ns += 1
            i = colsol[j1]
            rowi = R[i]
            mn, j1 = _relax_arg(rowi, v, rowi[j1] - v[j1] - mn, w, d, pred, i)
        end = j1  # an unassigned column at distance mn
        for t in range(ns):  # potentials of the scanned columns
            j = scanned[t]
            v[j] += d[j] - mn
        while True:  # augment along the predecessor chain
            i = pred[end]
            colsol[end] = i
            j1 = end
            end = rowsol[i]
            rowsol[i] = j1
            if i == s:
                break
    return rowsol, v
