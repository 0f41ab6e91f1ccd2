"""Model families over time: quality from benchmark scores, succession within a line, and the
fixed costs owners pay per family (supply v2, docs/ODD.md §6.1b). Arrays are in catalogue order.

    quality     q_f = slope x (score_f - reference)        (utils; slope est., a scenario parameter)
    score       score_f = the family's GPQA Diamond score, else its tier's gpqa_equivalent
    retirement  retire_f = retire_date, else next release of the line + overlap_weeks
    fixed cost  F_f = own_f + owner programme / live families of the owner   (while live; USD/yr)
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pricewar.scenario.catalogue import Catalogue
from pricewar.units import DAYS_PER_WEEK


def family_quality_utils(scores, slope_utils_per_point: float,
                         reference_score: float) -> np.ndarray:
    """Quality in utils from benchmark scores: ``slope x (score - reference)``."""
    if not slope_utils_per_point >= 0.0:
        raise ValueError(f"slope_utils_per_point = {slope_utils_per_point!r}: must be >= 0")
    return slope_utils_per_point * (np.asarray(scores, dtype=float) - reference_score)


def gpqa_scores(catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray]:
    """Each family's GPQA Diamond score and whether it is imputed from the tier (no own score)."""
    imputed = np.array(["gpqa_diamond" not in f.scores for f in catalogue.families.values()])
    scores = np.array([f.scores.get("gpqa_diamond",
                                    catalogue.tiers[f.tier].gpqa_equivalent)
                       for f in catalogue.families.values()], dtype=float)
    return scores, imputed


def catalogue_quality_utils(catalogue: Catalogue, slope_utils_per_point: float | None = None
                            ) -> np.ndarray:
    """:func:`family_quality_utils` of every family with the catalogue's mapping (the slope can
    be overridden, e.g. in a sweep), plus the mapping's ``closed_premium_utils`` for the
    closed-weight families."""
    mapping = catalogue.quality
    slope = mapping.slope_utils_per_point if slope_utils_per_point is None else slope_utils_per_point
    closed = np.array([f.weights == "closed" for f in catalogue.families.values()])
    return (family_quality_utils(gpqa_scores(catalogue)[0], slope, mapping.reference_score)
            + mapping.closed_premium_utils * closed)


def retire_dates(catalogue: Catalogue, overlap_weeks: float | None = None
                 ) -> dict[str, dt.date | None]:
    """Each family's retirement: its ``retire_date``, else ``overlap_weeks`` after the next
    release of its line (None: still live at the end of the data)."""
    weeks = catalogue.overlap_weeks if overlap_weeks is None else overlap_weeks
    out = {}
    for name, family in catalogue.families.items():
        if family.retire_date is not None:
            out[name] = family.retire_date
            continue
        later = [f.release_date for f in catalogue.families.values()
                 if f.line == family.line and f.release_date > family.release_date]
        out[name] = (min(later) + dt.timedelta(days=weeks * DAYS_PER_WEEK)) if later else None
    return out


def live_families(catalogue: Catalogue, date: dt.date, overlap_weeks: float | None = None
                  ) -> np.ndarray:
    """Bool array: released at ``date`` and not yet retired."""
    retire = retire_dates(catalogue, overlap_weeks)
    return np.array([f.release_date <= date and (retire[name] is None or date < retire[name])
                     for name, f in catalogue.families.items()])


def family_fixed_cost_usd_per_year(own_usd_per_year, live, owner, owner_usd_per_year
                                   ) -> np.ndarray:
    """Fixed cost per family per year: its own (final run per year of service) plus an equal share
    of its owner's programme among the owner's live families; 0 when not live.

    Parameters
    ----------
    own_usd_per_year, live, owner : (n_families,) own fixed cost, live flag, owner number
    owner_usd_per_year : (n_owners,) each owner's programme cost
    """
    live = np.asarray(live, dtype=bool)
    owner = np.asarray(owner, dtype=np.int64)
    programme = np.asarray(owner_usd_per_year, dtype=float)
    live_per_owner = np.bincount(owner[live], minlength=programme.size)
    share = programme[owner] / np.maximum(live_per_owner[owner], 1)
    return np.where(live, np.asarray(own_usd_per_year, dtype=float) + share, 0.0)


def catalogue_fixed_costs(catalogue: Catalogue, date: dt.date) -> np.ndarray:
    """:func:`family_fixed_cost_usd_per_year` of every family at ``date`` (USD/year)."""
    owners = list(catalogue.owners)
    families = list(catalogue.families.values())
    return family_fixed_cost_usd_per_year(
        [f.fixed_cost_usd_per_year for f in families], live_families(catalogue, date),
        [owners.index(f.owner) for f in families],
        [o.fixed_cost_usd_per_year for o in catalogue.owners.values()])
