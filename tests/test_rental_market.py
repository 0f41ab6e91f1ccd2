"""The GPU rental market (pricewar/supply/rental_market.py, docs/ODD.md §6.1c): hand-computed
clearings, and properties over the declared parameter ranges (rent within floor and ceiling,
monotone in demand and installed GPUs, idle units only at the floor, clearing residual ~0)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.scenario.parameters import PARAMETERS
from pricewar.supply.cohort_costs import HOURS_PER_YEAR, capital_recovery_factor
from pricewar.supply.rental_market import (
    OwnerCosts,
    check_against_index,
    clear_rental_market,
    exogenous_gpu_hours,
    owner_costs,
)

SETTINGS = settings(max_examples=200, deadline=timedelta(seconds=5))
ELASTICITY = PARAMETERS["rental_demand_elasticity"]
OTHER_FLEET = PARAMETERS["rental_other_fleet"]
OTHER_DEMAND = PARAMETERS["rental_other_demand_cn"]
PAYBACK = PARAMETERS["rental_payback_years"]


def _costs(floor=0.5, reference=1.5, ceiling=6.0) -> OwnerCosts:
    return OwnerCosts(np.array(floor), np.array(reference), np.array(ceiling))


# ------------------------------------------------------------------------------------------------
# hand-computed
# ------------------------------------------------------------------------------------------------
def test_owner_costs_by_hand():
    # chip 30,000 USD, facility 10 USD/W x 1,000 W = 10,000 USD: capex 40,000 USD
    costs = owner_costs(30_000.0, 10.0, 1_000.0, 1.2, 0.1, wacc=0.0, chip_life_years=5.0,
                        facility_life_years=10.0, fixed_opex_share_per_year=0.04,
                        payback_years=1.0)
    energy = 1.0 * 1.2 * 0.1  # kW x PUE x USD/kWh per hour = 0.12
    opex = 0.04 * 40_000.0 / HOURS_PER_YEAR
    capital = (30_000.0 / 5.0 + 10_000.0 / 10.0) / HOURS_PER_YEAR  # wacc 0: straight line
    assert costs.floor_usd_per_gpu_hour == pytest.approx(energy + opex)
    assert costs.reference_usd_per_gpu_hour == pytest.approx(energy + opex + capital)
    assert costs.ceiling_usd_per_gpu_hour == pytest.approx(energy + opex + 40_000.0
                                                           / HOURS_PER_YEAR)


def test_owner_costs_capital_uses_the_crf():
    costs = owner_costs(30_000.0, 0.0, 1_000.0, 1.0, 0.0, wacc=0.08, chip_life_years=5.0,
                        facility_life_years=10.0, fixed_opex_share_per_year=0.0,
                        payback_years=1.0)
    assert costs.floor_usd_per_gpu_hour == pytest.approx(0.0)
    assert costs.reference_usd_per_gpu_hour == pytest.approx(
        float(capital_recovery_factor(0.08, 5.0)) * 30_000.0 / HOURS_PER_YEAR)


def test_scarce_market_clears_on_the_inverse_demand():
    # installed 100, serving 60: 40 free; exogenous demand 80 at the reference 1.5, eps = 1:
    # rent = 1.5 x 80 / 40 = 3.0, exogenous served = 80 x (3/1.5)^-1 = 40, no idle
    out = clear_rental_market([100.0], [60.0], [80.0], _costs(), 1.0)
    assert out.rent_usd_per_gpu_hour[0] == pytest.approx(3.0)
    assert out.exogenous_gpu_hours[0] == pytest.approx(40.0)
    assert out.idle_gpu_hours[0] == 0.0 and out.unmet_gpu_hours[0] == pytest.approx(0.0)
    assert out.residual_gpu_hours[0] == pytest.approx(0.0, abs=1e-9)


def test_elasticity_two_takes_the_square_root():
    out = clear_rental_market([100.0], [60.0], [80.0], _costs(), 2.0)
    assert out.rent_usd_per_gpu_hour[0] == pytest.approx(1.5 * np.sqrt(2.0))


def test_glut_falls_to_the_floor_and_reports_idle_units():
    # 40 free, demand 10 at the reference 1.5: unclipped rent 0.375 < floor 0.5, so the rent is
    # the floor and exogenous demand there is 10 x 1.5 / 0.5 = 30; 10 GPU-hours idle
    out = clear_rental_market([100.0], [60.0], [10.0], _costs(), 1.0)
    assert out.rent_usd_per_gpu_hour[0] == 0.5
    assert out.exogenous_gpu_hours[0] == pytest.approx(30.0)
    assert out.idle_gpu_hours[0] == pytest.approx(10.0)
    assert out.at_floor[0]


def test_extreme_scarcity_stops_at_the_ceiling_with_unmet_demand():
    # 1 free, demand 80 at 1.5: unclipped 120 > ceiling 6; demand at 6 is 20, 19 unmet
    out = clear_rental_market([100.0], [99.0], [80.0], _costs(), 1.0)
    assert out.rent_usd_per_gpu_hour[0] == 6.0
    assert out.unmet_gpu_hours[0] == pytest.approx(19.0)
    assert out.idle_gpu_hours[0] == 0.0


def test_markets_without_free_units_or_without_exogenous_demand():
    out = clear_rental_market([50.0, 50.0, 0.0], [50.0, 10.0, 0.0], [5.0, 0.0, 0.0], _costs(),
                              1.0)
    np.testing.assert_array_equal(out.rent_usd_per_gpu_hour, [6.0, 0.5, 0.5])
    np.testing.assert_allclose(out.idle_gpu_hours, [0.0, 40.0, 0.0])
    np.testing.assert_allclose(out.residual_gpu_hours, 0.0, atol=1e-12)


def test_exogenous_demand_is_isoelastic():
    assert exogenous_gpu_hours(3.0, 80.0, 1.5, 1.0) == pytest.approx(40.0)
    assert exogenous_gpu_hours(0.75, 80.0, 1.5, 2.0) == pytest.approx(320.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"installed_gpu_hours": [-1.0]}, "installed_gpu_hours"),
    ({"serving_gpu_hours": [200.0]}, "exceed"),
    ({"elasticity": 0.0}, "elasticity"),
    ({"costs": OwnerCosts(np.array(2.0), np.array(1.5), np.array(1.0))}, "floor <= ceiling"),
])
def test_bad_inputs_are_refused_by_name(kwargs, match):
    args = {"installed_gpu_hours": [100.0], "serving_gpu_hours": [60.0],
            "demand_at_reference_gpu_hours": [80.0], "costs": _costs(), "elasticity": 1.0}
    with pytest.raises(ValueError, match=match):
        clear_rental_market(**(args | kwargs))


def test_index_check_by_hand():
    check = check_against_index([2.0, 1.0], [1.0, 1.2])
    np.testing.assert_allclose(check.log_ratio, [np.log(2.0), np.log(1.0 / 1.2)])
    np.testing.assert_array_equal(check.within, [False, True])
    with pytest.raises(ValueError, match="tolerance_factor"):
        check_against_index([1.0], [1.0], tolerance_factor=1.0)


# ------------------------------------------------------------------------------------------------
# properties over the declared ranges
# ------------------------------------------------------------------------------------------------
fractions = st.floats(0.0, 1.0)
positive_rents = st.floats(0.01, 5.0)


@st.composite
def markets(draw):
    """A market drawn over the declared ranges: host fleet, utilisation, exogenous fleet ratio
    and demand share, elasticity, floor, capital per hour and payback."""
    host = draw(st.floats(0.0, 1e6))
    serving = host * draw(fractions)
    other = host * draw(st.floats(OTHER_FLEET.low, OTHER_FLEET.high))
    demand = other * draw(st.floats(OTHER_DEMAND.low, OTHER_DEMAND.high))
    eps = draw(st.floats(0.01, ELASTICITY.high))
    floor = draw(st.floats(0.0, 2.0))
    capital = draw(positive_rents)
    ceiling = floor + capital / draw(st.floats(0.01, PAYBACK.high)) * 5.0
    return (host + other, serving, demand, _costs(floor, floor + capital, ceiling), eps)


@SETTINGS
@given(market=markets())
def test_rent_lies_between_floor_and_ceiling(market):
    out = clear_rental_market(*market)
    costs = market[3]
    assert costs.floor_usd_per_gpu_hour <= out.rent_usd_per_gpu_hour[()] <= (
        costs.ceiling_usd_per_gpu_hour)


@SETTINGS
@given(market=markets())
def test_idle_units_only_at_the_floor(market):
    out = clear_rental_market(*market)
    if out.idle_gpu_hours > 0:
        assert out.rent_usd_per_gpu_hour == pytest.approx(market[3].floor_usd_per_gpu_hour,
                                                          rel=1e-12)


@SETTINGS
@given(market=markets())
def test_clearing_residual_is_small(market):
    out = clear_rental_market(*market)
    installed = market[0]
    assert abs(out.residual_gpu_hours) <= 1e-9 * max(installed, 1.0)
    assert out.idle_gpu_hours >= 0 and out.unmet_gpu_hours >= -1e-9 * max(installed, 1.0)


@SETTINGS
@given(market=markets(), more=st.floats(0.0, 1.0), which=st.sampled_from(["serving", "other"]))
def test_rent_does_not_fall_when_demand_rises(market, more, which):
    installed, serving, demand, costs, eps = market
    base = clear_rental_market(installed, serving, demand, costs, eps).rent_usd_per_gpu_hour
    if which == "serving":  # hosts serve more of their idle units
        serving = serving + more * (installed - serving)
    else:
        demand = demand * (1.0 + 10.0 * more)
    after = clear_rental_market(installed, serving, demand, costs, eps).rent_usd_per_gpu_hour
    assert after >= base * (1.0 - 1e-12)


@SETTINGS
@given(market=markets(), more=st.floats(0.0, 10.0))
def test_rent_does_not_rise_when_installed_gpus_rise(market, more):
    installed, serving, demand, costs, eps = market
    base = clear_rental_market(installed, serving, demand, costs, eps).rent_usd_per_gpu_hour
    after = clear_rental_market(installed * (1.0 + more) + more, serving, demand, costs,
                                eps).rent_usd_per_gpu_hour
    assert after <= base * (1.0 + 1e-12)

