"""The ``sims.width_scaling`` sweep written the way the peer codebases do it.

Same networks (the same samplers and the same per-cell seeds as otlmc's sweep), same
measurements, but the peers' pipeline: ``scipy.spatial.distance.cdist`` cost matrices, scipy's
``linear_sum_assignment`` in a serial loop over layers, widths and replicates, and the path
evaluated one ``t`` at a time by building the interpolated network and running it forward.

Used only as a timing baseline by :mod:`benchmarks.suite`; its matching costs are compared with
otlmc's cell by cell there, so the two pipelines are checked to compute the same numbers.
"""
from __future__ import annotations


import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from otlmc.declare import context_of, grid_of
from otlmc.networks import forward, interpolate, permute
from otlmc.rng import cell_streams
from otlmc.sweep import cell_identity, make_cells
from sims.width_scaling import SIM, sample_pair


def _neuron_vectors(W, b):
    return np.concatenate([W, b[:, None]], axis=1)  # (m_l, m_{l-1} + 1)


def peer_weight_matching(net_a, net_b):
    """Layer-wise weight matching with cdist + linear_sum_assignment (peer style)."""
    perms, costs = [], []
    p_prev = None
    for l in range(net_a.n_hidden):
        Va = _neuron_vectors(net_a.weights[l], net_a.biases[l])
        Wb = net_b.weights[l] if p_prev is None else net_b.weights[l][:, p_prev]
        Vb = _neuron_vectors(Wb, net_b.biases[l])
        C = cdist(Va, Vb, "sqeuclidean")  # (m_l, m_l)
        _, p = linear_sum_assignment(C)
        perms.append(p)
        costs.append(float(C[np.arange(len(p)), p].mean()))
        p_prev = p
    return perms, costs


def peer_path(net_a, net_b, X, ts):
    """RMS output deviation of the mean network, one ``t`` at a time (peer style)."""
    fa, fb = forward(net_a, X), forward(net_b, X)  # (N, m_out)
    dev = []
    for t in ts:
        ft = forward(interpolate(net_a, net_b, float(t)), X)  # (N, m_out)
        dev.append(np.sqrt(np.mean(np.sum((ft - ((1 - t) * fa + t * fb)) ** 2, axis=1))))
    dev = np.asarray(dev)  # (T,)
    losses = dev**2
    barrier = float(np.max(losses - ((1 - ts) * losses[0] + ts * losses[-1])))
    return float(dev.max()), barrier


def sweep_context(cfg) -> tuple[dict, dict]:
    """``(grid, context)`` exactly as the runner builds them for width_scaling."""
    return grid_of(cfg), context_of(cfg)


def run(cfg, root_seed: int = 0) -> list[dict]:
    """Serial sweep over ``cfg.widths`` x ``cfg.replicates``; one dict per cell."""
    grid, context = sweep_context(cfg)
    rows = []
    for params in make_cells(grid, cfg.replicates):
        s = cell_streams(cell_identity(SIM.name, params, context), root_seed,
                         ("data", "net_a", "net_b", "eval"))
        net_a, net_b, X = sample_pair(cfg, params["width"], s)  # the sim's own draws
        ts = np.linspace(0.0, 1.0, cfg.t_points)
        perms, costs = peer_weight_matching(net_a, net_b)
        dev, bar = peer_path(net_a, permute(net_b, perms), X, ts)
        dev0, bar0 = peer_path(net_a, net_b, X, ts)
        rows.append({**params, "w2_layer1": float(np.sqrt(costs[0])),
                     "aligned_deviation_rms_max_t": dev, "aligned_barrier": bar,
                     "unaligned_deviation_rms_max_t": dev0, "unaligned_barrier": bar0})
    return rows
