"""Tick labels a policy reader can read: plain dollars, plain numbers on log axes, short volumes.

Used by the experiments' figures (:mod:`pricewar.plotting.style`), ``pricewar compare`` and the
browser app. Matplotlib's defaults label a log axis spanning less than a decade with minor ticks
such as ``2x10^0, 6x10^-1``; these do not.
"""

from __future__ import annotations

from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter


def usd(value: float, _position=None) -> str:
    """A plain dollar tick label: ``$0.05``, ``$0.6``, ``$2``, ``$15``, ``$1,200``, ``$3.5M``,
    ``$1.2bn``."""
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    for scale, suffix in ((1e9, "bn"), (1e6, "M")):
        if value >= scale:
            return f"{sign}${value / scale:.3g}{suffix}"
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{sign}${text}"


def _log_ticks(target) -> None:
    """On a log scale, major ticks at 1, 2 and 5 of every decade and no unlabelled minor ticks
    (matplotlib would otherwise label a short log axis "2x10^0, 6x10^-1")."""
    if target.get_scale() == "log":
        target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_minor_formatter(NullFormatter())


def dollar_axis(ax, axis: str = "y") -> None:
    """Plain dollar tick labels on ``ax``'s ``axis`` ("x" or "y"); on a log scale, ticks at
    1, 2 and 5 of every decade."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    _log_ticks(target)
    target.set_major_formatter(FuncFormatter(usd))


def ratio_axis(ax, axis: str = "y") -> None:
    """Plain number tick labels (``0.2``, ``0.5``, ``1``, ``2``) for a dimensionless ratio, never
    a dollar sign; on a log scale, ticks at 1, 2 and 5 of every decade."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    _log_ticks(target)
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))


def si_number(value: float, _position=None) -> str:
    """``0.5``, ``20``, ``1,500``, ``25k``, ``3.4M``, ``1.2bn``, ``30T``: short labels for
    volumes."""
    for threshold, scale, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "bn"), (1e6, 1e6, "M"),
                                     (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:,.4g}"


def plain_axis(ax, axis: str = "y") -> None:
    """Plain numbers (``0.1``, ``1``, ``1,000``) on a log or symlog axis instead of powers of
    ten."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))
    target.set_minor_formatter(NullFormatter())


def format_value_axis(ax, unit: str, axis: str = "y") -> None:
    """Tick labels for a quantity in ``unit``: dollars for ``USD...`` units, SI prefixes (k, M,
    G) for volumes and energy, plain numbers otherwise."""
    if unit.startswith("USD"):
        dollar_axis(ax, axis)
    elif unit.startswith(("Mtok", "MWh", "t CO2", "GPUs")):
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(si_number))
