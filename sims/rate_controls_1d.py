"""Rate controls in d = 1: exact W_2 of two n-samples by sorting, up to n = 10^6.

Per cell (sample size ``n``, replicate) two ``n``-samples of ``U[0, 1]`` and two of ``N(0, 1)``
are drawn; ``W_2`` is the ``L^2`` distance of the sorted samples (quantile coupling, exact: no
assignment solver). Theory (docs/theory.md §1): ``E W_2 ~ n^{-1/2}``; for the Gaussian
``E W_2^2 ~ log log n / n``, so ``E W_2 / (log log n)^{1/2} ~ n^{-1/2}``; for the uniform law the
mean is known exactly, ``E W_2^2 = 1 / (3 (n + 1))`` (:func:`otlmc.controls.uniform_1d_w2sq_mean`):
the derived table ``_exact`` gives the measured mean over the exact one, with its 95% interval,
at every ``n``. ``E W_2^2 ~ log log n / n`` is an order: the table ``_loglog`` fits
``n E W_2^2 = A log log n + B`` (:func:`otlmc.controls.loglog_offset_fit`; ``A > 0`` resolves the
log log growth, ``B`` is the subleading ``B / n`` term that the proportional law leaves out). The dimensions ``d >= 2`` are ``sims.rate_controls``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.theory import wasserstein_rate
from otlmc.claims import Claim
from otlmc.controls import loglog_offset_fit, mean_ratio, uniform_1d_w2sq_mean
from otlmc.declare import Sim, param
from otlmc.plots import loglog_panel, mean_ci, plt
from otlmc.runner import run
from otlmc.tables import column
from otlmc.transport import wasserstein_1d

GAUSS = wasserstein_rate(1, law="gaussian")  # n^(-1/2) (log log n)^(1/2)
SOURCE = "quantile coupling; Bobkov & Ledoux 2019 (Gaussian: E W_2^2 ~ log log n / n); docs/theory.md §1"


@dataclass(frozen=True)
class Config:
    widths: tuple = param((100, 300, 1000, 3000, 10000, 30000, 100000, 300000, 1000000), "sample sizes n "
                          "(points per sample; the rows of a width-n layer)", min=3, quick=(100, 1000, 10000),
                          axis="width")
    replicates: int = param(64, "pairs of samples per n", min=2, quick=4)
    fit_min_width: int = param(100, "smallest width in the rate fits", min=1, quick=100, identity=False)


def check(cfg: Config) -> None:
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least two widths to fit a rate.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (n, replicate): exact W_2 by sorting for two uniform and two Gaussian n-samples."""
    n = params["width"]
    a, b = streams["sample_a"], streams["sample_b"]
    w_u = wasserstein_1d(a.random(n), b.random(n), p=2.0)
    w_g = wasserstein_1d(a.standard_normal(n), b.standard_normal(n), p=2.0)
    return {"w2_uniform": w_u, "w2sq_uniform": w_u**2, "w2_gaussian": w_g, "w2sq_gaussian": w_g**2,
            "w2_gaussian_over_loglog": w_g / float(GAUSS.loglog_factor(n)),
            "w2sq_uniform_over_exact": w_u**2 / float(uniform_1d_w2sq_mean(n))}


def claims(cfg: Config) -> list[Claim]:
    """The d = 1 rates (uniform; Gaussian after its log log factor) and the exact uniform mean's n-dependence."""
    c = dict(n_min=min(cfg.fit_min_width, sorted(cfg.widths)[-2]))
    return [
        Claim("w2_rate_1d_uniform", "rate", "E W_2 between two n-samples of U[0, 1] falls like n^(-1/2)", SOURCE,
              "w2_uniform", theory=-0.5, **c),
        Claim("w2_rate_1d_gaussian", "rate", "E W_2 / (log log n)^(1/2) between two n-samples of N(0, 1) falls "
              "like n^(-1/2) (E W_2^2 ~ log log n / n)", SOURCE, "w2_gaussian_over_loglog", theory=-0.5, **c),
        Claim("w2sq_exact_1d_uniform", "rate", "3 (n + 1) W_2^2 of two uniform n-samples has mean 1 at every n: "
              "no drift with n (its level per n is in the _exact table)", "order statistics U_(i) ~ Beta(i, n+1-i)",
              "w2sq_uniform_over_exact", theory=0.0, **c),
    ]


def tables(rows, cfg: Config) -> dict:
    n = column(rows, "width")
    out = {"exact": mean_ratio(n, column(rows, "w2sq_uniform"), uniform_1d_w2sq_mean)}
    if len(set(n)) >= 3:
        out["loglog"] = [{"law": "gaussian", **loglog_offset_fit(n, column(rows, "w2sq_gaussian"))}]
    return out


def plot(rows, cfg: Config, verdicts):
    fig, axes = plt.subplots(1, 3, figsize=(19, 4.6))
    loglog_panel(axes[0], rows, "width", [("w2_uniform", "uniform", "C1"), ("w2_gaussian", "Gaussian", "C0"),
                                          ("w2_gaussian_over_loglog", r"Gaussian / $(\log\log n)^{1/2}$", "C9")],
                 verdicts=verdicts, theory_slope=-0.5, theory_label="theory $n^{-1/2}$", ylabel="E $W_2$")
    axes[0].set_title("d = 1: W_2 by sorting (exact)")
    ax = axes[1]
    derived = tables(rows, cfg)
    ex = derived["exact"]
    n = [e["n"] for e in ex]
    ax.errorbar(n, [e["ratio"] for e in ex], fmt="o-", color="C1", capsize=3, label="uniform: mean / exact",
                yerr=[[e["ratio"] - e["ratio_ci_low"] for e in ex], [e["ratio_ci_high"] - e["ratio"] for e in ex]])
    ax.axhline(1.0, color="k", lw=1, label="exact: E $W_2^2$ = 1 / (3 (n + 1))")
    ax.set_xscale("log")
    ax.set(xlabel="width", ylabel=r"mean $W_2^2$ / exact", title="uniform law: measured over exact mean (95% CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[2]
    n, ll = [e["n"] for e in ex], np.log(np.log([e["n"] for e in ex]))
    _, m, ci = mean_ci([{"n": r["width"], "y": r["width"] * r["w2sq_gaussian"]} for r in rows], "n", "y")
    ax.errorbar(ll, m, yerr=ci, fmt="o", color="C0", capsize=3, label="Gaussian: n E $W_2^2$")
    for f in derived.get("loglog", []):
        ax.plot(ll, f["A"] * ll + f["B"], "k--", lw=1, label=f"A log log n + B: A = {f['A']:.2f} [{f['A_ci_low']:.2f}, "
                f"{f['A_ci_high']:.2f}], B = {f['B']:.2f}, $\\chi^2$ = {f['chi2']:.1f}/{f['dof']}")
    ax.set(xlabel="log log n", ylabel="n E $W_2^2$", title="Gaussian: E $W_2^2$ ~ log log n / n is an order")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"Two-sample $W_2$ in d = 1; mean $\\pm$ 95% CI over {cfg.replicates} pairs; fits use n $\\geq$ "
                 f"{min(cfg.fit_min_width, sorted(cfg.widths)[-2])}", fontsize=10)
    return fig


SIM = Sim("rate_controls_1d", __doc__, Config, cell, claims=claims, plot=plot, check=check, tables=tables,
          streams=("sample_a", "sample_b"))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
