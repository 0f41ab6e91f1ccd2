"""The catalogue's cheap end and the token units of the v3 market (issue #24 items 6 and 7;
docs/v3-interfaces.md §1-§2): the cheap-end families (live only in the v3 market, v2 runs keep
their family list), every value with a source, list-price histories in date order, the blended
price formula, the observed list prices (pricewar/data/observed/list_prices.csv) and their
loader."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from pricewar.errors import ScenarioError
from pricewar.model.products import FamilyTable
from pricewar.scenario import load_scenario
from pricewar.scenario.catalogue import (
    CHEAP_END_MARKET_VERSION,
    load_catalogue,
    market_families,
    scenario_market_version,
)
from pricewar.scenario.data_files import data_dir
from pricewar.scenario.list_prices import COLUMNS, list_prices_path, load_list_prices
from pricewar.scenario.resolve import scenario_from_dict
from pricewar.supply.families import live_families
from pricewar.supply.token_units import (
    blended,
    family_output_multiplier,
    mix_input_per_output,
    owner_api_sold_share,
    scenario_mix_input_per_output,
    sector_input_per_output,
)

DATA = data_dir()

#: the baseline's families before the cheap end was added (main at 575a3ed), in file order
V2_FAMILIES = (
    "deepseek_v2", "deepseek_v2_5", "deepseek_v3", "deepseek_r1", "deepseek_v3_1",
    "deepseek_v3_2", "qwen2_5", "qwen3", "qwen_max", "qwen3_max", "kimi_k2", "glm_4", "glm_4_5",
    "doubao_pro", "ernie_4", "ernie_4_5", "llama_2", "llama_3", "llama_3_1_70b",
    "llama_3_1_405b", "llama_4_maverick", "gpt_oss", "mixtral", "mistral_large_2",
    "mistral_small_3", "gpt_3_5_turbo", "gpt_4_turbo", "gpt_4o", "gpt_4o_mini", "o1", "gpt_4_1",
    "gpt_5", "claude_3_haiku", "claude_3_opus", "claude_3_5_sonnet", "claude_4",
    "gemini_1_5_flash", "gemini_1_5_pro", "gemini_2_0_flash", "gemini_2_5_pro",
    "gemini_2_5_flash")

#: the cheap end the brief asks for (issue #24 item 6)
CHEAP_END = {"ernie_speed", "ernie_lite", "glm_3_turbo", "glm_4_flash", "qwen_turbo", "qwen_long",
             "doubao_lite", "gemini_1_5_flash_8b", "gemma_2_9b", "llama_3_8b", "llama_3_1_8b",
             "qwen2_5_7b", "mistral_7b"}

#: every sourced field of a family (scores and retire_date where present)
SOURCED = ("release_date", "total_params_b", "active_params_b", "serving_precision_bits",
           "fixed_cost_usd_per_year", "output_tokens_multiplier")


@pytest.fixture(scope="module")
def v3():
    return load_catalogue(market_version=CHEAP_END_MARKET_VERSION)


@pytest.fixture(scope="module")
def observed(v3):
    return load_list_prices(catalogue=v3)


def cheap_end(catalogue):
    return {name: f for name, f in catalogue.families.items() if f.cheap_end}


# ------------------------------------------------------------------------------------------------
# v2 unchanged; the cheap end live in the v3 market
# ------------------------------------------------------------------------------------------------
def test_the_v2_family_list_is_the_one_before_the_cheap_end(v3):
    scenario = load_scenario("baseline")
    assert tuple(scenario.families) == V2_FAMILIES
    assert tuple(load_catalogue().families) == V2_FAMILIES
    assert tuple(FamilyTable.from_scenario(scenario).names) == V2_FAMILIES
    assert scenario_market_version(scenario) == 2
    # nothing of the dropped families is left in the resolved scenario (its TOML, its sources)
    assert not [p for p in scenario.sources if p.split(".")[1:2] and p.split(".")[1] in CHEAP_END
                and p.startswith("families.")]
    assert not any(f"[families.{name}]" in scenario.to_toml() for name in CHEAP_END)
    # the v3 catalogue adds exactly the cheap end, after the v2 families, in file order
    assert tuple(v3.families)[:len(V2_FAMILIES)] == V2_FAMILIES
    assert set(cheap_end(v3)) == CHEAP_END
    assert set(v3.families) - set(V2_FAMILIES) == CHEAP_END


def test_the_market_filter_reads_the_market_version():
    assert scenario_market_version(object()) == 2
    assert scenario_market_version(SimpleNamespace(market=SimpleNamespace(version=3))) == 3
    families = {"a": SimpleNamespace(cheap_end=False), "b": SimpleNamespace(cheap_end=True)}
    assert list(market_families(families, 2)) == ["a"]
    assert list(market_families(families, 3)) == ["a", "b"]
    assert list(market_families(families, 4)) == ["a", "b"]


def test_cheap_end_families_are_live_from_their_release_dates_at_version_3(v3):
    table = FamilyTable.from_scenario(SimpleNamespace(catalogue=v3))
    names = list(v3.families)
    for name, family in cheap_end(v3).items():
        i = names.index(name)
        before = family.release_date - dt.timedelta(days=1)
        assert not table.live(before)[i] and table.live(family.release_date)[i], name
        assert live_families(v3, family.release_date)[i], name
    # Gemini 1.5 Flash-8B retires at its shutdown date; Llama 3 8B 12 weeks after Llama 3.1 8B
    i = names.index("gemini_1_5_flash_8b")
    assert table.live(dt.date(2025, 9, 23))[i] and not table.live(dt.date(2025, 9, 24))[i]
    i = names.index("llama_3_8b")
    assert not table.live(dt.date(2024, 7, 23) + dt.timedelta(weeks=12))[i]


def test_a_v3_scenario_runs_the_cheap_end(tmp_path):
    path = tmp_path / "v3.toml"
    path.write_text('base = "baseline"\n\n[market]\nversion = 3\n')
    from_file = load_scenario(path)
    assert scenario_market_version(from_file) == 3
    assert tuple(from_file.families) == V2_FAMILIES + tuple(
        n for n in from_file.families if n in CHEAP_END)
    assert set(from_file.families) == set(V2_FAMILIES) | CHEAP_END
    # its resolved TOML loads back with the same families and list prices
    again = scenario_from_dict(tomllib.loads(from_file.to_toml()))
    assert again.families == from_file.families
    table = FamilyTable.from_scenario(from_file)
    i = list(from_file.families).index("glm_4_flash")
    assert table.live(dt.date(2024, 6, 5))[i] and not table.live(dt.date(2024, 6, 4))[i]


def test_the_market_version_override_adds_and_drops_the_cheap_end(tmp_path):
    path = tmp_path / "v3.toml"
    path.write_text('base = "baseline"\n\n[market]\nversion = 3\n')
    from_file = load_scenario(path)
    raised = load_scenario("baseline").with_overrides(market_version=3)
    assert tuple(raised.families) == tuple(from_file.families)
    assert raised.families == from_file.families
    assert raised.sources["families.mistral_7b.scores.mmlu"] == from_file.sources[
        "families.mistral_7b.scores.mmlu"]
    lowered = raised.with_overrides(market_version=2)
    assert tuple(lowered.families) == V2_FAMILIES
    assert not [p for p in lowered.sources if p.split(".")[:2][-1] in CHEAP_END]
    assert tuple(lowered.with_overrides(market_version=3).families) == tuple(raised.families)


# ------------------------------------------------------------------------------------------------
# sources, tiers, dates
# ------------------------------------------------------------------------------------------------
def test_every_cheap_end_value_has_a_source(v3):
    for name, family in cheap_end(v3).items():
        keys = list(SOURCED) + [f"scores.{b}" for b in family.scores]
        keys += ["retire_date"] if family.retire_date is not None else []
        for key in keys:
            source = v3.sources.get(f"families.{name}.{key}", "")
            assert re.search(r"docs/calibration\.md C1[2-5]", source), (name, key, source)
        if family.weights == "closed":
            for key in ("total_params_b", "active_params_b", "serving_precision_bits"):
                source = v3.sources[f"families.{name}.{key}"]
                assert "est." in source and re.search(r"\d+-\d+", source), (name, key, source)
        for price in family.list_prices:
            assert "docs/calibration.md C12" in price.source, (name, price)
    for path, source in v3.sources.items():
        assert not re.search(r"\b(CAL|DESIGN)\b|/work/|research pack", source), (path, source)


def test_cheap_end_tiers_are_the_highest_rung_their_own_scores_reach(v3):
    for name, family in cheap_end(v3).items():
        if not family.scores:
            continue
        reached = [tier for tier, t in v3.tiers.items()
                   if t.benchmark in family.scores and family.scores[t.benchmark] >= t.threshold]
        assert reached and reached[-1] == family.tier, name


def test_cheap_end_tiers_sit_at_or_below_gpt4o_mini_class(v3):
    # GPT-3- and GPT-3.5-class (gpt_4o_mini is in gpt35_mmlu): the cheap end, not the frontier
    assert {f.tier for f in cheap_end(v3).values()} <= {"gpt3_mmlu", "gpt35_mmlu"}


def test_list_price_histories_are_in_date_order_from_release(v3):
    with_history = 0
    for name, family in v3.families.items():
        dates = [p.date for p in family.list_prices]
        assert dates == sorted(set(dates)), name
        assert not dates or dates[0] >= family.release_date, name
        with_history += bool(dates)
    assert with_history >= 12


def test_the_may_2024_china_cuts_are_in_the_histories(v3):
    def price_on(name, date):
        return [(p.input_usd_per_mtok, p.output_usd_per_mtok)
                for p in v3.families[name].list_prices if p.date == date]
    assert price_on("ernie_speed", dt.date(2024, 5, 21)) == [(0.0, 0.0)]
    assert price_on("ernie_lite", dt.date(2024, 5, 21)) == [(0.0, 0.0)]
    # CNY 0.5 input at 7.2 CNY/USD; GLM-3-Turbo CNY 5 -> 1
    assert price_on("qwen_long", dt.date(2024, 5, 21))[0][0] == pytest.approx(0.5 / 7.2, abs=1e-4)
    assert price_on("glm_3_turbo", dt.date(2024, 5, 11))[0][0] == pytest.approx(1 / 7.2, abs=1e-4)


def _broken(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    path = folder / "families.toml"
    data = tomllib.loads(path.read_text())
    edit(data)
    path.write_text(tomli_w.dumps(data))
    return folder


def test_a_list_price_history_out_of_order_or_before_release_is_refused(tmp_path):
    def swap(d):
        prices = d["families"]["qwen_turbo"]["list_prices"]
        prices[0], prices[1] = prices[1], prices[0]
    with pytest.raises(ScenarioError) as info:
        load_catalogue(_broken(tmp_path, swap))
    assert info.value.key_path == "families.qwen_turbo.list_prices"

    def early(d):
        d["families"]["qwen_long"]["list_prices"][0]["date"] = dt.date(2024, 1, 1)
    with pytest.raises(ScenarioError) as info:
        load_catalogue(_broken(tmp_path / "b", early))
    assert info.value.key_path == "families.qwen_long.list_prices[0].date"


def test_a_family_without_an_output_multiplier_or_below_one_is_refused(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_catalogue(_broken(tmp_path, lambda d: d["families"]["o1"].pop(
            "output_tokens_multiplier")))
    assert info.value.key_path == "families.o1.output_tokens_multiplier"

    def below(d):
        d["families"]["o1"]["output_tokens_multiplier"]["value"] = 0.5
    with pytest.raises(ScenarioError) as info:
        load_catalogue(_broken(tmp_path / "b", below))
    assert info.value.key_path == "families.o1.output_tokens_multiplier"


# ------------------------------------------------------------------------------------------------
# token units: r_j, k_f, api_sold_share, the blended price
# ------------------------------------------------------------------------------------------------
def test_every_sector_family_and_owner_carries_its_token_unit(v3):
    scenario = load_scenario("baseline")
    r = sector_input_per_output(scenario)
    assert r.shape == (len(scenario.sectors),) and np.all(r > 0)
    for name in scenario.sectors:
        assert scenario.sources[f"sectors.{name}.input_tokens_per_output_token"]
    k = family_output_multiplier(v3)
    assert k.shape == (len(v3.families),) and np.all(k >= 1.0)
    reasoning = {"deepseek_r1", "o1", "gpt_oss", "gpt_5", "gemini_2_5_pro"}
    for name, family in v3.families.items():
        assert v3.sources[f"families.{name}.output_tokens_multiplier"]
        assert (family.output_tokens_multiplier > 1.0) == (name in reasoning | {
            "qwen3", "gemini_2_5_flash", "deepseek_v3_1", "deepseek_v3_2", "glm_4_5", "claude_4",
            "kimi_k2"}), name
    share = owner_api_sold_share(v3)
    assert share.shape == (len(v3.owners),) and np.all((share >= 0) & (share <= 1))
    for name in v3.owners:
        assert "est." in v3.sources[f"owners.{name}.api_sold_share"]
    table = FamilyTable.from_scenario(scenario)
    np.testing.assert_array_equal(table.output_tokens_multiplier,
                                  family_output_multiplier(scenario.catalogue))


def test_the_blended_price_by_hand():
    # Gemini 1.5 Flash-8B at 3 input : 1 output: (3 x 0.0375 + 0.15) / 4 = 0.065625 USD/Mtok
    assert blended(3.0, 0.0375, 0.15) == pytest.approx(0.065625)
    # GPT-4o mini on a coding mix (r = 15): (15 x 0.15 + 0.60) / 16 = 0.178125
    assert blended(15.0, 0.15, 0.60) == pytest.approx(0.178125)
    # all output (r = 0) is the output price; a cost blends prefill and decode the same way
    assert blended(0.0, 1.0, 4.0) == pytest.approx(4.0)
    assert blended(1.0, 0.1, 0.3) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="input_per_output"):
        blended(-1.0, 1.0, 1.0)


def test_the_mix_divides_a_sectors_ratio_by_the_familys_multiplier():
    # r_jf = r_j / k_f: chat (3) and coding (15) on a plain family (1) and a reasoner (5)
    np.testing.assert_allclose(mix_input_per_output([3.0, 15.0], [1.0, 5.0]),
                               [[3.0, 0.6], [15.0, 3.0]])
    with pytest.raises(ValueError, match="family_output_multiplier"):
        mix_input_per_output([3.0], [0.5])
    scenario = load_scenario("baseline")
    mix = scenario_mix_input_per_output(scenario)
    assert mix.shape == (len(scenario.sectors), len(scenario.families))
    coding, o1 = list(scenario.sectors).index("coding"), list(scenario.families).index("o1")
    assert mix[coding, o1] == pytest.approx(
        scenario.sectors["coding"].input_tokens_per_output_token
        / scenario.families["o1"].output_tokens_multiplier)


@given(r=st.floats(0.0, 1e4), p_in=st.floats(0.0, 1e3), p_out=st.floats(0.0, 1e3))
def test_the_blended_price_lies_between_the_input_and_output_prices(r, p_in, p_out):
    p = float(blended(r, p_in, p_out))
    assert min(p_in, p_out) * (1 - 1e-12) <= p <= max(p_in, p_out) * (1 + 1e-12)


@given(r=st.floats(0.0, 1e4), k=st.floats(1.0, 1e3), p_in=st.floats(0.0, 1e3),
       p_out=st.floats(0.0, 1e3))
def test_a_reasoner_weighs_output_more(r, k, p_in, p_out):
    # a more verbose family (k > 1) has fewer input tokens per output token: its blended price
    # moves toward the output price
    plain, verbose = float(blended(r, p_in, p_out)), float(blended(r / k, p_in, p_out))
    assert abs(verbose - p_out) <= abs(plain - p_out) + 1e-9 * (1 + p_in + p_out)


# ------------------------------------------------------------------------------------------------
# observed list prices
# ------------------------------------------------------------------------------------------------
def test_the_list_prices_table_parses_and_names_catalogue_families(v3, observed):
    assert len(observed) >= 50
    assert all(row.family in v3.families for row in observed)
    assert all(row.owner == v3.families[row.family].owner for row in observed)
    dates = [row.date for row in observed]
    assert dates == sorted(dates)
    assert {row.family for row in observed} >= CHEAP_END - {"qwen2_5_7b"}
    assert sum(row.cached_input_usd_per_mtok is not None for row in observed) >= 3


def test_each_familys_history_is_in_the_observed_table(v3, observed):
    rows = {(r.date, r.family, r.input_usd_per_mtok, r.output_usd_per_mtok) for r in observed}
    for name, family in v3.families.items():
        for price in family.list_prices:
            assert (price.date, name, price.input_usd_per_mtok,
                    price.output_usd_per_mtok) in rows, (name, price.date)


def test_the_cheapest_gpt35_level_price_in_october_2024(v3, observed):
    # the AI Index 2025 figure (0.07 USD/Mtok, Oct 2024) is Gemini 1.5 Flash-8B at 3:1; among
    # families with their own MMLU >= 68 (Epoch's GPT-3.5 threshold) ours is the same model
    oct_2024 = dt.date(2024, 10, 31)
    current = {}
    for row in observed:
        if row.date <= oct_2024:
            current[(row.family, row.host)] = row
    scored = [(float(blended(3.0, r.input_usd_per_mtok, r.output_usd_per_mtok)), r.family)
              for r in current.values() if v3.families[r.family].scores.get("mmlu", 0) >= 68.0]
    price, family = min(scored)
    assert family == "gemini_1_5_flash_8b" and price == pytest.approx(0.065625)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "list_prices.csv"
    path.write_text("\n".join([",".join(COLUMNS), *lines]) + "\n")
    return path


GOOD = "2024-10-03,google,gemini_1_5_flash_8b,google,0.0375,0.15,,Google list price"


@pytest.mark.parametrize("line, key_path", [
    ("2024-13-03,google,gemini_1_5_flash_8b,google,0.0375,0.15,,x", "row 2.date"),
    ("2024-10-04,google,gemini_1_5_flash_8b,google,-1,0.15,,x", "row 2.input_usd_per_mtok"),
    ("2024-10-04,google,gemini_1_5_flash_8b,google,0.0375,cheap,,x", "row 2.output_usd_per_mtok"),
    ("2024-10-04,google,gemini_1_5_flash_8b,google,0.0375,0.15,0.5,x",
     "row 2.cached_input_usd_per_mtok"),
    ("2024-10-04,google,gemini_1_5_flash_8b,google,0.0375,0.15,,", "row 2.source"),
    ("2024-10-04,google,gemini_9,google,0.0375,0.15,,x", "row 2.family"),
    ("2024-10-04,openai,gemini_1_5_flash_8b,google,0.0375,0.15,,x", "row 2.owner"),
    ("2024-10-01,google,gemini_1_5_flash_8b,google,0.0375,0.15,,x", "row 2.date"),
    (GOOD, "row 2"),
])
def test_a_bad_list_price_row_is_named(tmp_path, v3, line, key_path):
    with pytest.raises(ScenarioError) as info:
        load_list_prices(_write(tmp_path, [GOOD, line]), catalogue=v3)
    assert info.value.key_path == key_path
    assert info.value.source.endswith("list_prices.csv")


def test_a_wrong_header_is_refused(tmp_path):
    path = tmp_path / "list_prices.csv"
    path.write_text("date,model,price\n2024-01-01,x,1\n")
    with pytest.raises(ScenarioError) as info:
        load_list_prices(path)
    assert info.value.key_path == "<header>"


def test_the_shipped_table_is_the_default():
    assert list_prices_path().name == "list_prices.csv"
    assert load_list_prices()[0].date <= dt.date(2024, 1, 1)
