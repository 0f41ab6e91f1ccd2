"""Model metrics (pricewar.model.metrics) recomputed by hand on a small model."""

import numpy as np
import pytest
import tomli_w

from pricewar.model import PriceWarModel
from pricewar.model.metrics import (
    AGGREGATE_METRICS,
    REGION_METRICS,
    bloc_shares,
    compute,
    flow_matrix,
    metric_names,
    model_reporters,
)

REGIONS = ("cn_west", "cn_east", "us", "eu")


@pytest.fixture(scope="module")
def model():
    model = PriceWarModel("baseline", seed=4, n_consumers=100)
    for _ in range(3):
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


def test_lerner_index_and_average_price_are_volume_weighted(model):
    m = compute(model)
    q, p, c = model.producer_served, model.producer_price, model.producer_marginal_cost
    assert m["lerner"] == pytest.approx(float(np.sum(q * (p - c) / p) / q.sum()), rel=1e-12)
    assert m["price_avg"] == pytest.approx(float(np.sum(q * p) / q.sum()), rel=1e-12)
    assert m["lerner"] != pytest.approx(float(np.mean((p - c) / p)), rel=1e-9)  # weighting matters


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
        "steps": 2, "price_form": "log",
        "regions": {"global_south": {"bloc": "western"}}}).encode())
    model = PriceWarModel(path, seed=4, n_consumers=100)
    shares = bloc_shares(model)
    assert shares["cn_share_global_south"] == 0.0 == shares["western_share_global_south"]
    flows = flow_matrix(model).sum(axis=1)
    west = [model.region_names.index(r) for r in ("us", "eu", "global_south")]
    cn = [model.region_names.index(r) for r in ("cn_west", "cn_east")]
    assert shares["cn_share_western"] == pytest.approx(
        flows[west][:, cn].sum() / flows[west].sum(), rel=1e-12)


def test_reporter_names_follow_the_producer_regions(model):
    names = metric_names(("x", "y"))
    assert names[: len(AGGREGATE_METRICS)] == AGGREGATE_METRICS
    assert names[len(AGGREGATE_METRICS):] == tuple(f"{m}_{r}" for m in REGION_METRICS
                                                   for r in ("x", "y"))
    reporters = model_reporters(REGIONS)
    assert list(reporters) == list(metric_names(REGIONS))
    assert reporters["price_us"](model) == model.metrics["price_us"]


def test_population_counts_and_price_index(model):
    m = model.metrics
    assert m["active_producers"] == len(model.producers) == model.n_producers
    assert m["price_index"] == pytest.approx(m["price_avg"] / model.initial_price_avg)
    assert m["gpus_total"] == pytest.approx(model.producer_gpus.sum())
