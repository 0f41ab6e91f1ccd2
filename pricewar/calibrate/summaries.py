"""Summary statistics: named functions of one run's model frame, registered like strategies.

A summary maps a run's model frame (one row per step with a ``date`` column and the model's
reporters, :func:`pricewar.runs.runner.model_frame`) to one number that an observed target is
compared with. Summaries are registered by name::

    @summary("value_at", reporters=("reporter",), dates=("date",))
    def value_at(frame, reporter, date):
        return float(frame[reporter].iloc[nearest_step(frame, date)])

``reporters`` names the arguments that hold a reporter name (or a list of names): a calibration
spec is checked against the model's reporters before anything runs, so a target whose reporter
the model does not have fails at once, naming the reporter. ``dates`` names the arguments that
hold dates (ISO strings or TOML dates): the spec sets the run length so that every date is
simulated. Adding a summary is a function, a decorator line and a test.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pricewar.units import DAYS_PER_YEAR, TOKENS_PER_MTOK


@dataclass(frozen=True)
class Summary:
    """A registered summary statistic (see module docstring)."""

    name: str
    function: Callable[..., float]
    reporter_args: tuple[str, ...]
    date_args: tuple[str, ...]
    paired: tuple[tuple[str, str], ...] = ()  # reporter-list arguments of equal length

    @property
    def arguments(self) -> dict[str, inspect.Parameter]:
        """The function's arguments after the frame, by name."""
        return dict(list(inspect.signature(self.function).parameters.items())[1:])

    def __call__(self, frame: pd.DataFrame, **args) -> float:
        return float(self.function(frame, **args))


#: name -> registered summary statistic
SUMMARY_REGISTRY: dict[str, Summary] = {}


def summary(name: str, *, reporters: tuple[str, ...] = (), dates: tuple[str, ...] = (),
            paired: tuple[tuple[str, str], ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator registering ``fn(frame, **args) -> float`` under ``name``.

    Parameters
    ----------
    name : the name calibration specs use (``summary = "<name>"``)
    reporters : arguments holding a reporter name or a list of reporter names
    dates : arguments holding a date
    paired : pairs of reporter arguments whose lists must have the same length
    """
    def wrap(fn: Callable) -> Callable:
        parameters = list(inspect.signature(fn).parameters)[1:]
        for arg in (*reporters, *dates):
            if arg not in parameters:
                raise ValueError(f"summary {name!r}: {arg!r} is not an argument of "
                                 f"{fn.__name__} (arguments: {parameters})")
        SUMMARY_REGISTRY[name] = Summary(name, fn, tuple(reporters), tuple(dates),
                                         tuple(paired))
        return fn
    return wrap


def summary_names() -> list[str]:
    """Registered summary names, sorted."""
    return sorted(SUMMARY_REGISTRY)


def as_timestamp(value) -> pd.Timestamp:
    """An ISO date string, a ``datetime.date`` (TOML dates) or a Timestamp -> Timestamp.

    Raises ValueError on anything else.
    """
    try:
        if isinstance(value, bool) or not isinstance(value, str | dt.date | pd.Timestamp):
            raise ValueError(value)
        return pd.Timestamp(value)
    except ValueError:
        raise ValueError(f"expected a date (YYYY-MM-DD), got {value!r}") from None


def reporter_list(value) -> list[str]:
    """A reporter argument's names: one string or a list of strings."""
    return [value] if isinstance(value, str) else list(value)


# ------------------------------------------------------------------------------------------------
# helpers on a run's frame
# ------------------------------------------------------------------------------------------------
def nearest_step(frame: pd.DataFrame, date) -> int:
    """Row position of the step whose date is nearest to ``date``."""
    gaps = (frame["date"] - as_timestamp(date)).abs().to_numpy()
    return int(np.argmin(gaps))


def window(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    """Rows from the step nearest ``start`` to the step nearest ``end`` (inclusive)."""
    first, last = nearest_step(frame, start), nearest_step(frame, end)
    return frame.iloc[first:last + 1]


def step_days(frame: pd.DataFrame) -> float:
    """Length of a step in days (from the frame's dates)."""
    return float((frame["date"].iloc[1] - frame["date"].iloc[0]) / pd.Timedelta(days=1))


def total(frame: pd.DataFrame, reporters) -> pd.Series:
    """The sum of one or more reporters, per step."""
    return frame[reporter_list(reporters)].sum(axis=1)


# ------------------------------------------------------------------------------------------------
# the built-in summaries
# ------------------------------------------------------------------------------------------------
@summary("value_at", reporters=("reporter",), dates=("date",))
def value_at(frame: pd.DataFrame, reporter: str, date) -> float:
    """The reporter at the step nearest ``date`` (a level: a price, a share, a margin)."""
    return float(frame[reporter].iloc[nearest_step(frame, date)])


@summary("mean_over", reporters=("reporter",), dates=("start", "end"))
def mean_over(frame: pd.DataFrame, reporter: str, start, end) -> float:
    """Mean of the reporter over the steps from ``start`` to ``end`` (e.g. a share over a year)."""
    return float(window(frame, start, end)[reporter].mean())


@summary("decline_factor_per_year", reporters=("reporter",), dates=("start", "end"))
def decline_factor_per_year(frame: pd.DataFrame, reporter: str, start, end) -> float:
    """Price reduction factor per year: ``exp(-b)`` of the least-squares fit
    ``log price = a + b * years`` over the steps from ``start`` to ``end``, the statistic Epoch AI
    fits to the cheapest price at fixed capability (a factor of 10 = prices fall 10x a year).

    Steps where the price is not positive are left out: a cheapest-price-at-a-tier reporter is 0
    while no product reaches the tier, and Epoch's series starts when the first one does. Fewer
    than two priced steps give NaN (the run has no decline to compare).
    """
    rows = window(frame, start, end)
    prices = rows[reporter].to_numpy(float)
    priced = prices > 0
    if priced.sum() < 2:
        return float("nan")
    years = ((rows["date"] - rows["date"].iloc[0]) / pd.Timedelta(days=DAYS_PER_YEAR)).to_numpy()
    slope = np.polyfit(years[priced], np.log(prices[priced]), 1)[0]
    return float(np.exp(-slope))


@summary("tokens_per_day", reporters=("reporters",), dates=("date",))
def tokens_per_day(frame: pd.DataFrame, reporters, date) -> float:
    """Tokens a day at the step nearest ``date`` from volume reporters in Mtok per step (summed:
    e.g. the throughput of every region in a country)."""
    volume_mtok = float(total(frame, reporters).iloc[nearest_step(frame, date)])
    return volume_mtok * TOKENS_PER_MTOK / step_days(frame)


@summary("ratio", reporters=("numerator", "denominator"), dates=("start", "end"))
def ratio(frame: pd.DataFrame, numerator: str, denominator: str, start, end) -> float:
    """Geometric mean of ``numerator / denominator`` over the steps from ``start`` to ``end``
    where both are positive (e.g. open over closed models' prices during 2025; a price reporter
    is 0 while nothing is served or offered). NaN when no step has both."""
    return pair_ratio(frame, [numerator], [denominator], start, end)


@summary("pair_ratio", reporters=("numerators", "denominators"), dates=("start", "end"),
         paired=(("numerators", "denominators"),))
def pair_ratio(frame: pd.DataFrame, numerators, denominators, start, end) -> float:
    """Geometric mean of ``numerators[i] / denominators[i]`` over the pairs ``i`` and the steps
    from ``start`` to ``end`` where both are positive: the statistic of an observed set of
    same-capability price pairs (e.g. US over Chinese hosts' prices at each capability tier).
    NaN when no pair is priced at any step."""
    tops, bottoms = reporter_list(numerators), reporter_list(denominators)
    rows = window(frame, start, end)
    top = rows[tops].to_numpy(float)
    bottom = rows[bottoms].to_numpy(float)
    priced = (top > 0) & (bottom > 0)
    if not priced.any():
        return float("nan")
    return float(np.exp(np.mean(np.log(top[priced] / bottom[priced]))))


@summary("change", reporters=("reporter",), dates=("before", "after"))
def change(frame: pd.DataFrame, reporter: str, before, after) -> float:
    """``reporter(after) / reporter(before)``: the depth of a price cut, the growth of a volume
    (NaN when the value before is not positive)."""
    first = float(frame[reporter].iloc[nearest_step(frame, before)])
    if first <= 0:
        return float("nan")
    return float(frame[reporter].iloc[nearest_step(frame, after)]) / first


@summary("per_year_at", reporters=("reporter",), dates=("date",))
def per_year_at(frame: pd.DataFrame, reporter: str, date) -> float:
    """A per-step flow at the step nearest ``date``, annualised: ``reporter x 365.25 /
    step_days`` (e.g. ``api_revenue_usd``, USD/step, against an annual revenue)."""
    return float(frame[reporter].iloc[nearest_step(frame, date)]) * DAYS_PER_YEAR / \
        step_days(frame)


@summary("log_growth_per_year", reporters=("reporter",), dates=("start", "end"))
def log_growth_per_year(frame: pd.DataFrame, reporter: str, start, end) -> float:
    """``ln(reporter(end) / reporter(start))`` per year between the two steps nearest the dates
    (e.g. the number of live hosts: net entry). NaN when either value is not positive or the
    steps coincide."""
    first, last = nearest_step(frame, start), nearest_step(frame, end)
    before, after = float(frame[reporter].iloc[first]), float(frame[reporter].iloc[last])
    years = (frame["date"].iloc[last] - frame["date"].iloc[first]).days / DAYS_PER_YEAR
    if before <= 0 or after <= 0 or years <= 0:
        return float("nan")
    return float(np.log(after / before) / years)


def bind_arguments(name: str, args: Mapping) -> dict:
    """Check ``args`` against the summary's signature; dates become Timestamps.

    Raises
    ------
    KeyError
        ``name`` is not a registered summary.
    ValueError
        An unknown or missing argument, a reporter argument that is not a name (or list of
        names), or a date that is not a date; the message names the argument.
    """
    found = SUMMARY_REGISTRY[name]
    arguments = found.arguments
    unknown = sorted(set(args) - set(arguments))
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]!r} (arguments of {name!r}: "
                         f"{list(arguments)})")
    missing = [a for a, p in arguments.items()
               if p.default is inspect.Parameter.empty and a not in args]
    if missing:
        raise ValueError(f"missing argument {missing[0]!r} (arguments of {name!r}: "
                         f"{list(arguments)})")
    bound = dict(args)
    for arg in found.reporter_args:
        value = bound.get(arg)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not names \
                or not all(isinstance(n, str) for n in names):
            raise ValueError(f"argument {arg!r} = {value!r}: expected a reporter name or a "
                             "list of reporter names")
    for first, second in found.paired:
        if len(reporter_list(bound[first])) != len(reporter_list(bound[second])):
            raise ValueError(f"arguments {first!r} and {second!r}: expected lists of the same "
                             f"length (pair i is {first}[i] / {second}[i])")
    for arg in found.date_args:
        if arg in bound:
            try:
                bound[arg] = as_timestamp(bound[arg])
            except ValueError as error:
                raise ValueError(f"argument {arg!r}: {error}") from None
    return bound


def required_reporters(name: str, args: Mapping) -> list[str]:
    """The reporters a bound summary reads."""
    return [r for arg in SUMMARY_REGISTRY[name].reporter_args if arg in args
            for r in reporter_list(args[arg])]


def dates_of(name: str, args: Mapping) -> list[pd.Timestamp]:
    """The dates a bound summary reads."""
    return [as_timestamp(args[a]) for a in SUMMARY_REGISTRY[name].date_args if a in args]
