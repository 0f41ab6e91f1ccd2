"""Documentation stays true: the ODD parameter table matches the data; README commands exist."""

import re
from pathlib import Path

from pricewar.scenario.parameter_table import BEGIN, END, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_odd_parameter_table_matches_calibration_data():
    text = (ROOT / "docs" / "ODD.md").read_text()
    table = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.S).group(1)
    assert table == markdown_table(), "run: python -m pricewar.scenario.parameter_table docs/ODD.md"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()
