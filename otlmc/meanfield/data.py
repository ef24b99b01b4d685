"""Data laws of the mean-field experiments: labelled Gaussians, a teacher network, bounded input laws.

Theorem 3.1 assumes data of bounded support: :class:`TeacherNetwork` with ``inputs`` ``"ball"`` or
``"cube"`` and no label noise satisfies it (``bounded = True``); :class:`IsotropicGaussians` and
Gaussian inputs do not. A data law has ``d`` and ``sample(n, *, rng) -> (X (n, d), y (n,))``.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_array, check_choice, check_int, check_real
from ..rng import check_rng
from .model import MeanFieldNet, mf_forward, uniform_ball


class IsotropicGaussians:
    """Mei et al. (2018/2019): ``y = +-1`` equiprobable, ``x | y ~ N(0, (1 + y Delta)^2 I_d)``.

    Unbounded support, so outside Theorem 3.1's data assumption (``bounded = False``).
    """

    bounded = False

    def __init__(self, d: int, delta: float = 0.5):
        self.d = check_int("d", d, min_value=1)
        self.delta = check_real("delta", delta, min_value=0.0, max_value=1.0)
        if self.delta >= 1.0:
            raise ValueError(f"delta == {delta}, must be < 1 so that 1 - delta > 0.")

    def sample(self, n: int, *, rng: np.random.Generator):
        n = check_int("n", n, min_value=1)
        rng = check_rng(rng)
        y = rng.choice(np.array([-1.0, 1.0]), size=n)  # (n,)
        X = rng.standard_normal((n, self.d)) * (1.0 + y * self.delta)[:, None]  # (n, d)
        return X, y

    def describe(self) -> str:
        return f"isotropic Gaussians d={self.d}, Delta={self.delta}"


MF_INPUT_LAWS = ("ball", "cube", "gaussian")


def sample_mf_inputs(n: int, d: int, law: str, *, rng: np.random.Generator, radius: float = 1.0):
    """Inputs ``(n, d)``: uniform in the ball / cube of radius ``radius`` (bounded support, the
    theorem's assumption) or standard Gaussian (unbounded)."""
    law = check_choice("law", law, MF_INPUT_LAWS)
    rng = check_rng(rng)
    if law == "ball":
        return radius * uniform_ball(n, d, rng=rng)
    if law == "cube":
        return rng.uniform(-radius, radius, size=(n, d))
    return rng.standard_normal((n, d))


class TeacherNetwork:
    """``y = f_teacher(x) + noise_sd * z`` with a fixed two-layer teacher of ``m`` neurons.

    ``inputs`` = ``"ball"`` or ``"cube"`` gives the bounded-support data of Theorem 3.1.
    """

    def __init__(self, a, W, *, activation: str = "tanh", inputs: str = "ball", radius: float = 1.0,
                 noise_sd: float = 0.0):
        a = check_array("a", a, ndim=1)
        W = check_array("W", W, ndim=2)
        if a.shape[0] != W.shape[0]:
            raise ValueError(f"a has {a.shape[0]} entries for {W.shape[0]} teacher neurons.")
        self.net = MeanFieldNet(W.shape[1], activation)
        self.theta = np.column_stack([a, W])  # (m, 1 + d)
        self.d = W.shape[1]
        self.inputs = check_choice("inputs", inputs, MF_INPUT_LAWS)
        self.radius = check_real("radius", radius, min_value=0.0, strict_min=True)
        self.noise_sd = check_real("noise_sd", noise_sd, min_value=0.0)
        self.bounded = self.inputs != "gaussian" and self.noise_sd == 0.0

    @classmethod
    def random(cls, d: int, m: int, *, rng: np.random.Generator, activation: str = "tanh",
               w_norm: float = 2.0, **kw) -> "TeacherNetwork":
        """Teacher with ``a_i = m * (+-1) / m`` signs alternating and ``w_i`` uniform on the
        sphere of radius ``w_norm`` (so ``f_teacher = (1/m) sum_i a_i sigma(<w_i, x>)``)."""
        m = check_int("m", m, min_value=1)
        rng = check_rng(rng)
        W = rng.standard_normal((m, d))  # (m, d)
        W *= w_norm / np.linalg.norm(W, axis=1, keepdims=True)
        a = np.where(np.arange(m) % 2 == 0, 1.0, -1.0) * 2.0  # (m,)
        return cls(a, W, activation=activation, **kw)

    def target(self, X):
        return mf_forward(self.net, self.theta, X)

    def sample(self, n: int, *, rng: np.random.Generator):
        n = check_int("n", n, min_value=1)
        rng = check_rng(rng)
        X = sample_mf_inputs(n, self.d, self.inputs, rng=rng, radius=self.radius)  # (n, d)
        y = self.target(X)  # (n,)
        if self.noise_sd > 0:
            y = y + self.noise_sd * rng.standard_normal(n)
        return X, y

    def describe(self) -> str:
        return (f"{self.theta.shape[0]}-neuron {self.net.activation} teacher, d={self.d}, "
                f"inputs {self.inputs}(r={self.radius}), label noise {self.noise_sd}")


__all__ = ["IsotropicGaussians", "MF_INPUT_LAWS", "TeacherNetwork", "sample_mf_inputs"]
