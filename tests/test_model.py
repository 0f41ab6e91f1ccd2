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
from pricewar.studies.runner import agents_frame, model_frame, run_model

SMALL = {"n_consumers": 250}


def _frames(seed, steps=12, **overrides):
    model = run_model("baseline", steps=steps, seed=seed, overrides={**SMALL, **overrides},
                      progress=False)
    return model_frame(model), agents_frame(model)


def test_agents_are_mesa_agents_viewing_model_arrays():
    model = PriceWarModel("baseline", seed=3, **SMALL)
    producers = model.agents_by_type[TokenProducer]
    assert len(producers) == 50
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
                "outside_total", "unserved_demand", "energy_mwh", "emissions_t",
                "active_producers"}
    for r in ("cn_west", "cn_east", "us", "eu"):
        required |= {f"price_{r}", f"share_{r}", f"throughput_{r}", f"unit_cost_{r}"}
    assert required <= set(frame.columns)
    assert set(MODEL_METRICS) <= set(frame.columns)
    for column in ("price", "marginal_cost", "full_unit_cost", "quantity", "capacity",
                   "utilisation", "profit", "cash"):
        assert column in agents.columns


def test_conservation_every_step():
    model = PriceWarModel("baseline", seed=2, **SMALL)
    for _ in range(30):
        model.step()
        m = model.metrics
        assert m["served_total"] + m["unserved_demand"] + m["outside_total"] == pytest.approx(
            m["demand_total"], rel=1e-9)
        np.testing.assert_allclose(
            model.consumer_served + model.consumer_unserved + model.consumer_outside,
            model.consumer_demand, rtol=1e-9)
        assert (model.producer_served <= model.producer_capacity * (1 + 1e-9)).all()
    assert sum(model.metrics[f"share_{r}"] for r in ("cn_west", "cn_east", "us", "eu")) == \
        pytest.approx(1.0)


def test_no_nan_over_156_steps_of_baseline():
    model = run_model("baseline", steps=156, seed=1, progress=False)
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
    assert (model.producer_price > 0).all()
    assert np.isfinite(model.producer_price).all()


def test_nash_strategy_prices_satisfy_first_order_conditions():
    from pricewar.kernel import best_response

    model = PriceWarModel("baseline", seed=1, producer_strategy="nash", **SMALL)
    model.step()
    br = best_response(model.pricing_market, model.producer_base_price, model.producer_marginal_cost)
    np.testing.assert_allclose(br, model.producer_base_price, rtol=1e-6)


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
    doomed = model.producers[3]
    doomed_id = doomed.unique_id
    model.producer_cash[3] = -1e15
    model.step()
    assert model.metrics["exits"] == 1 and model.metrics["active_producers"] == 49
    assert doomed_id not in {a.unique_id for a in model.agents_by_type[TokenProducer]}
    assert model.routes.topology.n_producers == 49 == model.producer_price.size
    assert all(p.index == i for i, p in enumerate(model.producers))
    for _ in range(3):
        model.step()
    frame = model_frame(model)
    assert frame["exits_total"].iloc[-1] == 1
    assert np.isfinite(frame.drop(columns=["date"]).to_numpy(dtype=float)).all()


def test_entry_adds_listed_producers():
    import dataclasses

    from pricewar.scenario import load_scenario

    base = load_scenario("baseline")
    scenario = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, entry_enabled=True, entry_interval_steps=2, entry_min_margin=-1.0))
    model = PriceWarModel(scenario, seed=1, **SMALL)
    model.step()
    model.step()
    assert model.metrics["entries"] == 4  # one per producer group
    assert len(model.producers) == 54 == model.routes.topology.n_producers
    newcomer = model.producers[-1]
    assert any(newcomer.index in listed for listed in model.platform_listings)
    model.step()
    assert np.isfinite(model.producer_price).all()


def _scenario_file(tmp_path, **sections):
    path = tmp_path / "scenario.toml"
    path.write_bytes(tomli_w.dumps({"name": "t", "description": "", "start_date": "2025-07-01",
                                    "step_days": 7.0, "steps": 4, "price_form": "log",
                                    **sections}).encode())
    return path


def test_export_controls_apply_to_the_regions_flagged_in_the_data(tmp_path):
    # mid-2025: B200 is out; producers under export controls trail by two years (H100)
    model = PriceWarModel(_scenario_file(tmp_path), seed=1, **SMALL)
    chips = model.chips.names
    best = {r: {chips[c] for c in model.producer_best_chip[
        model.producer_region == model.region_names.index(r)]} for r in ("cn_west", "us")}
    assert best == {"cn_west": {"H100"}, "us": {"B200"}}
    cn_west = model.producer_region == model.region_names.index("cn_west")
    assert (model.producer_export_penalty[cn_west] == 0.4).all()
    lifted = PriceWarModel(_scenario_file(
        tmp_path, regions={"cn_west": {"export_controlled": False}}), seed=1, **SMALL)
    assert {chips[c] for c in lifted.producer_best_chip[cn_west]} == {"B200"}
    assert (lifted.producer_export_penalty[cn_west] == 0.0).all()
    cn_east = model.producer_region == model.region_names.index("cn_east")
    assert (lifted.producer_export_penalty[cn_east] == 0.4).all()


def test_every_producer_array_is_resized_on_exit_and_entry():
    import dataclasses

    from pricewar.scenario import load_scenario

    base = load_scenario("baseline")
    scenario = dataclasses.replace(base, dynamics=dataclasses.replace(
        base.dynamics, entry_enabled=True, entry_interval_steps=1, entry_min_margin=-1.0))
    model = PriceWarModel(scenario, seed=1, **SMALL)
    model.step()  # four entrants, one per group
    before = model.n_producers
    model.producer_cash[[2, 5]] = -1e15
    model.step()
    n = model.n_producers
    assert n == before - 2 + 4 and model.metrics["exits"] == 2 and model.metrics["entries"] == 4
    for f in dataclasses.fields(model.producer_arrays):
        assert len(getattr(model.producer_arrays, f.name)) == n, f.name
    assert model.fleet.producer.max() == n - 1
    assert [p.index for p in model.producers] == list(range(n))
    newcomers = model.producer_arrays
    assert (newcomers.surcharge[-4:] == 1.0).all() and (newcomers.commit_until[-4:] == -1).all()
