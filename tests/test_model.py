"""The Mesa model: reproducibility, batch_run, conservation, no NaN, comparative statics."""

import mesa
import numpy as np
import pandas as pd
import pytest
import tomli_w

from pricewar.errors import ScenarioError
from pricewar.model import PriceWarModel
from pricewar.model.agents import IndustrialConsumer, PlatformOperator, TokenProducer
from pricewar.model.metrics import MODEL_METRICS
from pricewar.runs.runner import agents_frame, model_frame, run_model
from pricewar.scenario import load_scenario

SMALL = {"n_consumers": 250}


def _frames(seed, steps=12, **overrides):
    model = run_model("baseline", steps=steps, seed=seed, overrides={**SMALL, **overrides},
                      progress=False)
    return model_frame(model), agents_frame(model)


def test_agents_are_mesa_agents_viewing_model_arrays():
    model = PriceWarModel("baseline", seed=3, **SMALL)
    producers = model.agents_by_type[TokenProducer]
    assert len(producers) == 32  # 10 owner-hosts and 22 independent hosts
    assert len(model.agents_by_type[PlatformOperator]) == 10
    assert len(model.agents_by_type[IndustrialConsumer]) == 250
    agent = producers[0]
    model.producer_price[agent.index] = 123.0
    assert agent.price == 123.0
    agent.cash = 5.0
    assert model.producer_cash[agent.index] == 5.0
    assert sum(p.gpus for p in producers) == model.producer_gpus.sum()


def test_same_seed_identical_frames_different_seed_differs():
    m1, a1 = _frames(7)
    m2, a2 = _frames(7)
    pd.testing.assert_frame_equal(m1, m2)
    pd.testing.assert_frame_equal(a1, a2)
    m3, _ = _frames(8)
    assert not np.allclose(m1["price_avg"], m3["price_avg"])


def test_model_reporters_public_names_present():
    frame, agents = _frames(1, steps=2)
    required = {"price_avg", "hhi", "lerner", "consumer_surplus", "demand_total", "served_total",
                "not_bought_total", "unserved_demand", "energy_mwh", "emissions_t",
                "active_producers", "price_open", "price_closed", "share_open", "lerner_open",
                "lerner_closed", "hhi_market", "price_index", "cn_family_share_western",
                "welfare_change", "exits"}
    for tier in load_scenario("baseline").tiers:
        required |= {f"price_cheapest_{tier}", f"price_tier_{tier}_cn", f"price_tier_{tier}_us"}
    for r in ("cn_west", "cn_east", "us", "eu"):
        required |= {f"price_{r}", f"share_{r}", f"throughput_{r}", f"unit_cost_{r}"}
    assert required <= set(frame.columns)
    assert set(MODEL_METRICS) <= set(frame.columns)
    for column in ("price", "marginal_cost", "full_unit_cost", "quantity", "capacity",
                   "utilisation", "profit", "cash"):
        assert column in agents.columns


def test_refused_total_and_share_match_the_hand_summed_columns():
    """issue 27: refused = unserved + not bought on re-choice, over demand at posted prices."""
    frame = run_model("baseline", steps=30, seed=2, overrides=SMALL, progress=False)
    frame = model_frame(frame)
    hand = frame["unserved_demand"] + frame["not_bought_total"]
    np.testing.assert_allclose(frame["refused_total"], hand, rtol=1e-12)
    np.testing.assert_allclose(frame["refused_share"], hand / frame["demand_total"], rtol=1e-12)
    np.testing.assert_allclose(frame["refused_share"],
                               1 - frame["served_total"] / frame["demand_total"], atol=1e-9)
    assert (frame["not_bought_total"] > 0).any()  # the part unserved_demand alone misses
    assert frame["refused_share"].between(0, 1).all()


def test_served_unserved_and_not_bought_add_up_to_the_volume_every_step():
    model = PriceWarModel("baseline", seed=2, **SMALL)
    for _ in range(30):
        model.step()
        m = model.metrics
        assert m["served_total"] + m["unserved_demand"] + m["not_bought_total"] == \
            pytest.approx(m["demand_total"], rel=1e-9)
        np.testing.assert_allclose(
            model.consumer_served + model.consumer_unserved + model.consumer_not_bought,
            model.consumer_volume, rtol=1e-9, atol=1e-9)
        # hosts' loads stay within capacity (GPU-seconds) and products add up to their host
        assert (model.producer_load_gpu_s <= model.producer_capacity_gpu_s * (1 + 1e-9)).all()
        np.testing.assert_allclose(
            np.bincount(model.product_producer, model.product_served,
                        minlength=model.n_producers), model.producer_served, rtol=1e-12)
        if not m["exits"]:  # (an exit drops the leavers' rows after the metrics were taken)
            np.testing.assert_allclose(model.product_served.sum(), m["served_total"], rtol=1e-9)
    assert sum(model.metrics[f"share_{r}"] for r in ("cn_west", "cn_east", "us", "eu")) == \
        pytest.approx(1.0)


@pytest.mark.parametrize("scenario", ["baseline", "parity"])
def test_no_nan_over_156_steps(scenario):
    model = run_model(scenario, steps=156, seed=1, progress=False)
    frame = model_frame(model)
    assert len(frame) == 157
    numeric = frame.drop(columns=["date"])
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
    agents = agents_frame(model)
    producer_rows = agents[agents["agent_type"] == "producer"]
    assert np.isfinite(producer_rows[["price", "marginal_cost", "full_unit_cost", "quantity",
                                      "capacity", "utilisation", "profit", "cash"]]
                       .to_numpy(dtype=float)).all()
    assert not model.running


@pytest.mark.parametrize("strategy", ["nash", "best_response", "undercut", "cost_plus"])
def test_every_strategy_runs_and_prices_stay_above_zero(strategy):
    model = run_model("baseline", steps=8, seed=1,
                      overrides={**SMALL, "producer_strategy": strategy}, progress=False)
    assert (model.product_price > 0).all() and np.isfinite(model.product_price).all()
    # a host's price is its products' mean: 0 only for an owner with no family released yet
    without = np.bincount(model.product_producer, minlength=model.n_producers) == 0
    assert ((model.producer_price > 0) | without).all()


def test_nash_strategy_prices_satisfy_every_products_first_order_condition():
    from pricewar.kernel import inverse_elasticity_response

    model = PriceWarModel("baseline", seed=1, producer_strategy="nash", **SMALL)
    for _ in range(3):
        model.step()
    br = inverse_elasticity_response(model.pricing_market, model.product_base_price,
                                     model.product_marginal_cost)
    np.testing.assert_allclose(br, model.product_base_price, rtol=1e-6)


def test_initial_prices_are_the_static_nash_equilibrium_of_the_products():
    from pricewar.kernel import inverse_elasticity_response

    model = PriceWarModel("baseline", seed=1, **SMALL)
    market = model._route_market(capacitated=False)
    br = inverse_elasticity_response(market, model.product_base_price,
                                     model.product_marginal_cost)
    # (to the tolerance of the fixed point of prices and the volume's reference point)
    np.testing.assert_allclose(br, model.product_base_price, rtol=1e-5)
    assert (model.product_base_price > model.product_marginal_cost).all()


def test_raising_cn_west_electricity_never_raises_its_share():
    shares = []
    for price in (0.02, 0.05, 0.1, 0.2, 0.4):
        model = run_model("baseline", steps=10, seed=4,
                          overrides={**SMALL, "electricity_cn_west": price,
                                     "export_control_penalty": 0.0}, progress=False)
        shares.append(model.metrics["share_cn_west"])
    assert all(b <= a + 1e-12 for a, b in zip(shares, shares[1:], strict=False))
    assert shares[0] > shares[-1]


def test_unknown_override_is_an_error():
    with pytest.raises(ScenarioError, match="unknown override"):
        PriceWarModel("baseline", seed=1, electricity_moon=0.1)


@pytest.mark.parametrize("processes", [1, 2])
def test_mesa_batch_run_over_overrides_and_seeds(processes):
    results = mesa.batch_run(
        PriceWarModel,
        parameters={"scenario": "baseline", "seed": [1, 2], "n_consumers": 125,
                    "electricity_cn_west": [0.03, 0.1]},
        number_processes=processes, iterations=1, max_steps=3, data_collection_period=-1,
        display_progress=False)
    frame = pd.DataFrame(results)
    runs = frame.drop_duplicates("RunId")
    assert len(runs) == 4
    assert set(runs["electricity_cn_west"]) == {0.03, 0.1}
    assert np.isfinite(runs["price_avg"]).all()


def test_bankrupt_producer_exits_during_a_step_and_routes_are_recompiled():
    model = PriceWarModel("baseline", seed=1, **SMALL)
    model.step()
    doomed = model.producers[12]  # an independent cn_west host
    doomed_id = doomed.unique_id
    model.producer_cash[12] = -1e15
    model.step()
    assert model.metrics["exits"] == 1 and model.metrics["active_producers"] == 31
    assert doomed_id not in {a.unique_id for a in model.agents_by_type[TokenProducer]}
    assert model.routes.topology.n_hosts == 31 == model.producer_price.size
    assert model.routes.topology.n_producers == model.n_products
    assert model.product_producer.max() == 30
    assert all(p.index == i for i, p in enumerate(model.producers))
    for _ in range(3):
        model.step()
    frame = model_frame(model)
    assert frame["exits_total"].iloc[-1] == 1
    assert np.isfinite(frame.drop(columns=["date"]).to_numpy(dtype=float)).all()


def test_an_exited_host_keeps_its_region_and_group_in_the_agents_frame(tmp_path):
    """issue 27: agents.parquet left region and group blank for every exited host."""
    model = PriceWarModel("baseline", seed=1, **SMALL)
    model.step()
    doomed = model.producers[12]
    doomed_id, region, group = doomed.unique_id, doomed.region, doomed.group
    model.producer_cash[12] = -1e15
    model.step()
    model.step()
    frame = agents_frame(model)
    rows = frame[frame["agent_id"] == doomed_id]
    assert list(rows["step"]) == [0, 1]  # it exits in step 2, before the collection
    assert (rows["region"] == region).all() and (rows["group"] == group).all()
    assert frame["region"].notna().all() and frame["group"].notna().all()
    assert (frame["region"] != "").all()


def test_entry_adds_listed_producers():
    import dataclasses

    from pricewar.scenario import load_scenario

    base = load_scenario("baseline")
    scenario = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, entry_enabled=True, entry_interval_steps=2, entry_min_margin=-1.0))
    model = PriceWarModel(scenario, seed=1, **SMALL)
    model.step()
    model.step()
    assert model.metrics["entries"] == 4  # one per independent host group
    assert len(model.producers) == 36 == model.routes.topology.n_hosts
    newcomer_products = model.product_producer == len(model.producers) - 1
    assert newcomer_products.any() and (model.product_base_price[newcomer_products] > 0).all()
    newcomer = model.producers[-1]
    assert any(newcomer.index in listed for listed in model.platform_listings)
    model.step()
    assert np.isfinite(model.producer_price).all()


def _scenario_file(tmp_path, **sections):
    path = tmp_path / "scenario.toml"
    path.write_bytes(tomli_w.dumps({"name": "t", "description": "", "start_date": "2025-07-01",
                                    "step_days": 7.0, "steps": 4,
                                    **sections}).encode())
    return path


def test_chips_by_bloc_decide_what_hosts_buy(tmp_path):
    # mid-2025: the western bloc buys Nvidia's frontier, the cn bloc what the controls leave it
    model = PriceWarModel(_scenario_file(tmp_path), seed=1, **SMALL)
    chips = model.chip_names
    best = {r: {chips[c] for c in model.producer_best_chip[
        model.producer_region == model.region_names.index(r)]} for r in ("cn_west", "us")}
    assert best["us"] <= {"H100", "H200", "B200", "GB200"}
    assert best["cn_west"] <= {"Ascend910B", "Ascend910C", "H20"}
    free = PriceWarModel(_scenario_file(tmp_path), seed=1, chip_regime="no_controls", **SMALL)
    cn_west = model.producer_region == model.region_names.index("cn_west")
    assert {chips[c] for c in free.producer_best_chip[cn_west]} <= {"H100", "H200", "B200",
                                                                    "GB200", "H20"}


def test_export_penalty_and_lag_move_results_independently(tmp_path):
    """The penalty raises the cn bloc's serving costs and leaves what it may buy; the lag delays
    what it may buy and leaves the cost of each chip (calibration.md C13)."""
    path = _scenario_file(tmp_path)  # mid-2025: Ascend 910C just shipped to the cn bloc
    base = PriceWarModel(path, seed=1, **SMALL)
    penalised = PriceWarModel(path, seed=1, export_control_penalty=0.5, **SMALL)
    lagged = PriceWarModel(path, seed=1, export_control_lag_years=1.0, **SMALL)
    for model in (base, penalised, lagged):
        model.step()
    cn = np.isin(base.product_producer, np.flatnonzero(np.isin(base.producer_region, [0, 1])))
    western = ~cn
    np.testing.assert_array_equal(penalised.producer_best_chip, base.producer_best_chip)
    assert (penalised.product_marginal_cost[cn] > 1.4 * base.product_marginal_cost[cn]).all()
    np.testing.assert_allclose(penalised.product_marginal_cost[western],
                               base.product_marginal_cost[western], rtol=1e-9)
    chips = base.chip_names
    cn_hosts = np.isin(base.producer_region, [0, 1])
    assert {chips[c] for c in lagged.producer_best_chip[cn_hosts]} != \
        {chips[c] for c in base.producer_best_chip[cn_hosts]}
    assert "Ascend910C" not in {chips[c] for c in lagged.producer_best_chip[cn_hosts]}
    # the fleets online are the same chips: same GPU-time cost per token
    np.testing.assert_allclose(lagged.product_marginal_capacity, base.product_marginal_capacity,
                               rtol=1e-12)


def test_a_scenario_with_short_runways_and_nash_pricing_ends_in_exits():
    """Exits can be non-zero: independent hosts pricing at the static Nash of near-perfect
    substitutes (sigma 0.95) with a quarter's runway cannot cover their fleets' fixed costs."""
    model = run_model("price_war", steps=32, seed=1, overrides=SMALL, progress=False)
    frame = model_frame(model)
    assert frame["exits_total"].iloc[-1] > 0
    assert model.metrics["active_producers"] < 32


@pytest.mark.parametrize("seed", [2, 3])
def test_each_exit_is_counted_in_its_step_only(seed):
    """issue 27: a step after one with exits reported them again, so sum(exits) was above
    exits_total (baseline, 300 consumers, 156 steps: seed 2 7 against 4, seed 3 2 against 1)."""
    frame = model_frame(run_model("baseline", steps=156, seed=seed,
                                  overrides={"n_consumers": 300}, progress=False))
    assert frame["exits_total"].iloc[-1] > 0
    assert frame["exits"].sum() == frame["exits_total"].iloc[-1]
    np.testing.assert_array_equal(frame["exits"].cumsum(), frame["exits_total"])


def test_each_entry_is_counted_in_its_step_only():
    import dataclasses

    base = load_scenario("baseline")
    scenario = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, entry_enabled=True, entry_interval_steps=3, entry_min_margin=-1.0))
    frame = model_frame(run_model(scenario, steps=7, seed=1, overrides={"n_consumers": 100},
                                  progress=False))
    assert frame["entries_total"].iloc[-1] > 0
    assert frame["entries"].sum() == frame["entries_total"].iloc[-1]
    np.testing.assert_array_equal(frame["entries"].cumsum(), frame["entries_total"])


def test_every_producer_array_is_resized_on_exit_and_entry():
    import dataclasses

    from pricewar.scenario import load_scenario

    base = load_scenario("baseline")
    scenario = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, entry_enabled=True, entry_interval_steps=1, entry_min_margin=-1.0))
    model = PriceWarModel(scenario, seed=1, **SMALL)
    model.step()  # four entrants, one per independent host group
    before = model.n_producers
    model.producer_cash[[12, 25]] = -1e15
    model.step()
    n = model.n_producers
    assert n == before - 2 + 4 and model.metrics["exits"] == 2 and model.metrics["entries"] == 4
    for f in dataclasses.fields(model.producer_arrays):
        assert len(getattr(model.producer_arrays, f.name)) == n, f.name
    for f in dataclasses.fields(model.product_arrays):
        assert len(getattr(model.product_arrays, f.name)) == model.n_products, f.name
    assert model.product_producer.max() == n - 1
    assert model.fleet.producer.max() == n - 1
    assert [p.index for p in model.producers] == list(range(n))
    newcomers = model.producer_arrays
    assert (newcomers.surcharge[-4:] == 1.0).all() and (newcomers.commit_until[-4:] == -1).all()


def test_a_finished_model_is_garbage_collected():
    """Mesa 3.3 keeps every model that created an agent alive through ``Agent._ids``
    (mesa/mesa#3179); the model's agent types hold their id counters weakly, so a sweep worker
    does not grow by a model per run. Ids stay unique and count from 1 within a model."""
    import gc
    import weakref

    model = PriceWarModel("baseline", seed=1, n_consumers=60)
    model.step()
    ids = [a.unique_id for a in model.agents]
    assert sorted(ids) == list(range(1, len(ids) + 1))
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
