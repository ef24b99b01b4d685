"""Noisy regularised SGD of mean-field particles: one step (numba or numpy) and the training loop.

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
  (:mod:`otlmc.meanfield.kernels`); agrees with the reference to ~1e-15 relative;
- ``"numpy"``: plain array reference, written against the array-module seam so that it is also
  the **cupy path** when ``theta`` is a cupy array (agreement to float tolerance).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from .._validation import check_array, check_choice, check_int, check_real
from ..activations import activate, activation_grad
from ..rng import check_rng
from .kernels import ACT_CODES, CHUNK, sgd_step_kernel
from .model import MeanFieldNet, _check_theta, _check_X, _split


KERNELS = ("numba", "numpy")


NOISE_CONVENTION = "sqrt(2 s_k tau / D)"


@dataclass
class Workspace:
    """Preallocated scratch of the numba kernel for ``N`` particles and batch ``B``."""

    Z: np.ndarray  # (N, B) pre-activations
    S: np.ndarray  # (N, B) activations sigma(Z)
    partial: np.ndarray  # (n_chunks, B) chunked output sums
    resid: np.ndarray  # (B,) residuals y - f

    @classmethod
    def allocate(cls, n: int, batch: int) -> "Workspace":
        n_chunks = -(-n // CHUNK)
        return cls(np.empty((n, batch)), np.empty((n, batch)), np.empty((n_chunks, batch)), np.empty(batch))

    def shapes(self, n: int, batch: int) -> dict[str, tuple[int, ...]]:
        """The shape each buffer must have for ``N = n`` particles and batch ``B = batch``."""
        return {"Z": (n, batch), "S": (n, batch), "partial": (-(-n // CHUNK), batch), "resid": (batch,)}

    def fits(self, n: int, batch: int) -> bool:
        """Whether every buffer is a C-contiguous, writeable float64 array of its shape (nothing else is used)."""
        return all(isinstance(a, np.ndarray) and a.shape == shape and a.dtype == np.float64
                   and a.flags.c_contiguous and a.flags.writeable
                   for a, shape in zip((self.Z, self.S, self.partial, self.resid), self.shapes(n, batch).values()))

    def check(self, n: int, batch: int) -> None:
        """Raise ValueError/TypeError naming the first buffer the kernel cannot write safely.

        The numba kernel does no bounds checking: a buffer too small would be written out of bounds.
        """
        for name, shape in self.shapes(n, batch).items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray):
                raise TypeError(f"workspace.{name} must be a numpy array, got {type(a).__name__}.")
            if a.shape != shape or a.dtype != np.float64 or not a.flags.c_contiguous or not a.flags.writeable:
                raise ValueError(f"workspace.{name} is a {a.dtype} array of shape {a.shape} "
                                 f"({'C-contiguous' if a.flags.c_contiguous else 'not C-contiguous'}"
                                 f"{'' if a.flags.writeable else ', read-only'}); the kernel needs a writeable "
                                 f"C-contiguous float64 array of shape {shape} for N = {n}, B = {batch}. "
                                 f"Use Workspace.allocate(N, B).")
        bufs = (self.Z, self.S, self.partial, self.resid)
        if any(np.may_share_memory(a, b) for i, a in enumerate(bufs) for b in bufs[i + 1:]):
            raise ValueError("workspace buffers Z, S, partial and resid must not overlap.")


def noise_scale(s: float, tau: float, D: int) -> float:
    """Standard deviation of the injected noise per coordinate: ``sqrt(2 s tau / D)``."""
    return math.sqrt(2.0 * s * tau / D)


def _step_reference(net: MeanFieldNet, theta, X, y, g, s, lam, tau, xp):
    a, W, c = _split(net, theta)
    N, B = theta.shape[0], X.shape[0]
    Z = X @ W.T  # (B, N)
    if c is not None:
        Z = Z + c[None, :]
    S = activate(net.activation, Z)  # (B, N)
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
    workspace : optional preallocated :class:`Workspace` of the numba kernel; every buffer is checked
        (shape, float64, C-contiguous, writeable, no overlap) before the kernel runs.
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
    if workspace is not None:
        if not isinstance(workspace, Workspace):
            raise TypeError(f"workspace must be a Workspace (Workspace.allocate(N, B)), got {type(workspace).__name__}.")
        workspace.check(theta.shape[0], X.shape[0])
    with _numba_threads(threads):
        return _step_numba(net, theta, X, y, noise, s, lam, tau, out, workspace)


class _numba_threads:
    """Context manager setting numba's thread count for the calling thread (None: unchanged)."""

    def __init__(self, threads):
        self.threads = None if threads is None else check_int("threads", threads, min_value=1)

    def __enter__(self):
        if self.threads is not None:
            self.saved = numba.get_num_threads()
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        if self.threads is not None:
            numba.set_num_threads(self.saved)
        return False


def _step_numba(net, theta, X, y, g, s, lam, tau, out, ws):
    N, B = theta.shape[0], X.shape[0]
    if ws is None or not ws.fits(N, B):  # never hand the kernel a buffer it could overrun
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


def mf_train(net: MeanFieldNet, theta0, data, schedule: SGDSchedule, *, rng: np.random.Generator,
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


__all__ = ["KERNELS", "NOISE_CONVENTION", "NOISE_SOURCES", "SGDSchedule", "Workspace", "mf_train", "noise_scale",
           "step"]
