"""Customer states of the v3 market (docs/ODD.md §6.2d): who reviews, what a customer won is worth.

Each segment-class's volume is split into *committed* volume, bought from one host, and
*shoppers*, who choose over every route. A committed customer reviews its host (becomes a
shopper) with the hazard

    h = min(h_cap, h_0 + h_1 ramp(g)),   ramp(g) = 0 (g <= 0), g^2 / (2 eps) (0 < g <= eps),
                                                   g - eps/2 (g > eps)

in the log price gap ``g`` between its product and the cheapest product of the same tier it can
reach from another host (a smooth ramp: continuous slope, 0 at and below a gap of 0): ``h_0`` the
base rate of vendor reviews (surveys of vendor switching), ``h_1`` the response to a price gap.
A shopper won is worth, to the host that wins it, its margin for as long as it stays:

    psi = sum_{k >= 1} delta^k (1 - h)^k (1 + g_v)^k max(m, 0) = max(m, 0) x / (1 - x),
    x = delta (1 - h) (1 + g_v)

(the host's current margin ``m`` held stationary, a stated belief; ``max(., 0)`` the exit option;
Klemperer 1995; Dube, Hitsch & Rossi 2009). Pure numpy.
"""

from __future__ import annotations

import numpy as np

from pricewar.errors import KernelInputError

#: width of the smooth part of the ramp, in log price gap (a 5% price difference)
RAMP_WIDTH = 0.05


def gap_ramp(log_gap) -> tuple[np.ndarray, np.ndarray]:
    """``ramp(g)`` and its slope ``ramp'(g)`` (see the module docstring), elementwise."""
    g = np.asarray(log_gap, dtype=np.float64)
    eps = RAMP_WIDTH
    inner = (g > 0) & (g <= eps)
    value = np.where(g > eps, g - 0.5 * eps, np.where(inner, g * g / (2.0 * eps), 0.0))
    slope = np.where(g > eps, 1.0, np.where(inner, g / eps, 0.0))
    return value, slope


def review_hazard(log_gap, base: float, gap_slope: float, cap: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The review hazard per step ``h = min(cap, base + gap_slope ramp(g))`` and ``dh/dg``.

    ``base``, ``gap_slope`` and ``cap`` per step, with ``0 <= base <= cap <= 1`` and
    ``gap_slope >= 0``.
    """
    if not (0.0 <= base <= cap <= 1.0) or gap_slope < 0:
        raise KernelInputError(f"review hazard needs 0 <= base <= cap <= 1 and gap_slope >= 0, "
                               f"got base {base!r}, gap_slope {gap_slope!r}, cap {cap!r}")
    ramp, ramp_slope = gap_ramp(log_gap)
    raw = base + gap_slope * ramp
    capped = raw >= cap
    return np.where(capped, cap, raw), np.where(capped, 0.0, gap_slope * ramp_slope)


def retention_factor(hazard, discount, volume_growth=0.0) -> np.ndarray:
    """``x = delta (1 - h) (1 + g_v)``: the discounted share of a customer's value kept a step."""
    x = (np.asarray(discount, dtype=np.float64) * (1.0 - np.asarray(hazard, dtype=np.float64))
         * (1.0 + np.asarray(volume_growth, dtype=np.float64)))
    if (x < 0).any() or (x >= 1).any():
        raise KernelInputError("a customer's discounted retention delta (1 - h)(1 + g) must lie "
                               f"in [0, 1) for its value to be finite, got max {float(x.max())!r}")
    return x


def shopper_value(margin, hazard, discount, volume_growth=0.0) -> np.ndarray:
    """``psi``, USD per Mtok of a shopper's current volume won (module docstring): never
    negative, 0 where ``h = 1`` (every customer reviews every step)."""
    x = retention_factor(hazard, discount, volume_growth)
    return np.maximum(np.asarray(margin, dtype=np.float64), 0.0) * x / (1.0 - x)


def move_states(committed_ref, hazard, shopper_ref, won_share):
    """Customer states after a step's reviews and choices (reference volumes, Mtok/step).

    ``committed_ref`` (P,) the committed reference volume of each (segment, host, class) pair,
    ``hazard`` (P,) its review hazard this step, ``shopper_ref`` (P,) the shoppers' reference
    volume of the pair's segment-class and ``won_share`` (P,) the share of those shoppers who
    bought from the pair's host and were served. Returns the committed reference volume for the
    next step, ``committed_ref (1 - h) + shopper_ref won_share``: the pair keeps who did not
    review and gains no more than the shoppers it won.
    """
    committed_ref = np.asarray(committed_ref, dtype=np.float64)
    if (np.asarray(won_share) < 0).any() or (np.asarray(won_share) > 1 + 1e-12).any():
        raise KernelInputError("won_share must lie in [0, 1]")
    return committed_ref * (1.0 - np.asarray(hazard)) + np.asarray(shopper_ref) * won_share
