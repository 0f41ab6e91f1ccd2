"""Model families as arrays, and which products exist: who hosts which live family (docs/ODD.md
§6.1b "Hosting").

A family is live from its release date until its retirement (its ``retire_date``, else
``overlap_weeks`` after the next release of its line). An owner-host serves every live family of
its owner; a host with ``open_families = K > 0`` also serves the K live open-weight families of
other owners with the highest *quality per serving cost*, ``q_f - log G_f`` (``G_f`` the GB of
active weights read per decoded token, to which every chip's bandwidth-bound serving cost is
proportional): the family's value at cost for a consumer with ``alpha = beta = 1``. A product is
one (host, family) pair; products are sorted by host, then family.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pricewar.supply.families import catalogue_quality_utils, retire_dates
from pricewar.supply.token_units import family_output_multiplier


@dataclass(frozen=True, eq=False)
class FamilyTable:
    """Families of a scenario as arrays of shape (n_families,), in the scenario's order.

    Attributes
    ----------
    names : family names
    owner : owner index (position in the scenario's owners)
    owner_bloc : bloc of the owner ("cn", "western"), string array
    open_weights : bool, open weights (hostable by others)
    tier : capability tier rank (0 = lowest rung of the scenario's tier ladder)
    quality : quality ``q_f`` in utils, from the benchmark scores (``quality`` mapping)
    active_gb_per_token : GB of active weights read per decoded token
    output_tokens_multiplier : ``k_f``, output tokens per task relative to a non-reasoning family
        (>= 1; the v3 market's blended token, :mod:`pricewar.supply.token_units`)
    release, retire : dates (retire None: live to the end of the data)
    """

    names: tuple[str, ...]
    owner: np.ndarray
    owner_bloc: np.ndarray
    open_weights: np.ndarray
    tier: np.ndarray
    quality: np.ndarray
    active_gb_per_token: np.ndarray
    output_tokens_multiplier: np.ndarray
    release: tuple[dt.date, ...]
    retire: tuple[dt.date | None, ...]

    @classmethod
    def from_scenario(cls, scenario) -> FamilyTable:
        catalogue = scenario.catalogue
        families = list(catalogue.families.values())
        owners = list(catalogue.owners)
        retire = retire_dates(catalogue)
        return cls(
            names=tuple(catalogue.families),
            owner=np.array([owners.index(f.owner) for f in families], dtype=np.int64),
            owner_bloc=np.array([catalogue.owners[f.owner].bloc for f in families], dtype=str),
            open_weights=np.array([f.weights == "open" for f in families], dtype=bool),
            tier=np.array([catalogue.tier_rank(f.tier) for f in families], dtype=np.int64),
            quality=catalogue_quality_utils(catalogue),
            active_gb_per_token=np.array([f.active_gb_per_token for f in families]),
            output_tokens_multiplier=family_output_multiplier(catalogue),
            release=tuple(f.release_date for f in families),
            retire=tuple(retire[name] for name in catalogue.families))

    def __len__(self) -> int:
        return len(self.names)

    def live(self, date: dt.date) -> np.ndarray:
        """Bool array: released at ``date`` and not yet retired."""
        return np.array([r <= date and (x is None or date < x)
                         for r, x in zip(self.release, self.retire, strict=True)])

    @property
    def hosting_value(self) -> np.ndarray:
        """``q_f - log G_f``: quality per serving cost, the independent hosts' ranking."""
        return self.quality - np.log(self.active_gb_per_token)


def hosted_products(families: FamilyTable, live: np.ndarray, producer_owner: np.ndarray,
                    producer_open_families: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The products ``(producer, family)``, sorted by producer then family (module docstring).

    Parameters
    ----------
    families : the family table
    live : (n_families,) bool, the families live now
    producer_owner : (n_producers,) owner index of each host (-1: independent)
    producer_open_families : (n_producers,) how many open families of other owners it hosts
    """
    open_live = np.flatnonzero(live & families.open_weights)
    ranked = open_live[np.argsort(-families.hosting_value[open_live], kind="stable")]
    # offered[i, f]: host i serves family f
    offered = (live[None, :] & (families.owner[None, :] == producer_owner[:, None])
               & (producer_owner[:, None] >= 0))
    # the k best-ranked open families of other owners: rank among the families a host may take
    others = families.owner[ranked][None, :] != producer_owner[:, None]
    rank = np.cumsum(others, axis=1)
    take = others & (rank <= producer_open_families[:, None])
    rows, cols = np.nonzero(take)
    offered[rows, ranked[cols]] = True
    producer, family = np.nonzero(offered)  # row-major: sorted by producer, then family
    return producer.astype(np.int64), family.astype(np.int64)
