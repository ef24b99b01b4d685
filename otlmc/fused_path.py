"""Fused evaluation of the aligned and unaligned paths of a two-layer network, in one pass.

For one hidden layer, ``f_theta(x) = W_2 sigma(W_1 x + b_1) + b_2``, and the path
``theta(t) = (1 - t) theta_A + t theta_B`` (docs/theory.md §0) has a first layer linear in ``t``:

.. math:: Z_1(t) = (1 - t) Z_1^A + t Z_1^B, \\qquad
          f_t(x) = W_2(t)\\, \\sigma(Z_1(t)) + b_2(t).

Aligning B by the hidden permutation ``p`` only permutes the columns of ``Z_1^B`` and ``W_2^B``, so
both paths need the two pre-activation GEMMs ``Z_1^A``, ``Z_1^B`` once (``Z_1^{B p} =
Z_1^B[:, p]``). :func:`path_summaries` then runs a numba kernel over blocks of inputs: a block's
rows of ``Z_1^A``, ``Z_1^B`` stay in cache while the whole t-grid and both paths are evaluated
(``W_2(t)`` formed once per block and ``t``), and the squared deviation from ``(1 - t) f_A + t f_B``
is reduced on the spot; the ``(T, N, m)`` activations are never stored.

The result is exactly what ``evaluate_path(...).summary(prefix)`` returns for
``loss='deviation'`` (equal to 1e-12; the dot products are summed in another order).
"""
from __future__ import annotations


import numba as _nb
import numpy as np

from .meanfield.kernels import _tanh
from ._validation import check_array, check_t_grid
from .barrier import barrier_values, t_grid
from .networks import MLP, check_same_architecture

__all__ = ["path_summaries"]

#: inputs per work item of the kernel: their pre-activations (2-3 rows of m floats each) and W_2(t)
#: stay in L2 across the t-grid
ROW_BLOCK = 16
_ACT = {"relu": 0, "tanh": 1, "identity": 2}


@_nb.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _dev2_kernel(ZA, ZB, ZBp, W2A, W2B, W2Bp, b2A, b2B, ts, act, nb):
    """Squared output deviation ``|f_t(x) - ((1-t) f_0(x) + t f_1(x))|^2`` (2, T, N).

    Path 0 goes from A to the aligned B (``ZBp``, ``W2Bp``), path 1 to B as given.
    ``ZA``, ``ZB``, ``ZBp``: (N, m) first-layer pre-activations; ``W2*``: (m_out, m);
    ``b2*``: (m_out,); ``ts``: (T,); ``act``: 0 relu, 1 tanh, 2 identity.
    """
    N, m = ZA.shape
    nout = W2A.shape[0]
    T = ts.size
    out = np.empty((2, T, N))
    nblk = (N + nb - 1) // nb
    for blk in _nb.prange(nblk):
        x0 = blk * nb
        x1 = min(N, x0 + nb)
        h = np.empty(m)
        W2t = np.empty((nout, m))
        bt = np.empty(nout)
        ends = np.empty((2, x1 - x0, nout))  # f_0, f_1 of the block's inputs
        for path in range(2):
            Zb = ZBp if path == 0 else ZB
            Wb = W2Bp if path == 0 else W2B
            for e in range(2):  # the end points, through the same code as the path
                for x in range(x0, x1):
                    for j in range(m):
                        z = ZA[x, j] if e == 0 else Zb[x, j]
                        if act == 0:
                            z = max(z, 0.0)
                        elif act == 1:
                            z = _tanh(z)
                        h[j] = z
                    for o in range(nout):
                        s = 0.0
                        for j in range(m):
                            s += (W2A[o, j] if e == 0 else Wb[o, j]) * h[j]
                        ends[e, x - x0, o] = s + (b2A[o] if e == 0 else b2B[o])
            for ti in range(T):
                t = ts[ti]
                s1 = 1.0 - t
                for o in range(nout):
                    for j in range(m):
                        W2t[o, j] = s1 * W2A[o, j] + t * Wb[o, j]
                    bt[o] = s1 * b2A[o] + t * b2B[o]
                for x in range(x0, x1):
                    for j in range(m):
                        z = s1 * ZA[x, j] + t * Zb[x, j]
                        if act == 0:
                            z = max(z, 0.0)
                        elif act == 1:
                            z = _tanh(z)
                        h[j] = z
                    acc = 0.0
                    for o in range(nout):
                        s = 0.0
                        for j in range(m):
                            s += W2t[o, j] * h[j]
                        d = (s + bt[o]) - (s1 * ends[0, x - x0, o] + t * ends[1, x - x0, o])
                        acc += d * d
                    out[path, ti, x] = acc
    return out


def _summary(ts, dev2, prefix: str) -> dict:
    """The dict of ``PathResult.summary(prefix)`` for ``loss='deviation'`` from (T, N) squares."""
    dev = np.sqrt(dev2)  # (T, N), as evaluate_path
    dev_rms = np.sqrt((dev**2).mean(1))  # (T,)
    out = {f"{prefix}{k}": v for k, v in barrier_values(ts, dev_rms**2).items()}
    out[f"{prefix}deviation_rms_max_t"] = float(dev_rms.max())
    out[f"{prefix}deviation_sup"] = float(dev.max(1).max())
    return out


def path_summaries(net_a: MLP, net_b: MLP, X, perm, *, ts=None,
                   prefixes: tuple[str, str] = ("aligned_", "unaligned_")) -> dict:
    """Summaries of the aligned and the unaligned path of two one-hidden-layer networks, fused.

    Equal (to 1e-12) to::

        row = evaluate_path(net_a, permute(net_b, [perm]), X, ts=ts).summary(prefixes[0])
        row.update(evaluate_path(net_a, net_b, X, ts=ts).summary(prefixes[1]))

    with ``loss='deviation'`` (squared deviation of ``f_{theta(t)}`` from ``(1-t) f_A + t f_B``).

    Parameters
    ----------
    net_a, net_b : MLP
        Same architecture ``(m_0, m, m_out)`` (one hidden layer), numpy weights.
    X : array_like, shape (N, m_0)
        Evaluation inputs.
    perm : array_like of int, shape (m,)
        Hidden permutation aligning B to A (``MatchResult.perms[0]``): A's unit ``i`` is matched
        with B's unit ``perm[i]``.
    ts : array_like, shape (T,), optional
        t-grid starting at 0 and ending at 1 (default: 25 points).
    prefixes : (str, str)
        Key prefixes of the aligned and the unaligned summaries.

    Returns
    -------
    dict
        ``{prefix}barrier``, ``{prefix}barrier_rebasin``, ``{prefix}midpoint_loss``,
        ``{prefix}deviation_rms_max_t``, ``{prefix}deviation_sup`` for both prefixes.
    """
    check_same_architecture(net_a, net_b)
    if net_a.n_hidden != 1:
        raise ValueError(f"path_summaries needs one hidden layer; the networks have widths "
                         f"{net_a.widths} ({net_a.n_hidden} hidden layers). Use evaluate_path.")
    if not (isinstance(prefixes, tuple) and len(prefixes) == 2 and all(isinstance(p, str) for p in prefixes)):
        raise TypeError(f"prefixes must be a tuple of two strings, got {prefixes!r}.")
    ts = t_grid() if ts is None else check_t_grid(ts)
    if ts[0] != 0.0 or ts[-1] != 1.0:
        raise ValueError("ts must start at 0 and end at 1 so the endpoint losses are on the grid.")
    m0, m, _ = net_a.widths
    X = check_array("X", X, ndim=2)
    if X.shape[1] != m0:
        raise ValueError(f"X has {X.shape[1]} features but the network's input width is {m0}.")
    if X.shape[0] == 0:
        raise ValueError("X has no rows; give at least one evaluation input.")
    perm = np.asarray(perm)
    if perm.shape != (m,) or not np.issubdtype(perm.dtype, np.integer) \
            or not np.array_equal(np.sort(perm), np.arange(m)):
        raise ValueError(f"perm must be a permutation of 0..{m - 1} (shape ({m},)), got "
                         f"{perm.dtype} {perm.shape}.")
    (W1a, W2a), (b1a, b2a) = net_a.weights, net_a.biases
    (W1b, W2b), (b1b, b2b) = net_b.weights, net_b.biases
    ZA = np.ascontiguousarray(X @ W1a.T + b1a)  # (N, m) as forward_path
    ZB = np.ascontiguousarray(X @ W1b.T + b1b)  # (N, m)
    ZBp = np.ascontiguousarray(ZB[:, perm])  # (N, m) B's units in A's order
    W2bp = np.ascontiguousarray(W2b[:, perm])  # (m_out, m)
    dev2 = _dev2_kernel(ZA, ZB, ZBp, np.ascontiguousarray(W2a), np.ascontiguousarray(W2b), W2bp,
                        np.ascontiguousarray(b2a), np.ascontiguousarray(b2b),
                        np.ascontiguousarray(ts, dtype=np.float64), _ACT[net_a.activation],
                        ROW_BLOCK)  # (2, T, N)
    row = _summary(ts, dev2[0], prefixes[0])
    row.update(_summary(ts, dev2[1], prefixes[1]))
    return row
