"""Exact optimal transport between point clouds.

Two modules, one concept each:

- :mod:`otlmc.transport.assignment`: the exact linear assignment solver (sparse candidate graph,
  dense dual certificate, scipy fallback) behind every permutation in otlmc;
- :mod:`otlmc.transport.wasserstein`: cost matrices, exact empirical ``W_p`` (assignment by
  Birkhoff, POT's network simplex otherwise), the 1-D and Gaussian closed forms.
"""
from .assignment import certify, linear_assignment
from .wasserstein import (
    cost_matrix,
    emd_exact,
    empirical_wasserstein,
    gaussian_w2,
    match_rows,
    sq_distances,
    wasserstein_1d,
)

__all__ = [
    "certify", "cost_matrix", "emd_exact", "empirical_wasserstein", "gaussian_w2", "linear_assignment",
    "match_rows", "sq_distances", "wasserstein_1d",
]
