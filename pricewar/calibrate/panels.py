"""Observed panels: product-level token volumes over time, read from data files with checks.

``pricewar/data/observed/openrouter_weekly_tokens.csv`` holds OpenRouter's weekly tokens per
model (one row per week and model; columns :data:`WEEKLY_COLUMNS`): ``week_start`` (the Monday
of a Monday-Sunday UTC week), ``model_id`` (OpenRouter's model slug with its variant suffix,
e.g. ``deepseek/deepseek-chat-v3`` or ``google/gemini-2.0-flash-exp:free``; ``other`` for every
model outside a day's top 50), ``author`` (the slug's prefix), ``tokens`` (prompt + completion
tokens in that week, an integer), ``days_in_top50`` (on how many of the week's 7 days the model
was in that day's top 50: on the other days its tokens are inside ``other``, so a model with
fewer than 7 days is undercounted) and ``source``.

``provider_prices.csv`` holds hosts' list prices of the same open-weight models (one row per
snapshot, model, provider and route; columns :data:`PRICE_COLUMNS`): the prices that differ
across hosts of one model identify price effects without a change in quality.

The weekly rows are the daily rows of ``openrouter_rankings_daily_extract.csv`` (OpenRouter's
rankings-daily data, columns :data:`DAILY_COLUMNS`, copied unchanged) summed over complete weeks
by :func:`weekly_from_daily`; the files' README says where they come from and under which licence.

:func:`load_openrouter_weekly`, :func:`load_openrouter_daily` and :func:`load_provider_prices`
return pandas DataFrames with checked dtypes, or raise :class:`PanelDataError` naming the file, the row and the column.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.errors import LocatedInputError, ScenarioError
from pricewar.scenario.data_files import read_input_bytes

WEEKLY_FILE = "openrouter_weekly_tokens.csv"
DAILY_FILE = "openrouter_rankings_daily_extract.csv"
WEEKLY_COLUMNS = ("week_start", "model_id", "author", "tokens", "days_in_top50", "source")
DAILY_COLUMNS = ("date", "model_permaslug", "total_tokens")
PRICES_FILE = "provider_prices.csv"
PRICE_COLUMNS = ("snapshot_date", "model_id", "provider", "route", "input_usd_per_mtok",
                 "output_usd_per_mtok", "cache_read_usd_per_mtok", "source")
#: the slug of the row that sums every model outside a day's top 50
OTHER = "other"
DAYS_PER_WEEK = 7


class PanelDataError(LocatedInputError):
    """An invalid observed-panel file (names the file, the row and the column)."""


def observed_file(name: str) -> Path:
    """A shipped file of ``pricewar/data/observed``."""
    return Path(str(resources.files("pricewar") / "data" / "observed" / name))


def read_panel_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The file as strings, with exactly ``columns``."""
    src = str(path)
    try:
        text = read_input_bytes(path).decode("utf-8")
    except ScenarioError as error:
        raise PanelDataError(src, "<file>", src, error.problem) from None
    except UnicodeDecodeError as error:
        raise PanelDataError(src, "<file>", src, f"not UTF-8 text (byte {error.start})") from None
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if tuple(frame.columns) != columns:
        raise PanelDataError(src, "<header>", list(frame.columns), f"expected {list(columns)}")
    if frame.empty:
        raise PanelDataError(src, "<file>", src, "no rows")
    return frame


def _fail_at(src: str, frame: pd.DataFrame, bad: pd.Series, column: str, problem: str):
    """Raise for the first row where ``bad`` holds (row 1 = the first data row)."""
    row = int(np.flatnonzero(bad.to_numpy())[0])
    raise PanelDataError(src, f"row {row + 1}.{column}", frame[column].iloc[row], problem)


def _dates(src: str, frame: pd.DataFrame, column: str) -> pd.Series:
    parsed = pd.to_datetime(frame[column], format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna() | ~frame[column].str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    if bad.any():
        _fail_at(src, frame, bad, column, "expected a date YYYY-MM-DD")
    return parsed


def _counts(src: str, frame: pd.DataFrame, column: str) -> pd.Series:
    """Non-negative integers (tokens can exceed 2**31: int64)."""
    digits = frame[column].str.fullmatch(r"\d+")
    if not digits.all():
        _fail_at(src, frame, ~digits, column, "expected a non-negative integer")
    too_long = frame[column].str.len() > 18  # int64 holds every 18-digit number
    if too_long.any():
        _fail_at(src, frame, too_long, column, "too large for a token count")
    return frame[column].astype(np.int64)


def _unique(src: str, frame: pd.DataFrame, keys: list[str]) -> None:
    duplicated = frame.duplicated(keys, keep="first")
    if duplicated.any():
        _fail_at(src, frame, duplicated, keys[1], f"duplicate ({', '.join(keys)}) row")


def load_openrouter_daily(path: str | Path | None = None) -> pd.DataFrame:
    """OpenRouter's daily tokens per model (default: the shipped extract).

    Columns: ``date`` (datetime64), ``model_permaslug`` (str), ``total_tokens`` (int64); one
    row per (date, slug), every date with exactly one ``other`` row.
    """
    path = Path(path) if path is not None else observed_file(DAILY_FILE)
    src = str(path)
    raw = read_panel_csv(path, DAILY_COLUMNS)
    empty = raw["model_permaslug"].str.strip() == ""
    if empty.any():
        _fail_at(src, raw, empty, "model_permaslug", "must not be empty")
    frame = pd.DataFrame({"date": _dates(src, raw, "date"),
                          "model_permaslug": raw["model_permaslug"],
                          "total_tokens": _counts(src, raw, "total_tokens")})
    _unique(src, raw, ["date", "model_permaslug"])
    others = frame.loc[frame["model_permaslug"] == OTHER].groupby("date").size()
    days = frame["date"].drop_duplicates()
    missing = days[~days.isin(others.index)]
    if len(missing):
        raise PanelDataError(src, "model_permaslug", missing.iloc[0].date().isoformat(),
                             f"that date has no {OTHER!r} row (the tokens outside its top 50)")
    return frame


def weekly_from_daily(daily: pd.DataFrame) -> pd.DataFrame:
    """Daily rows -> weekly rows over the complete Monday-Sunday weeks they cover.

    A week counts only if all 7 of its days are in ``daily`` (the first and last weeks of an
    extract are usually partial and are dropped). ``tokens`` is the sum over the days the model
    was listed, ``days_in_top50`` the number of those days. Columns as the weekly file's, without
    ``source``; sorted by week, then model.
    """
    frame = daily.assign(week_start=daily["date"] - pd.to_timedelta(daily["date"].dt.day_of_week,
                                                                      unit="D"))
    days_per_week = frame.groupby("week_start")["date"].nunique()
    complete = days_per_week.index[days_per_week == DAYS_PER_WEEK]
    frame = frame[frame["week_start"].isin(complete)]
    weekly = (frame.groupby(["week_start", "model_permaslug"], sort=True)
              .agg(tokens=("total_tokens", "sum"), days_in_top50=("date", "nunique"))
              .reset_index().rename(columns={"model_permaslug": "model_id"}))
    weekly["author"] = weekly["model_id"].str.split("/").str[0]
    weekly["tokens"] = weekly["tokens"].astype(np.int64)
    weekly["days_in_top50"] = weekly["days_in_top50"].astype(np.int64)
    return weekly[["week_start", "model_id", "author", "tokens", "days_in_top50"]]


def load_openrouter_weekly(path: str | Path | None = None) -> pd.DataFrame:
    """OpenRouter's weekly tokens per model (default: the shipped file).

    Columns: ``week_start`` (datetime64, every one a Monday), ``model_id``, ``author`` and
    ``source`` (str), ``tokens`` and ``days_in_top50`` (int64). Checked: the exact columns,
    ISO dates that are Mondays, non-negative integer tokens, 1-7 days, ``author`` = the slug's
    prefix, a source on every row, one row per (week_start, model_id).
    """
    path = Path(path) if path is not None else observed_file(WEEKLY_FILE)
    src = str(path)
    raw = read_panel_csv(path, WEEKLY_COLUMNS)
    week = _dates(src, raw, "week_start")
    not_monday = week.dt.day_of_week != 0
    if not_monday.any():
        _fail_at(src, raw, not_monday, "week_start", "a week starts on a Monday")
    for column in ("model_id", "source"):
        empty = raw[column].str.strip() == ""
        if empty.any():
            _fail_at(src, raw, empty, column, "must not be empty")
    wrong_author = raw["author"] != raw["model_id"].str.split("/").str[0]
    if wrong_author.any():
        _fail_at(src, raw, wrong_author, "author", "expected the model_id's prefix (before '/')")
    tokens = _counts(src, raw, "tokens")
    days = _counts(src, raw, "days_in_top50")
    bad_days = (days < 1) | (days > DAYS_PER_WEEK)
    if bad_days.any():
        _fail_at(src, raw, bad_days, "days_in_top50", f"expected 1 to {DAYS_PER_WEEK}")
    _unique(src, raw, ["week_start", "model_id"])
    return pd.DataFrame({"week_start": week, "model_id": raw["model_id"],
                         "author": raw["author"], "tokens": tokens, "days_in_top50": days,
                         "source": raw["source"]})


def _prices(src: str, frame: pd.DataFrame, column: str, optional: bool = False) -> pd.Series:
    """Finite non-negative USD/Mtok; blank is NaN where ``optional``."""
    text = frame[column].str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad = (values.isna() & ((text != "") | (not optional))) | ~np.isfinite(values.fillna(0.0))
    bad |= values < 0
    if bad.any():
        _fail_at(src, frame, bad, column, "expected a finite number >= 0 (USD per million tokens)"
                 + (" or blank" if optional else ""))
    return values.astype(float)


def load_provider_prices(path: str | Path | None = None) -> pd.DataFrame:
    """Hosts' list prices of open-weight models (default: the shipped file).

    Columns: ``snapshot_date`` (datetime64), ``model_id``, ``provider``, ``route``, ``source``
    (str; ``route`` may be empty), ``input_usd_per_mtok``, ``output_usd_per_mtok`` and
    ``cache_read_usd_per_mtok`` (float, USD per million tokens; the cache-read price NaN where
    not listed). Checked: the exact columns, ISO dates, prices >= 0 and not both 0 (a free tier
    or a subscription is not a per-token price), ``model_id`` an ``author/model`` slug, a
    provider and a source on every row, one row per (snapshot_date, model_id, provider, route).
    """
    path = Path(path) if path is not None else observed_file(PRICES_FILE)
    src = str(path)
    raw = read_panel_csv(path, PRICE_COLUMNS)
    date = _dates(src, raw, "snapshot_date")
    for column in ("provider", "source"):
        empty = raw[column].str.strip() == ""
        if empty.any():
            _fail_at(src, raw, empty, column, "must not be empty")
    not_slug = ~raw["model_id"].str.fullmatch(r"[^/\s]+/[^/\s]+")
    if not_slug.any():
        _fail_at(src, raw, not_slug, "model_id", "expected an OpenRouter slug author/model")
    price_in = _prices(src, raw, "input_usd_per_mtok")
    price_out = _prices(src, raw, "output_usd_per_mtok")
    cache = _prices(src, raw, "cache_read_usd_per_mtok", optional=True)
    free = (price_in == 0) & (price_out == 0)
    if free.any():
        _fail_at(src, raw, free, "input_usd_per_mtok", "input and output both 0: not a price")
    _unique(src, raw, ["snapshot_date", "model_id", "provider", "route"])
    return pd.DataFrame({"snapshot_date": date, "model_id": raw["model_id"],
                         "provider": raw["provider"], "route": raw["route"],
                         "input_usd_per_mtok": price_in, "output_usd_per_mtok": price_out,
                         "cache_read_usd_per_mtok": cache, "source": raw["source"]})
