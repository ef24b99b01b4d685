"""otlmc.measure: per-layer statistics, inequality counts and widths needed, against hand values."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from otlmc.summaries import (
    chain_holds,
    inverted_curve,
    layer_chain_holds,
    lemma41_plugin_widths,
    per_layer_mean_ci,
    per_level,
    rate_prefactor,
)


def test_per_layer_mean_ci_hand_values():
    rows = [{"E_layer1": 1.0, "E_layer2": 10.0}, {"E_layer1": 3.0, "E_layer2": 10.0},
            {"E_layer1": 5.0, "E_layer2": 13.0}]
    layers, mean, ci = per_layer_mean_ci(rows, "E", 2)
    np.testing.assert_array_equal(layers, [1, 2])
    np.testing.assert_allclose(mean, [3.0, 11.0], rtol=1e-15)
    sem = [stats.sem([1, 3, 5]), stats.sem([10, 10, 13])]  # scipy's ddof=1 standard error as the oracle
    np.testing.assert_allclose(ci, 1.96 * np.array(sem), rtol=1e-12)
    assert per_layer_mean_ci(rows[:1], "E", 1)[2][0] == 0.0  # one replicate: no interval


def test_chain_holds_counts_each_failing_step():
    rows = [{"a": 1.0, "b": 2.0, "c": 3.0},  # holds
            {"a": 2.0, "b": 1.0, "c": 3.0},  # a > b
            {"a": 1.0, "b": 3.0, "c": 2.0},  # b > c
            {"a": 1.0, "b": float("nan"), "c": 3.0}]  # NaN is a failure, never a pass
    assert chain_holds(rows, ("a", "b", "c")) == (1, 4)
    assert chain_holds(rows, ("a", "c")) == (4, 4)
    # round-off: a exceeds b by 1 ulp-scale relative 1e-12; exact fails, rtol 1e-9 passes, rtol 1e-13 fails
    tiny = [{"a": 1.0 + 1e-12, "b": 1.0}]
    assert chain_holds(tiny, ("a", "b")) == (0, 1)
    assert chain_holds(tiny, ("a", "b"), rtol=1e-9) == (1, 1)
    assert chain_holds(tiny, ("a", "b"), rtol=1e-13) == (0, 1)


def test_layer_chain_holds_visits_every_layer_of_every_row():
    rows = [{"depth": 1, "E_layer1": 1.0, "B_layer1": 2.0},
            {"depth": 3, "E_layer1": 1.0, "B_layer1": 2.0, "E_layer2": 5.0, "B_layer2": 4.0,
             "E_layer3": 0.1, "B_layer3": 0.2, "E_layer4": 9.0, "B_layer4": 0.0}]  # layer 4 is beyond depth
    assert layer_chain_holds(rows, [("E", "B")]) == (3, 4)
    # a pair holds only when every chain holds on it
    for r in rows:
        r.update({f"C_layer{l}": 0.0 for l in range(1, 5)})
    assert layer_chain_holds(rows, [("E", "B"), ("C", "E")]) == (3, 4)
    assert layer_chain_holds(rows, [("E", "B"), ("E", "C")]) == (0, 4)


def test_per_level_mean_and_min():
    rows = [{"n": 2, "y": 1.0}, {"n": 1, "y": 4.0}, {"n": 2, "y": 3.0}, {"n": 1, "y": 0.0}]
    lv, m = per_level(rows, "n", "y")
    np.testing.assert_array_equal(lv, [1, 2])
    np.testing.assert_array_equal(m, [2.0, 2.0])
    np.testing.assert_array_equal(per_level(rows, "n", [1, 2, 3, 4], reduce=np.min)[1], [2.0, 1.0])
    with pytest.raises(ValueError, match="3 entries for 4 rows"):
        per_level(rows, "n", [1, 2, 3])


def test_inverted_curve_is_exact_on_a_power_law():
    # log-log interpolation is exact for y = n^(-1/2): the width for eps is eps^-2
    rows = [{"width": n, "y": n**-0.5, "replicate": k} for n in (16, 64, 256, 1024) for k in range(2)]
    eps, widths = inverted_curve(rows, "y", n_eps=7)
    np.testing.assert_allclose(eps, np.geomspace(1024**-0.5, 0.25, 7), rtol=1e-12)
    np.testing.assert_allclose(widths, eps**-2.0, rtol=1e-10)
    with pytest.raises(ValueError, match="n_eps == 1"):
        inverted_curve(rows, "y", n_eps=1)


def test_rate_prefactor_recovers_the_constant():
    rows = [{"width": n, "y": 3.0 * n**-0.4} for n in (8, 64, 512)]
    assert rate_prefactor(rows, "y", -0.4) == pytest.approx(3.0, rel=1e-12)
    rows.append({"width": 4, "y": 100.0})  # below n_min: ignored
    assert rate_prefactor(rows, "y", -0.4, n_min=8) == pytest.approx(3.0, rel=1e-12)
    with pytest.raises(ValueError, match="positive values at widths >= 10000"):
        rate_prefactor(rows, "y", -0.4, n_min=10_000)


def test_lemma41_plugin_is_lemma51_one_layer_formula():
    # One layer, E_0 = 0: m~_1 = (T/eps)^d with T^2 = 2 L c_1 d Ebar_0 (L = 1), floored at width 1.
    d, c1, ebar = 5, 2.0, 1.5
    rows = [{"width": n, "E_layer1": 4.0 * n**-0.4, "C1_layer1": c1 * n ** (-2 / d), "C2_layer1": 7.0,
             "Ebar_layer1": ebar} for n in (32, 128, 512, 2048)]
    out = lemma41_plugin_widths(rows, d, n_eps=4)
    T = np.sqrt(2 * c1 * d * ebar)
    np.testing.assert_allclose(out["plugin"], np.maximum((T / out["eps"]) ** d, 1.0), rtol=1e-9)
    np.testing.assert_allclose(out["eps"] ** 2, np.geomspace(4.0 * 2048**-0.4, 4.0 * 32**-0.4, 4), rtol=1e-12)
    np.testing.assert_allclose(out["measured"], (out["eps"] ** 2 / 4.0) ** (-1 / 0.4), rtol=1e-9)
    assert out["c1"] == pytest.approx(c1, rel=1e-12) and out["Ebar0"] == ebar


def test_bad_input():
    with pytest.raises(ValueError, match="rows is empty"):
        chain_holds([], ("a", "b"))
    with pytest.raises(ValueError, match="at least two columns"):
        chain_holds([{"a": 1.0}], ("a",))
    with pytest.raises(ValueError, match="rtol == -1.0"):
        chain_holds([{"a": 1.0, "b": 2.0}], ("a", "b"), rtol=-1.0)
    with pytest.raises(ValueError, match="depth == 0"):
        per_layer_mean_ci([{"E_layer1": 1.0}], "E", 0)
