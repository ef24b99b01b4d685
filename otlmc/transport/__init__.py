"""Exact optimal transport between point clouds.

Two modules, one concept each:

- :mod:`otlmc.transport.assignment`: the exact linear assignment solver (sparse candidate graph,
  dense dual certificate, scipy fallback) behind every permutation in otlmc;
- :mod:`otlmc.transport.wasserstein`: cost matrices, exact empirical ``W_p`` (assignment by
  Birkhoff, POT's network simplex otherwise), the 1-D and Gaussian closed forms;
- :mod:`otlmc.transport.matrixfree`: exact assignment between two point clouds without the dense
  cost matrix (k-nearest-neighbour candidates, certified against all n^2 pairs block by block).
"""
from .assignment import certify, linear_assignment
from .matrixfree import match_clouds, wasserstein_clouds
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
    "match_clouds", "match_rows", "sq_distances", "wasserstein_1d", "wasserstein_clouds",
]
