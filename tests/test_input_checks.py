"""Reproducers of issue 12 item 6, each refused with a clear error (or now computed right)."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import otlmc
from otlmc import summaries, theory
from otlmc._validation import check_array
from otlmc.meanfield import MeanFieldNet, Workspace, step

RNG = np.random.default_rng(0)
NET_A = otlmc.sample_mlp((3, 8, 2), rng=RNG)
NET_B = otlmc.sample_mlp((3, 8, 2), rng=RNG)
X = RNG.standard_normal((20, 3))


@pytest.mark.parametrize("value, what", [
    (np.ones(3) + 1j, "complex array"), (np.ones(3, dtype=object), "object array"),
    (np.array(["1.0", "2.0"]), "string array"), ([1 + 0j, 2.0], "complex array"),
    (np.array([b"1"]), "bytes array"),
])
def test_check_array_refuses_non_real_dtypes(value, what):
    with pytest.raises(TypeError, match=rf"^v must be a real array .* got an? {what}"):
        check_array("v", value)


# every entry point that truncated complex input to its real part (with only a ComplexWarning)
COMPLEX_CALLS = {
    "forward": (lambda: otlmc.forward(NET_A, X + 1j), "X"),
    "evaluate_path": (lambda: otlmc.evaluate_path(NET_A, NET_B, X + 1j), "X"),
    "evaluate_path ts": (lambda: otlmc.evaluate_path(NET_A, NET_B, X, ts=np.linspace(0, 1, 3) + 0j), "ts"),
    "layer_gaps": (lambda: otlmc.layer_gaps(NET_A, NET_B, X + 1j), "X"),
    "barrier_values": (lambda: otlmc.barrier_values([0, 0.5, 1], [1, 2, 3 + 1j]), "losses"),
    "fit_rate": (lambda: otlmc.fit_rate([1, 2, 3], [1, 2, 3 + 1j], n_boot=0, weighted=False), "y"),
    "cost_matrix": (lambda: otlmc.cost_matrix(X + 1j, X), "X"),
    "empirical_wasserstein": (lambda: otlmc.empirical_wasserstein(X + 1j, X), "X"),
    "wasserstein_1d": (lambda: otlmc.wasserstein_1d([1, 2 + 1j], [1, 2]), "x"),
    "linear_assignment": (lambda: otlmc.linear_assignment(np.eye(3) + 1j), "C"),
    "gaussian_w2": (lambda: otlmc.gaussian_w2([0j, 0], np.eye(2), [0, 0], np.eye(2)), "m1"),
    "MLP": (lambda: otlmc.MLP([np.ones((2, 2)) + 1j]), r"weights\[0\]"),
    "sample_weights": (lambda: otlmc.sample_weights(2, 2, rng=RNG, law="lowrank", k=1, basis=np.eye(2) + 0j),
                       "basis"),
    "per_level": (lambda: summaries.per_level([{"w": 1}, {"w": 2}], "w", [1 + 1j, 2]), "values"),
    "relu_second_moment": (lambda: theory.relu_second_moment(np.eye(2) + 1j), "W"),
    "tightness_rate": (lambda: theory.tightness_rate(np.array([16 + 1j]), 3), "m"),
    "finite_n_correction": (lambda: theory.finite_n_correction(np.array([16 + 1j]), 3), "n"),
    "participation_ratio": (lambda: theory.participation_ratio(np.array([1 + 1j, 2])), "spectrum"),
    "required_width": (lambda: theory.required_width([16, 32], [1 + 1j, 0.5], 0.7), "values"),
    "dropout_bound": (lambda: theory.dropout_bound(np.array([1 + 1j]), 0.1, n_dropped=1, m=4), "x_norm"),
    "lemma41_recursion": (lambda: theory.lemma41_recursion([1 + 1j], [1], [4], [0.1]), "C1"),
    "sigma_sandwich": (lambda: theory.sigma_sandwich(np.array([1 + 1j, 1]), np.eye(2)), "delta"),
    "multiscale_w2": (lambda: theory.multiscale_w2(np.array([16 + 1j]), 5, 2, 0.1, prefactor=1.0), "n"),
    "minimal_widths_log10": (lambda: theory.minimal_widths_log10(0.1, 5, np.array([1 + 1j, 1.0])), "T"),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_CALLS))
def test_complex_input_is_refused_not_truncated(name):
    call, param = COMPLEX_CALLS[name]
    with pytest.raises(TypeError, match=rf"{param} must be a real array .* complex"):
        call()


@pytest.mark.parametrize("ts", [[0, 0.75, 0.5, 0.25, 1.0], [0, 0.25, 0.5, 0.5, 0.75, 1.0]])
def test_t_grid_must_be_strictly_increasing(ts):
    # before: the unsorted grid gave midpoint_loss 0.080 for a true 0.271 (np.interp on unsorted ts)
    with pytest.raises(ValueError, match="ts must be strictly increasing"):
        otlmc.evaluate_path(NET_A, NET_B, X, ts=ts)
    with pytest.raises(ValueError, match="ts must be strictly increasing"):
        otlmc.barrier_values(ts, np.zeros(len(ts)))


def test_mlp_owns_copies_of_its_arrays():
    Ws = [RNG.standard_normal((4, 3)), RNG.standard_normal((2, 4))]
    bs = [RNG.standard_normal(4), RNG.standard_normal(2)]
    net = otlmc.MLP(Ws, bs)
    before = otlmc.forward(net, X)
    Ws[0] += 1.0  # the caller changes its arrays after construction
    bs[1][:] = 7.0
    np.testing.assert_array_equal(otlmc.forward(net, X), before)


@pytest.mark.parametrize("shapes", [[(0, 3), (2, 0)], [(4, 0), (2, 4)], [(2, 0)]])
def test_zero_width_layers_are_refused(shapes):
    with pytest.raises(ValueError, match=r"weights\[\d\] has shape .* every layer width must be >= 1"):
        otlmc.MLP([np.zeros(s) for s in shapes])
    with pytest.raises(ValueError, match=r"widths\[1\] == 0"):
        otlmc.sample_mlp((3, 0, 2), rng=RNG)
    with pytest.raises(ValueError, match=r"widths\[1\] == 0"):
        otlmc.init_mlp((3, 0, 2), rng=RNG)


def _npz_bytes():
    buf = io.BytesIO()
    np.savez(buf, W0=np.ones((3, 2)), b0=np.zeros(3), W1=np.ones((1, 3)), b1=np.zeros(1))
    return buf.getvalue()


@pytest.mark.parametrize("mangle, inner", [
    (lambda raw: raw[: len(raw) // 2], "BadZipFile"),
    (lambda raw: b"", "EOFError"),
    (lambda raw: raw[:100] + bytes([raw[100] ^ 0xFF]) + raw[101:], "BadZipFile"),
])
def test_load_mlp_names_the_file_on_every_decoding_error(tmp_path, mangle, inner):
    path = tmp_path / "broken.npz"
    path.write_bytes(mangle(_npz_bytes()))
    with pytest.raises(ValueError, match=rf"broken\.npz is not a readable \.npz file of an MLP: {inner}"):
        otlmc.load_mlp(path)


def test_load_mlp_names_the_file_for_a_bad_network(tmp_path):
    path = tmp_path / "cplx.npz"
    np.savez(path, W0=np.ones((3, 2)) + 1j, b0=np.zeros(3))
    with pytest.raises(TypeError, match=r"cplx\.npz: weights\[0\] must be a real array"):
        otlmc.load_mlp(path)
    assert zipfile.is_zipfile(path)


def test_meanfield_step_checks_every_workspace_buffer():
    net = MeanFieldNet(2)
    N, B = 300, 3  # two chunks of 256 neurons
    theta, g = RNG.standard_normal((N, net.D)), RNG.standard_normal((N, net.D))
    Xb, y = RNG.standard_normal((B, 2)), RNG.standard_normal(B)
    ok = Workspace.allocate(N, B)
    ref = step(net, theta, Xb, y, g, s=0.1, tau=0.1, kernel="numpy")
    np.testing.assert_allclose(step(net, theta, Xb, y, g, s=0.1, tau=0.1, workspace=ok), ref, rtol=1e-12)
    # before: 'partial' of one chunk was written out of bounds (wrong result, then a segfault)
    bad = {"partial": Workspace(ok.Z, ok.S, np.zeros((1, B)), ok.resid),
           "resid": Workspace(ok.Z, ok.S, ok.partial, np.zeros(B, np.float32)),
           "S": Workspace(ok.Z, np.zeros((2 * N, B))[::2], ok.partial, ok.resid),
           "Z": Workspace(np.zeros((N - 1, B)), ok.S, ok.partial, ok.resid)}
    for name, ws in bad.items():
        with pytest.raises(ValueError, match=rf"workspace\.{name} is a .* the kernel needs"):
            step(net, theta, Xb, y, g, s=0.1, workspace=ws)
    with pytest.raises(ValueError, match="must not overlap"):
        step(net, theta, Xb, y, g, s=0.1, workspace=Workspace(ok.Z, ok.Z, ok.partial, ok.resid))
    with pytest.raises(TypeError, match="workspace must be a Workspace"):
        step(net, theta, Xb, y, g, s=0.1, workspace={"Z": ok.Z})


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1e307])
def test_fit_rate_near_the_float_range(scale):
    # before: a NaN slope (and a verdict) from variances that overflowed; now the same fit at any scale
    n = np.repeat([16.0, 32.0, 64.0, 128.0], 3)
    y = n**-0.5 * np.random.default_rng(1).uniform(0.9, 1.1, n.size)
    ref = otlmc.fit_rate(n, y, rng=np.random.default_rng(0))
    f = otlmc.fit_rate(n, scale * y, rng=np.random.default_rng(0))
    assert f.slope == pytest.approx(ref.slope, abs=1e-9) and f.ci_low == pytest.approx(ref.ci_low, abs=1e-9)


def test_fit_rate_refuses_non_finite_intermediates_and_non_bool_weighted():
    n = np.repeat([16.0, 32.0], 2)
    with pytest.raises(ValueError, match="y: the per-width means are not finite"):
        otlmc.fit_rate(n, [1.7e308, 1.7e308, 1.0, 1.0], n_boot=0, weighted=False)
    for bad in ("no", None, 1):
        with pytest.raises(TypeError, match="weighted must be True or False"):
            otlmc.fit_rate(n, [1.0, 2.0, 1.0, 2.0], n_boot=0, weighted=bad)


@pytest.mark.parametrize("bad, match", [(np.zeros((0, 3)), "X has no rows"), (1.5, "X must be 2-dimensional")])
def test_evaluate_path_checks_X_first(bad, match):
    # found by the fuzz suite: an empty X ended in numpy's "zero-size array to reduction", a scalar
    # X in "object of type 'float' has no len()"
    with pytest.raises(ValueError, match=match):
        otlmc.evaluate_path(NET_A, NET_B, bad)
    with pytest.raises(ValueError, match=match):
        otlmc.layer_gaps(NET_A, NET_B, bad)
