"""Observed targets: a value with its uncertainty, dates and source, read from a data file.

The shipped targets are ``pricewar/data/observed/calibration_targets.csv`` (one row per target;
the raw series behind them sit beside it, see its README). Columns:

``target`` (id), ``value`` (in ``unit``), ``unit``, ``scale`` (``log`` or ``linear``: the scale on
which the model is compared with the value, e.g. ``log`` for prices, volumes and factors),
either ``sd`` (a standard deviation *on that scale*) or ``ci_low, ci_high, ci_level`` (an interval
in ``unit``, turned into ``sd = (f(high) - f(low)) / (2 z)`` with ``f`` the scale and ``z`` the
normal quantile of the level), ``date`` and optional ``date_end`` (the period observed),
``derivation`` (how value and uncertainty were derived) and ``source``.

The uncertainty enters the estimation as observation error (each simulated summary gets a draw
of it, so a loosely measured target weighs less) and the posterior predictive checks.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.stats import norm

from pricewar.errors import LocatedInputError, ScenarioError
from pricewar.scenario.data_files import read_input_bytes

TARGETS_FILE = "calibration_targets.csv"
COLUMNS = ("target", "value", "unit", "scale", "sd", "ci_low", "ci_high", "ci_level", "date",
           "date_end", "derivation", "source")
SCALES = ("log", "linear")


class TargetDataError(LocatedInputError):
    """An invalid observed-targets file (names the file, the row's target and the column)."""


@dataclass(frozen=True)
class ObservedTarget:
    """One observed value with its uncertainty (``sd`` on ``scale``)."""

    id: str
    value: float
    sd: float
    scale: str = "log"
    unit: str = ""
    date: str = ""
    date_end: str = ""
    derivation: str = ""
    source: str = ""

    def transform(self, x) -> np.ndarray:
        """Values in ``unit`` -> the comparison scale (natural log or unchanged)."""
        x = np.asarray(x, float)
        if self.scale != "log":
            return x
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)

    def untransform(self, y) -> np.ndarray:
        y = np.asarray(y, float)
        return np.exp(y) if self.scale == "log" else y

    @property
    def observed(self) -> float:
        """The value on the comparison scale."""
        return float(self.transform(self.value))

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        """Central interval of the observation at ``level``, in ``unit``."""
        half = norm.ppf(0.5 + level / 2) * self.sd
        return (float(self.untransform(self.observed - half)),
                float(self.untransform(self.observed + half)))

    @property
    def period(self) -> str:
        return f"{self.date} to {self.date_end}" if self.date_end else self.date


def shipped_targets_path() -> Path:
    return Path(str(resources.files("pricewar") / "data" / "observed" / TARGETS_FILE))


def _number(text: str, src: str, target: str, column: str, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TargetDataError(src, f"{target}.{column}", text, "expected a number") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise TargetDataError(src, f"{target}.{column}", text,
                              "expected a positive number" if positive else "expected a number")
    return value


def target_from_row(row: dict, src: str) -> ObservedTarget:
    """Validate one row (a dict of the file's columns as strings) into an ObservedTarget."""
    target = (row.get("target") or "").strip()
    if not target:
        raise TargetDataError(src, "target", row.get("target"), "missing target id")
    scale = (row.get("scale") or "").strip()
    if scale not in SCALES:
        raise TargetDataError(src, f"{target}.scale", scale, f"expected one of {list(SCALES)}")
    value = _number(row.get("value", ""), src, target, "value", positive=scale == "log")
    has_sd = bool((row.get("sd") or "").strip())
    interval = [(row.get(c) or "").strip() for c in ("ci_low", "ci_high", "ci_level")]
    if has_sd == any(interval):
        raise TargetDataError(src, f"{target}.sd", row.get("sd"),
                              "give either sd or ci_low, ci_high and ci_level")
    if has_sd:
        sd = _number(row["sd"], src, target, "sd", positive=True)
    else:
        if not all(interval):
            raise TargetDataError(src, f"{target}.ci_level", row.get("ci_level"),
                                  "an interval needs ci_low, ci_high and ci_level")
        low = _number(interval[0], src, target, "ci_low", positive=scale == "log")
        high = _number(interval[1], src, target, "ci_high", positive=scale == "log")
        level = _number(interval[2], src, target, "ci_level")
        if not low < value < high:
            raise TargetDataError(src, f"{target}.ci_low", [low, high],
                                  f"the interval must contain the value {value}")
        if not 0 < level < 1:
            raise TargetDataError(src, f"{target}.ci_level", level, "expected a level in (0, 1)")
        f = np.log if scale == "log" else float
        sd = float((f(high) - f(low)) / (2 * norm.ppf(0.5 + level / 2)))
    for column in ("date", "source"):
        if not (row.get(column) or "").strip():
            raise TargetDataError(src, f"{target}.{column}", row.get(column),
                                  "every target needs a date and a source")
    return ObservedTarget(id=target, value=value, sd=sd, scale=scale,
                          unit=(row.get("unit") or "").strip(), date=row["date"].strip(),
                          date_end=(row.get("date_end") or "").strip(),
                          derivation=(row.get("derivation") or "").strip(),
                          source=row["source"].strip())


def observed_targets(path: str | Path | None = None) -> dict[str, ObservedTarget]:
    """Every target of an observed-targets CSV (default: the shipped file), by id.

    Raises
    ------
    TargetDataError
        A missing column, a duplicate id, or an invalid row (naming the target and column).
    """
    path = Path(path) if path is not None else shipped_targets_path()
    src = str(path)
    try:
        text = read_input_bytes(path).decode("utf-8")
    except ScenarioError as error:
        raise TargetDataError(src, "<file>", str(path), error.problem) from None
    except UnicodeDecodeError as error:
        raise TargetDataError(src, "<file>", str(path), f"not UTF-8 text (byte "
                              f"{error.start})") from None
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if rows:
        missing = [c for c in COLUMNS if c not in rows[0]]
        if missing:
            raise TargetDataError(src, "<header>", missing[0], "missing column")
    targets: dict[str, ObservedTarget] = {}
    for row in rows:
        target = target_from_row(row, src)
        if target.id in targets:
            raise TargetDataError(src, target.id, target.id, "duplicate target id")
        targets[target.id] = target
    return targets
