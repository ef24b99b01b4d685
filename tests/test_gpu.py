"""cupy paths against the numpy reference; every test is skipped without cupy and a CUDA device.

The library is array-module agnostic where that pays (cost matrices, forward passes, path
evaluation, the mean-field reference kernel) and host-only where the algorithm is serial (the
assignment solvers copy cupy costs to the host once). These tests pin both behaviours.
"""
import subprocess
import sys

import numpy as np
import pytest

from otlmc.backend import cupy_available

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not cupy_available(), reason="cupy with a CUDA device is not available")]


@pytest.fixture
def cp():
    import cupy

    return cupy


def _mlp_pair(rng, widths=(6, 64, 32, 3)):
    from otlmc.sampling import sample_mlp

    return sample_mlp(widths, rng=rng), sample_mlp(widths, rng=rng)


def _to_gpu(cp, net):
    from otlmc.networks import MLP

    return MLP([cp.asarray(W) for W in net.weights], [cp.asarray(b) for b in net.biases], net.activation)


def test_import_does_not_touch_cupy():
    code = "import sys, otlmc, sims.width_scaling; assert 'cupy' not in sys.modules, 'cupy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_get_xp_and_round_trip(cp):
    from otlmc.backend import get_xp, to_numpy, xp_of

    assert get_xp("cupy") is cp
    a = cp.arange(5.0)
    assert xp_of(np.zeros(2), a) is cp and xp_of(np.zeros(2)) is np
    np.testing.assert_array_equal(to_numpy(a), np.arange(5.0))


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_cost_matrix_matches_numpy(cp, seed, p):
    from otlmc.transport import cost_matrix

    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(300, 7)), rng.normal(size=(250, 7))
    C = cost_matrix(cp.asarray(X), cp.asarray(Y), p=p)
    assert isinstance(C, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(C), cost_matrix(X, Y, p=p), rtol=1e-10, atol=1e-10)


def test_assignment_and_wasserstein_take_cupy_inputs(cp, seed):
    from otlmc.transport import empirical_wasserstein, match_rows

    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    np.testing.assert_array_equal(np.asarray(match_rows(cp.asarray(A), cp.asarray(B))), match_rows(A, B))
    assert empirical_wasserstein(cp.asarray(A), cp.asarray(B)) == pytest.approx(
        empirical_wasserstein(A, B), rel=1e-10)


def test_forward_path_and_barriers_match_numpy(cp, seed):
    from otlmc.barrier import evaluate_path, layer_gaps
    from otlmc.networks import forward_path

    rng = np.random.default_rng(seed)
    a, b = _mlp_pair(rng)
    X = rng.normal(size=(500, 6))
    ga, gb, gX = _to_gpu(cp, a), _to_gpu(cp, b), cp.asarray(X)
    ts = np.linspace(0, 1, 9)
    out = forward_path(ga, gb, gX, ts)
    assert isinstance(out, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(out), forward_path(a, b, X, ts), rtol=1e-9, atol=1e-10)
    labels = rng.integers(0, 3, size=500)
    for loss, y in (("deviation", None), ("ce", labels), ("mse", rng.normal(size=(500, 3)))):
        ref = evaluate_path(a, b, X, y, ts=ts, loss=loss).summary()
        got = evaluate_path(ga, gb, gX, y, ts=ts, loss=loss).summary()
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k] == pytest.approx(ref[k], rel=1e-8, abs=1e-10), (loss, k)
    ref_gaps, got_gaps = layer_gaps(a, b, X, ts=ts), layer_gaps(ga, gb, gX, ts=ts)
    for k in ref_gaps:
        np.testing.assert_allclose(np.asarray(got_gaps[k], dtype=float), np.asarray(ref_gaps[k], dtype=float),
                                   rtol=1e-8, atol=1e-10)


def test_weight_matching_of_gpu_networks_equals_host(cp, seed):
    from otlmc.matching import weight_matching

    a, b = _mlp_pair(np.random.default_rng(seed))
    ref, got = weight_matching(a, b), weight_matching(_to_gpu(cp, a), _to_gpu(cp, b))
    for p, q in zip(ref.perms, got.perms):
        np.testing.assert_array_equal(np.asarray(p), cp.asnumpy(cp.asarray(q)))


def test_meanfield_training_on_gpu_follows_the_cpu_trajectory(cp, seed):
    from otlmc.meanfield import MeanFieldNet, SGDSchedule, TeacherNetwork, init_particles, mf_train

    net = MeanFieldNet(3, "tanh")
    teacher = TeacherNetwork.random(3, 4, rng=np.random.default_rng(100 + seed))
    theta0 = init_particles(net, 512, rng=np.random.default_rng(seed))
    sched = SGDSchedule(eps=0.02, T=1.0, lam=0.01, tau=0.01, batch=1)
    ref = mf_train(net, theta0, teacher, sched, rng=np.random.default_rng(seed), kernel="numpy")
    got = mf_train(net, cp.asarray(theta0), teacher, sched, rng=np.random.default_rng(seed), kernel="numpy")
    assert isinstance(got, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(got), ref, rtol=0, atol=1e-9)


def test_device_noise_is_reproducible_and_has_the_cpu_law(cp):
    from otlmc.meanfield import MeanFieldNet, SGDSchedule, TeacherNetwork, init_particles, mf_train

    net = MeanFieldNet(2, "tanh")
    teacher = TeacherNetwork.random(2, 4, rng=np.random.default_rng(7))
    theta0 = cp.asarray(init_particles(net, 4096, rng=np.random.default_rng(0)))
    # pure noise dynamics (s * tau dominant, no data pull): the spread grows like the CPU run's
    sched = SGDSchedule(eps=0.05, T=2.0, lam=0.0, tau=1.0, batch=1)
    run = [mf_train(net, theta0, teacher, sched, rng=np.random.default_rng(s), kernel="numpy",
                    noise_source="device") for s in (3, 3, 4)]
    np.testing.assert_array_equal(cp.asnumpy(run[0]), cp.asnumpy(run[1]))
    assert not np.allclose(cp.asnumpy(run[0]), cp.asnumpy(run[2]))
    host = mf_train(net, theta0.get(), teacher, sched, rng=np.random.default_rng(3), kernel="numpy")
    # per-coordinate variance over 4096 particles: relative sd of a variance estimate ~ sqrt(2/4096)
    # = 2.2%; the band 10% is ~4.5 sd
    np.testing.assert_allclose(cp.asnumpy(run[0]).var(0), host.var(0), rtol=0.10)

