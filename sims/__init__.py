"""Runnable experiments, one module each: ``python -m sims.<name> --help``.

Every sim declares a Config, a cell function, its claims and its plot, and one ``SIM`` record
(:class:`otlmc.declare.Sim`); :func:`otlmc.runner.run` does the rest. :data:`SIMS` lists them.
"""
import importlib

#: every declared sim, in the order of the README's theorem table
SIMS = ("width_scaling", "dimension_scaling", "subgaussian", "lowrank", "dropout_stability", "depth_scaling",
        "tightness", "required_width", "meanfield_lmc", "mnist_matching", "llfc",
        "rate_controls", "rate_controls_1d", "papers", "cnn_matching", "cnn_llfc")


def load(name: str):
    """The ``SIM`` declaration of ``sims.<name>``."""
    if name not in SIMS:
        raise ValueError(f"sim {name!r} is not known; allowed: {', '.join(SIMS)}.")
    return importlib.import_module(f"sims.{name}").SIM
