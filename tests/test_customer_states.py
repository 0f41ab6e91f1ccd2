"""Customer states of the v3 market (pricewar/kernel/customer_states.py; docs/ODD.md §6.2d):
the review hazard's smooth ramp, the retention factor, the value of a shopper won (psi) and the
states' move after a step.

Hand-computed values at chosen gaps, the geometric sum's closed form against a long explicit sum,
and hypothesis properties over the declared parameter box (pricewar/scenario/parameters.py):
``review_base_per_step``, ``review_cap_per_step`` in [0, 1] with base <= cap,
``review_gap_per_step`` in [0, 100]; discount factors in [0, 0.9999] per step, task growth in
[-0.1, 0.5] per step (``demand_growth``).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.errors import KernelInputError
from pricewar.kernel.customer_states import (
    RAMP_WIDTH,
    gap_ramp,
    move_states,
    retention_factor,
    review_hazard,
    shopper_value,
)
from pricewar.kernel.gnl import gnl_demand, gnl_market
from pricewar.kernel.gnl_equilibrium import with_class_volumes

EPS = RAMP_WIDTH  # 0.05


# --- the ramp and the hazard, by hand --------------------------------------------------------
def test_ramp_width_is_a_five_percent_price_gap():
    assert RAMP_WIDTH == 0.05


@pytest.mark.parametrize("gap, value, slope", [
    (-np.inf, 0.0, 0.0),      # no rival of the tier
    (-0.3, 0.0, 0.0),         # the cheapest: no gap
    (0.0, 0.0, 0.0),          # a tie
    (0.02, 0.0004 / 0.1, 0.4),  # inside the ramp: g^2 / (2 eps), g / eps
    (0.05, 0.025, 1.0),       # the ramp's end: eps / 2, slope 1
    (0.2, 0.175, 1.0),        # beyond: g - eps / 2
    (3.0, 2.975, 1.0),
])
def test_gap_ramp_by_hand(gap, value, slope):
    got_value, got_slope = gap_ramp(gap)
    assert got_value == pytest.approx(value, rel=1e-15, abs=0.0)
    assert got_slope == pytest.approx(slope, rel=1e-15, abs=0.0)


def test_gap_ramp_is_continuous_and_its_slope_is_its_derivative():
    gaps = np.sort(np.concatenate([np.linspace(-0.1, 0.3, 401), [EPS - 1e-9, EPS, EPS + 1e-9]]))
    value, slope = gap_ramp(gaps)
    step = 1e-7
    central = (gap_ramp(gaps + step)[0] - gap_ramp(gaps - step)[0]) / (2 * step)
    np.testing.assert_allclose(slope, central, atol=1e-6)
    # no jump at 0 or at the ramp's end (the slope is continuous, so is the value)
    for point in (0.0, EPS):
        below, above = gap_ramp(point - 1e-12), gap_ramp(point + 1e-12)
        assert abs(above[0] - below[0]) < 1e-11 and abs(above[1] - below[1]) < 1e-9
    assert (np.diff(value) >= 0).all() and (slope >= 0).all() and (slope <= 1).all()


@pytest.mark.parametrize("gap, hazard, slope", [
    (-np.inf, 0.002, 0.0),
    (0.0, 0.002, 0.0),
    (0.02, 0.002 + 0.5 * 0.004, 0.5 * 0.4),     # inside the ramp
    (0.2, 0.002 + 0.5 * 0.175, 0.5),            # beyond the ramp, below the cap
    (0.3, 0.1, 0.0),                            # 0.002 + 0.5 * 0.275 = 0.1395: capped
])
def test_review_hazard_by_hand(gap, hazard, slope):
    h, dh = review_hazard(gap, base=0.002, gap_slope=0.5, cap=0.1)
    assert h == pytest.approx(hazard, rel=1e-14)
    assert dh == pytest.approx(slope, rel=1e-14, abs=0.0)


def test_review_hazard_reaches_its_cap_where_the_raw_rate_does():
    # raw = 0.002 + 0.5 (g - 0.025) = 0.1 at g = 0.221
    g_cap = 0.025 + (0.1 - 0.002) / 0.5
    h, dh = review_hazard(np.array([g_cap - 1e-6, g_cap + 1e-6]), 0.002, 0.5, 0.1)
    np.testing.assert_allclose(h, [0.1 - 0.5e-6, 0.1], rtol=1e-9)
    np.testing.assert_array_equal(dh, [0.5, 0.0])


@pytest.mark.parametrize("base, gap_slope, cap", [
    (-0.01, 0.5, 0.1), (0.2, 0.5, 0.1), (0.0, -1.0, 0.1), (0.0, 0.5, 1.5)])
def test_review_hazard_rejects_parameters_outside_its_domain(base, gap_slope, cap):
    with pytest.raises(KernelInputError, match="review hazard"):
        review_hazard(0.1, base, gap_slope, cap)


# --- the retention factor and psi, by hand ---------------------------------------------------
def test_retention_factor_by_hand():
    assert retention_factor(0.1, 0.99, 0.02) == pytest.approx(0.99 * 0.9 * 1.02, rel=1e-15)
    assert retention_factor(0.1, 0.99) == pytest.approx(0.891, rel=1e-15)
    assert retention_factor(1.0, 0.99, 0.3) == 0.0  # everyone reviews every step


@pytest.mark.parametrize("hazard, discount, growth", [
    (0.0, 1.0, 0.0),      # x = 1: an infinite value
    (0.01, 0.999, 0.05),  # x = 1.0357
])
def test_retention_factor_rejects_an_infinite_customer_value(hazard, discount, growth):
    with pytest.raises(KernelInputError, match=r"\[0, 1\)"):
        retention_factor(hazard, discount, growth)
    with pytest.raises(KernelInputError):
        shopper_value(1.0, hazard, discount, growth)


@pytest.mark.parametrize("margin, hazard, discount, growth", [
    (0.4, 0.0022, 0.998, 0.0), (1.3, 0.05, 0.97, 0.02), (0.2, 0.3, 0.9, -0.05)])
def test_shopper_value_is_the_geometric_sum_of_kept_margins(margin, hazard, discount, growth):
    x = discount * (1 - hazard) * (1 + growth)
    k = np.arange(1, 200_001)
    explicit = margin * np.sum(x ** k)  # sum_{k >= 1} delta^k (1 - h)^k (1 + g)^k m
    closed = shopper_value(margin, hazard, discount, growth)
    assert closed == pytest.approx(explicit, rel=1e-10)
    assert closed == pytest.approx(margin * x / (1 - x), rel=1e-14)


def test_shopper_value_is_zero_when_every_customer_reviews_or_the_margin_is_negative():
    assert shopper_value(2.0, 1.0, 0.999) == 0.0
    assert shopper_value(-2.0, 0.01, 0.999) == 0.0  # the exit option: max(m, 0)
    assert shopper_value(0.0, 0.01, 0.999) == 0.0
    np.testing.assert_array_equal(shopper_value(np.array([-1.0, 0.0, 1.0]), 0.5, 0.5),
                                  [0.0, 0.0, 1.0 / 3.0])


# --- the states' move, by hand ---------------------------------------------------------------
def test_move_states_keeps_who_did_not_review_and_adds_the_shoppers_won():
    committed = np.array([2.0, 1.0, 0.0])
    hazard = np.array([0.1, 0.5, 0.2])
    shoppers = np.array([3.0, 3.0, 3.0])
    won = np.array([0.2, 0.3, 0.0])
    new = move_states(committed, hazard, shoppers, won)
    np.testing.assert_allclose(new, [2.0 * 0.9 + 0.6, 0.5 + 0.9, 0.0], rtol=1e-15)
    assert (new - committed <= shoppers * won).all()


@pytest.mark.parametrize("won", [[-0.1, 0.5], [0.5, 1.1]])
def test_move_states_rejects_a_won_share_outside_0_1(won):
    with pytest.raises(KernelInputError, match="won_share"):
        move_states([1.0, 1.0], [0.1, 0.1], [1.0, 1.0], np.array(won))


# --- properties over the declared box --------------------------------------------------------
@st.composite
def reviews(draw):
    """``(base, gap_slope, cap)`` in the declared box, ``base <= cap``."""
    cap = draw(st.floats(0.0, 1.0))
    return draw(st.floats(0.0, 1.0)) * cap, draw(st.floats(0.0, 100.0)), cap


gaps = st.lists(st.one_of(st.floats(-5.0, 5.0), st.just(-np.inf), st.just(0.0),
                          st.just(RAMP_WIDTH)), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(reviews(), gaps)
def test_hazard_stays_between_base_and_cap_and_never_falls_with_the_gap(review, gap):
    base, gap_slope, cap = review
    g = np.sort(np.array(gap))
    h, dh = review_hazard(g, base, gap_slope, cap)
    assert (h >= base).all() and (h <= cap).all()
    assert (np.diff(h) >= 0).all()
    assert (dh >= 0).all() and (dh <= gap_slope).all()
    assert (dh[g <= 0] == 0).all() and (h[g <= 0] == base).all()


@settings(max_examples=300, deadline=None)
@given(reviews(), gaps, st.lists(st.floats(-100.0, 100.0), min_size=20, max_size=20),
       st.floats(0.0, 0.9999), st.floats(-0.1, 0.5))
def test_psi_is_never_negative(review, gap, margins, discount, growth):
    """psi >= 0 for every margin (the exit option), wherever the retention factor is finite
    (x < 1; where x >= 1 the value is infinite and the kernel refuses it)."""
    h, _ = review_hazard(np.array(gap), *review)
    margin = np.array(margins[:h.size])
    x = discount * (1 - h) * (1 + growth)
    if (x >= 1).any():
        with pytest.raises(KernelInputError):
            shopper_value(margin, h, discount, growth)
        return
    psi = shopper_value(margin, h, discount, growth)
    assert (psi >= 0).all() and np.isfinite(psi).all()
    assert (psi[h == 1] == 0).all() and (psi[margin <= 0] == 0).all()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6), st.floats(0.0, 100.0, allow_subnormal=False), st.data(), reviews())
def test_states_after_a_step_conserve_volume_and_gains_never_exceed_shoppers_won(
        n_hosts, volume, data, review):
    """One segment-class of task volume ``T`` split over ``n_hosts`` committed bases and
    shoppers; after reviews and choices (won shares summing to <= 1: some shoppers buy nothing
    or are not served): every host's gain <= the shoppers it won, committed <= T, and committed
    + shoppers = T with shoppers >= 0 (normal floats: subnormal volumes lose the relative
    precision the bounds are checked at)."""
    split = np.array(data.draw(st.lists(st.floats(0.0, 1.0, allow_subnormal=False),
                                        min_size=n_hosts + 1,
                                        max_size=n_hosts + 1)))
    if split.sum() == 0:
        split[-1] = 1.0
    committed = volume * split[:-1] / split.sum()
    shoppers = max(volume - committed.sum(), 0.0)  # (as the model: rounding never negative)
    won = np.array(data.draw(st.lists(st.floats(0.0, 1.0, allow_subnormal=False),
                                      min_size=n_hosts + 1, max_size=n_hosts + 1)))
    won = won[:-1] / max(won.sum(), 1.0)
    gap = np.array(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=n_hosts,
                                      max_size=n_hosts)))
    hazard, _ = review_hazard(gap, *review)
    after = move_states(committed, hazard, np.full(n_hosts, shoppers), won)
    assert (after >= 0).all()
    assert (after - committed <= shoppers * won + 1e-12 * volume).all()  # (rounding)
    assert after.sum() <= volume * (1 + 1e-12)
    assert volume - after.sum() >= -1e-12 * volume  # the shoppers left: T - committed >= 0


# --- a release's share path (hand-computed) -----------------------------------------------------
@pytest.mark.parametrize("hazard, growth", [(0.00223, 0.0), (0.00223, 0.02), (0.05, 0.01),
                                            (0.5, 0.05)])
def test_a_releases_share_path_follows_the_review_hazard_and_growth(hazard, growth):
    """One segment whose task volume grows by ``g`` a week, an incumbent whose customers are
    all committed in the steady state, and a release (another host) at the same price. Each
    week the shoppers -- new volume and the committed who review, at hazard ``h`` -- buy with
    the GNL shares (``s`` for the release) and commit to what they bought (`move_states`).
    Then the release's share of volume is ``s (1 - rho^t / (1 + g + h))`` with
    ``rho = (1 - h) / (1 + g)``: it starts at ``s`` times the shoppers' share
    ``(g + h) / (1 + g + h)`` and closes the gap by ``rho`` a week (by hand: committed share
    ``k = 1 / (1 + g + h)`` in the steady state, ``c_{t+1} = ((1 - h) c_t + s (1 - k)) /
    (1 + g)``). With ``h`` = 0.00223 a week (11% of enterprises a year, docs/calibration.md
    C17) and no growth, the release holds 0.22% of ``s`` in its first week, 0.44% in its second
    and half of ``s`` after ~310 weeks: the base rate alone makes adoption slow; the price-gap
    term ``h_1`` is what lets a cheaper release win customers faster.
    """
    price = np.array([1.0, 1.0])  # USD/Mtok, the reference prices: committed buy their volume
    common = dict(product_tier=[0, 0], product_family=[0, 1], tier_sigma=0.3, family_sigma=0.6,
                  class_alpha=np.array([3.0]), product_firm=[0, 1])
    # the release is worse (utility 0 against 0.4): s < 1/2
    shoppers = gnl_market([0, 2], [0, 1], [0.4, 0.0], segment_eta=[1.5], **common)
    committed = gnl_market([0, 1, 2], [0, 1], [0.4, 0.0], segment_eta=[1.5, 1.5],
                           **common)  # one segment per host

    def logsum_ref(market):
        unit = with_class_volumes(market, np.ones((market.n_segments, 1)),
                                  np.zeros((market.n_segments, 1)))
        return gnl_demand(unit, price).logsum

    s = gnl_demand(with_class_volumes(shoppers, np.ones((1, 1)), logsum_ref(shoppers)),
                   price).product_demand[1]
    assert 0.0 < s < 0.5
    volume = 100.0  # Mtok/step at week 0
    ref = np.array([volume / (1.0 + growth + hazard), 0.0])  # incumbent's steady state
    rho = (1.0 - hazard) / (1.0 + growth)
    for week in range(60):
        shopper_volume = volume - ref.sum()
        bought_s = gnl_demand(with_class_volumes(shoppers, np.array([[shopper_volume]]),
                                                 logsum_ref(shoppers)), price).product_demand
        bought_c = gnl_demand(with_class_volumes(committed, ref[:, None], logsum_ref(committed)),
                              price).product_demand
        share = (bought_s[1] + bought_c[1]) / volume
        assert share == pytest.approx(s * (1.0 - rho ** week / (1.0 + growth + hazard)),
                                      rel=1e-10)
        assert bought_s.sum() + bought_c.sum() == pytest.approx(volume, rel=1e-12)
        won = bought_s / shopper_volume
        ref = move_states(ref, np.full(2, hazard), np.full(2, shopper_volume), won)
        volume *= 1.0 + growth
