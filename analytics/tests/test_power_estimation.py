"""Device power estimation on tiny exact cases (no database)."""

from __future__ import annotations

import pytest

from analytics.compute.power_estimation import (
    QUALITY_INSUFFICIENT,
    QUALITY_SUFFICIENT,
    QUALITY_WELL,
    estimate_device_powers,
    quality_for,
)


def test_exact_system_is_solved_with_r_squared_one():
    result = estimate_device_powers(
        peak_devices=[[1], [2], [1, 2]], peak_powers_w=[100.0, 200.0, 300.0]
    )
    assert result.powers_w == pytest.approx({1: 100.0, 2: 200.0})
    assert result.r_squared == pytest.approx(1.0)
    assert result.quality == QUALITY_WELL
    assert result.peaks_used == 3
    assert result.ignored == ()


def test_negative_estimate_is_dropped_and_the_rest_refitted():
    # Exact solution would be device 1 = 100 W, device 2 = -40 W.
    result = estimate_device_powers(peak_devices=[[1], [1, 2]], peak_powers_w=[100.0, 60.0])
    assert result.ignored == (2,)
    assert result.powers_w == pytest.approx({1: 80.0})
    assert result.r_squared == pytest.approx(0.0)
    assert result.quality == QUALITY_INSUFFICIENT
    assert result.peaks_used == 2


def test_peak_left_without_devices_drops_out_of_the_fit():
    result = estimate_device_powers(
        peak_devices=[[1], [1], [2], [1, 2]], peak_powers_w=[100.0, 100.0, 10.0, 30.0]
    )
    # lstsq: 1 ≈ 100, 2 would be negative → ignored; refit 1 over its three peaks.
    assert result.ignored == (2,)
    assert result.powers_w == pytest.approx({1: 230.0 / 3})
    assert result.peaks_used == 3


def test_r_squared_of_a_noisy_fit_is_the_coefficient_of_determination():
    result = estimate_device_powers(
        peak_devices=[[1], [1], [2], [2]], peak_powers_w=[100.0, 200.0, 300.0, 200.0]
    )
    assert result.powers_w == pytest.approx({1: 150.0, 2: 250.0})
    assert result.r_squared == pytest.approx(0.5)
    assert result.quality == QUALITY_SUFFICIENT


def test_fewer_peaks_than_devices_has_no_r_squared():
    result = estimate_device_powers(peak_devices=[[1, 2]], peak_powers_w=[100.0])
    assert result.r_squared is None
    assert result.quality == QUALITY_INSUFFICIENT
    assert result.powers_w == pytest.approx({1: 50.0, 2: 50.0})


def test_peaks_without_variance_have_no_r_squared():
    result = estimate_device_powers(peak_devices=[[1], [1]], peak_powers_w=[100.0, 100.0])
    assert result.powers_w == pytest.approx({1: 100.0})
    assert result.r_squared is None
    assert result.quality == QUALITY_INSUFFICIENT


def test_no_peaks_give_an_empty_insufficient_estimate():
    result = estimate_device_powers(peak_devices=[], peak_powers_w=[])
    assert result.powers_w == {}
    assert result.r_squared is None
    assert result.quality == QUALITY_INSUFFICIENT
    assert result.peaks_used == 0


def test_all_estimates_negative_leave_nothing():
    result = estimate_device_powers(peak_devices=[[1]], peak_powers_w=[-5.0])
    assert result.powers_w == {}
    assert result.ignored == (1,)
    assert result.peaks_used == 0


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        estimate_device_powers(peak_devices=[[1]], peak_powers_w=[])


@pytest.mark.parametrize(
    ("r_squared", "quality"),
    [
        (1.0, QUALITY_WELL),
        (0.8, QUALITY_WELL),
        (0.7999, QUALITY_SUFFICIENT),
        (0.5, QUALITY_SUFFICIENT),
        (0.4999, QUALITY_INSUFFICIENT),
        (-0.3, QUALITY_INSUFFICIENT),
        (None, QUALITY_INSUFFICIENT),
    ],
    ids=[
        "one",
        "well_cutoff",
        "below_well",
        "sufficient_cutoff",
        "below_sufficient",
        "negative",
        "none",
    ],
)
def test_r_squared_maps_to_quality(r_squared, quality):
    assert quality_for(r_squared) == quality
