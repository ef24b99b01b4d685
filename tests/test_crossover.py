"""otlmc.crossover: crossing, prefactor, crossover and needed-width tables on exact synthetic curves."""
from __future__ import annotations

import numpy as np
import pytest

from otlmc.theory import lowrank_crossover_width, lowrank_thickness
from otlmc.crossover import crossovers, curve, first_crossing, needed_widths, prefactor


def test_first_crossing_is_exact_for_a_power_law_and_flags_the_ends():
    x = np.array([1.0, 4.0, 16.0, 64.0])
    y = np.sqrt(x)  # log-log linear: interpolation is exact
    assert first_crossing(x, y, 3.0) == (pytest.approx(9.0, rel=1e-12), "inside")
    assert first_crossing(x, y, 0.5) == (1.0, "below")
    assert first_crossing(x, y, 100.0) == (64.0, "above")
    assert first_crossing(x, np.array([1.0, 3.0, 1.0, 5.0]), 2.0)[0] < 4.0  # the first crossing, not a later one
    with pytest.raises(ValueError, match="increasing"):
        first_crossing(x[::-1], y, 3.0)
    with pytest.raises(ValueError, match="level"):
        first_crossing(x, y, 0.0)


def test_prefactor_recovers_the_constant():
    n = 2.0 ** np.arange(4, 11)
    assert prefactor(n, 2.3 * n ** (-1 / 3), 3, n_min=64) == pytest.approx(2.3, rel=1e-12)
    with pytest.raises(ValueError, match="no width >= n_min"):
        prefactor(n, n, 3, n_min=1e6)


def _two_regime_rows(d, k, a, etas, widths):
    """W_2^2 = a^2 n^(-2/k) + delta^2: the two regimes' terms are equal exactly at n* = (a/delta)^k."""
    rows = []
    for eta in etas:
        delta = lowrank_thickness(d, k, eta)
        for w in widths:
            for rep in range(2):
                rows.append({"k": k, "eta": eta, "width": int(w), "replicate": rep,
                             "w2_layer1": float(np.sqrt(a**2 * w ** (-2 / k) + delta**2)),
                             "aligned_deviation_rms_max_t": float(1.5 * w ** (-1 / k) + delta)})
    return rows


def test_crossovers_measure_the_predicted_width_on_the_two_regime_model():
    """On the model itself the measured crossing (W_2(eta)^2 = 2 W_2(0)^2) is n* up to the log-log
    interpolation between widths 2^(1/4) apart (measured: within 0.13%); asserted 1%."""
    d, k, a, etas = 10, 3, 2.0, (0.0, 0.01, 0.03, 0.1)
    widths = np.round(2 ** np.arange(4, 12.01, 0.25))
    rows = _two_regime_rows(d, k, a, etas, widths)
    out = crossovers(rows, d=d, ks=(k,), etas=etas, n_min=16)
    assert [c["eta"] for c in out] == [0.01, 0.03, 0.1]
    for c in out:
        assert c["A_k"] == pytest.approx(a, rel=1e-3)  # widths are rounded to integers
        assert c["n_star_predicted"] == pytest.approx(lowrank_crossover_width(d, k, c["eta"], prefactor=c["A_k"]))
        assert c["measured_flag"] == "inside"
        assert c["ratio_measured_predicted"] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="must include 0"):
        crossovers(rows, d=d, ks=(k,), etas=(0.01,), n_min=16)
    late = crossovers(_two_regime_rows(d, k, a, (0.0, 1e-5), widths), d=d, ks=(k,), etas=(0.0, 1e-5), n_min=16)
    assert late[0]["measured_flag"] == "above" and np.isnan(late[0]["ratio_measured_predicted"])


def test_needed_widths_invert_an_exact_power_law():
    """D(n) = 1.5 n^(-1/k) at eta = 0: the inverted curve is (c_k / eps)^k exactly, c_k = 1.5."""
    k, widths = 3, 2.0 ** np.arange(4, 11)
    rows = _two_regime_rows(10, k, 2.0, (0.0, 0.1), widths)
    out = needed_widths(rows, ks=(k,), etas=(0.0, 0.1), n_targets=3, n_min=64)
    assert len(out) == 6
    for r in out:
        assert r["c_k"] == pytest.approx(1.5, rel=1e-12)
        if r["eta"] == 0.0:
            assert r["n_needed"] == pytest.approx(r["plugin_eps_minus_k"], rel=1e-9)
        else:  # the thickness adds a floor: more width is needed, or the target is out of reach (NaN)
            assert np.isnan(r["n_needed"]) or r["n_needed"] > r["plugin_eps_minus_k"]
    assert needed_widths(rows, ks=(k,), etas=(0.1,), n_targets=3, n_min=64) == []
    lv, mean = curve(rows, k, 0.0, "aligned_deviation_rms_max_t")
    np.testing.assert_allclose(mean, 1.5 * lv ** (-1 / k), rtol=1e-12)
    with pytest.raises(ValueError, match="no rows with k == 4"):
        curve(rows, 4, 0.0, "w2_layer1")
