"""Rate controls: E W_2 of two n-samples on the flat torus, the cube and the Gaussian, with corrections.

Per cell (dimension ``d``, sample size ``n``, replicate) two ``n``-point samples are drawn and the
exact ``W_2`` (one assignment, Birkhoff) is measured for three laws: uniform on the flat torus
``[0, 1)^d`` with the periodic cost (no boundary: the control), uniform on the cube ``[0, 1]^d``
with the ordinary cost (the same points as the torus) and ``N(0, I_d)``. ``E W_2 ~ n^{-1/d}``
for ``d >= 3``, ``n^{-1/2} (log n)^a`` at ``d = 2`` (docs/theory.md §1). Each law and ``d`` gets a
verdict (free fit; when it misses, the exponent fixed at theory plus the regime's leading
correction, :func:`otlmc.controls.leading_correction`). The derived table ``_evidence`` gives for
every law and ``d`` the free slope, the chi-square of the theory exponent alone and with the
correction (for ``E W_2`` and ``E W_2^2``); ``_collapse`` the local slopes ``d x s`` against
``log n / d`` (an ``n^{1/d}`` scaling puts every ``d`` on one curve). ``d = 1`` is
``sims.rate_controls_1d``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from otlmc.claims import Claim
from otlmc.controls import (LAWS, leading_correction, local_slopes, rate_evidence, rate_law, sample_points,
                            squared_correction, two_sample_w2sq)
from otlmc.declare import Sim, grid_values, param
from otlmc.plots import loglog_panel, plt
from otlmc.runner import run
from otlmc.tables import column
from otlmc.wide_pairs import DENSE_MAX_WIDTH

COLOR = {"torus": "C2", "cube": "C1", "gaussian": "C0"}
TEXT = {"torus": "uniform, flat torus (periodic cost)", "cube": "uniform, cube", "gaussian": "Gaussian N(0, I_d)"}
SOURCE = ("Fournier & Guillin 2015 (d > 4), Talagrand 1992 / Ledoux 2019 (d = 2, 3, densities), "
          "Ajtai-Komlos-Tusnady 1984 (d = 2); docs/theory.md §1")
COLLAPSE_MIN_D = 8  # the collapse is drawn for d >= 8, where the Gaussian's free fit is steep


@dataclass(frozen=True)
class Config:
    dims: tuple = param((2, 3, 5, 8, 12, 16, 24), "dimensions d of the points", min=2, quick=(2, 3, 8), axis="d")
    widths: tuple = param((64, 128, 256, 512, 1024, 2048), "sample sizes n (points per sample; the rows of a "
                          "width-n layer; the torus's periodic cost has a dense path only, hence the "
                          f"maximum {DENSE_MAX_WIDTH})", min=3, max=DENSE_MAX_WIDTH, quick=(16, 32, 64, 128),
                          axis="width")
    replicates: int = param(16, "pairs of samples per (d, n)", min=2, quick=4)
    fit_min_width: int = param(64, "smallest width in the rate fits", min=1, quick=16, identity=False)


def _n_min(cfg: Config) -> int:
    return min(cfg.fit_min_width, sorted(cfg.widths)[-3])


def check(cfg: Config) -> None:
    if len(cfg.widths) < 3:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least three widths (a correction "
                         "has two constants and needs a degree of freedom).")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, n, replicate): exact W_2 between two n-samples on the torus, the cube and the Gaussian."""
    d, n = params["d"], params["width"]
    a, b = streams["sample_a"], streams["sample_b"]
    ua, ub = sample_points("cube", n, d, rng=a), sample_points("cube", n, d, rng=b)  # (n, d) each
    ga, gb = sample_points("gaussian", n, d, rng=a), sample_points("gaussian", n, d, rng=b)  # (n, d) each
    sq = {"torus": two_sample_w2sq(ua, ub, periodic=True), "cube": two_sample_w2sq(ua, ub),
          "gaussian": two_sample_w2sq(ga, gb)}
    return {**{f"w2_{k}": math.sqrt(v) for k, v in sq.items()}, **{f"w2sq_{k}": v for k, v in sq.items()}}


def claims(cfg: Config) -> list[Claim]:
    """One rate claim per law, a verdict per d, each with its regime's leading correction."""
    def one(law):
        return Claim(f"w2_rate_{law}", "rate", f"E W_2 between two n-samples of the {TEXT[law]} law falls like "
                     "n^(-1/d) (d >= 3) or n^(-1/2) (log n)^a (d = 2: a = 1/2 uniform, 1 Gaussian)", SOURCE,
                     f"w2_{law}", theory=lambda s: rate_law(law, s["d"]).exponent, by=("d",), n_min=_n_min(cfg),
                     log_power=lambda s: rate_law(law, s["d"]).log_power,
                     corrections=lambda s: [leading_correction(law, s["d"])])
    return [one(law) for law in LAWS]


def evidence_rows(rows, cfg: Config) -> list[dict]:
    """Per (d, law, metric W_2 or W_2^2): free slope, theory alone, theory + the leading correction."""
    out = []
    for d in grid_values(rows, "d"):
        sub = [r for r in rows if r["d"] == d]
        n = column(sub, "width")
        for law in LAWS:
            reg, corr = rate_law(law, d), leading_correction(law, d)
            for metric, k, c in (("w2", 1, corr), ("w2sq", 2, squared_correction(corr, d))):
                ev = rate_evidence(n, column(sub, f"{metric}_{law}"), exponent=k * reg.exponent,
                                   log_power=k * reg.log_power, correction=c, n_min=_n_min(cfg))
                out.append({"d": d, "law": law, "metric": metric, "theory": k * reg.exponent,
                            "log_power": k * reg.log_power, **ev})
    return out


def collapse_rows(rows) -> list[dict]:
    """Local slopes of E W_2 per (law, d), with d x slope against log(n) / d."""
    out = []
    for d in grid_values(rows, "d"):
        sub = [r for r in rows if r["d"] == d]
        for law in LAWS:
            mid, s, se = local_slopes(column(sub, "width"), column(sub, f"w2_{law}"))
            out += [{"law": law, "d": d, "n_mid": float(m), "local_slope": float(a), "se": float(e),
                     "d_local_slope": d * float(a), "d_se": d * float(e), "log_n_over_d": math.log(m) / d}
                    for m, a, e in zip(mid, s, se)]
    return out


def tables(rows, cfg: Config) -> dict:
    return {"evidence": evidence_rows(rows, cfg), "collapse": collapse_rows(rows)}


def _tag(v) -> str:
    """Short form of a verdict row for a panel title (quotes its numbers, computes nothing)."""
    if v["verdict"] != "consistent after correction":
        return v["verdict"]
    k = v["detail"].split("K = ")[1].split(",")[0]
    chi = v["detail"].split("chi2 = ")[1].split(" ")[0]
    return f"corrected (K={k}, $\\chi^2$={chi})"


def plot(rows, cfg: Config, verdicts):
    dims = grid_values(rows, "d")
    n_pan = len(dims) + 2
    ncol = min(4, math.ceil(math.sqrt(n_pan)))
    fig, axes = plt.subplots(math.ceil(n_pan / ncol), ncol, figsize=(5.2 * ncol, 4.3 * math.ceil(n_pan / ncol)),
                             squeeze=False)
    axes = axes.ravel()
    for ax, d in zip(axes, dims):
        slope = rate_law("torus", d).exponent
        loglog_panel(ax, [r for r in rows if r["d"] == d], "width",
                     [(f"w2_{law}", law, COLOR[law]) for law in LAWS], verdicts=verdicts, setting=f"d={d}",
                     theory_slope=slope, theory_label=f"$n^{{{slope:+.3f}}}$" + (" (log factor not drawn)" if d == 2
                                                                                  else ""), ylabel="E $W_2$")
        tags = {v["claim"].removeprefix("w2_rate_"): _tag(v) for v in verdicts if v["setting"] == f"d={d}"}
        ax.set_title(f"d = {d}\n" + "\n".join(f"{law}: {tags.get(law, '—')}" for law in LAWS), fontsize=7)
    ax = axes[len(dims)]
    coll = collapse_rows(rows)
    for law, mk in (("gaussian", "o-"), ("torus", "s--")):
        for i, d in enumerate(x for x in dims if x >= COLLAPSE_MIN_D):
            pts = [c for c in coll if c["law"] == law and c["d"] == d]
            ax.errorbar([c["log_n_over_d"] for c in pts], [c["d_local_slope"] for c in pts],
                        yerr=[1.96 * c["d_se"] for c in pts], fmt=mk, ms=4, capsize=2, color=f"C{i}",
                        mfc="none" if law == "torus" else None, label=f"{law} d={d}")
    ax.axhline(-1.0, color="k", lw=1, label="theory: d x slope = -1")
    ax.set(xlabel="log(n) / d", ylabel="d x local slope of E $W_2$",
           title=f"collapse, d >= {COLLAPSE_MIN_D} (filled: Gaussian, open: torus)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    ax = axes[len(dims) + 1]
    for j, law in enumerate(LAWS):
        vs = [v for v in verdicts if v["claim"] == f"w2_rate_{law}" and v["value"] not in (None, "")]
        dv = np.array([int(v["setting"].removeprefix("d=")) for v in vs])
        val, lo, hi = (dv * np.array([float(v[k]) for v in vs]) for k in ("value", "ci_low", "ci_high"))
        ax.errorbar(dv * (1 + 0.03 * (j - 1)), val, yerr=[val - lo, hi - val], fmt="o", color=COLOR[law],
                    capsize=3, label=law)
    ax.axhline(-1.0, color="k", lw=1, label="theory (d = 2 after the law's log factor)")
    ax.set_xscale("log")
    ax.set_xticks(dims, [str(d) for d in dims])
    ax.minorticks_off()
    ax.set(xlabel="d", ylabel="d x fitted exponent (95% bootstrap CI)", title="free fits (from the verdicts)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    for ax in axes[n_pan:]:
        ax.set_visible(False)
    fig.suptitle(f"Two-sample E $W_2$ (exact assignment): flat torus vs cube (same points) vs Gaussian; mean "
                 f"$\\pm$ 95% CI over {cfg.replicates} pairs; fits use n $\\geq$ {_n_min(cfg)}", fontsize=10)
    return fig


SIM = Sim("rate_controls", __doc__, Config, cell, claims=claims, plot=plot, check=check, tables=tables,
          streams=("sample_a", "sample_b"))

if __name__ == "__main__":
    raise SystemExit(run(SIM))
