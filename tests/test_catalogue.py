"""The supply catalogue (pricewar/data/{families,chips,rental,supply}.toml,
pricewar.scenario.catalogue): the shipped data and the validation of bad data, each error naming
file, key path and value."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w

from pricewar.errors import ScenarioError
from pricewar.scenario.catalogue import BLOCS, load_catalogue
from pricewar.scenario.data_files import data_dir

DATA = data_dir()


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


# ------------------------------------------------------------------------------------------------
# the shipped data
# ------------------------------------------------------------------------------------------------
def test_catalogue_holds_the_families_and_chips_that_carried_the_market(catalogue):
    assert 30 <= len(catalogue.families) <= 45
    blocs = {catalogue.owners[f.owner].bloc for f in catalogue.families.values()}
    weights = {f.weights for f in catalogue.families.values()}
    assert blocs == set(BLOCS) and weights == {"open", "closed"}
    assert set(catalogue.chips) == {"H100", "H800", "H200", "B200", "GB200", "H20", "A800",
                                    "Ascend910B", "Ascend910C"}
    assert {"deepseek_v3", "deepseek_r1", "qwen3", "kimi_k2", "llama_3_1_405b", "gpt_4o",
            "claude_3_5_sonnet", "gemini_2_5_pro"} <= set(catalogue.families)


def test_every_family_tier_is_the_highest_rung_its_own_scores_reach(catalogue):
    for name, family in catalogue.families.items():
        if not family.scores:
            continue
        reached = [tier for tier, t in catalogue.tiers.items()
                   if t.benchmark in family.scores and family.scores[t.benchmark] >= t.threshold]
        assert reached and reached[-1] == family.tier, name


def test_extension_rungs_are_marked_and_sit_above_epochs_ladder(catalogue):
    extension = [t.extension for t in catalogue.tiers.values()]
    assert extension == sorted(extension)  # all Epoch thresholds first
    for tier in catalogue.tiers.values():
        assert ("extension" in tier.label) == tier.extension
        assert ("Epoch AI" in tier.source) != tier.extension


def test_closed_weight_serving_figures_are_marked_estimates_with_a_range(catalogue):
    for name, family in catalogue.families.items():
        if family.weights != "closed":
            continue
        for key in ("total_params_b", "active_params_b", "serving_precision_bits"):
            source = catalogue.sources[f"families.{name}.{key}"]
            assert "est." in source and re.search(r"\d+-\d+", source), (name, key, source)


def test_every_source_cites_the_calibration_page_not_internal_documents(catalogue):
    for path, source in catalogue.sources.items():
        assert re.search(r"docs/calibration\.md C1[2-5]", source), (path, source)
        assert not re.search(r"\b(CAL|DESIGN)\b|/work/|research pack", source), (path, source)


def test_owner_fixed_costs_span_efficient_open_labs_to_frontier_labs(catalogue):
    costs = {name: o.fixed_cost_usd_per_year for name, o in catalogue.owners.items()}
    assert min(costs.values()) >= 5e7 and max(costs.values()) <= 1e10
    assert costs["openai"] > 10 * costs["deepseek"]


def test_policy_defaults_leave_the_counterfactual_levers_off(catalogue):
    levers = catalogue.policy
    assert levers.export_control_penalty == 0.0 and levers.export_control_lag_years == 0.0
    assert levers.carbon_price_usd_per_t == 0.0 and levers.capex_subsidy == 0.0
    assert levers.chip_regime == "historical"
    assert levers.power_subsidy_from_date == dt.date(2025, 11, 4)


# ------------------------------------------------------------------------------------------------
# validation of bad data: copy the data, break one thing, expect file + key path + value
# ------------------------------------------------------------------------------------------------
def broken(tmp_path: Path, file: str, edit) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    path = folder / f"{file}.toml"
    data = tomllib.loads(path.read_text())
    edit(data)
    path.write_text(tomli_w.dumps(data))
    return folder


def expect_error(folder: Path, file: str, key_path: str, value=None) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_catalogue(folder)
    error = info.value
    assert error.source.endswith(f"{file}.toml"), error
    assert error.key_path == key_path, error
    if value is not None:
        assert error.value == value, error
    return error


def test_an_unknown_key_in_a_family_names_it(tmp_path):
    folder = broken(tmp_path, "families",
                    lambda d: d["families"]["deepseek_v3"].update(colour="blue"))
    expect_error(folder, "families", "families.deepseek_v3.colour", "blue")


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", 20240506])
def test_a_bad_date_names_its_key_and_value(tmp_path, bad):
    def edit(d):
        d["families"]["deepseek_v2"]["release_date"]["value"] = bad
    expect_error(broken(tmp_path, "families", edit), "families",
                 "families.deepseek_v2.release_date", bad)


def test_a_bad_availability_date_names_the_window(tmp_path):
    def edit(d):
        d["chips"]["H800"]["availability"][0]["until_date"] = "2023-02-30"
    expect_error(broken(tmp_path, "chips", edit), "chips", "chips.H800.availability[0].until_date",
                 "2023-02-30")


@pytest.mark.parametrize("key, value", [("owner", "nobody"), ("tier", "gpt9_mmlu")])
def test_an_unknown_owner_or_tier_reference_names_it(tmp_path, key, value):
    folder = broken(tmp_path, "families", lambda d: d["families"]["gpt_4o"].update({key: value}))
    error = expect_error(folder, "families", f"families.gpt_4o.{key}", value)
    assert "unknown" in error.problem


def test_an_unknown_home_region_names_it(tmp_path):
    folder = broken(tmp_path, "families", lambda d: d["owners"]["mistral"].update(
        home_region="atlantis"))
    expect_error(folder, "families", "owners.mistral.home_region", "atlantis")


def test_an_unknown_benchmark_names_it(tmp_path):
    def edit(d):
        d["families"]["gpt_4o"]["scores"]["vibes"] = {"value": 9.0, "source": "x"}
    expect_error(broken(tmp_path, "families", edit), "families", "families.gpt_4o.scores.vibes")


def test_an_unknown_chip_reference_names_it(tmp_path):
    folder = broken(tmp_path, "supply", lambda d: d["serving"].update(anchor_chip="TPUv9"))
    expect_error(folder, "supply", "serving.anchor_chip", "TPUv9")
    folder = broken(tmp_path / "b", "rental", lambda d: d["scaled"].update(
        TPUv9={"reference": "H100", "source": "est."}))
    expect_error(folder, "rental", "scaled.TPUv9", "TPUv9")
    folder = broken(tmp_path / "c", "rental", lambda d: d["scaled"]["H20"].update(
        reference="H20"))
    expect_error(folder, "rental", "scaled.H20.reference", "H20")


def test_a_negative_number_names_its_key(tmp_path):
    def edit(d):
        d["chips"]["H100"]["price_usd"]["value"] = -33000.0
    error = expect_error(broken(tmp_path, "chips", edit), "chips", "chips.H100.price_usd",
                         -33000.0)
    assert "must be >" in error.problem


def test_a_number_without_a_source_is_refused(tmp_path):
    folder = broken(tmp_path, "chips", lambda d: d["chips"]["H100"].update(hbm_gb=80.0))
    expect_error(folder, "chips", "chips.H100.hbm_gb", 80.0)


def test_a_chip_without_a_rental_rule_is_refused(tmp_path):
    folder = broken(tmp_path, "rental", lambda d: d["scaled"].pop("H20"))
    expect_error(folder, "rental", "series.H20")


def test_rental_anchor_dates_must_increase(tmp_path):
    def edit(d):
        points = d["series"]["H100"]["points"]
        points[0], points[1] = points[1], points[0]
    error = expect_error(broken(tmp_path, "rental", edit), "rental", "series.H100.points")
    assert "increasing" in error.problem


def test_a_dense_family_activates_all_its_parameters(tmp_path):
    def edit(d):
        d["families"]["llama_3_1_70b"]["active_params_b"]["value"] = 35.0
    expect_error(broken(tmp_path, "families", edit), "families",
                 "families.llama_3_1_70b.active_params_b", 35.0)


def test_an_unknown_bloc_in_an_availability_window_names_it(tmp_path):
    def edit(d):
        d["chips"]["H100"]["availability"][0]["bloc"] = "eu"
    expect_error(broken(tmp_path, "chips", edit), "chips", "chips.H100.availability[0].bloc", "eu")


def test_idle_power_must_be_below_the_tdp(tmp_path):
    def edit(d):
        d["chips"]["H20"]["idle_power_w"]["value"] = 400.0
    expect_error(broken(tmp_path, "chips", edit), "chips", "chips.H20.idle_power_w", 400.0)


def test_policy_levers_validate_on_replace(catalogue):
    levers = catalogue.policy
    assert levers.replace(wacc=0.12).wacc == 0.12
    for name, value in [("wacc", -0.01), ("power_subsidy_domestic_chips", 1.5),
                        ("export_control_penalty", -0.1), ("chip_regime", "partial"),
                        ("carbon_price_usd_per_t", float("nan")), ("no_such_lever", 1.0)]:
        with pytest.raises(ScenarioError) as info:
            levers.replace(**{name: value})
        assert info.value.key_path == name


def test_a_bad_policy_lever_in_the_file_names_it(tmp_path):
    folder = broken(tmp_path, "supply", lambda d: d["policy"].update(chip_regime="partial"))
    expect_error(folder, "supply", "policy.chip_regime", "partial")
