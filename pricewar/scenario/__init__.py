"""Scenarios: calibration data + scenario file -> frozen, validated dataclasses.

A scenario is the package's calibration data (``pricewar/data/{regions,sectors,network,families,
chips,rental,supply,market,complements}.toml``) deep-merged with a scenario file
(``pricewar/data/scenarios/NAME.toml`` or any path). Numbers may be written plain or as ``{value = ..., source = "..."}``; sources are kept in
:attr:`Scenario.sources` by key path. Validation happens once, here: unknown keys, wrong types,
negative or NaN numbers, an asymmetric or incomplete latency matrix, a producer in an unknown
region, ... each raise :class:`~pricewar.errors.ScenarioError` naming the file, the key path and
the bad value. Nothing runs on an invalid scenario.

Flat overrides (``electricity_cn_west=0.03``, ...; see :data:`OVERRIDES`) make scenarios sweepable
with ``mesa.batch_run`` and ``pricewar run --set``.

Region semantics are data: ``hosts_producers`` (False for consumer-only regions) and ``bloc``
(``cn``, ``western`` or ``contested``: the bloc a region buys chips in) on each region of
``regions.toml``. The scenario layer imports no strategy: it keeps producer strategies as names
and ``[strategy_params.<name>]`` tables as written; :func:`pricewar.model.scenario_strategies.resolve_strategies`
checks them against the registry (so a newly registered strategy is usable in a scenario) when
the model is built and when sweep and calibration specs are loaded.

Modules: :mod:`~pricewar.scenario.typed` (validated construction of dataclasses from TOML tables),
:mod:`~pricewar.scenario.schema` (the sections), :mod:`~pricewar.scenario.resolve` (the resolved
:class:`Scenario` and its consistency checks), :mod:`~pricewar.scenario.overrides` (flat
overrides), :mod:`~pricewar.scenario.data_files` (the calibration data files),
:mod:`~pricewar.scenario.loading` (scenario names and files) and
:mod:`~pricewar.scenario.parameter_table` (the parameter table of docs/ODD.md);
:mod:`~pricewar.scenario.catalogue` (the supply sections: tiers, owners, families, chips, rental
index, serving, capital and policy levers).
"""

from pricewar.scenario.data_files import PRODUCER_REGIONS, calibration_defaults
from pricewar.scenario.loading import load_scenario, scenario_descriptions, scenario_names
from pricewar.scenario.overrides import OVERRIDES, parse_override_pairs, parse_override_value
from pricewar.scenario.resolve import (
    Scenario,
    apply_overrides,
    recorded_overrides,
    scenario_from_dict,
)
from pricewar.scenario.schema import (
    ACCESS,
    Costs,
    Demand,
    Dynamics,
    Event,
    Market,
    PlatformGroup,
    Pricing,
    ProducerGroup,
    Region,
    Sector,
    Trade,
)

__all__ = ["ACCESS", "OVERRIDES", "PRODUCER_REGIONS", "Costs", "Demand", "Dynamics", "Event",
           "Market", "PlatformGroup", "Pricing", "ProducerGroup", "Region", "Scenario", "Sector", "Trade",
           "apply_overrides", "calibration_defaults", "load_scenario", "parse_override_pairs",
           "parse_override_value", "recorded_overrides", "scenario_descriptions",
           "scenario_from_dict", "scenario_names"]
