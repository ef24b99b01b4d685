"""Linear mode connectivity of two mean-field networks: alignment, the path, its bounds, cloud distances.

Ferbach et al. Theorem 3.1: after aligning the particles of B to those of A by an exact
assignment on ``theta_i = (a_i, w_i[, c_i])`` (:func:`align_particles`), the linear path
``theta(t) = (1 - t) theta_A + t theta_B~`` stays close to the interpolation of the outputs.
:func:`interpolation` measures the error and the squared-loss barriers along the path;
:func:`path_bound` and :func:`path_bound_second_order` are the deterministic bounds of
docs/theory.md §6.4 with the Lipschitz constant and curvature of :mod:`otlmc.activations`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_t_grid
from ..activations import ACTIVATIONS, get_activation
from ..backend import to_numpy
from ..barrier import barrier_values
from ..transport import empirical_wasserstein, match_rows
from .model import MeanFieldNet, _check_theta, _check_X, _split, mf_forward_path


def align_particles(theta_a, theta_b) -> np.ndarray:
    """Permutation ``perm`` with ``theta_b[perm]`` aligned to ``theta_a`` by exact assignment on
    ``theta_i = (a_i, w_i[, c_i])``; ``mean_i |theta_a[i] - theta_b[perm[i]]|^2 = W_2^2`` of the
    two particle clouds (Birkhoff, Ferbach et al. Lemma B.3). CPU assignment."""
    return match_rows(to_numpy(theta_a), to_numpy(theta_b))


@dataclass(frozen=True)
class InterpolationResult:
    """Along ``theta(t) = (1 - t) theta_A + t theta_B~`` on the grid ``ts``:

    ``err_max[k] = max_x |f_{theta(t_k)}(x) - ((1 - t_k) f_A(x) + t_k f_B(x))|``, ``err_rms[k]``
    the RMS over inputs, ``loss[k]`` the squared risk of ``theta(t_k)``, and the barriers of
    docs/theory.md §0 for that loss (``barrier``, ``barrier_rebasin``, ``midpoint_loss``).
    """

    ts: np.ndarray
    err_max: np.ndarray
    err_rms: np.ndarray
    loss: np.ndarray
    barriers: dict
    n_eval: int

    def summary(self, prefix: str = "") -> dict:
        out = {f"{prefix}err_sup": float(self.err_max.max()),
               f"{prefix}err_rms_max_t": float(self.err_rms.max())}
        out.update({f"{prefix}{k}": v for k, v in self.barriers.items()})
        return out


def interpolation(net: MeanFieldNet, theta_a, theta_b, X, y, ts) -> InterpolationResult:
    """Interpolation error and squared-loss barrier of the linear path between two networks.

    Ferbach et al., Theorem 3.1 bounds ``sup_{x, t} |f_{theta(t)}(x) - ((1-t) f_A + t f_B~)(x)|``.
    """
    ts = check_t_grid(ts)
    F = to_numpy(mf_forward_path(net, theta_a, theta_b, X, ts))  # (T, n)
    y = check_array("y", to_numpy(y), ndim=1)
    if y.shape[0] != F.shape[1]:
        raise ValueError(f"y has {y.shape[0]} targets for {F.shape[1]} inputs.")
    dev = np.abs(F - ((1.0 - ts)[:, None] * F[0] + ts[:, None] * F[-1]))  # (T, n)
    loss = ((F - y[None, :]) ** 2).mean(axis=1)  # (T,)
    return InterpolationResult(ts, dev.max(axis=1), np.sqrt((dev**2).mean(axis=1)), loss,
                               barrier_values(ts, loss), int(F.shape[1]))


def _pre_activation_gap(net: MeanFieldNet, theta_a, theta_b, X):
    """Checked output weights ``a``, ``b`` (N,), ``dZ = z^A(x) - z^B(x)`` (n, N) and the array module."""
    theta_a, xp = _check_theta(net, theta_a, "theta_a")
    theta_b, _ = _check_theta(net, theta_b, "theta_b")
    X = _check_X(net, X, xp)
    a, Wa, ca = _split(net, theta_a)
    b, Wb, cb = _split(net, theta_b)
    dZ = X @ (Wa - Wb).T  # (n, N)
    if ca is not None:
        dZ = dZ + (ca - cb)[None, :]
    return a, b, dZ, xp


def path_bound(net: MeanFieldNet, theta_a, theta_b, X) -> np.ndarray:
    """Deterministic bound of docs/theory.md §6.4 per input, maximised over ``t`` (``t(1-t) <= 1/4``):

    .. math:: \\sup_t |f_{\\theta(t)}(x) - (1-t) f_A(x) - t f_B(x)| \\le
              \\frac{L_\\sigma}{4N} \\sum_i (|a_i| + |b_i|)\\, |z^A_i(x) - z^B_i(x)| ,

    ``z_i(x) = <w_i, x> + c_i``, ``L_sigma`` the Lipschitz constant of the activation. Returns (n,).
    """
    a, b, dZ, xp = _pre_activation_gap(net, theta_a, theta_b, X)
    return to_numpy(get_activation(net.activation).lipschitz / 4.0 * (xp.abs(dZ) @ (xp.abs(a) + xp.abs(b)))
                    / a.shape[0])


def path_bound_second_order(net: MeanFieldNet, theta_a, theta_b, X) -> np.ndarray:
    r"""Second-order deterministic bound for C^2 activations, per input, maximised over ``t``.

    With ``Delta a_i = a_i - b_i``, ``Delta z_i = z^A_i(x) - z^B_i(x)`` and a Taylor expansion of
    both endpoints around ``z_t = (1-t) z^A + t z^B``, the first-order terms cancel except one:

    .. math:: |\text{term}_i| \le t(1-t)\Big[\|\sigma'\|_\infty |\Delta a_i||\Delta z_i|
              + \tfrac12 \|\sigma''\|_\infty \max(|a_i|, |b_i|)\, \Delta z_i^2\Big],

    so ``sup_t |f_{theta(t)} - (1-t) f_A - t f_B| <= (1/4N) sum_i [...]``: **quadratic** in the
    particle distances, i.e. of order ``W_2^2`` of the aligned clouds (rate ``N^{-2/D}``), while
    :func:`path_bound` is linear (``N^{-1/D}``). Returns (n,). Raises for ReLU (not C^2).
    """
    act = get_activation(net.activation)
    curv = act.curvature
    if curv is None:
        smooth = [name for name, a in ACTIVATIONS.items() if a.curvature is not None]
        raise ValueError(f"activation={net.activation!r} is not twice differentiable; the second-order "
                         f"bound needs one of {', '.join(smooth)}.")
    a, b, dZ, xp = _pre_activation_gap(net, theta_a, theta_b, X)
    first = act.lipschitz * (xp.abs(dZ) @ xp.abs(a - b))  # (n,)
    second = 0.5 * curv * ((dZ * dZ) @ xp.maximum(xp.abs(a), xp.abs(b)))  # (n,)
    return to_numpy((first + second) / (4.0 * a.shape[0]))


def cloud_distances(theta_a, theta_b, perm=None) -> dict:
    """``W_2`` (from the alignment ``perm``, exact by Birkhoff) and exact ``W_1`` between the two
    particle clouds, plus the same mean distances for the identity pairing."""
    A, Bm = to_numpy(theta_a), to_numpy(theta_b)
    if perm is None:
        perm = align_particles(A, Bm)
    return {
        "w2_clouds": float(np.sqrt(((A - Bm[perm]) ** 2).sum(1).mean())),
        "w1_clouds": empirical_wasserstein(A, Bm, p=1.0),
        "rms_dist_identity": float(np.sqrt(((A - Bm) ** 2).sum(1).mean())),
    }


__all__ = ["InterpolationResult", "align_particles", "cloud_distances", "interpolation", "path_bound",
           "path_bound_second_order"]
