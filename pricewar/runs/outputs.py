"""Outputs that describe themselves: Parquet metadata of a run and the data dictionary.

Every ``model.parquet`` and ``agents.parquet`` written by ``pricewar run`` (and downloaded from the
browser app) carries

- key-value metadata (:func:`run_metadata`): the resolved scenario as TOML, the seed, the flat
  overrides (JSON), the pricewar version and, when the package runs from a git checkout, the git
  revision (``-dirty`` when tracked files were changed);
- per-column metadata (:func:`parquet_schema`): ``unit`` and ``description`` of every column,
  taken from the reporters' declarations in :mod:`pricewar.model.metrics`.

``docs/outputs.md`` holds the data dictionary generated from the same declarations
(``python -m pricewar.runs.outputs docs/outputs.md`` rewrites it; a test keeps it in sync).
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import pricewar
from pricewar.model import metrics
from pricewar.model.metrics import Declaration
from pricewar.scenario import load_scenario, recorded_overrides
from pricewar.scenario.catalogue import BLOCS
from pricewar.scenario.doc_markers import rewrite_between_markers

BEGIN = "<!-- data-dictionary:begin -->"
END = "<!-- data-dictionary:end -->"
#: prefix of pricewar's keys in the Parquet key-value metadata
KEY_PREFIX = "pricewar."

#: columns of model.parquet besides the model reporters
MODEL_FRAME_COLUMNS: dict[str, Declaration] = {
    "step": Declaration("step", "steps since the start (0 = the initial state, before any step)"),
    "date": Declaration("date", "calendar date of the step: start_date + step x step_days"),
}
#: columns of agents.parquet besides the agent reporters
AGENT_FRAME_COLUMNS: dict[str, Declaration] = {
    "step": Declaration("step", "steps since the start (0 = the initial state)"),
    "agent_id": Declaration("id", "the agent's Mesa unique_id (stable over the run)"),
    "agent_type": Declaration("-", "producer or platform"),
    "region": Declaration("-", "the agent's region (kept after a producer exits)"),
    "group": Declaration("-", "the agent's producer or platform group in the scenario"),
}


# ------------------------------------------------------------------------------------------------
# metadata
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The commit of the git checkout pricewar runs from (``<sha>-dirty`` with changed tracked
    files), or None when it is installed elsewhere or git is unavailable."""
    root = Path(pricewar.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        run = functools.partial(subprocess.run, cwd=root, capture_output=True, text=True,
                                timeout=10, check=True)
        revision = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        changed = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}-dirty" if changed else revision


def run_metadata(model, seed: int | None, overrides: Mapping | None = None,
                 scenario_file: str | Path | None = None) -> dict[str, str]:
    """Key-value metadata of a run of ``model`` (a PriceWarModel): ``pricewar.scenario`` (name),
    ``pricewar.scenario_toml`` (the resolved scenario), ``pricewar.seed``, ``pricewar.overrides``
    (JSON object), ``pricewar.steps``, ``pricewar.version``, ``pricewar.git_revision`` (only
    when known) and ``pricewar.scenario_file`` (only for a run read from ``scenario_file``, a
    TOML file).

    A run read from a file keeps the overrides that file records (a replay of a run's resolved
    scenario.toml: the original run's overrides, except ``steps``), with ``overrides`` on top.
    """
    overrides = dict(overrides or {})
    if scenario_file is not None:
        recorded = recorded_overrides(load_scenario(scenario_file))
        recorded.pop("steps", None)  # the run's length is pricewar.steps
        overrides = {**recorded, **overrides}
    out = {
        "scenario": model.scenario.name,
        "scenario_toml": model.scenario.to_toml(),
        "seed": json.dumps(seed),
        "overrides": json.dumps(overrides, sort_keys=True),
        "steps": str(model.steps),
        "version": pricewar.__version__,
    }
    revision = git_revision()
    if revision is not None:
        out["git_revision"] = revision
    if scenario_file is not None:
        out["scenario_file"] = str(scenario_file)
    return {KEY_PREFIX + key: value for key, value in out.items()}


def column_declarations(columns, producer_regions=None,
                        declared: Mapping[str, Declaration] | None = None
                        ) -> dict[str, Declaration]:
    """Unit and description of each known column of a model or agents frame; ``declared``
    adds or overrides declarations (a collector's ``declarations`` with a user's reporters).
    Columns nobody declared are left out."""
    agent = {**metrics.PRODUCER_REPORTER_DECLARATIONS, **metrics.PLATFORM_REPORTER_DECLARATIONS}
    agent_frame = "agent_id" in columns
    out = {}
    for column in columns:
        if declared and column in declared:
            out[column] = declared[column]
        elif agent_frame:
            if column in AGENT_FRAME_COLUMNS:
                out[column] = AGENT_FRAME_COLUMNS[column]
            elif column == "quantity":  # producers serve, platforms route: same unit
                out[column] = Declaration("Mtok/step", "tokens served (producer) or routed "
                                          "(platform)")
            elif column in agent:
                out[column] = agent[column]
        elif column in MODEL_FRAME_COLUMNS:
            out[column] = MODEL_FRAME_COLUMNS[column]
        else:
            with contextlib.suppress(KeyError):  # not a declared metric (e.g. a user's)
                out[column] = metrics.metric_declaration(column, producer_regions)
    return out


def parquet_schema(frame: pd.DataFrame, metadata: Mapping[str, str], producer_regions=None,
                   declared: Mapping[str, Declaration] | None = None) -> pa.Schema:
    """The Arrow schema pandas would write for ``frame``, with ``metadata`` added to the schema
    and each known column's ``unit`` and ``description`` to its field (pass it as
    ``frame.to_parquet(path, index=False, schema=...)``: the data written are unchanged)."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    known = column_declarations(frame.columns, producer_regions, declared)
    fields = [field.with_metadata({"unit": known[field.name].unit,
                                   "description": known[field.name].meaning})
              if field.name in known else field for field in schema]
    return pa.schema(fields, metadata={**(schema.metadata or {}),
                                       **{k.encode(): v.encode() for k, v in metadata.items()}})


def write_parquet(frame: pd.DataFrame, path, metadata: Mapping[str, str], producer_regions=None,
                  declared: Mapping[str, Declaration] | None = None) -> None:
    """Write ``frame`` (no index) to ``path`` with :func:`parquet_schema`'s metadata."""
    frame.to_parquet(path, index=False,
                     schema=parquet_schema(frame, metadata, producer_regions, declared))


def read_metadata(path) -> dict[str, str]:
    """pricewar's key-value metadata of a Parquet file (keys without the ``pricewar.`` prefix;
    empty for a file written without it)."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode()[len(KEY_PREFIX):]: v.decode() for k, v in raw.items()
            if k.decode().startswith(KEY_PREFIX)}


def read_units(path) -> dict[str, str]:
    """Column -> unit recorded in a Parquet file written with :func:`parquet_schema`."""
    schema = pq.read_schema(path)
    return {f.name: f.metadata[b"unit"].decode() for f in schema
            if f.metadata and b"unit" in f.metadata}


# ------------------------------------------------------------------------------------------------
# data dictionary (docs/outputs.md)
# ------------------------------------------------------------------------------------------------
def _rows(declarations: Mapping[str, Declaration], template: str = "{}") -> list[str]:
    return [f"| `{template.format(name)}` | {d.unit} | {d.meaning.replace('|', '/')} |"
            for name, d in declarations.items()]


def data_dictionary() -> str:
    """The data dictionary of model.parquet and agents.parquet as Markdown tables."""
    header = ["| column | unit | meaning |", "|---|---|---|"]
    regions = ", ".join(f"`{r}`" for r in metrics.PRODUCER_REGIONS)
    agent = {**AGENT_FRAME_COLUMNS,
             **{f"{k} (producer)": v for k, v in metrics.PRODUCER_REPORTER_DECLARATIONS.items()},
             **{f"{k} (platform)": v for k, v in metrics.PLATFORM_REPORTER_DECLARATIONS.items()}}
    lines = ["### model.parquet: one row per step", "", *header,
             *_rows(MODEL_FRAME_COLUMNS), *_rows(metrics.AGGREGATE_REPORTERS),
             *_rows(metrics.REGION_REPORTERS, "{}_<region>"), *_rows(metrics.TIER_REPORTERS),
             *_rows(metrics.REGION_COST_REPORTERS, "{}_<region>"),
             *_rows(metrics.BLOC_REPORTERS, "{}_<bloc>"), *_rows(metrics.CHIP_BLOC_REPORTERS),
             "",
             f"`<region>` is each region that hosts producers ({regions} in the shipped "
             "data); `<tier>` each capability tier of the families "
             f"({', '.join(f'`{t}`' for t in metrics.SHIPPED_TIERS)} in the shipped data); "
             f"`<bloc>` each bloc with rental markets ({', '.join(f'`{b}`' for b in BLOCS)}); "
             f"`<chip>` each chip ({', '.join(f'`{c}`' for c in metrics.SHIPPED_CHIPS)} in the "
             "shipped data).", "",
             "### agents.parquet: one row per step and producer or platform", "", *header,
             *_rows(agent), "",
             "Producer-only columns are empty on platform rows and the other way round "
             "(`quantity` is shared)."]
    return "\n".join(lines)


def update_document(path: Path) -> bool:
    """Rewrite the dictionary between the markers of ``path``; True if the file changed."""
    return rewrite_between_markers(path, BEGIN, END, data_dictionary())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/outputs.md")
    print("updated" if update_document(target) else "up to date", target)
