"""Posterior draws: the draws file beside a scenario, its checks, and runs over draws x seeds
(``pricewar compare --draws``, ``pricewar figures --draws``) paired on common draws and seeds.

Every draws file here is synthetic, made in the test (no shipped scenario ships draws yet)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_OVERRIDES, run_cli, set_flags

from pricewar.errors import ScenarioError
from pricewar.runs import comparison
from pricewar.runs.runner import model_frame, run_model
from pricewar.scenario.draws import (
    DrawsError,
    draws_file,
    load_draws,
    read_draws_file,
    write_draws,
)

TINY = ["--steps", "3", *set_flags(TINY_OVERRIDES), "--quiet"]
#: two draws of two parameters, both inside their bounds and far apart (a draw visibly matters)
DRAWS_CSV = "draw,electricity_cn_west,wacc\n7,0.03,0.08\n3,0.4,0.12\n"


def scenario_with_draws(folder, text: str = DRAWS_CSV, name: str = "x"):
    """``folder/<name>.toml`` (baseline, renamed) with ``text`` as its draws file."""
    toml = folder / f"{name}.toml"
    toml.write_text(f'base = "baseline"\nname = "{name}"\n', encoding="utf-8")
    (folder / f"{name}.draws.csv").write_text(text, encoding="utf-8")
    return toml


# ------------------------------------------------------------------------------------------------
# the file and its checks
# ------------------------------------------------------------------------------------------------
def test_a_scenarios_draws_are_read_in_file_order(tmp_path):
    draws = load_draws(scenario_with_draws(tmp_path))
    assert draws.ids == (7, 3)
    assert draws.overrides == ({"electricity_cn_west": 0.03, "wacc": 0.08},
                               {"electricity_cn_west": 0.4, "wacc": 0.12})
    assert draws.first(1) == [(7, {"electricity_cn_west": 0.03, "wacc": 0.08})]


@pytest.mark.parametrize(("text", "message"), [
    ("draw,foo\n1,2\n", "x.draws.csv: column foo: unknown parameter"),
    ("draw,steps\n1,3\n", "column steps: not a drawn parameter"),
    ("draw,n_consumers\n1,300\n", "column n_consumers: not a drawn parameter"),
    ("wacc\n0.1\n", "no 'draw' column"),
    ("draw,wacc,wacc\n1,0.1,0.1\n", "a column named twice"),
    ("draw,wacc\n", "no draws (a header without rows)"),
    ("draw,wacc\n1,0.1\n1,0.2\n", "row 2: draw = 1: draw id also on row 1"),
    ("draw,wacc\n1.5,0.1\n", "row 1: draw = '1.5': expected a draw id"),
    ("draw,wacc\n1,abc\n", "row 1, column: wacc = 'abc': expected float"),
    ("draw,wacc\n1,\n", "row 1, column: wacc = '': expected float"),
    ("draw,wacc\n1,nan\n", "row 1, column: wacc = 'nan'"),
    # bounds of --set (declared on the parameter) ...
    ("draw,n_producers\n1,5\n2,-3\n", "row 2, column: n_producers = '-3': must be >= 1"),
    # ... and of the scenario field the parameter sets (the scenario's own validator)
    ("draw,electricity_cn_west\n1,0.04\n2,-3\n",
     "row 2 (draw 2), column: electricity_cn_west = -3.0: must be >= 0"),
])
def test_a_bad_draws_file_is_one_line_naming_file_row_and_column(tmp_path, text, message):
    toml = scenario_with_draws(tmp_path, text)
    with pytest.raises(ScenarioError) as raised:
        load_draws(toml)
    assert message in str(raised.value)
    assert str(tmp_path / "x.draws.csv") in str(raised.value)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, DrawsError)


def test_a_scenario_without_draws_says_where_it_looked(tmp_path):
    with pytest.raises(DrawsError, match=r"baseline: draws: no posterior draws \(looked for "
                                         r".*pricewar/data/scenarios/baseline\.draws\.csv"):
        load_draws("baseline")
    lone = tmp_path / "lone.toml"
    lone.write_text('name = "lone"\n', encoding="utf-8")
    with pytest.raises(DrawsError, match="lone.draws.csv"):
        draws_file(lone)


def test_more_draws_asked_for_than_the_file_has(tmp_path):
    with pytest.raises(DrawsError, match="3 draws asked for, the file has 2"):
        load_draws(scenario_with_draws(tmp_path), 3)


def test_two_draws_files_beside_one_scenario_are_refused(tmp_path):
    toml = scenario_with_draws(tmp_path)
    pd.DataFrame({"draw": [1], "wacc": [0.1]}).to_parquet(tmp_path / "x.draws.parquet")
    with pytest.raises(DrawsError, match="two draws files"):
        draws_file(toml)


def test_a_parquet_draws_file_is_checked_like_a_csv(tmp_path):
    path = tmp_path / "x.draws.parquet"
    pd.DataFrame({"draw": [1, 2], "wacc": [0.1, 0.2], "chip_regime": ["historical",
                                                                       "full_ban"]}).to_parquet(path)
    draws = read_draws_file(path)
    assert draws.overrides[1] == {"wacc": 0.2, "chip_regime": "full_ban"}
    pd.DataFrame({"draw": [1, 2], "wacc": [0.1, float("nan")]}).to_parquet(path)
    with pytest.raises(DrawsError, match=r"row 2, column: wacc: empty: every draw sets every column"):
        read_draws_file(path)


def test_a_scenario_based_on_one_with_draws_uses_its_bases_draws(tmp_path):
    scenario_with_draws(tmp_path)
    policy = tmp_path / "policy.toml"
    policy.write_text('base = "x.toml"\nname = "policy"\n[policy]\n', encoding="utf-8")
    assert draws_file(policy) == tmp_path / "x.draws.csv"
    # a scenario that sets a parameter its base's draws vary would have it undone: refused
    handset = tmp_path / "handset.toml"
    handset.write_text('base = "x.toml"\n[regions.cn_west]\nelectricity_usd_per_kwh = 0.05\n',
                       encoding="utf-8")
    with pytest.raises(DrawsError, match="handset.toml: electricity_cn_west: sets a parameter "
                                         "that its base's draws"):
        draws_file(handset)


def test_a_latency_set_in_either_direction_counts_as_setting_the_drawn_pair(tmp_path):
    scenario_with_draws(tmp_path, "draw,hub_latency_ms\n1,30\n")
    child = tmp_path / "child.toml"
    child.write_text('base = "x.toml"\n[latency_ms.cn_east]\ncn_west = 50.0\n',
                     encoding="utf-8")
    with pytest.raises(DrawsError, match="child.toml: hub_latency_ms: sets a parameter"):
        draws_file(child)


def test_written_draws_read_back_exactly(tmp_path):
    values = [{"electricity_cn_west": 0.1 + 1e-17 * k + k / 3, "n_producers": 20 + k}
              for k in range(3)]
    path = write_draws(values, tmp_path / "y.draws.csv")
    draws = read_draws_file(path)
    assert draws.ids == (1, 2, 3)
    assert list(draws.overrides) == values
    with pytest.raises(DrawsError, match="row 1, column: n_producers = 0: must be >= 1"):
        write_draws([{"n_producers": 0}], tmp_path / "z.draws.csv")  # checked before writing
    assert not (tmp_path / "z.draws.csv").exists()
    with pytest.raises(DrawsError, match="ends with .draws.csv"):
        write_draws(values, tmp_path / "y.csv")


def test_a_calibrations_posterior_converts_with_one_call(tmp_path):
    """The documented conversion: ``write_draws(posterior_overrides(...), path)``."""
    from pricewar.calibrate import posterior_overrides

    posterior = pd.DataFrame({"wacc": [0.08, 0.12, 0.5], "electricity_cn_west": [0.03, 0.05, 0.07],
                              "weight": [0.5, 0.5, 0.0], "run_id": ["a", "b", "c"],
                              "distance": [0.1, 0.2, 0.9], "wacc_unadjusted": [0.1, 0.1, 0.1]})
    posterior.to_parquet(tmp_path / "posterior.parquet")
    path = write_draws(posterior_overrides(tmp_path, 20, seed=0), tmp_path / "x.draws.csv")
    draws = read_draws_file(path)
    assert draws.ids == tuple(range(1, 21)) and set(draws.columns) == {"wacc",
                                                                      "electricity_cn_west"}
    rows = {(o["wacc"], o["electricity_cn_west"]) for o in draws.overrides}
    assert rows <= {(0.08, 0.03), (0.12, 0.05)}  # weight 0: never drawn


# ------------------------------------------------------------------------------------------------
# paired differences on common draws and seeds
# ------------------------------------------------------------------------------------------------
def _draw_side(label, value, draws=(1, 2, 3, 4), seeds=(1, 2)):
    steps = np.arange(3)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * steps, unit="D")
    frames = {(d, s): pd.DataFrame({"step": steps, "date": dates,
                                    "price_avg": value(d, s) * (1.0 + steps)})
              for d in draws for s in seeds}
    return comparison.draw_side(label, frames, "synthetic.draws.csv")


def test_the_difference_is_taken_within_each_draw_and_seed():
    """B = A + 0.75 on every (draw, seed) at the last step, A varying 8-fold across draws: the
    paired difference is exactly 0.75 with an interval of zero width. Pairing draws of one side
    with other draws of the other (a shuffle) would spread it over about -40..40."""
    a = _draw_side("a", lambda d, s: 2.0 ** d + s)
    b = _draw_side("b", lambda d, s: 2.0 ** d + s + 0.25)
    pairs = comparison.pair_table(a, b, metrics=["price_avg"])
    assert len(pairs) == 8 and pairs.attrs["step"] == 2
    row = comparison.draw_difference_table(pairs).loc["price_avg"]
    assert row["B - A median"] == row["B - A q05"] == row["B - A q95"] == 0.75
    assert row["pairs"] == 8
    values = np.array([3 * (2.0 ** d + s) for d in (1, 2, 3, 4) for s in (1, 2)])
    assert row["A median"] == pytest.approx(np.median(values))
    assert row["A q05"] == pytest.approx(np.quantile(values, 0.05))
    assert row["A q95"] == pytest.approx(np.quantile(values, 0.95))
    assert row["A q05"] < row["A median"] < row["A q95"]
    relative = 100.0 * 0.75 / values
    assert row["B/A - 1 (%) q05"] == pytest.approx(np.quantile(relative, 0.05))
    assert row["B/A - 1 (%) q95"] == pytest.approx(np.quantile(relative, 0.95))


def test_sides_over_different_draws_are_not_paired():
    a = _draw_side("a", lambda d, s: 1.0)
    b = _draw_side("b", lambda d, s: 1.0, draws=(1, 2, 3, 5))
    with pytest.raises(comparison.PricewarError, match="different \\(draw, seed\\) pairs"):
        comparison.pair_table(a, b)


def test_the_band_over_draws_is_the_median_and_90_percent_interval():
    side = _draw_side("a", lambda d, s: float(d))
    band = comparison.bands(side, "price_avg")
    assert band["mean"].tolist() == pytest.approx([2.5, 5.0, 7.5])  # the median
    assert band["lo"].iloc[0] == pytest.approx(np.quantile([1, 1, 2, 2, 3, 3, 4, 4], 0.05))


def test_draws_with_equal_values_run_once_and_keep_their_ids(tmp_path):
    """A posterior resampled with replacement repeats rows: the sweep runs each distinct run
    once and every draw id gets its run."""
    from pricewar.sweep.draws import run_draws

    frames = run_draws("baseline", [(1, {"wacc": 0.08}), (2, {"wacc": 0.08})], [1],
                       tmp_path / "sweep", steps=2, fixed=TINY_OVERRIDES, progress=False)
    assert sorted(frames) == [(1, 1), (2, 1)]
    pd.testing.assert_frame_equal(frames[(1, 1)], frames[(2, 1)])
    assert len(list((tmp_path / "sweep" / "results").glob("run-*.parquet"))) == 1


# ------------------------------------------------------------------------------------------------
# pricewar compare --draws, end to end
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def same_sides(tmp_path_factory):
    folder = tmp_path_factory.mktemp("draws")
    toml = scenario_with_draws(folder)
    out = folder / "compare"
    from pricewar.cli import main

    assert main(["compare", str(toml), str(toml), "--draws", "2", "--seeds", "1", "2",
                 "--out", str(out), *TINY]) == 0
    return toml, out


def test_identical_sides_differ_by_exactly_nothing_on_every_draw(same_sides):
    _, out = same_sides
    pairs = pd.read_csv(out / "compare_pairs.csv")
    assert set(zip(pairs["draw"], pairs["seed"], strict=True)) == {(7, 1), (7, 2), (3, 1),
                                                                   (3, 2)}
    assert (pairs["B - A"] == 0).all() and (pairs["A"] == pairs["B"]).all()
    table = pd.read_csv(out / "compare.csv", index_col="metric")
    for column in ("B - A median", "B - A q05", "B - A q95"):
        assert (table[column] == 0).all()


def test_the_csv_has_bands_and_the_figure_is_written(same_sides):
    _, out = same_sides
    table = pd.read_csv(out / "compare.csv", index_col="metric")
    for side in ("A", "B", "B - A", "B/A - 1 (%)"):
        for stat in ("median", "q05", "q95"):
            assert f"{side} {stat}" in table.columns
    assert (table["pairs"] == 4).all()
    assert table.loc["price_avg", "unit"] == "USD/Mtok"
    share = table.loc["share_cn_west"]
    assert share["A q05"] < share["A median"] < share["A q95"]  # the draws matter
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "sweep-A" / "manifest.json").exists()


def test_each_pair_is_the_run_of_its_own_draw_and_seed(same_sides):
    """The value stored for (draw 3, seed 2) is a plain run with draw 3's parameters and seed 2
    (not another draw's, as a mix-up of ids and rows would give)."""
    toml, out = same_sides
    pairs = pd.read_csv(out / "compare_pairs.csv").set_index(["metric", "draw", "seed"])
    for draw, values in load_draws(toml).first(2):
        model = run_model(str(toml), steps=3, seed=2, overrides={**values, **TINY_OVERRIDES},
                          progress=False)
        expected = model_frame(model).iloc[-1]["share_cn_west"]
        assert pairs.loc[("share_cn_west", draw, 2), "A"] == pytest.approx(expected, rel=1e-12)


def test_a_second_call_resumes_instead_of_running_again(same_sides, capsys, monkeypatch):
    toml, out = same_sides
    from pricewar.sweep import backends

    ran, real = [], backends.execute_run

    def spy(task):
        ran.append(task)
        return real(task)

    monkeypatch.setattr(backends, "execute_run", spy)
    argv = ["compare", str(toml), str(toml), "--draws", "2", "--seeds", "1", "2", "--out",
            str(out), *TINY]
    before = pd.read_csv(out / "compare_pairs.csv")
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert ran == []
    lost = sorted((out / "sweep-B" / "results").glob("run-*.parquet"))[0]
    lost.unlink()  # as if interrupted before this run finished
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert len(ran) == 1 and lost.exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "compare_pairs.csv"), before)


def test_a_policy_lever_on_one_side_over_draws(tmp_path, capsys):
    toml = scenario_with_draws(tmp_path)
    code, printed, err = run_cli(["compare", str(toml), str(toml), "--draws", "2",
                                  "--set-b", "export_control_penalty=0.6", "--out",
                                  str(tmp_path / "c"), *TINY], capsys)
    assert code == 0, err
    assert "median and 90% interval over 2 draws x 1 seeds" in printed
    pairs = pd.read_csv(tmp_path / "c" / "compare_pairs.csv")
    assert len(pairs.query("metric == 'price_avg'")) == 2


@pytest.mark.parametrize("sides", [("baseline", "baseline"), ("X", "baseline")])
def test_a_scenario_without_draws_fails_before_any_run(tmp_path, capsys, sides):
    toml = scenario_with_draws(tmp_path)
    argv = [str(toml) if s == "X" else s for s in sides]
    out = tmp_path / "c"
    code, _, err = run_cli(["compare", *argv, "--draws", "2", "--out", str(out), *TINY], capsys)
    assert code == 2
    assert "baseline: draws: no posterior draws" in err and err.count("\n") == 1
    assert not (out / "sweep-A").exists()


def test_workers_without_draws_are_refused(tmp_path, capsys):
    code, _, err = run_cli(["compare", "baseline", "parity", "--workers", "2", "--out",
                            str(tmp_path / "c"), *TINY], capsys)
    assert code == 2 and "--workers runs the runs of --draws" in err


def test_draws_of_run_folders_are_refused(tmp_path, capsys, baseline_run):
    toml = scenario_with_draws(tmp_path)
    code, _, err = run_cli(["compare", str(baseline_run), str(toml), "--draws", "2", "--out",
                            str(tmp_path / "c"), *TINY], capsys)
    assert code == 2 and "is not a scenario: --draws runs scenarios" in err


def test_sides_with_different_posteriors_are_paired_by_id_and_say_so(tmp_path, capsys):
    a = scenario_with_draws(tmp_path)
    b = scenario_with_draws(tmp_path, "draw,wacc\n7,0.1\n3,0.2\n", name="y")
    code, printed, err = run_cli(["compare", str(a), str(b), "--draws", "2", "--out",
                                  str(tmp_path / "c"), *TINY], capsys)
    assert code == 0, err
    assert "note: A and B draw from different posteriors" in printed


def test_sides_with_different_draw_ids_are_refused(tmp_path, capsys):
    a = scenario_with_draws(tmp_path)
    b = scenario_with_draws(tmp_path, "draw,wacc\n1,0.1\n2,0.2\n", name="y")
    code, _, err = run_cli(["compare", str(a), str(b), "--draws", "2", "--out",
                            str(tmp_path / "c"), *TINY], capsys)
    assert code == 2 and "different ids" in err and err.count("\n") == 1


# ------------------------------------------------------------------------------------------------
# the experiments' harness over draws
# ------------------------------------------------------------------------------------------------
def test_run_points_runs_every_point_at_every_draw_and_seed():
    from pricewar.runs.harness import run_points

    def observe(model):
        scenario = model.scenario
        return {"cn_west": scenario.regions["cn_west"].electricity_usd_per_kwh,
                "us": scenario.regions["us"].electricity_usd_per_kwh}

    draws = [(7, {"electricity_cn_west": 0.03, "electricity_us": 0.2}),
             (3, {"electricity_cn_west": 0.4, "electricity_us": 0.3})]
    table = run_points([{"electricity_cn_west": 0.05}, {"electricity_cn_west": 0.06}], [1, 2],
                       1, observe, fixed=TINY_OVERRIDES, progress=False, draws=draws)
    assert len(table) == 2 * 2 * 2
    assert sorted(set(zip(table["draw"], table["seed"], strict=True))) == [(3, 1), (3, 2),
                                                                           (7, 1), (7, 2)]
    assert (table["cn_west"] == table["electricity_cn_west"]).all()  # the point wins
    assert (table["us"] == table["draw"].map({7: 0.2, 3: 0.3})).all()  # the draw's value


def test_a_paired_interval_is_taken_within_each_draw_and_seed():
    from pricewar.runs.harness import paired_interval

    rows = [{"draw": d, "seed": s, "lever": lever, "y": 10.0 * d + s + 0.5 * lever}
            for d in range(1, 6) for s in (1, 2) for lever in (0, 1)]
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # row order must not matter
    effect = paired_interval(table, ["lever"], "y", {"lever": 0}, {"lever": 1})
    assert effect == {"median": 0.5, "q05": 0.5, "q95": 0.5, "pairs": 10}
    assert paired_interval(table, ["lever"], "y", {"lever": 0}, {"lever": 2}) is None


# ------------------------------------------------------------------------------------------------
# pricewar figures --draws
# ------------------------------------------------------------------------------------------------
def test_the_headline_figure_over_draws_has_median_and_interval_bands(tmp_path, capsys):
    toml = scenario_with_draws(tmp_path)
    out = tmp_path / "figures"
    code, printed, err = run_cli(["figures", "--quick", "--only", "price_war_baseline",
                                  "--draws", "2", "--seeds", "1", "--scenario", str(toml),
                                  "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    series = pd.read_csv(out / "price_war_baseline.csv")
    assert {"price_avg_median", "price_avg_q05", "price_avg_q95"} <= set(series.columns)
    assert "price_avg_mean" not in series.columns
    assert (series["price_avg_q05"] <= series["price_avg_median"]).all()
    assert (series["price_avg_median"] <= series["price_avg_q95"]).all()
    assert (series["share_cn_west_q05"] < series["share_cn_west_q95"]).any()
    headline = json.loads((out / "headlines.json").read_text())["price_war_baseline"]
    assert headline["band"] == "median and 90% interval over 2 draws x 1 seeds"
    assert headline["draws"] == [7, 3]
    assert (out / "price_war_baseline.svg").exists()
    assert "median and 90% interval over 2 draws x 1 seeds" in (
        out / "price_war_baseline.svg").read_text()


def test_export_controls_over_draws_whisker_each_total_and_say_so(tmp_path, monkeypatch):
    """The bars stay means (their log contributions add up to the total); each total marker
    gets its 90% interval over draws x seeds, and the legend says what the figure shows."""
    from pathlib import Path

    import matplotlib.collections

    from pricewar.studies import gap_plots

    figures = []
    monkeypatch.setattr(gap_plots, "save_figure",
                        lambda fig, *args, **kwargs: figures.append(fig) or [])
    table = pd.read_csv(Path(__file__).resolve().parents[1] / "figures" / "export_controls.csv")
    table = table.assign(gap_log_ratio_q05=table["gap_log_ratio"] - 0.3,
                         gap_log_ratio_q95=table["gap_log_ratio"] + 0.2)
    title = "mean over 3 draws x 2 seeds; whiskers: 90% interval of the total"
    gap_plots.plot_export_controls(table, tmp_path, "note", legend_title=title)
    (fig,) = figures
    assert fig.legends[0].get_title().get_text() == title
    last = table[table["step"] == table["step"].max()]
    whiskers = [segment for ax in fig.axes for c in ax.collections
                if isinstance(c, matplotlib.collections.LineCollection)
                for segment in c.get_segments()]
    lengths = sorted(round(abs(seg[1][1] - seg[0][1]), 9) for seg in whiskers)
    # every run's total; the unconstrained run (penalty 0, lag 0, historical) is in all three
    assert lengths == [0.5] * (len(last) + 2)


def test_an_experiment_without_draws_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    from pricewar.runs.harness import ExperimentResult
    from pricewar.studies import experiments, regenerate

    assert experiments.supports_draws("price_war_baseline")
    assert experiments.supports_draws("energy_gap")
    assert experiments.supports_draws("export_controls")
    assert not experiments.supports_draws("cost_waterfall")
    with pytest.raises(ValueError, match="--draws not supported by cost_waterfall"):
        experiments.run_experiment("cost_waterfall", tmp_path, draws=[(1, {"wacc": 0.1})])
    ran = []

    def fake(name, out, **kwargs):
        ran.append((name, kwargs))
        out.mkdir(parents=True, exist_ok=True)
        return ExperimentResult(name, {}, pd.DataFrame())

    monkeypatch.setattr(regenerate, "run_experiment", fake)
    toml = scenario_with_draws(tmp_path)
    code, printed, err = run_cli(["figures", "--quick", "--only", "cost_waterfall",
                                  "price_war_baseline", "--draws", "1", "--scenario", str(toml),
                                  "--out", str(tmp_path / "f")], capsys)
    assert code == 0, err
    assert printed.splitlines()[0] == ("cost_waterfall: --draws not supported by cost_waterfall; "
                                       "ran without draws")
    assert "draws" not in ran[0][1]
    assert ran[1][1]["draws"] == [(7, {"electricity_cn_west": 0.03, "wacc": 0.08})]


def test_figures_without_a_draws_file_fail_before_any_run(tmp_path, capsys):
    code, _, err = run_cli(["figures", "--quick", "--draws", "2", "--out", str(tmp_path / "f")],
                           capsys)
    assert code == 2 and "no posterior draws" in err and err.count("\n") == 1
    assert not (tmp_path / "f").exists()


def test_pricewar_parameters_says_how_to_make_a_draws_file(capsys):
    code, printed, _ = run_cli(["parameters"], capsys)
    assert code == 0 and "x.draws.csv beside scenario x.toml" in printed


def test_calibrated_ships_its_v2_posterior_draws():
    """calibrated.draws.csv: 200 draws of the eight parameters calibrated.toml estimates, every
    row valid for the scenario, their medians inside each parameter's 90% posterior interval
    (figures/calibration_v2_parameters.csv, the run the file was resampled from)."""
    draws = load_draws("calibrated")
    assert len(draws) == 200 and draws.ids == tuple(range(1, 201))
    table = pd.read_csv(Path(__file__).resolve().parents[1] / "figures"
                        / "calibration_v2_parameters.csv").set_index("parameter")
    assert sorted(draws.columns) == sorted(table.index)
    for name in table.index:
        median = float(np.median([row[name] for row in draws.overrides]))
        assert table.loc[name, "q05"] <= median <= table.loc[name, "q95"], name
