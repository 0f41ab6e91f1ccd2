"""Supply v2 cost formulas (pricewar.supply.cohort_costs) on hand-computed numbers, and the policy
levers: each moves what it should and nothing else."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pricewar.scenario.catalogue import load_catalogue
from pricewar.supply.chip_access import available_under
from pricewar.supply.cohort_costs import (
    HOURS_PER_YEAR,
    Site,
    SupplyCosts,
    capacity_usd_per_mtok,
    capex_usd_per_gpu,
    capital_cost_usd_per_gpu_year,
    capital_recovery_factor,
    energy_usd_per_mtok,
    fixed_energy_usd_per_gpu_year,
    fixed_power_w,
    full_cost_usd_per_mtok,
    merit_order_marginal_cost,
    power_usd_per_kwh,
)

CN = Site("cn", 0.09, 1.25, 7.1, 0.56)
US = Site("western", 0.081, 1.2, 13.3, 0.37)
JUNE_2025 = dt.date(2025, 6, 1)
DEC_2025 = dt.date(2025, 12, 1)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def supply(catalogue):
    return SupplyCosts(catalogue)


# ------------------------------------------------------------------------------------------------
# formulas
# ------------------------------------------------------------------------------------------------
def test_power_price_cuts_the_bill_by_the_subsidy_and_adds_the_carbon_price():
    # 0.08 x (1 - 0.3) + 50 USD/t x 0.5 kg/kWh / 1000 = 0.056 + 0.025 = 0.081 USD/kWh
    assert power_usd_per_kwh(0.08, 50.0, 0.5, 0.3) == pytest.approx(0.081)
    assert power_usd_per_kwh(0.08) == pytest.approx(0.08)


def test_the_default_power_subsidy_lands_cn_west_at_the_ft_figure(catalogue):
    # Financial Times (Nov 2025): subsidised bills ~0.4 CNY = 0.056 USD/kWh from 0.080 all-in
    subsidy = catalogue.policy.power_subsidy_domestic_chips
    assert power_usd_per_kwh(0.080, power_subsidy=subsidy) == pytest.approx(0.4 / 7.2, rel=0.01)


def test_energy_cost_is_joules_times_pue_times_price_over_3_6():
    # 0.5 J x 1.2 x 0.10 USD/kWh / 3.6 MJ/kWh = 0.016667 USD/Mtok
    assert energy_usd_per_mtok(0.5, 1.2, 0.10) == pytest.approx(0.5 * 1.2 * 0.10 / 3.6)


def test_capacity_cost_is_rental_over_tokens_per_hour():
    # 2 USD/h / (1850 x 3600 tokens/h) x 1e6 = 0.3003 USD/Mtok
    assert capacity_usd_per_mtok(2.0, 1850.0) == pytest.approx(2e6 / (1850 * 3600))


def test_capital_recovery_factor_on_hand_values():
    # 0.08 / (1 - 1.08^-5) = 0.08 / 0.319417 = 0.250456; 0.10 over 5 years: 0.263797
    assert capital_recovery_factor(0.08, 5) == pytest.approx(0.2504564545, rel=1e-9)
    assert capital_recovery_factor(0.10, 5) == pytest.approx(0.2637974808, rel=1e-9)
    assert capital_recovery_factor(0.0, 4) == pytest.approx(0.25)
    factors = capital_recovery_factor(np.array([0.0, 0.08]), np.array([5.0, 15.0]))
    assert factors == pytest.approx([0.2, 0.08 / (1 - 1.08 ** -15)])


@pytest.mark.parametrize("rate", [6.6e-59, 1e-17, 1e-12, 5e-7, 1e-6, 2e-6])
def test_capital_recovery_factor_stays_finite_and_continuous_near_zero_rate(rate):
    """A WACC so small that ``1 + r`` rounds to 1 once made the annuity r / 0 = inf (found by
    tests/test_bounds.py's override property: wacc=6.6e-59). The expansion below 1e-6 meets the
    exact formula there, and both approach 1/n."""
    for life in (4.0, 5.0, 15.0, 30.0):
        factor = capital_recovery_factor(rate, life)
        assert np.isfinite(factor)
        # the exact annuity via log1p/expm1, which keeps its digits at any small rate
        exact = rate / -np.expm1(-life * np.log1p(rate))
        assert factor == pytest.approx(exact, rel=1e-9)
    assert capital_recovery_factor(-0.2, 5.0) == pytest.approx(0.2)  # r <= 0: 1/n


def test_capital_cost_recovers_chip_and_facility_over_their_own_lives():
    # chip 33,000 x CRF(8%, 5) = 8,265.06; facility 12 USD/W x 1,275 W = 15,300 x CRF(8%, 15)
    # = 15,300 x 0.116830 = 1,787.50; total 10,052.56; with a 20% capex subsidy 8,042.05
    crf5, crf15 = 0.08 / (1 - 1.08 ** -5), 0.08 / (1 - 1.08 ** -15)
    expected = 33_000 * crf5 + 15_300 * crf15
    kwargs = dict(wacc=0.08, chip_life_years=5.0, facility_life_years=15.0)
    assert capital_cost_usd_per_gpu_year(33_000.0, 12.0, 1275.0, **kwargs) == pytest.approx(
        expected)
    assert expected == pytest.approx(10_052.56, abs=0.01)
    assert capital_cost_usd_per_gpu_year(33_000.0, 12.0, 1275.0, capex_subsidy=0.2,
                                         **kwargs) == pytest.approx(0.8 * expected)
    assert capex_usd_per_gpu(33_000.0, 12.0, 1275.0) == pytest.approx(48_300.0)


def test_fixed_energy_is_the_always_on_draw_over_a_year():
    # idle 90 W + host 1,275 - 700 = 665 W; 0.665 kW x 1.2 x 0.08 USD/kWh x 8,766 h = 559.62
    assert fixed_power_w(700.0, 90.0, 1275.0) == pytest.approx(665.0)
    assert float(HOURS_PER_YEAR) == pytest.approx(8766.0)
    assert fixed_energy_usd_per_gpu_year(665.0, 1.2, 0.08) == pytest.approx(
        0.665 * 1.2 * 0.08 * 8766.0)


def test_full_cost_spreads_fixed_costs_over_the_tokens_of_a_year_at_planned_utilisation():
    # 1000 tok/s x 31,557,600 s x 0.5 / 1e6 = 15,778.8 Mtok per GPU-year; 31,557.6 USD / that = 2
    assert full_cost_usd_per_mtok(0.01, 31_557.6, 1000.0, 0.5, 0.005) == pytest.approx(2.015)


def test_an_h100_full_cost_brackets_the_capex_breakeven_rental_rate(supply):
    # SemiAnalysis/Latent Space: below ~1.65 USD/h an H100 never recoups its capex. Our fixed
    # costs per GPU-hour (capital at 8%, opex, always-on power) at full utilisation:
    costs = supply.costs("H100", "deepseek_v3", JUNE_2025, US)
    fixed_per_mtok = costs.full_usd_per_mtok - costs.energy_usd_per_mtok
    planned = supply.catalogue.capital.planned_utilisation
    per_gpu_hour = fixed_per_mtok * costs.tokens_per_s * 3600 * planned / 1e6
    assert 1.3 < per_gpu_hour < 1.9


# ------------------------------------------------------------------------------------------------
# merit order
# ------------------------------------------------------------------------------------------------
def test_merit_order_picks_the_cohort_serving_the_last_unit_of_load():
    fleet = np.array([0, 0, 0, 1])
    cost = np.array([0.3, 0.1, 0.2, 0.5])
    capacity = np.array([10.0, 10.0, 10.0, 5.0])
    # fleet 0 dispatches 0.1 (to 10), 0.2 (to 20), 0.3 (to 30); fleet 1 has one cohort;
    # fleet 2 has none
    out = merit_order_marginal_cost(fleet, cost, capacity, np.array([15.0, 100.0, 1.0]))
    assert out[:2] == pytest.approx([0.2, 0.5]) and np.isnan(out[2])
    loads = [0.0, 10.0, 10.001, 30.0, 31.0]
    marginal = [merit_order_marginal_cost(fleet, cost, capacity, np.array([x, 0.0]))[0]
                for x in loads]
    assert marginal == pytest.approx([0.1, 0.1, 0.2, 0.3, 0.3])


def test_merit_order_does_not_depend_on_cohort_order():
    rng = np.random.default_rng(7)
    fleet = rng.integers(0, 4, 40)
    cost = rng.uniform(0.05, 1.0, 40)
    capacity = rng.uniform(1.0, 5.0, 40)
    load = rng.uniform(0.0, 40.0, 4)
    perm = rng.permutation(40)
    assert np.array_equal(merit_order_marginal_cost(fleet, cost, capacity, load),
                          merit_order_marginal_cost(fleet[perm], cost[perm], capacity[perm],
                                                    load), equal_nan=True)


# ------------------------------------------------------------------------------------------------
# cohort costs and policy levers
# ------------------------------------------------------------------------------------------------
def test_marginal_cost_is_energy_plus_capacity_plus_variable_opex(supply):
    costs = supply.costs(["H800", "Ascend910C"], "deepseek_v3", JUNE_2025, CN)
    assert costs.marginal_usd_per_mtok == pytest.approx(
        costs.energy_usd_per_mtok + costs.capacity_usd_per_mtok + costs.variable_opex_usd_per_mtok)
    expected_energy = costs.energy_j_per_token * 1.25 * 0.09 / 3.6
    assert costs.energy_usd_per_mtok == pytest.approx(expected_energy)
    expected_capacity = costs.rental_usd_per_gpu_hour / (costs.tokens_per_s * 3600) * 1e6
    assert costs.capacity_usd_per_mtok == pytest.approx(expected_capacity)


def test_costs_broadcast_over_cohorts_of_different_sites(supply):
    site = Site(np.array(["cn", "western"]), np.array([0.09, 0.081]), np.array([1.25, 1.2]),
                np.array([7.1, 13.3]), np.array([0.56, 0.37]))
    both = supply.costs(np.array(["H800", "H100"]), "gpt_4o", JUNE_2025, site)
    cn = supply.costs("H800", "gpt_4o", JUNE_2025, CN)
    us = supply.costs("H100", "gpt_4o", JUNE_2025, US)
    assert both.marginal_usd_per_mtok == pytest.approx(
        [float(cn.marginal_usd_per_mtok), float(us.marginal_usd_per_mtok)])
    assert both.full_usd_per_mtok == pytest.approx(
        [float(cn.full_usd_per_mtok), float(us.full_usd_per_mtok)])


def test_power_subsidy_applies_to_domestic_chips_in_the_subsidising_bloc_from_its_date(
        catalogue, supply):
    levers = catalogue.policy
    assert supply.power_subsidy("Ascend910C", "cn", DEC_2025, levers) == 0.3
    assert supply.power_subsidy("Ascend910C", "cn", JUNE_2025, levers) == 0.0
    assert supply.power_subsidy("H800", "cn", DEC_2025, levers) == 0.0
    assert supply.power_subsidy("H100", "western", DEC_2025, levers) == 0.0
    on = supply.costs("Ascend910C", "deepseek_v3_2", DEC_2025, CN)
    off = supply.costs("Ascend910C", "deepseek_v3_2", DEC_2025, CN,
                       levers.replace(power_subsidy_domestic_chips=0.0))
    assert on.energy_usd_per_mtok == pytest.approx(off.energy_usd_per_mtok * 0.7)
    assert on.capacity_usd_per_mtok == off.capacity_usd_per_mtok


def test_carbon_price_adds_to_energy_cost_only(catalogue, supply):
    base = supply.costs("H100", "gpt_4o", JUNE_2025, US)
    taxed = supply.costs("H100", "gpt_4o", JUNE_2025, US,
                         catalogue.policy.replace(carbon_price_usd_per_t=100.0))
    added = base.energy_j_per_token * 1.2 * (100.0 * 0.37 / 1000) / 3.6
    assert taxed.energy_usd_per_mtok - base.energy_usd_per_mtok == pytest.approx(added)
    assert taxed.capacity_usd_per_mtok == base.capacity_usd_per_mtok


def test_capex_subsidy_and_wacc_move_the_full_cost_not_the_marginal_cost(catalogue, supply):
    base = supply.costs("B200", "gpt_4o", JUNE_2025, US)
    for change in ({"capex_subsidy": 0.2}, {"wacc": 0.12}):
        moved = supply.costs("B200", "gpt_4o", JUNE_2025, US, catalogue.policy.replace(**change))
        assert moved.marginal_usd_per_mtok == base.marginal_usd_per_mtok
        assert moved.full_usd_per_mtok != pytest.approx(base.full_usd_per_mtok)
    cheaper = supply.costs("B200", "gpt_4o", JUNE_2025, US,
                           catalogue.policy.replace(capex_subsidy=0.2))
    assert cheaper.full_usd_per_mtok < base.full_usd_per_mtok
    per_cohort = supply.costs(["B200", "B200"], "gpt_4o", JUNE_2025, US, wacc=np.array([0.06, 0.12]))
    assert per_cohort.full_usd_per_mtok[0] < per_cohort.full_usd_per_mtok[1]


def test_the_export_penalty_and_the_lag_move_results_independently(catalogue, supply):
    levers = catalogue.policy
    penalised = levers.replace(export_control_penalty=0.4)
    lagged = levers.replace(export_control_lag_years=1.0)
    chips = list(catalogue.chips)
    base_cn = supply.costs(chips, "deepseek_v3", JUNE_2025, CN, levers)
    # the penalty: CN throughput / 1.4, J/token x 1.4, capacity cost x 1.4; western untouched
    pen_cn = supply.costs(chips, "deepseek_v3", JUNE_2025, CN, penalised)
    assert pen_cn.tokens_per_s == pytest.approx(base_cn.tokens_per_s / 1.4)
    assert pen_cn.energy_j_per_token == pytest.approx(base_cn.energy_j_per_token * 1.4)
    assert pen_cn.capacity_usd_per_mtok == pytest.approx(base_cn.capacity_usd_per_mtok * 1.4)
    assert np.array_equal(supply.costs(chips, "deepseek_v3", JUNE_2025, US, penalised)
                          .marginal_usd_per_mtok,
                          supply.costs(chips, "deepseek_v3", JUNE_2025, US, levers)
                          .marginal_usd_per_mtok)
    # ... and it leaves chip access alone
    for bloc in ("cn", "western"):
        assert np.array_equal(available_under(catalogue, bloc, JUNE_2025, penalised),
                              available_under(catalogue, bloc, JUNE_2025, levers))
    # the lag: CN loses the Ascend 910C (from 2025-05-01, now 2026-05-01); costs are untouched
    assert not np.array_equal(available_under(catalogue, "cn", JUNE_2025, lagged),
                              available_under(catalogue, "cn", JUNE_2025, levers))
    assert np.array_equal(available_under(catalogue, "western", JUNE_2025, lagged),
                          available_under(catalogue, "western", JUNE_2025, levers))
    lag_cn = supply.costs(chips, "deepseek_v3", JUNE_2025, CN, lagged)
    assert np.array_equal(lag_cn.marginal_usd_per_mtok, base_cn.marginal_usd_per_mtok)
    assert np.array_equal(lag_cn.full_usd_per_mtok, base_cn.full_usd_per_mtok)


def test_tokens_per_s_alone_is_the_decode_rate_costs_gives():
    from pricewar.scenario import load_scenario

    supply = SupplyCosts(load_scenario("baseline").catalogue)
    n_chips = len(supply.serving.chips.names)
    chip = np.arange(n_chips).repeat(2)
    bloc = np.array(["cn", "western"] * n_chips)
    site = Site(bloc=bloc, electricity_usd_per_kwh=0.06, pue=1.2, facility_usd_per_w=10.0,
                carbon_kg_per_kwh=0.4)
    efficiency = np.linspace(0.5, 1.0, chip.size)
    date = dt.date(2025, 6, 1)
    np.testing.assert_array_equal(
        supply.tokens_per_s(chip, 0, date, bloc, serving_efficiency=efficiency),
        supply.costs(chip, 0, date, site, serving_efficiency=efficiency).tokens_per_s)
