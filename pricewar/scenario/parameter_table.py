"""The parameter table of docs/ODD.md, generated from the scenario's calibration data.

``python -m pricewar.scenario.parameter_table`` rewrites the table between the markers in
docs/ODD.md; a test checks that the committed table matches the data, so documentation and
defaults cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pricewar.scenario import load_scenario
from pricewar.scenario.doc_markers import rewrite_between_markers

BEGIN = "<!-- parameter-table:begin -->"
END = "<!-- parameter-table:end -->"


def _unit(key: str) -> str:
    units = {"usd_per_kwh": "USD/kWh", "mwh_per_step": "MWh/step", "usd_per_w": "USD/W",
             "kg_per_kwh": "kg CO2/kWh", "_mw": "MW", "per_year": "1/year", "usd": "USD",
             "power_w": "W", "per_s_per_gpu": "tokens/s/GPU", "j_per_token": "J/token",
             "_ms": "ms", "utils_per_ms": "utils/ms", "utils": "utils", "per_step": "1/step",
             "mtok_per_step": "Mtok/step", "years": "years", "weeks": "weeks", "steps": "steps",
             "gpus": "GPUs", "usd_per_mtok": "USD/Mtok"}
    for suffix, unit in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if key.endswith(suffix):
            return unit
    return "1"


def parameter_rows(scenario_name: str = "baseline") -> list[tuple[str, str, str, str]]:
    """(key path, value, unit, source) for every sourced number of the scenario."""
    scenario = load_scenario(scenario_name)
    data = scenario.to_dict()
    rows = []

    def walk(node, path):
        if isinstance(node, dict) and set(node) == {"value", "source"}:
            rows.append((path, f"{node['value']:g}", _unit(path.split(".")[-1]), node["source"]))
        elif isinstance(node, dict):
            for key, value in node.items():
                if key != "sources":
                    walk(value, f"{path}.{key}" if path else key)

    walk(data, "")
    return rows


def markdown_table(scenario_name: str = "baseline") -> str:
    lines = ["| parameter | value | unit | source |", "|---|---|---|---|"]
    for path, value, unit, source in parameter_rows(scenario_name):
        lines.append(f"| `{path}` | {value} | {unit} | {source.replace('|', '/')} |")
    return "\n".join(lines)


def update_document(path: Path) -> bool:
    """Rewrite the table between the markers; returns True if the file changed."""
    return rewrite_between_markers(path, BEGIN, END, markdown_table())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/ODD.md")
    print("updated" if update_document(target) else "up to date", target)
