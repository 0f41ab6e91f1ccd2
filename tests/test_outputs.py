"""Outputs describe themselves: Parquet metadata and units, the data dictionary in docs/outputs.md,
the run summary, the default output folder, Mesa's agent frame with type and region."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import pricewar
from pricewar.cli import main
from pricewar.model import PriceWarModel
from pricewar.model.metrics import (
    PLATFORM_REPORTERS,
    PRODUCER_REGIONS,
    PRODUCER_REPORTERS,
    SHIPPED_CHIPS,
    SHIPPED_TIERS,
    metric_declaration,
    metric_names,
)
from pricewar.runs import outputs
from pricewar.runs.runner import agents_frame, model_frame, run_model, summary_table
from pricewar.scenario import load_scenario
from pricewar.scenario.catalogue import BLOCS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "outputs.md"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["run", "parity", "--steps", "4", "--seed", "3", "--set", "n_consumers=150",
                 "--set", "electricity_us=0.09", "--out", str(out), "--quiet"]) == 0
    return out


# ------------------------------------------------------------------------------------------------
# data dictionary
# ------------------------------------------------------------------------------------------------
def test_data_dictionary_matches_the_reporters_declarations():
    text = DOC.read_text()
    block = re.search(re.escape(outputs.BEGIN) + r"\n(.*?)\n" + re.escape(outputs.END), text,
                      re.S).group(1)
    assert block == outputs.data_dictionary(), \
        "run: python -m pricewar.runs.outputs docs/outputs.md"


def _dictionary_units() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]*) \|", DOC.read_text(), re.M)
    return {name: unit.strip() for name, unit in rows}


def test_every_reporter_is_in_the_data_dictionary_with_a_unit():
    units = _dictionary_units()
    regions = ("cn_west", "cn_east", "us", "eu")
    tiers = SHIPPED_TIERS
    chip_bloc = {f"_{c}_{b}": "_<chip>_<bloc>" for c in SHIPPED_CHIPS for b in BLOCS}
    for name in metric_names(regions):
        key = next((k for k in (name, *[name.replace(f"_{r}", "_<region>") for r in regions],
                                *[name.replace(f"_{t}", "_<tier>") for t in tiers],
                                *[name.replace(f"_{b}", "_<bloc>") for b in BLOCS],
                                *[name.replace(a, b) for a, b in chip_bloc.items()])
                    if k in units), None)
        assert key is not None, f"{name} missing from docs/outputs.md"
        assert units[key], f"{name} has no unit"
    for name in PRODUCER_REPORTERS:
        assert units.get(f"{name} (producer)"), name
    for name in PLATFORM_REPORTERS:
        assert units.get(f"{name} (platform)"), name


def test_every_column_of_a_run_is_declared():
    model = run_model("baseline", steps=1, overrides={"n_consumers": 100}, progress=False)
    for frame in (model_frame(model), agents_frame(model)):
        declared = outputs.column_declarations(frame.columns)
        assert set(declared) == set(frame.columns)
        assert all(d.unit and d.meaning for d in declared.values())


def _documented_columns(text: str) -> dict[str, set[str]]:
    """Columns docs/outputs.md documents, by file: the data dictionary's rows (``<region>`` and
    ``<tier>`` expanded to the shipped ones, ``name (producer)`` -> ``name``), the column each
    bullet of "How the indices are weighted" explains and the welfare table's columns."""
    block = text[text.index(outputs.BEGIN):text.index(outputs.END)]
    model_part, agents_part = block.split("### agents.parquet")
    expand = {"<region>": PRODUCER_REGIONS, "<tier>": SHIPPED_TIERS, "<chip>": SHIPPED_CHIPS,
              "<bloc>": BLOCS}

    def names(part):
        out = set()
        for name in re.findall(r"^\| `([^`]+)` \|", part, re.M):
            expanded = {re.sub(r" \((producer|platform)\)$", "", name)}
            for template, values in expand.items():  # every template of a name, in turn
                expanded = {n.replace(template, v) for n in expanded for v in values}
            out |= expanded
        return out

    prose = text[text.index(outputs.END):]
    weighted = prose[prose.index("## How the indices"):]
    weighted = weighted[:weighted.index("\n## ")] if "\n## " in weighted else weighted
    explained = set(re.findall(r"^- `([a-z_]+)`", weighted, re.M))
    welfare = prose[prose.index("## Welfare"):] if "## Welfare" in prose else ""
    explained |= set(re.findall(r"^\| `([a-z_]+)` \|", welfare, re.M))
    return {"model": names(model_part) | explained, "agents": names(agents_part)}


def test_every_documented_column_is_in_a_runs_files_and_every_column_is_documented(run_dir):
    """issue 27: docs/outputs.md explained an ``efficiency`` column no file has."""
    documented = _documented_columns(DOC.read_text())
    for kind in ("model", "agents"):
        columns = set(pd.read_parquet(run_dir / f"{kind}.parquet").columns)
        assert documented[kind] - columns == set(), f"{kind}.parquet lacks documented columns"
        assert columns - documented[kind] == set(), f"{kind}.parquet has undocumented columns"


def test_an_undeclared_reporter_fails_the_declaration_lookup():
    with pytest.raises(KeyError):
        metric_declaration("price_mars")
    assert metric_declaration("price_us").unit == "USD/Mtok"


# ------------------------------------------------------------------------------------------------
# Parquet metadata
# ------------------------------------------------------------------------------------------------
def test_run_outputs_carry_scenario_seed_overrides_and_version(run_dir):
    for name in ("model.parquet", "agents.parquet"):
        meta = outputs.read_metadata(run_dir / name)
        assert meta["scenario"] == "parity"
        assert json.loads(meta["seed"]) == 3
        assert json.loads(meta["overrides"]) == {"n_consumers": 150, "electricity_us": 0.09}
        assert meta["version"] == pricewar.__version__
        assert meta["steps"] == "4"
        embedded = run_dir / f"{name}.toml"
        embedded.write_text(meta["scenario_toml"])
        assert load_scenario(embedded) == load_scenario(run_dir / "scenario.toml")
        assert load_scenario(embedded).regions["us"].electricity_usd_per_kwh == 0.09


def test_a_replay_keeps_the_original_runs_scenario_and_overrides_and_names_its_source(
        run_dir, tmp_path):
    """issue 27: a replay from a run's scenario.toml said overrides {}."""
    source = run_dir / "scenario.toml"
    replay = tmp_path / "replay"
    assert main(["run", str(source), "--seed", "3", "--out", str(replay), "--quiet"]) == 0
    original = outputs.read_metadata(run_dir / "model.parquet")
    for name in ("model.parquet", "agents.parquet"):
        meta = outputs.read_metadata(replay / name)
        assert meta["scenario"] == "parity"
        assert json.loads(meta["overrides"]) == json.loads(original["overrides"]) == {
            "n_consumers": 150, "electricity_us": 0.09}
        assert meta["scenario_file"] == str(source)
        assert "scenario_file" not in original
    pd.testing.assert_frame_equal(pd.read_parquet(replay / "model.parquet"),
                                  pd.read_parquet(run_dir / "model.parquet"))
    # a replay's own --set goes on top of the recorded overrides
    other = tmp_path / "other"
    assert main(["run", str(source), "--seed", "3", "--steps", "1", "--set",
                 "electricity_us=0.1", "--out", str(other), "--quiet"]) == 0
    assert json.loads(outputs.read_metadata(other / "model.parquet")["overrides"]) == {
        "n_consumers": 150, "electricity_us": 0.1}


def test_every_column_has_a_unit_and_a_description(run_dir):
    for name in ("model.parquet", "agents.parquet"):
        schema = pq.read_schema(run_dir / name)
        for field in schema:
            assert field.metadata and field.metadata[b"unit"], (name, field.name)
            assert field.metadata[b"description"], (name, field.name)
    units = outputs.read_units(run_dir / "model.parquet")
    assert units["price_avg"] == "USD/Mtok" and units["served_total"] == "Mtok/step"
    assert units["share_cn_west"] == "1"


def test_metadata_leaves_the_data_as_pandas_writes_them(run_dir, tmp_path):
    frame = pd.read_parquet(run_dir / "model.parquet")
    frame.to_parquet(tmp_path / "plain.parquet", index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "plain.parquet"), frame)
    assert outputs.read_metadata(tmp_path / "plain.parquet") == {}


def test_git_revision_is_the_checkouts_head():
    revision = outputs.git_revision()
    if revision is None:
        pytest.skip("pricewar does not run from a git checkout")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert revision.removesuffix("-dirty") == head


# ------------------------------------------------------------------------------------------------
# summary and default folder
# ------------------------------------------------------------------------------------------------
def test_summary_has_units_and_no_nan_for_zero_over_zero():
    frame = pd.DataFrame({"step": [0, 5], "price_avg": [2.0, 1.0], "refused_total": [0.0, 0.0],
                          "served_total": [0.0, 3.0]})
    for column in ("price_cn_west", "price_cn_east", "price_us", "price_eu", "share_cn_west",
                   "share_cn_east", "share_us", "share_eu", "refused_share", "lerner", "hhi"):
        frame[column] = [1.0, 1.0]
    table = summary_table(frame)
    assert table.loc["price_avg", "unit"] == "USD/Mtok"
    assert table.loc["price_avg", "last/first"] == 0.5
    assert table.loc["refused_total", "last/first"] == 1.0
    assert pd.isna(table.loc["served_total", "last/first"])  # 0 -> 3: no finite ratio


def test_run_prints_units_and_no_nan_and_defaults_its_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "baseline", "--steps", "2", "--seed", "7", "--set", "n_consumers=100",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "NaN" not in printed and "nan" not in printed
    assert re.search(r"^price_avg\s+USD/Mtok", printed, re.M)
    # v2: re-choice refuses some demand by step 2, so the ratio of 0 -> x is "-"
    assert re.search(r"^refused_total\s+Mtok/step\s+0\s+\S+\s+-$", printed, re.M)
    assert re.search(r"^refused_share\s+1\s+0\s+\S+\s+-$", printed, re.M)
    assert (tmp_path / "runs" / "baseline-seed7" / "model.parquet").exists()
    assert "runs/baseline-seed7/model.parquet" in printed


# ------------------------------------------------------------------------------------------------
# Mesa's agent frame
# ------------------------------------------------------------------------------------------------
def test_mesa_agent_frame_has_type_region_and_group_also_after_exits():
    model = PriceWarModel("baseline", seed=1, n_consumers=250, producer_strategy="q_learning")
    for _ in range(40):
        model.step()
    assert model.exits_total > 0
    frame = model.datacollector.get_agent_vars_dataframe()
    assert frame.index.names == ["Step", "AgentID"]
    assert list(frame.columns[:3]) == ["agent_type", "region", "group"]
    assert set(frame["agent_type"]) == {"producer", "platform"}
    assert frame["region"].notna().all() and frame["group"].notna().all()
    at_start = frame.xs(0, level="Step")
    producers = at_start[at_start["agent_type"] == "producer"]
    hosts = sum(g.count for g in model.scenario.producers.values())  # 32 in v2's baseline
    assert len(producers) == hosts and producers["price"].notna().all()
    assert producers["markup"].isna().all()
    assert len(frame.xs(40, level="Step").query("agent_type == 'producer'")) == \
        len(model.producers)
