"""Model metrics (pricewar.model.metrics, market_metrics) recomputed by hand on a small model."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import tomli_w

from pricewar.kernel import RouteMarket, RouteTopology, market_demand
from pricewar.model import PriceWarModel, metrics
from pricewar.model.market_metrics import bloc_shares
from pricewar.model.metrics import (
    AGGREGATE_METRICS,
    AGGREGATE_REPORTERS,
    REGION_METRICS,
    REGION_REPORTERS,
    TIER_REPORTERS,
    compute,
    flow_matrix,
    metric_names,
    model_reporters,
)
from pricewar.model.settlement import settle_consumers

REGIONS = ("cn_west", "cn_east", "us", "eu")


@pytest.fixture(scope="module")
def model():
    model = PriceWarModel("baseline", seed=4, n_consumers=100)
    for _ in range(30):  # into mid-2024: several families live, open and closed
        model.step()
    return model


def test_region_shares_sum_to_one_and_are_throughput_over_total(model):
    m = compute(model)
    total = model.producer_served.sum()
    assert sum(m[f"share_{r}"] for r in REGIONS) == pytest.approx(1.0, rel=1e-12)
    for r in REGIONS:
        members = model.producer_region == model.region_names.index(r)
        assert m[f"throughput_{r}"] == pytest.approx(model.producer_served[members].sum())
        assert m[f"share_{r}"] == pytest.approx(model.producer_served[members].sum() / total)


def test_hhi_is_the_sum_of_squared_producer_shares(model):
    m = compute(model)
    shares = model.producer_served / model.producer_served.sum()
    assert m["hhi"] == pytest.approx(float(np.sum(shares**2)), rel=1e-12)
    assert 1.0 / model.n_producers <= m["hhi"] <= 1.0


def test_lerner_index_and_average_price_are_volume_weighted_over_products(model):
    m = compute(model)
    q, p, c = model.product_served, model.product_price, model.product_marginal_cost
    assert m["lerner"] == pytest.approx(float(np.sum(q * (p - c) / p) / q.sum()), rel=1e-12)
    assert m["price_avg"] == pytest.approx(float(np.sum(q * p) / q.sum()), rel=1e-12)
    assert m["lerner"] != pytest.approx(float(np.mean((p - c) / p)), rel=1e-9)  # weighting matters


def test_open_and_closed_prices_shares_and_margins_split_the_products(model):
    m = compute(model)
    q, p, c = model.product_served, model.product_price, model.product_marginal_cost
    open_ = model.families.open_weights[model.product_family]
    assert open_.any() and (~open_).any()
    assert m["share_open"] == pytest.approx(q[open_].sum() / q.sum(), rel=1e-12)
    assert m["price_open"] == pytest.approx(np.sum(q[open_] * p[open_]) / q[open_].sum())
    assert m["price_closed"] == pytest.approx(np.sum(q[~open_] * p[~open_]) / q[~open_].sum())
    lerner = (p - c) / p
    assert m["lerner_closed"] == pytest.approx(np.sum(q[~open_] * lerner[~open_])
                                               / q[~open_].sum())
    # hosts of the same open weights compete; a closed family has no rival host
    assert m["lerner_open"] < m["lerner_closed"]


def test_hhi_per_consumer_market_is_volume_weighted_over_region_sector_markets(model):
    routes, served = model.routes, model.clearing.route_served
    n_sectors = len(model.sector_names)
    market = (model.consumer_region[routes.route_consumer] * n_sectors
              + model.consumer_sector[routes.route_consumer])
    total, weighted = 0.0, 0.0
    for k in np.unique(market):
        on = market == k
        volume = np.bincount(routes.route_producer[on], served[on])
        if volume.sum() > 0:
            weighted += volume.sum() * float(np.sum((volume / volume.sum()) ** 2))
            total += volume.sum()
    assert compute(model)["hhi_market"] == pytest.approx(weighted / total, rel=1e-12)
    assert compute(model)["hhi_market"] > compute(model)["hhi"]  # markets are partitioned


def test_cheapest_price_per_tier_is_the_minimum_at_or_above_the_tier(model):
    m = compute(model)
    tier = model.families.tier[model.product_family]
    for rank, name in enumerate(model.tier_names):
        above = tier >= rank
        expected = model.product_price[above].min() if above.any() else 0.0
        assert m[f"price_cheapest_{name}"] == pytest.approx(expected)
    cheapest = [m[f"price_cheapest_{name}"] for name in model.tier_names]
    offered = [c for c in cheapest if c > 0]
    assert offered == sorted(offered)  # a higher tier is never cheaper


def test_cn_family_share_counts_families_by_owner_whoever_hosts_them(model):
    routes, served = model.routes, model.clearing.route_served
    west = np.isin(model.consumer_region[routes.route_consumer],
                   [model.region_names.index(r) for r in ("us", "eu")])
    cn_family = model.families.owner_bloc[routes.route_family] == "cn"
    assert bloc_shares(model)["cn_family_share_western"] == pytest.approx(
        served[west & cn_family].sum() / served[west].sum(), rel=1e-12)


def test_every_reporter_has_a_unit_and_a_meaning():
    for name, (unit, meaning) in {**AGGREGATE_REPORTERS, **REGION_REPORTERS,
                                  **TIER_REPORTERS, **metrics.REGION_COST_REPORTERS,
                                  **metrics.BLOC_REPORTERS,
                                  **metrics.CHIP_BLOC_REPORTERS}.items():
        assert unit and len(meaning) > 10, name
    names = metric_names(REGIONS, ("t1",))
    assert "price_cheapest_t1" in names and "price_tier_t1_cn" in names


def test_an_idle_region_reports_its_unweighted_mean_price_and_zero_share(model):
    served = model.producer_served.copy()
    members = model.producer_region == model.region_names.index("eu")
    try:
        model.producer_served[members] = 0.0
        m = compute(model)
    finally:
        model.producer_served = served
    assert m["price_eu"] == pytest.approx(float(model.producer_price[members].mean()))
    assert m["share_eu"] == 0.0 and m["throughput_eu"] == 0.0


def test_bloc_shares_are_shares_of_the_flow_matrix_by_region_bloc(model):
    flows = flow_matrix(model).sum(axis=1)
    assert flows.sum() == pytest.approx(model.clearing.route_served.sum())
    index = {r: model.region_names.index(r) for r in model.region_names}
    cn, west = [index["cn_west"], index["cn_east"]], [index["us"], index["eu"]]
    shares = bloc_shares(model)
    assert shares["cn_share_western"] == pytest.approx(
        flows[west][:, cn].sum() / flows[west].sum(), rel=1e-12)
    south = flows[index["global_south"]]
    assert shares["cn_share_global_south"] == pytest.approx(south[cn].sum() / south.sum())
    assert shares["western_share_global_south"] == pytest.approx(south[west].sum() / south.sum())


def test_blocs_come_from_the_region_data(tmp_path):
    path = tmp_path / "no_contested.toml"
    path.write_bytes(tomli_w.dumps({
        "name": "blocs", "description": "", "start_date": "2024-01-01", "step_days": 7.0,
        "steps": 2, "regions": {"global_south": {"bloc": "western"}}}).encode())
    model = PriceWarModel(path, seed=4, n_consumers=100)
    shares = bloc_shares(model)
    assert shares["cn_share_global_south"] == 0.0 == shares["western_share_global_south"]
    flows = flow_matrix(model).sum(axis=1)
    west = [model.region_names.index(r) for r in ("us", "eu", "global_south")]
    cn = [model.region_names.index(r) for r in ("cn_west", "cn_east")]
    assert shares["cn_share_western"] == pytest.approx(
        flows[west][:, cn].sum() / flows[west].sum(), rel=1e-12)


def test_reporter_names_follow_the_producer_regions_and_tiers(model):
    names = metric_names(("x", "y"), ("t",))
    assert names[: len(AGGREGATE_METRICS)] == AGGREGATE_METRICS
    n_regional = len(REGION_METRICS) * 2
    assert names[len(AGGREGATE_METRICS):len(AGGREGATE_METRICS) + n_regional] == tuple(
        f"{m}_{r}" for m in REGION_METRICS for r in ("x", "y"))
    reporters = model_reporters(REGIONS, model.tier_names)
    assert list(reporters) == list(metric_names(REGIONS, model.tier_names))
    assert reporters["price_us"](model) == model.metrics["price_us"]


def test_population_counts_and_the_price_index(model):
    m = model.metrics
    assert m["active_producers"] == len(model.producers) == model.n_producers
    assert m["active_products"] == model.n_products
    assert m["families_live"] == int(model.live_families.sum())
    c = model.consumer_arrays
    ok = np.isfinite(c.logsum) & (c.demand > 0)
    index = np.exp(np.sum(c.demand[ok] * np.log(c.price_index[ok])) / c.demand[ok].sum())
    assert m["price_index"] == pytest.approx(index, rel=1e-12)
    np.testing.assert_allclose(c.price_index[ok], np.exp(-c.logsum[ok] / c.alpha[ok]))
    assert m["gpus_total"] == pytest.approx(model.producer_gpus.sum())


# ------------------------------------------------------------------------------------------------
# every named reporter against hand-computed values on a tiny market
# ------------------------------------------------------------------------------------------------
def _tiny_model():
    """Two hosts (0 in us, 1 in cn_east), two families (0 closed, western owner, tier t1; 1 open,
    Chinese owner, tier t0), three products a0 = (0, f0) at 10 USD (marginal cost 4),
    a1 = (0, f1) at 2 (1), a2 = (1, f1) at 1 (0.5); one sector; consumer 0 in us buys 6, 2 and 2
    Mtok of a0, a1, a2, consumer 1 in cn_east buys 10 of a2."""
    ns = SimpleNamespace
    route_consumer = np.array([0, 0, 0, 1])
    route_product = np.array([0, 1, 2, 2])
    product_producer = np.array([0, 0, 1])
    product_family = np.array([0, 1, 1])
    route_served = np.array([6.0, 2.0, 2.0, 10.0])
    region_names = ["us", "cn_east"]
    consumer_region = np.array([0, 1])
    producer_region = np.array([0, 1])
    return ns(
        product_arrays=_Products(served=np.array([6.0, 2.0, 12.0]), price=np.array([10.0, 2.0, 1.0]),
                          marginal_cost=np.array([4.0, 1.0, 0.5]), family=product_family,
                          producer=product_producer),
        families=ns(open_weights=np.array([False, True]), tier=np.array([1, 0]),
                    owner_bloc=np.array(["western", "cn"])),
        consumer_arrays=ns(logsum=np.array([-1.0, -2.0]), demand=np.array([30.0, 10.0]),
                           price_index=np.array([2.0, 1.0]), surplus=np.array([1.5, 0.5]),
                           expenditure=np.array([12.0, 2.0]), eta=np.array([1.2, 1.0]),
                           welfare_change=np.array([0.25, -0.05]),
                           volume=np.array([11.0, 10.0]), served=np.array([10.0, 10.0]),
                           unserved=np.array([0.5, 0.0]), not_bought=np.array([0.5, 0.0])),
        producer_served=np.array([8.0, 12.0]), producer_price=np.array([8.0, 1.0]),
        producer_full_cost=np.array([5.0, 0.7]), producer_region=producer_region,
        producer_energy_mwh=np.array([1.0, 2.0]), producer_emissions_t=np.array([0.3, 1.2]),
        producer_green_mwh=np.array([0.0, 0.5]), producer_carbon=np.array([0.4, 0.6]),
        producer_capacity=np.array([20.0, 15.0]), producer_gpus=np.array([100.0, 50.0]),
        orders_gpus_this_step=8.0, live_families=np.array([True, True]),
        producers=[None, None], exits_this_step=0, entries_this_step=0, exits_total=1,
        entries_total=0,
        regions=ns(producer_regions=("us", "cn_east"), in_bloc=lambda bloc: {
            "western": [0], "cn": [1], "contested": []}[bloc]),
        region_names=region_names, sector_names=["chat"], tier_names=["t0", "t1"],
        consumer_region=consumer_region, consumer_sector=np.array([0, 0]),
        network=ns(routes=ns(route_consumer=route_consumer,
                             route_producer=product_producer[route_product],
                             route_family=product_family[route_product]),
                   flow_key=consumer_region[route_consumer] * 2
                   + producer_region[product_producer[route_product]]),
        clearing=ns(route_served=route_served),
        # host 0 (owner 0) uses all its capacity, host 1 (independent) 30 of 50 GPU-s
        producer_capacity_gpu_s=np.array([100.0, 50.0]),
        producer_load_gpu_s=np.array([100.0, 30.0]),
        producer_owner=np.array([0, -1]), api_sold_share=np.array([0.5, 0.8]), market_v3=None,
    )


def test_every_named_reporter_on_a_tiny_market_against_hand_computed_values(monkeypatch):
    # the supply v3 reporters read the scenario, costs and fleet the tiny market has not; they
    # are tested on a model below (test_supply_metrics_*)
    monkeypatch.setattr(metrics, "supply_metrics", lambda model: {})
    model = _tiny_model()
    m = compute(model)
    expected = {
        "price_avg": 76 / 20,                    # (6 x 10 + 2 x 2 + 12 x 1) / 20
        "price_open": 16 / 14, "price_closed": 10.0, "share_open": 14 / 20,
        "lerner": 10.6 / 20,                     # (6 x 0.6 + 2 x 0.5 + 12 x 0.5) / 20
        "lerner_open": 0.5, "lerner_closed": 0.6,
        "hhi": 0.4**2 + 0.6**2,                  # hosts 8 and 12 of 20
        "hhi_market": (10 * (0.8**2 + 0.2**2) + 10 * 1.0) / 20,  # us: 8 and 2; cn_east: 10
        "price_index": 2.0 ** (30 / 40),         # geometric, weighted by task volume 30 and 10
        "price_cheapest_t0": 1.0, "price_cheapest_t1": 10.0,
        "price_tier_t0_cn": 1.0, "price_tier_t0_us": 2.0,
        "price_tier_t1_cn": 0.0, "price_tier_t1_us": 10.0,
        "cn_family_share_western": 4 / 10,       # family f1 (Chinese owner) on a1 and a2
        "cn_share_western": 2 / 10,              # host 1 (cn_east) serves 2 of us's 10
        "cn_share_global_south": 0.0, "western_share_global_south": 0.0,
        "consumer_surplus": 2.0, "welfare_change": 0.2,
        # from 1000 USD/Mtok to 2 and 1: E ((P0/P1)^(1 - eta) - 1) / (1 - eta), E log(P0/P1)
        "consumer_surplus_common_ref": 12 * (500**-0.2 - 1) / -0.2 + 2 * math.log(1000),
        "task_volume": 40.0, "demand_total": 21.0, "served_total": 20.0,
        "unserved_demand": 0.5, "not_bought_total": 0.5,
        "refused_total": 1.0, "refused_share": 1 / 21,  # (0.5 + 0.5) of 21 at posted prices
        "price_us": 8.0, "price_cn_east": 1.0, "share_us": 0.4, "share_cn_east": 0.6,
        "unit_cost_us": 5.0, "emissions_avoided_t": 0.5 * 0.6, "gpus_total": 150.0,
        "capacity_total": 35.0, "exits_total": 1, "active_producers": 2, "active_products": 3,
        "families_live": 2, "gpus_ordered": 8.0,
        "capacity_binding_share": 0.5,           # host 0 of the two
        # owner 0's host sells half through its API: 10 x 6 x 0.5 + 2 x 2 x 0.5; host 1 all
        "api_revenue_usd": 30.0 + 2.0 + 12.0,
        "equilibrium_iterations": 0.0, "equilibrium_residual": 0.0, "committed_share": 0.0,
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


class _Products(SimpleNamespace):
    def __len__(self):
        return self.price.size


def test_the_price_index_is_quality_adjusted_and_exact_on_a_one_consumer_market():
    # one consumer, no outside good, alpha = 2, products of quality 1 and 0 at 2 and 1 USD:
    # P = (e^1 2^-2 + e^0 1^-2)^(-1/2) in separate nests (sigma = 0); in one nest with
    # sigma = 0.5, IV = 0.5 log(exp(2 v_1) + exp(2 v_2)), v = q - 2 log p
    def index(nest, sigma, quality):
        topology = RouteTopology(np.array([0, 2]), np.arange(2), 2, route_nest=np.array(nest))
        market = RouteMarket(topology, route_utility=np.array(quality, float),
                             route_price_extra=np.zeros(2), consumer_alpha=np.array([2.0]),
                             consumer_demand=np.array([1.0]),
                             consumer_outside_utility=np.array([-np.inf]), price_form="log",
                             nest_sigma=np.array([sigma, sigma]))
        return market_demand(market, np.array([2.0, 1.0])).consumer_price_index[0]

    assert index([0, 1], 0.0, [1.0, 0.0]) == pytest.approx(0.7716153995406717, rel=1e-12)
    assert index([0, 0], 0.5, [1.0, 0.0]) == pytest.approx(0.9094458002926782, rel=1e-12)
    # a better product at the same prices lowers the quality-adjusted index
    assert index([0, 1], 0.0, [1.5, 0.0]) < index([0, 1], 0.0, [1.0, 0.0])


def test_welfare_change_is_the_compensating_variation_of_the_steps_price_index_move():
    # alpha 2, eta 1.2, IV 0.1 -> 0.5 (P falls by exp(-0.2)), 3 Mtok at 4 USD: E = 12 USD;
    # CV = E ((P0/P1)^(1 - eta) - 1) / (1 - eta) = 2.35263365086061
    ns = SimpleNamespace
    consumers = ns(region=np.zeros(1), alpha=np.array([2.0]), eta=np.array([1.2]),
                   logsum=np.array([0.1]), reference_logsum=np.array([0.1]))
    demand = ns(consumer_volume=np.array([3.0]), consumer_logsum=np.array([0.5]),
                consumer_price_index=np.exp(-np.array([0.5]) / 2.0), route_price=np.array([4.0]))
    clearing = ns(consumer_served=np.array([3.0]), consumer_unserved=np.zeros(1),
                  consumer_not_bought=np.zeros(1), route_served=np.array([3.0]))
    network = ns(routes=ns(route_consumer=np.array([0])), price_factor=np.array([1.0]))
    settle_consumers(consumers, demand, clearing, network)
    assert consumers.expenditure[0] == pytest.approx(12.0)
    assert consumers.welfare_change[0] == pytest.approx(2.35263365086061, rel=1e-12)
    assert consumers.surplus[0] == pytest.approx(2.35263365086061, rel=1e-12)
    assert AGGREGATE_REPORTERS["welfare_change"].unit == "USD/step"


def test_agent_records_read_from_arrays_equal_mesas_per_agent_records():
    import mesa

    from pricewar.model.agents import PlatformOperator, TokenProducer

    model = PriceWarModel("baseline", seed=1, n_consumers=100)
    model.producer_cash[3] = -1e15  # an exit: agents and array rows are renumbered
    for _ in range(3):
        model.step()
    collector = model.datacollector
    for agent_type in (TokenProducer, PlatformOperator):
        mesa_records = list(mesa.DataCollector._record_agenttype(collector, model, agent_type))
        records = collector._record_agenttype(model, agent_type)
        assert records == mesa_records
        assert [tuple(map(type, row)) for row in records] == [  # Python numbers, not numpy's
            tuple(map(type, row)) for row in mesa_records]
    # a reporter replaced after construction is called per agent, not read from the arrays
    collector.agenttype_reporters[TokenProducer]["price"] = lambda agent: -1.0
    column = 2 + list(collector.agenttype_reporters[TokenProducer]).index("price")
    records = collector._record_agenttype(model, TokenProducer)
    assert {row[column] for row in records} == {-1.0}


def test_the_cross_run_surplus_does_not_move_with_the_runs_own_initial_prices():
    """issue 27: consumer_surplus is measured from each run's initial prices (its reference
    inclusive value); consumer_surplus_common_ref from one fixed price in every run. The same
    settled step with another reference moves the first and leaves the second."""
    model = PriceWarModel("baseline", seed=1, n_consumers=100)
    for _ in range(3):
        model.step()
    consumers = model.consumer_arrays
    before = compute(model)
    consumers.reference_logsum = consumers.reference_logsum - 0.5  # other initial prices
    consumers.logsum = consumers.previous_logsum
    settle_consumers(consumers, model.demand_outcome, model.clearing, model.network)
    after = compute(model)
    assert after["consumer_surplus"] != pytest.approx(before["consumer_surplus"], rel=1e-3)
    assert after["consumer_surplus_common_ref"] == pytest.approx(
        before["consumer_surplus_common_ref"], rel=1e-12)


# ------------------------------------------------------------------------------------------------
# supply v3 reporters: like-for-like unit cost, rents, idle GPUs (docs/outputs.md)
# ------------------------------------------------------------------------------------------------
def test_like_for_like_unit_cost_at_chip_parity_is_ordered_by_power_price_times_pue(model):
    regions = list(model.regions.producer_regions)
    index = [model.region_names.index(r) for r in regions]
    power_x_pue = dict(zip(regions, (model.regions.electricity_usd_per_kwh[index]
                                     * model.regions.pue[index]), strict=True))
    # the data's ordering the like-for-like cost must follow
    assert power_x_pue["cn_west"] < power_x_pue["cn_east"] and power_x_pue["us"] < power_x_pue["eu"]
    for chip, name in enumerate(model.chip_names):
        cost = dict(zip(regions, metrics.reference_unit_costs(model, chip=chip), strict=True))
        assert cost["cn_west"] < cost["cn_east"], name
        assert cost["us"] < cost["eu"], name


def test_like_for_like_unit_cost_is_the_cheapest_buyable_chip(model):
    from pricewar.supply.chip_access import available_under

    regions = list(model.regions.producer_regions)
    by_chip = np.array([metrics.reference_unit_costs(model, chip=c)
                        for c in range(len(model.chip_names))])
    reference = metrics.reference_unit_costs(model)
    for k, region in enumerate(regions):
        bloc = model.regions.bloc[model.region_names.index(region)]
        buyable = available_under(model.scenario.catalogue, str(bloc), model.date,
                                  model.scenario.policy)
        assert buyable.any()
        assert reference[k] == pytest.approx(by_chip[buyable, k].min(), rel=1e-12), region


def test_supply_reporters_name_every_chip_and_bloc_and_keep_the_mix_unit_cost(model):
    m = model.metrics
    for region in REGIONS:
        assert m[f"unit_cost_mix_{region}"] == m[f"unit_cost_{region}"]
        assert m[f"unit_cost_ref_{region}"] > 0
    outcome = metrics.clear_markets(model.scenario, model.supply, model.date, model.steps,
                                    model.regions, model.fleet, model.producer_arrays)
    fresh = metrics.rental_metrics(model)
    for c, chip in enumerate(model.chip_names):
        for k, bloc in enumerate(outcome.blocs):
            assert fresh[f"rental_price_{chip}_{bloc}"] == outcome.rent_usd_per_gpu_hour[c, k]
            assert fresh[f"rental_price_{chip}_{bloc}"] >= outcome.floor_usd_per_gpu_hour[c, k]
    for k, bloc in enumerate(outcome.blocs):
        assert 0.0 <= fresh[f"gpus_idle_share_{bloc}"] <= 1.0
        assert fresh[f"gpus_idle_{bloc}"] == pytest.approx(outcome.idle_gpus[:, k].sum())
    assert set(metric_names(REGIONS, model.tier_names, model.chip_names)) == set(m)
