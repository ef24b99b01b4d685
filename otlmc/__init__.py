"""otlmc: numerical tests of the optimal-transport theory of linear mode connectivity.

Public names are re-exported here; the modules hold the implementations, one concept each:

- networks and their randomness: :mod:`otlmc.activations` (the registry of activations),
  :mod:`otlmc.networks` (MLPs), :mod:`otlmc.sampling` (weight and input laws), :mod:`otlmc.rng`;
- transport: :mod:`otlmc.transport` (exact assignment, Wasserstein distances, cost matrices);
- alignment and the path: :mod:`otlmc.matching` (the matching methods), :mod:`otlmc.barrier`,
  :mod:`otlmc.features` (LLFC diagnostics);
- theory: :mod:`otlmc.theory` (rates, width laws, deterministic inequalities, low-rank laws;
  numpy only) and its measured sides in :mod:`otlmc.measure`; rates are fitted by :mod:`otlmc.fit`;
- mean-field networks: :mod:`otlmc.meanfield`;
- experiments: :mod:`otlmc.sweep` (grid, store, execution, planning), :mod:`otlmc.tables`,
  :mod:`otlmc.provenance`;
- MNIST training: :mod:`otlmc.objective` (cross-entropy and its gradient), :mod:`otlmc.train`
  (``python -m otlmc.train``), :mod:`otlmc.datasets`, :mod:`otlmc.io`.
"""
import importlib

from .backend import get_xp, to_numpy, xp_of
from .barrier import PathResult, barrier, barrier_values, evaluate_path, layer_gaps, t_grid
from .fit import PowerLawFit, RateFit, fit_power_law, fit_rate
from .matching import MatchResult, align, match, weight_matching
from .networks import MLP, forward, forward_path, interpolate, permute
from .rng import cell_streams, stable_hash
from .sampling import random_bases, sample_inputs, sample_mlp, sample_weights
from .transport import (
    cost_matrix,
    empirical_wasserstein,
    gaussian_w2,
    linear_assignment,
    match_rows,
    sq_distances,
    wasserstein_1d,
)

from ._version import __version__

# Imported on first use: ``python -m otlmc.train`` / ``python -m otlmc.datasets`` must not find
# their module already imported by the package.
_LAZY = {"load_mnist": "datasets", "TrainConfig": "train", "init_mlp": "train", "load_mlp": "io",
         "save_mlp": "io"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "MLP", "MatchResult", "PathResult", "PowerLawFit", "RateFit", "TrainConfig", "align", "barrier",
    "barrier_values", "cell_streams", "cost_matrix", "empirical_wasserstein", "evaluate_path",
    "fit_power_law", "fit_rate", "forward", "forward_path", "gaussian_w2", "get_xp", "init_mlp",
    "interpolate", "layer_gaps", "linear_assignment", "load_mlp", "load_mnist", "match", "match_rows", "permute",
    "random_bases", "sample_inputs", "sample_mlp", "sample_weights", "save_mlp", "sq_distances",
    "stable_hash", "t_grid", "to_numpy", "wasserstein_1d", "weight_matching", "xp_of",
]
