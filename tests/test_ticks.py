"""Tick labels of the figures: plain dollars and numbers, never powers of ten."""

import io

import pytest
from matplotlib.figure import Figure

from pricewar.plotting.ticks import dollar_axis, plain_axis, si_number, usd


@pytest.mark.parametrize("value, label", [(0, "$0"), (0.05, "$0.05"), (0.6, "$0.6"), (2, "$2"),
                                          (15, "$15"), (1200, "$1,200"), (3.5e6, "$3.5M"),
                                          (1.2e9, "$1.2bn"), (-0.25, "-$0.25")])
def test_usd(value, label):
    assert usd(value) == label


@pytest.mark.parametrize("value, label", [(0.5, "0.5"), (20, "20"), (1500, "1,500"),
                                          (25_000, "25k"), (3.4e6, "3.4M"), (1.2e9, "1.2bn"),
                                          (3e13, "30T"), (1.2e14, "120T")])
def test_si_number(value, label):
    assert si_number(value) == label


def _labels(ax) -> list[str]:
    ax.figure.savefig(io.BytesIO())  # tick labels are set when the figure is drawn
    major = [t.get_text() for t in ax.yaxis.get_ticklabels()]
    minor = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True)]
    return [t for t in major + minor if t]


def test_a_short_log_dollar_axis_has_plain_labels():
    ax = Figure().subplots()
    ax.plot([0, 1], [0.15, 2.1])
    ax.set_yscale("log")
    dollar_axis(ax)
    labels = _labels(ax)
    assert labels and all(t.startswith("$") for t in labels)
    assert not any("^" in t or "times" in t for t in labels)
    assert {"$0.2", "$0.5", "$1", "$2"} <= set(labels)


def test_a_log_axis_of_ratios_has_plain_numbers():
    ax = Figure().subplots()
    ax.plot([0, 1], [0.01, 10])
    ax.set_yscale("log")
    plain_axis(ax)
    assert {"0.01", "0.1", "1", "10"} <= set(_labels(ax))
