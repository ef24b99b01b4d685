"""Mean-field two-layer networks, noisy regularised SGD and their mode connectivity (docs/theory.md §3).

- :mod:`.model`: :class:`MeanFieldNet`, particle initialisation, :func:`mf_forward`;
- :mod:`.kernels`: the fused numba kernel of one SGD step;
- :mod:`.sgd`: one step (:func:`step`), :class:`SGDSchedule`, :func:`mf_train`;
- :mod:`.data`: data laws (:class:`IsotropicGaussians`, :class:`TeacherNetwork`, :func:`sample_mf_inputs`);
- :mod:`.lmc`: alignment (:func:`align_particles`), the interpolation error and its bounds.

Names that exist for MLPs with another signature carry an ``mf_`` prefix or a longer name
(``mf_forward``, ``mf_forward_path``, ``mf_train``, ``sample_mf_inputs``, ``align_particles``).
"""
from .data import MF_INPUT_LAWS, IsotropicGaussians, TeacherNetwork, sample_mf_inputs
from .lmc import (
    InterpolationResult,
    align_particles,
    cloud_distances,
    interpolation,
    path_bound,
    path_bound_second_order,
)
from .model import MeanFieldNet, init_particles, mf_forward, mf_forward_path, risk, uniform_ball
from .sgd import KERNELS, NOISE_CONVENTION, NOISE_SOURCES, SGDSchedule, Workspace, mf_train, noise_scale, step

__all__ = [
    "KERNELS", "MF_INPUT_LAWS", "NOISE_CONVENTION", "NOISE_SOURCES", "InterpolationResult", "IsotropicGaussians",
    "MeanFieldNet", "SGDSchedule", "TeacherNetwork", "Workspace", "align_particles", "cloud_distances",
    "init_particles", "interpolation", "mf_forward", "mf_forward_path", "mf_train", "noise_scale", "path_bound",
    "path_bound_second_order", "risk", "sample_mf_inputs", "step", "uniform_ball",
]
