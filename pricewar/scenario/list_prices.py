"""Observed list prices (``pricewar/data/observed/list_prices.csv``, docs/v3-interfaces.md §1):
one row per family, host and date from which a public list price applies, in USD per million
input, output and cached-input tokens, each with its source. Observations for the v3 market
(blended with a sector's mix before any comparison), never a price path.

:func:`load_list_prices` reads and checks the file: the exact columns, ISO dates in date order,
non-negative prices (a cached-input price may be blank, and is at most the input price), a source
on every row, one row per (date, family, host), and -- given a catalogue -- a known family whose
owner is the row's owner. Problems raise :class:`~pricewar.errors.ScenarioError` naming the file,
the row (``row 3.date``) and the value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass
from pathlib import Path

from pricewar.scenario.data_files import data_dir, read_input_bytes
from pricewar.scenario.typed import fail

COLUMNS = ("date", "owner", "family", "host", "input_usd_per_mtok", "output_usd_per_mtok",
           "cached_input_usd_per_mtok", "source")


@dataclass(frozen=True)
class ObservedListPrice:
    """One public list price: ``host`` sells ``family`` (of ``owner``) from ``date`` on."""

    date: dt.date
    owner: str
    family: str
    host: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None
    source: str


def list_prices_path() -> Path:
    """The shipped table."""
    return data_dir() / "observed" / "list_prices.csv"


def _price(text: str, origin: str, path: str, optional: bool = False) -> float | None:
    if optional and text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        fail(origin, path, text, "expected a number (USD per million tokens)")
    if not math.isfinite(value) or value < 0.0:
        fail(origin, path, text, "must be a finite number >= 0")
    return value


def _row(raw: dict, number: int, origin: str) -> ObservedListPrice:
    key = f"row {number}"
    try:
        date = dt.date.fromisoformat(raw["date"])
    except ValueError:
        fail(origin, f"{key}.date", raw["date"], "expected a date YYYY-MM-DD")
    for name in ("owner", "family", "host", "source"):
        if not raw[name].strip():
            fail(origin, f"{key}.{name}", raw[name], "must not be empty")
    price = ObservedListPrice(
        date=date, owner=raw["owner"], family=raw["family"], host=raw["host"],
        input_usd_per_mtok=_price(raw["input_usd_per_mtok"], origin, f"{key}.input_usd_per_mtok"),
        output_usd_per_mtok=_price(raw["output_usd_per_mtok"], origin,
                                   f"{key}.output_usd_per_mtok"),
        cached_input_usd_per_mtok=_price(raw["cached_input_usd_per_mtok"], origin,
                                         f"{key}.cached_input_usd_per_mtok", optional=True),
        source=raw["source"])
    cached = price.cached_input_usd_per_mtok
    if cached is not None and cached > price.input_usd_per_mtok:
        fail(origin, f"{key}.cached_input_usd_per_mtok", cached,
             f"exceeds input_usd_per_mtok = {price.input_usd_per_mtok:g}")
    return price


def load_list_prices(path: Path | str | None = None, catalogue=None
                     ) -> tuple[ObservedListPrice, ...]:
    """The rows of ``path`` (default: the shipped table), checked (module docstring). With a
    ``catalogue`` (a :class:`~pricewar.scenario.catalogue.Catalogue` of the v3 market, whose
    families include the cheap end), every row's family must be one of its families and the
    row's owner that family's owner."""
    path = Path(path) if path is not None else list_prices_path()
    origin = str(path)
    text = read_input_bytes(path).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        fail(origin, "<header>", reader.fieldnames, f"expected the columns {list(COLUMNS)}")
    rows, seen = [], set()
    for number, raw in enumerate(reader, start=1):
        if None in raw or any(value is None for value in raw.values()):
            fail(origin, f"row {number}", raw, f"expected {len(COLUMNS)} fields")
        price = _row(raw, number, origin)
        if rows and price.date < rows[-1].date:
            fail(origin, f"row {number}.date", str(price.date),
                 f"before the previous row's {rows[-1].date}: rows must be in date order")
        key = (price.date, price.family, price.host)
        if key in seen:
            fail(origin, f"row {number}", key, "a second row for this date, family and host")
        seen.add(key)
        if catalogue is not None:
            family = catalogue.families.get(price.family)
            if family is None:
                fail(origin, f"row {number}.family", price.family,
                     "unknown family (not in the catalogue)")
            if family.owner != price.owner:
                fail(origin, f"row {number}.owner", price.owner,
                     f"family {price.family} is owned by {family.owner}")
        rows.append(price)
    return tuple(rows)
