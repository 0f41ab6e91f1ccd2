"""Which chips a bloc can buy when (pricewar.supply.chip_access): export-control dates from the
data, the regimes and the lag lever; the best chip for a family."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pricewar.scenario.catalogue import load_catalogue
from pricewar.supply.chip_access import available_under, best_chip, chip_available
from pricewar.supply.cohort_costs import Site, SupplyCosts


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def can_buy(catalogue, bloc, date, **kwargs) -> set[str]:
    mask = chip_available(catalogue, bloc, date, **kwargs)
    return {name for name, ok in zip(catalogue.chips, mask, strict=True) if ok}


def test_h800_is_not_buyable_by_cn_after_the_october_2023_rule(catalogue):
    # BIS interim final rule of 17 Oct 2023
    assert "H800" in can_buy(catalogue, "cn", dt.date(2023, 10, 16))
    assert "H800" not in can_buy(catalogue, "cn", dt.date(2023, 10, 17))
    assert "H800" not in can_buy(catalogue, "cn", dt.date(2024, 6, 1))
    assert "A800" not in can_buy(catalogue, "cn", dt.date(2024, 1, 1))


def test_h100_is_never_buyable_by_cn_under_historical_controls(catalogue):
    for year in range(2022, 2028):
        for month in (1, 6, 12):
            assert "H100" not in can_buy(catalogue, "cn", dt.date(year, month, 1))


def test_h20_follows_its_2025_licence_events(catalogue):
    assert "H20" not in can_buy(catalogue, "cn", dt.date(2024, 1, 15))
    assert "H20" in can_buy(catalogue, "cn", dt.date(2024, 6, 1))
    assert "H20" not in can_buy(catalogue, "cn", dt.date(2025, 4, 9))  # licence requirement
    # licences from mid-Aug 2025, under a 15% levy and Chinese guidance against purchases
    assert "H20" not in can_buy(catalogue, "cn", dt.date(2025, 9, 1))
    assert "H20" in can_buy(catalogue, "cn", dt.date(2025, 9, 1), restricted_buyable=True)
    assert "H20" not in can_buy(catalogue, "cn", dt.date(2025, 6, 1), restricted_buyable=True)
    assert "H200" in can_buy(catalogue, "cn", dt.date(2026, 1, 1), restricted_buyable=True)
    assert "H200" not in can_buy(catalogue, "cn", dt.date(2026, 1, 1))


def test_the_western_bloc_buys_the_nvidia_frontier_as_it_ships(catalogue):
    assert can_buy(catalogue, "western", dt.date(2024, 1, 1)) == {"H100"}
    assert can_buy(catalogue, "western", dt.date(2024, 7, 1)) == {"H100", "H200"}
    assert can_buy(catalogue, "western", dt.date(2025, 6, 1)) == {"H100", "H200", "B200", "GB200"}
    assert can_buy(catalogue, "cn", dt.date(2025, 6, 1)) == {"Ascend910B", "Ascend910C"}


def test_everything_is_buyable_by_everyone_without_controls(catalogue):
    for bloc in ("cn", "western"):
        assert can_buy(catalogue, bloc, dt.date(2026, 1, 1), regime="no_controls") == set(
            catalogue.chips)
    # but not before a chip is released
    assert "B200" not in can_buy(catalogue, "cn", dt.date(2024, 6, 1), regime="no_controls")


def test_a_full_ban_leaves_the_controlled_bloc_its_domestic_chips_only(catalogue):
    assert can_buy(catalogue, "cn", dt.date(2024, 6, 1), regime="full_ban") == {"Ascend910B"}
    assert can_buy(catalogue, "western", dt.date(2024, 6, 1), regime="full_ban") == can_buy(
        catalogue, "western", dt.date(2024, 6, 1))


def test_the_lag_delays_the_controlled_blocs_windows_only(catalogue):
    june = dt.date(2025, 6, 1)
    assert "Ascend910C" in can_buy(catalogue, "cn", june)
    assert "Ascend910C" not in can_buy(catalogue, "cn", june, lag_years=0.5)
    assert "Ascend910C" in can_buy(catalogue, "cn", dt.date(2025, 11, 1), lag_years=0.5)
    # the end of a window stays: H20 from 2024-02 + 1 year, still barred from 2025-04-09
    assert "H20" in can_buy(catalogue, "cn", dt.date(2025, 3, 1), lag_years=1.0)
    assert "H20" not in can_buy(catalogue, "cn", dt.date(2024, 6, 1), lag_years=1.0)
    assert can_buy(catalogue, "western", june, lag_years=2.0) == can_buy(catalogue, "western",
                                                                         june)


def test_levers_pick_the_regime_lag_and_restricted_flag(catalogue):
    levers = catalogue.policy.replace(chip_regime="no_controls")
    assert available_under(catalogue, "cn", dt.date(2026, 1, 1), levers).all()


def test_bad_regime_or_lag_is_refused(catalogue):
    with pytest.raises(ValueError, match="regime"):
        chip_available(catalogue, "cn", dt.date(2025, 1, 1), regime="partial")
    with pytest.raises(ValueError, match="lag_years"):
        chip_available(catalogue, "cn", dt.date(2025, 1, 1), lag_years=-1.0)


def test_best_chip_is_the_cheapest_full_cost_among_the_buyable(catalogue):
    supply = SupplyCosts(catalogue)
    cn = Site("cn", 0.09, 1.25, 7.1, 0.56)
    us = Site("western", 0.081, 1.2, 13.3, 0.37)
    june = dt.date(2025, 6, 1)
    name, cost = best_chip(supply, "deepseek_v3", cn, june)
    assert name == "Ascend910C"
    buyable = chip_available(catalogue, "cn", june)
    assert np.all(np.isinf(cost[~buyable])) and np.all(np.isfinite(cost[buyable]))
    name, cost = best_chip(supply, "gpt_4o", us, june)
    assert cost[list(catalogue.chips).index(name)] == cost.min()
    assert name in {"B200", "GB200"}
    # a 2022 western site can buy nothing in the table
    assert best_chip(supply, "gpt_4o", us, dt.date(2022, 6, 1))[0] is None


def test_a_bloc_that_may_buy_no_chip_orders_none(catalogue):
    """With a two-year lag the cn bloc may buy no chip from mid-2025 (H800's window has closed,
    the others start two years later); its hosts' best chip is then a placeholder that must not
    be ordered (a regression: CN hosts bought GB200s from August 2025)."""
    from pricewar.model import PriceWarModel
    from pricewar.scenario import load_scenario

    scenario = load_scenario("baseline").with_overrides(export_control_lag_years=2.0)
    model = PriceWarModel(scenario, seed=1, n_consumers=100)
    ever_cn = {name for name, chip in catalogue.chips.items()
               if any(w.bloc == "cn" for w in chip.availability)}
    nothing_to_buy = 0
    for _ in range(95):
        model.step()
        cn = np.array([p.region in ("cn_west", "cn_east") for p in model.producers])
        if not model.producer_best_chip_buyable[cn].any():
            nothing_to_buy += 1
        cn_cohorts = cn[model.fleet.producer]
        bought = {model.supply.serving.chips.names[c] for c in model.fleet.chip[cn_cohorts]}
        assert bought <= ever_cn, (model.date, bought - ever_cn)
    assert nothing_to_buy > 0  # the case the test is about occurred
