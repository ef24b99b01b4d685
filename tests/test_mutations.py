"""Mutation check: named formula slips in the library must each make a fast targeted test fail.

Every mutant copies the repository to a temporary folder, replaces one exact snippet (which must
occur exactly once), and runs ``pytest -x -q -p no:cacheprovider <killers>`` in the copy, with the
copy first on ``sys.path``; a guard plugin checks that the copy's ``otlmc`` is the one imported.
The mutant is killed when pytest reports failing tests (exit code 1). The unmutated copy must pass
the union of all killers, so a killer that always fails is caught: once by a plain
``python -m pytest`` subprocess, and once through the runner the mutants use.

Startup dominates (numpy, scipy, numba and pytest take ~3 s of the ~3.5 s CPU of one run), so on
POSIX the mutants run in children forked from a server process that imported those third-party
packages (never otlmc) once; each child changes into its copy and calls ``pytest.main``. Elsewhere
each mutant is a plain ``python -m pytest`` subprocess.

File paths live in :data:`FILES` only (one place to remap when modules move).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what a copy of the repository holds
COPY = ("otlmc", "sims", "tests", "figures", "docs", "pyproject.toml", "README.md")
#: library files the mutants edit, by short name (remap here when modules move)
FILES = {
    "barrier": "otlmc/barrier.py",
    "features": "otlmc/features.py",
    "matching": "otlmc/matching.py",
    "networks": "otlmc/networks.py",
    "rates": "otlmc/theory/rates.py",
    "widths": "otlmc/theory/widths.py",
    "inequalities": "otlmc/theory/inequalities.py",
    "lowrank": "otlmc/theory/lowrank.py",
    "meanfield": "otlmc/meanfield/sgd.py",
    "transport": "otlmc/transport/wasserstein.py",
    "assignment": "otlmc/transport/assignment.py",
    "fit": "otlmc/fit.py",
    "claims": "otlmc/claims.py",
}
ORACLES = "tests/test_theory_oracles.py"
WORKERS = 2
TIMEOUT_S = 180


def _k(*names: str) -> tuple[str, ...]:
    return tuple(f"{ORACLES}::{n}" for n in names)


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # a key of FILES
    old: str
    new: str
    killers: tuple[str, ...]


MUTANTS = (
    Mutant("barrier_baseline_mean_of_endpoints", "barrier",
           '"barrier": float(np.max(losses - ((1 - ts) * la + ts * lb))),',
           '"barrier": float(np.max(losses - (la + lb) / 2)),',
           _k("test_barrier_baseline_is_the_chord_between_unequal_endpoints",
              "test_mse_barrier_is_zero_when_only_the_last_layer_differs")),
    Mutant("barrier_baseline_endpoints_swapped", "barrier",
           "la, lb = losses[0], losses[-1]", "la, lb = losses[-1], losses[0]",
           _k("test_barrier_baseline_is_the_chord_between_unequal_endpoints",
              "test_mse_barrier_is_zero_when_only_the_last_layer_differs")),
    Mutant("evaluate_path_t_reversed", "barrier",
           "interp = (1 - tt) * out[0][None] + tt * out[-1][None]  # (T, N, m_out)",
           "interp = tt * out[0][None] + (1 - tt) * out[-1][None]  # (T, N, m_out)",
           _k("test_deviation_is_zero_on_a_linear_path_and_t0_is_a")),
    Mutant("interpolate_t_reversed", "networks",
           "weights = [(1 - t) * Wa + t * Wb for Wa, Wb in zip(net_a.weights, net_b.weights)]",
           "weights = [t * Wa + (1 - t) * Wb for Wa, Wb in zip(net_a.weights, net_b.weights)]",
           _k("test_deviation_is_zero_on_a_linear_path_and_t0_is_a")),
    Mutant("commutativity_distance_zero", "features",
           '"dist_com": normalized_dist(Ha @ Wa.T + Hb @ Wb.T, Hb @ Wa.T + Ha @ Wb.T),',
           '"dist_com": 0.0,',
           _k("test_commutativity_distance_hand_value")),
    Mutant("dist_sigma_mean_over_alpha", "features",
           "per_x = np.max([_dist_rows(lhs, rhs) for lhs, rhs in pairs], axis=0)",
           "per_x = np.mean([_dist_rows(lhs, rhs) for lhs, rhs in pairs], axis=0)",
           _k("test_dist_sigma_is_per_example_max_then_mean_hand_value")),
    Mutant("llfc_interpolates_features_of_a_twice", "features",
           "Fi = al * Fa + (1 - al) * Fb  # (N, m)", "Fi = al * Fa + (1 - al) * Fa  # (N, m)",
           _k("test_llfc_is_exact_when_only_the_last_layer_differs")),
    Mutant("dim_w_sigma_wt_is_w_t_w", "features",
           'out["wm_ours"].append(approximate_dimension(W @ _second_moment(Hin[l], False) @ W.T))',
           'out["wm_ours"].append(approximate_dimension(W.T @ W))',
           _k("test_dimension_of_w_sigma_wt_hand_values")),
    Mutant("dim_centered_sigma_is_uncentered", "features",
           'out["wm_ours_centered"].append(approximate_dimension(W @ _second_moment(Hin[l], True) @ W.T))',
           'out["wm_ours_centered"].append(approximate_dimension(W @ _second_moment(Hin[l], False) @ W.T))',
           _k("test_dimension_of_w_sigma_wt_hand_values")),
    Mutant("sigma_reference_n_instead_of_n_plus_1", "features",
           "return n * tr**2 / (tr**2 + (n + 1) * tr2)", "return n * tr**2 / (tr**2 + n * tr2)",
           _k("test_gaussian_reference_of_w_sigma_wt")),
    Mutant("permute_direction_swapped", "networks",
           "            W, b = W[p_out], b[p_out]\n        if p_in is not None:\n            W = W[:, p_in]",
           "            W, b = W[np.argsort(p_out)], b[np.argsort(p_out)]\n        if p_in is not None:\n"
           "            W = W[:, np.argsort(p_in)]",
           _k("test_permute_convention_hand_value")),
    Mutant("wm_perm_convention_inverted", "matching",
           "return linear_assignment(G, maximize=True)\n",
           "return np.argsort(linear_assignment(G, maximize=True))\n",
           _k("test_matching_undoes_a_planted_three_cycle")),
    Mutant("rebasin_without_outgoing_weights", "matching",
           "G = G + A.weights[l + 1].T @ Wb_out", "G = G + 0.0 * (A.weights[l + 1].T @ Wb_out)",
           _k("test_rebasin_reaches_the_brute_force_optimum_of_the_full_objective")),
    Mutant("wm_ours_identity_sigma", "matching",
           'return _forward_wm(net_a, net_b, second_moments(net_a, X), "wm_ours")',
           'return _forward_wm(net_a, net_b, [np.eye(m) for m in net_a.widths[:-2]], "wm_ours")',
           _k("test_covariance_wm_minimises_the_expected_output_error_brute_force")),
    Mutant("wm_ours_centered_sigma", "matching",
           "return [H.T @ H / H.shape[0] for H in Hs]",
           "return [(H - H.mean(0)).T @ (H - H.mean(0)) / H.shape[0] for H in Hs]",
           _k("test_covariance_wm_minimises_the_expected_output_error_brute_force")),
    Mutant("am_uncentered", "matching",
           'return _activation_matching(net_a, net_b, X, True, "am")',
           'return _activation_matching(net_a, net_b, X, False, "am")',
           _k("test_centered_activation_matching_maximises_the_covariance_brute_force")),
    Mutant("wm_cost_sum_not_mean", "matching",
           "return float(np.mean(np.sum((A - B) ** 2, axis=1)))",
           "return float(np.sum(np.sum((A - B) ** 2, axis=1)))",
           _k("test_weight_matching_cost_is_w2_squared_of_translated_rows")),
    Mutant("meanfield_noise_sqrt_s_tau_over_d", "meanfield",
           "return math.sqrt(2.0 * s * tau / D)", "return math.sqrt(s * tau / D)",
           _k("test_noise_scale_gives_the_gibbs_variance")),
    Mutant("birkhoff_sum_not_mean", "transport",
           "total = C[np.arange(n), perm].sum() / n", "total = C[np.arange(n), perm].sum()",
           _k("test_w2_of_a_translated_cloud_is_the_shift")),
    Mutant("sq_distances_cross_term_factor", "transport",
           "YA[:, :d] = -2.0 * Yc", "YA[:, :d] = -1.0 * Yc",
           _k("test_sq_distances_against_an_explicit_loop")),
    Mutant("assignment_maximize_ignored", "assignment",
           "A = -A  # (n_rows, n_cols) fresh copy", "A = +A  # (n_rows, n_cols) fresh copy",
           _k("test_linear_assignment_maximize_brute_force")),
    Mutant("wasserstein_rate_minus_one_over_d_plus_one", "rates",
           'return RateLaw(-1.0 / d, regime=f"d > 2p (d={d})",',
           'return RateLaw(-1.0 / (d + 1), regime=f"d > 2p (d={d})",',
           _k("test_rate_exponents_hand_values")),
    Mutant("tightness_exponent_minus_one_over_d", "rates",
           'return -2.0 / check_int("d", d, min_value=1)', 'return -1.0 / check_int("d", d, min_value=1)',
           _k("test_rate_exponents_hand_values")),
    Mutant("two_layer_width_exponent_off_by_one", "widths",
           'return check_int("m0", m0, min_value=1)', 'return check_int("m0", m0, min_value=1) + 1',
           _k("test_rate_exponents_hand_values")),
    Mutant("dropout_bound_without_dropped_fraction", "inequalities",
           "out = (n_dropped / m) * lip * xn * w1", "out = lip * xn * w1",
           _k("test_dropout_bound_hand_value_and_tightness")),
    Mutant("lowrank_crossover_exponent", "lowrank",
           "return float(np.exp(k * (np.log(prefactor) - np.log(delta))))",
           "return float(np.exp((k + 1) * (np.log(prefactor) - np.log(delta))))",
           _k("test_lowrank_crossover_hand_value_and_continuity")),
    Mutant("fit_rate_slope_sign", "fit",
           "slope = (W * dx * (Y - ym)).sum(1) / (W * dx * dx).sum(1)  # (B,)",
           "slope = -(W * dx * (Y - ym)).sum(1) / (W * dx * dx).sum(1)  # (B,)",
           _k("test_fit_rate_recovers_an_exact_law_with_a_point_interval")),
    Mutant("fit_rate_weights_are_variances", "fit",
           "return means, 1.0 / var", "return means, var",
           _k("test_fit_rate_weights_are_inverse_delta_method_variances")),
    Mutant("bootstrap_resamples_across_widths", "fit",
           "boot = [g[rng.integers(0, g.size, size=(n_boot, g.size))] for g in kept]  # (B, k_j) each",
           "boot = [np.concatenate(kept)[rng.integers(0, sum(h.size for h in kept), size=(n_boot, g.size))]"
           " for g in kept]",
           _k("test_fit_rate_recovers_an_exact_law_with_a_point_interval")),
    Mutant("sign_test_direction", "claims",
           "k = int(np.sum(nz < 0))", "k = int(np.sum(nz > 0))",
           _k("test_sign_test_counts_negative_differences_with_the_exact_binomial_p")),
    Mutant("lower_bound_tail_constant_exponent_sign", "claims",
           "c = y[n == top] * top ** (-theory)", "c = y[n == top] * top ** (theory)",
           _k("test_lower_bound_reports_the_tail_constant_of_the_law")),
)

GUARD = textwrap.dedent('''
    """pytest plugin of the mutation check: the copy's otlmc must be the one imported."""
    from pathlib import Path

    import pytest

    ROOT = Path(__file__).resolve().parent


    def pytest_sessionstart(session):
        try:
            import otlmc
        except ImportError as exc:
            raise pytest.UsageError(f"mutation check: no otlmc importable, not the copy under {ROOT}: {exc}")
        if ROOT not in Path(otlmc.__file__).resolve().parents:
            raise pytest.UsageError(f"mutation check imported {otlmc.__file__}, not the copy under {ROOT}")
''')


def _copy_repo(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    dest.mkdir(parents=True)
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / "_mutation_guard.py").write_text(GUARD)
    return dest


def _apply(root: Path, m: Mutant) -> None:
    path = root / FILES[m.file]
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise AssertionError(f"mutant {m.name}: the snippet occurs {count} times in {FILES[m.file]} "
                             f"(must be exactly once): {m.old!r}")
    path.write_text(text.replace(m.old, m.new))


def _run_pytest(root: Path, node_ids) -> subprocess.CompletedProcess:
    """Plain ``python -m pytest`` in the copy, the copy first on ``PYTHONPATH``."""
    cmd = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *node_ids]
    return subprocess.run(cmd, cwd=root, env=_env(root), capture_output=True, text=True, timeout=TIMEOUT_S)


#: a process that imports the heavy third-party packages once, then forks one pytest run per job
#: (a JSON line ``{"root", "args", "log"}`` on stdin; answers ``{"rc"}`` per job on stdout)
SERVER = textwrap.dedent('''
    import gc, json, os, sys
    import numpy, scipy.linalg, scipy.optimize, scipy.stats, numba, pytest  # third-party only, never otlmc
    assert not any(k == "otlmc" or k.startswith("otlmc.") for k in sys.modules)
    gc.freeze()  # the children's collections skip the preloaded heap
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(job["root"])
            sys.path.insert(0, job["root"])
            try:
                rc = int(pytest.main(job["args"]))
            except BaseException as exc:  # report, never fall back into the server loop
                print(f"runner error: {exc!r}")
                rc = 3
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"rc": os.waitstatus_to_exitcode(status)}), flush=True)
''')
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "_mutation_guard")


def _env(root: Path | None = None) -> dict:
    env = dict(os.environ)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # the killers need no third-party pytest plugin; loading them (hypothesis, ...) costs ~0.9 s a run
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return env


def _run_batch(jobs: list[tuple[Path, tuple[str, ...]]], workdir: Path) -> list[tuple[int, str]]:
    """``(exit code, output)`` of pytest on each ``(copy, node ids)`` job, ``WORKERS`` at a time."""
    if not hasattr(os, "fork"):
        return [(r.returncode, r.stdout + r.stderr) for r in (_run_pytest(root, ids) for root, ids in jobs)]

    def serve(k: int):
        mine = list(range(k, len(jobs), WORKERS))
        lines = "".join(json.dumps({"root": str(jobs[i][0]), "args": [*PYTEST_ARGS, *jobs[i][1]],
                                    "log": str(workdir / f"job{i}.log")}) + "\n" for i in mine)
        res = subprocess.run([sys.executable, "-c", SERVER], input=lines, cwd=workdir, env=_env(),
                             capture_output=True, text=True, timeout=TIMEOUT_S * max(1, len(mine)))
        rcs = [json.loads(x)["rc"] for x in res.stdout.splitlines() if x.startswith("{")]
        if res.returncode != 0 or len(rcs) != len(mine):
            raise AssertionError(f"mutation runner failed (exit {res.returncode}):\n{res.stdout[-2000:]}\n"
                                 f"{res.stderr[-3000:]}")
        return {i: (rc, (workdir / f"job{i}.log").read_text()) for i, rc in zip(mine, rcs)}

    out = {}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for part in pool.map(serve, range(WORKERS)):
            out.update(part)
    return [out[i] for i in range(len(jobs))]


def _killers() -> list[str]:
    return sorted({k for m in MUTANTS for k in m.killers})


def test_table_is_well_formed():
    """>= 20 named mutants, unique names, known files, every snippet exactly once, real killers."""
    assert len(MUTANTS) >= 20
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    for m in MUTANTS:
        assert m.file in FILES, m.name
        assert m.old != m.new and m.killers, m.name
        text = (ROOT / FILES[m.file]).read_text()
        assert text.count(m.old) == 1, f"{m.name}: snippet occurs {text.count(m.old)} times in {FILES[m.file]}"
    for k in _killers():
        path, _, name = k.partition("::")
        assert f"def {name}(" in (ROOT / path).read_text(), k


def test_unmutated_copy_passes_every_killer(tmp_path):
    res = _run_pytest(_copy_repo(tmp_path / "clean"), _killers())
    assert res.returncode == 0, f"the unmutated copy fails its killers:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"


def test_every_mutant_is_killed(tmp_path):
    """Job 0 is the unmutated copy on every killer (must pass through this runner too); then one job
    per mutant on its own killers (must fail, exit code 1)."""
    jobs = [(_copy_repo(tmp_path / "clean"), tuple(_killers()))]
    for m in MUTANTS:
        root = _copy_repo(tmp_path / m.name)
        _apply(root, m)
        jobs.append((root, m.killers))
    (rc0, out0), *results = _run_batch(jobs, tmp_path)
    assert rc0 == 0, f"the unmutated copy fails its killers through the mutation runner:\n{out0[-4000:]}"
    bad = []
    for m, (rc, out) in zip(MUTANTS, results):
        if rc != 1:  # 0: survived; 2-5: interrupted, internal or usage error, nothing collected
            what = "survived" if rc == 0 else f"pytest exit code {rc}"
            bad.append(f"{m.name} ({FILES[m.file]}): {what}\n{out[-2000:]}")
    assert not bad, "\n\n".join(bad)


@pytest.mark.parametrize("m", MUTANTS[:1], ids=lambda m: m.name)
def test_guard_rejects_a_copy_that_imports_another_otlmc(tmp_path, m):
    """The guard is live: a copy without its own ``otlmc`` imports the installed one and is refused."""
    root = _copy_repo(tmp_path / "no_otlmc")
    shutil.rmtree(root / "otlmc")
    res = _run_pytest(root, m.killers)
    assert res.returncode == 4 and "not the copy" in (res.stdout + res.stderr), res.stdout[-2000:]
