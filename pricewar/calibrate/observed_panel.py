"""The observed OpenRouter panel in the stage-1 estimator's long format (issue #26, item 3).

:func:`observed_substitution_panel` converts the weekly tokens per OpenRouter model
(``openrouter_weekly_tokens.csv``) and the hosts' prices (``provider_prices.csv``, list prices
``list_prices.csv``) into the panel of :func:`~pricewar.calibrate.substitution.estimate_substitution`
(columns :data:`~pricewar.calibrate.substitution.PANEL_COLUMNS`), to be fitted with
``tokens_by="family"``. Only weeks whose pre-registered role (``preregistration.toml``,
:mod:`~pricewar.calibrate.preregistration`) is in ``roles`` are converted; the default is the
``fit`` weeks, and asking for a week of another role without naming that role is refused
(:class:`HeldOutWeekError`).

**Families.** ``openrouter_family_map.csv`` maps an OpenRouter slug to the catalogue family
(``families.toml``) whose weights it serves, with its capability tier and a reason per row;
``price_model_id`` names the ``provider_prices.csv`` model whose hosts' prices apply (blank: the
family's list price). Slugs not in the map — every ``:free`` endpoint (not a per-token price),
models outside the catalogue, and ``other`` (the models outside a day's top 50) — are dropped:
the estimator has no outside option, so only shares among the mapped families are fitted.
:func:`weekly_volume` says how much volume each reason drops per week.

**Prices** (USD/Mtok, blended 0.75 input + 0.25 output, ``pricewar/data/observed/README.md``).
A mapped family in a week is sold by

1. every host of its slugs' ``price_model_id`` in the last ``provider_prices.csv`` snapshot
   on or before the week's Monday (one product per provider and route; the gateways and resellers
   the data README names, :data:`GATEWAYS`, are left out: their price is an upstream host's), or
   else
2. every host's latest ``list_prices.csv`` row on or before that Monday (closed families: their
   owner; open families before the first snapshot: their owner or the hosts' median the table
   records); a row whose input and output prices are both 0 is a free tier, not a price.

A mapped family with neither is dropped that week (``mapped_no_price`` volume).

**Tokens.** OpenRouter counts tokens per model, not per host: a family's tokens in a week (the
sum over its mapped slugs) are split evenly over its products; with ``tokens_by="family"`` only
the family's sum enters the fit. **Markets.** One market per run of consecutive weeks in the
panel (``openrouter:<first Monday>``): the estimator chains class volumes from one period to the
next, which is meaningful only between consecutive weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.calibrate.panels import (
    OTHER,
    PanelDataError,
    load_openrouter_weekly,
    load_provider_prices,
    observed_file,
    read_panel_csv,
)
from pricewar.calibrate.preregistration import Preregistration, load_preregistration
from pricewar.errors import PricewarError
from pricewar.scenario.catalogue import load_catalogue
from pricewar.scenario.list_prices import load_list_prices

FAMILY_MAP_FILE = "openrouter_family_map.csv"
FAMILY_MAP_COLUMNS = ("slug", "family", "tier", "price_model_id", "source")
#: the registered panel whose dates give each week its role
TOKENS_PANEL = "openrouter_weekly_tokens"
#: gateways and resellers named in pricewar/data/observed/README.md ("Provider price panel"):
#: their list price is usually an upstream host's, so they are not hosts of their own
GATEWAYS = frozenset({"openrouter", "vercel", "kilo", "nano-gpt", "llmgateway", "helicone",
                      "zenmux", "poe", "cloudflare-ai-gateway"})
#: the repository's blend of input and output prices (pricewar/data/observed/README.md)
INPUT_WEIGHT = 0.75
#: why a week's tokens are not in the panel (:func:`weekly_volume` columns, after ``total``)
VOLUME_COLUMNS = ("mapped", "mapped_no_price", "free_endpoint", "not_in_catalogue", "other")


class HeldOutWeekError(PricewarError, ValueError):
    """A week was asked for whose pre-registered role was not asked for (names both)."""


def load_family_map(path: str | Path | None = None, catalogue=None) -> pd.DataFrame:
    """The slug -> family map (default: the shipped file), checked against the catalogue.

    Columns :data:`FAMILY_MAP_COLUMNS` as str (``price_model_id`` may be empty). Checked: one
    row per slug, every family a catalogue family (v3 market, with the cheap end) and every
    tier that family's tier, a source on every row, no ``:free`` slug and not ``other``.
    """
    path = Path(path) if path is not None else observed_file(FAMILY_MAP_FILE)
    src = str(path)
    frame = read_panel_csv(path, FAMILY_MAP_COLUMNS)
    catalogue = catalogue if catalogue is not None else load_catalogue(market_version=3)
    tiers = {name: family.tier for name, family in catalogue.families.items()}
    for number, row in enumerate(frame.itertuples(index=False), start=1):
        where = f"row {number}"
        if row.slug in (OTHER, "") or row.slug.endswith(":free"):
            raise PanelDataError(src, f"{where}.slug", row.slug,
                                 "not a priced model (free endpoints and 'other' are dropped)")
        if row.family not in tiers:
            raise PanelDataError(src, f"{where}.family", row.family, "not a catalogue family "
                                 "(pricewar/data/families.toml)")
        if row.tier != tiers[row.family]:
            raise PanelDataError(src, f"{where}.tier", row.tier,
                                 f"the catalogue's tier of {row.family} is {tiers[row.family]}")
        if not row.source.strip():
            raise PanelDataError(src, f"{where}.source", row.source, "must not be empty")
    duplicated = frame.duplicated("slug")
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise PanelDataError(src, f"row {row + 1}.slug", frame["slug"].iloc[row],
                             "duplicate slug: one family per slug")
    return frame


def blended_usd_per_mtok(input_usd_per_mtok, output_usd_per_mtok):
    """0.75 x input + 0.25 x output (USD/Mtok)."""
    return INPUT_WEIGHT * input_usd_per_mtok + (1.0 - INPUT_WEIGHT) * output_usd_per_mtok


def week_roles(weeks, preregistration: Preregistration | None = None) -> pd.Series:
    """The registered role of each week (``week_start``), indexed by week."""
    prereg = preregistration if preregistration is not None else load_preregistration()
    weeks = pd.Series(pd.to_datetime(pd.Series(weeks)).drop_duplicates().sort_values().to_numpy())
    return pd.Series(prereg.panels[TOKENS_PANEL].roles(weeks).to_numpy(), index=weeks)


@dataclass(frozen=True)
class ObservedPanel:
    """What :func:`observed_substitution_panel` built.

    ``panel`` the estimator's rows (plus ``slugs``: the week's mapped slugs of the family, and
    ``price_source``: ``provider_prices`` or ``list_prices``); ``volume`` the weekly tokens by
    fate (:func:`weekly_volume`); ``roles`` each converted week's role.
    """

    panel: pd.DataFrame
    volume: pd.DataFrame
    roles: pd.Series


def _select_weeks(weekly: pd.DataFrame, roles: tuple[str, ...], weeks,
                  preregistration: Preregistration | None) -> pd.Series:
    known = {"fit", "held_out"}
    if not roles or not set(roles) <= known:
        raise ValueError(f"roles must be a non-empty subset of {sorted(known)}, got {roles!r}")
    role = week_roles(weekly["week_start"], preregistration)
    if weeks is not None:
        asked = pd.to_datetime(pd.Series(list(weeks)))
        missing = asked[~asked.isin(role.index)]
        if len(missing):
            raise ValueError(f"week {missing.iloc[0].date()} is not in the weekly panel")
        refused = role.loc[asked.to_numpy()]
        refused = refused[~refused.isin(roles)]
        if len(refused):
            raise HeldOutWeekError(
                f"week {refused.index[0].date()} is registered as {refused.iloc[0]!r} "
                f"(preregistration.toml, split {TOKENS_PANEL}); ask for roles including "
                f"{refused.iloc[0]!r} explicitly to convert it")
        role = role.loc[asked.drop_duplicates().sort_values().to_numpy()]
    return role[role.isin(roles)]


def _fate(weekly: pd.DataFrame, family_map: pd.DataFrame) -> pd.Series:
    mapped = weekly["model_id"].isin(family_map["slug"])
    return pd.Series(np.select(
        [weekly["model_id"] == OTHER, mapped, weekly["model_id"].str.endswith(":free")],
        ["other", "mapped", "free_endpoint"], "not_in_catalogue"), index=weekly.index)


def _provider_products(family: str, price_ids: set[str], week: pd.Timestamp,
                       prices: pd.DataFrame) -> pd.DataFrame:
    """The hosts' rows of ``price_ids`` in the last snapshot on or before ``week``."""
    if not price_ids:
        return prices.iloc[:0]
    before = prices[prices["snapshot_date"] <= week]
    if before.empty:
        return before
    rows = before[(before["snapshot_date"] == before["snapshot_date"].max())
                  & before["model_id"].isin(price_ids) & ~before["provider"].isin(GATEWAYS)]
    host = rows["provider"].where(rows["route"] == "", rows["provider"] + "/" + rows["route"])
    return rows.assign(
        product_id=family + "|" + rows["model_id"] + "|" + host, host=host,
        price_usd_per_mtok=blended_usd_per_mtok(rows["input_usd_per_mtok"],
                                                rows["output_usd_per_mtok"]),
        price_source="provider_prices", price_date=rows["snapshot_date"])


def _list_products(family: str, week: pd.Timestamp, list_prices: pd.DataFrame) -> pd.DataFrame:
    """Every host's latest list price of ``family`` on or before ``week`` (free tiers out)."""
    rows = list_prices[(list_prices["family"] == family) & (list_prices["date"] <= week)]
    rows = rows.sort_values("date").groupby("host", sort=True).tail(1)
    rows = rows[(rows["input_usd_per_mtok"] > 0) | (rows["output_usd_per_mtok"] > 0)]
    return rows.assign(product_id=family + "|" + rows["host"] + "|list", host=rows["host"],
                       price_usd_per_mtok=blended_usd_per_mtok(rows["input_usd_per_mtok"],
                                                               rows["output_usd_per_mtok"]),
                       price_source="list_prices", price_date=rows["date"])


def _list_price_frame() -> pd.DataFrame:
    rows = load_list_prices()
    return pd.DataFrame({"date": pd.to_datetime([r.date for r in rows]),
                         "family": [r.family for r in rows], "host": [r.host for r in rows],
                         "input_usd_per_mtok": [r.input_usd_per_mtok for r in rows],
                         "output_usd_per_mtok": [r.output_usd_per_mtok for r in rows]})


def _markets(weeks: pd.Series) -> dict:
    """``openrouter:<first Monday>`` per run of consecutive weeks."""
    ordered = sorted(pd.to_datetime(weeks).unique())
    market, start = {}, None
    for i, week in enumerate(ordered):
        if i == 0 or week - ordered[i - 1] != pd.Timedelta(days=7):
            start = week
        market[pd.Timestamp(week)] = f"openrouter:{pd.Timestamp(start).date().isoformat()}"
    return market


def observed_substitution_panel(weekly: pd.DataFrame | None = None,
                                prices: pd.DataFrame | None = None,
                                list_prices: pd.DataFrame | None = None,
                                family_map: pd.DataFrame | None = None, *,
                                roles: tuple[str, ...] = ("fit",), weeks=None,
                                preregistration: Preregistration | None = None
                                ) -> ObservedPanel:
    """The estimator's panel from the observed OpenRouter weeks (module docstring).

    Parameters
    ----------
    weekly, prices : frames as :func:`~pricewar.calibrate.panels.load_openrouter_weekly` and
        :func:`~pricewar.calibrate.panels.load_provider_prices` return (default: the shipped
        files)
    list_prices : columns ``date, family, host, input_usd_per_mtok, output_usd_per_mtok``
        (default: ``list_prices.csv``)
    family_map : as :func:`load_family_map` (default: the shipped, checked map)
    roles : the pre-registered roles of the weeks to convert: ``("fit",)`` (default),
        ``("held_out",)`` or both; weeks of other roles are left out
    weeks : the Mondays to convert (default: every week of ``roles``); a week whose role is not
        in ``roles`` raises :class:`HeldOutWeekError`
    preregistration : the split (default: the shipped ``preregistration.toml``)
    """
    weekly = weekly if weekly is not None else load_openrouter_weekly()
    prices = prices if prices is not None else load_provider_prices()
    list_prices = list_prices if list_prices is not None else _list_price_frame()
    family_map = family_map if family_map is not None else load_family_map()
    role = _select_weeks(weekly, tuple(roles), weeks, preregistration)
    weekly = weekly[weekly["week_start"].isin(role.index)]
    fate = _fate(weekly, family_map)
    by_slug = family_map.set_index("slug")
    mapped = weekly[fate == "mapped"].assign(
        family=lambda f: f["model_id"].map(by_slug["family"]),
        tier=lambda f: f["model_id"].map(by_slug["tier"]),
        price_model_id=lambda f: f["model_id"].map(by_slug["price_model_id"]))
    market = _markets(role.index.to_series())
    rows, unpriced = [], []
    for (week, family), group in mapped.groupby(["week_start", "family"], sort=True):
        price_ids = {p for p in group["price_model_id"] if p}
        products = _provider_products(family, price_ids, week, prices)
        if products.empty:
            products = _list_products(family, week, list_prices)
        if products.empty:
            unpriced.extend(group.index)
            continue
        tokens = float(group["tokens"].sum())
        rows.append(pd.DataFrame({
            "period": week.date().isoformat(), "market": market[week],
            "product_id": products["product_id"].to_numpy(), "family": family,
            "tier": group["tier"].iloc[0], "host": products["host"].to_numpy(),
            "price_usd_per_mtok": products["price_usd_per_mtok"].to_numpy(float),
            "tokens": tokens / len(products),
            "slugs": " ".join(sorted(group["model_id"])),
            "price_source": products["price_source"].to_numpy(),
            "price_date": pd.to_datetime(products["price_date"]).dt.date.astype(str).to_numpy(),
        }))
    fate.loc[unpriced] = "mapped_no_price"
    columns = ["period", "market", "product_id", "family", "tier", "host", "price_usd_per_mtok",
               "tokens", "slugs", "price_source", "price_date"]
    panel = (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns))
    return ObservedPanel(panel=panel[columns], volume=weekly_volume(weekly, fate),
                         roles=role)


def weekly_volume(weekly: pd.DataFrame, fate: pd.Series) -> pd.DataFrame:
    """Tokens per week (index ``week_start``): ``total`` and by fate (:data:`VOLUME_COLUMNS`:
    in the panel, mapped but without a price, ``:free`` endpoints, slugs not mapped to a
    catalogue family, and ``other``), with each fate's share of the week's total."""
    table = (weekly.assign(fate=fate).pivot_table(index="week_start", columns="fate",
                                                  values="tokens", aggfunc="sum", fill_value=0)
             .reindex(columns=list(VOLUME_COLUMNS), fill_value=0))
    table.insert(0, "total", table.sum(axis=1))
    for column in VOLUME_COLUMNS:
        table[f"{column}_share"] = table[column] / table["total"]
    return table

