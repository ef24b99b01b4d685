"""Tests of otlmc.meanfield: kernels against the reference, closed forms, theory rates, the sim."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from otlmc.activations import ACTIVATIONS
from otlmc.backend import cupy_available
from otlmc.meanfield import (
    IsotropicGaussians,
    MeanFieldNet,
    NOISE_CONVENTION,
    SGDSchedule,
    TeacherNetwork,
    Workspace,
    align_particles,
    cloud_distances,
    init_particles,
    interpolation,
    mf_forward,
    mf_train,
    path_bound,
    path_bound_second_order,
    risk,
    step,
    uniform_ball,
)
from otlmc.fit import fit_rate
from otlmc.sweep import column, read_csv


def _problem(seed, n=300, d=3, batch=5, activation="tanh", bias=True):
    rng = np.random.default_rng(seed)
    net = MeanFieldNet(d, activation, bias=bias)
    theta = init_particles(net, n, rng=rng, a_scale=2.0, w_scale=1.5)  # (n, D)
    X = rng.standard_normal((batch, d))  # (B, d)
    y = rng.standard_normal(batch)  # (B,)
    g = rng.standard_normal(theta.shape)  # (n, D)
    return net, theta, X, y, g


# ------------------------------------------------------------------------ kernels agree
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("n,batch", [(1, 1), (300, 1), (700, 32)])
def test_numba_step_matches_numpy_reference(activation, bias, n, batch):
    net, theta, X, y, g = _problem(1, n=n, batch=batch, activation=activation, bias=bias)
    before = theta.copy()
    kw = dict(s=0.07, lam=0.3, tau=0.5)
    a = step(net, theta, X, y, g, kernel="numba", **kw)
    b = step(net, theta, X, y, g, kernel="numpy", **kw)
    # Only the summation order differs (fixed chunks vs BLAS): ~1e-16 relative, 1e-12 required.
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * max(1.0, np.abs(b).max()))
    assert np.array_equal(theta, before), "step must not modify its input"
    assert not np.array_equal(a, theta)


def test_trajectories_agree_and_do_not_depend_on_threads():
    net = MeanFieldNet(3, "tanh", bias=True)
    data = TeacherNetwork.random(3, 4, rng=np.random.default_rng(0))
    theta0 = init_particles(net, 600, rng=np.random.default_rng(1))  # 600 > one 256-neuron chunk
    sched = SGDSchedule(eps=0.02, T=1.0, lam=0.05, tau=0.1, batch=3)
    ref = mf_train(net, theta0, data, sched, rng=np.random.default_rng(2), kernel="numpy")
    # Fixed-chunk reductions: bit-identical whatever the thread count.
    t1 = mf_train(net, theta0, data, sched, rng=np.random.default_rng(2), kernel="numba", threads=1)
    t2 = mf_train(net, theta0, data, sched, rng=np.random.default_rng(2), kernel="numba", threads=2)
    assert np.array_equal(t1, t2)
    # 50 steps of a contracting-in-mean dynamics amplify 1e-16 round-off to at most ~1e-14 here.
    np.testing.assert_allclose(t1, ref, rtol=0, atol=1e-11)
    assert np.abs(t1 - theta0).max() > 1e-2  # the particles did move


def test_out_and_workspace_reuse():
    net, theta, X, y, g = _problem(3, n=50, batch=2)
    out = np.empty_like(theta)
    ws = Workspace.allocate(50, 2)
    r = step(net, theta, X, y, g, s=0.1, kernel="numba", out=out, workspace=ws)
    assert r is out
    np.testing.assert_array_equal(out, step(net, theta, X, y, g, s=0.1, kernel="numba"))
    with pytest.raises(ValueError, match="overlap"):
        step(net, theta, X, y, g, s=0.1, kernel="numba", out=theta)


# -------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("bias,batch,lam", [(False, 1, 0.0), (True, 4, 0.0), (True, 3, 0.7)])
def test_drift_equals_finite_difference_gradient(bias, batch, lam):
    """Noise-free step vs central differences of the mini-batch loss.

    With ``l_j = (y_j - f_N(x_j))^2``, ``d l_j / d theta_i = -(2/N) (y_j - f_N(x_j)) grad sigma_*``,
    so the step is ``theta_i - 2 lam s theta_i - (s N / B) sum_j d l_j / d theta_i``.
    """
    net, theta, X, y, _ = _problem(4, n=7, d=3, batch=batch, bias=bias)
    s, h = 0.01, 1e-6
    new = step(net, theta, X, y, np.zeros_like(theta), s=s, lam=lam, tau=0.0, kernel="numba")

    def loss(th):
        return np.sum((y - mf_forward(net, th, X)) ** 2)

    grad = np.zeros_like(theta)
    for i in range(theta.shape[0]):
        for k in range(theta.shape[1]):
            e = np.zeros_like(theta)
            e[i, k] = h
            grad[i, k] = (loss(theta + e) - loss(theta - e)) / (2 * h)
    expected = (1 - 2 * lam * s) * theta - s * theta.shape[0] / batch * grad
    # central differences: error O(h^2 |f'''|) + O(eps_mach / h) ~ 1e-10 on O(1) entries, x s N / B
    np.testing.assert_allclose(new, expected, rtol=0, atol=1e-8)


class _ZeroData:
    """x = 0, y = 0: with tanh and no bias sigma_*(0; theta) = a tanh(0) = 0 and its gradient
    (tanh(0), a tanh'(0) * 0) vanishes, so only the ridge and the noise act."""

    def __init__(self, d):
        self.d = d

    def sample(self, n, *, rng):
        return np.zeros((n, self.d)), np.zeros(n)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("d,lam,s,tau", [(2, 1.0, 0.05, 0.3), (5, 0.5, 0.2, 1.0)])
def test_quadratic_potential_reaches_ar1_gibbs_variance(seed, d, lam, s, tau):
    """Stationary variance under the quadratic potential ``Psi = (lam/2) |theta|^2``.

    The step is ``theta <- rho theta + sigma g`` with ``rho = 1 - 2 lam s``,
    ``sigma^2 = 2 s tau / D`` (convention ``sqrt(2 s tau / D)``). From ``theta_0 = 0``,
    ``Var theta_k = sigma^2 (1 - rho^{2k}) / (1 - rho^2)`` per coordinate, and the stationary value is

        v = (2 s tau / D) / (4 lam s (1 - lam s)) = tau / (2 D lam (1 - lam s))

    -> ``tau / (2 D lam)`` as ``s -> 0``: the OU process ``d theta = -2 lam theta dt +
    sqrt(2 tau / D) dB``, whose stationary law is the Gibbs measure ``exp(-(2 D / tau) Psi)``.
    (docs/theory.md §7 D1 states the convention: the limit PDE written with diffusion ``2 xi tau / D`` has Gibbs law
    ``exp(-(D / tau) Psi)``, variance ``tau / (D lam)``: twice this; with the 2019 noise convention
    the discrete scheme samples the Gibbs law at temperature ``tau / 2``.)

    Tolerance: the sample variance of ``n = N D`` independent normals has relative sd
    ``sqrt(2 / n)`` (0.008 at n = 30000 for D = 3, 0.005 at n = 72000 for D = 6); the 4%
    band is > 5 sd, and the exact finite-k factor is used.
    """
    net = MeanFieldNet(d, "tanh")
    N = 12000 if d == 5 else 10000
    D = net.D
    k = 60
    rho = 1 - 2 * lam * s
    sched = SGDSchedule(eps=s, T=k * s, lam=lam, tau=tau)
    assert sched.n_steps == k
    theta = mf_train(net, np.zeros((N, D)), _ZeroData(d), sched, rng=np.random.default_rng(seed))
    v_k = (2 * s * tau / D) * (1 - rho ** (2 * k)) / (1 - rho**2)
    v_inf = tau / (2 * D * lam * (1 - lam * s))
    assert abs(v_k - v_inf) / v_inf < 1e-3  # k steps suffice to be stationary
    emp = theta.var()
    assert abs(emp / v_k - 1) < 0.04, (emp, v_k)
    assert abs(theta.mean()) < 5 * math.sqrt(v_k / theta.size)


def test_noise_convention_is_recorded():
    sched = SGDSchedule(eps=0.1, T=1.0, tau=0.2)
    assert sched.record()["noise"] == NOISE_CONVENTION == "sqrt(2 s_k tau / D)"


def test_schedule_xi_scales_the_step():
    # With x = 0 the recursion is linear: theta_K = prod_k (1 - 2 lam s_k) theta_0 exactly.
    net = MeanFieldNet(2, "tanh")
    theta0 = np.ones((3, net.D))

    def xi(t):
        return 1.0 + t

    sched = SGDSchedule(eps=0.1, T=1.0, lam=0.5, xi=xi)
    out = mf_train(net, theta0, _ZeroData(2), sched, rng=np.random.default_rng(0))
    factor = np.prod([1 - 2 * 0.5 * 0.1 * (1 + k * 0.1) for k in range(10)])
    np.testing.assert_allclose(out, factor * theta0, rtol=1e-13)


# ------------------------------------------------------------- deterministic LMC facts
@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "arctan", "identity"])
def test_path_bounds_hold_for_every_sample(seed, activation):
    """docs/theory.md §6.4 (linear) and the second-order bound are deterministic inequalities."""
    rng = np.random.default_rng(seed)
    net = MeanFieldNet(3, activation, bias=True)
    A = init_particles(net, 64, rng=rng, a_scale=3.0, w_scale=2.0)
    B = init_particles(net, 64, rng=rng, a_scale=3.0, w_scale=2.0)
    Bt = B[align_particles(A, B)]
    X = 2.0 * rng.standard_normal((100, 3))
    y = np.zeros(100)
    res = interpolation(net, A, Bt, X, y, np.linspace(0, 1, 101))
    F = np.stack([mf_forward(net, (1 - t) * A + t * Bt, X) for t in res.ts])  # (T, n)
    dev = np.abs(F - ((1 - res.ts)[:, None] * F[0] + res.ts[:, None] * F[-1])).max(axis=0)  # (n,)
    assert np.all(dev <= path_bound(net, A, Bt, X) * (1 + 1e-12) + 1e-15)
    assert np.all(dev <= path_bound_second_order(net, A, Bt, X) * (1 + 1e-12) + 1e-15)
    assert res.err_max.max() == pytest.approx(dev.max(), rel=1e-12)


def test_alignment_recovers_a_permuted_copy_with_zero_error():
    rng = np.random.default_rng(5)
    net = MeanFieldNet(2, "tanh")
    A = init_particles(net, 200, rng=rng)
    p = rng.permutation(200)
    perm = align_particles(A, A[p])
    np.testing.assert_array_equal(A[p][perm], A)
    X = rng.standard_normal((50, 2))
    res = interpolation(net, A, A[p][perm], X, np.zeros(50), np.linspace(0, 1, 5))
    assert res.err_max.max() == 0.0
    dist = cloud_distances(A, A[p])
    assert dist["w2_clouds"] == 0.0 and dist["w1_clouds"] < 1e-7
    # f is permutation invariant (up to summation order).
    np.testing.assert_allclose(mf_forward(net, A[p], X), mf_forward(net, A, X), rtol=0, atol=1e-14)


def test_cloud_w2_is_the_optimal_assignment_cost():
    import ot

    rng = np.random.default_rng(6)
    A, B = rng.standard_normal((30, 3)), rng.standard_normal((30, 3))
    M = ot.dist(A, B)  # squared Euclidean
    w2_pot = math.sqrt(ot.emd2(np.full(30, 1 / 30), np.full(30, 1 / 30), M))
    w1_pot = ot.emd2(np.full(30, 1 / 30), np.full(30, 1 / 30), np.sqrt(M))
    dist = cloud_distances(A, B)
    assert dist["w2_clouds"] == pytest.approx(w2_pot, rel=1e-10)
    assert dist["w1_clouds"] == pytest.approx(w1_pot, rel=1e-10)
    assert dist["w1_clouds"] <= dist["w2_clouds"] <= dist["rms_dist_identity"]


# --------------------------------------------------------------------- data models
def test_isotropic_gaussians_class_variances():
    """Per class and coordinate, ``Var x = (1 + y Delta)^2``; 100000 samples per class give a
    relative sd of the variance estimate sqrt(2 / (d n_class)) ~ 0.002; band 2%."""
    data = IsotropicGaussians(5, delta=0.4)
    X, y = data.sample(200000, rng=np.random.default_rng(0))
    for label, sd in ((1.0, 1.4), (-1.0, 0.6)):
        v = X[y == label].var()
        assert abs(v / sd**2 - 1) < 0.02
    assert abs(np.mean(y == 1.0) - 0.5) < 0.01
    assert not data.bounded


def test_bounded_inputs_and_teacher():
    rng = np.random.default_rng(1)
    X = uniform_ball(100000, 3, rng=rng)
    r = np.linalg.norm(X, axis=1)
    assert r.max() <= 1.0
    # P(|x| <= 1/2) = 2^-3 for the uniform ball in R^3; binomial sd 0.0009, band 0.005
    assert abs(np.mean(r <= 0.5) - 0.125) < 0.005
    teacher = TeacherNetwork.random(3, 4, rng=rng, inputs="cube", radius=2.0)
    Xt, yt = teacher.sample(1000, rng=rng)
    assert np.abs(Xt).max() <= 2.0 and teacher.bounded
    np.testing.assert_array_equal(yt, teacher.target(Xt))


# ---------------------------------------------------------------------- validation
def test_bad_input_names_parameter_and_value():
    net, theta, X, y, g = _problem(0, n=10, batch=2)
    with pytest.raises(ValueError, match=r"s == -0.1, must be > 0"):
        step(net, theta, X, y, g, s=-0.1)
    with pytest.raises(ValueError, match="kernel='cuda' is not known"):
        step(net, theta, X, y, g, s=0.1, kernel="cuda")
    with pytest.raises(ValueError, match="noise has shape"):
        step(net, theta, X, y, g[:5], s=0.1)
    with pytest.raises(ValueError, match="expected D = 5"):
        step(net, theta[:, :3], X, y, g[:, :3], s=0.1)
    bad = theta.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="theta contains 1 non-finite"):
        step(net, bad, X, y, g, s=0.1)
    with pytest.raises(ValueError, match="activation='softplus' is not known"):
        MeanFieldNet(3, "softplus")
    with pytest.raises(ValueError, match="d == 0, must be >= 1"):
        MeanFieldNet(0)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        init_particles(net, 5, rng=0)
    with pytest.raises(ValueError, match="eps == 0.0, must be > 0"):
        SGDSchedule(eps=0.0, T=1.0)
    with pytest.raises(ValueError, match="delta == 1.0, must be < 1"):
        IsotropicGaussians(3, delta=1.0)
    with pytest.raises(ValueError, match="not twice differentiable"):
        path_bound_second_order(MeanFieldNet(3, "relu", bias=True), theta, theta, X)
    with pytest.raises(ValueError, match=r"xi\(0.0\) == -1"):
        mf_train(net, theta, _ZeroData(3), SGDSchedule(eps=0.1, T=0.2, xi=lambda t: -1.0),
                 rng=np.random.default_rng(0))
    assert not MeanFieldNet(3, "relu").in_theorem and MeanFieldNet(3, "arctan").in_theorem


# ----------------------------------------------------------------------- theory rates
def _risk_gap_slope(seed):
    """Fitted exponent of mean |R(A) - R(B)| over 8 pairs of independent runs per N.

    tau = 0 and a large batch (B = 512, 10 steps of eps = 0.05) keep the SGD sampling noise,
    which does not vanish with N, below the N^{-1/2} fluctuation of f_N over this range of N.
    """
    net = MeanFieldNet(2, "tanh")
    data = TeacherNetwork.random(2, 4, rng=np.random.default_rng(100))
    Xte = uniform_ball(4000, 2, rng=np.random.default_rng(101))  # (4000, 2) shared test set
    yte = data.target(Xte)
    sched = SGDSchedule(eps=0.05, T=0.5, batch=512)
    ss = np.random.SeedSequence(seed)
    ns, gaps = [], []
    for n in (16, 64, 256, 1024):
        for _ in range(8):
            ra, rb = (risk(net, mf_train(net, init_particles(net, n, rng=np.random.default_rng(c)), data, sched,
                                         rng=np.random.default_rng(c.spawn(1)[0]), threads=1), Xte, yte)
                      for c in ss.spawn(2))
            ns.append(n)
            gaps.append(abs(ra - rb))
    return fit_rate(np.array(ns, float), np.array(gaps), n_boot=0, weighted=False).slope


@pytest.mark.slow
def test_risk_of_independent_runs_converges_like_n_to_minus_half():
    """Over seeds 0-15 the fitted slope was -0.48 +- 0.07 (min -0.59, max -0.38), consistent with
    the N^{-1/2} propagation-of-chaos fluctuation; band [-0.8, -0.2] (> 4 sd each side)."""
    assert -0.8 <= _risk_gap_slope(0) <= -0.2


def test_aligned_error_falls_with_n_while_unaligned_does_not():
    """Uses the sim's cell. Over root seeds 0-19 (4 pairs each, N = 16 vs 256) the aligned ratio
    err(256)/err(16) was 0.084 +- 0.036 (max 0.153), the unaligned one 0.96 +- 0.15 (min 0.68).
    Bands: aligned < 0.35, unaligned > 0.5."""
    from otlmc.rng import cell_streams
    from sims.meanfield_lmc import SIM, Config, cell

    STREAMS = tuple(SIM.streams)
    cfg = Config(T=1.0, n_ref=256, eps_ref=0.02, n_eval=200, t_points=9)
    means = {}
    for n in (16, 256):
        rows = [cell(cfg, {"width": n, "eps": 0.02}, cell_streams({"n": n, "r": r}, 7, STREAMS)) for r in range(4)]
        means[n] = {k: np.mean([r[k] for r in rows]) for k in ("aligned_err_sup", "unaligned_err_sup")}
    assert means[256]["aligned_err_sup"] < 0.35 * means[16]["aligned_err_sup"]
    assert means[256]["unaligned_err_sup"] > 0.5 * means[16]["unaligned_err_sup"]


# ------------------------------------------------------------------------------- sim
def test_sim_quick_smoke(tmp_path):
    from otlmc.runner import run
    from sims.meanfield_lmc import SIM

    assert run(SIM, ["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for ext in ("csv", "json", "png", "pdf"):
        assert (tmp_path / f"meanfield_lmc.{ext}").stat().st_size > 0
    rows = read_csv(tmp_path / "meanfield_lmc.csv")
    assert len(rows) == 4 * 2 * 3
    meta = json.loads((tmp_path / "meanfield_lmc.json").read_text())
    assert meta["config"]["noise"] == NOISE_CONVENTION
    for key in ("aligned_err_sup", "unaligned_err_sup", "w2_clouds", "w1_clouds", "chaos", "risk_a"):
        v = column(rows, key)
        assert np.all(np.isfinite(v)) and np.all(v >= 0)
    assert np.all(column(rows, "aligned_err_sup") <= column(rows, "aligned_bound_sup") * (1 + 1e-9))
    assert np.all(column(rows, "w1_clouds") <= column(rows, "w2_clouds") * (1 + 1e-9))
    assert np.all(column(rows, "risk_a") < 2.0)  # targets are O(1): the nets did not blow up
    fits = read_csv(tmp_path / "meanfield_lmc_fits.csv")
    by = {(v["claim"], v["setting"]): v for v in fits}
    assert by["path_bound", "all"]["verdict"] == "consistent"
    assert by["aligned_err_rate", "eps=0.02"]["theory"] == pytest.approx(-2 / 3)
    assert by["w2_clouds_rate", "eps=0.02"]["theory"] == pytest.approx(-1 / 3)


def test_sim_claims_apply_only_inside_the_theorem():
    from otlmc.claims import evaluate_all
    from sims.meanfield_lmc import SIM, Config

    rows = [{"eps": 0.01, "width": n, "replicate": r, "aligned_err_sup": n**-0.3, "aligned_bound_sup": 1.0,
             "aligned_bound2_sup": 1.0,
             "unaligned_err_sup": 1.0, "w2_clouds": n**-0.25}
            for n in (32, 64, 128, 256) for r in range(3)]
    v = {x.claim: x for x in evaluate_all(SIM.claims(Config(activation="relu")), rows, sim="meanfield_lmc")}
    assert v["aligned_err_rate"].verdict == "not applicable" and v["path_bound2"].verdict == "not applicable"
    v = {x.claim: x for x in evaluate_all(SIM.claims(Config()), rows, sim="meanfield_lmc")}
    # an error falling like N^-0.3 is slower than the N^-2/3 upper bound allows
    assert v["aligned_err_rate"].verdict == "inconsistent"
    assert v["w2_clouds_rate"].verdict == "inconsistent" and v["unaligned_err_flat"].verdict == "consistent"


# ------------------------------------------------------------------------------- gpu
@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="cupy with a CUDA device is not available")
def test_cupy_step_matches_numpy_reference():
    import cupy as cp

    net, theta, X, y, g = _problem(8, n=700, batch=32, bias=True)
    ref = step(net, theta, X, y, g, s=0.07, lam=0.3, tau=0.5, kernel="numpy")
    gpu = step(net, cp.asarray(theta), cp.asarray(X), cp.asarray(y), cp.asarray(g), s=0.07, lam=0.3,
               tau=0.5, kernel="numpy")
    assert isinstance(gpu, cp.ndarray)
    # float64 on the device; only reduction orders differ
    np.testing.assert_allclose(cp.asnumpy(gpu), ref, rtol=0, atol=1e-10)
    data = TeacherNetwork.random(3, 4, rng=np.random.default_rng(0))
    sched = SGDSchedule(eps=0.02, T=0.4, lam=0.05, tau=0.1, batch=3)
    cpu = mf_train(net, theta, data, sched, rng=np.random.default_rng(2), kernel="numpy")
    dev = mf_train(net, cp.asarray(theta), data, sched, rng=np.random.default_rng(2), kernel="numpy")
    np.testing.assert_allclose(cp.asnumpy(dev), cpu, rtol=0, atol=1e-9)


def test_sim_bad_arguments(capsys):
    from otlmc.runner import run
    from sims.meanfield_lmc import SIM

    assert run(SIM, ["--quick", "--eps-values", "0.01", "-0.1"]) == 2
    assert "--eps-values == -0.1, must be > 0" in capsys.readouterr().err
    assert run(SIM, ["--quick", "--widths", "64"]) == 2
    err = capsys.readouterr().err
    assert "--widths" in err and "two distinct values" in err


def test_benchmark_quick_run_returns_a_checked_table():
    from benchmarks.bench_meanfield import run, step_counts

    res = run(quick=True)
    assert res["roofline"]["peak_gflops"] > 0 and res["roofline"]["bandwidth_gbs"] > 0
    assert len(res["rows"]) == 4
    for row in res["rows"]:
        assert row["max_abs_diff_numba_numpy"] < 1e-12
        assert row["numba_t1_steps_per_s"] > 0 and row["numpy_steps_per_s"] > 0
        assert row["roofline_fraction"] > 0
    flops, bytes_ = step_counts(10, 2, 3)
    assert flops == 10 * 3 * (4 * 2 + 10) + 3 * 10 * 3 and bytes_ == 24 * 10 * 3 + 32 * 10 * 3


def test_noise_source_is_checked():
    net = MeanFieldNet(2, "tanh")
    with pytest.raises(ValueError, match="noise_source='gpu' is not known"):
        mf_train(net, init_particles(net, 8, rng=np.random.default_rng(0)),
                 TeacherNetwork.random(2, 2, rng=np.random.default_rng(0)),
                 SGDSchedule(eps=0.1, T=0.2, lam=0.0, tau=0.1, batch=1), rng=np.random.default_rng(0),
                 noise_source="gpu")
