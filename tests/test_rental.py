"""The GPU rental index (pricewar.supply.rental): anchors, log interpolation, the rule for chips
without a series."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from pricewar.scenario.catalogue import load_catalogue
from pricewar.supply.rental import RentalIndex, log_interpolate, years_since_2000


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def index(catalogue):
    return RentalIndex(catalogue)


def test_the_index_passes_through_every_anchor(catalogue, index):
    for chip, series in catalogue.rental_series.items():
        for point in series.points:
            assert index.usd_per_gpu_hour(chip, point.date) == pytest.approx(
                point.usd_per_gpu_hour, rel=1e-12), (chip, point.date)


def test_between_anchors_the_index_is_log_linear_in_time(index):
    # H100 2.85 (2024-03-01) -> 2.00 (2024-10-11), 224 days apart: halfway is the geometric mean
    mid = dt.date(2024, 3, 1) + dt.timedelta(days=112)
    assert index.usd_per_gpu_hour("H100", mid) == pytest.approx(math.sqrt(2.85 * 2.0), rel=1e-12)


def test_the_reference_series_is_flat_beyond_its_anchors(index):
    assert index.usd_per_gpu_hour("H100", dt.date(2027, 6, 1)) == pytest.approx(2.65)
    assert index.usd_per_gpu_hour("H100", dt.date(2022, 1, 1)) == pytest.approx(8.0)


def test_beyond_its_anchors_a_series_moves_with_the_reference(index):
    # H800's last anchor 1.66 (2024-10-01); H100 there: 2.85 x (2.00 / 2.85)^(214 / 224)
    h100_end = 2.85 * (2.0 / 2.85) ** (214 / 224)
    h100_2025_10 = 1.70
    assert index.usd_per_gpu_hour("H800", dt.date(2025, 10, 1)) == pytest.approx(
        1.66 * h100_2025_10 / h100_end, rel=1e-12)


def test_a_chip_without_a_series_is_its_reference_times_the_price_ratio(catalogue, index):
    date = dt.date(2025, 6, 1)
    for chip, rule in catalogue.rental_scaled.items():
        ratio = catalogue.chips[chip].price_usd / catalogue.chips[rule.reference].price_usd
        assert index.usd_per_gpu_hour(chip, date) == pytest.approx(
            index.usd_per_gpu_hour(rule.reference, date) * ratio, rel=1e-12)
    # H20: 12,000 / 33,800 of the China Hopper series
    assert index.usd_per_gpu_hour("H20", date) == pytest.approx(
        index.usd_per_gpu_hour("H800", date) * 12_000 / 33_800)


def test_the_h100_rate_falls_as_newer_chips_arrive_until_the_2025_trough(catalogue, index):
    months = [dt.date(2024, m, 1) for m in range(3, 13)] + [dt.date(2025, m, 1)
                                                            for m in range(1, 11)]
    rates = np.array([float(index.usd_per_gpu_hour("H100", d)) for d in months])
    assert np.all(np.diff(rates) < 0)
    h200, b200 = (catalogue.chips[c].release_date for c in ("H200", "B200"))
    assert index.usd_per_gpu_hour("H100", b200) < index.usd_per_gpu_hour("H100", h200)


def test_every_chip_has_a_positive_rate_at_every_month_of_the_run(index):
    for year in (2024, 2025, 2026):
        for month in range(1, 13):
            rates = index.all_chips(dt.date(year, month, 1))
            assert rates.shape == (len(index.names),) and np.all(rates > 0)


def test_vectorised_lookup_matches_single_lookups(index):
    date = dt.date(2025, 1, 15)
    names = np.array([["H100", "B200"], ["Ascend910C", "H100"]])
    table = index.usd_per_gpu_hour(names, date)
    assert table.shape == (2, 2)
    assert table[1, 0] == index.usd_per_gpu_hour("Ascend910C", date)
    assert table[0, 0] == table[1, 1]


def test_helpers_on_hand_numbers():
    assert years_since_2000(dt.date(2000, 1, 1)) == 0.0
    assert years_since_2000(dt.date(2001, 1, 1)) == pytest.approx(366 / 365.25)
    assert log_interpolate(0.5, np.array([0.0, 1.0]), np.array([1.0, 4.0])) == pytest.approx(2.0)
