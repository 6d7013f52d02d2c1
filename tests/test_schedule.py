"""Learning-rate schedule: warm-up, poly and piecewise decay against hand-computed values."""

import numpy as np
import pytest

from training.schedule import WarmupDecay


def rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_linear_warmup_then_linear_poly_decay_to_zero():
    schedule = WarmupDecay(1.0, total_steps=14, warmup_steps=4, decay="poly", power=1.0)
    expected = [0.25, 0.5, 0.75, 1.0] + [1.0 - t / 10 for t in range(0, 11)] + [0.0]
    np.testing.assert_allclose(rates(schedule, range(16)), expected, rtol=1e-6, atol=1e-7)


def test_poly_power_two_with_end_value():
    schedule = WarmupDecay(0.1, total_steps=100, decay="poly", power=2.0, end_factor=0.1)
    for step in (0, 30, 99, 100, 150):
        t = min(step / 100, 1.0)
        assert float(schedule(step)) == pytest.approx(0.01 + 0.09 * (1 - t) ** 2, rel=1e-5)


def test_piecewise_factors_from_each_boundary_on():
    schedule = WarmupDecay(2.0, total_steps=100, warmup_steps=2, decay="piecewise", boundaries=(10, 20),
                           factors=(0.5, 0.1))
    np.testing.assert_allclose(rates(schedule, [0, 1, 2, 9, 10, 19, 20, 99]),
                               [1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 0.2, 0.2], rtol=1e-6)


def test_constant_and_config_round_trip():
    schedule = WarmupDecay(0.3, total_steps=10, decay="none")
    np.testing.assert_allclose(rates(schedule, [0, 5, 50]), 0.3, rtol=1e-6)
    again = WarmupDecay(**schedule.get_config())
    assert again.get_config() == schedule.get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown decay"):
        WarmupDecay(1.0, 10, decay="cosine")
    with pytest.raises(ValueError, match="2 boundaries but 1 factors"):
        WarmupDecay(1.0, 10, decay="piecewise", boundaries=(1, 2), factors=(0.1,))
