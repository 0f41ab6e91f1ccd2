"""Observed panels (pricewar.calibrate.panels): the shipped OpenRouter extract and its weekly
sums, checked against values read by hand from the source rows, and the loaders' errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.calibrate.panels import (
    DAILY_COLUMNS,
    PRICE_COLUMNS,
    WEEKLY_COLUMNS,
    PanelDataError,
    load_openrouter_daily,
    load_openrouter_weekly,
    load_provider_prices,
    weekly_from_daily,
)

WEEKS = ["2025-01-06", "2025-01-13", "2025-02-17", "2025-02-24", "2025-03-03", "2025-06-30",
         "2025-09-22", "2025-09-29", "2025-10-06", "2026-03-23", "2026-03-30", "2026-06-29",
         "2026-09-28"]


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return load_openrouter_daily()


@pytest.fixture(scope="module")
def weekly() -> pd.DataFrame:
    return load_openrouter_weekly()


def tokens(weekly: pd.DataFrame, week: str, model: str) -> tuple[int, int]:
    row = weekly[(weekly["week_start"] == pd.Timestamp(week)) & (weekly["model_id"] == model)]
    assert len(row) == 1
    return int(row["tokens"].iloc[0]), int(row["days_in_top50"].iloc[0])


def test_the_daily_extract_is_91_days_of_a_top_50_and_one_other_row(daily):
    assert len(daily) == 91 * 51
    assert daily["date"].nunique() == 91
    assert (daily.groupby("date").size() == 51).all()
    assert (daily[daily["model_permaslug"] == "other"].groupby("date").size() == 1).all()
    assert str(daily["total_tokens"].dtype) == "int64"
    assert pd.api.types.is_datetime64_any_dtype(daily["date"])
    assert (daily["total_tokens"] > 0).all()


@pytest.mark.parametrize("day, leader_tokens, leader_share", [
    # OpenRouter's own export of these days (rank 1, share of the day), kept in
    # ukitako1030/EVAL pipeline/test/fixtures/openrouter/sample.csv: an independent copy
    ("2026-09-30", 5_331_621_827_040, 0.21870872876777964),
    ("2026-10-01", 5_166_688_701_553, 0.2203560810912277),
])
def test_day_totals_equal_those_openrouters_export_implies(daily, day, leader_tokens, leader_share):
    rows = daily[daily["date"] == pd.Timestamp(day)]
    assert rows["total_tokens"].max() == leader_tokens
    assert rows["total_tokens"].sum() == pytest.approx(leader_tokens / leader_share, rel=1e-12)


def test_the_weekly_panel_has_its_size_and_dtypes(weekly):
    assert list(weekly.columns) == list(WEEKLY_COLUMNS)
    assert len(weekly) == 840
    assert weekly["model_id"].nunique() == 294
    assert sorted(weekly["week_start"].dt.strftime("%Y-%m-%d").unique()) == WEEKS
    assert weekly.groupby("week_start").size().tolist() == [69, 68, 65, 64, 63, 65, 69, 66, 61, 61, 65, 62, 62]
    assert str(weekly["tokens"].dtype) == "int64" and str(weekly["days_in_top50"].dtype) == "int64"


def test_weeks_are_mondays_tokens_non_negative_and_rows_unique(weekly):
    assert (weekly["week_start"].dt.day_of_week == 0).all()
    assert (weekly["tokens"] >= 0).all()
    assert not weekly.duplicated(["week_start", "model_id"]).any()
    assert weekly["days_in_top50"].between(1, 7).all()
    assert (weekly["author"] == weekly["model_id"].str.split("/").str[0]).all()


def test_weekly_values_read_by_hand_from_the_source_rows(weekly):
    # stealth/space-bunny-alpha, 28 Sep - 4 Oct 2026: the seven daily rows of the source file
    assert tokens(weekly, "2026-09-28", "stealth/space-bunny-alpha") == (
        4321096612883 + 5203018604524 + 5331621827040 + 5166688701553 + 5890362479879
        + 6020921575930 + 6727489898018, 7)
    # deepseek/deepseek-chat-v3, 6-12 Jan 2025
    assert tokens(weekly, "2025-01-06", "deepseek/deepseek-chat-v3") == (
        3646164868 + 3500822807 + 2695276379 + 2818169288 + 2207639383 + 2298766301
        + 3218242082, 7)
    # amazon/nova-lite-v1 was in the top 50 on 7, 8 and 10 Jan only: a lower bound
    assert tokens(weekly, "2025-01-06", "amazon/nova-lite-v1") == (
        158492492 + 141248254 + 121506695, 3)
    # deepseek/deepseek-r1, 24 Feb - 2 Mar 2025
    assert tokens(weekly, "2025-02-24", "deepseek/deepseek-r1") == (
        1773080751 + 1519564916 + 1241770987 + 1529255785 + 1317408217 + 1191541090
        + 1481776599, 7)
    # deepseek/deepseek-v3.2-exp, listed from 1 Oct 2025 (released 29 Sep 2025)
    assert tokens(weekly, "2025-09-29", "deepseek/deepseek-v3.2-exp") == (
        2465834037 + 1962135243 + 3329892272 + 2784586593 + 3834648989, 5)
    # minimax/minimax-m2.5-20260211, 30 Mar - 5 Apr 2026 (the first held-out week)
    assert tokens(weekly, "2026-03-30", "minimax/minimax-m2.5-20260211") == (
        97696550201 + 96679960817 + 97626313196 + 120420932953 + 164034106622 + 132651916726
        + 138144994544, 7)
    # deepseek/deepseek-chat-v3-0324, 30 Jun - 6 Jul 2025
    assert tokens(weekly, "2025-06-30", "deepseek/deepseek-chat-v3-0324") == (
        18896179510 + 18819576320 + 18861102089 + 19259054580 + 17981473759 + 17998486654
        + 19876833812, 7)
    # deepseek/deepseek-v4-flash-20260423, 29 Jun - 5 Jul 2026 (a held-out week)
    assert tokens(weekly, "2026-06-29", "deepseek/deepseek-v4-flash-20260423") == (
        727922211542 + 723471184456 + 863254864911 + 865968565544 + 841705942862
        + 698903860212 + 618452116206, 7)
    # other, 28 Sep - 4 Oct 2026
    assert tokens(weekly, "2026-09-28", "other") == (
        1474880153497 + 1529222072207 + 1499940793698 + 1481392286177 + 1489412337752
        + 1272174399135 + 1299367635729, 7)


def test_a_weeks_total_is_its_days_totals(weekly, daily):
    week = weekly[weekly["week_start"] == pd.Timestamp("2026-09-28")]
    days = daily[daily["date"].between(pd.Timestamp("2026-09-28"), pd.Timestamp("2026-10-04"))]
    assert week["tokens"].sum() == days["total_tokens"].sum() == 165_856_038_005_319


def test_the_weekly_file_is_the_daily_extract_summed_by_week(weekly, daily):
    expected = weekly_from_daily(daily)
    pd.testing.assert_frame_equal(weekly.drop(columns="source"), expected, check_dtype=False)


def test_partial_weeks_are_dropped():
    days = pd.date_range("2025-01-01", "2025-01-13")  # Wednesday to the next Monday
    frame = pd.DataFrame({"date": days, "model_permaslug": "a/x", "total_tokens": np.int64(1)})
    weekly = weekly_from_daily(frame)
    assert weekly["week_start"].tolist() == [pd.Timestamp("2025-01-06")]
    assert weekly["tokens"].tolist() == [7] and weekly["days_in_top50"].tolist() == [7]


@settings(max_examples=60, deadline=None)
@given(start=st.dates(dt.date(2025, 1, 1), dt.date(2026, 12, 31)),
       n_days=st.integers(1, 40),
       volumes=st.lists(st.integers(0, 10**13), min_size=40, max_size=40),
       listed=st.lists(st.booleans(), min_size=40, max_size=40))
def test_weekly_sums_keep_every_token_of_the_complete_weeks(start, n_days, volumes, listed):
    days = pd.date_range(start, periods=n_days)
    frame = pd.DataFrame({
        "date": list(days) * 2,
        "model_permaslug": ["a/x"] * n_days + ["other"] * n_days,
        "total_tokens": np.array(volumes[:n_days] + volumes[::-1][:n_days], dtype=np.int64)})
    frame = frame[listed[:n_days] + [True] * n_days]  # "a/x" off the top 50 on some days
    weekly = weekly_from_daily(frame)
    complete = frame["date"] - pd.to_timedelta(frame["date"].dt.day_of_week, unit="D")
    counts = frame.drop_duplicates("date").assign(week=complete).groupby("week").size()
    kept = frame[complete.isin(counts.index[counts == 7])]
    assert weekly["tokens"].sum() == kept["total_tokens"].sum()
    assert (weekly["week_start"].dt.day_of_week == 0).all()
    assert weekly["days_in_top50"].between(1, 7).all()
    assert not weekly.duplicated(["week_start", "model_id"]).any()


GOOD_WEEKLY = {"week_start": "2025-01-06", "model_id": "deepseek/deepseek-chat-v3",
               "author": "deepseek", "tokens": "100", "days_in_top50": "7", "source": "s"}


def write_weekly(path, **changes):
    row = {**GOOD_WEEKLY, **changes}
    frame = pd.DataFrame([GOOD_WEEKLY | {"model_id": "other", "author": "other"}, row])
    frame.to_csv(path, index=False)
    return path


def test_a_good_weekly_file_loads(tmp_path):
    assert len(load_openrouter_weekly(write_weekly(tmp_path / "w.csv"))) == 2


@pytest.mark.parametrize("changes, key, problem", [
    ({"week_start": "2025-01-07"}, "row 2.week_start", "Monday"),
    ({"week_start": "2025-1-6"}, "row 2.week_start", "YYYY-MM-DD"),
    ({"tokens": "-5"}, "row 2.tokens", "non-negative integer"),
    ({"tokens": "1.5"}, "row 2.tokens", "non-negative integer"),
    ({"tokens": "1" * 19}, "row 2.tokens", "too large"),
    ({"days_in_top50": "0"}, "row 2.days_in_top50", "1 to 7"),
    ({"days_in_top50": "8"}, "row 2.days_in_top50", "1 to 7"),
    ({"author": "openai"}, "row 2.author", "prefix"),
    ({"source": " "}, "row 2.source", "empty"),
    ({"model_id": "other", "author": "other"}, "row 2.model_id", "duplicate"),
])
def test_a_bad_weekly_row_is_named(tmp_path, changes, key, problem):
    with pytest.raises(PanelDataError) as error:
        load_openrouter_weekly(write_weekly(tmp_path / "w.csv", **changes))
    assert error.value.key_path == key and problem in error.value.problem
    assert str(tmp_path / "w.csv") in str(error.value)


def test_a_weekly_file_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "w.csv"
    pd.DataFrame([GOOD_WEEKLY]).drop(columns="days_in_top50").to_csv(path, index=False)
    with pytest.raises(PanelDataError, match="expected"):
        load_openrouter_weekly(path)


def test_a_daily_date_without_its_other_row_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"date": ["2025-01-06", "2025-01-06", "2025-01-07"],
                  "model_permaslug": ["a/x", "other", "a/x"],
                  "total_tokens": ["1", "2", "3"]})[list(DAILY_COLUMNS)].to_csv(path, index=False)
    with pytest.raises(PanelDataError, match="2025-01-07.*other"):
        load_openrouter_daily(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(PanelDataError, match="cannot read"):
        load_openrouter_weekly(tmp_path / "missing.csv")


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return load_provider_prices()


def test_the_provider_price_panel_has_its_size_and_dtypes(prices):
    assert list(prices.columns) == list(PRICE_COLUMNS)
    assert len(prices) == 3441
    assert prices["snapshot_date"].nunique() == 12 and prices["model_id"].nunique() == 26
    assert prices["provider"].nunique() == 81
    for column in ("input_usd_per_mtok", "output_usd_per_mtok", "cache_read_usd_per_mtok"):
        assert str(prices[column].dtype) == "float64"
    assert (prices[["input_usd_per_mtok", "output_usd_per_mtok"]] >= 0).all().all()
    assert not prices.duplicated(["snapshot_date", "model_id", "provider", "route"]).any()


def test_provider_prices_read_by_hand_from_the_source_files(prices):
    def price(date, model, provider):
        row = prices[(prices["snapshot_date"] == pd.Timestamp(date))
                     & (prices["model_id"] == model) & (prices["provider"] == provider)]
        assert len(row) == 1
        return tuple(row[["input_usd_per_mtok", "output_usd_per_mtok"]].iloc[0])
    # anomalyco/models.dev@2f39a7b270fe providers/{deepinfra,groq}/models/openai/gpt-oss-120b.toml
    assert price("2026-07-01", "openai/gpt-oss-120b", "deepinfra") == (0.039, 0.19)
    assert price("2026-07-01", "openai/gpt-oss-120b", "groq") == (0.15, 0.60)
    # @2e3f718c40e8 providers/huggingface/models/deepseek-ai/Deepseek-V3-0324.toml
    assert price("2025-08-01", "deepseek/deepseek-chat-v3-0324", "huggingface") == (1.25, 1.25)


def test_the_same_open_model_has_many_hosts_at_different_prices(prices):
    july = prices[(prices["snapshot_date"] == pd.Timestamp("2026-07-01"))
                  & (prices["model_id"] == "openai/gpt-oss-120b")]
    assert july["provider"].nunique() >= 30
    assert july["input_usd_per_mtok"].max() / july["input_usd_per_mtok"].min() > 10


GOOD_PRICE = {"snapshot_date": "2026-07-01", "model_id": "openai/gpt-oss-120b",
              "provider": "groq", "route": "openai", "input_usd_per_mtok": "0.15",
              "output_usd_per_mtok": "0.6", "cache_read_usd_per_mtok": "", "source": "s"}


@pytest.mark.parametrize("changes, key, problem", [
    ({}, None, None),
    ({"input_usd_per_mtok": "-0.1"}, "row 1.input_usd_per_mtok", ">= 0"),
    ({"output_usd_per_mtok": "free"}, "row 1.output_usd_per_mtok", ">= 0"),
    ({"cache_read_usd_per_mtok": "inf"}, "row 1.cache_read_usd_per_mtok", ">= 0"),
    ({"input_usd_per_mtok": "0", "output_usd_per_mtok": "0"}, "row 1.input_usd_per_mtok",
     "not a price"),
    ({"model_id": "gpt-oss-120b"}, "row 1.model_id", "slug"),
    ({"provider": ""}, "row 1.provider", "empty"),
    ({"snapshot_date": "2026-07"}, "row 1.snapshot_date", "YYYY-MM-DD"),
])
def test_a_bad_price_row_is_named(tmp_path, changes, key, problem):
    path = tmp_path / "p.csv"
    pd.DataFrame([{**GOOD_PRICE, **changes}]).to_csv(path, index=False)
    if key is None:
        assert len(load_provider_prices(path)) == 1
        return
    with pytest.raises(PanelDataError) as error:
        load_provider_prices(path)
    assert error.value.key_path == key and problem in error.value.problem


def test_a_price_listed_twice_for_one_route_is_refused(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame([GOOD_PRICE, {**GOOD_PRICE, "input_usd_per_mtok": "0.2"}]).to_csv(path,
                                                                                 index=False)
    with pytest.raises(PanelDataError, match="duplicate"):
        load_provider_prices(path)
