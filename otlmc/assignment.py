"""Exact linear assignment: ``min_perm sum_i C[i, perm[i]]`` for a square cost matrix.

CPU only: cupy inputs are copied to the host once at this boundary. Every solver behind
:func:`linear_assignment` is exact; no approximate or uncertified result is ever returned.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._validation import check_array
from .backend import to_numpy


def linear_assignment(C, *, maximize: bool = False) -> np.ndarray:
    """Optimal permutation for the square cost matrix ``C`` (n, n).

    Returns ``perm`` (n,) with row ``i`` assigned to column ``perm[i]``, minimising
    ``sum_i C[i, perm[i]]`` (maximising with ``maximize=True``).
    """
    C = check_array("C", to_numpy(C), ndim=2)
    if C.shape[0] != C.shape[1]:
        raise ValueError(f"C must be square, got shape {C.shape}.")
    if C.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    rows, cols = linear_sum_assignment(C, maximize=maximize)
    perm = np.empty(C.shape[0], dtype=np.intp)
    perm[rows] = cols
    return perm
