"""Model metrics (pricewar.model.metrics, market_metrics) recomputed by hand on a small model."""

import numpy as np
import pytest
import tomli_w

from pricewar.model import PriceWarModel
from pricewar.model.market_metrics import bloc_shares
from pricewar.model.metrics import (
    AGGREGATE_METRICS,
    REGION_METRICS,
    UNITS,
    compute,
    flow_matrix,
    metric_names,
    model_reporters,
)

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
    for name, (unit, meaning) in UNITS.items():
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
