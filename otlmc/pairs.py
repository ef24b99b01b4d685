"""A pair of random two-layer networks: sample, match, measure; and the rate laws their metrics follow.

Used by ``sims.dimension_scaling`` (one weight law, many input dimensions) and ``sims.subgaussian``
(several weight laws). :func:`pair_metrics` draws the pair and measures it; :func:`w2_law`,
:func:`rate_corrections` and :func:`effective_log_power` turn docs/theory.md §1's regime laws into
what a rate claim (:class:`otlmc.claims.Claim`) needs; :func:`constant_ratios` compares the
constants of two weight laws under a common rate.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._validation import check_choice, check_int, check_real
from .barrier import evaluate_path, t_grid
from .measure import two_layer_path_bound
from .theory import RATE_LAWS as WEIGHT_LAWS, RateLaw, wasserstein_rate
from .claims import Correction
from .matching import neuron_vectors
from .networks import permute
from .sampling import sample_inputs, sample_mlp
from .tables import column
from .wide_pairs import DENSE_MAX_WIDTH, deviation_rms, match_rows_wide, two_layer_path_blocked


def pair_metrics(d: int, n: int, *, dist: str, activation: str, n_out: int, n_eval: int, t_points: int,
                 streams: Mapping[str, np.random.Generator], method: str = "auto") -> dict:
    """Two two-layer networks ``d - n - n_out`` with i.i.d. ``dist`` rows, aligned by weight matching.

    ``streams["net_a"]``, ``streams["net_b"]`` draw the networks, ``streams["eval"]`` the ``n_eval``
    Gaussian inputs. Returns ``w2_layer1`` (``W_2`` of the layer-1 row measures, exact by
    Birkhoff), ``w2_identity_layer1`` (the same without matching), the aligned output deviation
    ``max_t RMS_x |f_{M_t} - (1-t) f_A - t f_B~|`` and the two-layer path bound (docs/theory.md
    §6.4): ``path_bound_rms_max_t`` (its RMS over inputs, max over ``t``), the largest pointwise
    ratio of the two sides and the number of ``(t, x, output)`` points where it fails.

    ``method``: ``'dense'`` matches with an ``n x n`` cost matrix and evaluates the path in
    ``(n_eval, n)`` arrays; ``'matrix_free'`` matches with the certified matrix-free solver and
    evaluates the path in blocks of hidden units (:mod:`otlmc.wide_pairs`: no ``n x n`` array,
    nothing larger than ``(n_eval, NEURON_BLOCK)``); ``'auto'`` matches matrix-free where that is
    faster or the only way (:func:`otlmc.wide_pairs.matrix_free_matching`) and evaluates in blocks
    above ``DENSE_MAX_WIDTH``. All three give the same permutation, hence the same ``W_2`` to the
    last bit; the deviation and the bound agree to the order of the sums (1e-12 relative).
    """
    check_choice("method", method, ("auto", "dense", "matrix_free"))
    arch = (d, n, n_out)
    net_a = sample_mlp(arch, rng=streams["net_a"], law=dist, activation=activation)
    net_b = sample_mlp(arch, rng=streams["net_b"], law=dist, activation=activation)
    X = sample_inputs(n_eval, d, rng=streams["eval"])  # (n_eval, d)
    ts = t_grid(t_points)
    va = neuron_vectors(net_a.weights[0], net_a.biases[0])  # (n, d + 1)
    vb = neuron_vectors(net_b.weights[0], net_b.biases[0])  # (n, d + 1)
    perm = match_rows_wide(va, vb, method=method)  # (n,) the weight matching of the one hidden layer
    b_al = permute(net_b, [perm])
    w2sq = float(np.mean(np.sum((va - vb[perm]) ** 2, axis=1)))  # the expression of weight_matching's cost
    w2sq_id = float(np.mean(np.sum((va - vb) ** 2, axis=1)))
    if method == "matrix_free" or (method == "auto" and n > DENSE_MAX_WIDTH):
        out, gap = two_layer_path_blocked(net_a, b_al, X, ts)  # (T, N, n_out), (N, n_out)
        dev_rms_max = float(deviation_rms(out, ts).max())
        tt = ts.reshape(-1, 1, 1)  # (T, 1, 1)
        lhs = np.abs(out - (1 - tt) * out[0][None] - tt * out[-1][None])  # (T, N, n_out)
        rhs = (tt * (1 - tt)) * gap[None]  # (T, N, n_out)
    else:
        dev_rms_max = evaluate_path(net_a, b_al, X, ts=ts).summary()["deviation_rms_max_t"]
        lhs, rhs = two_layer_path_bound(net_a, b_al, X, ts)  # (T, N, n_out) each
    inner = rhs > 0
    return {
        "w2_layer1": float(np.sqrt(w2sq)),
        "w2_identity_layer1": float(np.sqrt(w2sq_id)),
        "aligned_deviation_rms_max_t": dev_rms_max,
        "path_bound_rms_max_t": float(np.sqrt((rhs**2).sum(-1).mean(1)).max()),
        "path_bound_max_ratio": float((lhs[inner] / rhs[inner]).max()) if inner.any() else 0.0,
        "path_bound_violations": int((lhs > rhs * (1 + 1e-9) + 1e-12).sum()),
    }


def w2_law(d: int, law: str, *, n_min: float) -> tuple[RateLaw, str | None]:
    """``(wasserstein_rate(d, law=law), reason)``; ``reason`` says why the law is not judged, else None.

    The Rademacher law lives on the ``2^d`` corners of a cube: its ``n^{-1/4}`` rate holds once
    ``n >> 2^d`` (docs/theory.md §1). A fit whose smallest width ``n_min`` is below ``2^d`` is in
    the crossover from ``-1/d`` and gets no verdict.
    """
    d = check_int("d", d, min_value=1)
    rate = wasserstein_rate(d, law=law)
    if law == "rademacher" and n_min < 2**d:
        return rate, (f"the 2^d-atom law n^-1/4 needs n >> 2^d = {2**d}; the fit starts at n = {n_min:g} "
                      "(crossover from n^-1/d)")
    return rate, None


def rate_corrections(d: int, law: str) -> tuple[Correction, ...]:
    """The leading finite-``n`` correction of ``E W_2`` for ``d``-dimensional rows of ``law``.

    Tried by the claims engine only when a free fit misses theory (docs/theory.md §1, "finite-n
    corrections"; the causes were measured against a flat-torus control):

    - ``d = 2`` (Gaussian): the ``(log n)`` power is fitted — ``n E W_2^2 = a (log n)^2 + b log n + c``
      has an effective log power ~1.4 at ``n >= 64``, not 2;
    - ``3 <= d <= 4``: a relative ``n^{-(d-2)/d}`` term (``n^{-1/3}`` at ``d = 3``; the torus gives
      the same slope, so it is not a boundary effect);
    - Gaussian ``d >= 8``: ``E W_2^2 = C n^{-2/d} + B/n`` (the torus is exact there: not generic);
    - uniform entries (a cube): the boundary adds a relative ``n^{-1/d}`` term at every ``d >= 3``;
    - Rademacher, ``d = 1``, Gaussian ``5 <= d <= 7``: none.

    ``q`` is the relative order of the term for ``inverse_n`` and 0 for ``log_power``; the engine
    ignores it there (it is set because ``otlmc.claims.describe`` formats ``q`` for every form).
    """
    d = check_int("d", d, min_value=1)
    check_choice("law", law, WEIGHT_LAWS)
    if law == "rademacher" or d == 1:
        return ()
    if law == "uniform" and d >= 3:
        return (Correction("relative_power", q=1.0 / d, why="boundary of the cube (flat-torus control decays "
                           "at n^-1/d)"),)
    if d == 2:
        return (Correction("log_power", q=0.0, why="effective log power of n E W_2^2 is ~1.4 at n >= 64, not 2"),)
    if d <= 4:
        return (Correction("relative_power", q=(d - 2.0) / d, why=f"finite-n term of relative size "
                           f"n^-{d - 2}/{d} below the Fournier-Guillin threshold d > 4"),)
    if d >= 8:
        return (Correction("inverse_n", q=(d - 2.0) / d, why="E W_2^2 = C n^(-2/d) + B/n; flat-torus control exact at "
                           "-1/d, so not a boundary effect"),)
    return ()


def effective_log_power(rate: RateLaw, n_lo: float, n_hi: float) -> float:
    """The ``(log n)`` power that :func:`otlmc.fit.fit_rate` should model for ``rate`` on ``[n_lo, n_hi]``.

    ``fit_rate`` models ``n^s (log n)^a`` only. A ``(log log n)^b`` factor (Gaussian ``d = 1``:
    ``b = 1/2``) has local log-slope ``b / (log n log log n)``, the same as ``(log n)^a`` with
    ``a = b / log log n``; this returns ``rate.log_power + b / log log n_c`` at the geometric centre
    ``n_c = sqrt(n_lo n_hi)`` of the fit range (exact to first order in ``log(n / n_c)``).
    """
    n_lo = check_real("n_lo", n_lo, min_value=0.0, strict_min=True)
    n_hi = check_real("n_hi", n_hi, min_value=n_lo)
    if not rate.loglog_power:
        return float(rate.log_power)
    n_c = np.sqrt(n_lo * n_hi)
    if n_c <= np.e:
        raise ValueError(f"the fit range [{n_lo:g}, {n_hi:g}] has centre {n_c:.3g} <= e; log log n is not positive.")
    return float(rate.log_power + rate.loglog_power / np.log(np.log(n_c)))


def constant_ratios(rows: Sequence[Mapping], metric: str, *, ref: str, n_min: float, factor: float,
                    law_key: str = "dist", by: Sequence[str] = ("d",), x: str = "width") -> list[dict]:
    """Per law and setting of ``by``: ``mean_law(n) / mean_ref(n)`` over widths ``n >= n_min``.

    ``constant_ratio`` is the geometric mean of the per-width ratios (the ratio of constants under
    a common rate), with its range; ``within_factor`` whether every ratio lies in
    ``[1/factor, factor]``. No theory gives these constants: a description, not a verdict.
    """
    factor = check_real("factor", factor, min_value=1.0, strict_min=True)
    out = []
    settings = list(dict.fromkeys(tuple(r[k] for k in by) for r in rows))
    laws = list(dict.fromkeys(r[law_key] for r in rows))
    for s in settings:
        sub = [r for r in rows if tuple(r[k] for k in by) == s]

        def means(law):
            g = [r for r in sub if r[law_key] == law]
            n, y = column(g, x), column(g, metric)
            lv = np.unique(n[n >= n_min])
            return lv, np.array([y[n == v].mean() for v in lv])  # (m,), (m,)

        lv_ref, m_ref = means(ref)
        if lv_ref.size == 0:
            raise ValueError(f"no rows of the reference law {ref!r} at {dict(zip(by, s))} with {x} >= {n_min}.")
        for law in laws:
            lv, m = means(law)
            if not np.array_equal(lv, lv_ref):
                raise ValueError(f"law {law!r} at {dict(zip(by, s))} has widths {lv.tolist()}, the reference "
                                 f"{ref!r} has {lv_ref.tolist()}; ratios need the same widths.")
            ratio = m / m_ref  # (m,)
            out.append({law_key: law, **dict(zip(by, s)), "metric": metric, "n_min": float(lv.min()),
                        "constant_ratio": float(np.exp(np.mean(np.log(ratio)))),
                        "constant_ratio_min": float(ratio.min()), "constant_ratio_max": float(ratio.max()),
                        "within_factor": bool(1 / factor <= ratio.min() and ratio.max() <= factor)})
    return out


__all__ = ["constant_ratios", "effective_log_power", "pair_metrics", "rate_corrections", "w2_law"]
