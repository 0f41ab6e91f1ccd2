"""The supply side beyond the kernel: model families, chips, GPU fleets, costs, and the market graph.

Modules, in data-flow order: :mod:`~pricewar.supply.graph` (the networkx market graph -> route
arrays over products), :mod:`~pricewar.supply.families` (quality from benchmark scores,
succession, fixed costs per family), :mod:`~pricewar.supply.serving` (throughput and energy per
token of a family on a chip), :mod:`~pricewar.supply.rental` (the GPU rental index),
:mod:`~pricewar.supply.cohort_costs` (marginal and full cost of cohorts, merit order, policy
levers), :mod:`~pricewar.supply.chip_access` (chips by bloc and date),
:mod:`~pricewar.supply.fleet` (GPU cohorts), :mod:`~pricewar.supply.product_costs` (per-product
costs and per-host capacity from the fleets) and :mod:`~pricewar.supply.dynamics` (investment
orders and their limits, green energy, demand forecasts). docs/ODD.md §6.1.
"""
