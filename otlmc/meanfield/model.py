"""Mean-field two-layer networks trained by noisy regularised SGD (THEORY.md §3).

Model (Mei, Misiakiewicz & Montanari 2019; Ferbach et al. Section 3):

.. math:: f_N(x; \\theta) = \\frac1N \\sum_{i=1}^N a_i \\sigma(\\langle w_i, x\\rangle + c_i),
          \\qquad \\theta_i = (a_i, w_i[, c_i]) \\in \\mathbb R^D,\\ D = 1 + d\\ (+1 \\text{ with bias}).

Particles are the rows of one array ``theta`` of shape ``(N, D)`` with columns
``[a, w_1..w_d, c]`` (``c`` only when ``bias=True``), so an alignment by exact assignment on
``theta_i`` (Theorem 3.1) is one call of :func:`otlmc.transport.match_rows`.

Noisy SGD, one step with a mini-batch ``(x_j, y_j)_{j <= B}`` of fresh samples (``B = 1`` is the
online SGD of the theory):

.. math:: \\theta_i \\leftarrow (1 - 2\\lambda s_k)\\theta_i
          + \\frac{2 s_k}{B}\\sum_j (y_j - f_N(x_j))\\nabla_{\\theta}\\sigma_*(x_j; \\theta_i)
          + \\sqrt{2 s_k \\tau / D}\\, g_i, \\qquad g_i \\sim N(0, I_D),

with step ``s_k = eps * xi(k eps)`` and time ``t = k eps``. **Noise convention**: the 2019 paper's
``sqrt(2 s_k tau / D)`` (:data:`NOISE_CONVENTION`, recorded with every result); the 2018 paper's
``sqrt(2 s_k / beta)`` is the same scheme with ``beta = D / tau``. With a quadratic potential
``Psi = (lam/2)|theta|^2`` this recursion is an AR(1) whose stationary variance per coordinate is
``tau / (2 D lam (1 - lam s))`` -> ``tau / (2 D lam)`` as ``s -> 0`` (derived in
``tests/test_meanfield.py``), i.e. the Gibbs law ``exp(-(2 D / tau) Psi)``.

Kernels (same injected noise -> same numbers):

- ``"numba"``: fused CPU kernel, parallel over neurons, no allocation per step
  (:mod:`otlmc._mf_kernels`); agrees with the reference to ~1e-15 relative;
- ``"numpy"``: plain array reference, written against the array-module seam so that it is also
  the **cupy path** when ``theta`` is a cupy array (agreement to float tolerance).

Activations: ``tanh``, ``sigmoid``, ``arctan`` are bounded and Lipschitz (the theorem's
assumption); ``relu`` is allowed but flagged (:func:`activation_in_theorem`) as outside it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._validation import check_array, check_choice, check_int, check_real
from .backend import to_numpy, xp_of
from .barrier import barrier_values
from .rng import check_rng

ACTIVATIONS = ("tanh", "sigmoid", "arctan", "relu")
THEOREM_ACTIVATIONS = ("tanh", "sigmoid", "arctan")
KERNELS = ("numba", "numpy")
NOISE_CONVENTION = "sqrt(2 s_k tau / D)"
#: Lipschitz constants of the activations (bounds of |sigma'|).
LIPSCHITZ = {"tanh": 1.0, "sigmoid": 0.25, "arctan": 1.0, "relu": 1.0}
#: sup |sigma''| (tanh: 4/(3 sqrt 3) at tanh z = 1/sqrt 3; sigmoid: 1/(6 sqrt 3); arctan:
#: 9/(8 sqrt 3) at z = 1/sqrt 3); ReLU is not C^2.
CURVATURE = {"tanh": 4.0 / (3.0 * math.sqrt(3.0)), "sigmoid": 1.0 / (6.0 * math.sqrt(3.0)),
             "arctan": 9.0 / (8.0 * math.sqrt(3.0)), "relu": None}


def activation_in_theorem(name: str) -> bool:
    """True for the bounded Lipschitz activations Theorem 3.1 covers (not ReLU)."""
    return check_choice("activation", name, ACTIVATIONS) in THEOREM_ACTIVATIONS


def activation(name: str, Z):
    """``sigma(Z)`` elementwise (numpy or cupy)."""
    xp = xp_of(Z)
    if name == "tanh":
        return xp.tanh(Z)
    if name == "sigmoid":
        return 1.0 / (1.0 + xp.exp(-Z))
    if name == "arctan":
        return xp.arctan(Z)
    if name == "relu":
        return xp.maximum(Z, 0.0)
    raise ValueError(f"activation={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}.")


def activation_grad(name: str, Z):
    """``sigma'(Z)`` elementwise (numpy or cupy; ``relu'(0) = 0``)."""
    xp = xp_of(Z)
    if name == "tanh":
        T = xp.tanh(Z)
        return 1.0 - T * T
    if name == "sigmoid":
        S = 1.0 / (1.0 + xp.exp(-Z))
        return S * (1.0 - S)
    if name == "arctan":
        return 1.0 / (1.0 + Z * Z)
    if name == "relu":
        return (Z > 0).astype(Z.dtype)
    raise ValueError(f"activation={name!r} is not known; allowed: {', '.join(ACTIVATIONS)}.")


@dataclass(frozen=True)
class MeanFieldNet:
    """Architecture of a mean-field two-layer net: input dimension, activation, bias flag.

    The parameters live outside, in ``theta`` (N, D), so that steps stay pure functions.
    """

    d: int
    activation: str = "tanh"
    bias: bool = False

    def __post_init__(self):
        check_int("d", self.d, min_value=1)
        check_choice("activation", self.activation, ACTIVATIONS)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise TypeError(f"bias must be a bool, got {self.bias!r}.")

    @property
    def D(self) -> int:
        """Particle dimension ``D = 1 + d (+1 with bias)``."""
        return 1 + self.d + int(self.bias)

    @property
    def in_theorem(self) -> bool:
        return activation_in_theorem(self.activation)


def _check_theta(net: MeanFieldNet, theta, name: str = "theta"):
    xp = xp_of(theta)
    theta = check_array(name, theta, ndim=2, xp=xp)
    if theta.shape[1] != net.D:
        raise ValueError(f"{name} has {theta.shape[1]} columns, expected D = {net.D} "
                         f"(a, w_1..w_{net.d}{', c' if net.bias else ''}).")
    if theta.shape[0] < 1:
        raise ValueError(f"{name} has no particles; N must be >= 1.")
    return theta, xp


def _check_X(net: MeanFieldNet, X, xp, name: str = "X"):
    X = check_array(name, X, ndim=2, xp=xp)
    if X.shape[1] != net.d:
        raise ValueError(f"{name} has {X.shape[1]} columns, expected d = {net.d}.")
    return X


def init_particles(net: MeanFieldNet, n: int, *, rng: np.random.Generator, a_scale: float = 1.0,
                   w_scale: float = 1.0) -> np.ndarray:
    """I.i.d. particles with bounded support (the theorem's init assumption), shape ``(n, D)``.

    ``a_i ~ U[-a_scale, a_scale]``, ``w_i`` uniform in the ball of radius ``w_scale`` of ``R^d``,
    ``c_i ~ U[-w_scale, w_scale]`` with bias.
    """
    n = check_int("n", n, min_value=1)
    a_scale = check_real("a_scale", a_scale, min_value=0.0)
    w_scale = check_real("w_scale", w_scale, min_value=0.0)
    rng = check_rng(rng)
    theta = np.empty((n, net.D))  # (n, D)
    theta[:, 0] = rng.uniform(-a_scale, a_scale, size=n)
    theta[:, 1 : 1 + net.d] = w_scale * uniform_ball(n, net.d, rng=rng)
    if net.bias:
        theta[:, -1] = rng.uniform(-w_scale, w_scale, size=n)
    return theta


def uniform_ball(n: int, d: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform in the unit ball of ``R^d`` (n, d)."""
    n = check_int("n", n, min_value=0)
    d = check_int("d", d, min_value=1)
    rng = check_rng(rng)
    G = rng.standard_normal((n, d))  # (n, d)
    G /= np.maximum(np.linalg.norm(G, axis=1, keepdims=True), 1e-300)
    return G * rng.uniform(size=(n, 1)) ** (1.0 / d)


def _split(net: MeanFieldNet, theta):
    a = theta[:, 0]  # (N,)
    W = theta[:, 1 : 1 + net.d]  # (N, d)
    c = theta[:, 1 + net.d] if net.bias else None  # (N,)
    return a, W, c


def forward(net: MeanFieldNet, theta, X):
    """``f_N(x_j; theta)`` for the rows of ``X`` (n, d) -> (n,) (numpy or cupy)."""
    theta, xp = _check_theta(net, theta)
    X = _check_X(net, X, xp)
    a, W, c = _split(net, theta)
    Z = X @ W.T  # (n, N)
    if c is not None:
        Z += c[None, :]
    return activation(net.activation, Z) @ a / theta.shape[0]  # (n,)


def forward_path(net: MeanFieldNet, theta_a, theta_b, X, ts):
    """Outputs of ``theta(t) = (1 - t) theta_a + t theta_b`` for each ``t`` in ``ts`` -> (T, n)."""
    theta_a, xp = _check_theta(net, theta_a, "theta_a")
    theta_b, _ = _check_theta(net, theta_b, "theta_b")
    if theta_a.shape != theta_b.shape:
        raise ValueError(f"theta_a and theta_b differ in shape: {theta_a.shape} vs {theta_b.shape}.")
    return xp.stack([forward(net, (1.0 - t) * theta_a + t * theta_b, X) for t in ts])  # (T, n)


# --------------------------------------------------------------------------------------- step
@dataclass
class Workspace:
    """Preallocated scratch of the numba kernel for ``N`` particles and batch ``B``."""

    Z: np.ndarray  # (N, B) pre-activations
    S: np.ndarray  # (N, B) activations sigma(Z)
    partial: np.ndarray  # (n_chunks, B) chunked output sums
    resid: np.ndarray  # (B,) residuals y - f

    @classmethod
    def allocate(cls, n: int, batch: int) -> "Workspace":
        from ._mf_kernels import CHUNK

        n_chunks = -(-n // CHUNK)
        return cls(np.empty((n, batch)), np.empty((n, batch)), np.empty((n_chunks, batch)), np.empty(batch))

    def fits(self, n: int, batch: int) -> bool:
        return self.Z.shape == (n, batch)


def noise_scale(s: float, tau: float, D: int) -> float:
    """Standard deviation of the injected noise per coordinate: ``sqrt(2 s tau / D)``."""
    return math.sqrt(2.0 * s * tau / D)


def _step_reference(net: MeanFieldNet, theta, X, y, g, s, lam, tau, xp):
    a, W, c = _split(net, theta)
    N, B = theta.shape[0], X.shape[0]
    Z = X @ W.T  # (B, N)
    if c is not None:
        Z = Z + c[None, :]
    S = activation(net.activation, Z)  # (B, N)
    r = y - S @ a / N  # (B,) residuals
    M = activation_grad(net.activation, Z) * r[:, None]  # (B, N)
    grad = xp.empty_like(theta)  # (N, D): (1/B) sum_j r_j grad_theta sigma_*(x_j; theta_i)
    grad[:, 0] = S.T @ r / B
    grad[:, 1 : 1 + net.d] = a[:, None] * (M.T @ X) / B
    if c is not None:
        grad[:, -1] = a * M.sum(axis=0) / B
    return (1.0 - 2.0 * lam * s) * theta + (2.0 * s) * grad + noise_scale(s, tau, net.D) * g


def step(net: MeanFieldNet, theta, X, y, noise, *, s: float, lam: float = 0.0, tau: float = 0.0,
         kernel: str = "numba", out=None, workspace: Workspace | None = None,
         threads: int | None = None):
    """One noisy SGD step; a pure function of its inputs (the noise is injected).

    Parameters
    ----------
    theta : (N, D) particles ``[a, w, (c)]``; not modified unless passed as ``out``.
    X, y : (B, d), (B,) the mini-batch.
    noise : (N, D) standard normals ``g`` (scaled here by ``sqrt(2 s tau / D)``).
    s : step size ``s_k = eps xi(k eps) > 0``; ``lam`` ridge ``lambda >= 0``; ``tau`` temperature.
    kernel : ``"numba"`` (CPU only) or ``"numpy"`` (the reference; runs on cupy arrays too).
    out : optional (N, D) float64 C-contiguous output array; must not overlap ``theta``.
    workspace : optional preallocated :class:`Workspace` of the numba kernel.
    threads : numba threads for this call (None: numba's current setting). The result does not
        depend on it (fixed-chunk reductions); on a loaded 2-core machine 1 thread is often faster.

    Returns
    -------
    (N, D) updated particles.
    """
    kernel = check_choice("kernel", kernel, KERNELS)
    theta, xp = _check_theta(net, theta)
    X = _check_X(net, X, xp)
    y = check_array("y", y, ndim=1, xp=xp)
    noise = check_array("noise", noise, ndim=2, xp=xp)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} labels for {X.shape[0]} inputs.")
    if X.shape[0] < 1:
        raise ValueError("the mini-batch is empty; B must be >= 1.")
    if noise.shape != theta.shape:
        raise ValueError(f"noise has shape {tuple(noise.shape)}, expected {tuple(theta.shape)}.")
    s = check_real("s", s, min_value=0.0, strict_min=True)
    lam = check_real("lam", lam, min_value=0.0)
    tau = check_real("tau", tau, min_value=0.0)
    if kernel == "numpy":
        res = _step_reference(net, theta, X, y, noise, s, lam, tau, xp)
        if out is not None:
            out[...] = res
            return out
        return res
    if xp is not np:
        raise ValueError("kernel='numba' runs on the CPU only; use kernel='numpy' for cupy arrays.")
    with _numba_threads(threads):
        return _step_numba(net, theta, X, y, noise, s, lam, tau, out, workspace)


class _numba_threads:
    """Context manager setting numba's thread count for the calling thread (None: unchanged)."""

    def __init__(self, threads):
        self.threads = None if threads is None else check_int("threads", threads, min_value=1)

    def __enter__(self):
        if self.threads is not None:
            import numba

            self.saved = numba.get_num_threads()
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        if self.threads is not None:
            import numba

            numba.set_num_threads(self.saved)
        return False


def _step_numba(net, theta, X, y, g, s, lam, tau, out, ws):
    from ._mf_kernels import ACT_CODES, sgd_step_kernel

    N, B = theta.shape[0], X.shape[0]
    if ws is None or not ws.fits(N, B):
        ws = Workspace.allocate(N, B)
    if out is None:
        out = np.empty_like(theta)
    elif out.shape != theta.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {theta.shape}.")
    if np.shares_memory(out, theta):
        raise ValueError("out must not overlap theta; the numba kernel does not update in place.")
    theta = np.ascontiguousarray(theta)
    sgd_step_kernel(theta, np.ascontiguousarray(X), np.ascontiguousarray(y), np.ascontiguousarray(g),
                    s, lam, noise_scale(s, tau, net.D), ACT_CODES[net.activation], bool(net.bias),
                    out, ws.Z, ws.S, ws.partial, ws.resid)
    return out


# ---------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class SGDSchedule:
    """Noisy SGD hyper-parameters: ``s_k = eps xi(k eps)``, ``K = round(T / eps)`` steps.

    ``xi`` is a bounded non-negative function of time (constant 1 when None).
    """

    eps: float
    T: float
    lam: float = 0.0
    tau: float = 0.0
    batch: int = 1
    xi: Callable[[float], float] | None = None

    def __post_init__(self):
        check_real("eps", self.eps, min_value=0.0, strict_min=True)
        check_real("T", self.T, min_value=0.0)
        check_real("lam", self.lam, min_value=0.0)
        check_real("tau", self.tau, min_value=0.0)
        check_int("batch", self.batch, min_value=1)
        if self.xi is not None and not callable(self.xi):
            raise TypeError(f"xi must be a callable t -> step multiplier or None, got {self.xi!r}.")

    @property
    def n_steps(self) -> int:
        return int(round(self.T / self.eps))

    def step_size(self, k: int) -> float:
        if self.xi is None:
            return self.eps
        v = self.xi(k * self.eps)
        if not (isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v) and v > 0):
            raise ValueError(f"xi({k * self.eps}) == {v!r}; the schedule must be finite and > 0.")
        return self.eps * float(v)

    def record(self) -> dict:
        """JSON-able description for result tables (includes the noise convention)."""
        return {"eps": self.eps, "T": self.T, "lam": self.lam, "tau": self.tau, "batch": self.batch,
                "xi": "constant 1" if self.xi is None else getattr(self.xi, "__name__", repr(self.xi)),
                "noise": NOISE_CONVENTION}


NOISE_SOURCES = ("host", "device")


def train(net: MeanFieldNet, theta0, data, schedule: SGDSchedule, *, rng: np.random.Generator,
          kernel: str = "numba", threads: int | None = None, noise_source: str = "host"):
    """Run ``schedule.n_steps`` noisy SGD steps from ``theta0`` (not modified); returns ``theta_K``.

    Each step draws a fresh mini-batch ``data.sample(B, rng=rng)`` and then the noise
    ``rng.standard_normal((N, D))`` from the same generator, in that order, so the numba and
    numpy kernels follow the same trajectory for the same ``rng`` state. With ``tau == 0`` no
    noise is drawn. ``threads``: numba threads (see :func:`step`); the result does not depend on it.

    ``noise_source`` matters for cupy ``theta0`` only. ``"host"`` (default) draws the noise as
    above and copies it to the device, so a GPU run follows the CPU trajectory to rounding; that
    copy and the host draw bound the step rate (about one numba step, whatever the GPU).
    ``"device"`` draws it with a cupy generator seeded once from ``rng``: the run is reproducible
    for the seed and has the same law, but it is a different trajectory from the CPU's. Measured
    on an H100, N = 1e5 particles in d = 100: 6 steps/s with host noise, about 1000 with device
    noise (``python -m benchmarks.bench_meanfield``).
    """
    rng = check_rng(rng)
    kernel = check_choice("kernel", kernel, KERNELS)
    noise_source = check_choice("noise_source", noise_source, NOISE_SOURCES)
    if not isinstance(schedule, SGDSchedule):
        raise TypeError(f"schedule must be an SGDSchedule, got {type(schedule).__name__}.")
    theta0, xp = _check_theta(net, theta0, "theta0")
    if getattr(data, "d", net.d) != net.d:
        raise ValueError(f"data has input dimension {data.d}, the network expects d = {net.d}.")
    if xp is not np and kernel == "numba":
        raise ValueError("kernel='numba' runs on the CPU only; use kernel='numpy' for cupy arrays.")
    N, D, B = theta0.shape[0], net.D, schedule.batch
    theta = theta0.copy()  # (N, D)
    spare = xp.empty_like(theta)  # (N, D) the numba kernel writes here, then the two swap
    g = xp.zeros((N, D))  # (N, D) noise buffer, refilled each step
    ws = Workspace.allocate(N, B) if kernel == "numba" else None
    device_rng = None
    if xp is not np and noise_source == "device":
        device_rng = xp.random.default_rng(int(rng.integers(2**63)))
    with _numba_threads(threads if kernel == "numba" else None):
        theta = _train_loop(net, theta, spare, g, ws, data, schedule, rng, kernel, xp, device_rng)
    if not bool(xp.all(xp.isfinite(theta))):
        raise FloatingPointError("noisy SGD diverged (non-finite particles); lower eps or the scales.")
    return theta


def _train_loop(net, theta, spare, g, ws, data, schedule, rng, kernel, xp, device_rng=None):
    N, D, B = theta.shape[0], net.D, schedule.batch
    for k in range(schedule.n_steps):
        X, y = data.sample(B, rng=rng)  # (B, d), (B,)
        if schedule.tau > 0:
            if xp is np:
                rng.standard_normal(out=g)
            elif device_rng is not None:
                g = device_rng.standard_normal((N, D))
            else:
                g = xp.asarray(rng.standard_normal((N, D)))
        s = schedule.step_size(k)
        if kernel == "numba":
            _step_numba(net, theta, X, y, g, s, schedule.lam, schedule.tau, spare, ws)
            theta, spare = spare, theta
        else:
            theta = _step_reference(net, theta, xp.asarray(X), xp.asarray(y), g, s, schedule.lam,
                                    schedule.tau, xp)
    return theta


def risk(net: MeanFieldNet, theta, X, y) -> float:
    """Empirical squared risk ``mean_j (y_j - f_N(x_j))^2`` on a held-out set."""
    f = forward(net, theta, X)
    return float(to_numpy(((y - f) ** 2).mean()))


# -------------------------------------------------------------------------------- data models
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


INPUT_LAWS = ("ball", "cube", "gaussian")


def sample_inputs(n: int, d: int, law: str, *, rng: np.random.Generator, radius: float = 1.0):
    """Inputs ``(n, d)``: uniform in the ball / cube of radius ``radius`` (bounded support, the
    theorem's assumption) or standard Gaussian (unbounded)."""
    law = check_choice("law", law, INPUT_LAWS)
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
        self.inputs = check_choice("inputs", inputs, INPUT_LAWS)
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
        return forward(self.net, self.theta, X)

    def sample(self, n: int, *, rng: np.random.Generator):
        n = check_int("n", n, min_value=1)
        rng = check_rng(rng)
        X = sample_inputs(n, self.d, self.inputs, rng=rng, radius=self.radius)  # (n, d)
        y = self.target(X)  # (n,)
        if self.noise_sd > 0:
            y = y + self.noise_sd * rng.standard_normal(n)
        return X, y

    def describe(self) -> str:
        return (f"{self.theta.shape[0]}-neuron {self.net.activation} teacher, d={self.d}, "
                f"inputs {self.inputs}(r={self.radius}), label noise {self.noise_sd}")


# ------------------------------------------------------------------- LMC between two networks
def align(theta_a, theta_b) -> np.ndarray:
    """Permutation ``perm`` with ``theta_b[perm]`` aligned to ``theta_a`` by exact assignment on
    ``theta_i = (a_i, w_i[, c_i])``; ``mean_i |theta_a[i] - theta_b[perm[i]]|^2 = W_2^2`` of the
    two particle clouds (Birkhoff, Ferbach et al. Lemma B.3). CPU assignment."""
    from .transport import match_rows

    return match_rows(to_numpy(theta_a), to_numpy(theta_b))


@dataclass(frozen=True)
class InterpolationResult:
    """Along ``theta(t) = (1 - t) theta_A + t theta_B~`` on the grid ``ts``:

    ``err_max[k] = max_x |f_{theta(t_k)}(x) - ((1 - t_k) f_A(x) + t_k f_B(x))|``, ``err_rms[k]``
    the RMS over inputs, ``loss[k]`` the squared risk of ``theta(t_k)``, and the barriers of
    THEORY.md §0 for that loss (``barrier``, ``barrier_rebasin``, ``midpoint_loss``).
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
    ts = np.asarray(ts, dtype=float)
    F = to_numpy(forward_path(net, theta_a, theta_b, X, ts))  # (T, n)
    y = to_numpy(y)
    dev = np.abs(F - ((1.0 - ts)[:, None] * F[0] + ts[:, None] * F[-1]))  # (T, n)
    loss = ((F - y[None, :]) ** 2).mean(axis=1)  # (T,)
    return InterpolationResult(ts, dev.max(axis=1), np.sqrt((dev**2).mean(axis=1)), loss,
                               barrier_values(ts, loss), int(F.shape[1]))


def path_bound(net: MeanFieldNet, theta_a, theta_b, X) -> np.ndarray:
    """Deterministic bound of THEORY.md §6.4 per input, maximised over ``t`` (``t(1-t) <= 1/4``):

    .. math:: \\sup_t |f_{\\theta(t)}(x) - (1-t) f_A(x) - t f_B(x)| \\le
              \\frac{L_\\sigma}{4N} \\sum_i (|a_i| + |b_i|)\\, |z^A_i(x) - z^B_i(x)| ,

    ``z_i(x) = <w_i, x> + c_i``, ``L_sigma`` the Lipschitz constant of the activation. Returns (n,).
    """
    theta_a, xp = _check_theta(net, theta_a, "theta_a")
    theta_b, _ = _check_theta(net, theta_b, "theta_b")
    X = _check_X(net, X, xp)
    a, Wa, ca = _split(net, theta_a)
    b, Wb, cb = _split(net, theta_b)
    dZ = X @ (Wa - Wb).T  # (n, N)
    if ca is not None:
        dZ = dZ + (ca - cb)[None, :]
    return to_numpy(LIPSCHITZ[net.activation] / 4.0 * (xp.abs(dZ) @ (xp.abs(a) + xp.abs(b)))
                    / theta_a.shape[0])


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
    curv = CURVATURE[net.activation]
    if curv is None:
        raise ValueError(f"activation={net.activation!r} is not twice differentiable; the second-order "
                         f"bound needs one of {', '.join(THEOREM_ACTIVATIONS)}.")
    theta_a, xp = _check_theta(net, theta_a, "theta_a")
    theta_b, _ = _check_theta(net, theta_b, "theta_b")
    X = _check_X(net, X, xp)
    a, Wa, ca = _split(net, theta_a)
    b, Wb, cb = _split(net, theta_b)
    dZ = X @ (Wa - Wb).T  # (n, N)
    if ca is not None:
        dZ = dZ + (ca - cb)[None, :]
    first = LIPSCHITZ[net.activation] * (xp.abs(dZ) @ xp.abs(a - b))  # (n,)
    second = 0.5 * curv * ((dZ * dZ) @ xp.maximum(xp.abs(a), xp.abs(b)))  # (n,)
    return to_numpy((first + second) / (4.0 * theta_a.shape[0]))


def cloud_distances(theta_a, theta_b, perm=None) -> dict:
    """``W_2`` (from the alignment ``perm``, exact by Birkhoff) and exact ``W_1`` between the two
    particle clouds, plus the same mean distances for the identity pairing."""
    from .transport import empirical_wasserstein

    A, Bm = to_numpy(theta_a), to_numpy(theta_b)
    if perm is None:
        perm = align(A, Bm)
    return {
        "w2_clouds": float(np.sqrt(((A - Bm[perm]) ** 2).sum(1).mean())),
        "w1_clouds": empirical_wasserstein(A, Bm, p=1.0),
        "rms_dist_identity": float(np.sqrt(((A - Bm) ** 2).sum(1).mean())),
    }


def power_law_ci(n, y, *, n_min: float | None = None, rng: np.random.Generator, n_boot: int = 2000,
                 level: float = 0.95):
    """Fitted exponent of ``E[y] ~ C n^slope`` with a percentile bootstrap interval (replicates
    resampled within each ``n``): the unweighted case of :func:`otlmc.fit.fit_rate`.

    Returns ``(slope, lo, hi)``.
    """
    from .fit import fit_rate

    rng = check_rng(rng)
    n_boot = check_int("n_boot", n_boot, min_value=10)
    level = check_real("level", level, min_value=0.0, max_value=1.0, strict_min=True)
    f = fit_rate(n, y, n_min=n_min, n_boot=n_boot, ci=level, rng=rng, weighted=False)
    return f.slope, f.ci_low, f.ci_high
