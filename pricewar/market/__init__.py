"""The market beyond the kernel: graph compilation, GPU fleets, costs and dynamics.

Modules: :mod:`~pricewar.market.graph` (the networkx market graph -> route arrays),
:mod:`~pricewar.market.costs` (token production costs), :mod:`~pricewar.market.fleet` (GPU cohorts)
and :mod:`~pricewar.market.dynamics` (investment, green energy, demand forecasts).
"""
