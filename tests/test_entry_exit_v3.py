"""Exit and entry on economic value at market version 3 (pricewar/model/entry_exit.py,
pricewar/model/rental.py, docs/ODD.md §6.1c and §6.6), on a small baseline model: both ways for
exit and for entry, the rental markets the model clears, and v2 left alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pricewar.model import entry_exit
from pricewar.model.price_war_model import PriceWarModel
from pricewar.model.rental import clear_markets
from pricewar.scenario import load_scenario
from pricewar.supply.cohort_costs import capital_cost_usd_per_gpu_year, capital_recovery_factor


@pytest.fixture(scope="module")
def model() -> PriceWarModel:
    """A version-3 baseline market as initialised: every host group present."""
    return PriceWarModel("baseline", seed=1, n_consumers=120, market_version=3)


def _exits(m: PriceWarModel, scenario=None) -> np.ndarray:
    s = scenario or m.scenario
    rental = clear_markets(s, m.supply, m.date, m.steps, m.regions, m.fleet, m.producer_arrays)
    return entry_exit.exits_on_value_v3(s, m.steps, m.supply, rental, m.fleet,
                                        m.producer_arrays, m.product_arrays)


def _selling(m: PriceWarModel) -> np.ndarray:
    return np.bincount(m.product_producer, m.product_served, minlength=m.n_producers) > 0


def test_hosts_worth_more_in_service_than_rented_or_resold_never_exit(model):
    m = model
    saved = m.product_arrays.price.copy()
    try:  # a margin of 100x the marginal cost on every token served
        m.product_arrays.price = 100.0 * np.maximum(m.product_marginal_cost, 1e-3)
        assert not _exits(m).any()
    finally:
        m.product_arrays.price = saved


def test_hosts_worth_less_in_service_than_resold_exit(model):
    m = model
    saved = m.product_arrays.price.copy()
    try:  # free tokens: a negative margin on every token, below any resale value
        m.product_arrays.price = np.zeros_like(saved)
        leaving = _exits(m)
        selling = _selling(m)
        assert selling.any() and leaving[selling].all()
        # without any resale value the negative value in service alone still makes them exit
        s = m.scenario.with_overrides(resale_value_share=0.0)
        assert _exits(m, s)[selling].all()
    finally:
        m.product_arrays.price = saved


def test_the_exit_threshold_is_the_larger_of_rental_and_resale_value(model):
    """Resale at full book value vs none moves hosts across the threshold, never the reverse."""
    m = model
    high = _exits(m, m.scenario.with_overrides(resale_value_share=1.0))
    low = _exits(m, m.scenario.with_overrides(resale_value_share=0.0))
    assert not (low & ~high).any()


def _entry_terms(m: PriceWarModel, group: str):
    """The cheapest member's full cost and entry cost per Mtok, computed here from the
    products' cost parts (the rule's own inputs, independently of entrants_v3)."""
    s, p, q = m.scenario, m.producer_arrays, m.product_arrays
    members = np.flatnonzero(p.group == group)
    full = np.where(p.best_chip_buyable, p.full_cost, np.inf)
    host = members[np.argmin(full[members])]
    rows = q.producer == host
    chips = m.supply.serving.chips
    chip = p.best_chip[host]
    per_gpu_year = capital_cost_usd_per_gpu_year(
        chips.price_usd[chip], p.facility[host], chips.server_power_w[chip], wacc=p.wacc[host],
        chip_life_years=s.capital.chip_life_years,
        facility_life_years=s.capital.facility_life_years, capex_subsidy=s.policy.capex_subsidy)
    entry = (s.dynamics.entry_cost_usd_per_gpu
             * capital_recovery_factor(p.wacc[host], s.capital.chip_life_years)
             * q.full_capital[rows] / per_gpu_year)
    weight = q.served[rows] if q.served[rows].sum() > 0 else None
    return members, float(full[host]), float(np.average(entry, weights=weight))


@pytest.mark.parametrize("above, enters", [(1.0 + 1e-6, True), (1.0 - 1e-6, False)])
def test_entry_iff_the_price_covers_full_cost_plus_entry_cost(model, above, enters):
    m = model
    s, p = m.scenario, m.producer_arrays
    group = next(g for g, spec in s.producers.items()
                 if not spec.owner and (p.group == g).any()
                 and np.isfinite(np.where(p.best_chip_buyable, p.full_cost, np.inf)[
                     p.group == g]).any())
    members, full, entry = _entry_terms(m, group)
    assert entry > 0
    saved = p.base_price.copy()
    try:
        p.base_price[members] = (full + entry) * above
        entering = [e[0] for e in entry_exit.entrants_v3(s, m.supply, p, m.product_arrays)]
        assert (group in entering) is enters
    finally:
        p.base_price = saved


def test_a_higher_entry_cost_never_adds_entrants(model):
    m = model
    cheap = {e[0] for e in entry_exit.entrants_v3(
        m.scenario.with_overrides(entry_cost_usd_per_gpu=0.0), m.supply, m.producer_arrays,
        m.product_arrays)}
    dear = {e[0] for e in entry_exit.entrants_v3(
        m.scenario.with_overrides(entry_cost_usd_per_gpu=1e6), m.supply, m.producer_arrays,
        m.product_arrays)}
    assert dear <= cheap


def test_the_models_rental_markets_clear_within_floor_and_ceiling(model):
    m = model
    r = clear_markets(m.scenario, m.supply, m.date, m.steps, m.regions, m.fleet,
                      m.producer_arrays)
    assert r.rent_usd_per_gpu_hour.shape == (len(m.chip_names), len(r.blocs))
    assert (r.rent_usd_per_gpu_hour >= r.floor_usd_per_gpu_hour).all()
    held = r.installed_gpus > 0
    assert held.any()
    # every online GPU of a host is in exactly one market, with the exogenous fleet on top
    assert r.installed_gpus.sum() == pytest.approx(
        m.producer_gpus.sum() * (1.0 + m.scenario.rental_market.other_gpus_per_host_gpu))
    assert ((r.idle_gpus >= 0) & (r.idle_gpus <= r.installed_gpus)).all()
    at_floor = r.idle_gpus > 0
    np.testing.assert_allclose(r.rent_usd_per_gpu_hour[at_floor],
                               r.floor_usd_per_gpu_hour[at_floor])


def test_a_glut_lowers_the_rent_and_raises_idle_gpus(model):
    m = model
    base = m.scenario
    glut = base.with_overrides(rental_other_demand_cn=0.0, rental_other_demand_western=0.0)
    r0 = clear_markets(base, m.supply, m.date, m.steps, m.regions, m.fleet, m.producer_arrays)
    r1 = clear_markets(glut, m.supply, m.date, m.steps, m.regions, m.fleet, m.producer_arrays)
    assert (r1.rent_usd_per_gpu_hour <= r0.rent_usd_per_gpu_hour + 1e-12).all()
    np.testing.assert_allclose(r1.rent_usd_per_gpu_hour, r1.floor_usd_per_gpu_hour)
    assert r1.idle_gpus.sum() > r0.idle_gpus.sum()


def test_v3_runs_count_their_exits_and_entries():
    s = load_scenario("baseline").with_overrides(market_version=3, n_consumers=120)
    s = dataclasses.replace(s, dynamics=dataclasses.replace(s.dynamics, entry_enabled=True,
                                                            entry_interval_steps=4))
    m = PriceWarModel(s, seed=2)
    start = m.n_producers
    for _ in range(12):
        m.step()
    frame = m.datacollector.get_model_vars_dataframe()
    assert np.isfinite(frame.select_dtypes("number").to_numpy()).all()
    assert m.exits_total + m.entries_total > 0  # the topology changed, so the count is tested
    assert m.n_producers == start - m.exits_total + m.entries_total
    assert frame["exits"].sum() == m.exits_total and frame["entries"].sum() == m.entries_total


def test_the_index_check_compares_held_markets_with_their_observed_series(model):
    from pricewar.model.rental import SERIES_BLOC, index_check

    m = model
    r = clear_markets(m.scenario, m.supply, m.date, m.steps, m.regions, m.fleet,
                      m.producer_arrays)
    rows = index_check(r, m.supply, m.chip_names, m.date)
    assert rows  # the baseline's hosts hold H100 (western) and H800 (cn) from the start
    for chip, bloc, model_rent, observed, within in rows:
        assert SERIES_BLOC[chip] == bloc
        c, k = m.chip_names.index(chip), r.blocs.index(bloc)
        assert r.installed_gpus[c, k] > 0
        assert model_rent == r.rent_usd_per_gpu_hour[c, k]
        assert observed == pytest.approx(float(m.supply.rental.usd_per_gpu_hour(chip, m.date)))
        assert within == (abs(np.log(model_rent / observed)) <= np.log(1.5))

