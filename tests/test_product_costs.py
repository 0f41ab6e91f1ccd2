"""Per-product costs and per-host capacity from GPU fleets (pricewar.supply.product_costs), on
hand-computed values from the cost library's formulas."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pricewar.scenario import load_scenario
from pricewar.supply.cohort_costs import (
    Site,
    SupplyCosts,
    capex_usd_per_gpu,
    capital_cost_usd_per_gpu_year,
    fixed_energy_usd_per_gpu_year,
    fixed_power_w,
)
from pricewar.supply.fleet import Fleet
from pricewar.supply.product_costs import Hosts, best_chips, fleet_fixed_costs, product_costs

DATE = dt.date(2025, 2, 28)  # the serving anchor date: software multiplier 1
STEP_S = 7 * 86400.0
U_MAX = 0.85


@pytest.fixture(scope="module")
def supply():
    return SupplyCosts(load_scenario("baseline").catalogue)


def hosts(n=2, bloc="western", efficiency=1.0) -> Hosts:
    return Hosts(bloc=np.array([bloc] * n, dtype=object),
                 electricity_usd_per_kwh=np.full(n, 0.08), pue=np.full(n, 1.2),
                 facility_usd_per_w=np.full(n, 10.0), carbon_kg_per_kwh=np.full(n, 0.4),
                 serving_efficiency=np.full(n, efficiency), wacc=np.full(n, 0.08))


def chip(supply, name):
    return supply.serving.chips.names.index(name)


def family(supply, name):
    return supply.serving.families.names.index(name)


def costs_of(supply, fleet, host_table, products, load=(0.0, 0.0), best=("H100", "H100")):
    producer, fam = products
    best_chip = np.array([chip(supply, c) for c in best])
    return product_costs(supply, fleet, 0, DATE, host_table, best_chip, np.array(producer),
                         np.array([family(supply, f) for f in fam]), np.array(load, float),
                         supply.catalogue.policy, STEP_S, U_MAX)


def test_a_one_cohort_product_costs_what_the_library_gives_its_chip_and_family(supply):
    fleet = Fleet()
    fleet.add(0, chip(supply, "H100"), 10, online=0, retire=100)
    costs, host = costs_of(supply, fleet, hosts(1), ([0], ["deepseek_v3"]), load=(0.0,),
                           best=("H100",))
    site = Site("western", 0.08, 1.2, 10.0, 0.4)
    one = supply.costs("H100", "deepseek_v3", DATE, site, wacc=0.08)
    tps = float(one.tokens_per_s)
    assert costs.tokens_per_s_per_gpu[0] == pytest.approx(tps)
    assert costs.load_gpu_s_per_mtok[0] == pytest.approx(1e6 / tps)
    assert costs.energy_j_per_token[0] == pytest.approx((700 - 90) / tps)
    assert costs.energy_usd_per_mtok[0] == pytest.approx(float(one.energy_usd_per_mtok))
    assert costs.marginal_usd_per_mtok[0] == pytest.approx(float(one.marginal_usd_per_mtok))
    assert costs.full_usd_per_mtok[0] == pytest.approx(float(one.full_usd_per_mtok))
    assert host.capacity_gpu_s[0] == pytest.approx(10 * STEP_S * U_MAX)
    assert host.gpus[0] == 10


def test_full_cost_parts_add_up_to_the_full_cost(supply):
    fleet = Fleet()
    fleet.add([0, 1], [chip(supply, "H100"), chip(supply, "H800")], [10, 4], online=0,
              retire=100)
    costs, _ = costs_of(supply, fleet, hosts(2), ([0, 0, 1], ["deepseek_v3", "gpt_4o",
                                                              "qwen3"]))
    total = (costs.full_energy_usd_per_mtok + costs.full_capital_usd_per_mtok
             + costs.full_opex_usd_per_mtok)
    np.testing.assert_allclose(total, costs.full_usd_per_mtok, rtol=1e-12)
    assert (costs.full_capital_usd_per_mtok > 0).all() and (costs.full_opex_usd_per_mtok > 0).all()


def test_a_product_of_a_mixed_fleet_decodes_at_the_gpu_weighted_mean_rate(supply):
    fleet = Fleet()
    fleet.add([0, 0], [chip(supply, "H100"), chip(supply, "B200")], [6, 2], online=0, retire=99)
    costs, _ = costs_of(supply, fleet, hosts(1), ([0], ["deepseek_v3"]), load=(0.0,),
                        best=("B200",))
    rate = {c: float(supply.serving.tps(c, "deepseek_v3", DATE)) for c in ("H100", "B200")}
    mean = (6 * rate["H100"] + 2 * rate["B200"]) / 8
    assert costs.tokens_per_s_per_gpu[0] == pytest.approx(mean)
    chips = supply.serving.chips
    b200 = chip(supply, "B200")
    joules = ((6 * (700 - 90) + 2 * (chips.power_w[b200] - chips.idle_power_w[b200]))
              / (6 * rate["H100"] + 2 * rate["B200"]))
    assert costs.energy_j_per_token[0] == pytest.approx(joules)


def test_the_marginal_cohort_follows_the_hosts_load_in_merit_order(supply):
    fleet = Fleet()
    fleet.add([0, 0], [chip(supply, "H100"), chip(supply, "B200")], [6, 2], online=0, retire=99)
    site = Site("western", 0.08, 1.2, 10.0, 0.4)
    each = {c: float(supply.costs(c, "deepseek_v3", DATE, site).marginal_usd_per_mtok)
            for c in ("H100", "B200")}
    cheap, dear = sorted(each, key=each.get)
    first = {"H100": 6, "B200": 2}[cheap] * STEP_S * U_MAX  # GPU-seconds of the cheaper cohort
    low, _ = costs_of(supply, fleet, hosts(1), ([0], ["deepseek_v3"]), load=(0.5 * first,),
                      best=("B200",))
    high, _ = costs_of(supply, fleet, hosts(1), ([0], ["deepseek_v3"]), load=(1.5 * first,),
                       best=("B200",))
    assert low.marginal_usd_per_mtok[0] == pytest.approx(each[cheap])
    assert high.marginal_usd_per_mtok[0] == pytest.approx(each[dear])
    assert low.marginal_capacity_usd_per_mtok[0] + low.marginal_energy_usd_per_mtok[0] == \
        pytest.approx(each[cheap])  # (no variable opex in the shipped data)


def test_a_host_without_online_gpus_is_costed_as_one_gpu_of_its_best_chip_with_no_capacity(
        supply):
    fleet = Fleet()
    fleet.add(0, chip(supply, "H100"), 5, online=10, retire=99)  # ordered, not yet online
    costs, host = costs_of(supply, fleet, hosts(1), ([0], ["qwen3"]), load=(0.0,),
                           best=("H200",))
    site = Site("western", 0.08, 1.2, 10.0, 0.4)
    one = supply.costs("H200", "qwen3", DATE, site, wacc=0.08)
    assert costs.marginal_usd_per_mtok[0] == pytest.approx(float(one.marginal_usd_per_mtok))
    assert host.capacity_gpu_s[0] == 0.0 and host.gpus[0] == 0.0
    assert host.pipeline_gpus[0] == 5.0 and host.fixed_usd_per_year[0] == 0.0


def test_serving_efficiency_scales_decode_rate_and_capacity_cost(supply):
    fleet = Fleet()
    fleet.add(0, chip(supply, "H100"), 10, online=0, retire=100)
    full, _ = costs_of(supply, fleet, hosts(1), ([0], ["llama_3_1_70b"]), load=(0.0,),
                       best=("H100",))
    half, _ = costs_of(supply, fleet, hosts(1, efficiency=0.5), ([0], ["llama_3_1_70b"]),
                       load=(0.0,), best=("H100",))
    assert half.load_gpu_s_per_mtok[0] == pytest.approx(2 * full.load_gpu_s_per_mtok[0])
    assert half.marginal_capacity_usd_per_mtok[0] == pytest.approx(
        2 * full.marginal_capacity_usd_per_mtok[0])
    assert half.energy_j_per_token[0] == pytest.approx(2 * full.energy_j_per_token[0])


def test_fleet_fixed_costs_are_capital_recovery_opex_and_always_on_power(supply):
    fleet = Fleet()
    h100 = chip(supply, "H100")
    fleet.add([0, 1], h100, [10, 3], online=0, retire=100)
    fixed = fleet_fixed_costs(supply, fleet, 0, DATE, hosts(2), supply.catalogue.policy)
    c = supply.catalogue
    chips = supply.serving.chips
    per_gpu = (capital_cost_usd_per_gpu_year(33000.0, 10.0, 1275.0, wacc=0.08,
                                             chip_life_years=c.capital.chip_life_years,
                                             facility_life_years=c.capital.facility_life_years)
               + c.capital.fixed_opex_share_per_year * capex_usd_per_gpu(33000.0, 10.0, 1275.0)
               + fixed_energy_usd_per_gpu_year(
                   fixed_power_w(chips.power_w[h100], chips.idle_power_w[h100], 1275.0), 1.2,
                   0.08))  # (no carbon price, no subsidy on western chips)
    np.testing.assert_allclose(fixed, [10 * per_gpu, 3 * per_gpu], rtol=1e-12)


@pytest.mark.parametrize("regime, bloc, date, allowed", [
    ("historical", "cn", dt.date(2024, 6, 1), {"H20", "Ascend910B"}),
    ("full_ban", "cn", dt.date(2025, 6, 1), {"Ascend910B", "Ascend910C"}),
    ("historical", "western", dt.date(2025, 6, 1), {"H100", "H200", "B200", "GB200"}),
])
def test_best_chip_is_the_cheapest_full_cost_the_bloc_may_buy(supply, regime, bloc, date,
                                                             allowed):
    levers = supply.catalogue.policy.replace(chip_regime=regime)
    table = hosts(2, bloc=bloc)
    best, cost = best_chips(supply, table, np.array([family(supply, "deepseek_v3")] * 2), date,
                            levers)
    names = {supply.serving.chips.names[c] for c in best}
    assert names <= allowed and len(names) == 1
    site = Site(bloc, 0.08, 1.2, 10.0, 0.4)
    every = {c: float(supply.costs(c, "deepseek_v3", date, site, levers,
                                   wacc=0.08).full_usd_per_mtok) for c in allowed}
    assert cost[0] == pytest.approx(min(every.values()))


def test_pair_costs_computed_per_kind_equal_the_library_on_every_cohort_product_pair(supply):
    """Costs are computed once per (host, chip, family) and gathered to the (cohort, product)
    pairs: every pair must get exactly what the library gives it."""
    from pricewar.supply.product_costs import _pair_costs, _pairs, _product_ptr

    rng = np.random.default_rng(2)
    n_hosts = 4
    table = Hosts(bloc=np.array(["western", "cn", "western", "cn"]),
                  electricity_usd_per_kwh=rng.uniform(0.03, 0.1, n_hosts),
                  pue=rng.uniform(1.1, 1.4, n_hosts), facility_usd_per_w=np.full(n_hosts, 10.0),
                  carbon_kg_per_kwh=rng.uniform(0.1, 0.6, n_hosts),
                  serving_efficiency=rng.uniform(0.5, 1.0, n_hosts),
                  wacc=rng.uniform(0.05, 0.12, n_hosts))
    n_chips = len(supply.serving.chips.names)
    cohort_host = rng.integers(0, n_hosts, 60)  # many cohorts of few kinds, in any order
    cohort_chip = rng.integers(0, n_chips, 60) % 3
    product_producer = np.array([0, 0, 1, 2, 2, 2, 3])
    product_family = rng.integers(0, len(supply.serving.families.names), 7)
    ptr = _product_ptr(product_producer, n_hosts)
    cohort, product = _pairs(cohort_host, ptr)
    levers = supply.catalogue.policy
    got, merit_order = _pair_costs(supply, DATE, table, levers, cohort_host, cohort_chip, ptr,
                                   product_family, cohort, product)
    host = cohort_host[cohort]
    want = supply.costs(cohort_chip[cohort], product_family[product], DATE, table.site(host),
                        levers, wacc=table.wacc[host],
                        serving_efficiency=table.serving_efficiency[host])
    for name in ("tokens_per_s", "power_usd_per_kwh", "energy_usd_per_mtok",
                 "capacity_usd_per_mtok", "full_usd_per_mtok", "marginal_usd_per_mtok"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_array_equal(merit_order,
                                  np.lexsort((want.marginal_usd_per_mtok, product)))


def test_merit_order_from_ranked_kinds_is_lexsort_with_equal_and_nan_costs():
    from pricewar.supply.product_costs import _merit_order

    rng = np.random.default_rng(4)
    cost = rng.choice([1.0, 2.0, -0.0, 0.0, np.nan, np.inf], 40)  # ties, signed zeros, NaN
    product = rng.integers(0, 5, 40)
    row = rng.integers(0, 40, 3000)
    np.testing.assert_array_equal(_merit_order(cost, product, row),
                                  np.lexsort((cost[row], product[row])))
