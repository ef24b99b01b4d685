"""One claims engine: every verdict otlmc prints, tabulates, draws or quotes comes from here.

A sim declares each theorem claim once, as a :class:`Claim`: what is measured (``metric`` against
``axis``), what kind of statement it is, the theory value, the settings where it applies and the
paper statement it comes from. :func:`evaluate` turns a claim and a table into :class:`Verdict`
records, one per setting of the ``by`` axes; the runner writes them to ``<sim>_fits.csv``, the
figure legends read them, ``sims.report`` and the README's theorem table are made from that file.

Kinds (docs/theory.md, "What otlmc checks and how")
----------------------------------------------------
``rate``
    ``E[metric] ~ C axis^theory``: slope and bootstrap CI from :func:`otlmc.fit.fit_rate`;
    consistent when the theory exponent lies in the CI. A rate outside its CI is "inconsistent"
    unless a declared correction (:class:`Correction`) with the exponent fixed at theory fits
    (chi-square p >= 0.05): then "consistent after correction".
``upper_bound``
    ``E[metric] <= C axis^theory``: inconsistent only when the slope is significantly shallower
    (CI entirely above theory) and no declared correction fits.
``lower_bound``
    ``E[metric] >= C axis^theory``: the tail constant ``axis^-theory E[metric]`` at the largest
    widths has a one-sided 95% lower confidence bound above 0 and no significant downward trend
    (the slope's CI reaches theory). A steeper finite-width slope alone does not contradict it: when
    the constant falls, a declared correction with ``K > 0`` (the constant tends to a positive limit)
    that fits gives "consistent after correction".
``inequality``
    ``metric <= bound (1 + rtol)`` on every row (a deterministic inequality); ``construction=True`` marks one
    that holds by construction (an algebraic identity of the code), not as independent evidence.
``ordering``
    ``metric < other`` in paired rows: an exact two-sided sign test per setting; consistent when
    significant in the predicted direction, inconsistent when significant against it.
``crossover``
    a measured scale against a predicted one (``measure(rows) -> [(setting, measured, predicted)]``),
    consistent when the ratio lies within ``[1/factor, factor]``.

Rows can be excluded from a claim with ``keep`` (e.g. networks that did not train get no
verdict); a setting left without rows gets "no verdict" with ``keep_why``.

Verdict vocabulary (one for all kinds): :data:`VERDICTS`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import optimize, stats

from ._validation import check_choice
from .fit import fit_rate
from .rng import analysis_rng
from .tables import column

KINDS = ("rate", "upper_bound", "lower_bound", "inequality", "ordering", "crossover")
VERDICTS = ("consistent", "consistent after correction", "inconsistent", "no verdict", "not applicable")
CORRECTIONS = ("relative_power", "inverse_n", "log_power")


@dataclass(frozen=True)
class Correction:
    """A leading finite-size correction tried when a rate's free fit misses theory.

    ``relative_power``: ``E y = C n^theory (1 + K n^-q)`` (e.g. a boundary term, ``q = 1/d``);
    ``inverse_n``: ``E y^2 = C n^(2 theory) + K / n`` (a ``B/n`` term in the squared quantity);
    ``log_power``: ``E y = C n^theory (log n)^a`` with ``a`` fitted.
    """

    form: str
    q: float | None = None
    why: str = ""

    def __post_init__(self):
        check_choice("Correction.form", self.form, CORRECTIONS)


@dataclass(frozen=True)
class Claim:
    """One theorem claim, declared once (see the module docstring for the kinds)."""

    id: str
    kind: str
    statement: str
    source: str
    metric: str
    axis: str = "width"
    theory: float | Callable[[dict], float | None] | None = None
    by: tuple[str, ...] = ()
    where: Callable[[dict], str | None] | None = None
    n_min: float | None = None
    log_power: float | Callable[[dict], float] = 0.0
    bound: str | None = None
    other: str | None = None
    construction: bool = False
    measure: Callable | None = None
    factor: float = 2.0
    corrections: Callable[[dict], Sequence[Correction]] | Sequence[Correction] = ()
    n_boot: int = 2000
    keep: Callable[[Mapping], bool] | None = None
    keep_why: str = ""
    rtol: float = 0.0

    def __post_init__(self):
        check_choice("Claim.kind", self.kind, KINDS)
        need = {"inequality": "bound", "ordering": "other", "crossover": "measure"}.get(self.kind)
        if need and getattr(self, need) is None:
            raise ValueError(f"claim {self.id!r} of kind {self.kind!r} needs {need}=.")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim at one setting: a row of ``<sim>_fits.csv``."""

    sim: str
    claim: str
    kind: str
    setting: str
    metric: str
    axis: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    theory: float | None
    verdict: str
    detail: str
    n_points: int
    source: str
    statement: str

    def row(self) -> dict:
        return asdict(self)

    def short(self) -> str:
        """``-0.200 [-0.21, -0.19] vs -0.200: consistent`` — what legends and the README print."""
        if self.value is None:
            return f"{self.verdict}" + (f" ({self.detail})" if self.detail else "")
        s = f"{self.value:+.3f}"
        if self.ci_low is not None:
            s += f" [{self.ci_low:+.3f}, {self.ci_high:+.3f}]"
        if self.theory is not None:
            s += f" vs {self.theory:+.3f}"
        return f"{s}: {self.verdict}"


def setting_label(setting: Mapping) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.items()) or "all"


def _settings(rows, by):
    out: list[dict] = []
    for r in rows:
        s = {k: r[k] for k in by}
        if s not in out:
            out.append(s)
    return out


def _resolve(value, setting):
    return value(setting) if callable(value) else value


def evaluate(claim: Claim, rows: Sequence[Mapping], *, sim: str, root_seed: int = 0) -> list[Verdict]:
    """Verdicts of ``claim`` on ``rows``, one per setting of ``claim.by`` (table order)."""
    out = []
    if claim.kind == "crossover":
        for setting, measured, predicted in claim.measure(rows):
            out.append(_crossover(claim, sim, setting, measured, predicted))
        return out
    for setting in _settings(rows, claim.by):
        sub = [r for r in rows if all(r[k] == v for k, v in setting.items())]
        dropped = 0
        if claim.keep is not None:
            kept = [r for r in sub if claim.keep(r)]
            dropped, sub = len(sub) - len(kept), kept
        base = dict(sim=sim, claim=claim.id, kind=claim.kind, setting=setting_label(setting),
                    metric=claim.metric, axis=claim.axis, source=claim.source, statement=claim.statement)
        reason = claim.where(setting) if claim.where is not None else None
        theory = _resolve(claim.theory, setting)
        if reason is None and theory is None and claim.kind in ("rate", "upper_bound", "lower_bound"):
            reason = "no theory value for this setting"
        if reason is None and not sub:
            out.append(Verdict(**base, value=None, ci_low=None, ci_high=None, theory=None, verdict="no verdict",
                               detail=f"all {dropped} rows excluded: {claim.keep_why}", n_points=0))
            continue
        if reason:
            out.append(Verdict(**base, value=None, ci_low=None, ci_high=None, theory=None,
                               verdict="not applicable", detail=reason, n_points=len(sub)))
            continue
        rng = analysis_rng(root_seed, f"{sim}/{claim.id}/{base['setting']}")
        fn = {"rate": _rate, "upper_bound": _rate, "lower_bound": _lower_bound,
              "inequality": _inequality, "ordering": _ordering}[claim.kind]
        bad = _unusable(claim, sub)
        if bad is None:
            try:
                v = fn(claim, sub, setting, theory, base, rng)
            except ValueError as exc:  # the table cannot carry this statistic (one replicate, y <= 0, ...)
                bad = f"no fit on these rows: {exc}"
        if bad is not None:
            out.append(Verdict(**base, value=None, ci_low=None, ci_high=None, theory=None,
                               verdict="no verdict", detail=bad, n_points=len(sub)))
            continue
        if dropped:
            v = replace(v, detail=f"{v.detail}; {dropped} rows excluded: {claim.keep_why}".lstrip("; "))
        out.append(v)
    return out


def _unusable(claim: Claim, sub) -> str | None:
    """Why the rows cannot be judged (a column missing, not numeric or not finite), or None."""
    for col in (claim.axis if claim.kind in ("rate", "upper_bound", "lower_bound") else None,
                claim.metric, claim.bound if claim.kind == "inequality" else None,
                claim.other if claim.kind == "ordering" else None):
        if col is None:
            continue
        try:
            x = column(sub, col)
        except (KeyError, TypeError, ValueError) as exc:
            return f"column {col!r} is missing or not numeric ({type(exc).__name__}: {exc})"
        if not np.all(np.isfinite(x)):
            return f"column {col!r} has {int(np.sum(~np.isfinite(x)))} non-finite value(s)"
    return None


def evaluate_all(claims: Sequence[Claim], rows, *, sim: str, root_seed: int = 0) -> list[Verdict]:
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{sim}: claim ids must be unique, got {ids}.")
    return [v for c in claims for v in evaluate(c, rows, sim=sim, root_seed=root_seed)]


def _fit(claim, sub, setting, rng):
    n, y = column(sub, claim.axis), column(sub, claim.metric)
    return n, y, fit_rate(n, y, n_min=claim.n_min, n_boot=claim.n_boot, rng=rng,
                          log_power=_resolve(claim.log_power, setting))


def _rate(claim, sub, setting, theory, base, rng):
    n, y, f = _fit(claim, sub, setting, rng)
    fit = dict(value=f.slope, ci_low=f.ci_low, ci_high=f.ci_high, theory=theory, n_points=f.n_points)
    if claim.kind == "upper_bound" and f.ci_low <= theory:
        return Verdict(**base, **fit, verdict="consistent", detail="")
    if claim.kind == "rate" and f.contains(theory):
        return Verdict(**base, **fit, verdict="consistent", detail="")
    side = "steeper" if f.ci_high < theory else "shallower"
    if claim.kind == "upper_bound":
        side = "decays more slowly than the bound allows"
    for corr in _resolve(claim.corrections, setting) or ():
        res = corrected_fit(n, y, theory, corr, n_min=claim.n_min)
        if res["p"] >= 0.05:
            return Verdict(**base, **fit, verdict="consistent after correction",
                           detail=f"{side} free fit; with exponent fixed at theory + {describe(corr)}: "
                                  f"K = {res['K']:.3g}, chi2 = {res['chi2']:.1f}/{res['dof']} "
                                  f"(p = {res['p']:.2f}){'; ' + corr.why if corr.why else ''}")
    return Verdict(**base, **fit, verdict="inconsistent",
                   detail=(side if claim.kind == "upper_bound" else f"{side} than theory")
                   + ("; no declared correction fits"
                                                   if _resolve(claim.corrections, setting) else ""))


def _lower_bound(claim, sub, setting, theory, base, rng):
    n, y, f = _fit(claim, sub, setting, rng)
    top = np.unique(n)[-1]
    c = y[n == top] * top ** (-theory)  # tail constant per replicate at the largest width
    scale = float(np.max(np.abs(c))) or 1.0  # moments of c / scale: no overflow near the float range
    lower = (scale * ((c / scale).mean() - stats.t.ppf(0.95, c.size - 1) * (c / scale).std(ddof=1)
                      / math.sqrt(c.size)) if c.size > 1 else -np.inf)
    trend_ok = f.ci_high >= theory
    detail = (f"tail constant n^{0.0 - theory:+.3f} E at n={top:g}: {c.mean():.4g}, one-sided 95% lower "
              f"bound {lower:.4g}; " + ("no downward trend" if trend_ok else "tail constant falls"))
    verdict = "consistent" if lower > 0 and trend_ok else "inconsistent"
    if lower > 0 and not trend_ok:
        # a falling tail constant contradicts the bound only if it falls to 0: fit theory + a
        # correction K n^-q that decays, so that the constant tends to C > 0
        for corr in _resolve(claim.corrections, setting) or ():
            res = corrected_fit(n, y, theory, corr, n_min=claim.n_min)
            if res["p"] >= 0.05 and res["K"] > 0:
                verdict = "consistent after correction"
                detail += (f"; exponent fixed at theory + {describe(corr)}: K = {res['K']:.3g} > 0, chi2 = "
                           f"{res['chi2']:.1f}/{res['dof']} (p = {res['p']:.2f}), so the constant falls "
                           f"towards a positive limit{'; ' + corr.why if corr.why else ''}")
                break
    return Verdict(**base, value=f.slope, ci_low=f.ci_low, ci_high=f.ci_high, theory=theory,
                   verdict=verdict, detail=detail, n_points=f.n_points)


def _inequality(claim, sub, setting, theory, base, rng):
    lhs, rhs = column(sub, claim.metric), column(sub, claim.bound)
    held = int(np.sum(lhs <= rhs + claim.rtol * np.abs(rhs)))
    ratio = float(np.min(rhs / lhs)) if np.all(lhs > 0) else None
    tag = "holds by construction" if claim.construction else "independent check"
    if claim.rtol:
        tag += f", relative tolerance {claim.rtol:g} for rounding"
    detail = f"held in {held}/{lhs.size} rows ({tag})" + (f"; smallest bound/value {ratio:.3g}" if ratio else "")
    return Verdict(**base, value=float(held / lhs.size), ci_low=None, ci_high=None, theory=1.0,
                   verdict="consistent" if held == lhs.size else "inconsistent", detail=detail,
                   n_points=int(lhs.size))


def sign_test(diff) -> tuple[int, int, float]:
    """``(#negative, #non-zero, two-sided exact p)`` of paired differences."""
    diff = np.asarray(diff, dtype=float)
    nz = diff[diff != 0]
    k = int(np.sum(nz < 0))
    p = float(stats.binomtest(k, nz.size, 0.5).pvalue) if nz.size else 1.0
    return k, int(nz.size), p


def _ordering(claim, sub, setting, theory, base, rng):
    k, m, p = sign_test(column(sub, claim.metric) - column(sub, claim.other))
    if p < 0.05:
        verdict = "consistent" if k > m - k else "inconsistent"
    else:
        verdict = "no verdict"
    detail = (f"{claim.metric} < {claim.other} in {k}/{m} pairs (sign test p = {p:.2g}"
              + (", too few pairs for p < 0.05" if m < 6 and verdict == "no verdict" else "") + ")")
    return Verdict(**base, value=k / m if m else None, ci_low=None, ci_high=None, theory=None,
                   verdict=verdict, detail=detail, n_points=m)


def _crossover(claim, sim, setting, measured, predicted):
    ratio = measured / predicted
    ok = 1.0 / claim.factor <= ratio <= claim.factor
    return Verdict(sim=sim, claim=claim.id, kind="crossover", setting=setting_label(setting),
                   metric=claim.metric, axis=claim.axis, value=float(measured), ci_low=None, ci_high=None,
                   theory=float(predicted), verdict="consistent" if ok else "inconsistent",
                   detail=f"measured/predicted {ratio:.2f} (tolerance factor {claim.factor:g})",
                   n_points=1, source=claim.source, statement=claim.statement)


def describe(corr: Correction) -> str:
    if corr.form == "relative_power":
        return f"relative n^-{corr.q:.3g} term"
    return {"inverse_n": "B/n term in the square", "log_power": "fitted log power"}[corr.form]


def corrected_fit(n, y, theory: float, corr: Correction, *, n_min=None) -> dict:
    """Fit ``E y`` with the exponent fixed at ``theory`` plus one correction; chi-square on the means.

    Weighted by the per-width variance of the mean (delta method on the log scale). Returns
    ``{"K", "chi2", "dof", "p"}``; ``dof = widths - 2`` (``C`` and ``K`` fitted).
    """
    n, y = np.asarray(n, float), np.asarray(y, float)
    keep = n >= (n_min if n_min is not None else -np.inf)
    levels = np.unique(n[keep])
    groups = [y[keep & (n == v)] for v in levels]
    if len(levels) < 3 or min(g.size for g in groups) < 2:
        return {"K": math.nan, "chi2": math.inf, "dof": 0, "p": 0.0}
    sq = corr.form == "inverse_n"
    means = np.array([(g**2 if sq else g).mean() for g in groups])
    sem = np.array([(g**2 if sq else g).std(ddof=1) / math.sqrt(g.size) for g in groups])
    sigma = np.maximum(sem / means, 1e-12)  # (m,) standard error of log mean
    x = np.log(levels)
    e = 2 * theory if sq else theory

    def model(p):
        logc, K = p
        if corr.form == "relative_power":
            return logc + e * x + np.log(np.maximum(1 + K * levels ** (-corr.q), 1e-300))
        if corr.form == "inverse_n":
            return np.log(np.maximum(np.exp(logc) * levels**e + K / levels, 1e-300))
        return logc + e * x + K * np.log(x)

    p0 = [float(np.mean(np.log(means) - e * x)), 0.0]
    res = optimize.least_squares(lambda p: (model(p) - np.log(means)) / sigma, p0)
    chi2 = float(np.sum(res.fun**2))
    dof = len(levels) - 2
    return {"K": float(res.x[1]) if corr.form != "inverse_n" else float(res.x[1] / np.exp(res.x[0])),
            "chi2": chi2, "dof": dof, "p": float(stats.chi2.sf(chi2, dof)) if dof > 0 else 0.0}


def by_metric(verdicts: Sequence[Verdict | Mapping], setting: str = "all") -> dict[str, Mapping]:
    """``{metric: verdict}`` of one setting (what a figure legend looks up)."""
    out = {}
    for v in verdicts:
        v = v.row() if isinstance(v, Verdict) else v
        if v["setting"] == setting:
            out.setdefault(v["metric"], v)
    return out


def verdict_rows(verdicts: Sequence[Verdict]) -> list[dict]:
    return [v.row() for v in verdicts]


__all__ = ["CORRECTIONS", "Claim", "Correction", "KINDS", "VERDICTS", "Verdict", "by_metric",
           "corrected_fit", "evaluate", "evaluate_all", "setting_label", "sign_test", "verdict_rows"]
