"""The calibration figures (pricewar/calibrate/plots.py): axes a reader can take at face value."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from pricewar.calibrate.plots import axis_unit, plot_marginals
from pricewar.calibrate.priors import Prior


def test_axis_unit_is_the_declared_unit_and_empty_for_pure_numbers():
    assert axis_unit("electricity_cn_west") == "USD/kWh"
    assert axis_unit("friction_utils") == "utils"
    assert axis_unit("nest_sigma") == ""  # declared "1"
    assert axis_unit("not_a_parameter") == ""


def test_posterior_marginals_label_each_axis_with_its_unit(tmp_path, monkeypatch):
    priors = [Prior("electricity_cn_west", 0.02, 0.08, "log-uniform"),
              Prior("nest_sigma", 0.4, 0.95)]
    rng = np.random.default_rng(0)
    draws = pd.DataFrame({"electricity_cn_west": rng.uniform(0.03, 0.05, 50),
                          "nest_sigma": rng.uniform(0.6, 0.9, 50), "weight": np.ones(50)})
    table = pd.DataFrame([{"parameter": p.name, "median": float(draws[p.name].median()),
                           "q05": float(draws[p.name].quantile(0.05)),
                           "q95": float(draws[p.name].quantile(0.95))} for p in priors])
    labels = []
    import pricewar.calibrate.plots as plots

    def keep(fig, out_dir, name, note):
        labels.extend(ax.get_xlabel() for ax in fig.axes if ax.get_visible())
        ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
        labels.append(ticks)
        return []

    monkeypatch.setattr(plots, "save_figure", keep)
    plot_marginals(draws, priors, table, tmp_path, "test")
    assert labels[0] == "electricity_cn_west (USD/kWh)"
    assert labels[1] == "nest_sigma"
    assert all(text.startswith("$") for text in labels[2])  # dollars on a USD axis
