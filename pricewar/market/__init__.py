"""The market beyond the kernel: graph compilation, model families, chips, GPU fleets and costs.

Modules, in data-flow order: :mod:`~pricewar.market.graph` (the networkx market graph -> route
arrays over products), :mod:`~pricewar.market.families` (quality from benchmark scores,
succession, fixed costs per family), :mod:`~pricewar.market.serving` (throughput and energy per
token of a family on a chip), :mod:`~pricewar.market.rental` (the GPU rental index),
:mod:`~pricewar.market.supply_costs` (marginal and full cost of cohorts, merit order, policy
levers), :mod:`~pricewar.market.chip_access` (chips by bloc and date),
:mod:`~pricewar.market.fleet` (GPU cohorts), :mod:`~pricewar.market.product_costs` (per-product
costs and per-host capacity from the fleets) and :mod:`~pricewar.market.dynamics` (investment
orders and their limits, green energy, demand forecasts). docs/ODD.md §6.1.
"""
