"""`pricewar compare A B`: scenarios or run folders, seed-paired differences and bands, files."""

from __future__ import annotations

import pandas as pd
import pytest

from pricewar.cli import main
from pricewar.runs import comparison
from pricewar.runs.runner import model_frame, run_model

SMALL = ["--steps", "4", "--set", "n_consumers=100", "--quiet"]


def _final(scenario: str, seed: int, **overrides) -> pd.Series:
    model = run_model(scenario, steps=4, seed=seed, overrides={"n_consumers": 100, **overrides},
                      progress=False)
    return model_frame(model).iloc[-1]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    assert main(["compare", "baseline", "parity", "--seeds", "1", "2", "--out", str(out),
                 *SMALL]) == 0
    return out


def test_compare_writes_a_table_and_a_figure(compared):
    table = pd.read_csv(compared / "compare.csv", index_col="metric")
    assert {"price_avg", "lerner", "hhi", "share_cn_west", "consumer_surplus"} <= set(table.index)
    assert table.loc["price_avg", "unit"] == "USD/Mtok"
    # issue 27: welfare comparable across runs and refused demand, with their units
    assert table.loc["consumer_surplus_common_ref", "unit"] == "USD/step"
    assert table.loc["refused_total", "unit"] == "Mtok/step"
    assert table.loc["refused_share", "unit"] == "1"
    assert (compared / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (compared / "compare.svg").stat().st_size > 1000


def test_differences_are_paired_by_seed_with_a_min_max_band(compared):
    table = pd.read_csv(compared / "compare.csv", index_col="metric")
    diffs = [_final("parity", s)["price_avg"] - _final("baseline", s)["price_avg"] for s in (1, 2)]
    row = table.loc["price_avg"]
    assert row["B - A"] == pytest.approx(sum(diffs) / 2, rel=1e-9)
    assert row["B - A min"] == pytest.approx(min(diffs), rel=1e-9)
    assert row["B - A max"] == pytest.approx(max(diffs), rel=1e-9)
    assert row["A"] == pytest.approx((_final("baseline", 1)["price_avg"]
                                      + _final("baseline", 2)["price_avg"]) / 2, rel=1e-9)


def test_run_folders_compare_like_the_scenarios_they_ran(tmp_path, compared):
    for scenario in ("baseline", "parity"):
        for seed in (1, 2):
            assert main(["run", scenario, "--seed", str(seed), "--out",
                         str(tmp_path / scenario / f"seed{seed}"), *SMALL]) == 0
    out = tmp_path / "folders"
    assert main(["compare", str(tmp_path / "baseline"), str(tmp_path / "parity"),
                 "--out", str(out), "--quiet"]) == 0
    from_folders = pd.read_csv(out / "compare.csv", index_col="metric")
    from_scenarios = pd.read_csv(compared / "compare.csv", index_col="metric")
    pd.testing.assert_frame_equal(from_folders, from_scenarios)


def test_two_lever_settings_of_one_scenario(tmp_path, capsys):
    assert main(["compare", "baseline", "baseline", "--set-b", "electricity_cn_west=0.2",
                 "--out", str(tmp_path), *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "A: baseline" in printed and "B: baseline (" in printed
    table = pd.read_csv(tmp_path / "compare.csv", index_col="metric")
    assert table.loc["share_cn_west", "B - A"] < 0  # dearer power in the west loses volume
    assert pd.isna(table.loc["price_avg", "B - A min"])  # one seed: no band


def test_identical_sides_differ_by_nothing():
    a = comparison.load_side("parity", seeds=(3,), steps=2, overrides={"n_consumers": 100})
    b = comparison.load_side("parity", seeds=(3,), steps=2, overrides={"n_consumers": 100})
    table = comparison.difference_table(a, b)
    assert (table["B - A"] == 0).all()
    assert table.attrs["step"] == 2


def test_a_folder_without_runs_is_a_one_line_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path), "baseline", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "no model.parquet" in err and err.count("\n") == 1


def test_the_figure_of_a_three_year_comparison_draws_without_warnings(tmp_path):
    """issue 27: `pricewar compare` printed matplotlib's AutoDateLocator UserWarnings for runs of
    the default 156 weekly steps."""
    import warnings

    import numpy as np

    steps = np.arange(157)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * steps, unit="D")

    def side(label, scale):
        frames = {}
        for seed in (1, 2):
            frame = pd.DataFrame({"step": steps, "date": dates})
            for metric in (*comparison.HEADLINE_METRICS, *comparison.FIGURE_METRICS):
                frame[metric] = scale * (1.0 + 0.01 * seed) * (1.0 + steps / 156)
            frames[seed] = frame
        return comparison.Side(label, frames, f"scenario {label}")

    a, b = side("a", 1.0), side("b", 2.0)
    table = comparison.difference_table(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files = comparison.plot_comparison(a, b, table, tmp_path)
    assert all(path.exists() for path in files)
