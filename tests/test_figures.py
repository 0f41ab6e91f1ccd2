"""Figures a policy reader cannot misread: each experiment's figure is built from a small
synthetic table and its tick labels, legends and texts are checked against that table (issue 27,
"Figures that mislead"). The figure is caught at ``save_figure`` after its layout is final."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from pricewar.plotting import style
from pricewar.plotting.ticks import si_number, usd
from pricewar.studies import gap_plots
from pricewar.studies.regional_gap import DRIVERS

REPO = Path(__file__).resolve().parents[1]
YEAR = re.compile(r"^\d{4}(-\d{2})?$")


@pytest.fixture
def caught(monkeypatch):
    """``catch(module)``: the figures that ``module``'s plot functions save, after layout."""
    figures = []

    def catch(module):
        real = module.save_figure

        def save(fig, *args, **kwargs):
            paths = real(fig, *args, **kwargs)
            figures.append(fig)
            return paths

        monkeypatch.setattr(module, "save_figure", save)
        return figures

    return catch


def visible_labels(labels) -> list[str]:
    return [t.get_text() for t in labels if t.get_visible() and t.get_text()]


def legends(fig) -> list:
    return [*fig.legends, *[ax.get_legend() for ax in fig.axes if ax.get_legend()]]


def assert_legends_off_the_data(fig) -> None:
    """No legend box overlaps the plotting area of a visible axes."""
    for legend in legends(fig):
        box = legend.get_window_extent()
        for ax in fig.axes:
            if ax.get_visible():
                assert not box.overlaps(ax.get_window_extent()), (
                    f"legend {[t.get_text() for t in legend.get_texts()]} over "
                    f"{ax.get_title()!r}")


def test_supply_table_panels_carry_their_own_chips_on_a_linear_axis(tmp_path, caught):
    script = load_script("supply_table")
    figures = caught(script)
    chips = {"us": ["H100", "B200"], "cn_west": ["H800", "Ascend910B"]}
    rows = [("2025-06-01", region, family, chip, "yes" if region == "us" or chip != "H800"
             else "no", 1000.0, 0.5, 0.01 * (k + 1), 0.3 * (k + 1), 0.31 * (k + 1), 0.1, 0.3)
            for region, region_chips in chips.items()
            for family in ("deepseek_v3", "gpt_4o")
            for k, chip in enumerate(region_chips)]
    script.plot(pd.DataFrame(rows, columns=list(script.COLUMNS)), tmp_path)
    (fig,) = figures
    all_chips = {c for region_chips in chips.values() for c in region_chips}
    for ax, (region, region_chips) in zip(fig.axes, chips.items(), strict=True):
        labels = visible_labels(ax.get_yticklabels())
        shown = {c for c in all_chips if any(re.search(rf"\b{c}\b", t) for t in labels)}
        assert shown == set(region_chips), (region, labels)
        assert ax.get_xscale() == "linear"  # bars measure length from zero
        assert all(t.startswith("$") for t in visible_labels(ax.get_xticklabels()))
    assert_legends_off_the_data(fig)


def _energy_summary() -> pd.DataFrame:
    rows = []
    for regime in ("historical", "no_controls"):
        for step, date in ((52, "2024-12-30"), (104, "2025-12-29")):
            for k, ratio in enumerate((0.2, 0.6, 1.0)):
                values = {"share_cn_west": 0.15 + 0.01 * k, "gap_ratio": 0.4 + 0.1 * k,
                          "gap_log_power": np.log(0.99 + 0.01 * k)}
                row = {"chip_regime": regime, "electricity_ratio": ratio, "step": step,
                       "date": date}
                for column, value in values.items():
                    row.update({f"{column}_mean": value, f"{column}_lo": value,
                                f"{column}_hi": value})
                rows.append(row)
    return pd.DataFrame(rows)


def test_energy_gap_ratio_axes_carry_no_dollars_and_a_readable_factor_scale(tmp_path, caught):
    figures = caught(gap_plots)
    gap_plots.plot_energy_gap(_energy_summary(), 0.99, 0.081, tmp_path, "note")
    (fig,) = figures
    _, ratio_ax, power_ax = fig.axes
    for ax in (ratio_ax, power_ax):
        labels = visible_labels(ax.get_yticklabels())
        assert labels and not any("$" in t for t in labels), labels
    low, high = power_ax.get_ylim()
    ticks = [t for t in power_ax.get_yticks() if low <= t <= high]
    assert len(ticks) >= 3, ticks  # a 1% change is read against several ticks
    assert high - low >= 2 * gap_plots.POWER_FACTOR_MIN_SPAN - 1e-9
    assert_legends_off_the_data(fig)


def test_tier_prices_every_panel_has_dates_readable_tiers_and_the_legend_off_the_data(
        tmp_path, caught):
    figures = caught(gap_plots)
    tiers = ["gpt35_mmlu", "gpt4o_gpqa", "o1mini_gpqa", "r1_gpqa"]
    dates = pd.date_range("2024-01-01", periods=150, freq="7D")
    series = pd.DataFrame({"date": dates})
    for tier in tiers:
        for bloc, level in (("cn", 0.5), ("us", 2.0)):
            for stat in ("mean", "lo", "hi"):
                series[f"price_{tier}_{bloc}_{stat}"] = level
    observed = pd.DataFrame({"date": [dates[10]] * 2, "tier": ["gpt35_mmlu"] * 2,
                             "region": ["cn", "us"], "blended_3to1": [0.6, 1.8]})
    comparison = pd.DataFrame({"tier": tiers, "observed_ratio": 0.3,
                               "model_ratio_at_observed_dates": 0.25, "model_ratio_end": 0.25})
    catalogue = SimpleNamespace(tiers={t: SimpleNamespace(label=f"{t.upper()} level on MMLU")
                                       for t in tiers})
    gap_plots.plot_tier_prices(series, observed, comparison, tiers, tmp_path, "note",
                               labels=gap_plots.tier_labels(catalogue, tiers))
    (fig,) = figures
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(tiers)
    for ax, tier in zip(shown, tiers, strict=True):
        labels = visible_labels(ax.get_xticklabels())
        assert labels and all(YEAR.match(t) for t in labels), (tier, labels)
        assert tier not in ax.get_title() and f"{tier.upper()} level" in ax.get_title()
    assert_legends_off_the_data(fig)


def test_a_bloc_that_serves_almost_none_of_a_tier_has_no_tier_price():
    """The calibrated run's $1,085 'US price' of the r1 tier: one product priced out of the
    market (8e-8 of the tier's tokens) is not the bloc's price of the tier."""
    from pricewar.studies.price_war import MIN_TIER_SHARE, tier_prices

    # products: 0 = US host (region 0), 1 and 2 = CN hosts (region 1); one tier (r1)
    products = SimpleNamespace(producer=np.array([0, 1, 2]), family=np.array([0, 0, 0]),
                               price=np.array([1085.0, 0.1, 0.2]),
                               served=np.array([40.0, 1e8, 1e8]))
    model = SimpleNamespace(
        product_arrays=products, tier_names=["r1_gpqa"], region_names=["us", "cn_east"],
        families=SimpleNamespace(tier=np.array([0]), owner=np.array([0])),
        producer_region=np.array([0, 1, 1]), producer_owner=np.array([0, 1, 1]),
        regions=SimpleNamespace(in_bloc=lambda bloc: [1]))
    prices = tier_prices(model)
    assert np.isnan(prices["price_r1_gpqa_us"]) and np.isnan(prices["price_r1_gpqa_us_owner"])
    assert prices["price_r1_gpqa_cn"] == pytest.approx(0.15)
    products.served[0] = 2 * MIN_TIER_SHARE * 2e8  # a real share: its price is the tier's
    assert tier_prices(model)["price_r1_gpqa_us"] == pytest.approx(1085.0)


def test_cost_waterfall_legends_leave_every_marker_visible(tmp_path, caught):
    figures = caught(gap_plots)
    rows = []
    for k, (tier, ratio) in enumerate((("gpt35_mmlu", 2.2), ("o1_gpqa", 0.6))):
        logs = {f"log_{d}": np.log(ratio) / len(DRIVERS) for d in DRIVERS}
        rows.append({"scope": "all_hosts", "step": 156, "date": "2026-12-28", "tier": tier,
                     "seed": 1, "ratio": ratio, "log_ratio": np.log(ratio), **logs, "k": k})
    components = {c: 0.1 for c in gap_plots.COMPONENT_COLORS}
    regions = pd.DataFrame([{"region": r, **components, "delivered_price": 0.8,
                             "unit_cost": 0.2, "marginal_cost": 0.4}
                            for r in ("cn_west", "us")])
    gap_plots.plot_cost_waterfall(pd.DataFrame(rows), regions, tmp_path, "note")
    (fig,) = figures
    assert_legends_off_the_data(fig)


def test_capacity_utilisation_draws_a_rolling_mean_over_the_faint_weekly_shares(tmp_path,
                                                                                 caught):
    script = load_script("capacity_utilisation")
    figures = caught(script)
    weeks = 40
    sawtooth = np.tile([0.2, 0.8], weeks // 2)
    table = pd.DataFrame({"seed": 1, "step": np.arange(1, weeks + 1),
                          "date": pd.date_range("2024-01-08", periods=weeks, freq="7D"),
                          **{f"full_share_{r}": sawtooth for r in script.REGIONS},
                          "unserved_share": 0.1, "demand_total": 1.0, "served_total": 0.9,
                          "power_used_mw": 1000.0, "power_cap_mw": 2000.0})
    script.figure(table, tmp_path, "note")
    (fig,) = figures
    ax = fig.axes[0]
    labelled = {line.get_label(): line for line in ax.get_lines()
                if not line.get_label().startswith("_")}
    assert len(labelled) == len(script.REGIONS)
    rolling = (100 * pd.Series(sawtooth)).rolling(script.ROLLING_WEEKS, center=True,
                                                  min_periods=1).mean()
    for line in labelled.values():
        np.testing.assert_allclose(line.get_ydata(), rolling)
    faint = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(faint) == len(script.REGIONS) and all(line.get_alpha() < 0.5 for line in faint)
    assert f"{script.ROLLING_WEEKS}-week rolling mean" in ax.get_title()
    assert_legends_off_the_data(fig)


def test_price_cut_cascade_states_exits_in_whole_producers(tmp_path, caught):
    figures = caught(style)
    rows = [{"strategy": strategy, "role": role, "event_time": t, "price_ratio_median": 1.0,
             "price_ratio_q25": 0.9, "price_ratio_q75": 1.1,
             "exits_extra": extra if t == 5 else 0.0}
            for strategy in ("undercut", "nash")
            for role, extra in (("cutter", 0.0), ("us", 1 / 3), ("eu", -2 / 3), ("cn_east", 0))
            for t in range(-2, 6)]
    style.plot_price_cut_cascade(pd.DataFrame(rows), ["undercut", "nash"], tmp_path, "note",
                                 n_seeds=3)
    (fig,) = figures
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    labels = " ".join(t.get_text() for legend in legends(fig) for t in legend.get_texts())
    assert "US rivals: 1 more exit" in texts and "EU rivals: 2 fewer exits" in texts
    assert "3 seeds" in texts
    assert not re.search(r"\d\.\d{2,}", texts + labels), texts + labels
    assert_legends_off_the_data(fig)


DOLLARS = re.compile(r"^\$\d[\d,.]*(M|bn)?$")


def test_qlearning_price_axis_is_in_plain_dollars(tmp_path, caught):
    """The log price axis read "10^0, 10^1" (matplotlib's default) for prices in USD/Mtok."""
    script = load_script("qlearning_vs_best_response")
    figures = caught(script)
    rows = [{"strategy": strategy, "seed": seed, "step": step,
             "date": pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=step),
             "price_avg_usd_per_mtok": level * (1 + 0.1 * seed) / (1 + step / 10),
             "lerner": 0.5, "markup_avg": 2.0, "active_producers": 30}
            for strategy, level in (("q_learning", 5.0), ("best_response", 8.0))
            for seed in (1, 2) for step in range(30)]
    script.plot(pd.DataFrame(rows), tmp_path, "q", "note", np.array([1.1, 3.4]))
    (fig,) = figures
    price_ax = fig.axes[0]
    assert price_ax.get_yscale() == "log"
    low, high = price_ax.get_ylim()
    shown = {tick.get_loc(): tick.label1.get_text() for tick in price_ax.yaxis.get_major_ticks()
             if low <= tick.get_loc() <= high}
    assert len(shown) >= 3 and all(DOLLARS.match(t) for t in shown.values()), shown
    assert all(text == usd(loc) for loc, text in shown.items()), shown


def test_green_curtailment_leaves_zero_energy_off_the_log_axis_and_states_the_tiny_share(
        tmp_path, caught):
    """At cap 0 nothing is absorbed: the log panel drew that 0 as a vertical drop to the axis;
    the green share of CN-West energy (0.03%) lay on the x axis of a 0-1 panel, unreadable."""
    figures = caught(style)
    caps = np.array([0.0, 1.0, 2.0, 20.0])
    values = {"absorbed_gwh_total": np.array([0.0, 8.5, 8.5, 8.5]),
              "potential_gwh_total": caps * 105, "batch_share_cn_west": np.full(4, 0.09),
              "share_cn_west": np.full(4, 0.17),
              "green_share_cn_west": np.array([0.0, 2.5e-4, 2.5e-4, 2.5e-4])}
    summary = pd.DataFrame({"green_supply_cap_cn_west": caps * 1000, "green_cap_gwh_per_week": caps,
                            **{f"{c}_{s}": v for c, v in values.items()
                               for s in ("mean", "lo", "hi")}})
    style.plot_green_curtailment(summary, 0.586, tmp_path, "note")
    (fig,) = figures
    energy_ax, share_ax = fig.axes
    for line in energy_ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert not (y <= 0).any(), line.get_label()  # a gap, not a drop to the axis
        np.testing.assert_array_equal(np.isnan(y), caps == 0)
    energy_labels = [t.get_text() for t in energy_ax.get_legend().get_texts()]
    assert any("0.586 = kt CO₂ avoided" in t and "absorbed" in t for t in energy_labels)
    assert "CO₂" not in energy_ax.get_ylabel()  # the factor applies to absorbed energy only
    share_labels = [t.get_text() for t in share_ax.get_legend().get_texts()]
    assert any(t.startswith("green share") and "0.03%" in t for t in share_labels), share_labels
    assert share_ax.get_ylim() == (0.0, 1.0)


def _shown_ticks(axis) -> dict[float, str]:
    low, high = sorted(axis.axes.get_xlim() if axis is axis.axes.xaxis else axis.axes.get_ylim())
    return {t.get_loc(): t.label1.get_text() for t in axis.get_major_ticks()
            if low <= t.get_loc() <= high and t.label1.get_text()}


def test_calibration_predictive_ticks_are_readable_and_the_legend_is_off_the_targets(tmp_path,
                                                                                   caught):
    """The committed figure labelled tokens/day "2e+13", put one "$0.1" on a USD axis (1, 2, 5
    ticks on an axis spanning less than a factor of 2) and its legend over the first target's
    prior interval."""
    from pricewar.calibrate import plots

    figures = caught(plots)
    rows = [("tokens", "tokens/day", 3e13, 2.2e13, 4.2e13, 5.6e13, 1.6e14, 3.1e13, 9e13),
            ("cost", "USD/Mtok (all tokens)", 0.112, 0.0875, 0.143, 0.104, 0.14, 0.105, 0.15),
            ("ratio", "US / Chinese list price", 5.5, 3.4, 8.9, 1.9, 5.1, 2.9, 7.2)]
    checks = pd.DataFrame([{"target": t, "role": "fitted", "unit": u, "scale": "log",
                            "observed": o, "observed_low": lo, "observed_high": hi,
                            "prior_q05": p5, "prior_q95": p95, "posterior_q05": q5,
                            "posterior_q50": (q5 + q95) / 2, "posterior_q95": q95,
                            "p_value": 0.5, "consistent": True}
                           for t, u, o, lo, hi, p5, p95, q5, q95 in rows])
    plots.plot_predictive(checks, tmp_path, "note")
    (fig,) = figures
    for ax, (target, unit, *_values) in zip(fig.axes, rows, strict=True):
        shown = _shown_ticks(ax.xaxis)
        assert len(shown) >= 3, (target, shown)
        assert not any("e+" in t or "e-" in t for t in shown.values()), (target, shown)
        if unit.startswith("USD"):
            assert all(text == usd(loc) for loc, text in shown.items()), shown
        else:
            assert all(text == si_number(loc) for loc, text in shown.items()), shown
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)
    assert_legends_off_the_data(fig)


def test_export_controls_ticks_state_each_runs_ratio_and_share_and_the_legend_is_off_the_bars(
        tmp_path, caught):
    """Drawn from the committed table: every bar group's label carries that run's CN/US price
    ratio and CN share at the last step (a 0.4% share read "0.00"); the legend sat inside the
    first panel, over its bars; the x3.25 total stood above the top tick (x2)."""
    figures = caught(gap_plots)
    table = pd.read_csv(REPO / "figures" / "export_controls.csv")
    gap_plots.plot_export_controls(table, tmp_path, "note")
    (fig,) = figures
    last = table[table["step"] == table["step"].max()]
    expected = {f"CN/US ×{r.gap_ratio:.2f}\nCN share {r.share_cn:.1%}"
                for r in last.itertuples()}
    shown = {label.split("\n", 1)[1] for ax in fig.axes
             for label in visible_labels(ax.get_xticklabels())}
    assert shown == expected
    assert not any(ax.get_legend() for ax in fig.axes) and len(fig.legends) == 1
    assert_legends_off_the_data(fig)
    assert not fig.legends[0].get_window_extent().overlaps(fig._suptitle.get_window_extent())
    # every total is read between two factor ticks, none above the top one
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if low <= t <= high]
    assert min(ticks) <= last["gap_log_ratio"].min() and max(ticks) >= last["gap_log_ratio"].max()


def test_may2024_cascade_rows_sit_at_their_firms_and_no_cut_states_the_price_change(
        tmp_path, monkeypatch):
    """A configuration's row was drawn up to 0.54 of a row above its firm's tick: Alibaba's
    forward-looking -35% read as ByteDance's; "no cut (+3%)" read as a 3% cut."""
    from matplotlib.figure import Figure

    script = load_script("may2024_cascade")
    figures = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: figures.append(fig))
    firms = ["zhipu", "bytedance", "alibaba", "baidu"]
    configurations = ["static", "kappa", "forward"]
    summary = pd.DataFrame(
        [{"configuration": c, "group": g, "depth": 0.35 if (c, g) == ("forward", "alibaba")
          else -0.03, "follow_share": 1.0 if (c, g) == ("forward", "alibaba") else 0.0,
          "lag_days": 7.0} for c in configurations for g in firms]
    ).set_index(["configuration", "group"])
    record = pd.DataFrame({"group": firms, "cut_fraction_low": 0.8, "cut_fraction_high": 0.9,
                           "lag_days": [5.0, 9.0, 15.0, 15.0]})
    dates = pd.date_range("2024-01-01", periods=4, freq="7D")
    lerner = pd.DataFrame([{"configuration": c, "run": r, "date": d, "open": 0.3, "closed": 0.8}
                           for c in configurations for r in ("cut", "no cut") for d in dates])
    script.figure(summary, record, lerner, tmp_path / "cascade.png")
    ax = figures[0].axes[0]
    ticks = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks(), strict=True))
    texts = [(t.get_text(), t.xy[1]) for t in ax.texts]
    follow = [y for text, y in texts if text == "-35%"]
    assert len(follow) == 1 and abs(follow[0] - ticks["Alibaba"]) < 0.5
    for text, y in texts:  # every row is nearer its own firm's tick than any other
        assert min(abs(y - t) for t in ticks.values()) < 0.4, (text, y)
    no_cut = [text for text, _ in texts if text.startswith("no cut")]
    assert no_cut and all(text == "no cut (price +3%)" for text in no_cut), no_cut


def test_latency_division_legend_says_which_regions_have_no_visible_bar(tmp_path, caught):
    """The legend listed "served from US" and "served from EU" beside bars of 0% and 0.09%
    that cannot be seen: a reader looked for the blue and green bars."""
    figures = caught(style)
    summary = pd.DataFrame([{"hub_latency_ms": ms, "sector": "chat", "share_mean": 0.3,
                             "share_lo": 0.2, "share_hi": 0.4} for ms in (10, 25, 40)])
    index = pd.MultiIndex.from_tuples([("cn_east", "chat"), ("cn_west", "chat")])
    composition = pd.DataFrame({"cn_west": [0.3, 0.7], "cn_east": [0.6991, 0.3],
                                "us": [0.0, 0.0], "eu": [0.0009, 0.0]}, index=index)
    style.plot_latency_division(summary, composition, 25.0, tmp_path, "note")
    (fig,) = figures
    texts = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert texts == ["served from CN-West", "served from CN-East", "served from US (none)",
                     "served from EU (at most 0.1%)"], texts
