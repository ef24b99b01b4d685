"""Running the paper rows of :mod:`otlmc.papers`: setups at three scales, one sweep point at a time.

A *row* of the registry names a published result; rows that share networks share an *experiment*
(Ferbach et al. Fig. 2 and Fig. 1(b) are measured on the same trained pairs, Zhou et al.'s
stitching table and LLFC on the same runs). :func:`run_point` trains the pairs of one sweep point
(a peak learning rate, a hidden width, or the single point ``0.0`` of an unswept row), aligns them
with every matching the rows need — each alignment verified by
:func:`otlmc.invariance.verified_permute` and its check recorded — and measures every quantity in
the paper's own definition (:class:`otlmc.papers.Metric`). :func:`point_row` turns the per-pair
values into one table row: the mean over pairs of every *slot* (a target name without its point
suffix, e.g. ``midpoint_loss/am`` for ``midpoint_loss/am/lr=0.00158``), its standard deviation and
its ``:excess`` over the accepted interval (``max(low - m, m - high)``, ``<= 0`` exactly when the
value is accepted; ``None`` where the paper has no value at that point).

Setups (``sims.papers --setup``, :func:`row_setup`'s ``scale``): ``"paper"`` is the row's published
setup; ``"reduced"`` the registry's ``quick`` parameters (minutes on MNIST); ``"tiny"`` a
seconds-sized version for tests.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._validation import check_choice, check_int
from .transport.assignment import linear_assignment
from .barrier import evaluate_path, t_grid
from .datasets import load_mnist, synthetic_classification
from .features import approximate_dimensions, llfc, stitching_errors
from .invariance import verified_align, verified_permute
from .matching import MatchResult, match
from .networks import MLP, forward, interpolate
from .papers import ENTEZARI_WIDTHS, FERBACH_LRS, LLFC_PAIRS, ROWS, comparison_table, compare, get_row, \
    train_config
from .repair import evaluate_repaired_path
from .train import init_mlp, spawn, train

SCALES = ("paper", "reduced", "tiny")
DATA = ("mnist", "synthetic")
#: experiment of every row: rows of one experiment are measured on the same networks
EXPERIMENT = {"ferbach-fig2": "ferbach", "ferbach-fig1b-dims": "ferbach", "zhou-table1-stitching": "zhou",
              "zhou-llfc": "zhou", "jordan-repair-mnist-mlp": "repair", "ainsworth-mnist-mlp": "rebasin",
              "entezari-width": "entezari"}
#: REPAIR notebook's input normalisation on the 0-255 scale
REPAIR_MEAN, REPAIR_STD = 33.32, 78.58
_MLP512 = (784, 512, 512, 512, 10)


def experiment_rows(row: str) -> tuple[str, ...]:
    """Registry keys measured by ``row``'s experiment (``row`` itself included), registry order."""
    exp = EXPERIMENT[get_row(row).key]
    return tuple(r.key for r in ROWS if EXPERIMENT[r.key] == exp)


@dataclass(frozen=True)
class RowSetup:
    """What :func:`run_point` trains for one row at one scale.

    ``widths``: the architecture (Entezari: ``m`` is replaced by the point); ``points``: the sweep
    (learning rates, hidden widths, or ``(0.0,)``); ``epochs``; ``n_train`` training images;
    ``pairs`` per point; ``init`` (:func:`otlmc.train.init_mlp`); ``inputs``: ``"unit"`` (pixels / 255)
    or ``"repair"`` (the REPAIR notebook's standardisation); ``ste_steps`` of the STE matching.
    """

    row: str
    widths: tuple
    points: tuple
    epochs: int
    n_train: int
    pairs: int
    init: str = "lecun_normal"
    inputs: str = "unit"
    ste_steps: int = 0


_PAPER = {
    "ferbach": dict(widths=_MLP512, points=FERBACH_LRS, epochs=50, n_train=60_000, pairs=4),
    "zhou": dict(widths=_MLP512, points=(0.0,), epochs=100, n_train=60_000, pairs=1),
    "rebasin": dict(widths=_MLP512, points=(0.0,), epochs=100, n_train=60_000, pairs=1, ste_steps=200),
    "repair": dict(widths=(784,) + (128,) * 7 + (10,), points=(0.0,), epochs=50, n_train=60_000, pairs=1,
                   init="torch", inputs="repair"),
    # epochs are not given by the issue: otlmc's choice is 40 (at 10 epochs of SGD lr 1e-3 the endpoints
    # stopped at 6-9 % test error, still training); widths up to 2^10 fit a 2-core machine
    "entezari": dict(widths=(784, 0, 10), points=tuple(float(m) for m in ENTEZARI_WIDTHS[:8]), epochs=40,
                     n_train=60_000, pairs=2),
}
_TINY = {
    "ferbach": dict(widths=(784, 16, 16, 16, 10), points=(FERBACH_LRS[4], FERBACH_LRS[5]), epochs=3, n_train=2000,
                    pairs=2),
    "zhou": dict(widths=(784, 16, 16, 16, 10), epochs=3, n_train=2000),
    "rebasin": dict(widths=(784, 16, 16, 16, 10), epochs=3, n_train=2000, ste_steps=3),
    "repair": dict(widths=(784,) + (16,) * 7 + (10,), epochs=3, n_train=2000),
    "entezari": dict(points=(8.0, 32.0, 128.0), epochs=2, n_train=2000, pairs=1),
}


def row_setup(row: str, scale: str) -> RowSetup:
    """The setup of registry row ``row`` at ``scale`` (module docstring)."""
    r = get_row(row)
    check_choice("scale", scale, SCALES)
    exp = EXPERIMENT[r.key]
    kw = dict(_PAPER[exp])
    if scale == "tiny":
        kw.update(_TINY[exp])
    elif scale == "reduced":
        q = r.quick_params
        kw.update(epochs=q["epochs"], n_train=q["n_train"], pairs=q.get("pairs", 1))
        if "widths" in q:
            kw["widths"] = tuple(q["widths"])
        if "lrs" in q:
            kw["points"] = tuple(float(v) for v in q["lrs"])
        if "widths_hidden" in q:
            kw["points"] = tuple(float(v) for v in q["widths_hidden"])
        if "ste_steps" in q:
            kw["ste_steps"] = q["ste_steps"]
    return RowSetup(row=r.key, **kw)


# --------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
def load_data(data: str, n_train: int, n_test: int, inputs: str = "unit"):
    """``(X_train (n_train, 784) float32, y_train, X_test (n_test, 784) float64, y_test)``.

    ``data="mnist"``: prefixes of MNIST (the local cache only; nothing is downloaded);
    ``"synthetic"``: a fixed 784-d, 10-class Gaussian mixture rescaled to [0, 1] (no data needed).
    ``inputs="repair"`` standardises as the REPAIR notebook does, ``(255 x - 33.32) / 78.58``.
    """
    check_choice("data", data, DATA)
    check_choice("inputs", inputs, ("unit", "repair"))
    if data == "mnist":
        Xtr, ytr, Xte, yte = load_mnist(n_train=n_train, n_test=n_test)
    else:
        X, y = synthetic_classification(n_train + n_test, 784, 10, rng=np.random.default_rng(12345))
        X = (X - X.min()) / (X.max() - X.min())  # (n_train + n_test, 784) in [0, 1]
        Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    out = []
    for X, dt in ((Xtr, np.float32), (Xte, np.float64)):  # training in float32 (train.py's dtype)
        X = np.asarray(X, dtype=dt)
        out.append(((255 * X - REPAIR_MEAN) / REPAIR_STD).astype(dt) if inputs == "repair" else X)
    return out[0], ytr, out[1], yte


# --------------------------------------------------------------------------- measurements
def correlation_matching(net_a: MLP, net_b: MLP, *, X, eps: float = 1e-4) -> MatchResult:
    """REPAIR's matching: per hidden layer, maximise the summed correlation of post-activations.

    ``C_ij = Cov(h^A_i, h^B_j) / (sd^A_i sd^B_j + eps)`` over the rows of ``X`` (``eps`` as in the
    authors' notebook guards dead units); layers are matched independently. ``costs[l]`` is
    ``1 - mean_i C_{i p(i)}``; ``identity_costs`` the same unpermuted.
    """
    _, fa = forward(net_a, X, return_features=True)
    _, fb = forward(net_b, X, return_features=True)
    perms, costs, id_costs = [], [], []
    for (_, Ha), (_, Hb) in zip(fa, fb):  # (N, m_l) each
        Ha, Hb = Ha - Ha.mean(0), Hb - Hb.mean(0)
        C = (Ha.T @ Hb / Ha.shape[0]) / (np.outer(Ha.std(0), Hb.std(0)) + eps)  # (m_l, m_l)
        p = linear_assignment(C, maximize=True)
        perms.append(p)
        costs.append(float(1 - C[np.arange(len(p)), p].mean()))
        id_costs.append(float(1 - np.diag(C).mean()))
    return MatchResult(perms, costs, id_costs, "correlation")


def ce_and_error(net: MLP, X, y) -> tuple[float, float]:
    """Mean cross-entropy and 0-1 error of ``net`` on ``(X, y)`` in float64."""
    Z = forward(net, X)  # (N, C)
    zmax = Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z - zmax).sum(axis=1)) + zmax[:, 0]  # (N,)
    return float(np.mean(lse - Z[np.arange(len(y)), y])), float(np.mean(Z.argmax(1) != y))


class _Checks:
    """Aligns B by a method, verifies the permuted network and keeps every check's record."""

    def __init__(self, X_check):
        self.X, self.records = X_check, {}

    def align(self, name: str, net_a: MLP, net_b: MLP, method: str, **kw) -> MLP:
        if method == "correlation":
            net, check = verified_permute(net_b, correlation_matching(net_a, net_b, **kw).perms, self.X)
        else:
            net, _, check = verified_align(net_a, net_b, method, X_check=self.X, **kw)
        self.records.update(check.record(f"perm_check_{name}_"))
        return net


def _pair(arch, setup, tc, X, y, gens):
    nets = []
    for s in ("a", "b"):
        net0 = init_mlp(arch, rng=gens[f"init_{s}"], init=setup.init)
        nets.append(train(net0, X, y, tc, rng=gens[f"order_{s}"], threads=1))
    return nets


def _llfc_worst(net_a, net_b, X) -> tuple[float, float, float]:
    """Max over hidden layers of mean ``1 - cos`` at alpha = 1/2, that layer's baseline, and the
    hidden layer's coef farthest from 1."""
    layers = llfc(net_a, net_b, X, alphas=[0.5])["layers"][:-1]
    omc = [L["per_alpha"][0]["mean"] for L in layers]
    k = int(np.argmax(omc))
    coefs = [L["per_alpha"][0]["coef"] for L in layers]
    return omc[k], layers[k]["baseline"], coefs[int(np.argmax(np.abs(np.subtract(coefs, 1.0))))]


def _train_cfg(setup: RowSetup, point: float, n_train: int):
    exp = EXPERIMENT[setup.row]
    tc = train_config(setup.row, lr=point if exp == "ferbach" else None,
                      epochs=setup.epochs if exp == "entezari" or setup.epochs != _PAPER[exp]["epochs"] else None)
    if exp == "repair" and (setup.epochs != 50 or n_train != 60_000):
        # triangular schedule: warm-up over the first tenth of the run (5 of 50 epochs in the notebook)
        tc = replace(tc, warmup_steps=max(1, round(tc.total_steps(n_train) / 10)))
    return tc


def run_pair(setup: RowSetup, point: float, data, gens: Mapping, *, n_match: int, t_points: int) -> dict:
    """Train one pair of ``setup`` at ``point`` and measure it: ``{slot: value}`` and the checks.

    ``data = (X_train, y_train, X_test, y_test)``; ``gens`` holds generators ``init_a``, ``init_b``,
    ``order_a``, ``order_b`` (an independent pair), ``common``, ``spawn_a``, ``spawn_b`` (Zhou et al.'s
    spawned pair: common initialisation, two data orders) and ``match`` (randomised matchings).
    ``n_match`` training rows feed the data-dependent matchings, the dimensions and REPAIR's
    statistics; the first 1000 test rows the permutation checks.
    """
    Xtr, ytr, Xte, yte = data
    exp = EXPERIMENT[setup.row]
    arch = tuple(int(point) if w == 0 else w for w in setup.widths)
    tc = _train_cfg(setup, point, len(Xtr))
    Xm, ym = Xtr[:n_match].astype(np.float64), ytr[:n_match]  # (n_match, 784)
    chk = _Checks(Xte[:1000])
    out = {}
    if exp == "zhou":
        net0 = init_mlp(arch, rng=gens["common"], init=setup.init)
        sa, sb = spawn(net0, Xtr, ytr, tc, k_steps=0, rng_common=gens["common"], rng_a=gens["spawn_a"],
                       rng_b=gens["spawn_b"], threads=1)
        sb = chk.align("spawn", sa, sb, "identity")
        for l, e in enumerate(stitching_errors(sa, sb, Xte, yte), start=1):
            out[f"stitch_error/FC{l}"] = 100 * e
        A, B = _pair(arch, setup, tc, Xtr, ytr, gens)
        pairs = {"spawn": (sa, sb), "am": (A, chk.align("am", A, B, "am", X=Xm)),
                 "wm": (A, chk.align("wm", A, B, "weight"))}
        for name in LLFC_PAIRS:
            o, base, coef = _llfc_worst(*pairs[name], Xte)
            out.update({f"one_minus_cos/{name}": o, f"one_minus_cos_AB/{name}": base, f"coef/{name}": coef})
        out.update(chk.records)
        return out
    A, B = _pair(arch, setup, tc, Xtr, ytr, gens)
    la, ea = ce_and_error(A, Xte, yte)
    lb, eb = ce_and_error(B, Xte, yte)
    if exp == "ferbach":
        out["midpoint_loss/endpoints"] = (la + lb) / 2
        for m in ("identity", "wm_naive", "wm_ours", "am"):
            kw = {"X": Xm} if m in ("wm_ours", "am") else {}
            Bm = chk.align(m, A, B, m, **kw)
            out["midpoint_loss_unaligned" if m == "identity" else f"midpoint_loss/{m}"] = \
                ce_and_error(interpolate(A, Bm, 0.5), Xte, yte)[0]
        for key, vals in approximate_dimensions(A, Xm).items():
            out[f"dim/{key}"] = float(np.mean(vals))
    elif exp == "repair":
        Bc = chk.align("correlation", A, B, "correlation", X=Xm)
        lm, em = ce_and_error(interpolate(A, Bc, 0.5), Xte, yte)
        rp = evaluate_repaired_path(A, Bc, Xm, Xte, yte, ts=[0.0, 0.5, 1.0], include_output=True, eps=1e-5)
        out.update({"acc/A": 100 * (1 - ea), "acc/B": 100 * (1 - eb), "loss/A": la, "loss/B": lb,
                    "acc/midpoint": 100 * (1 - em), "loss/midpoint": lm,
                    "acc/midpoint_repair": 100 * (1 - rp.error[1]), "loss/midpoint_repair": float(rp.loss[1])})
    elif exp == "rebasin":
        ts = t_grid(t_points)
        nets = {"naive": chk.align("naive", A, B, "identity"),
                "wm": chk.align("wm", A, B, "rebasin", rng=gens["match"]),
                "am": chk.align("am", A, B, "am_uncentered", X=Xm),
                "ste": chk.align("ste", A, B, "ste", X=Xm, y=ym, rng=gens["match"], steps=setup.ste_steps)}
        for split, (X, y) in (("train", (Xm, ym)), ("test", (Xte, yte))):
            for m, Bm in nets.items():
                out[f"barrier_rebasin/{split}/{m}"] = evaluate_path(A, Bm, X, y, ts=ts, loss="ce").barriers[
                    "barrier_rebasin"]
    else:  # entezari: unaligned barrier between independent runs
        path = evaluate_path(A, chk.align("naive", A, B, "identity"), Xte, yte, ts=t_grid(t_points), loss="ce")
        out["barrier"] = path.barriers["barrier"]
        out["barrier_wm"] = evaluate_path(A, chk.align("wm", A, B, "weight"), Xte, yte, ts=t_grid(t_points),
                                          loss="ce").barriers["barrier"]
    out.update({"loss_a": la, "loss_b": lb, "error_a": ea, "error_b": eb})
    out.update(chk.records)
    return out


# --------------------------------------------------------------------------- table rows and judging
def target_name(row: str, slot: str, point: float) -> str:
    """Registry name of ``slot`` at ``point``: Fig. 2 values carry ``/lr=``, Entezari's ``/width=``."""
    if row == "ferbach-fig2" and slot.startswith("midpoint_loss/"):
        return f"{slot}/lr={point:.3g}"
    if row == "entezari-width" and slot == "barrier":
        return f"barrier/width={int(point)}"
    return slot


def _interval(row: str, slot: str, point: float):
    r = get_row(row)
    name = target_name(row, slot, point)
    for tg in r.targets:
        if tg.name == name:
            return tg.interval(r.tolerance)
    return None


def slots(row: str) -> tuple[str, ...]:
    """Slots with a paper value in ``row`` (target names without their point suffix), registry order."""
    out = []
    for tg in get_row(row).targets:
        s = tg.name.rsplit("/lr=", 1)[0].rsplit("/width=", 1)[0]
        if s not in out:
            out.append(s)
    return tuple(out)


def point_row(row: str, point: float, pairs: Sequence[Mapping]) -> dict:
    """One table row from the per-pair dicts of :func:`run_pair` (module docstring)."""
    if not pairs:
        raise ValueError("point_row needs at least one pair.")
    keys = [k for k in pairs[0] if not k.startswith("perm_check_")]
    out = {"pairs": len(pairs)}
    for k in keys:
        v = np.array([p[k] for p in pairs], dtype=float)  # (pairs,)
        out[k] = float(v.mean())
        out[f"{k}:sd"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
    for r in experiment_rows(row):
        for s in slots(r):
            iv = _interval(r, s, point)
            out[f"{s}:excess"] = None if iv is None or s not in out else float(max(iv[0] - out[s], out[s] - iv[1]))
    ratios = [p[k] for p in pairs for k in p if k.startswith("perm_check_") and k.endswith("_max_ratio")]
    out["perm_check_ok"] = all(bool(p[k]) for p in pairs for k in p if k.endswith("_ok") and k.startswith("perm_"))
    out["perm_check_max_ratio"] = float(max(ratios))
    out["perm_check_count"] = len(ratios)
    out["perm_check_max_abs"] = float(max(p[k] for p in pairs for k in p if k.endswith("_max_abs")))
    out["perm_check_bound"] = 1.0
    out["accepted_excess_max"] = 0.0
    return out


def measured(row: str, table: Sequence[Mapping]) -> dict:
    """``{registry name: otlmc value}`` of ``row`` from a run's table (one row per sweep point).

    Point-suffixed names take their point's mean over pairs. A name without a suffix measured at
    several points (Fig. 1(b)'s dimensions over the learning rates) is a claim about every point,
    as the claims engine judges it: it takes the point farthest outside (or least inside) the
    accepted interval, so the table and the verdict file can never disagree; a trend-only name
    (no interval) takes the mean over the points.
    """
    r = get_row(row)
    names, out, multi = set(r.names), {}, {}
    intervals = {tg.name: tg.interval(r.tolerance) for tg in r.targets}
    for t in table:
        for k, v in t.items():
            if ":" in k or v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            name = target_name(row, k, float(t["point"]))
            if name in names:
                multi.setdefault(name, []).append(float(v))
    for name, vals in multi.items():
        if name in intervals and len(vals) > 1:
            low, high = intervals[name]
            out[name] = max(vals, key=lambda x: max(low - x, x - high) / max(high - low, 1e-300))
        else:
            out[name] = float(np.mean(vals))
    return out


def comparison(rows: Sequence[str], table: Sequence[Mapping]) -> tuple[list[dict], str]:
    """Per-target comparison rows (for a CSV) and the Markdown table of :func:`otlmc.papers.comparison_table`."""
    pairs = [(get_row(k), measured(k, table)) for k in rows]
    csv_rows = []
    for r, m in pairs:
        v = compare(r, m)
        for res in v.targets:
            csv_rows.append({"row": r.key, "source": f"{r.paper.short}, {r.where}", "quantity": res.name,
                             "paper": res.paper, "otlmc": res.measured, "low": res.low, "high": res.high,
                             "within": res.within, "deviation": res.deviation, "row_verdict": v.verdict})
        for desc, ok, detail in v.trends:
            csv_rows.append({"row": r.key, "source": f"{r.paper.short}, {r.where}", "quantity": f"trend: {desc}",
                             "paper": None, "otlmc": None, "low": None, "high": None, "within": ok,
                             "deviation": detail, "row_verdict": v.verdict})
    return csv_rows, comparison_table(pairs)


def pair_generators(gen, n: int) -> list[dict]:
    """``n`` independent dicts of named generators (``init_a`` ... ``match``) spawned from ``gen``."""
    n = check_int("n", n, min_value=1)
    names = ("init_a", "init_b", "order_a", "order_b", "common", "spawn_a", "spawn_b", "match")
    return [dict(zip(names, g.spawn(len(names)))) for g in gen.spawn(n)]


__all__ = ["DATA", "EXPERIMENT", "SCALES", "RowSetup", "ce_and_error", "comparison", "correlation_matching",
           "experiment_rows", "load_data", "measured", "pair_generators", "point_row", "row_setup", "run_pair",
           "slots", "target_name"]
