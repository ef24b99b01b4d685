"""Weight and input distributions for random-network experiments.

Every layer's rows are i.i.d. draws of one law ``mu_l`` (Ferbach et al., Assumption 6), so two
networks sampled with the same arguments and different generators satisfy the assumption.

Laws of one row ``w`` in ``R^{fan_in}`` (:data:`WEIGHT_LAWS`, chosen with ``law=``; ``s`` = ``scale``):

- ``gaussian``: entries i.i.d. ``N(0, s^2/fan_in)``;
- ``uniform``: entries i.i.d. uniform on ``[-a, a]``, ``a = s sqrt(3/fan_in)`` (same variance);
- ``rademacher``: entries ``+-s/sqrt(fan_in)`` with probability 1/2 (same variance);
- ``lowrank``: ``N(0, s^2 Sigma)``, ``Sigma = Q diag(1/k x k, eta/k x (fan_in-k)) Q^T``
  (Assumption 8, Section 5.4); ``eta = 0`` is exactly rank ``k``. ``Q`` is the identity unless
  ``bases`` is given. The basis is part of the *law*, so two networks that must be i.i.d. share it
  (draw it once with :func:`random_bases`).

Inputs (:data:`INPUT_LAWS`, also ``law=``): ``gaussian`` ``N(0, I_d)`` or ``sphere`` (uniform on
the sphere of radius ``sqrt(d)``). :data:`WEIGHT_LAWS` is the one tuple of weight laws: the
theory's rates (:func:`otlmc.theory.wasserstein_rate`) take the same names.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validation import check_array, check_choice, check_int, check_real
from .networks import MLP
from .rng import check_rng

#: laws of a weight row, chosen with ``law=`` everywhere (sampling and the theory's rates)
WEIGHT_LAWS = ("gaussian", "uniform", "rademacher", "lowrank")
#: laws of an input vector, chosen with ``law=``
INPUT_LAWS = ("gaussian", "sphere")


def _check_widths(widths) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a sequence of layer widths like (5, 64, 1), got {widths!r}.")
    if len(widths) < 2:
        raise ValueError(f"widths={tuple(widths)} needs at least an input and an output width.")
    return tuple(check_int(f"widths[{i}]", w, min_value=1) for i, w in enumerate(widths))


def lowrank_spectrum(fan_in: int, k: int, eta: float) -> np.ndarray:
    """Eigenvalues of Assumption 8's covariance: ``k`` times ``1/k``, then ``eta/k``."""
    k = min(k, fan_in)
    return np.concatenate([np.full(k, 1.0 / k), np.full(fan_in - k, eta / k)])


def random_bases(widths: Sequence[int], *, rng: np.random.Generator) -> list[np.ndarray]:
    """Haar-random orthonormal ``(fan_in, fan_in)`` basis per layer (for ``law='lowrank'``)."""
    widths = _check_widths(widths)
    check_rng(rng)
    out = []
    for fan_in in widths[:-1]:
        q, r = np.linalg.qr(rng.standard_normal((fan_in, fan_in)))  # (fan_in, fan_in)
        out.append(q * np.sign(np.diag(r)))  # sign fix makes the law Haar
    return out


def sample_weights(
    fan_out: int,
    fan_in: int,
    *,
    rng: np.random.Generator,
    law: str = "gaussian",
    scale: float = 1.0,
    k: int | None = None,
    eta: float = 0.0,
    basis: np.ndarray | None = None,
) -> np.ndarray:
    """One ``(fan_out, fan_in)`` weight matrix whose rows are i.i.d. draws of the chosen law."""
    check_rng(rng)
    fan_out = check_int("fan_out", fan_out, min_value=1)
    fan_in = check_int("fan_in", fan_in, min_value=1)
    check_choice("law", law, WEIGHT_LAWS)
    scale = check_real("scale", scale, min_value=0.0, strict_min=True)
    if law == "gaussian":
        return rng.standard_normal((fan_out, fan_in)) * (scale / np.sqrt(fan_in))
    if law == "uniform":
        a = scale * np.sqrt(3.0 / fan_in)
        return rng.uniform(-a, a, size=(fan_out, fan_in))
    if law == "rademacher":
        return (2.0 * rng.integers(0, 2, size=(fan_out, fan_in)) - 1.0) * (scale / np.sqrt(fan_in))
    # lowrank
    if k is None:
        raise ValueError("law='lowrank' needs k (the number of large eigenvalues), e.g. k=2.")
    k = check_int("k", k, min_value=1)
    eta = check_real("eta", eta, min_value=0.0)
    sd = scale * np.sqrt(lowrank_spectrum(fan_in, k, eta))  # (fan_in,)
    W = rng.standard_normal((fan_out, fan_in)) * sd  # (fan_out, fan_in), axis-aligned
    if basis is not None:
        basis = check_array("basis", basis, ndim=2)
        if basis.shape != (fan_in, fan_in):
            raise ValueError(f"basis has shape {basis.shape}, expected ({fan_in}, {fan_in}).")
        W = W @ basis.T  # rows N(0, Q diag Q^T)
    return W


def sample_mlp(
    widths: Sequence[int],
    *,
    rng: np.random.Generator,
    law: str = "gaussian",
    activation: str = "relu",
    scale: float = 1.0,
    bias_scale: float = 0.0,
    k: int | None = None,
    eta: float = 0.0,
    bases: Sequence[np.ndarray] | None = None,
) -> MLP:
    """Random MLP with i.i.d. rows in every layer.

    Parameters
    ----------
    widths : ``(m_0, m_1, ..., m_L, m_{L+1})``: input, hidden and output widths.
    rng : the generator all draws come from (keyword-only; no global state).
    law : one of ``gaussian``, ``uniform``, ``rademacher``, ``lowrank`` (module docstring).
    scale : ``s`` in the laws above (``1`` gives variance ``1/fan_in`` per entry).
    bias_scale : biases i.i.d. ``N(0, bias_scale^2)``; ``0`` gives zero biases (default).
    k, eta, bases : parameters of ``lowrank``; ``k`` is capped at each layer's fan-in.
    """
    widths = _check_widths(widths)
    check_rng(rng)
    check_choice("law", law, WEIGHT_LAWS)
    bias_scale = check_real("bias_scale", bias_scale, min_value=0.0)
    if bases is not None and len(bases) != len(widths) - 1:
        raise ValueError(f"bases has {len(bases)} matrices, expected one per layer ({len(widths) - 1}).")
    weights, biases = [], []
    for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        W = sample_weights(
            fan_out, fan_in, rng=rng, law=law, scale=scale, k=k, eta=eta,
            basis=None if bases is None else bases[layer],
        )
        b = rng.standard_normal(fan_out) * bias_scale if bias_scale > 0 else np.zeros(fan_out)
        weights.append(W)
        biases.append(b)
    return MLP(weights, biases, activation=activation)


def sample_inputs(n: int, d: int, *, rng: np.random.Generator, law: str = "gaussian") -> np.ndarray:
    """``(n, d)`` inputs: ``N(0, I_d)`` or uniform on the sphere of radius ``sqrt(d)``.

    Both have ``E x x^T = I_d``, so the two choices differ only in their tails.
    """
    check_rng(rng)
    n = check_int("n", n, min_value=1)
    d = check_int("d", d, min_value=1)
    check_choice("law", law, INPUT_LAWS)
    X = rng.standard_normal((n, d))  # (n, d)
    if law == "sphere":
        X *= np.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    return X
