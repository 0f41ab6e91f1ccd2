"""The market beyond the kernel: graph compilation, GPU fleets, costs and dynamics.

Modules: :mod:`~pricewar.market.graph` (the networkx market graph -> route arrays),
:mod:`~pricewar.market.chips` (accelerators as arrays), :mod:`~pricewar.market.costs` (the token
cost formula), :mod:`~pricewar.market.fleet` (GPU cohorts)
and :mod:`~pricewar.market.dynamics` (investment, green energy, demand forecasts).

Supply v2 (docs/ODD.md §6.1b; a library beside the v1 cost formula):
:mod:`~pricewar.market.serving` (throughput and energy per token of a family on a chip),
:mod:`~pricewar.market.rental` (the GPU rental index), :mod:`~pricewar.market.supply_costs`
(marginal and full cost, merit order, policy levers), :mod:`~pricewar.market.chip_access` (chips
by bloc and date) and :mod:`~pricewar.market.families` (quality, succession, fixed costs).
"""
