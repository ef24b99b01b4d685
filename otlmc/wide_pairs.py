"""Pair metrics at widths where no ``n x n`` array fits: matrix-free matching and a neuron-blocked path.

:func:`otlmc.pairs.pair_metrics` measures two random two-layer networks ``d - n - n_out``. Its dense
path holds the ``n x n`` cost matrix of the weight matching (``8 n^2`` bytes: 2 GiB at
``n = 16384``, 137 GB at ``n = 131072``). This module gives the same numbers in ``O(n (d + k) +
n n_eval / n_blocks)`` memory:

- :func:`match_rows_wide`: the weight-matching permutation (``argmin_p sum_i |a_i - b_{p(i)}|^2``
  over the rows of the two neuron-vector matrices) by the certified matrix-free solver
  :func:`otlmc.transport.match_clouds`, after dropping the coordinates that are constant in both
  clouds (they add the same cost to every pair; the zero bias column of ``sample_mlp``'s networks
  is one). One varying coordinate is solved by sorting, as :func:`otlmc.transport.match_rows` does.
  The permutation is the dense solver's (the optimum is unique with probability one and both are
  exact), so ``W_2`` computed from it is the same to the last bit;
- :func:`two_layer_path_blocked`: the outputs of every network ``M_t`` of the path and the
  right-hand side of the two-layer path bound (docs/theory.md §6.4), summed over blocks of
  ``NEURON_BLOCK`` hidden units (the output is linear in the hidden units), so the largest array
  is ``(n_eval, NEURON_BLOCK)``, never ``(n_eval, n)``; equal to the dense evaluation up to the
  order of the sums (1e-12 relative);
- :func:`matrix_free_matching`: which solver ``method='auto'`` uses, from the crossover measured on
  the 2-core machine (one thread, one replicate, Gaussian rows; dense = ``sq_distances`` +
  ``linear_assignment``, seconds dense / matrix-free):

  ====  ===========  ===========  ===========  ===========
  d     n = 1024     n = 2048     n = 4096     n = 8192
  ====  ===========  ===========  ===========  ===========
  2     0.16 / 0.13  0.42 / 0.33  1.34 / 0.20  5.22 / 0.85
  5     0.08 / 0.09  0.13 / 0.17  0.78 / 0.28  4.40 / 0.52
  8     0.10 / 0.15  0.17 / 0.27  0.77 / 0.50  2.79 / 1.14
  12    0.09 / 0.28  0.17 / 0.32  1.07 / 1.05  4.13 / 2.37
  20    --           0.38 / 1.17  1.36 / 2.24  4.78 / 8.48
  ====  ===========  ===========  ===========  ===========

  so the matrix-free solver is used from ``FAST_MIN_WIDTH = 4096`` for ``d <= FAST_MAX_DIM = 12``
  (faster or equal there), and always above ``DENSE_MAX_WIDTH = 16384``, where the dense cost
  matrix alone would pass 2 GiB (measured: 2.5 GB peak at n = 16384).

One whole cell of ``sims.dimension_scaling`` (n_eval = 300, 9 t-points, one thread, on the loaded
2-core machine, so +-50 %): d = 2: n = 16384 33 s / 0.91 GB peak RSS, 32768 112 s / 0.53 GB, 65536
212 s / 0.64 GB (the auction and the sparse solve dominate at d = 2, not the certificate); d = 5, 8:
n = 32768 in 33-110 s. The blocked path is the cheaper evaluation too (0.53 GB at 32768 against
0.91 GB with the dense one at 16384).
"""
from __future__ import annotations

import numpy as np

from ._validation import check_array, check_int, check_t_grid
from .activations import activate
from .backend import to_numpy
from .measure import check_two_layer_pair
from .networks import MLP
from .transport import match_clouds, match_rows

__all__ = ["DENSE_MAX_WIDTH", "FAST_MAX_DIM", "FAST_MIN_WIDTH", "NEURON_BLOCK", "deviation_rms",
           "match_rows_wide", "matrix_free_matching", "two_layer_path_blocked"]

#: the dense cost matrix at this width is 8 n^2 = 2 GiB; above it only the matrix-free path runs
DENSE_MAX_WIDTH = 16384
#: from this width on the matrix-free solver is at least as fast as the dense one for d <= FAST_MAX_DIM
FAST_MIN_WIDTH = 4096
#: above this many varying coordinates the nearest-neighbour graphs are poor and dense stays faster
FAST_MAX_DIM = 12
#: hidden units per block of the blocked path evaluation ((n_eval, NEURON_BLOCK) arrays: 10 MB at n_eval = 300)
NEURON_BLOCK = 4096


def matrix_free_matching(n: int, dim: int) -> bool:
    """Whether ``method='auto'`` matches two ``n``-point clouds with ``dim`` varying coordinates matrix-free."""
    n = check_int("n", n, min_value=0)
    dim = check_int("dim", dim, min_value=0)
    return n > DENSE_MAX_WIDTH or (n >= FAST_MIN_WIDTH and dim <= FAST_MAX_DIM)


def _varying(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Columns that vary within ``A`` or within ``B`` (bool, (dim,)); the same rule as ``match_rows``."""
    if A.shape[0] == 0:
        return np.zeros(A.shape[1], dtype=bool)
    return (np.ptp(A, axis=0) > 0) | (np.ptp(B, axis=0) > 0)


def match_rows_wide(A, B, *, method: str = "auto") -> np.ndarray:
    """Permutation ``perm`` minimising ``sum_i |A[i] - B[perm[i]]|^2``, without an ``n x n`` matrix when it pays.

    Parameters
    ----------
    A, B : array_like, shape (n, dim)
        The two clouds (rows: neuron vectors).
    method : {'auto', 'dense', 'matrix_free'}, keyword-only
        ``'dense'``: :func:`otlmc.transport.match_rows` (an ``n x n`` cost matrix); ``'matrix_free'``:
        :func:`otlmc.transport.match_clouds` on the varying coordinates (sorting when only one
        varies); ``'auto'``: matrix-free where :func:`matrix_free_matching` says so.

    Returns
    -------
    perm : ndarray of intp, shape (n,)
        ``A[i]`` is matched with ``B[perm[i]]``.
    """
    if method not in ("auto", "dense", "matrix_free"):
        raise ValueError(f"method={method!r} is not known; allowed: 'auto', 'dense', 'matrix_free'.")
    A = check_array("A", to_numpy(A), ndim=2)
    B = check_array("B", to_numpy(B), ndim=2)
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape} and {B.shape}.")
    keep = _varying(A, B)  # (dim,)
    n, dim = A.shape[0], int(keep.sum())
    if method == "dense" or dim <= 1 or (method == "auto" and not matrix_free_matching(n, dim)):
        return match_rows(A, B)  # one varying coordinate: sorted there, O(n log n)
    return match_clouds(np.ascontiguousarray(A[:, keep]), np.ascontiguousarray(B[:, keep]))


def two_layer_path_blocked(net_a: MLP, net_b: MLP, X, ts, *, block: int = NEURON_BLOCK
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Path outputs and the path bound's ``sum_i (|a_ki| + |b_ki|) |z^A_i - z^B_i|``, block by block.

    For one hidden layer ``f(x) = V sigma(W x + b) + c``; ``M_t`` has ``Z(t) = (1 - t) Z^A + t Z^B``
    and ``V(t) = (1 - t) V^A + t V^B``, so ``f_{M_t}(x) = sum_i V(t)_{:, i} sigma(Z(t)_i) + c(t)`` is a
    sum over hidden units: each block of ``block`` units adds its share, and no array has more than
    ``block`` hidden columns. The same quantities as :func:`otlmc.networks.forward_path` and
    :func:`otlmc.measure.two_layer_path_bound` (``rhs = t (1 - t) gap``), summed in another order.

    Parameters
    ----------
    net_a, net_b : MLP
        Two-layer networks of the same architecture (``net_b`` already aligned).
    X : array_like, shape (N, m_0)
        Evaluation inputs.
    ts : array_like, shape (T,)
        t-grid, strictly increasing from 0 to 1 (the endpoints give ``f_A`` and ``f_B``).
    block : int, keyword-only
        Hidden units per block (>= 1).

    Returns
    -------
    out : ndarray, shape (T, N, m_out)
        ``f_{M_t}(x)`` for every ``t`` and input.
    gap : ndarray, shape (N, m_out)
        ``sum_i (|V^A_{ki}| + |V^B_{ki}|) |z^A_i(x) - z^B_i(x)|``.
    """
    X = check_two_layer_pair(net_a, net_b, X, "the blocked path evaluation")
    ts = check_t_grid(ts)
    if ts[0] != 0.0 or ts[-1] != 1.0:
        raise ValueError("ts must start at 0 (network A) and end at 1 (network B).")
    block = check_int("block", block, min_value=1)
    Wa, Wb = (to_numpy(n.weights[0]) for n in (net_a, net_b))  # (m, m_0)
    ba, bb = (to_numpy(n.biases[0]) for n in (net_a, net_b))  # (m,)
    Va, Vb = (to_numpy(n.weights[1]) for n in (net_a, net_b))  # (m_out, m)
    ca, cb = (to_numpy(n.biases[1]) for n in (net_a, net_b))  # (m_out,)
    act, m = net_a.activation, Wa.shape[0]
    out = np.zeros((ts.size, X.shape[0], Va.shape[0]))  # (T, N, m_out)
    gap = np.zeros((X.shape[0], Va.shape[0]))  # (N, m_out)
    for j0 in range(0, m, block):
        sl = slice(j0, min(m, j0 + block))
        Za, Zb = X @ Wa[sl].T + ba[sl], X @ Wb[sl].T + bb[sl]  # (N, B) each
        gap += np.abs(Za - Zb) @ (np.abs(Va[:, sl]) + np.abs(Vb[:, sl])).T  # (N, m_out)
        for k, s in enumerate(ts):
            out[k] += activate(act, (1 - s) * Za + s * Zb) @ ((1 - s) * Va[:, sl] + s * Vb[:, sl]).T  # (N, m_out)
    out += ((1 - ts)[:, None] * ca + ts[:, None] * cb)[:, None, :]  # (T, 1, m_out) output biases
    return out, gap


def deviation_rms(out: np.ndarray, ts) -> np.ndarray:
    """``RMS_x |f_{M_t}(x) - (1 - t) f_A(x) - t f_B(x)|_2`` per ``t`` (T,), from path outputs (T, N, m_out).

    The formula of :func:`otlmc.barrier.evaluate_path` (``f_A = out[0]``, ``f_B = out[-1]``).
    """
    tt = np.asarray(ts).reshape(-1, 1, 1)  # (T, 1, 1)
    interp = (1 - tt) * out[0][None] + tt * out[-1][None]  # (T, N, m_out)
    dev = np.sqrt(((out - interp) ** 2).sum(-1))  # (T, N)
    return np.sqrt((dev**2).mean(1))
