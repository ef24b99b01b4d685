"""Tables -> figures. Nothing here computes a result that is not already in the table."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .claims import by_metric
from .tables import column


def _mpl():
    """pyplot (kept for callers that draw their own panels)."""
    return plt


def mean_ci(rows: Sequence[Mapping], x: str, y: str):
    """Per-x mean and a normal 95% interval of the mean over replicates."""
    xs, ys = column(rows, x), column(rows, y)
    levels = np.unique(xs)
    mean = np.array([ys[xs == v].mean() for v in levels])
    sem = np.array([ys[xs == v].std(ddof=1) / np.sqrt((xs == v).sum()) if (xs == v).sum() > 1 else 0.0
                    for v in levels])
    return levels, mean, 1.96 * sem


def layer_curve(ax, rows: Sequence[Mapping], prefix: str, layers, *, fmt: str = "o-", scale: float = 1.0, **kw):
    """Mean ± sd over replicates of the columns ``<prefix>_layer<l>`` against the layers ``l``."""
    ms = [column(rows, f"{prefix}_layer{l}") for l in layers]  # (replicates,) per layer
    ax.errorbar(layers, [scale * m.mean() for m in ms], yerr=[scale * m.std() for m in ms], fmt=fmt, capsize=2, **kw)


def fit_label(verdicts: Sequence[Mapping], metric: str, setting: str = "all") -> str:
    """Legend text of a metric's verdict (``fit n^-0.200 [..]: consistent``), or "" without one.

    Figures never refit: the exponent shown is the one in ``<sim>_fits.csv``.
    """
    v = by_metric(verdicts, setting).get(metric)
    if v is None or v.get("value") in (None, ""):
        return ""
    ci = f" [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}]" if v.get("ci_low") not in (None, "") else ""
    return f"  (fit $n^{{{v['value']:+.3f}}}${ci}: {v['verdict']})"


def loglog_panel(ax, rows, x: str, curves: Sequence[tuple[str, str, str]], *, verdicts=(),
                 setting: str = "all", theory_slope=None, theory_label=None, ylabel=""):
    """Curves ``(column, label, color)`` of mean +- 95% CI vs ``x`` on log-log axes.

    Each legend entry carries the fitted exponent and verdict of its claim (from ``verdicts``,
    the rows of ``<sim>_fits.csv``); the theory slope is drawn through the first curve's
    geometric centre, so that only its slope, not its height, is a claim.
    """
    first = None
    for col, label, color in curves:
        lv, mean, ci = mean_ci(rows, x, col)
        ax.errorbar(lv, mean, yerr=ci, fmt="o-", color=color, ms=4, capsize=2,
                    label=label + fit_label(verdicts, col, setting))
        if first is None:
            first = (lv, mean)
    if theory_slope is not None and first is not None:
        lv, mean = first
        c = np.exp(np.mean(np.log(mean)) - theory_slope * np.mean(np.log(lv)))
        ax.plot(lv, c * lv**theory_slope, "k--", lw=1, label=theory_label or f"theory $n^{{{theory_slope:+.3f}}}$")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)  # below: never over data


def pairs_caption(replicates: int, n_eval: int, t_points: int) -> str:
    """What every random-network figure states about its averaging and its path evaluation."""
    return (f"mean $\\pm$ 95% CI over {replicates} pairs; {n_eval} Gaussian inputs, "
            f"{t_points}-point t-grid")


def save(fig, stem) -> list[str]:
    """Lay ``fig`` out (``tight_layout``, unless it has a layout engine of its own: a sim's ``plot``
    need not), save ``stem.png`` and ``stem.pdf``, then close it (a long session or test run that
    draws many figures does not keep them all alive); returns the paths."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    paths = [f"{stem}.png", f"{stem}.pdf"]
    for p in paths:
        # no creation date in the PDF: redrawing the same table gives the same file
        fig.savefig(p, dpi=130, bbox_inches="tight", metadata={"CreationDate": None} if p.endswith(".pdf") else None)
    _mpl().close(fig)
    return paths
