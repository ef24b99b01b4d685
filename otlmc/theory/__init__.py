"""What the theorems say, as pure numpy functions of numbers and arrays (no network is evaluated here).

- :mod:`.rates`: rates of ``n`` (exponent and log factors; constants never known): empirical
  Wasserstein rates, the aligned-deviation rate, Theorem 5.3's lower-bound rate;
- :mod:`.widths`: width laws (two layers vs Entezari et al., Lemma 5.1 / Theorem 5.4 depth
  recursions) and the inversion of a measured curve;
- :mod:`.inequalities`: deterministic inequalities, both sides, every draw (docs/theory.md §6),
  Lemma 4.1's recursion step;
- :mod:`.lowrank`: approximately low-dimensional weight laws (Assumption 8, Weed & Bach).

The measured sides (forward passes, assignments) are in :mod:`otlmc.measure`.
"""
from .inequalities import (
    cross_entropy_path_bound,
    dropout_bound,
    lemma41_recursion,
    lemma41_step,
    relu_jensen,
    sigma_sandwich,
)
from .lowrank import (
    LOWRANK_CONVENTIONS,
    lowrank_crossover_eta_exponent,
    lowrank_crossover_width,
    lowrank_participation_ratio,
    lowrank_thickness,
    multiscale_exponent,
    multiscale_w2,
    participation_ratio,
)
from .rates import (
    RATE_LAWS,
    RateLaw,
    deviation_rate,
    finite_n_correction,
    is_clean_rate,
    relu_second_moment,
    tightness_exponent,
    tightness_rate,
    wasserstein_rate,
    wasserstein_upper_rate,
)
from .widths import (
    LOG10_MAX,
    entezari_width_exponent,
    entezari_width_log10,
    low_dim_gain,
    low_dim_minimal_widths_log10,
    minimal_widths_from_constants,
    minimal_widths_log10,
    required_width,
    two_layer_width_exponent,
    two_layer_width_log10,
)

__all__ = [
    "LOG10_MAX", "LOWRANK_CONVENTIONS", "RATE_LAWS", "RateLaw", "cross_entropy_path_bound", "deviation_rate",
    "dropout_bound", "entezari_width_exponent", "entezari_width_log10", "finite_n_correction", "is_clean_rate",
    "lemma41_recursion", "lemma41_step", "low_dim_gain", "low_dim_minimal_widths_log10",
    "lowrank_crossover_eta_exponent", "lowrank_crossover_width", "lowrank_participation_ratio", "lowrank_thickness",
    "minimal_widths_from_constants", "minimal_widths_log10", "multiscale_exponent", "multiscale_w2",
    "participation_ratio", "relu_jensen", "relu_second_moment", "required_width", "sigma_sandwich",
    "tightness_exponent", "tightness_rate", "two_layer_width_exponent", "two_layer_width_log10",
    "wasserstein_rate", "wasserstein_upper_rate",
]
