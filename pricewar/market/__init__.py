"""The market beyond the kernel: graph compilation, GPU fleets, costs and dynamics.

Modules: :mod:`~pricewar.market.graph` (the networkx market graph -> route arrays),
:mod:`~pricewar.market.chips` (accelerators as arrays), :mod:`~pricewar.market.costs` (the token
cost formula), :mod:`~pricewar.market.fleet` (GPU cohorts)
and :mod:`~pricewar.market.dynamics` (investment, green energy, demand forecasts).
"""
