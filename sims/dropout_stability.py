"""Dropout stability of wide two-layer networks against the W_1 bound (Ferbach et al., Appendix B.14).

Setting of B.14: ``f(x) = (1/m) sum_i sigma(<w_i, x>)``, rows ``w_i`` i.i.d. ``N(0, I_d / d)``,
inputs uniform on the sphere of radius ``sqrt(d)``. Per cell (``d``, width ``m``, dropped
fraction ``q``, replicate) ``round(q m)`` random neurons are dropped and the kept set ``S``
renormalised, ``f_S = (1/|S|) sum_{i in S} sigma(<w_i, x>)``. On every input the table compares
``|f(x) - f_S(x)|`` with the bound ``(|S^c| / m) Lip(sigma) |x| W_1(mu_S, mu_{S^c})`` (exact
``W_1``, ``otlmc.measure.dropout_stability``). ``W_1`` of two samples of a density in ``R^d``
decays like ``m^{-1/d}`` (``d >= 3``), so the bound does; the error is a subsample-mean
deviation, ``E|f - f_S|^2 = (q / (1 - q)) s_x^2 / (m - 1)``, i.e. ``m^{-1/2}``: the bound is
loose by ``m^{1/2 - 1/d}`` (docs/theory.md §2, §1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otlmc.measure import dropout_error_mean_square, dropout_stability
from otlmc.claims import Claim, by_metric
from otlmc.declare import Sim, grid_values, param
from otlmc.summaries import per_level
from otlmc.plots import fit_label, mean_ci, plt
from otlmc.runner import run
from otlmc.sampling import sample_inputs, sample_weights

B14 = "Ferbach et al. 2024, Appendix B.14"


@dataclass(frozen=True)
class Config:
    dims: tuple = param((3, 5, 8), "input dimensions d", min=1, quick=(3, 5), axis="d")
    fractions: tuple = param((0.5, 0.2), "fractions of neurons dropped, in (0, 1)", min=0.0, strict_min=True,
                             quick=(0.5,), axis="fraction")
    widths: tuple = param((16, 32, 64, 128, 256, 512, 1024, 2048, 4096), "widths m", min=2,
                          quick=(16, 32, 64, 128), axis="width")
    replicates: int = param(16, "draws per grid point (>= 2 for a bootstrap interval)", min=2, quick=3)
    activation: str = param("relu", "activation sigma", choices=("relu", "tanh", "identity"))
    n_eval: int = param(500, "inputs on the sphere of radius sqrt(d)", min=1, quick=100)
    fit_min_width: int = param(64, "smallest width in the rate fits", min=1, quick=16, identity=False)
    n_boot: int = param(2000, "bootstrap resamples of the rate fits", min=10, quick=200, identity=False)


def check(cfg: Config) -> None:
    if max(cfg.fractions) >= 1:
        raise ValueError(f"--fractions {' '.join(map(str, cfg.fractions))}: every fraction must be < 1.")
    if len(cfg.widths) < 2:
        raise ValueError(f"--widths {' '.join(map(str, cfg.widths))}: need at least two widths to fit a rate.")


def cell(cfg: Config, params: dict, streams: dict) -> dict:
    """One (d, m, q, replicate): drop ``round(q m)`` random neurons, both sides of the bound on every input."""
    d, m, q = params["d"], params["width"], params["fraction"]
    W = sample_weights(m, d, rng=streams["net_a"])  # (m, d) rows N(0, I/d)
    X = sample_inputs(cfg.n_eval, d, rng=streams["eval"], law="sphere")  # (n_eval, d), |x| = sqrt(d)
    n_drop = min(max(int(round(q * m)), 1), m - 1)
    keep = np.sort(streams["data"].permutation(m)[n_drop:])  # (m - n_drop,) kept indices S
    err, bound, w1 = dropout_stability(W, keep, X, activation=cfg.activation)  # (n_eval,) each
    pos = err > 0
    ms = dropout_error_mean_square(W, X, n_dropped=n_drop, activation=cfg.activation)  # (n_eval,) exact E_S
    return {
        "n_dropped": n_drop, "w1": w1,
        "error_rms": float(np.sqrt(np.mean(err**2))), "error_max": float(err.max()),
        "error_rms_expected": float(np.sqrt(ms.mean())),  # the m^{-1/2} law, exact over kept sets
        "bound_rms": float(np.sqrt(np.mean(bound**2))), "bound_max": float(bound.max()),
        "min_ratio_bound_error": float((bound[pos] / err[pos]).min()) if pos.any() else float("inf"),
        "bound_violations": int((err > bound * (1 + 1e-9) + 1e-12).sum()),
    }


def claims(cfg: Config) -> list[Claim]:
    """The B.14 bound on every input; its m^{-1/d} rate; the error's exact m^{-1/2} law."""
    fit = dict(by=("d", "fraction"), n_min=min(cfg.fit_min_width, sorted(cfg.widths)[-2]), n_boot=cfg.n_boot)
    low_d = lambda s: (None if s["d"] >= 3 else  # noqa: E731
                       f"d = {s['d']}: W_1 of two samples is not n^(-1/d) for d <= 2 (docs/theory.md §1)")
    return [
        Claim("bound_holds", "inequality", "|f(x) - f_S(x)| <= (|S^c|/m) Lip |x| W_1(mu_S, mu_S^c) on every input "
              "(the bound is the same at every x of the sphere, so max_x error <= bound is the pointwise statement); "
              "Kantorovich-Rubinstein, checked with exact W_1, independent of the sampling", B14,
              "error_max", bound="bound_max", by=("d", "fraction")),
        Claim("bound_rate", "rate", "the bound falls like m^(-1/d): two-sample W_1 of a density in R^d, d >= 3, "
              "has this rate from above and below (Fournier & Guillin 2015; Weed & Bach 2019)",
              f"{B14}; docs/theory.md §1", "bound_rms", theory=lambda s: -1.0 / s["d"], where=low_d, **fit),
        Claim("error_rate", "rate", "the dropout error falls like m^(-1/2): E|f - f_S|^2 = (q/(1-q)) s_x^2/(m-1) "
              "(subsample mean without replacement), so the bound is loose by m^(1/2 - 1/d)",
              "exact law of the subsample mean (otlmc.measure.dropout_error_mean_square)", "error_rms",
              theory=-0.5, **fit),
    ]


def plot(rows, cfg: Config, verdicts):
    dims, fractions = grid_values(rows, "d"), grid_values(rows, "fraction")
    fig, axes = plt.subplots(1, len(fractions) + 1, figsize=(5.8 * (len(fractions) + 1), 7.4), squeeze=False)
    axes, colors = axes[0], {d: f"C{i}" for i, d in enumerate(dims)}
    for ax, q in zip(axes, fractions):
        for d in dims:
            sub, setting = [r for r in rows if r["d"] == d and r["fraction"] == q], f"d={d}, fraction={q}"
            for metric, fmt, name in (("bound_rms", "s--", "bound"), ("error_rms", "o-", "error")):
                lv, mean, ci = mean_ci(sub, "width", metric)
                ax.errorbar(lv, mean, yerr=ci, fmt=fmt, ms=3, capsize=2, color=colors[d],
                            label=f"d={d} {name}" + fit_label(verdicts, metric, setting))
                th, top = by_metric(verdicts, setting)[metric]["theory"], lv >= cfg.fit_min_width
                if th not in (None, ""):  # theory rate through the fitted points (dotted): only its slope is a claim
                    c = np.exp(np.mean(np.log(mean[top]) - th * np.log(lv[top])))
                    ax.plot(lv[top], c * lv[top] ** th, ":", color="k", lw=0.8)
            lv, exp_rms, _ = mean_ci(sub, "width", "error_rms_expected")
            ax.plot(lv, exp_rms, "-", color=colors[d], lw=3, alpha=0.25,
                    label=f"d={d} exact $E_S$ of the error (without-replacement variance)")
        held = [v for v in verdicts if v["claim"] == "bound_holds" and v["setting"].endswith(f"fraction={q}")]
        ax.set_xlabel("width m")
        ax.set_ylabel("RMS over inputs")
        ax.legend(fontsize=6, title_fontsize=6,
                  title="fit slope [CI] vs theory -1/d (bound), -1/2 (error): verdict (dotted: theory rate)",
                  loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
        ax.set_title(f"drop a fraction {q:g}: squares = $W_1$ bound, circles = error\n"
                     + "; ".join(f"{v['setting'].split(',')[0]}: {v['detail'].split(' (')[0]}" for v in held),
                     fontsize=8)
    ax = axes[-1]
    for d in dims:
        for j, q in enumerate(fractions):
            sub = [r for r in rows if r["d"] == d and r["fraction"] == q]
            lv, ratio = per_level(sub, "width", [r["bound_rms"] / r["error_rms"] for r in sub])
            _, mn = per_level(sub, "width", "min_ratio_bound_error", reduce=np.min)
            ax.plot(lv, ratio, "o-" if j == 0 else "o:", color=colors[d], ms=3,
                    label=f"d={d}, q={q:g}: RMS bound / RMS error")
            ax.plot(lv, mn, "v" if j == 0 else "1", color=colors[d], ms=5,
                    label=f"d={d}, q={q:g}: min over x and draws of bound/error")
            ax.plot(lv, ratio[-1] * (lv / lv[-1]) ** (0.5 - 1.0 / d), "--", color=colors[d], lw=0.6)
    ax.axhline(1.0, color="k", lw=1.2, label="bound = error")
    ax.set_ylabel("bound / measured")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    ax.set_title("bound / error: looseness grows like $m^{1/2 - 1/d}$ (dashed)\nnever below 1", fontsize=8)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width m")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Appendix B.14: $f = \\frac{{1}}{{m}}\\sum_i \\sigma(\\langle w_i, x\\rangle)$, {cfg.activation}, "
                 f"rows N(0, I/d), {cfg.n_eval} inputs on the sphere of radius $\\sqrt{{d}}$; mean $\\pm$ 95% CI over "
                 f"{cfg.replicates} draws; fits use m $\\geq$ {min(cfg.fit_min_width, sorted(cfg.widths)[-2])}; "
                 "exact $W_1$", fontsize=9)
    return fig


SIM = Sim("dropout_stability", __doc__, Config, cell, claims=claims, plot=plot, check=check)

if __name__ == "__main__":
    raise SystemExit(run(SIM))
