"""The token cost formula (pricewar.market.costs) on hand-computed numbers."""

import datetime as dt

import numpy as np
import pytest

from pricewar.market.chips import ChipTable
from pricewar.market.costs import (
    CostConditions,
    ProducerCosts,
    capacity_mtok_per_step,
    capex_usd_per_gpu,
    efficiency_multiplier,
    gpu_performance,
    new_gpu_costs,
    unit_costs,
)

YEAR_S = 365.25 * 86_400.0


def chips() -> ChipTable:
    """Chip 0: 1000 USD, 500 W, 100 tokens/s, 2 J/token; chip 1: 3000 USD, 1000 W, 400, 1 J."""
    return ChipTable(names=("slow", "fast"), price_usd=np.array([1000.0, 3000.0]),
                     power_w=np.array([500.0, 1000.0]), tokens_per_s=np.array([100.0, 400.0]),
                     energy_j_per_token=np.array([2.0, 1.0]),
                     release_year=np.array([2023.0, 2025.0]), purchasable=np.array([True, True]),
                     supply_gpus_per_step=np.array([10.0, 10.0]),
                     supply_growth_per_year=np.zeros(2))


def conditions() -> CostConditions:
    """Producer 0 at parity; producer 1 under export controls (+50% J/token, tokens/s / 1.25)."""
    return CostConditions(efficiency=2.0, export_penalty=np.array([0.0, 0.5]),
                          hardware_penalty=np.array([0.0, 0.25]),
                          facility_usd_per_w=np.array([2.0, 4.0]), pue=np.array([1.2, 1.5]),
                          electricity_usd_per_kwh=np.array([0.1, 0.05]), gpu_life_years=4.0,
                          planned_utilisation=0.5, fixed_opex_share_per_year=0.1)


def test_efficiency_multiplier_compounds_both_trends_from_the_reference_date():
    ref = dt.date(2025, 3, 1)
    assert efficiency_multiplier(ref, ref, 2.8, 1.67) == 1.0
    later = ref + dt.timedelta(days=730)  # years are Julian: 730 / 365.25
    assert efficiency_multiplier(later, ref, 2.0, 1.5) == pytest.approx(3.0 ** (730 / 365.25))
    assert efficiency_multiplier(dt.date(2024, 3, 1), ref, 2.0, 1.5) < 1.0


def test_capacity_is_tokens_per_step_at_the_utilisation_in_mtok():
    # 1000 tokens/s x one week x 0.85 = 514.08 Mtok
    assert capacity_mtok_per_step(np.array([1000.0]), 7 * 86_400.0, 0.85)[0] == pytest.approx(
        1000 * 604_800 * 0.85 / 1e6, rel=1e-15)


def test_gpu_performance_applies_efficiency_export_penalties_and_facility_cost():
    tps, joules, capex = gpu_performance(chips(), np.array([1, 1]), efficiency=2.0,
                                         export_penalty=np.array([0.0, 0.5]),
                                         hardware_penalty=np.array([0.0, 0.25]),
                                         facility_usd_per_w=np.array([2.0, 4.0]))
    np.testing.assert_allclose(tps, [400 * 2, 400 * 2 / 1.25])
    np.testing.assert_allclose(joules, [1 / 2, 1 * 1.5 / 2])
    np.testing.assert_allclose(capex, [3000 + 2 * 1000, 3000 + 4 * 1000])
    np.testing.assert_array_equal(capex_usd_per_gpu(chips(), np.array([0]), np.array([2.0])),
                                  [2000.0])


def test_unit_costs_per_mtok():
    energy, hardware, opex = unit_costs(
        energy_j_per_token=np.array([0.5]), tokens_per_s=np.array([800.0]),
        capex_usd=np.array([5000.0]), pue=np.array([1.2]), electricity_usd_per_kwh=np.array([0.1]),
        gpu_life_years=4.0, planned_utilisation=0.5, fixed_opex_share_per_year=0.1)
    tokens_per_year = YEAR_S * 800 * 0.5
    # J/token x PUE x USD/kWh x 1e6 tokens / 3.6e6 J/kWh
    assert energy[0] == pytest.approx(0.5 * 1.2 * 0.1 / 3.6, rel=1e-14)
    assert hardware[0] == pytest.approx(5000 / 4 / tokens_per_year * 1e6, rel=1e-14)
    assert opex[0] == pytest.approx(0.1 * 5000 / tokens_per_year * 1e6, rel=1e-14)


def test_new_gpu_costs_are_the_unit_costs_of_one_gpu():
    new = new_gpu_costs(chips(), np.array([1, 1]), conditions())
    for i in range(2):
        tps = 400 * 2 / (1, 1.25)[i]
        joules = 1 * (1, 1.5)[i] / 2
        capex = 3000 + (2, 4)[i] * 1000
        pue, price = (1.2, 1.5)[i], (0.1, 0.05)[i]
        tokens_per_year = YEAR_S * tps * 0.5
        expected = (joules * pue * price / 3.6 + capex / 4 / tokens_per_year * 1e6
                    + 0.1 * capex / tokens_per_year * 1e6)
        assert new.marginal_usd_per_mtok[i] == pytest.approx(expected, rel=1e-14)
        assert new.tokens_per_s_per_gpu[i] == pytest.approx(tps)
        assert new.capex_usd_per_gpu[i] == capex
    assert new.planned_utilisation == 0.5


def test_full_unit_cost_spreads_hardware_and_opex_over_realised_utilisation():
    costs = ProducerCosts(np.ones(3), np.ones(3), np.ones(3), energy_usd_per_mtok=np.ones(3),
                          hardware_usd_per_mtok=np.full(3, 2.0), opex_usd_per_mtok=np.full(3, 1.0),
                          planned_utilisation=0.6)
    np.testing.assert_array_equal(costs.marginal_usd_per_mtok, [4.0, 4.0, 4.0])
    full = costs.full_usd_per_mtok(np.array([0.6, 0.3, 0.0]))
    # at the planned utilisation full = marginal; at half of it hardware + opex double; idle
    # producers are floored at 2% utilisation
    np.testing.assert_allclose(full, [4.0, 1.0 + 3.0 * 2, 1.0 + 3.0 * 0.6 / 0.02])
