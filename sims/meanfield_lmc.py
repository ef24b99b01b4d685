"""LMC between independently trained mean-field two-layer networks (Ferbach et al., Theorem 3.1).

Per cell (width N, step eps, replicate): two networks A and B with N particles
``theta_i = (a_i, w_i)`` in ``R^D`` (D = d + 1) are drawn i.i.d. from the same bounded init law
and trained for the same time T by online noisy SGD (``B = 1``, fresh teacher samples each step,
noise ``sqrt(2 s tau / D) g``) with independent init, samples and noise. B is aligned to A by
exact assignment on ``theta_i`` (the optimal cost is ``W_2^2`` of the particle clouds). Measured
on held-out bounded inputs, with and without alignment, along ``theta(t) = (1-t) theta_A + t theta_B~``:

- ``err_sup = max_{t, x} |f_{theta(t)}(x) - ((1-t) f_A(x) + t f_B~(x))|`` (the theorem's quantity);
  For a C^2 activation the error is quadratic in the aligned particle distances
  (:func:`otlmc.meanfield.path_bound_second_order`), so its rate is ``N^{-2/D}`` (``W_2^2``)
  rather than the ``N^{-1/D}`` of the linear bound of THEORY.md §6.4; both bounds are recorded;
- the squared-loss barrier (THEORY.md §0);
- the proof's terms: OT term ``W_2`` / ``W_1`` between the clouds (rate ``N^{-1/D}`` for i.i.d.
  clouds) and the propagation-of-chaos term ``RMS_x |f_A - f_ref|`` to a reference run of
  ``n_ref`` particles trained with step ``eps_ref`` (rate ``N^{-1/2}``, floor ``n_ref^{-1/2}``);
- the risk gap ``|R(A) - R(B)|`` (rate ``N^{-1/2}``).

    python -m sims.meanfield_lmc            # default sweep, a few minutes on 2 cores
    python -m sims.meanfield_lmc --quick    # seconds
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import numpy as np

from otlmc.activations import ACTIVATIONS
from otlmc.barrier import t_grid
from otlmc.fit import fit_rate
from otlmc.meanfield import (
    MF_INPUT_LAWS,
    NOISE_CONVENTION,
    MeanFieldNet,
    SGDSchedule,
    TeacherNetwork,
    align_particles,
    cloud_distances,
    init_particles,
    interpolation,
    mf_forward,
    mf_train,
    path_bound,
    path_bound_second_order,
    risk,
    sample_mf_inputs,
)
from otlmc.rng import analysis_rng

from ._common import base_parser, run_sim

NAME = "meanfield_lmc"
STREAMS = ("init_a", "init_b", "sgd_a", "sgd_b", "ref_init", "ref_sgd", "eval")


@dataclass(frozen=True)
class Config:
    d: int = 2
    activation: str = "tanh"
    inputs: str = "ball"
    teacher_width: int = 4
    teacher_seed: int = 0
    label_noise: float = 0.0
    widths: tuple = (32, 64, 128, 256, 512, 1024)
    eps_values: tuple = (0.04, 0.01, 0.0025)
    T: float = 2.0
    lam: float = 0.01
    tau: float = 0.01
    a_scale: float = 1.0
    w_scale: float = 1.0
    n_ref: int = 8192
    eps_ref: float = 0.0025
    replicates: int = 6
    n_eval: int = 400
    t_points: int = 21
    fit_min_width: int = 32
    noise: str = NOISE_CONVENTION

    grid_fields = ("widths", "eps_values", "fit_min_width")


QUICK = dict(widths=(16, 32, 64, 128), eps_values=(0.04, 0.02), T=0.5, n_ref=1024, eps_ref=0.02,
             replicates=3, n_eval=200, t_points=9, fit_min_width=16)


def setup(cfg: Config):
    """The network architecture, the fixed teacher (seeded by ``teacher_seed``) and the schedules."""
    net = MeanFieldNet(cfg.d, cfg.activation)
    teacher = TeacherNetwork.random(
        cfg.d, cfg.teacher_width, rng=np.random.default_rng(np.random.SeedSequence(cfg.teacher_seed)),
        activation=cfg.activation, inputs=cfg.inputs, noise_sd=cfg.label_noise)
    return net, teacher


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (N, eps, replicate): train A, B and the reference, align, measure the path."""
    n, eps = params["width"], params["eps"]
    net, teacher = setup(cfg)
    sched = SGDSchedule(eps=eps, T=cfg.T, lam=cfg.lam, tau=cfg.tau, batch=1)
    ref_sched = replace(sched, eps=cfg.eps_ref)
    init = dict(a_scale=cfg.a_scale, w_scale=cfg.w_scale)
    th_a = mf_train(net, init_particles(net, n, rng=streams["init_a"], **init), teacher, sched,
                    rng=streams["sgd_a"], threads=1)  # (N, D)
    th_b = mf_train(net, init_particles(net, n, rng=streams["init_b"], **init), teacher, sched,
                    rng=streams["sgd_b"], threads=1)  # (N, D)
    th_ref = mf_train(net, init_particles(net, cfg.n_ref, rng=streams["ref_init"], **init), teacher,
                      ref_sched, rng=streams["ref_sgd"], threads=1)  # (n_ref, D)
    X = sample_mf_inputs(cfg.n_eval, cfg.d, cfg.inputs, rng=streams["eval"])  # (n_eval, d)
    y = teacher.target(X)  # (n_eval,) noiseless targets
    ts = t_grid(cfg.t_points)
    perm = align_particles(th_a, th_b)
    th_bt = th_b[perm]  # (N, D) B aligned to A
    f_ref = mf_forward(net, th_ref, X)  # (n_eval,)
    chaos_a = float(np.sqrt(np.mean((mf_forward(net, th_a, X) - f_ref) ** 2)))
    chaos_b = float(np.sqrt(np.mean((mf_forward(net, th_b, X) - f_ref) ** 2)))
    r_a, r_b = risk(net, th_a, X, y), risk(net, th_b, X, y)
    row = {"noise": NOISE_CONVENTION, "n_steps": sched.n_steps,
           "risk_a": r_a, "risk_b": r_b, "risk_gap": abs(r_a - r_b), "risk_ref": risk(net, th_ref, X, y),
           "chaos_a": chaos_a, "chaos_b": chaos_b, "chaos": 0.5 * (chaos_a + chaos_b)}
    row.update(cloud_distances(th_a, th_b, perm))
    row.update(interpolation(net, th_a, th_bt, X, y, ts).summary("aligned_"))
    row.update(interpolation(net, th_a, th_b, X, y, ts).summary("unaligned_"))
    row["aligned_bound_sup"] = float(path_bound(net, th_a, th_bt, X).max())
    if net.in_theorem:
        row["aligned_bound2_sup"] = float(path_bound_second_order(net, th_a, th_bt, X).max())
    return row


def plot(rows, cfg: Config):
    from otlmc.plots import _mpl, loglog_panel, mean_ci
    from otlmc.sweep import column

    plt = _mpl()
    D = cfg.d + 1
    eps_main = min(cfg.eps_values)
    main = [r for r in rows if r["eps"] == eps_main]
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.8))
    loglog_panel(axes[0], main, "width",
                 [("aligned_err_sup", "aligned (exact assignment on $\\theta_i$)", "C0"),
                  ("unaligned_err_sup", "not aligned", "C3"),
                  ("aligned_bound_sup", "bound §6.4, linear in distances", "C2")]
                 + ([("aligned_bound2_sup", "2nd-order bound, quadratic in distances", "C1")]
                    if "aligned_bound2_sup" in main[0] else []),
                 theory_slope=-2.0 / D, theory_label=f"$W_2^2$ rate $N^{{-2/{D}}}$",
                 fit_min=cfg.fit_min_width, ylabel=r"$\max_{t,x} |f_{\theta(t)} - (1-t) f_A - t f_{\tilde B}|$")
    axes[0].set_title(f"interpolation error ($\\varepsilon$ = {eps_main})")
    ax = axes[1]  # barriers can be exactly 0 (t = 0 is on the grid), so no power-law fit here
    for col, label, color in [("aligned_barrier", "aligned", "C0"), ("unaligned_barrier", "not aligned", "C3")]:
        lv, mean, ci = mean_ci(main, "width", col)
        ax.errorbar(lv, mean, yerr=ci, fmt="o-", color=color, ms=4, capsize=2, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1e-5)
    ax.set_xlabel("width")
    ax.set_ylabel(r"barrier $\max_t [L(t) - (1-t)L_A - tL_B]$ (squared loss)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    axes[1].set_title(f"loss barrier ($\\varepsilon$ = {eps_main})")
    loglog_panel(axes[2], main, "width",
                 [("w2_clouds", "OT term: $W_2$(clouds A, B)", "C0"),
                  ("w1_clouds", "OT term: $W_1$(clouds A, B)", "C9"),
                  ("chaos", "chaos term: RMS$_x|f_N - f_{ref}|$", "C1"),
                  ("risk_gap", "$|R(A) - R(B)|$", "C4")],
                 theory_slope=-1.0 / D, theory_label=f"$N^{{-1/{D}}}$",
                 fit_min=cfg.fit_min_width, ylabel="term size")
    lv, mean, _ = mean_ci(main, "width", "chaos")
    c = np.exp(np.mean(np.log(mean)) + 0.5 * np.mean(np.log(lv)))
    axes[2].plot(lv, c * lv ** -0.5, "k:", lw=1, label="$N^{-1/2}$")
    axes[2].legend(fontsize=7)
    axes[2].set_title("terms of the proof")
    ax = axes[3]
    n_top = max(cfg.widths)
    top = [r for r in rows if r["width"] == n_top]
    for col, label, color in [("aligned_err_sup", "aligned error", "C0"),
                              ("unaligned_err_sup", "unaligned error", "C3"),
                              ("chaos", "chaos term", "C1"), ("w2_clouds", "$W_2$ clouds", "C2"),
                              ("risk_a", "risk of A", "C7")]:
        lv, mean, ci = mean_ci(top, "eps", col)
        ax.errorbar(lv, mean, yerr=ci, fmt="o-", color=color, ms=4, capsize=2, label=label)
    lv = np.unique(column(top, "eps"))
    lv_mean = mean_ci(top, "eps", "aligned_err_sup")[1]
    ax.plot(lv, lv_mean[-1] * np.sqrt(lv / lv[-1]), "k--", lw=1, label=r"$\sqrt{\varepsilon}$ (through the largest)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(r"step size $\varepsilon$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"vs step size at N = {n_top}")
    boot_rng = analysis_rng(int(main[0]["root_seed"]), f"{NAME} aligned_err_sup eps={eps_main:g}")
    f = fit_rate(column(main, "width"), column(main, "aligned_err_sup"), n_min=cfg.fit_min_width, n_boot=500,
                 weighted=False, rng=boot_rng)
    s, lo, hi = f.slope, f.ci_low, f.ci_high
    fig.suptitle(
        f"Mean-field {cfg.activation} net, d = {cfg.d} (D = {D}), {cfg.teacher_width}-neuron teacher, inputs "
        f"{cfg.inputs}; online noisy SGD T = {cfg.T}, $\\lambda$ = {cfg.lam}, $\\tau$ = {cfg.tau}, noise "
        f"{cfg.noise}; mean $\\pm$ 95% CI over {cfg.replicates} pairs; {cfg.n_eval} test inputs, "
        f"{cfg.t_points}-point t-grid; path $\\theta(t) = (1-t)\\theta_A + t\\theta_{{\\tilde B}}$; "
        f"reference N = {cfg.n_ref}, $\\varepsilon$ = {cfg.eps_ref}\n"
        f"aligned error exponent {s:+.3f} (bootstrap 95% CI [{lo:+.3f}, {hi:+.3f}]) for N $\\geq$ {cfg.fit_min_width}",
        fontsize=9)
    fig.tight_layout()
    return fig


def parse_args(argv):
    p = base_parser(__doc__.split("\n\n")[0], "figures")
    d = Config()
    p.add_argument("--d", type=int, default=d.d, help="input dimension d (particles live in R^{d+1})")
    p.add_argument("--activation", choices=ACTIVATIONS, default=d.activation,
                   help="activation; relu is outside Theorem 3.1 (not bounded)")
    p.add_argument("--inputs", choices=MF_INPUT_LAWS, default=d.inputs,
                   help="input law; ball/cube are bounded (the theorem's assumption)")
    p.add_argument("--teacher-width", type=int, default=d.teacher_width, help="neurons of the teacher network")
    p.add_argument("--teacher-seed", type=int, default=d.teacher_seed, help="seed of the fixed teacher")
    p.add_argument("--label-noise", type=float, default=d.label_noise, help="std of Gaussian label noise")
    p.add_argument("--widths", type=int, nargs="+", default=None,
                   help=f"numbers of particles N (default {' '.join(map(str, d.widths))})")
    p.add_argument("--eps", type=float, nargs="+", default=None,
                   help=f"SGD step sizes eps (default {' '.join(map(str, d.eps_values))}); "
                        "the N panels use the smallest")
    p.add_argument("--T", type=float, default=None, help=f"training time; steps = T / eps (default {d.T})")
    p.add_argument("--lam", type=float, default=d.lam, help="ridge lambda")
    p.add_argument("--tau", type=float, default=d.tau, help=f"temperature tau; noise {NOISE_CONVENTION}")
    p.add_argument("--n-ref", type=int, default=None, help=f"particles of the reference run (default {d.n_ref})")
    p.add_argument("--eps-ref", type=float, default=None, help=f"step of the reference run (default {d.eps_ref})")
    p.add_argument("--replicates", type=int, default=None, help=f"pairs per cell (default {d.replicates})")
    p.add_argument("--n-eval", type=int, default=None, help=f"held-out test inputs (default {d.n_eval})")
    p.add_argument("--t-points", type=int, default=None, help=f"t-grid size (default {d.t_points})")
    return p.parse_args(argv)


def config_from_args(args) -> Config:
    cfg = replace(Config(), **QUICK) if args.quick else Config()
    over = dict(d=args.d, activation=args.activation, inputs=args.inputs, teacher_width=args.teacher_width,
                teacher_seed=args.teacher_seed, label_noise=args.label_noise, lam=args.lam, tau=args.tau)
    for key, field in (("widths", "widths"), ("eps", "eps_values"), ("T", "T"), ("n_ref", "n_ref"),
                       ("eps_ref", "eps_ref"), ("replicates", "replicates"), ("n_eval", "n_eval"),
                       ("t_points", "t_points")):
        v = getattr(args, key)
        if v is not None:
            over[field] = tuple(v) if isinstance(v, list) else v
    cfg = replace(cfg, **over)
    for key in ("d", "teacher_width", "replicates", "n_eval", "n_ref"):
        if getattr(cfg, key) < 1:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 1.")
    if cfg.t_points < 2:
        raise SystemExit(f"--t-points == {cfg.t_points}, must be >= 2.")
    if min(cfg.widths) < 2:
        raise SystemExit(f"--widths contains {min(cfg.widths)}; N must be >= 2.")
    if len(set(cfg.widths)) < 2:
        raise SystemExit("--widths needs at least two distinct values to fit a rate.")
    for key, vals in (("eps", cfg.eps_values), ("eps-ref", (cfg.eps_ref,)), ("T", (cfg.T,))):
        if min(vals) <= 0:
            raise SystemExit(f"--{key} must be > 0, got {min(vals)}.")
    for key in ("lam", "tau", "label_noise"):
        if getattr(cfg, key) < 0:
            raise SystemExit(f"--{key.replace('_', '-')} == {getattr(cfg, key)}, must be >= 0.")
    return replace(cfg, fit_min_width=min(cfg.fit_min_width, sorted(set(cfg.widths))[-2]))


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_from_args(args)
    grid = {"width": list(cfg.widths), "eps": list(cfg.eps_values)}
    rows, out = run_sim(NAME, cfg, grid, cell, args, plot=plot, streams=STREAMS)
    from otlmc.sweep import column

    D = cfg.d + 1
    print(f"wrote {out / NAME}.csv/.json/.png/.pdf ({len(rows)} rows); noise {NOISE_CONVENTION}; "
          f"OT rate -1/D = {-1 / D:+.3f}, chaos rate -1/2")
    for eps in sorted(cfg.eps_values):
        sub = [r for r in rows if r["eps"] == eps]
        for col in ("aligned_err_sup", "unaligned_err_sup", "aligned_barrier", "w2_clouds", "chaos", "risk_gap"):
            y = column(sub, col)
            if (y <= 0).any():  # a barrier can be exactly 0; a power law of it is meaningless
                print(f"  eps={eps:<7g} {col:18s} has zero values; mean per N: "
                      + " ".join(f"{y[column(sub, 'width') == n].mean():.2e}" for n in sorted(cfg.widths)))
                continue
            f = fit_rate(column(sub, "width"), y, n_min=cfg.fit_min_width, n_boot=500, weighted=False,
                         rng=analysis_rng(args.seed, f"{NAME} {col} eps={eps:g}"))
            s, lo, hi = f.slope, f.ci_low, f.ci_high
            print(f"  eps={eps:<7g} exponent of {col:18s} {s:+.3f}  95% CI [{lo:+.3f}, {hi:+.3f}]")
    viol = sum(r["aligned_err_sup"] > r["aligned_bound_sup"] * (1 + 1e-9) for r in rows)
    viol2 = sum(r["aligned_err_sup"] > r.get("aligned_bound2_sup", np.inf) * (1 + 1e-9) for r in rows)
    print(f"  rows violating the §6.4 path bound: {viol} of {len(rows)}; the second-order bound: {viol2}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
