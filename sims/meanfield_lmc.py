"""LMC between independently trained mean-field two-layer networks (Ferbach et al., Theorem 3.1).

Per cell (width N, step eps, replicate): two networks A and B with N particles
``theta_i = (a_i, w_i)`` in ``R^D`` (D = d + 1) are drawn i.i.d. from the same bounded init law
and trained for the same time T by online noisy SGD (``B = 1``, fresh teacher samples each step,
noise ``sqrt(2 s tau / D) g``) with independent init, samples and noise. B is aligned to A by
exact assignment on ``theta_i`` (the optimal cost is ``W_2^2`` of the particle clouds). Measured
on held-out bounded inputs, with and without alignment, along ``theta(t) = (1-t) theta_A + t theta_B~``:
``err_sup = max_{t, x} |f_{theta(t)}(x) - ((1-t) f_A(x) + t f_B~(x))|`` (the theorem's quantity) with
the linear and second-order path bounds of docs/theory.md §3.6, the squared-loss barrier, the
proof's terms (``W_2`` / ``W_1`` between the clouds; the propagation-of-chaos term
``RMS_x |f_A - f_ref|`` to a reference run of ``n_ref`` particles with step ``eps_ref``) and the
risk gap ``|R(A) - R(B)|``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from otlmc.barrier import t_grid
from otlmc.claims import Claim
from otlmc.declare import Sim, param
from otlmc.activations import ACTIVATIONS
from otlmc.meanfield import (MF_INPUT_LAWS, NOISE_CONVENTION, MeanFieldNet, SGDSchedule, TeacherNetwork,
                             align_particles, cloud_distances, init_particles, interpolation, mf_forward, mf_train,
                             path_bound, path_bound_second_order, risk, sample_mf_inputs)
from otlmc.plots import loglog_panel, mean_ci, plt
from otlmc.runner import run

FERBACH = "Ferbach et al. 2024"


@dataclass(frozen=True)
class Config:
    d: int = param(2, "input dimension d (particles live in R^{d+1})", min=1)
    activation: str = param("tanh", "activation; relu is outside Theorem 3.1 (not bounded)", choices=tuple(ACTIVATIONS))
    inputs: str = param("ball", "input law; ball/cube are bounded (the theorem's assumption)", choices=MF_INPUT_LAWS)
    teacher_width: int = param(4, "neurons of the teacher network", min=1)
    teacher_seed: int = param(0, "seed of the fixed teacher", min=0)
    label_noise: float = param(0.0, "std of Gaussian label noise", min=0.0)
    widths: tuple = param((32, 64, 128, 256, 512, 1024), "numbers of particles N", min=2, quick=(16, 32, 64, 128),
                          axis="width")
    eps_values: tuple = param((0.04, 0.01, 0.0025), "SGD step sizes eps (the N panels use the smallest)", min=0.0,
                              strict_min=True, quick=(0.04, 0.02), axis="eps")
    T: float = param(2.0, "training time; steps = T / eps", min=0.0, strict_min=True, quick=0.5)
    lam: float = param(0.01, "ridge lambda", min=0.0)
    tau: float = param(0.01, f"temperature tau; noise {NOISE_CONVENTION}", min=0.0)
    a_scale: float = param(1.0, "init: a ~ U[-a_scale, a_scale]", min=0.0, strict_min=True)
    w_scale: float = param(1.0, "init: w uniform in the ball of this radius", min=0.0, strict_min=True)
    n_ref: int = param(8192, "particles of the reference run", min=1, quick=1024)
    eps_ref: float = param(0.0025, "step of the reference run", min=0.0, strict_min=True, quick=0.02)
    replicates: int = param(6, "pairs per cell", min=1, quick=3)
    n_eval: int = param(400, "held-out test inputs", min=1, quick=200)
    t_points: int = param(21, "t-grid size", min=2, quick=9)
    fit_min_width: int = param(32, "smallest N in the rate fits", min=1, quick=16, identity=False)
    noise: str = param(NOISE_CONVENTION, "noise convention of the SGD recursion (docs/theory.md §3.2)",
                       choices=(NOISE_CONVENTION,))


def check(cfg: Config) -> None:
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths == {cfg.widths}: needs at least two distinct values to fit a rate.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (N, eps, replicate): train A, B and the reference, align, measure the path."""
    n, eps = params["width"], params["eps"]
    net = MeanFieldNet(cfg.d, cfg.activation)
    teacher = TeacherNetwork.random(
        cfg.d, cfg.teacher_width, rng=np.random.default_rng(np.random.SeedSequence(cfg.teacher_seed)),
        activation=cfg.activation, inputs=cfg.inputs, noise_sd=cfg.label_noise)
    sched = SGDSchedule(eps=eps, T=cfg.T, lam=cfg.lam, tau=cfg.tau, batch=1)
    init = dict(a_scale=cfg.a_scale, w_scale=cfg.w_scale)
    th = {k: mf_train(net, init_particles(net, m, rng=streams[f"{k}_init" if k == "ref" else f"init_{k}"], **init),
                   teacher, replace(sched, eps=cfg.eps_ref) if k == "ref" else sched,
                   rng=streams["ref_sgd" if k == "ref" else f"sgd_{k}"], threads=1)  # (m, D)
          for k, m in (("a", n), ("b", n), ("ref", cfg.n_ref))}
    X = sample_mf_inputs(cfg.n_eval, cfg.d, cfg.inputs, rng=streams["eval"])  # (n_eval, d)
    y = teacher.target(X)  # (n_eval,) noiseless targets
    ts = t_grid(cfg.t_points)
    perm = align_particles(th["a"], th["b"])
    th_bt = th["b"][perm]  # (N, D) B aligned to A
    f_ref = mf_forward(net, th["ref"], X)  # (n_eval,)
    chaos_a = float(np.sqrt(np.mean((mf_forward(net, th["a"], X) - f_ref) ** 2)))
    chaos_b = float(np.sqrt(np.mean((mf_forward(net, th["b"], X) - f_ref) ** 2)))
    r_a, r_b = risk(net, th["a"], X, y), risk(net, th["b"], X, y)
    row = {"noise": NOISE_CONVENTION, "n_steps": sched.n_steps,
           "risk_a": r_a, "risk_b": r_b, "risk_gap": abs(r_a - r_b), "risk_ref": risk(net, th["ref"], X, y),
           "chaos_a": chaos_a, "chaos_b": chaos_b, "chaos": 0.5 * (chaos_a + chaos_b)}
    row.update(cloud_distances(th["a"], th["b"], perm))
    row.update(interpolation(net, th["a"], th_bt, X, y, ts).summary("aligned_"))
    row.update(interpolation(net, th["a"], th["b"], X, y, ts).summary("unaligned_"))
    row["aligned_bound_sup"] = float(path_bound(net, th["a"], th_bt, X).max())
    if net.in_theorem:
        row["aligned_bound2_sup"] = float(path_bound_second_order(net, th["a"], th_bt, X).max())
    return row


def claims(cfg: Config) -> list[Claim]:
    """Per step size: W_2 of the clouds ~ N^(-1/D); aligned error bounded by N^(-2/D); unaligned flat."""
    D = cfg.d + 1
    c2 = ACTIVATIONS[cfg.activation].in_meanfield_theorem
    c = dict(axis="width", by=("eps",), n_min=min(cfg.fit_min_width, sorted(cfg.widths)[-2]))
    out_of_thm = None if c2 else f"activation {cfg.activation} is outside Theorem 3.1 (not bounded / not C^2)"
    return [
        Claim("w2_clouds_rate", "rate", "W_2 between the particle clouds of A and B falls like N^(-1/D) "
              "(two ~i.i.d. samples of the trained law, propagation of chaos)",
              f"{FERBACH}, Thm 3.1 proof, OT term (Weed & Bach 2019; docs/theory.md §3.5)", "w2_clouds",
              theory=-1.0 / D, where=lambda s: None if D >= 3 else f"D = {D} < 3: W_2 carries log factors", **c),
        Claim("aligned_err_rate", "upper_bound", "after alignment the sup interpolation error falls at least like "
              "N^(-2/D): it is <= C W_2^2 by the second-order path bound (docs/theory.md §3.6) and W_2 ~ N^(-1/D); "
              "Theorem 3.1 itself states convergence only", f"{FERBACH}, Thm 3.1 + docs/theory.md §3.6",
              "aligned_err_sup", theory=-2.0 / D, where=lambda s: out_of_thm, **c),
        Claim("unaligned_err_flat", "lower_bound", "without alignment the sup interpolation error does not fall",
              f"{FERBACH}, §3", "unaligned_err_sup", theory=0.0, **c),
        Claim("path_bound", "inequality", "aligned sup error <= the linear path bound (per row)",
              "docs/theory.md §3.6 / §6.4", "aligned_err_sup", axis="width", bound="aligned_bound_sup"),
        Claim("path_bound2", "inequality", "aligned sup error <= the second-order path bound (per row)",
              "docs/theory.md §3.6", "aligned_err_sup", axis="width", bound="aligned_bound2_sup",
              where=lambda s: out_of_thm),
    ]


def plot(rows, cfg: Config, verdicts):
    D = cfg.d + 1
    eps_main = min(cfg.eps_values)
    main, setting = [r for r in rows if r["eps"] == eps_main], f"eps={eps_main}"
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.8))
    loglog_panel(axes[0], main, "width",
                 [("aligned_err_sup", "aligned (exact assignment on $\\theta_i$)", "C0"),
                  ("unaligned_err_sup", "not aligned", "C3"), ("aligned_bound_sup", "bound, linear in distances", "C2")]
                 + ([("aligned_bound2_sup", "2nd-order bound, quadratic", "C1")] if "aligned_bound2_sup" in main[0]
                    else []), verdicts=verdicts, setting=setting, theory_slope=-2.0 / D,
                 theory_label=f"$W_2^2$ rate $N^{{-2/{D}}}$",
                 ylabel=r"$\max_{t,x} |f_{\theta(t)} - (1-t) f_A - t f_{\tilde B}|$")
    axes[0].set_title(f"interpolation error ($\\varepsilon$ = {eps_main})")
    ax = axes[1]  # barriers can be exactly 0 (t = 0 is on the grid): symlog, no rate
    for col, label, color in [("aligned_barrier", "aligned", "C0"), ("unaligned_barrier", "not aligned", "C3")]:
        ax.errorbar(*mean_ci(main, "width", col), fmt="o-", color=color, ms=4, capsize=2, label=label)
    ax.set(xscale="log", yscale="symlog", xlabel="width", title=f"loss barrier ($\\varepsilon$ = {eps_main})",
           ylabel=r"barrier $\max_t [L(t) - (1-t)L_A - tL_B]$ (squared loss)")
    ax.set_yscale("symlog", linthresh=1e-5)
    loglog_panel(axes[2], main, "width",
                 [("w2_clouds", "OT term: $W_2$(clouds A, B)", "C0"), ("w1_clouds", "OT term: $W_1$(clouds A, B)", "C9"),
                  ("chaos", "chaos term: RMS$_x|f_N - f_{ref}|$", "C1"), ("risk_gap", "$|R(A) - R(B)|$", "C4")],
                 verdicts=verdicts, setting=setting, theory_slope=-1.0 / D, theory_label=f"$N^{{-1/{D}}}$",
                 ylabel="term size")
    axes[2].set_title("terms of the proof")
    ax, n_top = axes[3], max(cfg.widths)
    top = [r for r in rows if r["width"] == n_top]
    for col, label, color in [("aligned_err_sup", "aligned error", "C0"), ("unaligned_err_sup", "unaligned error", "C3"),
                              ("chaos", "chaos term", "C1"), ("w2_clouds", "$W_2$ clouds", "C2"),
                              ("risk_a", "risk of A", "C7")]:
        ax.errorbar(*mean_ci(top, "eps", col), fmt="o-", color=color, ms=4, capsize=2, label=label)
    lv, mean, _ = mean_ci(top, "eps", "aligned_err_sup")
    ax.plot(lv, mean[-1] * np.sqrt(lv / lv[-1]), "k--", lw=1, label=r"$\sqrt{\varepsilon}$ (through the largest)")
    ax.set(xscale="log", yscale="log", xlabel=r"step size $\varepsilon$", title=f"vs step size at N = {n_top}")
    for a in axes:
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=7)
    fig.suptitle(
        f"Mean-field {cfg.activation} net, d = {cfg.d} (D = {D}), {cfg.teacher_width}-neuron teacher, inputs "
        f"{cfg.inputs}; online noisy SGD T = {cfg.T}, $\\lambda$ = {cfg.lam}, $\\tau$ = {cfg.tau}, noise "
        f"{cfg.noise}; mean $\\pm$ 95% CI over {cfg.replicates} pairs; {cfg.n_eval} test inputs, "
        f"{cfg.t_points}-point t-grid; reference N = {cfg.n_ref}, $\\varepsilon$ = {cfg.eps_ref}; "
        f"fits (legend: exponent, CI, verdict) use N $\\geq$ {min(cfg.fit_min_width, sorted(cfg.widths)[-2])}",
        fontsize=9)
    return fig


SIM = Sim("meanfield_lmc", __doc__, Config, cell, claims=claims, plot=plot, check=check,
          streams=("init_a", "init_b", "sgd_a", "sgd_b", "ref_init", "ref_sgd", "eval"))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
