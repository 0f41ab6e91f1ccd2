"""Token units of the v3 market: one blended token per sector x family (docs/v3-interfaces.md §1).

Markets quote input and output tokens apart; the v3 market prices, costs and counts volumes per
*blended* token of a sector's request mix on a family::

    mix          r_jf = r_j / k_f                        (input tokens per output token)
    blended      p    = (r_jf p_in + p_out) / (r_jf + 1)  (USD per blended Mtok; the same for cost,
                                                          with c_prefill and c_decode)

``r_j`` is sector ``j``'s input:output token ratio on a non-reasoning family
(``sectors.*.input_tokens_per_output_token``), ``k_f >= 1`` how many more output tokens family
``f`` emits for the same task (``families.*.output_tokens_multiplier``; 1 for non-reasoning
families). An owner's ``api_sold_share`` is the share of its served tokens it sells through its
API (the rest are its own apps' tokens). Arrays are in scenario order.
"""

from __future__ import annotations

import numpy as np


def blended(input_per_output, input_price, output_price):
    """The blended price (or cost) of a mix with ``input_per_output`` input tokens per output
    token: ``(r p_in + p_out) / (r + 1)``, in the unit of the prices (USD/Mtok). Broadcasts."""
    r = np.asarray(input_per_output, dtype=float)
    if np.any(r < 0.0):
        raise ValueError(f"input_per_output = {input_per_output!r}: must be >= 0")
    return (r * np.asarray(input_price, dtype=float) + np.asarray(output_price, dtype=float)) / (
        r + 1.0)


def mix_input_per_output(sector_input_per_output, family_output_multiplier) -> np.ndarray:
    """``r_jf = r_j / k_f``: (n_sectors, n_families) input tokens per output token of each
    sector's requests on each family."""
    r = np.asarray(sector_input_per_output, dtype=float)
    k = np.asarray(family_output_multiplier, dtype=float)
    if np.any(k < 1.0):
        raise ValueError(f"family_output_multiplier = {family_output_multiplier!r}: must be >= 1")
    return r[:, None] / k[None, :]


def sector_input_per_output(scenario) -> np.ndarray:
    """Each sector's ``r_j`` (input tokens per output token, non-reasoning family)."""
    return np.array([s.input_tokens_per_output_token for s in scenario.sectors.values()])


def family_output_multiplier(catalogue) -> np.ndarray:
    """Each family's ``k_f`` (output tokens per task relative to a non-reasoning family)."""
    return np.array([f.output_tokens_multiplier for f in catalogue.families.values()])


def owner_api_sold_share(catalogue) -> np.ndarray:
    """Each owner's share of its served tokens sold through its API (0-1)."""
    return np.array([o.api_sold_share for o in catalogue.owners.values()])


def scenario_mix_input_per_output(scenario) -> np.ndarray:
    """:func:`mix_input_per_output` of a scenario's sectors and families."""
    return mix_input_per_output(sector_input_per_output(scenario),
                                family_output_multiplier(scenario.catalogue))
