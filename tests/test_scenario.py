"""Scenario loading and validation: every bad input raises ScenarioError naming file, key, value."""

import math
import tomllib

import pytest
import tomli_w

from pricewar.errors import ScenarioError
from pricewar.model.scenario_strategies import resolve_strategies
from pricewar.scenario import (
    OVERRIDES,
    PRODUCER_REGIONS,
    calibration_defaults,
    load_scenario,
    parse_override_value,
    scenario_names,
)


def test_shipped_scenarios_load():
    assert {"baseline", "parity"} <= set(scenario_names())
    baseline = load_scenario("baseline")
    parity = load_scenario("parity")
    assert baseline.start_date == "2024-01-01" and baseline.step_days == 7
    assert parity.policy.export_control_penalty == 0 and parity.policy.chip_regime == "no_controls"
    prices = {parity.regions[r].electricity_usd_per_kwh for r in ("cn_west", "cn_east", "us", "eu")}
    assert len(prices) == 1
    assert baseline.catalogue.families.keys() == baseline.families.keys()
    assert baseline.catalogue.policy is baseline.policy


def test_shipped_calibrated_scenario_is_baseline_with_only_estimated_keys_changed():
    """pricewar/data/scenarios/calibrated.toml is what ``pricewar calibrate`` wrote: baseline
    plus the v2 spec's estimated parameters, each key sourced to the calibration."""
    from pricewar.scenario.overrides import flatten

    calibrated, baseline = load_scenario("calibrated"), load_scenario("baseline")
    assert calibrated.name == "calibrated" and calibrated.steps == baseline.steps
    changed = {path for path, source in calibrated.sources.items()
               if source.startswith("estimated by pricewar calibrate: v2")}
    assert {"demand.nest_sigma", "demand.growth_per_step", "trade.friction_utils",
            "trade.family_friction_utils", "quality.slope_utils_per_point"} <= changed
    assert {f"sectors.{name}.eta" for name in baseline.sectors} <= changed
    before, after = flatten(baseline.to_dict()), flatten(calibrated.to_dict())
    differ = {path.removesuffix(".value") for path in after
              if path not in ("name", "description") and not path.startswith("sources.")
              and not path.endswith(".source")
              and after[path] != before.get(path)}
    assert differ <= changed, differ - changed


def test_every_calibration_number_has_a_source():
    scenario = load_scenario("baseline")
    data = scenario.to_dict()
    missing = []

    def walk(node, path, covered=False):
        if isinstance(node, dict):
            if set(node) == {"value", "source"}:
                return
            # (a catalogue table with its own "source" string covers its numbers)
            covered = isinstance(node.get("source"), str)
            for key, value in node.items():
                if path == "" and key in ("steps", "step_days", "sources"):
                    continue
                walk(value, f"{path}.{key}" if path else key, covered)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]", covered)
        elif (isinstance(node, int | float) and not isinstance(node, bool) and not covered
              and path not in scenario.sources  # (numbers in lists keep it in the table)
              and not path.startswith(("latency_ms", "producers.", "platforms.", "demand."))):
            missing.append(path)

    walk(data, "")
    assert missing == []
    # the latency matrix and counts are sourced in the sources table / are design choices
    assert any(k.startswith("latency_ms") for k in scenario.sources)


def test_resolved_scenario_round_trips(tmp_path):
    scenario = load_scenario("baseline").with_overrides(electricity_cn_west=0.03)
    path = tmp_path / "resolved.toml"
    path.write_text(scenario.to_toml())
    again = load_scenario(path)
    assert again == scenario
    assert again.sources["regions.cn_west.electricity_usd_per_kwh"].startswith("override")


def _write(tmp_path, data, name="bad.toml"):
    path = tmp_path / name
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def _resolved(tmp_path):
    return tomllib.loads(load_scenario("baseline").to_toml())


@pytest.mark.parametrize(
    "mutate, key_path, fragment",
    [
        (lambda d: d.__setitem__("colour", "red"), "colour", "unknown key"),
        (lambda d: d["regions"]["cn_west"].__setitem__("pue", "high"), "regions.cn_west.pue",
         "expected a number"),
        (lambda d: d["regions"]["us"].__setitem__("electricity_usd_per_kwh", -0.1),
         "regions.us.electricity_usd_per_kwh", "must be >= 0"),
        (lambda d: d["regions"]["us"].__setitem__("electricity_usd_per_kwh", math.nan),
         "regions.us.electricity_usd_per_kwh", "NaN"),
        (lambda d: d["latency_ms"]["us"].__setitem__("eu", 999.0),
         ("latency_ms.us.eu", "latency_ms.eu.us"), "not symmetric"),
        (lambda d: d["latency_ms"]["us"].pop("cn_west"), "latency_ms.us.cn_west",
         "missing region"),
        (lambda d: d["producers"]["eu"].__setitem__("region", "mars"), "producers.eu.region",
         "unknown producer region"),
        (lambda d: d["producers"]["eu"].__setitem__("strategy", "collude"),
         "producers.eu.strategy", "must be one of"),
        (lambda d: d["sectors"]["chat"].__setitem__("alpha", 0.9), "sectors.chat.alpha",
         "must be > 1"),
        (lambda d: d["access"]["us"].__setitem__("cn_west", "maybe"), "access.us.cn_west",
         "must be one of"),
        (lambda d: d["producers"]["us"].__setitem__("count", 2.5), "producers.us.count",
         "expected an integer"),
    ],
)
def test_invalid_scenario_names_file_key_and_value(tmp_path, mutate, key_path, fragment):
    data = _resolved(tmp_path)
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:  # strategies: the model's check
        resolve_strategies(load_scenario(path))
    message = str(info.value)
    assert str(path) in message
    expected = key_path if isinstance(key_path, tuple) else (key_path,)
    assert info.value.key_path in expected
    assert fragment in message


def test_partial_scenario_file_merges_over_calibration(tmp_path):
    path = _write(tmp_path, {"name": "cheap_west", "description": "", "start_date": "2024-01-01",
                             "step_days": 7.0, "steps": 10,
                             "regions": {"cn_west": {"electricity_usd_per_kwh": 0.02}},
                             "families": {"gpt_4o": {"tier": "gpt4turbo_gpqa"}}})
    scenario = load_scenario(path)
    assert scenario.regions["cn_west"].electricity_usd_per_kwh == 0.02
    assert scenario.regions["us"] == load_scenario("baseline").regions["us"]
    assert scenario.families["gpt_4o"].tier == "gpt4turbo_gpqa"
    assert scenario.families["gpt_4o"].owner == "openai"  # the rest of the family merged
    assert set(calibration_defaults()) >= {"regions", "chips", "sectors", "latency_ms",
                                           "families", "rental", "serving", "policy", "trade"}


def test_unknown_scenario_name_and_missing_file():
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_scenario("utopia")
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario("/nonexistent/x.toml")


def test_overrides_apply_and_validate():
    base = load_scenario("baseline")
    changed = base.with_overrides(electricity_cn_west=0.03, hub_latency_ms=40.0,
                                  export_control_penalty=0.2, producer_strategy="nash",
                                  n_producers=100, n_platforms=20, n_consumers=500)
    assert changed.regions["cn_west"].electricity_usd_per_kwh == 0.03
    assert changed.latency_ms["cn_west"]["cn_east"] == changed.latency_ms["cn_east"]["cn_west"] == 40
    assert changed.policy.export_control_penalty == 0.2
    assert sum(g.count for g in changed.producers.values()) == 100
    # owner-hosts keep their one serving arm; independent host groups take the rest
    assert all(g.count == 1 for g in changed.producers.values() if g.owner)
    assert sum(g.count for g in changed.platforms.values()) == 20
    assert {g.strategy for g in changed.producers.values()} == {"nash"}
    with pytest.raises(ScenarioError, match="unknown override"):
        base.with_overrides(electricity_mars=0.1)
    with pytest.raises(ScenarioError, match="must be >= 0"):
        base.with_overrides(electricity_us=-0.5)
    with pytest.raises(ScenarioError, match="expected a number"):
        base.with_overrides(hub_latency_ms="fast")
    with pytest.raises(ScenarioError, match="must be one of"):
        resolve_strategies(base.with_overrides(producer_strategy="collude"))


@pytest.mark.parametrize("key, value, section, field", [
    ("carbon_price_usd_per_t", 81.0, "policy", "carbon_price_usd_per_t"),
    ("power_subsidy_domestic_chips", 0.5, "policy", "power_subsidy_domestic_chips"),
    ("capex_subsidy", 0.2, "policy", "capex_subsidy"),
    ("wacc", 0.12, "policy", "wacc"),
    ("export_control_penalty", 0.4, "policy", "export_control_penalty"),
    ("export_control_lag_years", 1.0, "policy", "export_control_lag_years"),
    ("chip_regime", "full_ban", "policy", "chip_regime"),
    ("tariff_cross_bloc", 0.25, "trade", "tariff_cross_bloc"),
    ("family_friction_utils", 1.0, "trade", "family_friction_utils"),
    ("nest_sigma", 0.5, "demand", "nest_sigma"),
    ("quality_slope", 0.2, "quality", "slope_utils_per_point"),
    ("closed_premium", 1.5, "quality", "closed_premium_utils"),
])
def test_policy_levers_are_flat_overrides(key, value, section, field):
    changed = load_scenario("baseline").with_overrides(**{key: value})
    assert getattr(getattr(changed, section), field) == value
    assert changed.sources[f"{section}.{field}"].startswith("override")


@pytest.mark.parametrize("key, value, fragment", [
    ("wacc", 1.5, "<= 1"), ("power_subsidy_domestic_chips", -0.1, ">= 0"),
    ("chip_regime", "partial", "must be one of"), ("tariff_cross_bloc", -1.0, "must be >= 0"),
    ("nest_sigma", 1.0, "<= 0.99"),
])
def test_bad_lever_values_are_refused_naming_the_lever(key, value, fragment):
    with pytest.raises(ScenarioError, match=fragment) as info:
        load_scenario("baseline").with_overrides(**{key: value})
    assert info.value.key_path.endswith(key)


def test_alpha_scale_multiplies_every_sectors_price_sensitivity():
    base = load_scenario("baseline")
    scaled = base.with_overrides(alpha_scale=1.25)
    for name, sector in base.sectors.items():
        assert scaled.sectors[name].alpha == pytest.approx(1.25 * sector.alpha)
        assert scaled.sources[f"sectors.{name}.alpha"].startswith("override")
    # chat's alpha 1.2 x 0.8 = 0.96: below the log-price bound, refused naming the override
    with pytest.raises(ScenarioError, match="must be > 1") as info:
        base.with_overrides(alpha_scale=0.8)
    assert "alpha_scale" in str(info.value)


def test_producer_groups_are_checked_against_the_owners(tmp_path):
    data = _resolved(tmp_path)
    data["producers"]["eu"]["owner"] = "openai"  # a second serving arm for openai
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, data))
    assert info.value.key_path == "producers.eu.owner" and "already served" in str(info.value)
    data = _resolved(tmp_path)
    data["producers"]["us"]["open_families"] = 0  # an independent host hosting nothing
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, data, "b.toml"))
    assert info.value.key_path == "producers.us.open_families"


def test_parse_override_value():
    assert parse_override_value("electricity_us", "0.05") == 0.05
    assert parse_override_value("n_consumers", "300") == 300
    assert parse_override_value("producer_strategy", "nash") == "nash"
    with pytest.raises(ScenarioError, match="expected int"):
        parse_override_value("n_consumers", "3.5")
    with pytest.raises(ScenarioError, match="unknown override"):
        parse_override_value("nope", "1")
    assert "electricity_cn_west" in OVERRIDES


@pytest.mark.parametrize(
    "mutate, key_path, fragment",
    [
        (lambda d: d["regions"]["us"].__setitem__("bloc", "neutral"), "regions.us.bloc",
         "must be one of"),
        (lambda d: d["regions"]["eu"].__setitem__("hosts_producers", "yes"),
         "regions.eu.hosts_producers", "expected true or false"),
        (lambda d: d["sector_access"].update({"chat": {"us": {"mars": "barred"}}}),
         "sector_access.chat.us.mars", "unknown producer region"),
        (lambda d: [r.__setitem__("hosts_producers", False) for r in d["regions"].values()],
         "regions", "no region hosts producers"),
        (lambda d: d["producers"]["eu"].__setitem__("region", "global_south"),
         "producers.eu.region", "unknown producer region"),
        (lambda d: d["trade"].__setitem__("western_cn_share_cap", 0.3),
         "trade.western_cn_share_cap", "unknown key"),
    ],
)
def test_region_semantics_are_validated(tmp_path, mutate, key_path, fragment):
    data = _resolved(tmp_path)
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, data))
    assert info.value.key_path == key_path
    assert fragment in str(info.value)


def test_producer_regions_and_blocs_come_from_the_region_data():
    scenario = load_scenario("baseline")
    assert scenario.producer_regions == ("cn_west", "cn_east", "us", "eu")
    assert scenario.bloc_regions("cn") == ("cn_west", "cn_east")
    assert scenario.bloc_regions("western") == ("us", "eu")
    assert scenario.bloc_regions("contested") == ("global_south",)
    assert scenario.producer_regions == PRODUCER_REGIONS  # the shipped data's
