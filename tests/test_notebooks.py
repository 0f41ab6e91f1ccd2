"""experiments/notebooks: committed without outputs, and each executes top to bottom with papermill
(as a user would run it with other parameters) with its small CI parameters, writing its sweep
into a temporary directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
NOTEBOOKS = sorted((Path(__file__).parent.parent / "experiments" / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 240


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_energy_gap_sweep.ipynb", "02_sensitivity.ipynb",
                                          "03_export_controls_vs_power.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_a_parameters_cell_and_defines_no_model_code(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "OUT_ROOT" in tagged[0].source
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "from pricewar" in code
    assert "class " not in code and "PriceWarModel(" not in code


@pytest.mark.integration
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")  # pip install 'pricewar[notebooks]'

    # papermill injects the parameters after the tagged cell: write the sweep into the test's
    # directory; figures render without a display
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters={"OUT_ROOT": str(tmp_path / "sweeps")},
        kernel_name="python3", cwd=str(tmp_path), progress_bar=False,
        execution_timeout=CELL_TIMEOUT_S)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # every printed sweep status: "N runs, D done (K ok, F failed), R remaining"
    statuses = re.findall(r"(\d+) runs, \d+ done \(\d+ ok, (\d+) failed\), (\d+) remaining", text)
    assert statuses, text
    assert all(failed == "0" and remaining == "0" for _, failed, remaining in statuses), text
    assert list((tmp_path / "sweeps").glob("*/manifest.json"))
